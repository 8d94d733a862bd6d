package schema_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/schema"
)

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "?threads=1")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // TEMP tables live on one connection
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%v\nin SQL: %s", err, q)
		}
	}
}

// column is a column of a table as DuckDB describes it.
type column struct{ Name, Type string }

func describe(t *testing.T, db *sql.DB, table string) []column {
	t.Helper()
	rows, err := db.Query(`SELECT column_name, data_type FROM information_schema.columns
		WHERE table_name = ? ORDER BY ordinal_position`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.Name, &c.Type); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func names(cols []column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

// TestTables creates every built-in role's table and checks its columns
// against the role's fields (meta columns, expanded canonical columns,
// then person_key, link_method, link_probability for roles with an ID).
func TestTables(t *testing.T) {
	db := openDB(t)
	exec(t, db, schema.Tables(dataset.Builtin())...)
	duck := map[arrow.Type]string{arrow.STRING: "VARCHAR", arrow.INT64: "BIGINT", arrow.FLOAT64: "DOUBLE",
		arrow.DATE32: "DATE", arrow.BOOL: "BOOLEAN"}
	for _, r := range dataset.Builtin() {
		var want []column
		for _, f := range r.Fields() {
			typ, ok := duck[f.Type.ID()]
			if !ok {
				t.Fatalf("role %s: field %s has Arrow type %s, which this test does not know", r.Name, f.Name, f.Type)
			}
			want = append(want, column{f.Name, typ})
		}
		if c, ok := r.Column("id_number"); ok && c.Kind == dataset.ID {
			want = append(want, column{"person_key", "VARCHAR"}, column{"link_method", "VARCHAR"}, column{"link_probability", "DOUBLE"})
		}
		if got := describe(t, db, schema.Table(r)); !slices.Equal(got, want) {
			t.Errorf("table %s:\n got  %v\n want %v", r.Name, got, want)
		}
	}
	for _, tbl := range []string{schema.ProgramCatalogue, schema.ProgramExclusive, schema.PersonLink} {
		if len(describe(t, db, tbl)) == 0 {
			t.Errorf("Tables did not create %s", tbl)
		}
	}
}

// TestOrReplace: TableDDL keeps an existing table and its rows, OrReplace
// of it starts afresh; other statements pass through.
func TestOrReplace(t *testing.T) {
	db := openDB(t)
	payment, _ := dataset.Lookup("payment")
	ddl := schema.TableDDL(payment)
	count := func() (n int) {
		if err := db.QueryRow("SELECT count(*) FROM payment").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	exec(t, db, ddl, "INSERT INTO payment (_source, _rid) VALUES ('a', 1)", ddl)
	if n := count(); n != 1 {
		t.Fatalf("TableDDL again: %d rows, want the 1 kept", n)
	}
	exec(t, db, schema.OrReplace(ddl))
	if n := count(); n != 0 {
		t.Fatalf("OrReplace(TableDDL): %d rows, want 0", n)
	}
	if q := "SELECT 1"; schema.OrReplace(q) != q {
		t.Errorf("OrReplace changed %q", q)
	}
}

func intp(v int) *int           { return &v }
func floatp(v float64) *float64 { return &v }

// TestCatalogue fills the catalogue and reads it back: names default to
// the code, exclusive pairs go both ways once, NULLs stay NULL.
func TestCatalogue(t *testing.T) {
	db := openDB(t)
	progs := []schema.Program{
		{Code: "A01", Name: "耕地地力保护补贴", Department: "农业农村", Frequency: "annual", MinAge: intp(18), StandardAmount: floatp(1234567.5),
			ExclusiveWith: []string{"B02", "A01"}, SSCRequired: true},
		{Code: "B02", ExclusiveWith: []string{"A01"}, PayableAfterDeath: true, Requires: "A01"},
	}
	exec(t, db, schema.CatalogueDDL()...)
	exec(t, db, schema.CatalogueInserts(progs)...)
	for _, p := range progs {
		var name, dept string
		var minAge sql.NullInt64
		var std sql.NullFloat64
		var ssc, pad bool
		err := db.QueryRow(`SELECT name, department, min_age, standard_amount, ssc_required, payable_after_death
			FROM program_catalogue WHERE program_code = ?`, p.Code).Scan(&name, &dept, &minAge, &std, &ssc, &pad)
		if err != nil {
			t.Fatalf("%s: %v", p.Code, err)
		}
		wantName := p.Name
		if wantName == "" {
			wantName = p.Code
		}
		if name != wantName || dept != p.Department || ssc != p.SSCRequired || pad != p.PayableAfterDeath {
			t.Errorf("%s: got %q %q %v %v", p.Code, name, dept, ssc, pad)
		}
		if minAge.Valid != (p.MinAge != nil) || (p.MinAge != nil && int(minAge.Int64) != *p.MinAge) {
			t.Errorf("%s: min_age %v, want %v", p.Code, minAge, p.MinAge)
		}
		if std.Valid != (p.StandardAmount != nil) || (p.StandardAmount != nil && std.Float64 != *p.StandardAmount) {
			t.Errorf("%s: standard_amount %v, want %v", p.Code, std, p.StandardAmount)
		}
	}
	var pairs string
	if err := db.QueryRow(`SELECT string_agg(program_code || '-' || other_code, ',' ORDER BY program_code, other_code)
		FROM program_exclusive`).Scan(&pairs); err != nil {
		t.Fatal(err)
	}
	if pairs != "A01-B02,B02-A01" {
		t.Errorf("program_exclusive: %s, want A01-B02,B02-A01", pairs)
	}
}

// fixture is a small screened database: two persons in the registry, three
// payments of one program (two to person 1, one without region to person
// 2), and rule_hits naming all three, one of them twice.
type fixture struct {
	db *sql.DB
}

const (
	pid1 = "410102199001011234"
	pid2 = "410103198502022345"
)

func newFixture(t *testing.T) *fixture {
	db := openDB(t)
	exec(t, db, schema.Tables(dataset.Builtin())...)
	exec(t, db, schema.CatalogueInserts([]schema.Program{{Code: "P1", Name: "低保", Department: "民政"}})...)
	exec(t, db,
		`INSERT INTO person (_source, _file, _row, _rid, id_number, name, region_code, household_id, status, person_key) VALUES
			('reg', 'reg.csv', 2, 1, '`+pid1+`', '张三', '410102001001', 'H1', 'active', '`+pid1+`'),
			('reg', 'reg.csv', 3, 2, '`+pid2+`', '李四', '410103002003', 'H2', 'active', '`+pid2+`')`,
		`INSERT INTO payment (_source, _file, _row, _rid, payment_id, program_code, period, id_number, id_number_status, name,
			region_code, amount, person_key) VALUES
			('roll', 'r.csv', 2, 11, 'X1', 'P1', '2024-05', '`+pid1+`', 'valid', '张三', '410102001001', 100.005, '`+pid1+`'),
			('roll', 'r.csv', 3, 12, 'X2', 'P1', '2024-05', '`+pid1+`', 'valid', '张三', '410102001001', 50.25, '`+pid1+`'),
			('roll', 'r.csv', 4, 13, 'X3', 'P1', '2024-05', '`+pid2+`', 'valid', '李四', '', 70, '`+pid2+`'),
			('roll', 'r.csv', 5, 14, 'X4', 'P1', '2024-04', '`+pid2+`', 'valid', '李四', '', 70, '`+pid2+`')`)
	exec(t, db, schema.Prelude([]schema.Source{{Name: "roll", Title: "发放名册", Personal: map[string]dataset.Personal{"身份证号": dataset.PersonalID}}},
		[]string{"2024-05"})...)
	exec(t, db, schema.RuleHitsDDL(schema.RuleHits),
		`INSERT INTO rule_hits VALUES
			('r_dead', 'deceased', 11, 'high', '死亡后发放', '[]', '{}'),
			('r_dup', 'duplicate', 11, 'low', '重复发放', '[]', '{}'),
			('r_dup', 'duplicate', 12, 'medium', '重复发放', '[]', '{}'),
			('r_dup', 'duplicate', 13, 'low', '重复发放', '[]', '{}')`)
	exec(t, db, schema.RouteSQL...)
	exec(t, db, schema.HitsSQL("run1"), schema.CasesSQL)
	return &fixture{db: db}
}

// TestHitsAndCases checks the columns of hits and cases against
// HitColumns and CaseColumns, and what they hold against the fixture.
func TestHitsAndCases(t *testing.T) {
	f := newFixture(t)
	db := f.db
	if got := names(describe(t, db, schema.Hits)); !slices.Equal(got, schema.HitColumns) {
		t.Errorf("hits columns:\n got  %v\n want %v", got, schema.HitColumns)
	}
	wantCases := slices.Insert(slices.Clone(schema.CaseColumns), 2, "person_key")
	if got := names(describe(t, db, schema.Cases)); !slices.Equal(got, wantCases) {
		t.Errorf("cases columns:\n got  %v\n want %v", got, wantCases)
	}
	// The screened period only: the April payment is not screened.
	var n int
	if err := db.QueryRow("SELECT count(*) FROM screened").Scan(&n); err != nil || n != 3 {
		t.Errorf("screened: %d rows (%v), want the 3 payments of 2024-05", n, err)
	}
	if err := db.QueryRow("SELECT count(*) FROM hits").Scan(&n); err != nil || n != 4 {
		t.Errorf("hits: %d rows (%v), want one per rule_hits row (4)", n, err)
	}
	type caseRow struct {
		person, county, severity, categories, rules, ids, from string
		hits, payments                                         int
		amount                                                 float64
	}
	rows, err := db.Query(`SELECT person_key, county_code, severity, categories, rule_ids, payment_ids, route_from, hits, payments, amount
		FROM cases ORDER BY person_key`)
	if err != nil {
		t.Fatal(err)
	}
	var got []caseRow
	for rows.Next() {
		var c caseRow
		if err := rows.Scan(&c.person, &c.county, &c.severity, &c.categories, &c.rules, &c.ids, &c.from, &c.hits, &c.payments, &c.amount); err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	rows.Close()
	round2 := func(x float64) float64 { return math.Round(x*100) / 100 }
	want := []caseRow{
		// Person 1: payments X1 (two rules) and X2; the highest severity.
		{pid1, "410102", "high", "deceased,duplicate", "r_dead,r_dup", "X1,X2", "payment", 3, 2, round2(round2(100.005) + 50.25)},
		// Person 2: the roll gives no region; the registry places it.
		{pid2, "410103", "low", "duplicate", "r_dup", "X3", "person", 1, 1, 70},
	}
	if !slices.Equal(got, want) {
		t.Errorf("cases:\n got  %+v\n want %+v", got, want)
	}
}

// TestMacros calls the helper macros as rules do.
func TestMacros(t *testing.T) {
	f := newFixture(t)
	var title, other, ym, money, ev string
	err := f.db.QueryRow(`SELECT src_title('roll'), src_title('other'), ym(DATE '2024-05-31'), money(3.456),
		ev('roll', 'r.csv', 2, {'身份证号': 'x'})::VARCHAR`).Scan(&title, &other, &ym, &money, &ev)
	if err != nil {
		t.Fatal(err)
	}
	if title != "发放名册" || other != "other" || ym != "2024年5月" || money != "3.46" {
		t.Errorf("src_title, ym, money: %q %q %q %q", title, other, ym, money)
	}
	var e struct {
		Source, Title, File string
		Row                 int
		Values              map[string]string
		Personal            map[string]string
	}
	if err := json.Unmarshal([]byte(ev), &e); err != nil {
		t.Fatalf("ev: %v: %s", err, ev)
	}
	if e.Source != "roll" || e.Title != "发放名册" || e.File != "r.csv" || e.Row != 2 || e.Values["身份证号"] != "x" ||
		e.Personal["身份证号"] != string(dataset.PersonalID) {
		t.Errorf("ev: %s", ev)
	}
	// Without sources the macros still exist and know nothing.
	db := openDB(t)
	exec(t, db, schema.Tables(dataset.Builtin())...)
	exec(t, db, schema.Prelude(nil, nil)...)
	if err := db.QueryRow(`SELECT src_title('a') || src_personal('a')::VARCHAR`).Scan(&title); err != nil || title != "a{}" {
		t.Errorf("no sources: %q (%v)", title, err)
	}
}

// TestQuoting: names and titles with quotes stay literals.
func TestQuoting(t *testing.T) {
	db := openDB(t)
	exec(t, db, schema.Tables(dataset.Builtin())...)
	src := []schema.Source{{Name: "o'neil", Title: "it's"}}
	exec(t, db, schema.Prelude(src, []string{"2024-05'"})...)
	var got string
	if err := db.QueryRow(fmt.Sprintf("SELECT src_title(%s)", "'o''neil'")).Scan(&got); err != nil || got != "it's" {
		t.Errorf("src_title: %q (%v)", got, err)
	}
	exec(t, db, schema.CatalogueInserts([]schema.Program{{Code: "a'b", Department: strings.Repeat("'", 3)}})...)
}
