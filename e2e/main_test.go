// Package e2e walks crosscheck as a user does, through the built binary
// and real components (DuckDB files, the review server, headless
// Chromium): generate a province, screen it, import the run, review cases
// in the browser, screen again and import again.
package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bin is the crosscheck binary built once for the package.
var bin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "crosscheck-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "crosscheck")
	cmd := exec.Command("go", "build", "-tags", "duckdb_arrow", "-o", bin, "./cmd/crosscheck")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build crosscheck: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// crosscheck runs the binary and returns its standard output; it fails
// the test on a non-zero exit, showing standard error.
func crosscheck(t *testing.T, args ...string) string {
	t.Helper()
	return crosscheckIn(t, "", nil, args...)
}

func crosscheckIn(t *testing.T, dir string, stdin io.Reader, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("crosscheck %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// server is a running "crosscheck serve".
type server struct {
	URL  string
	cmd  *exec.Cmd
	done chan error
	log  *lockedBuffer
}

var servingRe = regexp.MustCompile(`serving (\d+) cases on (http://\S+)`)

// serve starts "crosscheck serve" on a free port of 127.0.0.1 and waits
// for its "serving N cases on URL" line.
func serve(t *testing.T, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1), log: &lockedBuffer{b: &bytes.Buffer{}}}
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := servingRe.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[2]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() { s.stop(t) })
	select {
	case s.URL = <-urlc:
	case err := <-s.done:
		t.Fatalf("serve exited: %v\n%s", err, s.log.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start\n%s", s.log.String())
	}
	return s
}

// stop ends the server as a user does (Ctrl-C) and waits for it.
func (s *server) stop(t *testing.T) {
	if s.cmd.ProcessState != nil || s.done == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve ended with %v\n%s", err, s.log.String())
		}
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("serve did not stop on SIGINT")
	}
	s.done = nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// chromium is the headless browser, or the test is skipped where none is
// installed (and under -short).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Skip("no Chromium (set CHROMIUM to its path)")
	return ""
}
