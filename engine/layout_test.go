package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/rules"
	"github.com/crosscheck/crosscheck/schema"
)

// layout is what a database holds for rules: per table its columns with
// their types in order, and per macro its parameters.
type layout struct {
	tables map[string]string
	macros map[string]string
}

func readLayout(t *testing.T, path string) layout {
	t.Helper()
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := layout{tables: map[string]string{}, macros: map[string]string{}}
	rows, err := db.Query(`SELECT table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)
		FROM information_schema.columns WHERE table_schema = 'main' GROUP BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, cols string
		if err := rows.Scan(&name, &cols); err != nil {
			t.Fatal(err)
		}
		l.tables[name] = cols
	}
	rows.Close()
	rows, err = db.Query(`SELECT function_name, parameters::VARCHAR FROM duckdb_functions()
		WHERE function_type = 'macro' AND NOT internal AND schema_name = 'main'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, params string
		if err := rows.Scan(&name, &params); err != nil {
			t.Fatal(err)
		}
		l.macros[name] = params
	}
	rows.Close()
	return l
}

// TestRuleTestsMeetTheRunLayout compares the database the rule test runner
// prepares (`crosscheck rules test`) with the database of a real run of the
// example: every table the runner creates must exist in the run with the
// same columns and types in the same order, and the runner must define the
// run's helper macros with the same parameters. It would have caught
// person_link without in_registry in the runner (both came from separate
// copies of the layout before package schema).
func TestRuleTestsMeetTheRunLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the example end to end")
	}
	ctx := context.Background()
	dir := t.TempDir()

	// A real run, its database kept in a file.
	j, err := job.Load(filepath.Join(henanDir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	j.Engine.Database = filepath.Join(dir, "run.duckdb")
	j.Engine.StateFile = filepath.Join(dir, "state.json")
	j.Output.Formats = []string{"csv"}
	if _, err := engine.Run(ctx, j, engine.Options{OutDir: filepath.Join(dir, "out")}); err != nil {
		t.Fatal(err)
	}
	run := readLayout(t, j.Engine.Database)

	// The rule test runner on one test of the library, into a file.
	set, err := rules.LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	var rule, test string
	for _, r := range set.Rules {
		if len(r.Tests) > 0 {
			rule, test = r.ID, r.Tests[0].Name
			break
		}
	}
	if rule == "" {
		t.Fatal("the built-in library has no rule with a test")
	}
	var opened []string
	open := func(ctx context.Context) (*sql.DB, error) {
		p := filepath.Join(dir, fmt.Sprintf("test%d.duckdb", len(opened)))
		opened = append(opened, p)
		return sql.Open("duckdb", p)
	}
	rep, err := rules.RunTests(ctx, open, set, func(r, tn string) bool { return r == rule && tn == test })
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 || !rep.Results[0].Passed() || len(opened) != 1 {
		t.Fatalf("rule test %s/%s: %+v (databases %v)", rule, test, rep.Results, opened)
	}
	tst := readLayout(t, opened[0])

	shared := []string{schema.Screened, schema.ProgramCatalogue, schema.ProgramExclusive, schema.PersonLink}
	for name := range tst.tables {
		if !slices.Contains(shared, name) {
			shared = append(shared, name)
		}
	}
	slices.Sort(shared)
	for _, name := range shared {
		want, ok := run.tables[name]
		if !ok {
			t.Errorf("table %s: in the rule test database, not in a run's", name)
			continue
		}
		if got := tst.tables[name]; got != want {
			t.Errorf("table %s differs:\n  rule test: %s\n  run:       %s", name, got, want)
		}
	}
	var macros []string
	for name, params := range run.macros {
		macros = append(macros, name)
		if got, ok := tst.macros[name]; !ok || got != params {
			t.Errorf("macro %s: run %s, rule test %q (defined: %v)", name, params, got, ok)
		}
	}
	slices.Sort(macros)
	if len(macros) < 5 {
		t.Errorf("the run defines the macros %s, want at least src_title, src_personal, ev, ym, money", strings.Join(macros, ", "))
	}
	t.Logf("%d tables and the macros %s compared", len(shared), strings.Join(macros, ", "))
}
