package rundir_test

// Tests that drive the built crosscheck binary on a copy of the
// henan-sample job: the output folder's lifecycle, the lock, --force,
// refused targets, `cases import` refusing incomplete folders, and CSV
// formula neutralisation. CROSSCHECK_BIN runs them against another build
// (e.g. one from before the change, to see them fail).

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/rundir"
)

var bin string

func TestMain(m *testing.M) {
	bin = os.Getenv("CROSSCHECK_BIN")
	if bin == "" {
		dir, err := os.MkdirTemp("", "crosscheck-rundir-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		bin = filepath.Join(dir, "crosscheck")
		cmd := exec.Command("go", "build", "-tags", "duckdb_arrow", "-o", bin, "../cmd/crosscheck")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build crosscheck:", err)
			os.Exit(2)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// sample copies the henan-sample job and its data into a new folder and
// returns the job file's path.
func sample(t *testing.T) string {
	t.Helper()
	src := filepath.Join("..", "examples", "henan-sample")
	dst := filepath.Join(t.TempDir(), "job")
	copyTree(t, filepath.Join(src, "data"), filepath.Join(dst, "data"))
	b, err := os.ReadFile(filepath.Join(src, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "job.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dst, "job.yaml")
}

// variant writes a copy of the job file with replacements (old, new pairs).
func variant(t *testing.T, jobFile, name string, repl ...string) string {
	t.Helper()
	b, err := os.ReadFile(jobFile)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(s, repl[i]) {
			t.Fatalf("job file has no %q", repl[i])
		}
		s = strings.ReplaceAll(s, repl[i], repl[i+1])
	}
	p := filepath.Join(filepath.Dir(jobFile), name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

type result struct {
	stdout, stderr string
	code           int
}

func crosscheck(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := crosscheck(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("crosscheck %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// files returns the SHA-256 of every regular file below dir by relative
// path, leaving out crosscheck's hidden bookkeeping (lock, owned list,
// temporary folders), manifest.json and report.html. The last two carry
// the run's timings, peak memory and trend, so two runs of the same job
// never match byte for byte; Verify checks both against the manifest's
// sizes and SHA-256, and every other file tells the runs apart.
func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, ".crosscheck") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || rel == "manifest.json" || rel == "report.html" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func runID(t *testing.T, dir string) string {
	t.Helper()
	var m struct {
		RunID string `json:"run_id"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return ""
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	return m.RunID
}

func sameFiles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func diffFiles(a, b map[string]string) string {
	var d []string
	for k, v := range a {
		if b[k] != v {
			d = append(d, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			d = append(d, k+" (only in second)")
		}
	}
	return strings.Join(d, ", ")
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
}

// importInto runs `crosscheck cases import` of dir's hits into a new store.
func importInto(t *testing.T, dir string) result {
	t.Helper()
	return crosscheck(t, nil, "cases", "import", "--hits", filepath.Join(dir, "hits.parquet"),
		"--store", filepath.Join(t.TempDir(), "cases.duckdb"), "-q")
}

// refusedIncomplete tells whether `cases import` refused a folder as an
// incomplete run. (Whether the case store then imports a complete run is
// the case store's business, tested there.)
func refusedIncomplete(r result) bool {
	return r.code != 0 && strings.Contains(r.stderr, "run folder incomplete")
}

// TestRerunWithFewerFormats: a rerun with formats: [csv] over a run with
// Parquet and CSV removes the old hits.parquet/cases.parquet (crosscheck
// wrote them) and keeps a file the user put into the folder.
func TestRerunWithFewerFormats(t *testing.T) {
	t.Parallel()
	jobFile := sample(t)
	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, "run", "--config", jobFile, "--out", out, "-q")
	if err := os.WriteFile(filepath.Join(out, "notes.txt"), []byte("审核备注"), 0o644); err != nil {
		t.Fatal(err)
	}
	csvOnly := variant(t, jobFile, "csv.yaml", "formats: [parquet, csv]", "formats: [csv]")
	mustRun(t, "run", "--config", csvOnly, "--out", out, "-q")
	for _, f := range []string{"hits.parquet", "cases.parquet"} {
		if _, err := os.Stat(filepath.Join(out, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s of the previous run is still there after a rerun with formats: [csv] (err %v)", f, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, "notes.txt")); err != nil || string(b) != "审核备注" {
		t.Errorf("the user's notes.txt was removed or changed: %q %v", b, err)
	}
	info, err := rundir.Verify(out)
	if err != nil {
		t.Fatalf("Verify after the csv-only rerun: %v", err)
	}
	var names []string
	for _, o := range info.Outputs {
		names = append(names, o.File)
	}
	if got := strings.Join(names, " "); strings.Contains(got, "parquet") || !strings.Contains(got, "hits.csv") {
		t.Errorf("outputs listed in the manifest: %s", got)
	}
}

// TestFailedRerunKeepsOldRun: a rerun over a complete run that fails
// after loading (SIGTERM while it screens) leaves the old run complete
// and unchanged: no new quarantine file beside the old hits.
func TestFailedRerunKeepsOldRun(t *testing.T) {
	t.Parallel()
	jobFile := sample(t)
	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, "run", "--config", jobFile, "--out", out, "-q")
	before := files(t, out)
	// The rerun reads a person roster with one more (ragged) row, so its
	// quarantine differs from the old run's (one row of 300 stays under
	// max_quarantine_ratio; in the 30-row catalogue it would stop the run).
	cat := filepath.Join(filepath.Dir(jobFile), "data", "公安户籍人口信息.csv")
	f, err := os.OpenFile(cat, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("x,y,z,w,v,u,t,s,r,q\n")
	f.Close()

	cmd := exec.Command(bin, "run", "--config", jobFile, "--out", out, "-v") // -v: the INFO line waited for
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for the load stage to finish (the log line of identity
	// resolution), then stop the run as a user's Ctrl-C would.
	waitFor(t, &stderr, "store: identity resolved")
	cmd.Process.Signal(os.Interrupt)
	err = cmd.Wait()
	if err == nil {
		t.Fatalf("the interrupted run exited 0; stderr:\n%s", stderr.String())
	}
	after := files(t, out)
	if !sameFiles(before, after) {
		t.Errorf("a failed rerun changed the old run's files: %s", diffFiles(before, after))
	}
	if _, err := rundir.Verify(out); err != nil {
		t.Errorf("old run no longer verifies: %v", err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(out, rundir.TmpPrefix+"*")); len(tmps) > 0 {
		t.Errorf("the failed run left its temporary folder: %v", tmps)
	}
}

// TestConcurrentRunsIntoOneFolder starts two runs into the same --out
// 0.3 s apart: one finishes, the other is refused naming the first's pid,
// and the folder holds one complete run.
func TestConcurrentRunsIntoOneFolder(t *testing.T) {
	t.Parallel()
	jobFile := sample(t)
	other := variant(t, jobFile, "other.yaml", "grace_months: 0", "grace_months: 1")
	out := filepath.Join(t.TempDir(), "out")
	var cmds [2]*exec.Cmd
	var errs [2]lockedBuffer
	for i, jf := range []string{jobFile, other} {
		cmds[i] = exec.Command(bin, "run", "--config", jf, "--out", out, "-q")
		cmds[i].Stderr = &errs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	var ok []int
	var failed []int
	for i, c := range cmds {
		if err := c.Wait(); err == nil {
			ok = append(ok, i)
		} else {
			failed = append(failed, i)
		}
	}
	if len(ok) != 1 || len(failed) != 1 {
		t.Fatalf("runs that exited 0: %v (want exactly one); stderr:\n%s\n%s", ok, errs[0].String(), errs[1].String())
	}
	msg := errs[failed[0]].String()
	if want := fmt.Sprintf("pid %d", cmds[ok[0]].Process.Pid); !strings.Contains(msg, want) || !strings.Contains(msg, "another crosscheck run") {
		t.Errorf("the refused run's message does not name the other run (%s): %s", want, msg)
	}
	if _, err := rundir.Verify(out); err != nil {
		t.Errorf("folder after two runs: %v", err)
	}
	// The lock went with the first run: a third run proceeds.
	mustRun(t, "run", "--config", other, "--out", out, "-q")
}

// TestImportWhileARunWrites: `cases import` of a folder a live run is
// writing into is refused, naming the run's pid; once the run finished,
// the folder is imported.
func TestImportWhileARunWrites(t *testing.T) {
	t.Parallel()
	jobFile := sample(t)
	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, "run", "--config", jobFile, "--out", out, "-q")
	cmd := exec.Command(bin, "run", "--config", jobFile, "--out", out, "-v") // -v: the INFO line waited for
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The run holds the lock from the load on; stopped there (SIGSTOP),
	// it keeps holding it however slow the machine is.
	waitFor(t, &stderr, "store: identity resolved")
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	r := importInto(t, out)
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("pid %d", cmd.Process.Pid)
	if r.code == 0 || !strings.Contains(r.stderr, "a run is writing this folder") || !strings.Contains(r.stderr, want) {
		t.Errorf("cases import during a run: exit %d, want a refusal naming %s: %s", r.code, want, r.stderr)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the run: %v\n%s", err, stderr.String())
	}
	if r := importInto(t, out); !importAccepted(r) {
		t.Errorf("cases import after the run: %s", r.stderr)
	}
}

// TestOutFolderChecks: a folder with other files is refused without
// --force and left untouched; with --force the run writes beside them and
// deletes nothing it did not write (a quarantine/ folder of the user's
// included); the root and the home folder are refused even forced.
func TestOutFolderChecks(t *testing.T) {
	t.Parallel()
	jobFile := sample(t)
	out := filepath.Join(t.TempDir(), "mine")
	os.MkdirAll(filepath.Join(out, "quarantine"), 0o755)
	os.WriteFile(filepath.Join(out, "quarantine", "keep.csv"), []byte("keep"), 0o644)
	os.WriteFile(filepath.Join(out, "report.docx"), []byte("doc"), 0o644)
	before := files(t, out)

	r := crosscheck(t, nil, "run", "--config", jobFile, "--out", out, "-q")
	if r.code == 0 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("a run into a folder with other files: exit %d, want a refusal naming --force: %s", r.code, r.stderr)
	}
	if after := files(t, out); !sameFiles(before, after) {
		t.Errorf("a refused run changed the folder: %s", diffFiles(before, after))
	}
	mustRun(t, "run", "--config", jobFile, "--out", out, "--force", "-q")
	for _, f := range []string{"quarantine/keep.csv", "report.docx"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s of the user is gone after a forced run: %v", f, err)
		}
	}
	if _, err := rundir.Verify(out); err != nil {
		t.Fatal(err)
	}
	// A rerun (no --force: the folder is now crosscheck's) still keeps them.
	mustRun(t, "run", "--config", jobFile, "--out", out, "-q")
	if _, err := os.Stat(filepath.Join(out, "quarantine", "keep.csv")); err != nil {
		t.Errorf("quarantine/keep.csv gone after a rerun: %v", err)
	}

	home := t.TempDir()
	os.WriteFile(filepath.Join(home, ".profile"), []byte("x"), 0o644)
	for _, dir := range []string{"/", home} {
		r := crosscheck(t, []string{"HOME=" + home}, "run", "--config", jobFile, "--out", dir, "--force", "-q")
		if r.code == 0 || !strings.Contains(r.stderr, "system or home folder") {
			t.Errorf("--out %s: exit %d, want a refusal: %s", dir, r.code, r.stderr)
		}
	}
	if _, err := os.Stat("/hits.csv"); err == nil {
		t.Errorf("/hits.csv exists")
	}
}

// TestImportRefusesIncompleteRun: `cases import` refuses a run folder
// whose hits.parquet is empty (a crash), cut or changed, or that has no
// manifest, and accepts the complete run; a version-1 manifest (no
// outputs list) is accepted only with a whole Parquet file.
func TestImportRefusesIncompleteRun(t *testing.T) {
	t.Parallel()
	jobFile := sample(t)
	base := filepath.Join(t.TempDir(), "out")
	mustRun(t, "run", "--config", jobFile, "--out", base, "-q")
	if r := importInto(t, base); refusedIncomplete(r) {
		t.Fatalf("import refused a complete run: %s", r.stderr)
	}
	hits, err := os.ReadFile(filepath.Join(base, "hits.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	for name, damage := range map[string]func(dir string){
		"empty hits.parquet": func(dir string) { os.WriteFile(filepath.Join(dir, "hits.parquet"), nil, 0o644) },
		"cut hits.parquet":   func(dir string) { os.WriteFile(filepath.Join(dir, "hits.parquet"), hits[:len(hits)/2], 0o644) },
		"no manifest":        func(dir string) { os.Remove(filepath.Join(dir, "manifest.json")) },
		"cut cases.csv": func(dir string) {
			os.Truncate(filepath.Join(dir, "cases.csv"), 100)
		},
		// A commit record whose temporary folder was deleted: the swap
		// cannot be completed, the folder is not a complete run.
		"commit record without its temporary folder": func(dir string) {
			os.WriteFile(filepath.Join(dir, rundir.CommitName), []byte(`{"tmp": ".crosscheck-tmp-gone", "remove": [], "move": ["hits.parquet"], "manifest_sha256": "00"}`), 0o644)
		},
		"v1 manifest, empty hits.parquet": func(dir string) {
			writeV1(t, dir)
			os.WriteFile(filepath.Join(dir, "hits.parquet"), nil, 0o644)
		},
	} {
		dir := filepath.Join(t.TempDir(), "damaged")
		copyDir(t, base, dir)
		damage(dir)
		r := importInto(t, dir)
		if r.code == 0 {
			t.Errorf("%s: cases import exited 0:\n%s", name, r.stdout)
		} else if !strings.Contains(r.stderr, "run folder incomplete") {
			t.Errorf("%s: cases import failed without saying the run is incomplete: %s", name, r.stderr)
		}
	}
	v1 := filepath.Join(t.TempDir(), "v1")
	copyDir(t, base, v1)
	writeV1(t, v1)
	if r := importInto(t, v1); refusedIncomplete(r) {
		t.Errorf("import refused a complete version-1 run folder: %s", r.stderr)
	}
}

// writeV1 rewrites dir's manifest as an older crosscheck wrote it.
func writeV1(t *testing.T, dir string) {
	t.Helper()
	p := filepath.Join(dir, "manifest.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "format_version")
	delete(m, "outputs")
	b, _ = json.Marshal(m)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// lockedBuffer is a bytes.Buffer a child process writes while the test reads.
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

func waitFor(t *testing.T, b *lockedBuffer, text string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(b.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output after 60 s:\n%s", text, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
