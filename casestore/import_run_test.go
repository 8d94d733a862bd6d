package casestore_test

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/casestore/casetest"
	_ "github.com/crosscheck/crosscheck/connectors/all"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
)

// runFolder writes a run folder: the manifest fixture (with its run id)
// as manifest.json and one hit of that run as hits.parquet.
func runFolder(t *testing.T, fixture string) (dir, runID string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	// The fixtures are real manifests; their run id is set to a known value.
	for _, id := range []string{"1111111111111111", "2222222222222222"} {
		if strings.Contains(string(b), `"run_id": "`+id+`"`) {
			runID = id
		}
	}
	if runID == "" {
		t.Fatalf("%s: no known run id", fixture)
	}
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "hits.parquet", []casetest.Hit{
		casetest.Death(runID, "2024-05", zhang, "张三", "gaoling", "高龄津贴", "民政局", zhong, 100, 2, "2024-01-12"),
	})
	return dir, runID
}

// TestImportManifestFormats imports a run folder with a manifest of each
// format version: version 1 (engine.Manifest without format_version, rule
// parameters of every type: int, number, bool, text, list, column) and
// version 2 (format_version and outputs). The periods the run screened
// come from the manifest.
func TestImportManifestFormats(t *testing.T) {
	for _, fx := range []string{"manifest-v1.json", "manifest-v2.json"} {
		t.Run(fx, func(t *testing.T) {
			dir, runID := runFolder(t, fx)
			s := open(t, filepath.Join(t.TempDir(), "s.duckdb"), &clock{t: t0})
			r, err := s.ImportRun(ctx, dir, casestore.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r.RunID != runID || r.Hits != 1 || r.NewCases != 1 {
				t.Fatalf("import: %+v", r)
			}
			var periods, ruleSet string
			if err := s.DB().QueryRow(`SELECT array_to_string(periods, ','), rule_set FROM runs WHERE run_id = ?`, runID).Scan(&periods, &ruleSet); err != nil {
				t.Fatal(err)
			}
			if periods != "2024-04,2024-05,2024-06" {
				t.Errorf("periods from the manifest: %q", periods)
			}
			if ruleSet == "" {
				t.Error("rule set version not read from the manifest")
			}
		})
	}
}

// TestImportRefusesBadManifest: a manifest of a newer format, one without
// a run id, one that is not JSON and a folder without manifest.json are
// refused with a message that says why, and import nothing.
func TestImportRefusesBadManifest(t *testing.T) {
	v2, err := os.ReadFile(filepath.Join("testdata", "manifest-v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, manifest, want string
	}{
		{"newer", strings.Replace(string(v2), `"format_version": 2`, `"format_version": 3`, 1), "newer than this crosscheck reads"},
		{"no run id", strings.Replace(string(v2), `"run_id": "2222222222222222"`, `"run_id": ""`, 1), "no run_id"},
		{"truncated", string(v2[:len(v2)/2]), "unexpected end of JSON"},
		{"absent", "", "no manifest.json"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, _ := runFolder(t, "manifest-v2.json")
			if c.manifest == "" {
				os.Remove(filepath.Join(dir, "manifest.json"))
			} else if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(c.manifest), 0o644); err != nil {
				t.Fatal(err)
			}
			s := open(t, filepath.Join(t.TempDir(), "s.duckdb"), &clock{t: t0})
			_, err := s.ImportRun(ctx, dir, casestore.ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error saying %q, got %v", c.want, err)
			}
			if s.Count() != 0 {
				t.Errorf("%d cases imported from a refused run", s.Count())
			}
		})
	}
}

// TestImportRealRun runs the engine on the hand-checked sample and imports
// its output folder as a user does (this failed on every real run while
// rule parameters were read as integers). Every hit is accounted for:
// hits = hits raising or joining cases + hits excepted; a second import
// of the same run is refused as already imported and changes nothing.
func TestImportRealRun(t *testing.T) {
	j, err := job.Load(filepath.Join("..", "examples", "henan-sample", "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	res, err := engine.Run(ctx, j, engine.Options{OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, filepath.Join(t.TempDir(), "s.duckdb"), &clock{t: t0})
	r, err := s.ImportRun(ctx, out, casestore.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.RunID != res.RunID || r.Hits != res.Hits || r.Hits == 0 {
		t.Fatalf("import %+v of run %s with %d hits", r, res.RunID, res.Hits)
	}
	// Run cases are per person, program and period; store cases per
	// person and program: never more store cases than run cases.
	if r.NewCases == 0 || r.NewCases > res.Cases {
		t.Errorf("%d store cases from %d run cases", r.NewCases, res.Cases)
	}
	if r.RunCases != res.Cases {
		t.Errorf("import reports %d run cases, the run wrote %d", r.RunCases, res.Cases)
	}
	if r.RunCases-r.NewCases != r.PeriodsMerged {
		t.Errorf("run cases %d - store cases %d should be the periods merged, reported %d", r.RunCases, r.NewCases, r.PeriodsMerged)
	}
	before := s.Count()
	if _, err := s.ImportRun(ctx, out, casestore.ImportOptions{}); !errors.Is(err, casestore.ErrAlreadyImported) {
		t.Fatalf("second import: want ErrAlreadyImported, got %v", err)
	}
	if s.Count() != before {
		t.Errorf("second import changed the store: %d → %d cases", before, s.Count())
	}
}

// TestPrefectureQueue: a case whose region is only known to the
// prefecture (411000, as the engine routes a payment of a roll without
// region whose person and household are unknown) has no county; it is in
// the department's prefecture queue, not in a county's, and the import
// counts it. A case with no region at all is counted too and seen only by
// those who see everything.
func TestPrefectureQueue(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "hits.parquet", []casetest.Hit{
		casetest.Death("r1", "2024-05", zhang, "张三", "gengdi", "耕地地力保护补贴", "农业农村局", "411000", 100, 2, "2024-01-12"),
		casetest.Death("r1", "2024-05", li, "李四", "gengdi", "耕地地力保护补贴", "农业农村局", "", 100, 3, "2024-01-12"),
		casetest.Death("r1", "2024-05", wang, "王五", "gengdi", "耕地地力保护补贴", "农业农村局", "411082100200", 100, 4, "2024-01-12"),
	})
	s := open(t, filepath.Join(dir, "s.duckdb"), &clock{t: t0})
	r := mustImport(t, s, p)
	if r.NoCounty != 2 || r.NoRegion != 1 {
		t.Errorf("import counts %d cases without county, %d without region; want 2, 1", r.NoCounty, r.NoRegion)
	}
	seen := func(sc casestore.Scope) []string {
		cs, err := s.Select(sc, casestore.Filter{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, c.Name+":"+c.CountyCode+":"+c.PrefectureCode)
		}
		return out
	}
	for _, c := range []struct {
		scope casestore.Scope
		want  string
	}{
		{casestore.Scope{Department: "农业农村局", RegionPrefix: "4110"}, "张三::411000 王五:411082:411000"},
		{casestore.Scope{Department: "农业农村局", RegionPrefix: "411082"}, "王五:411082:411000"},
		{casestore.Scope{Department: "农业农村局", RegionPrefix: "41"}, "张三::411000 王五:411082:411000"},
		{casestore.Scope{All: true}, "张三::411000 李四:: 王五:411082:411000"},
	} {
		got := seen(c.scope)
		sort.Strings(got)
		if strings.Join(got, " ") != c.want {
			t.Errorf("scope %+v sees %v, want %s", c.scope, got, c.want)
		}
	}
}
