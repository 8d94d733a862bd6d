package rundir_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/rundir"
)

func commitFiles(t *testing.T, r *rundir.Run, files map[string]string) error {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(r.Tmp, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outs, err := rundir.List(r.Tmp)
	if err != nil {
		t.Fatal(err)
	}
	return r.Commit(outs, []byte(`{"format_version": 2, "run_id": "r", "outputs": []}`))
}

// TestCommitNeverReplacesForeignFiles: in a forced folder, a file of the
// user's with the name of an output stops the commit; the user's file and
// the folder stay as they were, and no temporary folder is left.
func TestCommitNeverReplacesForeignFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hits.csv"), []byte("mine"), 0o644)
	if err := rundir.Check(dir, rundir.Options{}); !errors.Is(err, rundir.ErrRefused) {
		t.Fatalf("Check of a folder with other files: %v", err)
	}
	r, err := rundir.Open(dir, rundir.Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	err = commitFiles(t, r, map[string]string{"hits.csv": "new", "quality.json": "{}"})
	r.Close()
	if !errors.Is(err, rundir.ErrRefused) || !strings.Contains(err.Error(), "hits.csv") {
		t.Fatalf("commit over a foreign hits.csv: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hits.csv")); string(b) != "mine" {
		t.Errorf("the user's hits.csv became %q", b)
	}
	for _, f := range []string{"quality.json", "manifest.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s written by a refused commit", f)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, rundir.TmpPrefix+"*")); len(m) > 0 {
		t.Errorf("temporary folder left: %v", m)
	}
}

// TestVerifyVersion1: a manifest without format_version needs a whole
// Parquet hits file.
func TestVerifyVersion1(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"run_id": "abc"}`), 0o644)
	for body, ok := range map[string]bool{"": false, "PAR1xxxx": false, "PAR1 some bytes PAR1": true, "PAR1 cut": false} {
		os.WriteFile(filepath.Join(dir, "hits.parquet"), []byte(body), 0o644)
		info, err := rundir.Verify(dir)
		if ok != (err == nil) {
			t.Errorf("hits.parquet %q: Verify error %v", body, err)
		}
		if err == nil && (info.FormatVersion != 1 || info.RunID != "abc") {
			t.Errorf("info %+v", info)
		}
		if err != nil && !errors.Is(err, rundir.ErrIncomplete) {
			t.Errorf("error does not wrap ErrIncomplete: %v", err)
		}
	}
}

// TestOpenOverUnrecoverableRecord: a commit record whose temporary folder
// was deleted by hand cannot be completed; Verify refuses the folder, and
// the next run opens it, takes the files the record names as its own and
// replaces them.
func TestOpenOverUnrecoverableRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, rundir.LockName), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "hits.csv"), []byte("half"), 0o644)
	os.WriteFile(filepath.Join(dir, rundir.CommitName),
		[]byte(`{"tmp": ".crosscheck-tmp-gone", "remove": [], "move": ["hits.csv"], "manifest_sha256": "00"}`), 0o644)
	if _, err := rundir.Verify(dir); !errors.Is(err, rundir.ErrIncomplete) || !strings.Contains(err.Error(), "cannot be completed") {
		t.Fatalf("Verify: %v", err)
	}
	r, err := rundir.Open(dir, rundir.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, rundir.CommitName)); err == nil {
		t.Error("the commit record is still there")
	}
	err = commitFiles(t, r, map[string]string{"hits.csv": "new"})
	r.Close()
	if err != nil {
		t.Fatalf("commit over the record's hits.csv: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hits.csv")); string(b) != "new" {
		t.Errorf("hits.csv is %q", b)
	}
	if _, err := rundir.Verify(dir); err != nil {
		t.Errorf("Verify after the run: %v", err)
	}
}
