package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRunDatabaseCreationCutShort: a run with engine.database a file is
// stopped while DuckDB creates the file (a file size limit makes the
// first write past N bytes fail, leaving on disk what a SIGKILL at that
// moment leaves); the next run opens the database and completes. Before
// the fix the cut run left a file without a valid header and every later
// run failed ("not a valid DuckDB database file").
func TestRunDatabaseCreationCutShort(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) not installed")
	}
	dir := copySample(t)
	db := filepath.Join(dir, "work.duckdb")
	env := append(os.Environ(), "CROSSCHECK_ENGINE_DATABASE="+db)
	for _, limit := range []int{0, 4096} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, prlimit, fmt.Sprintf("--fsize=%d:%d", limit, limit), cliBin,
			"run", "--config", "job.yaml", "--out", fmt.Sprintf("cut-%d", limit), "-q")
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil {
			t.Fatalf("run under a file size limit of %d bytes succeeded:\n%s", limit, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBin, "run", "--config", "job.yaml", "--out", "run", "-q")
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run after the cut runs: %v\n%s", err, tail(string(out), 20))
	}
	if _, err := os.Stat(filepath.Join(dir, "run", "hits.csv")); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(db); err != nil || st.Size() < 12288 {
		t.Fatalf("the run's database: %v %v", st, err)
	}
	if m, _ := filepath.Glob(db + ".creating-*"); len(m) != 0 {
		t.Fatalf("creation files left: %v", m)
	}
}
