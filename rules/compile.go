package rules

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/job"
)

// Context is what rules are compiled with: the job's settings that shape
// the SQL. Everything in it is known before any data is loaded.
type Context struct {
	// Params are one rule's whole-number parameters for Rule.Build, the
	// engine's path before rule files.
	//
	// Deprecated: use RuleParams and Set.Compile.
	Params map[string]int
	// Rosters are the programs' exclusive rosters (exclusive_programs).
	Rosters []Roster
	// RuleParams are the job's rules.params: rule id → parameter → value.
	RuleParams map[string]map[string]any
	// Disabled lists rules not to run (rules.disabled).
	Disabled []string
	// AppliesTo replaces a rule's applies_to with program codes
	// (rules.applies_to).
	AppliesTo map[string][]string
	// Roles are the datasets of the run (built-in and the job's custom
	// roles); nil means the built-in roles.
	Roles []dataset.Role
}

// ContextFromJob builds the compile context of a job: its rosters, rule
// parameters, disabled rules and datasets (custom roles included).
func ContextFromJob(j *job.Job) Context {
	c := Context{RuleParams: j.Rules.Params, Disabled: j.Rules.Disabled}
	for _, p := range j.Programs {
		for _, r := range p.ExclusiveRosters {
			role, _ := dataset.Lookup(r.Role)
			c.Rosters = append(c.Rosters, rosterOf(p.Code, role, r.Column, r.Values, r.Label))
		}
	}
	c.Roles = dataset.Builtin()
	seen := map[string]bool{}
	for _, r := range c.Roles {
		seen[r.Name] = true
	}
	for _, s := range j.Sources {
		r, err := j.SourceRole(s)
		if err == nil && !seen[r.Name] {
			seen[r.Name] = true
			c.Roles = append(c.Roles, r)
		}
	}
	return c
}

func rosterOf(program string, role dataset.Role, column string, values []string, label string) Roster {
	_, hs := role.Column("start_date")
	_, he := role.Column("end_date")
	_, hst := role.Column("status")
	return Roster{Program: program, Table: role.Name, Column: column, Values: values, Label: label,
		HasStart: hs, HasEnd: he, HasStatus: hst}
}

func (c Context) roles() []dataset.Role {
	if c.Roles == nil {
		return dataset.Builtin()
	}
	return c.Roles
}

// Compiled is a rule ready to run: a SELECT returning _rid, severity,
// explanation, evidence and fields.
type Compiled struct {
	ID       string
	Title    string
	Category string
	Severity string
	Version  string
	File     string
	// Params are the parameters in force.
	Params    map[string]any
	AppliesTo AppliesTo
	// Fields are the evidence fields (and their DuckDB types) the
	// explanation is built from; they make up the fields JSON.
	Fields []Field
	// SQL is the rule's SELECT, runnable on any prepared database: it
	// defines the shared pre-aggregations it reads as CTEs.
	SQL string
	// Shared names the shared pre-aggregation tables the rule reads
	// (RulePrelude); SharedSQL is SQL reading them as tables, for a run
	// that built them once for every rule.
	Shared    []string
	SharedSQL string
	Rule      *Rule
}

// Field is an evidence field of a compiled rule.
type Field struct {
	Name string
	Type string
}

// Compile checks the job's rule settings against the set, then builds and
// type-checks every enabled rule's SQL in an empty in-memory DuckDB. It
// returns every problem found as an ErrorList.
func (s *Set) Compile(ctx context.Context, c Context) ([]Compiled, error) {
	el := s.checkSettings(c)
	if len(el) > 0 {
		return nil, el.Err()
	}
	chk, err := newChecker(ctx, c.roles())
	if err != nil {
		return nil, err
	}
	defer chk.close()
	disabled := map[string]bool{}
	for _, id := range c.Disabled {
		disabled[id] = true
	}
	var out []Compiled
	for _, r := range s.Rules {
		if disabled[r.ID] {
			continue
		}
		cr, errs := compileRule(ctx, chk, r, c)
		el = append(el, errs...)
		if len(errs) == 0 {
			out = append(out, cr)
		}
	}
	if len(el) > 0 {
		return nil, el.Err()
	}
	return out, nil
}

