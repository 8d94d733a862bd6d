package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// hitRows reads a run's hits.csv without its run_id column, sorted.
func hitRows(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, r := range recs[1:] {
		rows = append(rows, strings.Join(r[1:], "\x1f")) // column 0 is run_id
	}
	sort.Strings(rows)
	return rows
}

// TestCLIEngineCompress: engine.compress keeps the in-memory tables
// compressed (the -v log says so after the identity stage) and
// the run finds the same hits as without it.
func TestCLIEngineCompress(t *testing.T) {
	dir := t.TempDir()
	pensionJob(t, dir, 5, "2015-01", "")
	plain := runCLI(t, dir, 2*time.Minute, "run", "--config", "job.yaml", "--out", "plain", "-v")
	if plain.code != 0 {
		t.Fatalf("run: exit %d\n%s", plain.code, tail(plain.stderr, 20))
	}
	if strings.Contains(plain.stderr, "tables compressed") {
		t.Errorf("without engine.compress the log says tables were compressed:\n%s", tail(plain.stderr, 20))
	}
	jb, err := os.ReadFile(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "job.yaml"), strings.Replace(string(jb), "engine: {threads: 2}", "engine: {threads: 2, compress: true}", 1))
	comp := runCLI(t, dir, 2*time.Minute, "run", "--config", "job.yaml", "--out", "compressed", "-v")
	if comp.code != 0 {
		t.Fatalf("run with engine.compress: exit %d\n%s", comp.code, tail(comp.stderr, 20))
	}
	for _, want := range []string{"identity: tables compressed"} {
		if !strings.Contains(comp.stderr, want) {
			t.Errorf("with engine.compress the log lacks %q:\n%s", want, tail(comp.stderr, 30))
		}
	}
	a, b := hitRows(t, filepath.Join(dir, "plain", "hits.csv")), hitRows(t, filepath.Join(dir, "compressed", "hits.csv"))
	if len(a) == 0 {
		t.Fatal("no hits: the job should flag the employee pensioners")
	}
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("hits differ with engine.compress:\n%v\n%v", a, b)
	}
}
