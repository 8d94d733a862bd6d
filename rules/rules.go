// Package rules holds the screening rules: each rule is a SELECT over the
// canonical tables that returns one row per payment it flags, with the
// payment's record id (_rid), a severity, a one-sentence Chinese
// explanation and the evidence (JSON array of the source rows, payment
// first, in the department's original values).
//
// The engine prepares, before rules run:
//   - screened: the payments of the screened periods, with program_name,
//     department, min_age, max_age, payable_after_death from the catalogue;
//   - program_exclusive (program_code, other_code);
//   - macros ev(source, file, row, orig) → evidence object, ym(date) →
//     "2024年5月", money(x) → "200.00", src_title(source) → the source title.
package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// Categories of hits.
const (
	Deceased    = "deceased"
	Duplicate   = "duplicate"
	Ineligible  = "ineligible"
	OneCard     = "one_card"
	DataQuality = "data_quality"
)

// Param is a rule parameter.
type Param struct {
	Name    string
	Default int
	Min     int
	Max     int
	Doc     string
}

// Roster is a program's exclusion against a roster table.
type Roster struct {
	Program string
	Table   string
	Column  string // "" for any row of the table
	Values  []string
	Label   string
	// Columns of the table, for activity conditions.
	HasStart, HasEnd, HasStatus bool
}

// Context is what a rule's SQL is built from.
type Context struct {
	Params  map[string]int
	Rosters []Roster
}

// Rule is one built-in rule.
type Rule struct {
	ID       string
	Title    string
	Category string
	Doc      string
	Params   []Param
	Build    func(c Context) string
}

