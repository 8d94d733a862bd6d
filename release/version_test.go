package release_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestVersionCommand builds crosscheck with the build information the
// Makefile sets and checks that `crosscheck version` prints it with the Go
// and DuckDB versions and the platform, as text and as JSON.
func TestVersionCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("links the DuckDB binary")
	}
	bin := filepath.Join(t.TempDir(), "crosscheck")
	const pkg = "github.com/crosscheck/crosscheck"
	ldflags := "-X " + pkg + "/engine.Version=9.8.7-test -X main.commit=0123456789ab -X main.buildDate=2026-12-07T05:00:00Z"
	c := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "./cmd/crosscheck")
	c.Dir = ".."
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}

	var info map[string]string
	if err := json.Unmarshal(run(t, t.TempDir(), env, bin, "version", "--json"), &info); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"version": "9.8.7-test", "commit": "0123456789ab", "build_date": "2026-12-07T05:00:00Z",
		"go_version": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH}
	for k, v := range want {
		if info[k] != v {
			t.Errorf("version --json: %s = %q, want %q", k, info[k], v)
		}
	}
	if !strings.HasPrefix(info["duckdb_version"], "v1.") || info["duckdb_source_id"] == "" {
		t.Errorf("version --json: duckdb %q (%q)", info["duckdb_version"], info["duckdb_source_id"])
	}

	text := string(run(t, t.TempDir(), env, bin, "version"))
	for _, s := range []string{"crosscheck 9.8.7-test", "0123456789ab", "2026-12-07T05:00:00Z", runtime.Version(),
		info["duckdb_version"], runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(text, s) {
			t.Errorf("version: %q missing from\n%s", s, text)
		}
	}
}
