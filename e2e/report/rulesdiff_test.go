package report_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// diffLine finds the table line of rule id in a rules diff report:
// status, old, new, added, removed.
func diffLine(t *testing.T, out, id string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + id + `\s+(\S+)\s+(\d+)\s+(\d+)\s+\+(\d+)\s+-(\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no line for %s in:\n%s", id, out)
	}
	return m[1:]
}

// Issue 16: with grace_months: 1 in the job, rules diff reported every
// rule "same" although two hits disappear. It now compares the job's
// parameters with the built-in defaults (no --against), or the job with
// --set changes, hit by hit.
func TestRulesDiffParameterChange(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the sample twice")
	}
	jobFile := sample(t)
	dir := strings.TrimSuffix(jobFile, "/job.yaml")
	editJob(t, jobFile, "deceased_after_death: {grace_months: 0}", "deceased_after_death: {grace_months: 1}")

	// The job's parameters against the built-in defaults.
	r := mustRun(t, dir, nil, "rules", "diff", "--config", "job.yaml", "-q")
	got := diffLine(t, r.stdout, "deceased_after_death")
	_, byRule := expectedHits(t)
	n := byRule["deceased_after_death"] // with the default grace_months 0
	if got[0] != "changed" || got[1] != fmt.Sprint(n) || got[2] != fmt.Sprint(n-2) || got[3] != "0" || got[4] != "2" {
		t.Errorf("deceased_after_death: %v\n%s", got, r.stdout)
	}
	if !strings.Contains(r.stdout, "deceased_after_death.grace_months=1") {
		t.Errorf("the parameter change is not named:\n%s", r.stdout)
	}
	// Hit by hit: the two payments that leave, with their explanation.
	if n := strings.Count(r.stdout, "\n  - "); n != 2 {
		t.Errorf("%d removed hits listed, want 2:\n%s", n, r.stdout)
	}
	if diffLine(t, r.stdout, "age_range")[0] != "same" {
		t.Errorf("age_range changed:\n%s", r.stdout)
	}

	// --set on top of the job: back to 0 brings the two hits back.
	r = mustRun(t, dir, nil, "rules", "diff", "--config", "job.yaml", "--set", "deceased_after_death.grace_months=0", "-q")
	got = diffLine(t, r.stdout, "deceased_after_death")
	if got[0] != "changed" || got[1] != fmt.Sprint(n-2) || got[2] != fmt.Sprint(n) || got[3] != "2" || got[4] != "0" {
		t.Errorf("--set: %v\n%s", got, r.stdout)
	}
	// A parameter the rule does not have is an error that names it.
	r = run(t, dir, nil, "rules", "diff", "--config", "job.yaml", "--set", "deceased_after_death.grace_days=1", "-q")
	if r.code == 0 || !strings.Contains(r.stderr, "grace_days") {
		t.Errorf("unknown parameter: exit %d\n%s", r.code, r.stderr)
	}
	r = run(t, dir, nil, "rules", "diff", "--config", "job.yaml", "--set", "grace_months", "-q")
	if r.code == 0 || !strings.Contains(r.stderr, "RULE.PARAM=VALUE") {
		t.Errorf("malformed --set: exit %d\n%s", r.code, r.stderr)
	}
}
