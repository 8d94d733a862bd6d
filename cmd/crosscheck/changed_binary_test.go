package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/crosscheck/crosscheck/casestore"
)

// TestScreenChangedBinary: after a refresh, screen --changed --cases
// re-screens only the persons whose reference data changed. A new death
// record raises exactly the cases of that person's payments; correcting
// the death file again flags those cases "death record withdrawn" and no
// other.
func TestScreenChangedBinary(t *testing.T) {
	dir := copySample(t)
	st := filepath.Join(dir, "ref.duckdb")
	cases := filepath.Join(dir, "cases.duckdb")
	refresh := func() {
		t.Helper()
		if r := runCLI(t, dir, 5*time.Minute, "store", "refresh", "--config", "job.yaml", "--store", st); r.code != 0 {
			t.Fatalf("store refresh: exit %d\n%s", r.code, tail(r.stderr, 20))
		}
	}
	changed := func(out string) cliResult {
		t.Helper()
		r := runCLI(t, dir, 10*time.Minute, "screen", "--store", st, "--job-rolls", "--changed", "--cases", cases, "--raw-ids", "--out", out)
		if r.code != 0 {
			t.Fatalf("screen --changed: exit %d\n%s\n%s", r.code, r.stdout, tail(r.stderr, 20))
		}
		return r
	}
	refresh()
	changed("s1") // the first: every person
	before := countCases(t, cases)
	if before == 0 {
		t.Fatal("no case after the first screening")
	}

	// A payee of the 2024-05 高龄津贴 roll without a death record dies.
	f, err := os.Open(filepath.Join(dir, "data", "长葛市一卡通发放名单202405.csv"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(simplifiedchinese.GBK.NewDecoder().Reader(f)).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
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
	programs := map[string]bool{} // the person's 2024-05 payments
	for _, r := range recs[1:] {
		if r[3] == id && r[2] == "202405" {
			programs[r[1]] = true
		}
	}
	row := fmt.Sprintf("HH20249998,%s,男,%s,%s-%s-%s,2024-03-01 08:00,2024-03-03 08:00,长葛市殡仪馆,河南省许昌市长葛市\n", name, id, id[6:10], id[10:12], id[12:14])
	if err := os.WriteFile(deathFile, append(append([]byte{}, orig...), row...), 0o644); err != nil {
		t.Fatal(err)
	}
	refresh()
	changed("s2")
	hits := csvRows(t, filepath.Join(dir, "s2", "hits.csv"))
	for _, h := range hits {
		if h["id_number"] != id || h["category"] != "deceased" {
			t.Errorf("screen --changed: a hit other than the new death: %s %s", h["rule_id"], h["payment_id"])
		}
	}
	after := countCases(t, cases)
	if after-before != len(programs) {
		t.Errorf("the new death raised %d cases, want %d (one per program paid to the person)", after-before, len(programs))
	}

	// The death file corrected: the person's cases are flagged withdrawn.
	if err := os.WriteFile(deathFile, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	refresh()
	r := changed("s3")
	if !strings.Contains(r.stdout, fmt.Sprintf("%d cases whose death record this run no longer sees", len(programs))) {
		t.Errorf("screen --changed after the correction:\n%s", r.stdout)
	}
	st2, err := casestore.Open(context.Background(), cases, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	all, err := st2.Select(casestore.Scope{All: true}, casestore.Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	withdrawn := 0
	for _, c := range all {
		if c.DeathWithdrawn {
			withdrawn++
			if c.PersonKey != id {
				t.Errorf("case %s of another person flagged withdrawn", c.ID)
			}
		}
	}
	if withdrawn != len(programs) {
		t.Errorf("%d cases flagged withdrawn, want %d", withdrawn, len(programs))
	}
	// No refresh since: nothing to screen.
	r = runCLI(t, dir, time.Minute, "screen", "--store", st, "--job-rolls", "--changed", "--out", "s4", "--lang", "en")
	if r.code != 0 || !strings.Contains(r.stdout, "nothing to screen") {
		t.Errorf("screen --changed without a refresh: exit %d\n%s", r.code, r.stdout)
	}
}

func countCases(t *testing.T, path string) int {
	t.Helper()
	st, err := casestore.Open(context.Background(), path, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.Count()
}
