package screen_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/rundir"
	"github.com/crosscheck/crosscheck/screen"
	"github.com/crosscheck/crosscheck/store"
)

// copyTree copies the folder from into a new temporary folder.
func copyTree(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// changedRun is what a screen --changed of the job's rolls gave: what the
// tests compare, and the roll cache's log line.
type changedRun struct {
	hits       []string
	persons    string
	payments   int64
	sources    string // quality.json's per-source counts
	quarantine string
	cacheLine  map[string]any // nil: the cache was not used
}

// screenChanged screens the job's rolls --changed since into a new
// folder; noCache holds the roll cache's lock, so that the rolls are
// mapped as without a cache.
func screenChanged(t *testing.T, st string, since int64, noCache bool) changedRun {
	t.Helper()
	ctx := context.Background()
	if noCache {
		unlock, err := rundir.LockFile(engine.RollCachePath(st) + ".lock")
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
	}
	var logs bytes.Buffer
	s, err := screen.Open(ctx, st, screen.Options{Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := filepath.Join(t.TempDir(), "out")
	rr, err := s.Roll(ctx, screen.RollInput{JobRolls: true, Changed: true, Since: since, RawIDs: true}, out)
	if err != nil {
		t.Fatal(err)
	}
	r := changedRun{hits: hitKeys(readCSV(t, filepath.Join(out, "hits.csv"))), persons: strings.Join(rr.Persons, ","), payments: rr.Payments}
	if rr.Persons == nil {
		r.persons = "(all)"
	}
	var q struct {
		Sources json.RawMessage `json:"sources"`
	}
	b, err := os.ReadFile(filepath.Join(out, "quality.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	r.sources = string(q.Sources)
	qs, _ := filepath.Glob(filepath.Join(out, "quarantine", "*.csv"))
	for _, f := range qs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r.quarantine += filepath.Base(f) + "\n" + string(b)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "roll cache" {
			r.cacheLine = m
		}
	}
	return r
}

func sameChanged(t *testing.T, what string, want, got changedRun) {
	t.Helper()
	if strings.Join(want.hits, "\n") != strings.Join(got.hits, "\n") {
		t.Errorf("%s: the hits differ with the roll cache", what)
		diff(t, want.hits, got.hits)
	}
	if want.persons != got.persons || want.payments != got.payments {
		t.Errorf("%s: persons %q payments %d with the cache, want %q, %d", what, got.persons, got.payments, want.persons, want.payments)
	}
	if want.sources != got.sources {
		t.Errorf("%s: the sources' counts differ with the cache:\n%s\nwant\n%s", what, got.sources, want.sources)
	}
	if want.quarantine != got.quarantine {
		t.Errorf("%s: the quarantine files differ with the cache", what)
	}
}

func cacheCounts(t *testing.T, r changedRun) string {
	t.Helper()
	if r.cacheLine == nil {
		t.Fatal("the roll cache was not used")
	}
	return fmt.Sprintf("mapped %v, cached %v", r.cacheLine["sources_mapped"], r.cacheLine["sources_cached"])
}

// TestChangedRollCache: screen --changed of the job's rolls maps the rolls
// once into the roll cache beside the store and then only the rolls that
// changed, with the hits, persons, payments, counts and quarantine files
// of the screening that maps every roll: after a new death, after a roll
// changed, after the death was withdrawn.
func TestChangedRollCache(t *testing.T) {
	ctx := context.Background()
	dir := copyTree(t, henanDir)
	j, err := job.Load(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(t.TempDir(), "ref.duckdb")
	refresh := func() int64 {
		t.Helper()
		r, err := store.Refresh(ctx, j, st, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Seq
	}
	seq := refresh()

	// The first screening (nothing changed since) maps every roll into the cache.
	first := screenChanged(t, st, seq, false)
	if got := cacheCounts(t, first); got != "mapped 2, cached 0" {
		t.Errorf("first screening: %s, want mapped 2, cached 0", got)
	}
	if _, err := os.Stat(engine.RollCachePath(st)); err != nil {
		t.Fatal(err)
	}
	sameChanged(t, "nothing changed", screenChanged(t, st, seq, true), first)

	// The first screening of every person (since 0) reads every payment from the cache.
	all := screenChanged(t, st, 0, false)
	if got := cacheCounts(t, all); got != "mapped 0, cached 2" {
		t.Errorf("since 0: %s, want mapped 0, cached 2", got)
	}
	sameChanged(t, "since 0", screenChanged(t, st, 0, true), all)
	if len(all.hits) == 0 || all.persons != "(all)" {
		t.Errorf("since 0: %d hits, persons %q", len(all.hits), all.persons)
	}

	// A payee of the 2024-05 高龄津贴 roll dies.
	roll := filepath.Join(dir, "data", "长葛市一卡通发放名单202405.csv")
	recs := readGBK(t, roll)
	deathFile := filepath.Join(dir, "data", "民政火化记录.csv")
	orig, err := os.ReadFile(deathFile)
	if err != nil {
		t.Fatal(err)
	}
	var id, name string
	for _, r := range recs[1:] {
		if r[1] == "gaoling" && r[2] == "202405" && !strings.Contains(string(orig), r[3]) {
			id, name = r[3], r[4]
			break
		}
	}
	if id == "" {
		t.Fatal("no payee to kill")
	}
	row := fmt.Sprintf("HH20249998,%s,男,%s,%s-%s-%s,2024-03-01 08:00,2024-03-03 08:00,长葛市殡仪馆,河南省许昌市长葛市\n", name, id, id[6:10], id[10:12], id[12:14])
	if err := os.WriteFile(deathFile, append(append([]byte{}, orig...), row...), 0o644); err != nil {
		t.Fatal(err)
	}
	seq = refresh()
	death := screenChanged(t, st, seq-1, false)
	if got := cacheCounts(t, death); got != "mapped 0, cached 2" {
		t.Errorf("after a death: %s, want mapped 0, cached 2", got)
	}
	if !strings.Contains(death.persons, id) {
		t.Errorf("after a death: persons %q without the dead payee", death.persons)
	}
	sameChanged(t, "after a death", screenChanged(t, st, seq-1, true), death)
	if !strings.Contains(strings.Join(death.hits, "\n"), "deceased") {
		t.Errorf("after a death: no death hit in %q", death.hits)
	}

	// The roll changes: the dead payee's first payment gets another amount
	// and one other payment is dropped; only that roll is mapped again.
	var out [][]string
	changedRow, dropped := false, false
	for i, r := range recs {
		if i > 0 && !changedRow && r[3] == id {
			r = append([]string{}, r...)
			for k := range r {
				if recs[0][k] == "发放金额" || strings.Contains(recs[0][k], "金额") {
					r[k] = "987.65"
				}
			}
			changedRow = true
		} else if i > 0 && !dropped && r[3] != id {
			dropped = true
			continue
		}
		out = append(out, r)
	}
	writeGBK(t, roll, out)
	rolled := screenChanged(t, st, seq-1, false)
	if got := cacheCounts(t, rolled); got != "mapped 1, cached 1" {
		t.Errorf("after a roll changed: %s, want mapped 1, cached 1", got)
	}
	sameChanged(t, "after a roll changed", screenChanged(t, st, seq-1, true), rolled)
	if strings.Join(rolled.hits, "\n") == strings.Join(death.hits, "\n") && rolled.sources == death.sources {
		t.Error("after a roll changed: the screening did not see the change")
	}

	// The death is withdrawn.
	if err := os.WriteFile(deathFile, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	seq = refresh()
	withdrawn := screenChanged(t, st, seq-1, false)
	if got := cacheCounts(t, withdrawn); got != "mapped 0, cached 2" {
		t.Errorf("after the withdrawal: %s, want mapped 0, cached 2", got)
	}
	sameChanged(t, "after the withdrawal", screenChanged(t, st, seq-1, true), withdrawn)
}

func readGBK(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(simplifiedchinese.GBK.NewDecoder().Reader(f)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func writeGBK(t *testing.T, path string, recs [][]string) {
	t.Helper()
	var b bytes.Buffer
	if err := csv.NewWriter(&b).WriteAll(recs); err != nil {
		t.Fatal(err)
	}
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, gbk, 0o644); err != nil {
		t.Fatal(err)
	}
}
