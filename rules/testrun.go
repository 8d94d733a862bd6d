package rules

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/mapping"
	"github.com/crosscheck/crosscheck/schema"
)

// Opener opens a fresh, empty database for one test.
type Opener func(ctx context.Context) (*sql.DB, error)

// TestResult is the outcome of one test of a rule file.
type TestResult struct {
	Rule string
	File string
	Line int
	Name string
	// Problems lists the differences between the hits and the expected
	// hits, and anything that kept the test from running; empty when the
	// test passed.
	Problems []string
	Hits     []Hit
	Elapsed  time.Duration
}

// Passed reports whether the test passed.
func (t TestResult) Passed() bool { return len(t.Problems) == 0 }

// Hit is a hit as a test sees it.
type Hit struct {
	Source      string
	PaymentID   string
	Severity    string
	Explanation string
	Evidence    []string // source:row
	Fields      map[string]string
}

// TestReport is the outcome of every test run.
type TestReport struct {
	Results []TestResult
}

// Failed counts the tests that failed.
func (r *TestReport) Failed() int {
	n := 0
	for _, t := range r.Results {
		if !t.Passed() {
			n++
		}
	}
	return n
}

// RunTests runs the tests of every rule of the set whose id (and test
// name) match filter (nil for all), each in a fresh database from open
// (a fresh in-memory DuckDB when open is nil). Like opa test and promtool
// test rules, a test fails on any difference between the hits and the
// hits it expects.
func RunTests(ctx context.Context, open Opener, set *Set, filter func(rule, test string) bool) (*TestReport, error) {
	if open == nil {
		open = openMemory
	}
	chk, err := newChecker(ctx, dataset.Builtin())
	if err != nil {
		return nil, err
	}
	defer chk.close()
	rep := &TestReport{}
	for _, r := range set.Rules {
		for _, t := range r.Tests {
			if filter != nil && !filter(r.ID, t.Name) {
				continue
			}
			t0 := time.Now()
			res := TestResult{Rule: r.ID, File: r.File, Line: t.Line, Name: t.Name}
			hits, probs := runTest(ctx, open, chk, r, t)
			res.Hits = hits
			res.Problems = probs
			res.Elapsed = time.Since(t0)
			rep.Results = append(rep.Results, res)
			if err := ctx.Err(); err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

func runTest(ctx context.Context, open Opener, chk *checker, r *Rule, t Test) ([]Hit, []string) {
	c := Context{RuleParams: map[string]map[string]any{}}
	if len(t.Params) > 0 {
		c.RuleParams[r.ID] = t.Params
	}
	for _, p := range t.Programs {
		for _, ro := range p.Rosters {
			role, _ := dataset.Lookup(ro.Role)
			c.Rosters = append(c.Rosters, rosterOf(p.Code, role, ro.Column, ro.Values, ro.Label))
		}
	}
	comp, el := compileRule(ctx, chk, r, c)
	if len(el) > 0 {
		var out []string
		for _, e := range el {
			if strings.HasPrefix(e.Key, "rules.params."+r.ID+".") {
				// The test's params, not a job's.
				e = &Error{Key: "params." + strings.TrimPrefix(e.Key, "rules.params."+r.ID+"."), Reason: e.Reason}
			}
			out = append(out, "compile: "+e.Error())
		}
		return nil, out
	}
	db, err := open(ctx)
	if err != nil {
		return nil, []string{"open database: " + err.Error()}
	}
	defer db.Close()
	if probs := loadFixture(ctx, db, t); len(probs) > 0 {
		return nil, probs
	}
	hits, err := RunRule(ctx, db, comp)
	if err != nil {
		return nil, []string{"run: " + err.Error()}
	}
	return hits, compareHits(hits, t.Expect)
}

// loadFixture creates the canonical tables and the catalogue, loads the
// test's rows through the same mapping as a real load, and prepares the
// database for rules (prelude, sandbox).
func loadFixture(ctx context.Context, db *sql.DB, t Test) []string {
	var probs []string
	exec := func(q string) bool {
		if _, err := db.ExecContext(ctx, q); err != nil {
			probs = append(probs, fmt.Sprintf("prepare: %v", err))
			return false
		}
		return true
	}
	for _, q := range schema.Tables(dataset.Builtin()) {
		if !exec(q) {
			return probs
		}
	}
	titles := map[string]string{}
	for k, v := range t.Sources {
		titles[k] = v
	}
	// The personal columns of each fixture source, as the engine declares
	// them for a job's source (its headers are the canonical names here).
	personal := map[string]map[string]dataset.Personal{}
	src := 0
	var links []FixtureRow
	for _, f := range t.Data {
		if f.Role == "person_link" {
			links = append(links, f.Rows...)
			continue
		}
		role, _ := dataset.Lookup(f.Role)
		// Rows of one source, in order of first appearance.
		var order []string
		bySource := map[string][]FixtureRow{}
		for _, row := range f.Rows {
			if _, ok := bySource[row.Source]; !ok {
				order = append(order, row.Source)
			}
			bySource[row.Source] = append(bySource[row.Source], row)
		}
		for _, s := range order {
			src++
			if _, ok := titles[s]; !ok {
				titles[s] = s
			}
			personal[s] = personalOf(role, bySource[s], personal[s])
			p := loadSource(ctx, db, role, s, titles[s], bySource[s], int64(src)<<40)
			probs = append(probs, p...)
		}
	}
	if len(probs) > 0 {
		return probs
	}
	// Links as the engine's linkage leaves them: a person_link row, and
	// the record keyed with link_method probabilistic.
	for _, l := range links {
		v := map[string]string{}
		for i, c := range l.Cols {
			v[c] = l.Values[i]
		}
		tbl := ident(v["dataset"])
		where := fmt.Sprintf("_source = %s AND _row = %s", lit(l.Source), v["row"])
		var n int64
		err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+tbl+" WHERE "+where).Scan(&n)
		if err == nil && n == 1 {
			_, err = db.ExecContext(ctx, fmt.Sprintf(`INSERT INTO person_link (table_name, _rid, person_key, method, match_probability)
				SELECT %s, _rid, %s, 'probabilistic', %s::DOUBLE FROM %s WHERE %s`, lit(v["dataset"]), lit(v["person_key"]), lit(v["probability"]), tbl, where))
		}
		if err == nil && n == 1 {
			_, err = db.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET person_key = coalesce(person_key, %s), link_method = 'probabilistic',
				link_probability = %s::DOUBLE WHERE %s`, tbl, lit(v["person_key"]), lit(v["probability"]), where))
		}
		if err != nil || n != 1 {
			probs = append(probs, fmt.Sprintf("line %d: person_link: no %s row %s:%s to link (%v)", l.Line, v["dataset"], l.Source, v["row"], err))
		}
	}
	if len(probs) > 0 {
		return probs
	}
	progs := make([]schema.Program, len(t.Programs))
	for i, p := range t.Programs {
		progs[i] = schema.Program{Code: p.Code, Name: p.Name, Department: p.Department, Frequency: p.Frequency,
			MinAge: p.MinAge, MaxAge: p.MaxAge, Requires: p.Requires, SSCRequired: p.SSCRequired,
			PayableAfterDeath: p.PayableAfterDeath, StandardAmount: p.StandardAmount, ExclusiveWith: p.ExclusiveWith}
	}
	for _, q := range schema.CatalogueInserts(progs) {
		if !exec(q) {
			return probs
		}
	}
	names := make([]string, 0, len(titles))
	for n := range titles {
		names = append(names, n)
	}
	sort.Strings(names)
	srcs := make([]schema.Source, len(names))
	for i, n := range names {
		srcs[i] = schema.Source{Name: n, Title: titles[n], Personal: personal[n]}
	}
	for _, q := range schema.Prelude(srcs, t.Periods) {
		if !exec(q) {
			return probs
		}
	}
	if err := Sandbox(ctx, db); err != nil {
		probs = append(probs, err.Error())
	}
	return probs
}

type fixtureSink struct {
	rows  []FixtureRow
	probs []string
	role  string
}

func (s *fixtureSink) Quarantine(q mapping.QuarantineRow) error {
	line := 0
	if i := int(q.Row) - 2; i >= 0 && i < len(s.rows) {
		line = s.rows[i].Line
	}
	s.probs = append(s.probs, fmt.Sprintf("line %d: the %s row would be quarantined: %s (%s)", line, s.role, q.Reason, q.Detail))
	return nil
}

// loadSource maps the rows of one fixture source and inserts them.
func loadSource(ctx context.Context, db *sql.DB, role dataset.Role, name, title string, rows []FixtureRow, ridBase int64) []string {
	var cols []string
	idx := map[string]int{}
	for _, r := range rows {
		for _, c := range r.Cols {
			if _, ok := idx[c]; !ok {
				idx[c] = len(cols)
				cols = append(cols, c)
			}
		}
	}
	js := job.Source{Name: name, Role: role.Name, Title: title, Columns: map[string]job.Mapping{}}
	for _, c := range cols {
		js.Columns[c] = job.Mapping{Column: c}
	}
	sink := &fixtureSink{rows: rows, role: role.Name}
	m, err := mapping.New(role, js, sink, ridBase)
	if err != nil {
		return []string{err.Error()}
	}
	defer m.Release()
	hdr := &connectors.Header{Input: "fixture", Path: "fixture", Names: cols}
	for i, r := range rows {
		vals := make([]string, len(cols))
		for k, c := range r.Cols {
			vals[idx[c]] = r.Values[k]
		}
		if err := m.Add(connectors.Record{Header: hdr, Row: int64(i + 2), Values: vals}); err != nil {
			return []string{fmt.Sprintf("line %d: %v", r.Line, err)}
		}
	}
	if len(sink.probs) > 0 {
		return sink.probs
	}
	rec := m.Flush()
	if rec == nil {
		return nil
	}
	defer rec.Release()
	var stmts []string
	names := make([]string, rec.NumCols())
	for i := range names {
		names[i] = ident(rec.ColumnName(i))
	}
	for row := 0; row < int(rec.NumRows()); row++ {
		vals := make([]string, rec.NumCols())
		for c := 0; c < int(rec.NumCols()); c++ {
			vals[c] = sqlLiteral(rec.Column(c), row)
		}
		stmts = append(stmts, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", ident(role.Name), strings.Join(names, ", "), strings.Join(vals, ", ")))
	}
	if schema.HasPersonKey(role) {
		stmts = append(stmts, fmt.Sprintf(`UPDATE %s SET person_key = CASE WHEN id_number_status IN ('valid', 'upgraded') THEN id_number END,
			link_method = CASE id_number_status WHEN 'valid' THEN 'exact' WHEN 'upgraded' THEN 'upgraded' ELSE 'unresolved' END WHERE _source = %s`,
			ident(role.Name), lit(name)))
		for i, r := range rows {
			if r.PersonKey == nil {
				continue
			}
			rid := ridBase + int64(i) + 1
			if *r.PersonKey == "" {
				stmts = append(stmts, fmt.Sprintf("UPDATE %s SET person_key = NULL, link_method = 'unresolved' WHERE _rid = %d", ident(role.Name), rid))
			} else {
				stmts = append(stmts, fmt.Sprintf(`UPDATE %s SET person_key = %s,
					id_number_status = CASE WHEN id_number_status IN ('valid', 'upgraded') THEN id_number_status ELSE 'repaired' END,
					link_method = CASE WHEN id_number_status IN ('valid', 'upgraded') THEN link_method ELSE 'repaired' END WHERE _rid = %d`,
					ident(role.Name), lit(*r.PersonKey), rid))
			}
		}
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return []string{fmt.Sprintf("load %s: %v", name, err)}
		}
	}
	return nil
}

// sqlLiteral renders one Arrow value as a DuckDB literal.
func sqlLiteral(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "NULL"
	}
	switch x := a.(type) {
	case *array.String:
		return lit(x.Value(i))
	case *array.Int64:
		return strconv.FormatInt(x.Value(i), 10)
	case *array.Float64:
		return strconv.FormatFloat(x.Value(i), 'g', -1, 64) + "::DOUBLE"
	case *array.Date32:
		return "DATE " + lit(x.Value(i).ToTime().Format("2006-01-02"))
	case *array.Boolean:
		if x.Value(i) {
			return "TRUE"
		}
		return "FALSE"
	}
	return lit(a.ValueStr(i))
}

// personalOf adds to m (made when nil) the columns of rows that hold
// personal identifiers in role, column → kind.
func personalOf(role dataset.Role, rows []FixtureRow, m map[string]dataset.Personal) map[string]dataset.Personal {
	if m == nil {
		m = map[string]dataset.Personal{}
	}
	for _, r := range rows {
		for _, c := range r.Cols {
			if col, ok := role.Column(c); ok {
				if p := col.PersonalKind(); p != dataset.NotPersonal {
					m[c] = p
				}
			}
		}
	}
	return m
}

// RunRule runs one compiled rule on a prepared database and reads its
// hits with the payments they name. It checks the contract: every _rid
// is a screened payment, hit once, with evidence a JSON array.
func RunRule(ctx context.Context, db *sql.DB, c Compiled) ([]Hit, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT h._rid, s._source, s.payment_id, h.severity, h.explanation,
		h.evidence::VARCHAR, h.fields::VARCHAR FROM (%s) AS h LEFT JOIN screened s ON s._rid = h._rid
		ORDER BY s._source, s._file, s._row`, c.SQL))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Hit
	seen := map[int64]bool{}
	for rows.Next() {
		var rid int64
		var src, pid, sev, expl, ev, fields sql.NullString
		if err := rows.Scan(&rid, &src, &pid, &sev, &expl, &ev, &fields); err != nil {
			return nil, err
		}
		if !src.Valid {
			return nil, fmt.Errorf("rule %s returned _rid %d, which is not a screened payment", c.ID, rid)
		}
		if seen[rid] {
			return nil, fmt.Errorf("rule %s hit payment %s (%s) more than once; a rule returns one row per payment", c.ID, pid.String, src.String)
		}
		seen[rid] = true
		h := Hit{Source: src.String, PaymentID: pid.String, Severity: sev.String, Explanation: expl.String, Fields: map[string]string{}}
		var evs []struct {
			Source string `json:"source"`
			Row    int64  `json:"row"`
		}
		if err := json.Unmarshal([]byte(ev.String), &evs); err != nil {
			return nil, fmt.Errorf("rule %s: evidence of %s is not a JSON array of evidence objects: %v", c.ID, pid.String, err)
		}
		for _, e := range evs {
			h.Evidence = append(h.Evidence, fmt.Sprintf("%s:%d", e.Source, e.Row))
		}
		var fm map[string]json.RawMessage
		if err := json.Unmarshal([]byte(fields.String), &fm); err == nil {
			for k, v := range fm {
				h.Fields[k] = rawText(v)
			}
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// rawText renders a JSON value as the text a test writes: strings
// unquoted, null as "".
func rawText(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	if string(v) == "null" {
		return ""
	}
	return string(v)
}

func compareHits(got []Hit, want []ExpectedHit) []string {
	var probs []string
	used := make([]bool, len(got))
	for _, w := range want {
		k := -1
		for i, g := range got {
			if !used[i] && g.PaymentID == w.PaymentID && (w.Source == "" || w.Source == g.Source) {
				k = i
				break
			}
		}
		if k < 0 {
			probs = append(probs, fmt.Sprintf("line %d: missing hit: payment %s%s", w.Line, w.PaymentID, sourceNote(w.Source)))
			continue
		}
		used[k] = true
		g := got[k]
		if w.Severity != "" && w.Severity != g.Severity {
			probs = append(probs, fmt.Sprintf("line %d: payment %s: severity %s, want %s", w.Line, w.PaymentID, g.Severity, w.Severity))
		}
		if w.Explanation != "" && w.Explanation != g.Explanation {
			probs = append(probs, fmt.Sprintf("line %d: payment %s: explanation\n      got:  %s\n      want: %s", w.Line, w.PaymentID, g.Explanation, w.Explanation))
		}
		if w.Evidence != nil && strings.Join(w.Evidence, ",") != strings.Join(g.Evidence, ",") {
			probs = append(probs, fmt.Sprintf("line %d: payment %s: evidence [%s], want [%s]", w.Line, w.PaymentID,
				strings.Join(g.Evidence, ", "), strings.Join(w.Evidence, ", ")))
		}
		for _, f := range sortedKeys(w.Fields) {
			gv, ok := g.Fields[f]
			switch {
			case !ok:
				probs = append(probs, fmt.Sprintf("line %d: payment %s: no evidence field %s (fields: %s)", w.Line, w.PaymentID, f, strings.Join(sortedKeys(g.Fields), ", ")))
			case gv != w.Fields[f]:
				probs = append(probs, fmt.Sprintf("line %d: payment %s: field %s = %q, want %q", w.Line, w.PaymentID, f, gv, w.Fields[f]))
			}
		}
	}
	for i, g := range got {
		if !used[i] {
			probs = append(probs, fmt.Sprintf("unexpected hit: payment %s (source %s, %s): %s", g.PaymentID, g.Source, g.Severity, g.Explanation))
		}
	}
	return probs
}

func sourceNote(s string) string {
	if s == "" {
		return ""
	}
	return " (source " + s + ")"
}

// Filter builds a test filter from a pattern RULE or RULE/TEST (regular
// expressions, as go test -run); "" matches everything.
func Filter(pattern string) (func(rule, test string) bool, error) {
	if pattern == "" {
		return nil, nil
	}
	rp, tp, _ := strings.Cut(pattern, "/")
	rre, err := regexp.Compile(rp)
	if err != nil {
		return nil, err
	}
	var tre *regexp.Regexp
	if tp != "" {
		if tre, err = regexp.Compile(tp); err != nil {
			return nil, err
		}
	}
	return func(rule, test string) bool {
		return rre.MatchString(rule) && (tre == nil || tre.MatchString(test))
	}, nil
}
