package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/casestore/casetest"
)

// crosscheckFails runs the binary, wants a non-zero exit and returns
// standard error.
func crosscheckFails(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err == nil {
		t.Fatalf("crosscheck %s succeeded:\n%s", strings.Join(args, " "), out.String())
	}
	return errb.String()
}

// TestCasesImportArguments: "cases import" takes a run folder or --hits,
// one of them; a folder that is not a finished run (no manifest.json) is
// refused before anything is imported; a hits file with its manifest
// beside it (format 2) is imported and the counts are explained.
func TestCasesImportArguments(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "cases.duckdb")
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o755); err != nil {
		t.Fatal(err)
	}
	hits := filepath.Join(run, "hits.parquet")
	err := casetest.WriteHits(context.Background(), hits, []casetest.Hit{
		casetest.Death("2222222222222222", "2024-05", "410102194003051237", "张三", "gaoling", "高龄津贴", "民政局", "410102003004", 100, 2, "2024-01-12"),
		casetest.Death("2222222222222222", "2024-06", "410102194003051237", "张三", "gaoling", "高龄津贴", "民政局", "410102003004", 100, 3, "2024-01-12"),
	})
	if err != nil {
		t.Fatal(err)
	}

	if msg := crosscheckFails(t, "cases", "import", run, "--store", store); !strings.Contains(msg, "manifest.json") {
		t.Errorf("a run folder without manifest.json: %q", msg)
	}
	if msg := crosscheckFails(t, "cases", "import", "--store", store); !strings.Contains(msg, "run folder") {
		t.Errorf("neither folder nor --hits: %q", msg)
	}
	if msg := crosscheckFails(t, "cases", "import", run, "--hits", hits, "--store", store); !strings.Contains(msg, "one of them") {
		t.Errorf("both a folder and --hits: %q", msg)
	}

	// A format-2 manifest (the fixture) whose outputs list this folder's
	// hits file as it is, so that the folder is a complete run.
	b, err := os.ReadFile(filepath.Join("..", "casestore", "testdata", "manifest-v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	hb, err := os.ReadFile(hits)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(hb)
	m["outputs"] = []map[string]any{{"file": "hits.parquet", "bytes": len(hb), "sha256": hex.EncodeToString(sum[:])}}
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(run, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := crosscheck(t, "cases", "import", "--hits", hits, "--store", store, "--quiet")
	for _, want := range []string{
		"run 2222222222222222: 2 hits in 2 run cases",
		"2 run cases - 0 matched to the exception register (0 hits) - 1 merged across periods (one case per person and program) = 1 store cases",
		"1 new, 0 already in the store gained hits",
		"1 cases in store",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
}
