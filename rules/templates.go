package rules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/crosscheck/crosscheck/dataset"
)

// A template is a standard rule family: parameters, the evidence fields
// its SELECT returns and the SQL it builds. A rule file picks a template,
// sets its parameters' defaults and ranges and writes the explanation.
//
// Every template's SELECT returns _rid (the payment), severity, evidence
// (JSON array of ev() objects, payment first) and its fields.
type template struct {
	name string
	doc  string
	// params are the family's parameters with their defaults and widest
	// ranges; a rule file may narrow them.
	params []Param
	// fields are the evidence fields the SELECT returns besides _rid,
	// severity and evidence.
	fields []string
	// needsAppliesTo marks families that only make sense for some programs.
	needsAppliesTo bool
	// grades marks families that compute a severity per hit.
	grades bool
	// check validates parameters that depend on the schemas (datasets,
	// columns); body builds the SELECT.
	check func(b *build)
	body  func(b *build) string
}

var templates = map[string]*template{}

func register(t *template) { templates[t.name] = t }

func templateNames() string {
	n := make([]string, 0, len(templates))
	for k := range templates {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// Templates lists the standard rule families with their documentation,
// parameters and evidence fields.
func Templates() []TemplateInfo {
	var out []TemplateInfo
	for _, t := range templates {
		out = append(out, TemplateInfo{Name: t.name, Doc: t.doc, Params: append([]Param(nil), t.params...), Fields: append([]string(nil), t.fields...)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TemplateInfo describes a template.
type TemplateInfo struct {
	Name   string
	Doc    string
	Params []Param
	Fields []string
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

// build is what a template builds its SQL from.
type build struct {
	rule    *Rule
	params  map[string]any
	rosters []Roster
	roles   map[string]dataset.Role
	// jobKeys names the job key of parameters the job set.
	jobKeys map[string]string
	// applies is the rule's applies_to after the job's override.
	applies AppliesTo
	e       *errs
}

func (b *build) int(n string) int           { return b.params[n].(int) }
func (b *build) num(n string) float64       { return b.params[n].(float64) }
func (b *build) flag(n string) bool         { return b.params[n].(bool) }
func (b *build) str(n string) string        { return b.params[n].(string) }
func (b *build) list(n string) []string     { return b.params[n].([]string) }
func (b *build) sqlv(n string) string       { return sqlValue(b.params[n]) }
func (b *build) severity() string           { return lit(b.rule.Severity) }
func (b *build) role(n string) dataset.Role { return b.roles[n] }

// subject returns the conditions on the screened payments alias that a
// template reading screened only for the flagged payment screens: a
// person key, and a program the rule applies to. wrap filters the
// programs again after the body; here they make the body read fewer rows.
func (b *build) subject(alias string) []string {
	out := []string{alias + ".person_key IS NOT NULL"}
	if c := appliesCond(b.applies, alias+".program_code"); c != "" {
		out = append(out, c)
	}
	return out
}

// fail reports a bad parameter value at the line that set it.
func (b *build) fail(param, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if k := b.jobKeys[param]; k != "" {
		b.e.list = append(b.e.list, &Error{Rule: b.rule.ID, Key: k, Reason: msg})
		return
	}
	line := b.rule.Line
	for _, p := range b.rule.Params {
		if p.Name == param && p.line > 0 {
			line = p.line
		}
	}
	b.e.at(line, "params.%s: %s", param, msg)
}

// datasetParam checks that a parameter names a dataset whose rows carry a
// person key.
func (b *build) datasetParam(param string) (dataset.Role, bool) {
	name := b.str(param)
	r, ok := b.roles[name]
	if !ok {
		names := make([]string, 0, len(b.roles))
		for n := range b.roles {
			names = append(names, n)
		}
		sort.Strings(names)
		b.fail(param, "%q is not a dataset (datasets: %s)", name, strings.Join(names, ", "))
		return r, false
	}
	if c, ok := r.Column("id_number"); !ok || c.Kind != dataset.ID {
		b.fail(param, "dataset %s has no ID number to join on", name)
		return r, false
	}
	return r, true
}

// columnParam checks that a parameter names a column of role (or is empty
// when optional).
func (b *build) columnParam(role dataset.Role, param string, kinds ...dataset.Kind) {
	name := b.str(param)
	if name == "" {
		return
	}
	c, ok := role.Column(name)
	if !ok {
		b.fail(param, "unknown column %q: dataset %s has %s", name, role.Name, strings.Join(role.ColumnNames(), ", "))
		return
	}
	if len(kinds) > 0 {
		for _, k := range kinds {
			if c.Kind == k {
				return
			}
		}
		b.fail(param, "column %s.%s is %s; want %v", role.Name, name, c.Kind, kinds)
	}
}

// active is the condition that a row of role (alias t) is in force in the
// payment's period (alias p): by status, start and end date when the
// dataset has them.
func active(role dataset.Role, t string) []string {
	var cond []string
	if _, ok := role.Column("start_date"); ok {
		cond = append(cond, fmt.Sprintf("(%s.start_date IS NULL OR %s.start_date <= last_day(p.period_start))", t, t))
	}
	if _, ok := role.Column("end_date"); ok {
		cond = append(cond, fmt.Sprintf("(%s.end_date IS NULL OR %s.end_date >= p.period_start)", t, t))
	}
	if _, ok := role.Column("status"); ok {
		cond = append(cond, fmt.Sprintf("(%s.status IS NULL OR %s.status = 'active')", t, t))
	}
	return cond
}

// labelSQL renders a finding template ({column} over the dataset row t,
// {who} for 本人 or 家庭成员 NAME) as SQL.
func (b *build) labelSQL(param string, role dataset.Role, who string) string {
	t, err := parseExplain(b.str(param))
	if err != nil {
		b.fail(param, "%v", strings.TrimPrefix(err.Error(), "explain: "))
		return "''"
	}
	args := []string{}
	for _, p := range t.parts {
		switch {
		case p.field == "":
			args = append(args, lit(p.text))
		case p.field == "who":
			args = append(args, who)
		case p.field == "title":
			args = append(args, "src_title(t._source)")
		default:
			if _, ok := role.Column(p.field); !ok {
				b.fail(param, "{%s}: unknown column: dataset %s has %s (and {who}, {title})", p.field, role.Name, strings.Join(role.ColumnNames(), ", "))
				return "''"
			}
			x := "t." + ident(p.field)
			if f := formatters[p.format]; f != nil {
				x = f(x)
			}
			args = append(args, x)
		}
	}
	return "concat(" + strings.Join(append(args, "''"), ", ") + ")"
}

func init() {
	for _, t := range []*template{
		deceasedAfterDeath, duplicatePayment, exclusivePrograms, ageRange, invalidID, nameMismatch,
		attributeExclusion, requiresAttribute, accountType, holderMismatch, sharedAccount, amountOffStandard,
	} {
		register(t)
	}
}

func param(name string, t ParamType, def any, doc string) Param {
	return Param{Name: name, Type: t, Default: def, Doc: doc}
}

func ranged(p Param, lo, hi any) Param { p.Min, p.Max = lo, hi; return p }

func dependsOn(p Param, column string) Param { p.dependsOn = column; return p }

var deceasedAfterDeath = &template{
	name: "deceased_after_death",
	doc: "The payment period starts after a recorded death date (from a death source, or a person registry row: its death_date when it has one, " +
		"cited as 登记的死亡日期, else the cancel_date of a row cancelled for death, cited as 注销记录), " +
		"plus grace_months. Programs marked payable_after_death are exempt. Severity is high when min_sources_high or more sources agree, " +
		"medium otherwise. Death records whose person was found by probabilistic linkage (no usable ID number; link_method probabilistic) " +
		"count when use_links and their link_probability is at least min_link_score; they do not count towards high, and a death known " +
		"only that way is low, its source marked in the explanation.",
	params: []Param{
		ranged(param("grace_months", Int, 0, "months after the month of death that may still be paid"), 0, 24),
		ranged(param("min_sources_high", Int, 2, "number of agreeing death sources for severity high"), 1, 10),
		param("use_links", Bool, true, "use death records linked to the person without an ID number (probabilistic linkage; severity low when alone)"),
		ranged(param("min_link_score", Number, 0.0, "lowest link probability accepted (0: every link identity resolution made)"), 0.0, 1.0),
	},
	fields: []string{"death_sources", "death_date", "sources", "period_start", "program_name", "amount"},
	grades: true,
	body: func(b *build) string {
		deathTitle, deathWhere := "src_title(_source) AS title", "person_key IS NOT NULL AND link_method IS DISTINCT FROM 'probabilistic'"
		flag1, flag2 := "", ""
		sev := fmt.Sprintf("CASE WHEN count(DISTINCT d._source) >= %d THEN 'high' ELSE 'medium' END", b.int("min_sources_high"))
		if b.flag("use_links") {
			deathTitle = "src_title(_source) || CASE WHEN link_method = 'probabilistic' THEN '（无有效身份证号，经关联匹配）' ELSE '' END AS title"
			deathWhere = fmt.Sprintf("person_key IS NOT NULL AND (link_method IS DISTINCT FROM 'probabilistic' OR link_probability >= %s)",
				sqlValue(b.num("min_link_score")))
			flag1, flag2 = ", coalesce(link_method = 'probabilistic', false) AS linked", ", false"
			sev = fmt.Sprintf(`CASE WHEN count(DISTINCT d._source) FILTER (WHERE NOT d.linked) >= %d THEN 'high'
		WHEN bool_and(d.linked) THEN 'low' ELSE 'medium' END`, b.int("min_sources_high"))
		}
		return fmt.Sprintf(`
WITH deaths AS (
	SELECT person_key, death_date, _source, _file, _row, _orig, %s%s
	FROM death WHERE %s
	UNION ALL
	SELECT person_key, coalesce(death_date, cancel_date), _source, _file, _row, _orig,
		src_title(_source) || CASE WHEN death_date IS NOT NULL THEN '登记的死亡日期' ELSE '注销记录' END%s
	FROM person WHERE person_key IS NOT NULL AND (death_date IS NOT NULL
		OR (status = 'cancelled' AND cancel_reason = 'death' AND cancel_date IS NOT NULL))
)
SELECT p._rid,
	%s AS severity,
	string_agg(DISTINCT d.title, '、' ORDER BY d.title) AS death_sources, min(d.death_date) AS death_date,
	count(DISTINCT d._source) AS sources, p.period_start, p.program_name, p.amount,
	to_json(list_prepend(ev(p._source, p._file, p._row, p._orig),
		list(ev(d._source, d._file, d._row, d._orig) ORDER BY d._source, d._file, d._row))) AS evidence
FROM screened p JOIN deaths d ON d.person_key = p.person_key
WHERE NOT coalesce(p.payable_after_death, false)
	AND p.period_start >= date_trunc('month', d.death_date) + INTERVAL (%d + 1) MONTH
GROUP BY p._rid, p._source, p._file, p._row, p._orig, p.period_start, p.program_name, p.amount`,
			deathTitle, flag1, deathWhere, flag2, sev, b.int("grace_months"))
	},
}

var duplicatePayment = &template{
	name:   "duplicate_payment",
	doc:    "The same person is paid more than once for the same program and period (in one roll or across counties); every payment of the group is hit.",
	fields: []string{"period_start", "program_name", "times", "total"},
	body: func(b *build) string {
		return `
WITH grp AS (
	SELECT person_key, program_code, period, count(*) AS n, sum(amount) AS total
	FROM screened WHERE person_key IS NOT NULL
	GROUP BY person_key, program_code, period HAVING count(*) > 1
), dup AS (
	SELECT p.*, g.n, g.total FROM screened p JOIN grp g USING (person_key, program_code, period)
), evs AS (
	-- Evidence is built for the duplicated payments only, not in the
	-- aggregate over every payment.
	SELECT person_key, program_code, period, list(ev(_source, _file, _row, _orig) ORDER BY _source, _file, _row) AS evs
	FROM dup GROUP BY person_key, program_code, period
)
SELECT d._rid, ` + b.severity() + ` AS severity, d.period_start, d.program_name, d.n AS times, d.total,
	to_json(e.evs) AS evidence
FROM dup d JOIN evs e USING (person_key, program_code, period)`
	},
}

var exclusivePrograms = &template{
	name: "exclusive_programs",
	doc: "The same person is paid in the same period by two programs the catalogue marks mutually exclusive (exclusive_with), " +
		"or is paid by a program while on a roster it excludes (exclusive_rosters, e.g. a workers' pension).",
	fields: []string{"period_start", "program_name", "conflicts"},
	body: func(b *build) string {
		parts := []string{`
	SELECT p._rid, '领取' || q.program_name AS what, ev(q._source, q._file, q._row, q._orig) AS e, q._source AS s, q._row AS r
	FROM screened p
	JOIN program_exclusive x ON x.program_code = p.program_code
	JOIN screened q ON q.person_key = p.person_key AND q.period = p.period AND q.program_code = x.other_code
	WHERE p.person_key IS NOT NULL`}
		for _, ro := range b.rosters {
			// By ID number: a roster record linked only probabilistically
			// is no proof of an exclusion.
			cond := []string{"t.person_key = p.person_key", "t.link_method IS DISTINCT FROM 'probabilistic'"}
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
SELECT p._rid, ` + b.severity() + ` AS severity, p.period_start, p.program_name,
	string_agg(DISTINCT c.what, '、' ORDER BY c.what) AS conflicts,
	to_json(list_prepend(ev(p._source, p._file, p._row, p._orig), list(c.e ORDER BY c.s, c.r))) AS evidence
FROM conflicts c JOIN screened p ON p._rid = c._rid
GROUP BY p._rid, p._source, p._file, p._row, p._orig, p.period_start, p.program_name`
	},
}

var ageRange = &template{
	name: "age_range",
	doc: "Age on the first day of the period is outside the program's [min_age, max_age]. The birth date comes from the person registry, " +
		"else from the ID number.",
	fields: []string{"birth_source", "birth_date", "period_start", "age", "program_name", "min_age", "max_age", "age_problem"},
	body: func(b *build) string {
		return `
WITH b AS (
	SELECT p.*, coalesce(r.birth_date, try_strptime(substr(p.person_key, 7, 8), '%Y%m%d')::DATE) AS bd,
		CASE WHEN r.birth_date IS NULL THEN '身份证号码中的出生日期' ELSE '户籍登记出生日期' END AS bsrc, r.erid AS erid
	FROM screened p LEFT JOIN rule_person_birth r USING (person_key)
	WHERE p.person_key IS NOT NULL AND (p.min_age IS NOT NULL OR p.max_age IS NOT NULL)
), a AS (
	SELECT *, year(period_start) - year(bd)
		- CASE WHEN month(period_start) < month(bd) OR (month(period_start) = month(bd) AND day(period_start) < day(bd)) THEN 1 ELSE 0 END AS age
	FROM b WHERE bd IS NOT NULL
), hit AS (
	SELECT _rid, ` + b.severity() + ` AS severity, bsrc AS birth_source, bd AS birth_date, period_start, age, program_name, min_age, max_age,
		CASE WHEN age < min_age THEN printf('不满%s的最低年龄%d周岁', program_name, min_age)
		     ELSE printf('超过%s的最高年龄%d周岁', program_name, max_age) END AS age_problem,
		ev(_source, _file, _row, _orig) AS pev, erid
	FROM a WHERE age < min_age OR age > max_age
)
-- The registry row's evidence is built for hits only (the aggregate keeps
-- its record id): building it for every person does not scale.
SELECT h.* EXCLUDE (pev, erid),
	to_json(CASE WHEN pe._rid IS NULL THEN [h.pev] ELSE [h.pev, ev(pe._source, pe._file, pe._row, pe._orig)] END) AS evidence
FROM hit h LEFT JOIN person pe ON pe._rid = h.erid`
	},
}

var invalidID = &template{
	name:   "invalid_id",
	doc:    "The payment's ID number is missing, invalid or damaged by Excel, and could not be repaired against the person registry.",
	fields: []string{"id_problem", "id_status", "id_reason"},
	body: func(b *build) string {
		return `
SELECT _rid, ` + b.severity() + ` AS severity,
	CASE
		WHEN id_number_status = 'missing' THEN '缺失'
		WHEN id_number_status = 'excel_damaged' THEN '疑被Excel按数字格式损坏（科学计数法或末位变为0）'
		WHEN id_number_reason = 'bad_check_char' THEN '校验码错误且无法唯一修复'
		WHEN id_number_reason = 'bad_date' THEN '出生日期无效'
		WHEN id_number_reason = 'bad_length' THEN '位数不对'
		WHEN id_number_reason = 'bad_province' THEN '省级行政区划代码无效'
		WHEN id_number_reason = 'bad_chars' THEN '含有非法字符'
		ELSE '无效' END AS id_problem,
	id_number_status AS id_status, id_number_reason AS id_reason,
	to_json([ev(_source, _file, _row, _orig)]) AS evidence
FROM screened WHERE person_key IS NULL`
	},
}

var nameMismatch = &template{
	name:   "name_mismatch",
	doc:    "The payment's ID number is valid and registered, but the name differs from every registry name for it after normalisation (spaces, width, traditional characters, separators).",
	fields: []string{"roll_name", "registry_title", "registry_name"},
	body: func(b *build) string {
		return `
WITH hit AS (
	SELECT p._rid, ` + b.severity() + ` AS severity, p.name AS roll_name, ev(p._source, p._file, p._row, p._orig) AS pev, r.erid
	FROM screened p JOIN rule_person_names r USING (person_key)
	WHERE p.name_norm IS NOT NULL AND NOT list_contains(r.names, p.name_norm)
)
-- The registry row (the first with a name) is read for hits only.
SELECT h._rid, h.severity, h.roll_name, src_title(pe._source) AS registry_title, pe.name AS registry_name,
	to_json([h.pev, ev(pe._source, pe._file, pe._row, pe._orig)]) AS evidence
FROM hit h JOIN person pe ON pe._rid = h.erid`
	},
}

// householdCTE lists, for every screened recipient (payments p meeting
// subject), the persons whose records count: the recipient, and the
// members of the recipient's registered households (person.household_id)
// who have a row in table, with the member's name.
func householdCTE(subject []string, table string) string {
	where := strings.Join(subject, " AND ")
	return `members AS (
	SELECT DISTINCT a.person_key AS recipient, m.person_key AS member
	FROM rule_household_member a JOIN rule_household_member m ON m.household_id = a.household_id
	WHERE a.person_key IN (SELECT p.person_key FROM screened p WHERE ` + where + `)
		AND m.person_key IN (SELECT t.person_key FROM ` + table + ` t)
	UNION
	SELECT DISTINCT p.person_key, p.person_key FROM screened p WHERE ` + where + `
), member_name AS (
	SELECT person_key, arg_min(name, _rid) AS name FROM person
	WHERE person_key IN (SELECT member FROM members) GROUP BY person_key
)`
}

var attributeExclusion = &template{
	name: "attribute_exclusion",
	doc: "The recipient — or, with household, any member of the recipient's registered household (person.household_id) — has a record " +
		"in another dataset that excludes the program: state-funded staff, a registered vehicle except exempt types, a business above a " +
		"capital ceiling. Rows count when in force in the period (status, start_date, end_date) and when they pass the include, exclude " +
		"and above conditions, and, unless use_links, when their person key comes from the ID number (not from probabilistic linkage). " +
		"finding describes one record: {column} of the dataset row, {who} (本人 or 家庭成员NAME), {title} (source title).",
	params: []Param{
		param("dataset", String, "", "dataset whose records exclude the program (staff, vehicle, business …)"),
		param("household", Bool, false, "also screen the members of the recipient's registered household"),
		param("active_only", Bool, true, "count only records in force in the period (status, start_date, end_date)"),
		param("use_links", Bool, false, "also count records linked to the person without an ID number (probabilistic linkage)"),
		param("include_column", Column, "", "count only records whose column is one of include_values"),
		dependsOn(param("include_values", List, []string{}, "values of include_column that count"), "include_column"),
		param("exclude_column", Column, "", "ignore records whose column is one of exclude_values (exempt types)"),
		dependsOn(param("exclude_values", List, []string{}, "values of exclude_column that are exempt"), "exclude_column"),
		param("above_column", Column, "", "count only records whose number column is above above_value"),
		dependsOn(param("above_value", Number, 0.0, "the ceiling for above_column, in that column's unit"), "above_column"),
		param("finding", String, "{who}在{title}中有记录", "how one record reads in the explanation"),
	},
	fields:         []string{"period_start", "program_name", "findings", "records", "household_members"},
	needsAppliesTo: true,
	check: func(b *build) {
		role, ok := b.datasetParam("dataset")
		if !ok {
			return
		}
		b.columnParam(role, "include_column")
		b.columnParam(role, "exclude_column")
		b.columnParam(role, "above_column", dataset.Number, dataset.Int)
		if (b.str("include_column") == "") != (len(b.list("include_values")) == 0) {
			b.fail("include_values", "include_column and include_values go together")
		}
		if (b.str("exclude_column") == "") != (len(b.list("exclude_values")) == 0) {
			b.fail("exclude_values", "exclude_column and exclude_values go together")
		}
		b.labelSQL("finding", role, "''")
	},
	body: func(b *build) string {
		role := b.role(b.str("dataset"))
		cond := b.subject("p")
		if b.flag("active_only") {
			cond = append(cond, active(role, "t")...)
		}
		if !b.flag("use_links") {
			cond = append(cond, "t.link_method IS DISTINCT FROM 'probabilistic'")
		}
		if c := b.str("include_column"); c != "" {
			cond = append(cond, fmt.Sprintf("list_contains(%s, t.%s)", b.sqlv("include_values"), ident(c)))
		}
		if c := b.str("exclude_column"); c != "" {
			cond = append(cond, fmt.Sprintf("NOT coalesce(list_contains(%s, t.%s), false)", b.sqlv("exclude_values"), ident(c)))
		}
		if c := b.str("above_column"); c != "" {
			cond = append(cond, fmt.Sprintf("t.%s > %s", ident(c), b.sqlv("above_value")))
		}
		join, who, member := "t.person_key = p.person_key", "'本人'", "p.person_key"
		with := "WITH "
		if b.flag("household") {
			with += householdCTE(b.subject("p"), ident(role.Name)) + ",\n"
			join = "t.person_key = m.member"
			member = "m.member"
			who = "CASE WHEN m.member = p.person_key THEN '本人' ELSE '家庭成员' || coalesce(n.name, '') END"
		}
		from := "screened p JOIN " + ident(role.Name) + " t ON " + join
		if b.flag("household") {
			from = "screened p JOIN members m ON m.recipient = p.person_key JOIN " + ident(role.Name) + " t ON " + join +
				"\n\tLEFT JOIN member_name n ON n.person_key = m.member"
		}
		return fmt.Sprintf(`
%sfound AS (
	SELECT p._rid, %s AS what, %s <> p.person_key AS other, ev(t._source, t._file, t._row, t._orig) AS e,
		t._source AS s, t._file AS f, t._row AS r
	FROM %s
	WHERE %s
)
SELECT p._rid, %s AS severity, p.period_start, p.program_name,
	string_agg(DISTINCT x.what, '；' ORDER BY x.what) AS findings, count(*) AS records,
	count(*) FILTER (WHERE x.other) AS household_members,
	to_json(list_prepend(ev(p._source, p._file, p._row, p._orig), list(x.e ORDER BY x.s, x.f, x.r))) AS evidence
FROM found x JOIN screened p ON p._rid = x._rid
GROUP BY p._rid, p._source, p._file, p._row, p._orig, p.period_start, p.program_name`,
			with, b.labelSQL("finding", role, who), member, from, strings.Join(cond, "\n\t\tAND "), b.severity())
	},
}

var requiresAttribute = &template{
	name: "requires_attribute",
	doc: "The program requires a record in another dataset (a disability certificate for 残疾人两项补贴) and the recipient has none in force " +
		"in the period, or, with level_column, none at max_level or better (lower is more severe: level 1 and 2 for 重度残疾人护理补贴). " +
		"A record linked to the person without an ID number (probabilistic linkage) counts as present. " +
		"Screens only when the dataset has rows at all: a job without the dataset gives no hits.",
	params: []Param{
		param("dataset", String, "disability", "dataset holding the required record"),
		param("active_only", Bool, true, "count only records in force in the period (status, start_date, end_date)"),
		param("level_column", Column, "", "column holding a level (1 is the most severe); empty for no level requirement"),
		dependsOn(ranged(param("max_level", Int, 4, "the least severe level that qualifies"), 1, 10), "level_column"),
		param("missing_text", String, "未查到其有效记录", "finding when the recipient has no record"),
		dependsOn(param("level_text", String, "其记录等级为%d级，未达到要求", "finding when the best level does not qualify (printf pattern, %d is the level)"), "level_column"),
	},
	fields:         []string{"period_start", "program_name", "best_level", "finding"},
	needsAppliesTo: true,
	check: func(b *build) {
		role, ok := b.datasetParam("dataset")
		if !ok {
			return
		}
		b.columnParam(role, "level_column", dataset.Int, dataset.Number)
		if b.str("level_column") != "" && strings.Count(b.str("level_text"), "%d") != 1 {
			b.fail("level_text", "write one %%d where the level goes")
		}
	},
	body: func(b *build) string {
		role := b.role(b.str("dataset"))
		cond := b.subject("p")
		if b.flag("active_only") {
			cond = append(cond, active(role, "t")...)
		}
		best, qualifies, finding := "NULL::BIGINT", "r._rid IS NULL", b.sqlv("missing_text")
		if c := b.str("level_column"); c != "" {
			best = "min(t." + ident(c) + ")::BIGINT"
			qualifies = fmt.Sprintf("(r._rid IS NULL OR r.best IS NULL OR r.best > %d)", b.int("max_level"))
			finding = fmt.Sprintf("CASE WHEN h.best IS NULL THEN %s ELSE printf(%s, h.best) END", b.sqlv("missing_text"), b.sqlv("level_text"))
		}
		subject := strings.Join(b.subject("p"), " AND ")
		table, where := ident(role.Name), strings.Join(cond, "\n\t\tAND ")
		// The records' evidence is read for hits only (a hit has records
		// when their best level does not qualify).
		return fmt.Sprintf(`
WITH rec AS (
	SELECT p._rid, %s AS best
	FROM screened p JOIN %s t ON t.person_key = p.person_key
	WHERE %s
	GROUP BY p._rid
), hit AS (
	SELECT p._rid, r._rid IS NOT NULL AS has, r.best
	FROM screened p LEFT JOIN rec r ON r._rid = p._rid
	WHERE %s AND EXISTS (SELECT 1 FROM %s) AND %s
), hev AS (
	SELECT p._rid, list(ev(t._source, t._file, t._row, t._orig) ORDER BY t._source, t._file, t._row) AS evs
	FROM hit h JOIN screened p ON p._rid = h._rid JOIN %s t ON t.person_key = p.person_key
	WHERE h.has AND %s
	GROUP BY p._rid
)
SELECT p._rid, %s AS severity, p.period_start, p.program_name, h.best AS best_level, %s AS finding,
	to_json(list_concat([ev(p._source, p._file, p._row, p._orig)], coalesce(e.evs, []))) AS evidence
FROM hit h JOIN screened p ON p._rid = h._rid LEFT JOIN hev e ON e._rid = h._rid`,
			best, table, where, subject, table, qualifies, table, where, b.severity(), finding)
	},
}

var accountType = &template{
	name: "account_type",
	doc: "The program must be paid to the recipient's social-security card (catalogue ssc_required) and the payment went to another " +
		"kind of account (payment.account_type not among ssc_values). Payments without an account type are not screened.",
	params: []Param{
		param("ssc_values", List, []string{"ssc"}, "account_type values that mean a social-security card"),
	},
	fields: []string{"period_start", "program_name", "account_type", "bank", "amount"},
	body: func(b *build) string {
		return `
SELECT _rid, ` + b.severity() + ` AS severity, period_start, program_name, account_type, bank, amount,
	to_json([ev(_source, _file, _row, _orig)]) AS evidence
FROM screened
WHERE coalesce(ssc_required, false) AND account_type IS NOT NULL AND NOT list_contains(` + b.sqlv("ssc_values") + `, account_type)`
	},
}

var holderMismatch = &template{
	name: "holder_mismatch",
	doc: "The account holder's name differs, after normalisation, from the recipient's name on the roll and from every registry name " +
		"for the recipient's ID number, and (with household_exempt) is not the name of a member of the recipient's registered household. " +
		"Payments without a resolved person or without an account holder are not screened.",
	params: []Param{
		param("household_exempt", Bool, true, "a holder who is a member of the recipient's registered household is not a hit"),
	},
	fields: []string{"period_start", "program_name", "holder", "roll_name", "registry_name"},
	body: func(b *build) string {
		hh, hhNames := "", ""
		if b.flag("household_exempt") {
			// The names of household members are read for the candidates
			// only (holder neither the roll name nor a registry name).
			hhNames = `, hh_names AS (
	SELECT DISTINCT a.person_key, m.name_norm
	FROM rule_household_member a JOIN person m ON m.household_id = a.household_id
	WHERE m.name_norm IS NOT NULL AND a.person_key IN (SELECT person_key FROM cand)
)`
			hh = `
WHERE NOT EXISTS (SELECT 1 FROM hh_names h WHERE h.person_key = c.person_key AND h.name_norm = c.account_holder_norm)`
		}
		return `
WITH cand AS (
	SELECT p._rid, p.person_key, p.account_holder_norm, r.erid
	FROM screened p LEFT JOIN rule_person_names r USING (person_key)
	WHERE p.person_key IS NOT NULL AND p.account_holder_norm IS NOT NULL
		AND p.account_holder_norm IS DISTINCT FROM p.name_norm
		AND NOT coalesce(list_contains(r.names, p.account_holder_norm), false)
)` + hhNames + `, hit AS (
	SELECT c._rid, c.erid FROM cand c` + hh + `
)
-- The payment and the registry row (the first with a name) are read for
-- hits only.
SELECT h._rid, ` + b.severity() + ` AS severity, p.period_start, p.program_name, p.account_holder AS holder,
	p.name AS roll_name, pe.name AS registry_name,
	to_json(CASE WHEN pe._rid IS NULL THEN [ev(p._source, p._file, p._row, p._orig)]
		ELSE [ev(p._source, p._file, p._row, p._orig), ev(pe._source, pe._file, pe._row, pe._orig)] END) AS evidence
FROM hit h JOIN screened p ON p._rid = h._rid LEFT JOIN person pe ON pe._rid = h.erid`
	},
}

var sharedAccount = &template{
	name: "shared_account",
	doc: "One account number receives, in the screened periods, payments for min_persons or more persons who are not all of one " +
		"registered household (person.household_id; a person not in the registry is a household of their own). Every payment to the account is hit.",
	params: []Param{
		ranged(param("min_persons", Int, 3, "number of persons on one account that makes a hit"), 2, 1000),
	},
	fields: []string{"period_start", "program_name", "account_tail", "persons", "households"},
	body: func(b *build) string {
		return fmt.Sprintf(`
WITH pay AS (
	SELECT p.*, coalesce(p.person_key, 'name:' || p.name_norm) AS who
	FROM screened p
	WHERE p.account_no IS NOT NULL AND trim(p.account_no) <> '' AND (p.person_key IS NOT NULL OR p.name_norm IS NOT NULL)
), hh AS (
	SELECT person_key, min(household_id) AS household_id FROM person
	WHERE person_key IS NOT NULL AND household_id IS NOT NULL GROUP BY person_key
), acc AS (
	SELECT trim(y.account_no) AS acct, count(DISTINCT y.who) AS persons,
		count(DISTINCT coalesce('hh:' || h.household_id, y.who)) AS households
	FROM pay y LEFT JOIN hh h ON h.person_key = y.person_key
	GROUP BY trim(y.account_no)
	HAVING count(DISTINCT y.who) >= %d AND count(DISTINCT coalesce('hh:' || h.household_id, y.who)) >= 2
)
SELECT p._rid, %s AS severity, p.period_start, p.program_name, right(a.acct, 4) AS account_tail, a.persons, a.households,
	to_json([ev(p._source, p._file, p._row, p._orig)]) AS evidence
FROM pay p JOIN acc a ON a.acct = trim(p.account_no)`, b.int("min_persons"), b.severity())
	},
}

var amountOffStandard = &template{
	name: "amount_off_standard",
	doc: "The amount differs from the catalogue's standard_amount times the payment's quantity (1 when not given) by more than " +
		"tolerance yuan and more than tolerance_ratio of the expected amount. Programs without a standard amount are not screened.",
	params: []Param{
		ranged(param("tolerance", Number, 0.01, "difference in yuan that is still accepted"), 0.0, 1e9),
		ranged(param("tolerance_ratio", Number, 0.0, "difference as a share of the expected amount that is still accepted"), 0.0, 1.0),
	},
	fields: []string{"period_start", "program_name", "amount", "standard", "quantity", "expected", "difference"},
	body: func(b *build) string {
		return fmt.Sprintf(`
WITH x AS (
	SELECT *, coalesce(quantity, 1) AS q, standard_amount * coalesce(quantity, 1) AS exp
	FROM screened WHERE standard_amount IS NOT NULL
)
SELECT _rid, %s AS severity, period_start, program_name, amount, standard_amount AS standard, q AS quantity,
	exp AS expected, amount - exp AS difference,
	to_json([ev(_source, _file, _row, _orig)]) AS evidence
FROM x
WHERE abs(amount - exp) > greatest(%s, %s * abs(exp))`, b.severity(), b.sqlv("tolerance"), b.sqlv("tolerance_ratio"))
	},
}
