package main

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/rundir"
)

// copySample copies the henan sample (job and data) into a fresh folder.
func copySample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "..", "examples", "henan-sample")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(src, "data"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range append([]string{"job.yaml"}, names(ents)...) {
		from := filepath.Join(src, e)
		if e != "job.yaml" {
			from, e = filepath.Join(src, "data", e), filepath.Join("data", e)
		}
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func names(ents []os.DirEntry) []string {
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

func csvRows(t *testing.T, path string) []map[string]string {
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
	hdr := recs[0]
	hdr[0] = strings.TrimPrefix(hdr[0], "\uFEFF")
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

func hitIDs(t *testing.T, out string) []string {
	var ids []string
	for _, r := range csvRows(t, filepath.Join(out, "hits.csv")) {
		ids = append(ids, r["hit_id"])
	}
	sort.Strings(ids)
	return ids
}

func storeInfo(t *testing.T, dir, st string) map[string]any {
	t.Helper()
	r := runCLI(t, dir, 2*time.Minute, "store", "info", "--store", st, "--json")
	if r.code != 0 {
		t.Fatalf("store info: exit %d\n%s", r.code, r.stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("store info --json: %v\n%s", err, r.stdout)
	}
	return m
}

func fileSHA(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// infoSHA is the SHA-256 the store's manifest gives a file.
func infoSHA(info map[string]any, base string) string {
	files, _ := info["files"].([]any)
	for _, f := range files {
		m := f.(map[string]any)
		if filepath.Base(m["path"].(string)) == base {
			return m["sha256"].(string)
		}
	}
	return ""
}

// TestStoreScreenBinary drives the built binary: store refresh of the
// sample, a second refresh that changes nothing, screen of both rolls
// (the batch run's hits, a stop-list per payment hit, masked accounts),
// store info with the files' SHA-256.
func TestStoreScreenBinary(t *testing.T) {
	dir := copySample(t)
	st := filepath.Join(dir, "ref.duckdb")
	r := runCLI(t, dir, 5*time.Minute, "store", "refresh", "--config", "job.yaml", "--store", st)
	if r.code != 0 || !strings.Contains(r.stdout, "第 1 次更新") {
		t.Fatalf("store refresh: exit %d\n%s\n%s", r.code, r.stdout, tail(r.stderr, 20))
	}
	r = runCLI(t, dir, 5*time.Minute, "store", "refresh", "--config", "job.yaml", "--store", st, "--lang", "en")
	if r.code != 0 || !strings.Contains(r.stdout, "no reference source changed") {
		t.Fatalf("second store refresh: exit %d\n%s\n%s", r.code, r.stdout, tail(r.stderr, 20))
	}
	// The first refresh changed every person: said in words, not as -1.
	for lang, want := range map[string]string{"zh": "第 1 次  ", "en": "  1  "} {
		r = runCLI(t, dir, time.Minute, "store", "info", "--store", st, "--lang", lang)
		phrase := map[string]string{"zh": "变化人员：全部（首次建库）", "en": "persons changed: all (first refresh)"}[lang]
		if r.code != 0 || !strings.Contains(r.stdout, phrase) || !strings.Contains(r.stdout, want) || strings.Contains(r.stdout, " -1\n") || strings.Contains(r.stdout, "：-1") {
			t.Errorf("store info --lang %s: exit %d, want %q\n%s\n%s", lang, r.code, phrase, r.stdout, tail(r.stderr, 20))
		}
	}
	info := storeInfo(t, dir, st)
	if got, want := infoSHA(info, "民政火化记录.csv"), fileSHA(t, filepath.Join(dir, "data", "民政火化记录.csv")); got != want {
		t.Errorf("store info: death file sha256 %q, want %q", got, want)
	}
	if infoSHA(info, "长葛市一卡通发放名单202405.csv") != "" {
		t.Error("store info lists a payment roll: the store holds no payment")
	}

	r = runCLI(t, dir, 5*time.Minute, "run", "--config", "job.yaml", "--out", "run")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	r = runCLI(t, dir, 5*time.Minute, "screen", "--store", st, "--roll", "data/长葛市一卡通发放名单202405.csv",
		"--roll", "data/鄢陵县一卡通发放名单202405.csv", "--out", "screen")
	if r.code != 0 || !strings.Contains(r.stdout, "停发名单") {
		t.Fatalf("screen: exit %d\n%s\n%s", r.code, r.stdout, tail(r.stderr, 20))
	}
	want, got := hitIDs(t, filepath.Join(dir, "run")), hitIDs(t, filepath.Join(dir, "screen"))
	if strings.Join(want, ",") != strings.Join(got, ",") || len(want) == 0 {
		t.Errorf("screen of both rolls: %d hits, run %d (or they differ)", len(got), len(want))
	}
	if _, err := rundir.Verify(filepath.Join(dir, "screen")); err != nil {
		t.Errorf("the screen's folder is no complete run folder: %v", err)
	}
	pays := map[string]bool{}
	for _, h := range csvRows(t, filepath.Join(dir, "screen", "hits.csv")) {
		pays[h["payment_source"]+"|"+h["payment_file"]+"|"+h["payment_row"]] = true
	}
	stops := csvRows(t, filepath.Join(dir, "screen", "stop-list.csv"))
	if len(stops) != len(pays) {
		t.Errorf("stop-list.csv: %d rows, %d payments hit", len(stops), len(pays))
	}
	for _, s := range stops {
		acc := s["账号 account"]
		if acc != "" && !strings.Contains(acc, "*") {
			t.Errorf("stop-list.csv: account %q not masked", acc)
		}
		if s["原因 reason"] == "" || s["发放流水号 payment_id"] == "" {
			t.Errorf("stop-list.csv: row without reason or payment serial: %v", s)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "screen", "stop-list.xlsx")); err != nil || st.Size() == 0 {
		t.Errorf("stop-list.xlsx: %v", err)
	}
}

// TestStoreRefreshKilled kills `store refresh` (SIGKILL, a real kill of the
// built binary) at each step of its commit. The incremental refresh after
// a new death record changes the store file in place (no screener has it
// open): killed after its tables changed (in its work log only), after the
// new version is built and after the quarantine folder moved, the store is
// the previous one; killed after the checkpoint, the new one. Every time
// the store opens read-only (store info, a screen) and a later refresh
// removes the work files and completes.
func TestStoreRefreshKilled(t *testing.T) {
	dir := copySample(t)
	st := filepath.Join(dir, "ref.duckdb")
	r := runCLI(t, dir, 5*time.Minute, "store", "refresh", "--config", "job.yaml", "--store", st)
	if r.code != 0 {
		t.Fatalf("store refresh: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	death := filepath.Join(dir, "data", "民政火化记录.csv")
	oldSHA := fileSHA(t, death)
	f, err := os.OpenFile(death, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "HH20249999,测试人,男,411082193001010015,1930-01-01,2024-03-01 08:00,2024-03-03 08:00,长葛市殡仪馆,河南省许昌市长葛市")
	f.Close()
	newSHA := fileSHA(t, death)
	// Steps of the in-place refresh: store.changed, store.built,
	// store.quarantine, store.checkpointed.
	steps := []string{"store.changed", "store.built", "store.quarantine", "store.checkpointed"}
	for i, want := range []string{oldSHA, oldSHA, oldSHA, newSHA} {
		point := i + 1
		cmd := exec.Command(cliBin, "store", "refresh", "--config", "job.yaml", "--store", st)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), rundir.KillPointEnv+"="+fmt.Sprint(point), rundir.KillPointEnv+"_LOG=1")
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
			t.Fatalf("kill point %d: want a SIGKILL, got %v\n%s", point, err, out)
		}
		if !strings.Contains(string(out), "SIGKILL at write step "+fmt.Sprint(point)+" ("+steps[i]+")") {
			t.Fatalf("kill point %d: not killed at %s (not in place?)\n%s", point, steps[i], tail(string(out), 10))
		}
		if _, err := os.Stat(st + ".next"); err == nil {
			t.Errorf("kill point %d: the in-place refresh made a copy of the store", point)
		}
		info := storeInfo(t, dir, st)
		if got := infoSHA(info, "民政火化记录.csv"); got != want {
			t.Errorf("killed at step %d (%s): the store's death file is %s, want %s", point, steps[i], got, want)
		}
		wantSeq := 1.0
		if want == newSHA {
			wantSeq = 2
		}
		if seq := info["seq"].(float64); seq != wantSeq {
			t.Errorf("killed at step %d (%s): store at refresh %v, want %v", point, steps[i], seq, wantSeq)
		}
		r = runCLI(t, dir, 5*time.Minute, "screen", "--store", st, "--roll", "data/长葛市一卡通发放名单202405.csv", "--out", fmt.Sprintf("s%d", point))
		if r.code != 0 {
			t.Fatalf("screen after the kill at step %d: exit %d\n%s", point, r.code, tail(r.stderr, 20))
		}
	}
	r = runCLI(t, dir, 5*time.Minute, "store", "refresh", "--config", "job.yaml", "--store", st, "--force")
	if r.code != 0 {
		t.Fatalf("refresh after the kills: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	for _, p := range []string{st + ".next", st + ".work", st + ".work.wal", st + ".prevrows", st + ".wal"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a refresh left %s behind", filepath.Base(p))
		}
	}
	r = runCLI(t, dir, 5*time.Minute, "screen", "--store", st, "--roll", "data/长葛市一卡通发放名单202405.csv", "--out", "s")
	if r.code != 0 {
		t.Fatalf("screen after the kills: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
}

// TestRunStoreThenScreenBinary drives the built binary: `run --store`
// keeps the reference store the run built, and `screen` of both rolls
// against it (no second refresh) gives the run's hits.
func TestRunStoreThenScreenBinary(t *testing.T) {
	dir := copySample(t)
	st := filepath.Join(dir, "ref.duckdb")
	r := runCLI(t, dir, 5*time.Minute, "run", "--config", "job.yaml", "--out", "run", "--store", st)
	if r.code != 0 {
		t.Fatalf("run --store: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	info := storeInfo(t, dir, st)
	if seq, _ := info["seq"].(float64); seq != 1 {
		t.Errorf("store info after run --store: seq %v, want 1", info["seq"])
	}
	if _, err := rundir.Verify(filepath.Join(dir, "run")); err != nil {
		t.Errorf("the run's folder is no complete run folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "run", "stop-list.csv")); err == nil {
		t.Error("the batch run wrote a stop-list")
	}
	r = runCLI(t, dir, 5*time.Minute, "screen", "--store", st, "--roll", "data/长葛市一卡通发放名单202405.csv",
		"--roll", "data/鄢陵县一卡通发放名单202405.csv", "--out", "screen")
	if r.code != 0 {
		t.Fatalf("screen after run --store: exit %d\n%s\n%s", r.code, r.stdout, tail(r.stderr, 20))
	}
	want, got := hitIDs(t, filepath.Join(dir, "run")), hitIDs(t, filepath.Join(dir, "screen"))
	if strings.Join(want, ",") != strings.Join(got, ",") || len(want) == 0 {
		t.Errorf("screen against the run's store: %d hits, run %d (or they differ)", len(got), len(want))
	}
	// A second run into a new folder rebuilds the store (seq 2, the first
	// one its previous version).
	r = runCLI(t, dir, 5*time.Minute, "run", "--config", "job.yaml", "--out", "run2", "--store", st)
	if r.code != 0 {
		t.Fatalf("second run --store: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	if seq, _ := storeInfo(t, dir, st)["seq"].(float64); seq != 2 {
		t.Errorf("store info after the second run --store: seq %v, want 2", seq)
	}
}
