package release_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOfflineBundle unpacks the bundle make offline-bundle wrote
// (CROSSCHECK_OFFLINE_BUNDLE) as the module cache and, with the proxy off
// and any network use failing, builds crosscheck, resolves every package of
// the tests (amd64) and of the arm64 build, and runs the built binary.
func TestOfflineBundle(t *testing.T) {
	bundle := os.Getenv("CROSSCHECK_OFFLINE_BUNDLE")
	if bundle == "" {
		t.Skip("run by make offline-test (CROSSCHECK_OFFLINE_BUNDLE)")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mod := t.TempDir()
	// The module cache is read-only; make it removable again.
	t.Cleanup(func() { _ = exec.Command("chmod", "-R", "u+w", mod).Run() })
	run(t, mod, nil, "tar", "-xzf", bundle)

	var env []string
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		switch k {
		case "GOMODCACHE", "GOPROXY", "GOFLAGS", "GOTOOLCHAIN", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOSUMDB",
			"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy":
			continue
		}
		env = append(env, e)
	}
	// Any attempt to reach the network goes to a closed port.
	env = append(env, "GOMODCACHE="+mod, "GOPROXY=off", "GOTOOLCHAIN=local",
		"GOFLAGS=-mod=mod -tags=duckdb_arrow -buildvcs=false",
		"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9")

	sums := map[string][]byte{}
	for _, f := range []string{"go.mod", "go.sum"} {
		if sums[f], err = os.ReadFile(filepath.Join(repo, f)); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(t.TempDir(), "crosscheck")
	run(t, repo, env, "go", "build", "-trimpath", "-o", bin, "./cmd/crosscheck")
	run(t, repo, env, "go", "list", "-deps", "-test", "./...")
	run(t, repo, append(env, "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=1"), "go", "list", "-deps", "./cmd/crosscheck")
	for f, b := range sums {
		now, err := os.ReadFile(filepath.Join(repo, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(now, b) {
			t.Errorf("the offline build changed %s", f)
		}
	}

	out := run(t, t.TempDir(), []string{"PATH=/usr/bin:/bin"}, bin, "version", "--json")
	var info struct{ Platform string }
	if err := json.Unmarshal(out, &info); err != nil || info.Platform == "" {
		t.Errorf("version --json of the offline build: %v\n%s", err, out)
	}
	// The bundle holds no other platform's DuckDB library.
	for _, other := range []string{"darwin-amd64", "darwin-arm64", "windows-amd64"} {
		zips, _ := filepath.Glob(filepath.Join(mod, "cache/download/github.com/duckdb/duckdb-go-bindings/lib", other, "@v/*.zip"))
		if len(zips) > 0 {
			t.Errorf("bundle holds %s", zips)
		}
	}
}
