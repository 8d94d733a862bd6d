package review_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests that drive the built crosscheck binary build it once per test
// run (on first use, so that running one other test does not pay for it).
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if refDir != "" {
		os.RemoveAll(refDir)
	}
	os.Exit(code)
}

// crosscheckBin returns the path of the built binary.
func crosscheckBin(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "crosscheck-review-bin-"); binErr != nil {
			return
		}
		p := filepath.Join(binDir, "crosscheck")
		cmd := exec.Command("go", "build", "-tags", "duckdb_arrow", "-buildvcs=false", "-o", p, "./cmd/crosscheck")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/crosscheck: %v\n%s", err, out)
			return
		}
		binPath = p
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// writeUsersFile writes testUsers() as a users file; extra is appended
// (more list entries of users, then top-level keys).
func writeUsersFile(t testing.TB, dir string, extra ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("session_ttl: 1h\nusers:\n")
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	for _, u := range testUsers() {
		fmt.Fprintf(&b, "  - username: %s\n    name: %s\n    role: %s\n", q(u.Username), q(u.Name), q(string(u.Role)))
		if u.Department != "" {
			fmt.Fprintf(&b, "    department: %s\n", q(u.Department))
		}
		if u.Region != "" {
			fmt.Fprintf(&b, "    region: %s\n", q(u.Region))
		}
		if u.PasswordHash != "" {
			fmt.Fprintf(&b, "    password_hash: %s\n", q(u.PasswordHash))
		}
		if u.TokenSHA256 != "" {
			fmt.Fprintf(&b, "    token_sha256: %s\n", q(u.TokenSHA256))
		}
	}
	for _, x := range extra {
		b.WriteString(x)
	}
	p := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

// proc is a crosscheck process started by a test.
type proc struct {
	cmd    *exec.Cmd
	stdout lockedBuffer
	stderr lockedBuffer
	url    chan string
	done   chan struct{}
	err    error // set when done is closed
}

// spawn starts the binary with args without waiting for anything.
func spawn(t testing.TB, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(crosscheckBin(t), args...), url: make(chan string, 1), done: make(chan struct{})}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		// serve prints "serving N cases on http://ADDR" once it listens.
		sc := bufio.NewScanner(io.TeeReader(out, &p.stdout))
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), " on "); ok && strings.HasPrefix(sc.Text(), "serving ") {
				select {
				case p.url <- strings.TrimSpace(u):
				default:
				}
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

// spawnServe starts "crosscheck serve" on a loopback port.
func spawnServe(t testing.TB, store, users string) *proc {
	return spawn(t, "serve", "--store", store, "--users", users, "--addr", "127.0.0.1:0", "--refresh-every", "-1s", "-q")
}

// waitURL waits until the server listens; it fails if the process ends first.
func (p *proc) waitURL(timeout time.Duration) (string, error) {
	select {
	case u := <-p.url:
		return u, nil
	case <-p.done:
		return "", fmt.Errorf("server exited (%v): %s", p.err, p.stderr.String())
	case <-time.After(timeout):
		return "", errors.New("server did not start in time: " + p.stderr.String())
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGTERM (a clean shutdown) and waits.
func (p *proc) stop(t testing.TB) {
	t.Helper()
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.kill()
		t.Fatal("server did not stop on SIGINT")
	}
}

// run runs the binary to completion and returns its exit code, stdout and stderr.
func run(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	p := spawn(t, args...)
	<-p.done
	code := 0
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		code = ee.ExitCode()
	} else if p.err != nil {
		t.Fatal(p.err)
	}
	return code, p.stdout.String(), p.stderr.String()
}
