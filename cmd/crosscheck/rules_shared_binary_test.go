package main

import (
	"strings"
	"testing"
)

// A sql rule may read screened_subject (the payments of the programs it
// applies to) and the shared pre-aggregations (rule_person_birth …):
// `rules test` runs it with them defined, and `rules explain` shows the
// CTEs it runs with.
func TestRulesSharedTablesBinary(t *testing.T) {
	dir := "cmd/crosscheck/testdata/shared_rules"
	if out := runBin(t, "rules", "test", dir); !strings.Contains(out, "PASS: 1 tests of 1 rules") {
		t.Errorf("rules test %s:\n%s", dir, out)
	}
	ex := runBin(t, "rules", "explain", "subject_probe", "--dir", dir)
	for _, want := range []string{"WITH rule_person_birth AS (", "screened_subject AS (SELECT * FROM screened WHERE program_code IN ('gaoling'))"} {
		if !strings.Contains(ex, want) {
			t.Errorf("rules explain subject_probe lacks %q:\n%s", want, ex)
		}
	}
	// The library's rules read them too and still pass their own tests.
	if out := runBin(t, "rules", "test", "--run", "shared_account"); !strings.Contains(out, "PASS") {
		t.Errorf("rules test --run shared_account:\n%s", out)
	}
}
