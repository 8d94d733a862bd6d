package linkbench

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

func open(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "?threads=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func run(t *testing.T, f func(context.Context, *sql.DB, string, float64) (*Result, error), minF1 float64) {
	res, err := f(context.Background(), open(t), DataDir(), DefaultThreshold)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("benchmark data not found under %s (set CROSSCHECK_LINKAGE_DATA): %v", DataDir(), err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + res.String())
	for _, s := range res.Report.Sessions {
		t.Logf("session %q: %.0f pairs λ %.3f it %d %v", s.Rule, s.Pairs, s.Lambda, s.Iterations, s.Estimated)
	}
	for _, c := range res.Model.Comparisons {
		for _, l := range c.Levels {
			if !l.Null {
				t.Logf("  %-14s %-28s m %.4f u %.6f w %+.2f", c.Name, l.Label, l.M, l.U, l.Weight())
			}
		}
	}
	if res.At.F1 < minF1 {
		t.Errorf("F1 %.4f at p ≥ %g, want ≥ %.2f", res.At.F1, DefaultThreshold, minF1)
	}
}

func TestFEBRL4(t *testing.T)   { run(t, RunFEBRL4, 0.95) }
func TestFEBRL3(t *testing.T)   { run(t, RunFEBRL3, 0.90) }
func TestFake1000(t *testing.T) { run(t, RunFake1000, 0.0) }

// TestChinese1M deduplicates a million synthetic Chinese person records; the
// deduplication must take under a minute on two cores. It is a benchmark,
// not part of make test: run it with CROSSCHECK_LINKAGE_1M=1 (make bench).
func TestChinese1M(t *testing.T) {
	if testing.Short() || os.Getenv("CROSSCHECK_LINKAGE_1M") == "" {
		t.Skip("a million records: a benchmark, run with CROSSCHECK_LINKAGE_1M=1 (make bench)")
	}
	res, err := RunChinese(context.Background(), open(t), ChineseOptions{Records: 1_000_000, Seed: 1, NamesDir: NamesDir()}, DefaultThreshold)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + res.String())
	for _, s := range res.Report.Sessions {
		t.Logf("session %q: %.0f pairs λ %.3f it %d %v", s.Rule, s.Pairs, s.Lambda, s.Iterations, s.Estimated)
	}
	for _, c := range res.Model.Comparisons {
		for _, l := range c.Levels {
			if !l.Null {
				t.Logf("  %-10s %-36s m %.4f u %.6f w %+.2f", c.Name, l.Label, l.M, l.U, l.Weight())
			}
		}
	}
	// The deduplication itself must take under a minute on two cores;
	// generating and evaluating come on top (logged above).
	if res.DedupeSeconds > 60 {
		t.Errorf("deduplication took %.1f s, want < 60 s", res.DedupeSeconds)
	}
	if res.At.F1 < 0.85 {
		t.Errorf("F1 %.4f, want ≥ 0.85", res.At.F1)
	}
}
