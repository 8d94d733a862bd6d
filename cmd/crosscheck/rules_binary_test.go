package main

// These tests drive the built crosscheck binary the way a user does:
// the rule catalogue with its legal basis, the library's own tests and the
// hand-checked henan-sample job with the rules of issue 20.

import (
	"bytes"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func runBin(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(cliBin, args...)
	cmd.Dir = "../.."
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("crosscheck %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// The issue-20 rules are in the catalogue; the Markdown catalogue shows
// each rule's legal basis, and rules explain prints it.
func TestRulesCatalogueBasis(t *testing.T) {
	md := runBin(t, "rules", "list", "--format", "md")
	for _, id := range []string{"not_in_registry", "registry_cancelled", "moved_out_of_county", "duplicate_identity",
		"deceased_household_head", "age_tier_mismatch", "birth_date_mismatch", "disability_allowance_without_dibao",
		"orphan_over_age", "tekun_married", "cadre_relative", "prisoner_paid"} {
		if !strings.Contains(md, "[`"+id+"`](#"+id+")") {
			t.Errorf("rules list --format md: no line for %s", id)
		}
	}
	if !strings.Contains(md, "| 依据 basis |") {
		t.Error("rules list --format md: no basis column")
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| [`cadre_relative`]") && !strings.Contains(line, "民发〔2021〕57号") {
			t.Errorf("cadre_relative's catalogue line has no basis: %s", line)
		}
		if strings.HasPrefix(line, "| [`prisoner_paid`]") && !strings.HasSuffix(line, "| — |") {
			t.Errorf("prisoner_paid has no basis in the research, its line shows one: %s", line)
		}
	}
	if !strings.Contains(md, "- Basis 依据: 民发〔2021〕43号") {
		t.Error("tekun_married's section has no basis line")
	}
	ex := runBin(t, "rules", "explain", "tekun_married")
	if !strings.Contains(ex, "basis    民发〔2021〕43号") {
		t.Errorf("rules explain tekun_married shows no basis:\n%s", ex)
	}
	if out := runBin(t, "rules", "test"); !strings.Contains(out, "PASS") {
		t.Errorf("rules test: %s", out)
	}
	if out := runBin(t, "rules", "lint"); !strings.Contains(out, "ok: 27 rules") {
		t.Errorf("rules lint: %s", out)
	}
}

func readHitKeys(t *testing.T, path string, bom bool) ([]string, [][]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bom {
		b = bytes.TrimPrefix(b, []byte("\ufeff"))
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var keys []string
	for _, r := range rows[1:] {
		keys = append(keys, r[col["rule_id"]]+","+r[col["severity"]]+","+r[col["payment_id"]])
	}
	sort.Strings(keys)
	return keys, rows
}

// The sample job through the binary gives exactly expected_hits.csv, the
// registry's death date is cited as such, and each new rule fires.
func TestHenanSampleBinary(t *testing.T) {
	out := t.TempDir()
	runBin(t, "run", "--config", "examples/henan-sample/job.yaml", "--out", out, "-q")
	want, _ := readHitKeys(t, "../../examples/henan-sample/expected_hits.csv", false)
	got, rows := readHitKeys(t, filepath.Join(out, "hits.csv"), true)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("hits.csv differs from expected_hits.csv:\ngot\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	found := false
	for _, r := range rows[1:] {
		for _, c := range r {
			if strings.Contains(c, "公安户籍登记的死亡日期显示该人员已于2024-03-10死亡") {
				found = true
			}
		}
	}
	if !found {
		t.Error("no explanation cites the registry's death date 2024-03-10 (CG2405-0861)")
	}
}

// TestRulesDocIsCurrent: docs/rules.md is what `crosscheck rules list
// --format md` prints for the built-in library (after its two-line
// generated-by header), so that the published catalogue, its rule-set hash
// and the legal basis of each rule do not drift from the library.
func TestRulesDocIsCurrent(t *testing.T) {
	got := runBin(t, "rules", "list", "--format", "md")
	b, err := os.ReadFile("../../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if i := strings.Index(doc, "-->\n\n"); strings.HasPrefix(doc, "<!--") && i >= 0 {
		doc = doc[i+len("-->\n\n"):]
	}
	if doc != got {
		gl, dl := strings.Split(got, "\n"), strings.Split(doc, "\n")
		for i := 0; i < len(gl) && i < len(dl); i++ {
			if gl[i] != dl[i] {
				t.Fatalf("docs/rules.md is stale from line %d (regenerate: crosscheck rules list --format md, under its header):\nwant %q\ngot  %q", i+3, gl[i], dl[i])
			}
		}
		t.Fatalf("docs/rules.md is stale: %d lines, the library gives %d (regenerate: crosscheck rules list --format md)", len(dl), len(gl))
	}
}
