package report_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bin is the crosscheck binary built once for this package.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "crosscheck-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	bin = filepath.Join(dir, "crosscheck")
	build := exec.Command("go", "build", "-tags", "duckdb_arrow", "-buildvcs=false", "-o", bin, "../../cmd/crosscheck")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building crosscheck:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one command printed and its exit code.
type result struct {
	stdout, stderr string
	code           int
}

// run runs the binary in dir with env added; it fails the test if the
// command is still running after two minutes.
func run(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ctx.Err() != nil {
		t.Fatalf("crosscheck %s: still running after 2 minutes\n%s", strings.Join(args, " "), r.stderr)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustRun runs the binary and fails the test on a non-zero exit.
func mustRun(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	r := run(t, dir, env, args...)
	if r.code != 0 {
		t.Fatalf("crosscheck %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// sample copies examples/henan-sample into a fresh folder (so that runs
// may write state beside the job) and returns the job file's path.
func sample(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "henan-sample")
	src := filepath.Join("..", "..", "examples", "henan-sample")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if strings.HasPrefix(d.Name(), ".") && rel != "." {
			return nil // run state left by a run of the example
		}
		if d.IsDir() {
			if rel == "out" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dst, "job.yaml")
}

// editJob replaces old by new in the job file (once, and it must be there).
func editJob(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s has no %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// expectedHits reads the sample's hand-checked expected_hits.csv: the
// number of hits in all and by rule, so that the tests follow the sample
// as it grows.
func expectedHits(t *testing.T) (total int, byRule map[string]int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "henan-sample", "expected_hits.csv"))
	if err != nil {
		t.Fatal(err)
	}
	byRule = map[string]int{}
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i == 0 || l == "" {
			continue
		}
		byRule[strings.SplitN(l, ",", 2)[0]]++
		total++
	}
	return total, byRule
}
