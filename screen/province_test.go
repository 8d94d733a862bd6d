package screen_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/crosscheck/crosscheck/benchmarks/gen"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/screen"
	"github.com/crosscheck/crosscheck/store"
)

// TestProvinceRefreshScreenEqualsRun: on a generated province of 20,000
// persons, the hit ids of a batch run equal those of store refresh +
// screen of the job's rolls. The store links persons without the payment
// records (a batch run trains the linkage model on them too): the test
// shows that this changes no hit here.
func TestProvinceRefreshScreenEqualsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("generated province: not in -short")
	}
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := gen.Generate(ctx, gen.Config{Persons: 20000, Seed: 1, Out: dir}); err != nil {
		t.Fatal(err)
	}
	j, err := job.Load(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	runOut := filepath.Join(dir, "run")
	res, err := engine.Run(ctx, j, engine.Options{OutDir: runOut})
	if err != nil {
		t.Fatal(err)
	}
	want := hitKeys(readCSV(t, filepath.Join(runOut, "hits.csv")))
	if len(want) < 100 {
		t.Fatalf("the batch run gave %d hits", len(want))
	}
	st := filepath.Join(dir, "ref.duckdb")
	ref, err := store.Refresh(ctx, j, st, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := screen.Open(ctx, st, screen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := filepath.Join(dir, "screen")
	if _, err := s.Roll(ctx, screen.RollInput{JobRolls: true}, out); err != nil {
		t.Fatal(err)
	}
	got := hitKeys(readCSV(t, filepath.Join(out, "hits.csv")))
	if len(got) != len(want) {
		t.Errorf("refresh + screen: %d hits, batch run %d", len(got), len(want))
	}
	diff(t, want, got)
	if res.Identity != nil && ref.Identity != nil {
		for tbl, m := range res.Identity.ByTable {
			if m["probabilistic"] > 0 || ref.Identity.ByTable[tbl]["probabilistic"] > 0 {
				t.Logf("linkage %s: batch run %v, store %v", tbl, m, ref.Identity.ByTable[tbl])
			}
		}
	}
}
