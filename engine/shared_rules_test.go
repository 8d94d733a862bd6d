package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/crosscheck/crosscheck/benchmarks/gen"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/rules"
)

// TestSharedPreludeSameHits runs a generated province with the engine,
// which builds the shared pre-aggregations once (rules.RulePrelude) and
// runs each rule's SharedSQL, then runs every rule's self-contained SQL
// (what `rules test` and `rules diff` run) on the same database: the hits
// are identical row for row, the shared tables are gone after the run,
// and the rules that read them have hits, so the comparison says
// something.
func TestSharedPreludeSameHits(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the engine on a generated province")
	}
	ctx := context.Background()
	dir := t.TempDir()
	rates := gen.DefaultRates()
	for k, v := range map[string]float64{"tier_overpaid": 0.2, "cjsh_no_dibao": 0.3, "orphan_over_age": 0.3, "tekun_married": 0.3,
		"cadre_relative": 0.3, "name_mismatch": 0.02, "attr_business": 0.1} {
		if err := rates.Set(fmt.Sprintf("%s=%v", k, v)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := gen.Generate(ctx, gen.Config{Persons: 4000, Seed: 3, Out: dir, Rates: rates}); err != nil {
		t.Fatal(err)
	}
	j, err := job.Load(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "run.duckdb")
	j.Engine.Database = db
	if _, err := engine.Run(ctx, j, engine.Options{OutDir: filepath.Join(dir, "out")}); err != nil {
		t.Fatal(err)
	}
	c := rules.ContextFromJob(j)
	c.AppliesTo = j.Rules.AppliesTo
	comp, _, err := rules.LoadAndCompile(ctx, c, true)
	if err != nil {
		t.Fatal(err)
	}
	s, err := engine.Open(ctx, job.Engine{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range rules.SharedTableNames() {
		var n int
		if err := s.DB.QueryRow(`SELECT count(*) FROM duckdb_tables() WHERE table_name = ?`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("shared table %s is left in the database after the run", name)
		}
	}
	if err := rules.RunSet(ctx, s.DB, comp, "self_hits", nil); err != nil {
		t.Fatal(err)
	}
	const cols = "rule_id, category, _rid, severity, explanation, evidence, fields"
	for _, q := range []string{
		"SELECT " + cols + " FROM rule_hits EXCEPT ALL SELECT " + cols + " FROM self_hits",
		"SELECT " + cols + " FROM self_hits EXCEPT ALL SELECT " + cols + " FROM rule_hits",
	} {
		rows, err := s.DB.Query("SELECT rule_id, count(*) FROM (" + q + ") GROUP BY ALL ORDER BY 1")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				t.Fatal(err)
			}
			t.Errorf("rule %s: %d hits differ between the shared run and the self-contained SQL (%s)", id, n, q)
		}
		rows.Close()
	}
	// Every rule reading a shared table has hits.
	hits := map[string]int{}
	rows, err := s.DB.Query("SELECT rule_id, count(*) FROM rule_hits GROUP BY ALL")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		hits[id] = n
	}
	rows.Close()
	shared := 0
	for _, r := range comp {
		if len(r.Shared) == 0 {
			continue
		}
		shared++
		if hits[r.ID] == 0 {
			t.Errorf("rule %s reads %v but has no hits on the generated province: the comparison does not exercise it", r.ID, r.Shared)
		}
	}
	if shared < 8 {
		t.Errorf("%d rules read shared tables, want at least 8", shared)
	}
}