// checkSettings reports job settings naming unknown rules or parameters.
func (s *Set) checkSettings(c Context) ErrorList {
	var el ErrorList
	known := func(key, id string) bool {
		if _, ok := s.Lookup(id); ok {
			return true
		}
		el = append(el, &Error{Key: key, Reason: fmt.Sprintf("unknown rule %q (rules: %s)", id, strings.Join(s.IDs(), ", "))})
		return false
	}
	for _, id := range c.Disabled {
		known("rules.disabled", id)
	}
	for _, id := range sortedKeys(c.RuleParams) {
		known("rules.params", id)
	}
	for _, id := range sortedKeys(c.AppliesTo) {
		known("rules.applies_to", id)
	}
	return el
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// resolve merges the rule's defaults with the job's parameters.
func (r *Rule) resolve(given map[string]any) (map[string]any, map[string]string, ErrorList) {
	vals, bad, unknown := resolveParams(r.Params, given)
	var el ErrorList
	for _, k := range unknown {
		el = append(el, &Error{Rule: r.ID, Key: "rules.params." + r.ID + "." + k,
			Reason: fmt.Sprintf("rule %s has no parameter %s (parameters: %s)", r.ID, k, paramNames(r.Params))})
	}
	for _, k := range sortedKeys(bad) {
		el = append(el, &Error{Rule: r.ID, Key: "rules.params." + r.ID + "." + k, Reason: bad[k].Error()})
	}
	keys := map[string]string{}
	for k := range given {
		keys[k] = "rules.params." + r.ID + "." + k
	}
	return vals, keys, el
}

// applies returns the programs the rule screens: the job's applies_to for
// the rule when it sets one, else the rule's own.
func (r *Rule) applies(c Context) AppliesTo {
	if codes, ok := c.AppliesTo[r.ID]; ok {
		return AppliesTo{Programs: codes}
	}
	return r.AppliesTo
}

// body builds the rule's SELECT (before the explanation and applies_to
// are added) with parameters vals.
func (r *Rule) body(vals map[string]any, keys map[string]string, c Context) (string, ErrorList) {
	e := &errs{file: r.File, rule: r.ID}
	if r.tmpl == nil {
		return placeholderRE.ReplaceAllStringFunc(r.SQL, func(m string) string {
			return sqlValue(vals[strings.TrimSpace(m[2:len(m)-1])])
		}), nil
	}
	roles := map[string]dataset.Role{}
	for _, ro := range c.roles() {
		roles[ro.Name] = ro
	}
	b := &build{rule: r, params: vals, rosters: c.Rosters, roles: roles, jobKeys: keys, applies: r.applies(c), e: e}
	if r.tmpl.check != nil {
		r.tmpl.check(b)
		if len(e.list) > 0 {
			return "", e.list
		}
	}
	q := r.tmpl.body(b)
	return q, e.list
}

func compileRule(ctx context.Context, chk *checker, r *Rule, c Context) (Compiled, ErrorList) {
	e := &errs{file: r.File, rule: r.ID}
	vals, keys, el := r.resolve(c.RuleParams[r.ID])
	if len(el) > 0 {
		return Compiled{}, el
	}
	body, el := r.body(vals, keys, c)
	if len(el) > 0 {
		return Compiled{}, el
	}
	// Where problems in the body point: the SQL's lines for a sql rule,
	// the template line for a template rule (an internal error).
	first, at := r.lines["sql"], func(line int) int { return line }
	if r.tmpl != nil {
		first = r.lines["template"]
		at = func(int) int { return r.lines["template"] }
	}
	for _, p := range chk.validate(ctx, body) {
		e.at(at(lineAt(body, p.offset, first)), "sql: %s", p.msg)
	}
	if len(e.list) > 0 {
		return Compiled{}, e.list
	}
	cols, line, err := chk.describe(ctx, body)
	if err != nil {
		l := first
		if line > 0 {
			l = at(first + line - 1)
		}
		e.at(l, "sql: %v", err)
		return Compiled{}, e.list
	}
	shape, fields := shapeOf(cols)
	if !shape.rid {
		e.at(first, "sql: the SELECT must return _rid, the record id of the payment it flags (screened._rid)")
	} else if !shape.ridInt {
		e.at(first, "sql: _rid must be the payment's BIGINT record id")
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	if r.tmpl != nil && strings.Join(names, ",") != strings.Join(r.tmpl.fields, ",") {
		e.at(first, "internal error: template %s returns fields %v, declared %v", r.Template, names, r.tmpl.fields)
	}
	for _, f := range r.explain.fields() {
		if !contains(names, f) {
			e.at(r.lines["explain"], "explain names {%s}, which is not an evidence field of the rule (fields: %s)", f, strings.Join(names, ", "))
		}
	}
	if len(e.list) > 0 {
		return Compiled{}, e.list
	}
	applies := r.applies(c)
	q := wrap(r, body, shape, names, applies)
	var local []string
	if d := subjectCTE(q, applies); d != "" {
		local = append(local, d)
	}
	shared := sharedUsed(q)
	full := withCTEs(q, append(sharedCTEs(shared), local...))
	q = withCTEs(q, local)
	if cols, _, err := chk.describe(ctx, full); err != nil {
		// The body binds: what is added around it is the explanation.
		e.at(r.lines["explain"], "explain: %v", err)
	} else if len(cols) != 5 {
		e.at(first, "internal error: compiled rule returns %d columns", len(cols))
	}
	for _, p := range chk.validate(ctx, full) {
		e.at(first, "sql: %s", p.msg)
	}
	if len(e.list) > 0 {
		return Compiled{}, e.list
	}
	return Compiled{ID: r.ID, Title: r.Title, Category: r.Category, Severity: r.Severity, Version: r.Version, File: r.File,
		Params: vals, AppliesTo: applies, Fields: fields, SQL: full, Shared: shared, SharedSQL: q, Rule: r}, nil
}

// bodyShape says which of the contract's columns a rule's SELECT returns.
type bodyShape struct {
	rid, ridInt, severity, evidence, evidenceList bool
}

func shapeOf(cols []column) (bodyShape, []Field) {
	var s bodyShape
	var fields []Field
	for _, c := range cols {
		switch c.name {
		case "_rid":
			s.rid = true
			s.ridInt = c.typ == "BIGINT"
		case "severity":
			s.severity = true
		case "evidence":
			s.evidence = true
			s.evidenceList = strings.HasSuffix(c.typ, "[]")
		default:
			fields = append(fields, Field{Name: c.name, Type: c.typ})
		}
	}
	return s, fields
}

// wrap adds the explanation, the fields JSON, default severity and
// evidence, and applies_to around a rule's SELECT.
func wrap(r *Rule, body string, s bodyShape, fields []string, applies AppliesTo) string {
	sev := lit(r.Severity)
	if s.severity {
		sev = "h.severity"
		if r.tmpl == nil {
			sev = fmt.Sprintf("CASE WHEN h.severity IN ('high', 'medium', 'low') THEN h.severity ELSE error(%s || coalesce(h.severity, 'NULL')) END",
				lit("rule "+r.ID+": severity must be high, medium or low, got "))
		}
	}
	join := ""
	evidence := "h.evidence"
	switch {
	case !s.evidence:
		evidence = "to_json([ev(_p._source, _p._file, _p._row, _p._orig)])"
		join = "\nLEFT JOIN screened AS _p ON _p._rid = h._rid"
	case s.evidenceList:
		evidence = "to_json(h.evidence)"
	}
	fj := "'{}'::JSON"
	if len(fields) > 0 {
		args := make([]string, 0, 2*len(fields))
		for _, f := range fields {
			args = append(args, lit(f), "h."+ident(f))
		}
		fj = "json_object(" + strings.Join(args, ", ") + ")"
	}
	where := ""
	if c := appliesCond(applies, "s.program_code"); c != "" {
		where = "\nWHERE h._rid IN (SELECT s._rid FROM screened s WHERE " + c + ")"
	}
	return fmt.Sprintf("SELECT h._rid,\n\t%s AS severity,\n\t%s AS explanation,\n\t%s AS evidence,\n\t%s AS fields\nFROM (%s\n) AS h%s%s",
		sev, r.explain.sql("h"), evidence, fj, body, join, where)
}

// AppliesSQL is the SQL condition on the program code expression col
// that holds for the programs the rule may hit ("" when it may hit every
// program): the restriction wrap puts around the rule's SELECT.
func (c Compiled) AppliesSQL(col string) string { return appliesCond(c.AppliesTo, col) }

// appliesCond returns the SQL condition on the program code expression col
// that holds for the programs applies selects, or "" when it selects all.
func appliesCond(applies AppliesTo, col string) string {
	switch {
	case len(applies.Programs) > 0:
		codes := make([]string, len(applies.Programs))
		for i, p := range applies.Programs {
			codes[i] = lit(p)
		}
		return col + " IN (" + strings.Join(codes, ", ") + ")"
	case applies.Property != "":
		cond := catalogueProperties[applies.Property]
		if strings.Contains(cond, "%s") {
			cond = fmt.Sprintf(cond, lit(applies.Equals))
		}
		return col + " IN (SELECT c.program_code FROM program_catalogue c WHERE " + cond + ")"
	}
	return ""
}

// Lint loads the rule files of dirs (the built-in library when dirs is
// empty) and compiles every rule under c. It returns the rules that load
// and every problem found, each with its file, line and reason.
func Lint(ctx context.Context, c Context, dirs ...string) (*Set, error) {
	if len(dirs) == 0 {
		_, set, err := LoadAndCompile(ctx, c, true)
		return set, err
	}
	_, set, err := LoadAndCompile(ctx, c, false, dirs...)
	return set, err
}

// LoadAndCompile loads a rule set — the built-in library (when builtin)
// and the folders, whose rules replace built-in ones with the same id —
// and compiles it under c. This is what a run does before loading data:
// the error lists every problem of every file (parse and compile) and of
// the job's settings.
func LoadAndCompile(ctx context.Context, c Context, builtin bool, dirs ...string) ([]Compiled, *Set, error) {
	set, err := Load(builtin, dirs...)
	el := ErrorList(Errors(err))
	if err != nil && len(el) == 0 {
		return nil, nil, err
	}
	comp, cerr := set.Compile(ctx, c)
	if cerr != nil && len(Errors(cerr)) == 0 {
		return nil, set, cerr
	}
	el = append(el, Errors(cerr)...)
	if len(el) > 0 {
		return nil, set, el.Err()
	}
	return comp, set, nil
}

// sharedTables are person-level pre-aggregations that several rules read
// (templates and sql rules alike, by these table names). A compiled rule's
// SQL defines the ones it reads as CTEs, so that it runs on any prepared
// database; the engine builds them once as tables before the rules
// (RulePrelude) and runs each rule's SharedSQL, which reads the tables:
// one pass over person instead of one per rule.
var sharedTables = []struct{ name, sql string }{
	// Each screened person's registered normalised names and the record
	// id of the first registry row with a name (name_mismatch,
	// holder_mismatch). Persons without a screened payment are left out:
	// rules read these by a payment's person key.
	{"rule_person_names", `SELECT person_key, list(DISTINCT name_norm) AS names, min(_rid) AS erid
	FROM person WHERE person_key IS NOT NULL AND name_norm IS NOT NULL
		AND person_key IN (SELECT person_key FROM screened) GROUP BY person_key`},
	// Each screened person's registered birth date (of the first registry
	// row with one) and that row's record id (age rules).
	{"rule_person_birth", `SELECT person_key, arg_min(birth_date, _rid) AS birth_date, min(_rid) AS erid
	FROM person WHERE person_key IS NOT NULL AND birth_date IS NOT NULL
		AND person_key IN (SELECT person_key FROM screened) GROUP BY person_key`},
	// The registered households of each person (household rules).
	{"rule_household_member", `SELECT DISTINCT person_key, household_id FROM person
	WHERE person_key IS NOT NULL AND household_id IS NOT NULL`},
}

// SharedTableNames lists the shared pre-aggregation tables rules may read.
func SharedTableNames() []string {
	out := make([]string, len(sharedTables))
	for i, t := range sharedTables {
		out[i] = t.name
	}
	return out
}

var sharedRE = func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)\b(` + strings.Join(SharedTableNames(), "|") + `)\b`)
}()

// sharedUsed returns the shared tables the SQL names, in sharedTables order.
func sharedUsed(q string) []string {
	seen := map[string]bool{}
	for _, m := range sharedRE.FindAllString(q, -1) {
		seen[strings.ToLower(m)] = true
	}
	var out []string
	for _, t := range sharedTables {
		if seen[t.name] {
			out = append(out, t.name)
		}
	}
	return out
}

// sharedCTEs defines the shared tables names as CTEs.
func sharedCTEs(names []string) []string {
	var ctes []string
	for _, t := range sharedTables {
		if contains(names, t.name) {
			ctes = append(ctes, t.name+" AS (\n"+t.sql+"\n)")
		}
	}
	return ctes
}

// withCTEs puts the CTE definitions ctes before the SELECT q.
func withCTEs(q string, ctes []string) string {
	if len(ctes) == 0 {
		return q
	}
	return "WITH " + strings.Join(ctes, ",\n") + "\n" + q
}

// subjectTable names, in a rule's SELECT, the screened payments of the
// programs the rule applies to (after the job's rules.applies_to): a rule
// that reads it for the payments it flags reads no other program's rows.
// wrap filters the programs again after the body either way.
const subjectTable = "screened_subject"

var subjectRE = regexp.MustCompile(`(?i)\b` + subjectTable + `\b`)

// subjectCTE defines screened_subject when q reads it ("" when not).
func subjectCTE(q string, applies AppliesTo) string {
	if !subjectRE.MatchString(q) {
		return ""
	}
	def := "SELECT * FROM screened"
	if c := appliesCond(applies, "program_code"); c != "" {
		def += " WHERE " + c
	}
	return subjectTable + " AS (" + def + ")"
}

// RulePrelude returns the statements that build, once before the rules
// run, the shared pre-aggregations the compiled rules read (create), and
// those that drop them afterwards (drop). A rule run after create may run
// its SharedSQL instead of SQL.
func RulePrelude(comp []Compiled) (create, drop []string) {
	var used []string
	for _, c := range comp {
		used = append(used, c.Shared...)
	}
	for _, t := range sharedTables {
		if contains(used, t.name) {
			create = append(create, "CREATE OR REPLACE TABLE "+t.name+" AS "+t.sql)
			drop = append(drop, "DROP TABLE IF EXISTS "+t.name)
		}
	}
	return create, drop
}
