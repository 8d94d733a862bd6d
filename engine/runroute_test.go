package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/crosscheck/crosscheck/benchmarks/gen"
	_ "github.com/crosscheck/crosscheck/connectors/all"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
)

// preparedRun is the batch run as it was before it became store refresh +
// screen: every source loaded and linked in one database (Prepare, which
// `crosscheck link` still uses), then the rules (Screen).
func preparedRun(t *testing.T, j *job.Job, out string) *engine.Result {
	t.Helper()
	ctx := context.Background()
	p, err := engine.Prepare(ctx, j, engine.Options{OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	res, err := p.Screen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// sameRunFolder checks that the result files of two run folders are
// byte for byte the same: hits, cases, aggregates, catalogue, quality
// and the quarantine files.
func sameRunFolder(t *testing.T, want, got string) {
	t.Helper()
	files := []string{"hits.csv", "cases.csv", "aggregates.csv", "catalogue.json"}
	qs, err := os.ReadDir(filepath.Join(want, "quarantine"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		files = append(files, filepath.Join("quarantine", q.Name()))
	}
	if gq, _ := os.ReadDir(filepath.Join(got, "quarantine")); len(gq) != len(qs) {
		t.Errorf("quarantine: %d files, want %d", len(gq), len(qs))
	}
	for _, f := range files {
		a, err := os.ReadFile(filepath.Join(want, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(got, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from the batch run's (%d bytes, want %d)%s", f, len(b), len(a), firstDiff(a, b))
		}
	}
	// quality: the same but for the linkage counts of the payment table:
	// the rolls are no longer linked with the reference records (they are
	// screened against the store, their ID numbers confirmed and repaired
	// against its registry); a payment never took a person from a
	// probabilistic link.
	md := [2][]byte{}
	for i, d := range []string{want, got} {
		b, err := os.ReadFile(filepath.Join(d, "quality.md"))
		if err != nil {
			t.Fatal(err)
		}
		var keep [][]byte
		for _, l := range bytes.Split(b, []byte("\n")) {
			if !bytes.HasPrefix(l, []byte("| payment |")) {
				keep = append(keep, l)
			}
		}
		md[i] = bytes.Join(keep, []byte("\n"))
	}
	if !bytes.Equal(md[0], md[1]) {
		t.Errorf("quality.md differs from the batch run's%s", firstDiff(md[0], md[1]))
	}
	var qa, qb map[string]any
	for i, d := range []string{want, got} {
		b, err := os.ReadFile(filepath.Join(d, "quality.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, []*map[string]any{&qa, &qb}[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []map[string]any{qa, qb} {
		if l, ok := q["links"].(map[string]any); ok {
			delete(l, "payment")
		}
	}
	ja, _ := json.Marshal(qa)
	jb, _ := json.Marshal(qb)
	if !bytes.Equal(ja, jb) {
		t.Errorf("quality.json differs from the batch run's%s", firstDiff(ja, jb))
	}
}

func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-200)
	return "\nat byte " + itoa(i) + ":\nwant …" + string(a[lo:min(len(a), i+200)]) + "\ngot  …" + string(b[lo:min(len(b), i+200)])
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestRunEqualsPreparedRunHenan: the batch run (store refresh + screen of
// the job's rolls) writes the files the one-database run wrote, on the
// sample.
func TestRunEqualsPreparedRunHenan(t *testing.T) {
	j, err := job.Load(filepath.Join(henanDir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := t.TempDir()
	wr := preparedRun(t, j, want)
	got := t.TempDir()
	st := filepath.Join(t.TempDir(), "ref.duckdb")
	res, err := engine.Run(context.Background(), j, engine.Options{OutDir: got, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if res.RunID != wr.RunID || res.Hits != wr.Hits || res.Cases != wr.Cases {
		t.Errorf("run id %s, %d hits, %d cases; the one-database run: %s, %d, %d", res.RunID, res.Hits, res.Cases, wr.RunID, wr.Hits, wr.Cases)
	}
	sameRunFolder(t, want, got)
	if _, err := os.Stat(st); err != nil {
		t.Errorf("run --store kept no store: %v", err)
	}
}

// TestRunEqualsPreparedRunProvince is TestRunEqualsPreparedRunHenan on a
// generated province of 20,000 persons.
func TestRunEqualsPreparedRunProvince(t *testing.T) {
	if testing.Short() {
		t.Skip("generated province: not in -short")
	}
	dir := t.TempDir()
	if _, err := gen.Generate(context.Background(), gen.Config{Persons: 20000, Seed: 1, Out: dir}); err != nil {
		t.Fatal(err)
	}
	j, err := job.Load(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "prepared")
	wr := preparedRun(t, j, want)
	got := filepath.Join(dir, "run")
	res, err := engine.Run(context.Background(), j, engine.Options{OutDir: got})
	if err != nil {
		t.Fatal(err)
	}
	if res.Hits < 100 || res.Hits != wr.Hits || res.Cases != wr.Cases {
		t.Errorf("%d hits, %d cases; the one-database run: %d, %d", res.Hits, res.Cases, wr.Hits, wr.Cases)
	}
	sameRunFolder(t, want, got)
}
