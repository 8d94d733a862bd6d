package screen_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	_ "github.com/crosscheck/crosscheck/connectors/all"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/screen"
	"github.com/crosscheck/crosscheck/store"
)

const henanDir = "../examples/henan-sample"

// readCSV reads a CSV with a BOM into maps by header.
func readCSV(t *testing.T, path string) []map[string]string {
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
	if len(recs) == 0 {
		t.Fatalf("%s: empty", path)
	}
	hdr := recs[0]
	if len(hdr) > 0 && len(hdr[0]) >= 3 && hdr[0][:3] == "\uFEFF" {
		hdr[0] = hdr[0][3:]
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range hdr {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func hitKeys(rows []map[string]string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r["hit_id"]+" "+r["rule_id"]+" "+r["payment_id"]+" "+r["severity"])
	}
	sort.Strings(out)
	return out
}

// paymentPaths lists the payment sources of a job and their files.
func paymentPaths(t *testing.T, j *job.Job) map[string]string {
	out := map[string]string{}
	for _, s := range j.Sources {
		if s.Role == "payment" {
			out[s.Name] = j.Resolve(s.Path)
		}
	}
	if len(out) == 0 {
		t.Fatal("the job has no payment source")
	}
	return out
}

// TestHenanRefreshScreenEqualsRun: the hits of a batch run of the sample
// are those of store refresh + screen of each of its rolls.
func TestHenanRefreshScreenEqualsRun(t *testing.T) {
	ctx := context.Background()
	j, err := job.Load(filepath.Join(henanDir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	runOut := t.TempDir()
	if _, err := engine.Run(ctx, j, engine.Options{OutDir: runOut}); err != nil {
		t.Fatal(err)
	}
	want := hitKeys(readCSV(t, filepath.Join(runOut, "hits.csv")))
	if len(want) == 0 {
		t.Fatal("the batch run gave no hit")
	}

	st := filepath.Join(t.TempDir(), "ref.duckdb")
	res, err := store.Refresh(ctx, j, st, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Unchanged || res.Seq != 1 {
		t.Fatalf("first refresh: unchanged %v seq %d", res.Unchanged, res.Seq)
	}
	s, err := screen.Open(ctx, st, screen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []string
	var stops int
	paths := paymentPaths(t, j)
	var all []string
	for _, p := range paths {
		all = append(all, p)
	}
	for name, p := range paths {
		out := t.TempDir()
		rr, err := s.Roll(ctx, screen.RollInput{Path: p}, out)
		if err != nil {
			t.Fatal(err)
		}
		if rr.Source != name {
			t.Errorf("roll %s mapped with source %s, want %s", p, rr.Source, name)
		}
		hits := readCSV(t, filepath.Join(out, "hits.csv"))
		if int64(len(hits)) != rr.Hits {
			t.Errorf("%s: %d rows in hits.csv, result says %d", name, len(hits), rr.Hits)
		}
		got = append(got, hitKeys(hits)...)
		stopRows := readCSV(t, filepath.Join(out, "stop-list.csv"))
		if len(stopRows) != len(rr.Stops) {
			t.Errorf("%s: stop-list.csv has %d rows, result %d", name, len(stopRows), len(rr.Stops))
		}
		// one stop per payment with a hit
		pays := map[string]bool{}
		for _, h := range hits {
			pays[h["payment_source"]+h["payment_file"]+h["payment_row"]] = true
		}
		if len(pays) != len(rr.Stops) {
			t.Errorf("%s: %d payments hit, %d stops", name, len(pays), len(rr.Stops))
		}
		stops += len(rr.Stops)
		if _, err := os.Stat(filepath.Join(out, "stop-list.xlsx")); err != nil {
			t.Error(err)
		}
	}
	// Roll by roll, only the hits across rolls are missing (the same
	// person paid in both counties' rolls: duplicate_payment).
	sort.Strings(got)
	wantSet := map[string]bool{}
	for _, k := range want {
		wantSet[k] = true
	}
	gotSet := map[string]bool{}
	for _, k := range got {
		gotSet[k] = true
		if !wantSet[k] {
			t.Errorf("roll by roll: hit not in the batch run: %s", k)
		}
	}
	for _, k := range want {
		if !gotSet[k] && strings.Fields(k)[1] != "duplicate_payment" {
			t.Errorf("roll by roll: missing a hit that needs no other roll: %s", k)
		}
	}
	t.Logf("roll by roll: %d hits of %d, %d stops", len(got), len(want), stops)

	// The rolls screened together: exactly the batch run's hits.
	out := t.TempDir()
	rr, err := s.Roll(ctx, screen.RollInput{Path: all[0], More: all[1:]}, out)
	if err != nil {
		t.Fatal(err)
	}
	got = hitKeys(readCSV(t, filepath.Join(out, "hits.csv")))
	if len(got) != len(want) {
		t.Errorf("refresh + screen: %d hits, batch run %d", len(got), len(want))
	}
	diff(t, want, got)
	if rr.Payments == 0 {
		t.Error("no payment screened")
	}
}

func diff(t *testing.T, want, got []string) {
	t.Helper()
	w := map[string]bool{}
	for _, k := range want {
		w[k] = true
	}
	g := map[string]bool{}
	for _, k := range got {
		g[k] = true
	}
	n := 0
	for _, k := range want {
		if !g[k] && n < 20 {
			t.Errorf("missing from screen: %s", k)
			n++
		}
	}
	for _, k := range got {
		if !w[k] && n < 40 {
			t.Errorf("extra in screen: %s", k)
			n++
		}
	}
}