// Builtin returns the built-in rules in id order.
func Builtin() []Rule {
	out := []Rule{deceasedAfterDeath, duplicatePayment, exclusivePrograms, ageRange, invalidID, nameMismatch}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ResolveParams merges a rule's defaults with the job's values and checks
// names and ranges.
func (r Rule) ResolveParams(given map[string]any) (map[string]int, error) {
	out := map[string]int{}
	known := map[string]Param{}
	for _, p := range r.Params {
		out[p.Name] = p.Default
		known[p.Name] = p
	}
	for k, v := range given {
		p, ok := known[k]
		if !ok {
			names := []string{}
			for _, p := range r.Params {
				names = append(names, p.Name)
			}
			return nil, fmt.Errorf("rule %s: unknown parameter %q (parameters: %s)", r.ID, k, strings.Join(names, ", "))
		}
		var n int
		switch x := v.(type) {
		case int:
			n = x
		case int64:
			n = int(x)
		case float64:
			if x != float64(int(x)) {
				return nil, fmt.Errorf("rule %s: parameter %s: want a whole number, got %v", r.ID, k, v)
			}
			n = int(x)
		default:
			return nil, fmt.Errorf("rule %s: parameter %s: want a whole number, got %v", r.ID, k, v)
		}
		if n < p.Min || n > p.Max {
			return nil, fmt.Errorf("rule %s: parameter %s: %d is outside %d..%d", r.ID, k, n, p.Min, p.Max)
		}
		out[k] = n
	}
	return out, nil
}

// SetVersion is a hash of the rules' SQL as built for a run: it changes
// when a rule or a parameter changes.
func SetVersion(sqls map[string]string) string {
	ids := make([]string, 0, len(sqls))
	for id := range sqls {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%s\x00%s\x00", id, sqls[id])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

var deceasedAfterDeath = Rule{
	ID:       "deceased_after_death",
	Title:    "死亡后仍发放",
	Category: Deceased,
	Doc: "The payment period starts after a recorded death date (from a death source, or a person registry row cancelled for death), " +
		"plus grace_months. Programs marked payable_after_death are exempt. Severity is high when two or more sources agree, medium otherwise.",
	Params: []Param{{Name: "grace_months", Default: 0, Min: 0, Max: 24, Doc: "months after the month of death that may still be paid"}},
	Build: func(c Context) string {
		return fmt.Sprintf(`
WITH deaths AS (
	SELECT person_key, death_date, _source, _file, _row, _orig, src_title(_source) AS title,
		coalesce(link_method, '') = 'probabilistic' AS fuzzy, link_probability
	FROM death WHERE person_key IS NOT NULL
	UNION ALL
	SELECT person_key, cancel_date, _source, _file, _row, _orig, src_title(_source) || '注销记录', false, NULL
	FROM person WHERE person_key IS NOT NULL AND status = 'cancelled' AND cancel_reason = 'death' AND cancel_date IS NOT NULL
)
SELECT p._rid,
	CASE WHEN count(DISTINCT d._source) FILTER (WHERE NOT d.fuzzy) >= 2 THEN 'high'
		WHEN count(*) FILTER (WHERE NOT d.fuzzy) >= 1 THEN 'medium' ELSE 'low' END AS severity,
	printf('%%s显示该人员已于%%s死亡，%%s仍发放%%s%%s元%%s',
		string_agg(DISTINCT d.title, '、' ORDER BY d.title), strftime(min(d.death_date), '%%Y-%%m-%%d'),
		ym(p.period_start), p.program_name, money(p.amount),
		CASE WHEN bool_and(d.fuzzy) THEN printf('（死亡记录无身份证号码，按姓名、出生日期等匹配，匹配概率%%.2f，请核实是否同一人）', max(d.link_probability)) ELSE '' END) AS explanation,
	to_json(list_prepend(ev(p._source, p._file, p._row, p._orig),
		list(ev(d._source, d._file, d._row, d._orig) ORDER BY d._source, d._file, d._row))) AS evidence
FROM screened p JOIN deaths d ON d.person_key = p.person_key
WHERE NOT coalesce(p.payable_after_death, false)
	AND p.period_start >= date_trunc('month', d.death_date) + INTERVAL (%d + 1) MONTH
GROUP BY p._rid, p._source, p._file, p._row, p._orig, p.period_start, p.program_name, p.amount`, c.Params["grace_months"])
	},
}

var duplicatePayment = Rule{
	ID:       "duplicate_payment",
	Title:    "同一人同一项目同一期重复发放",
	Category: Duplicate,
	Doc:      "The same person is paid more than once for the same program and period (in one roll or across counties); every payment of the group is hit.",
	Build: func(c Context) string {
		return `
WITH dup AS (
	SELECT person_key, program_code, period FROM screened WHERE person_key IS NOT NULL
	GROUP BY person_key, program_code, period HAVING count(*) > 1
), grp AS (
	-- evidence lists at most 20 payments of a group: one ID paid thousands
	-- of times must not multiply into thousands of copies of the list
	SELECT person_key, program_code, period, count(*) AS n, sum(amount) AS total,
		(list(ev(_source, _file, _row, _orig) ORDER BY _source, _file, _row))[1:20] AS evs
	FROM screened SEMI JOIN dup USING (person_key, program_code, period)
	GROUP BY person_key, program_code, period
)
SELECT p._rid, 'high' AS severity,
	printf('该人员%s的%s被发放%d次，合计%s元', ym(p.period_start), p.program_name, g.n, money(g.total)) AS explanation,
	to_json(g.evs) AS evidence
FROM screened p JOIN grp g USING (person_key, program_code, period)`
	},
}

var exclusivePrograms = Rule{
	ID:       "exclusive_programs",
	Title:    "互斥项目同时享受",
	Category: Duplicate,
	Doc: "The same person is paid in the same period by two programs the catalogue marks mutually exclusive (exclusive_with), " +
		"or is paid by a program while on a roster it excludes (exclusive_rosters, e.g. a workers' pension).",
	Build: func(c Context) string {
		parts := []string{`
	SELECT p._rid, '领取' || q.program_name AS what, ev(q._source, q._file, q._row, q._orig) AS e, q._source AS s, q._row AS r
	FROM screened p
	JOIN program_exclusive x ON x.program_code = p.program_code
	JOIN screened q ON q.person_key = p.person_key AND q.period = p.period AND q.program_code = x.other_code
	WHERE p.person_key IS NOT NULL`}
		for _, ro := range c.Rosters {
			cond := []string{"t.person_key = p.person_key"}
			if ro.Column != "" && len(ro.Values) > 0 {
				vals := make([]string, len(ro.Values))
				for i, v := range ro.Values {
					vals[i] = lit(v)
				}
				cond = append(cond, fmt.Sprintf(`t."%s" IN (%s)`, ro.Column, strings.Join(vals, ", ")))
			}
			if ro.HasStart {
				cond = append(cond, "(t.start_date IS NULL OR t.start_date <= last_day(p.period_start))")
			}
			if ro.HasEnd {
				cond = append(cond, "(t.end_date IS NULL OR t.end_date >= p.period_start)")
			}
			if ro.HasStatus {
				cond = append(cond, "(t.status IS NULL OR t.status = 'active')")
			}
			label := ro.Label
			if label == "" {
				label = "在%s中有记录"
			}
			parts = append(parts, fmt.Sprintf(`
	SELECT p._rid, printf(%s, src_title(t._source)) AS what, ev(t._source, t._file, t._row, t._orig), t._source, t._row
	FROM screened p JOIN "%s" t ON %s
	WHERE p.program_code = %s AND p.person_key IS NOT NULL`, lit(label), ro.Table, strings.Join(cond, " AND "), lit(ro.Program)))
		}
		return `
WITH conflicts AS (` + strings.Join(parts, "\n\tUNION ALL") + `
)
SELECT p._rid, 'high' AS severity,
	printf('该人员%s领取%s，同时%s，按规定不能同时享受', ym(p.period_start), p.program_name,
		string_agg(DISTINCT c.what, '、' ORDER BY c.what)) AS explanation,
	to_json(list_prepend(ev(p._source, p._file, p._row, p._orig), list(c.e ORDER BY c.s, c.r))) AS evidence
FROM conflicts c JOIN screened p ON p._rid = c._rid
GROUP BY p._rid, p._source, p._file, p._row, p._orig, p.period_start, p.program_name`
	},
}

var ageRange = Rule{
	ID:       "age_range",
	Title:    "年龄不符合项目条件",
	Category: Ineligible,
	Doc: "Age on the first day of the period is outside the program's [min_age, max_age]. The birth date comes from the person registry, " +
		"else from the ID number.",
	Build: func(c Context) string {
		return `
WITH reg AS (
	SELECT person_key, arg_min(birth_date, _rid) AS birth_date, arg_min(ev(_source, _file, _row, _orig), _rid) AS e
	FROM person WHERE person_key IS NOT NULL AND birth_date IS NOT NULL GROUP BY person_key
), b AS (
	SELECT p.*, coalesce(r.birth_date, try_strptime(substr(p.person_key, 7, 8), '%Y%m%d')::DATE) AS bd,
		CASE WHEN r.birth_date IS NULL THEN '身份证号码中的出生日期' ELSE '户籍登记出生日期' END AS bsrc, r.e AS re
	FROM screened p LEFT JOIN reg r USING (person_key)
	WHERE p.person_key IS NOT NULL AND (p.min_age IS NOT NULL OR p.max_age IS NOT NULL)
), a AS (
	SELECT *, year(period_start) - year(bd)
		- CASE WHEN month(period_start) < month(bd) OR (month(period_start) = month(bd) AND day(period_start) < day(bd)) THEN 1 ELSE 0 END AS age
	FROM b WHERE bd IS NOT NULL
)
SELECT _rid, 'medium' AS severity,
	printf('按%s%s计算，该人员%s1日为%d周岁，%s', bsrc, strftime(bd, '%Y-%m-%d'), ym(period_start), age,
		CASE WHEN age < min_age THEN printf('不满%s的最低年龄%d周岁', program_name, min_age)
		     ELSE printf('超过%s的最高年龄%d周岁', program_name, max_age) END) AS explanation,
	to_json(CASE WHEN re IS NULL THEN [ev(_source, _file, _row, _orig)] ELSE [ev(_source, _file, _row, _orig), re] END) AS evidence
FROM a WHERE age < min_age OR age > max_age`
	},
}

var invalidID = Rule{
	ID:       "invalid_id",
	Title:    "身份证号码无效",
	Category: DataQuality,
	Doc:      "The payment's ID number is missing, invalid or damaged by Excel, and could not be repaired against the person registry.",
	Build: func(c Context) string {
		return `
SELECT _rid, 'low' AS severity,
	printf('发放记录的身份证号码%s，无法与其他部门数据比对，请核实', CASE
		WHEN id_number_status = 'missing' THEN '缺失'
		WHEN id_number_status = 'excel_damaged' THEN '疑被Excel按数字格式损坏（科学计数法或末位变为0）'
		WHEN id_number_reason = 'bad_check_char' THEN '校验码错误且无法唯一修复'
		WHEN id_number_reason = 'bad_date' THEN '出生日期无效'
		WHEN id_number_reason = 'bad_length' THEN '位数不对'
		WHEN id_number_reason = 'bad_province' THEN '省级行政区划代码无效'
		WHEN id_number_reason = 'bad_chars' THEN '含有非法字符'
		ELSE '无效' END) AS explanation,
	to_json([ev(_source, _file, _row, _orig)]) AS evidence
FROM screened WHERE person_key IS NULL`
	},
}

var nameMismatch = Rule{
	ID:       "name_mismatch",
	Title:    "姓名与户籍不一致",
	Category: DataQuality,
	Doc:      "The payment's ID number is valid and registered, but the name differs from every registry name for it after normalisation (spaces, width, traditional characters, separators).",
	Build: func(c Context) string {
		return `
WITH reg AS (
	SELECT person_key, list(DISTINCT name_norm) AS names, arg_min(name, _rid) AS rname, arg_min(src_title(_source), _rid) AS title,
		arg_min(ev(_source, _file, _row, _orig), _rid) AS e
	FROM person WHERE person_key IS NOT NULL AND name_norm IS NOT NULL GROUP BY person_key
)
SELECT p._rid, 'low' AS severity,
	printf('发放名单姓名“%s”与%s登记姓名“%s”不一致', p.name, r.title, r.rname) AS explanation,
	to_json([ev(p._source, p._file, p._row, p._orig), r.e]) AS evidence
FROM screened p JOIN reg r USING (person_key)
WHERE p.name_norm IS NOT NULL AND NOT list_contains(r.names, p.name_norm)`
	},
}
