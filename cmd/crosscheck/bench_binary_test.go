package main

// crosscheck gen and crosscheck bench through the built binary: the
// generated province carries the issue-20 extracts and the bench scores
// every issue-20 rule family.

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
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

// bench --sizes through the binary: one run per size, the table of
// seconds and seconds per million payments per stage, a well-formed SVG
// chart (also copied to --svg) and the per-stage profiles (--profile).
func TestBenchBinarySizes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the engine on two generated provinces")
	}
	dir, prof := t.TempDir(), t.TempDir()
	svgCopy := filepath.Join(t.TempDir(), "chart.svg")
	out := runBin(t, "bench", "--sizes", "3000,6000", "--seed", "2", "--dir", dir, "--quiet", "--profile", prof, "--svg", svgCopy)
	b, err := os.ReadFile(filepath.Join(dir, "sizes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s harness.Sizes
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "sizes.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, string(md)) {
		t.Errorf("stdout does not hold sizes.md:\n%s", out)
	}
	if len(s.Runs) != 2 || s.Runs[0].Persons != 3000 || s.Runs[1].Persons != 6000 {
		t.Fatalf("sizes.json runs: %+v", s.Runs)
	}
	for _, r := range s.Runs {
		// The payments are the generated province's (gen.json), and every
		// cell of the row is seconds (seconds per million payments).
		g, err := os.ReadFile(filepath.Join(dir, fmt.Sprint(r.Persons), "gen.json"))
		if err != nil {
			t.Fatal(err)
		}
		var gj struct {
			Payments int64 `json:"payments"`
		}
		if err := json.Unmarshal(g, &gj); err != nil {
			t.Fatal(err)
		}
		if r.Payments != gj.Payments || r.Payments == 0 {
			t.Errorf("%d persons: %d payments in sizes.json, %d in gen.json", r.Persons, r.Payments, gj.Payments)
		}
		if r.Stage("identity") <= 0 || r.Stage("load") <= 0 || r.PeakRSS <= 0 {
			t.Errorf("%d persons: stages %+v, peak RSS %d", r.Persons, r.Stages, r.PeakRSS)
		}
		var sum float64
		for _, st := range r.Stages {
			sum += st.Seconds
		}
		if sum > r.Seconds*1.01 {
			t.Errorf("%d persons: stages add up to %.2f s, more than the run's %.2f s", r.Persons, sum, r.Seconds)
		}
		id := r.Stage("identity")
		cell := fmt.Sprintf(" %.1f (%.1f) |", id, id/(float64(gj.Payments)/1e6))
		if !strings.Contains(string(md), cell) {
			t.Errorf("sizes.md has no identity cell %q for %d persons:\n%s", cell, r.Persons, md)
		}
		// The profiles of each stage of this size.
		for i, st := range r.Stages {
			p, err := os.ReadFile(filepath.Join(prof, fmt.Sprint(r.Persons), fmt.Sprintf("cpu-%d-%s.pprof", i+1, st.Stage)))
			if err != nil {
				t.Fatal(err)
			}
			a, err := os.ReadFile(filepath.Join(prof, fmt.Sprint(r.Persons), fmt.Sprintf("alloc-%d-%s.pprof", i+1, st.Stage)))
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range [][]byte{p, a} {
				if len(x) < 2 || x[0] != 0x1f || x[1] != 0x8b { // pprof files are gzipped protobuf
					t.Errorf("%d persons, stage %s: profile is not gzip", r.Persons, st.Stage)
				}
			}
		}
		if _, err := os.Stat(filepath.Join(prof, fmt.Sprint(r.Persons), "README.txt")); err != nil {
			t.Error(err)
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "sizes.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := os.ReadFile(svgCopy); err != nil || string(c) != string(svg) {
		t.Errorf("--svg copy differs from sizes.svg (%v)", err)
	}
	// Well-formed XML with an svg root, one bar segment per stage that
	// took time, in both panels, and the size labels.
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var root string
	rects := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("sizes.svg is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			if se.Name.Local == "rect" {
				for _, a := range se.Attr {
					if a.Name.Local == "height" && a.Value != "12" { // legend swatches are 12 high
						rects++
					}
				}
			}
		}
	}
	if root != "svg" {
		t.Errorf("root element %q", root)
	}
	want := 1 // the background
	for _, r := range s.Runs {
		for _, st := range r.Stages {
			if st.Seconds > 0 {
				want += 2
			}
		}
	}
	if rects != want {
		t.Errorf("sizes.svg: %d bar segments and background, want %d", rects, want)
	}
	for _, l := range []string{">3k<", ">6k<", ">identity<", ">seconds per million payments<"} {
		if !strings.Contains(string(svg), l) {
			t.Errorf("sizes.svg lacks %s", l)
		}
	}
}
