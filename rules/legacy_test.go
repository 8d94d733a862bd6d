package rules

// The six rules as they were before rule files (rules/rules.go at the
// commit before), kept as the oracle of TestLegacyEquivalence: the
// library's rule files must give byte-identical hits.

import (
	"fmt"
	"strings"
)

type legacyParam struct {
	Name    string
	Default int
	Min     int
	Max     int
	Doc     string
}

// legacyContext is the old rules.Context.
type legacyContext struct {
	Params  map[string]int
	Rosters []Roster
}

type legacyRule struct {
	ID       string
	Title    string
	Category string
	Doc      string
	Params   []legacyParam
	Build    func(c legacyContext) string
}

var legacyBuiltin = []legacyRule{legacyAgeRange, legacyDeceasedAfterDeath, legacyDuplicatePayment,
	legacyExclusivePrograms, legacyInvalidID, legacyNameMismatch}

var legacyDeceasedAfterDeath = legacyRule{
	ID:       "deceased_after_death",
	Title:    "死亡后仍发放",
	Category: Deceased,
	Doc: "The payment period starts after a recorded death date (from a death source, or a person registry row cancelled for death), " +
		"plus grace_months. Programs marked payable_after_death are exempt. Severity is high when two or more sources agree, medium otherwise.",
	Params: []legacyParam{{Name: "grace_months", Default: 0, Min: 0, Max: 24, Doc: "months after the month of death that may still be paid"}},
	Build: func(c legacyContext) string {
		return fmt.Sprintf(`
WITH deaths AS (
	SELECT person_key, death_date, _source, _file, _row, _orig, src_title(_source) AS title
	FROM death WHERE person_key IS NOT NULL
	UNION ALL
	SELECT person_key, cancel_date, _source, _file, _row, _orig, src_title(_source) || '注销记录'
	FROM person WHERE person_key IS NOT NULL AND status = 'cancelled' AND cancel_reason = 'death' AND cancel_date IS NOT NULL
)
SELECT p._rid,
	CASE WHEN count(DISTINCT d._source) >= 2 THEN 'high' ELSE 'medium' END AS severity,
	printf('%%s显示该人员已于%%s死亡，%%s仍发放%%s%%s元',
		string_agg(DISTINCT d.title, '、' ORDER BY d.title), strftime(min(d.death_date), '%%Y-%%m-%%d'),
		ym(p.period_start), p.program_name, money(p.amount)) AS explanation,
	to_json(list_prepend(ev(p._source, p._file, p._row, p._orig),
		list(ev(d._source, d._file, d._row, d._orig) ORDER BY d._source, d._file, d._row))) AS evidence
FROM screened p JOIN deaths d ON d.person_key = p.person_key
WHERE NOT coalesce(p.payable_after_death, false)
	AND p.period_start >= date_trunc('month', d.death_date) + INTERVAL (%d + 1) MONTH
GROUP BY p._rid, p._source, p._file, p._row, p._orig, p.period_start, p.program_name, p.amount`, c.Params["grace_months"])
	},
}

var legacyDuplicatePayment = legacyRule{
	ID:       "duplicate_payment",
	Title:    "同一人同一项目同一期重复发放",
	Category: Duplicate,
	Doc:      "The same person is paid more than once for the same program and period (in one roll or across counties); every payment of the group is hit.",
	Build: func(c legacyContext) string {
		return `
WITH grp AS (
	SELECT person_key, program_code, period, count(*) AS n, sum(amount) AS total,
		list(ev(_source, _file, _row, _orig) ORDER BY _source, _file, _row) AS evs
	FROM screened WHERE person_key IS NOT NULL
	GROUP BY person_key, program_code, period HAVING count(*) > 1
)
SELECT p._rid, 'high' AS severity,
	printf('该人员%s的%s被发放%d次，合计%s元', ym(p.period_start), p.program_name, g.n, money(g.total)) AS explanation,
	to_json(g.evs) AS evidence
FROM screened p JOIN grp g USING (person_key, program_code, period)`
	},
}

var legacyExclusivePrograms = legacyRule{
	ID:       "exclusive_programs",
	Title:    "互斥项目同时享受",
	Category: Duplicate,
	Doc: "The same person is paid in the same period by two programs the catalogue marks mutually exclusive (exclusive_with), " +
		"or is paid by a program while on a roster it excludes (exclusive_rosters, e.g. a workers' pension).",
	Build: func(c legacyContext) string {
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

var legacyAgeRange = legacyRule{
	ID:       "age_range",
	Title:    "年龄不符合项目条件",
	Category: Ineligible,
	Doc: "Age on the first day of the period is outside the program's [min_age, max_age]. The birth date comes from the person registry, " +
		"else from the ID number.",
	Build: func(c legacyContext) string {
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

var legacyInvalidID = legacyRule{
	ID:       "invalid_id",
	Title:    "身份证号码无效",
	Category: DataQuality,
	Doc:      "The payment's ID number is missing, invalid or damaged by Excel, and could not be repaired against the person registry.",
	Build: func(c legacyContext) string {
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

var legacyNameMismatch = legacyRule{
	ID:       "name_mismatch",
	Title:    "姓名与户籍不一致",
	Category: DataQuality,
	Doc:      "The payment's ID number is valid and registered, but the name differs from every registry name for it after normalisation (spaces, width, traditional characters, separators).",
	Build: func(c legacyContext) string {
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
