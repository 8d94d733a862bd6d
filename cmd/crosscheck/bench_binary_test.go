package main

// crosscheck gen and crosscheck bench through the built binary: the
// generated province carries the issue-20 extracts and the bench scores
// every issue-20 rule family.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/benchmarks/harness"
)

func TestBenchBinaryIssue20(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the engine on a generated province")
	}
	dir := t.TempDir()
	runBin(t, "bench", "--persons", "20000", "--seed", "1", "--dir", dir, "--quiet",
		"--rate", "unregistered=0.2", "--rate", "tier_overpaid=0.2", "--rate", "second_id=0.05",
		"--rate", "cjsh_no_dibao=0.3", "--rate", "orphan_over_age=0.3", "--rate", "tekun_married=0.3",
		"--rate", "cadre_relative=0.3", "--rate", "noise_twin=0.05", "--rate", "noise_tekun_divorced=0.4",
		"--rate", "noise_cadre_filed=0.3", "--rate", "noise_orphan_minor=0.3")
	// The new extracts are written and job.yaml maps them.
	job, err := os.ReadFile(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"minzheng/hunyin_dengji.csv", "minzheng/cun_liangwei_jingban.csv"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(b), "\n") < 2 {
			t.Errorf("%s: no rows", f)
		}
		if !strings.Contains(string(job), "path: "+f) {
			t.Errorf("job.yaml does not map %s", f)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "bench", "bench.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep harness.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	fams := map[string]harness.Score{}
	for _, s := range rep.Accuracy.Families {
		fams[s.Name] = s
	}
	for _, f := range []string{"not_in_registry", "age_tier_mismatch", "duplicate_identity", "disability_allowance_without_dibao",
		"orphan_over_age", "tekun_married", "cadre_relative", "registry_cancelled", "birth_date_mismatch", "prisoner_paid"} {
		s := fams[f]
		if s.Truth == 0 || s.Precision < 0.99 || s.Recall < 0.99 {
			t.Errorf("bench family %s: truth %d, hits %d, P %.3f, R %.3f", f, s.Truth, s.Hits, s.Precision, s.Recall)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "bench", "bench.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"noise_twin", "noise_tekun_divorced", "noise_cadre_filed", "noise_orphan_minor"} {
		if !strings.Contains(string(md), "| "+k+" | ") {
			t.Errorf("bench.md lists no near miss %s", k)
		}
	}
	for _, k := range rep.Accuracy.Kinds {
		if strings.HasPrefix(k.Name, "noise_") && k.Hits != 0 {
			t.Errorf("near miss %s: %d of %d payments falsely hit", k.Name, k.Hits, k.Truth)
		}
	}
}
