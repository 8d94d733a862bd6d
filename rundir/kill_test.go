package rundir_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/rundir"
)

// importAccepted tells whether `cases import` took the run folder: neither
// refused as incomplete nor as being written. (Whether the case store
// then imports the run is the case store's business, tested there.)
func importAccepted(r result) bool {
	return r.code == 0 || !strings.Contains(r.stderr, "run folder incomplete") && !strings.Contains(r.stderr, "run is writing")
}

// TestKillDuringWrite reruns a job over a complete run and kills the rerun
// with a real SIGKILL at steps of its write stage (the test hook
// CROSSCHECK_TEST_KILL_POINT=N makes the process kill itself at the N-th
// step), then at a random moment from outside. After each kill, what a
// crosscheck reader finds is the complete old run (killed before the
// commit record was written) or the complete new one (killed at or after
// it): `crosscheck cases import` accepts the folder — completing the swap
// the killed run left — and the folder then holds exactly the old or the
// new run's files, byte for byte, with that run's manifest. Never half.
//
// The rerun differs from the old run in its results (grace_months) and in
// its files (formats: [parquet] drops hits.csv and cases.csv), so that
// both the removal of old files and the move of new ones are cut.
//
// By default the test kills before, at and inside the commit (the first
// write step, the last step before the commit record, the record itself,
// the first step of each kind of the swap and of its clean-up, the last
// step); CROSSCHECK_KILL_ALL_POINTS=1 kills at every step.
func TestKillDuringWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs crosscheck a dozen times; skipped under -short")
	}
	t.Parallel()
	jobFile := sample(t)
	newJob := variant(t, jobFile, "new.yaml", "grace_months: 0", "grace_months: 1", "formats: [parquet, csv]", "formats: [parquet]")
	tmp := t.TempDir()
	base := filepath.Join(tmp, "base")
	mustRun(t, "run", "--config", jobFile, "--out", base, "-q")
	oldFiles, oldID := files(t, base), runID(t, base)
	// The reference run of the new job over the old run lists the write
	// steps.
	ref := filepath.Join(tmp, "ref")
	copyDir(t, base, ref)
	rr := crosscheck(t, []string{rundir.KillPointEnv + "=1000000", rundir.KillPointEnv + "_LOG=1"}, "run", "--config", newJob, "--out", ref, "-q")
	if rr.code != 0 {
		t.Fatalf("reference run: %s", rr.stderr)
	}
	newFiles, newID := files(t, ref), runID(t, ref)
	if oldID == newID || sameFiles(oldFiles, newFiles) {
		t.Fatal("the old and the new run are not told apart")
	}
	var stepNames []string
	for _, line := range strings.Split(rr.stderr, "\n") {
		if _, name, ok := strings.Cut(line, "test hook: write step "); ok {
			stepNames = append(stepNames, name)
		}
	}
	commit := 0 // the step of the commit record
	for i, s := range stepNames {
		if strings.Contains(s, "commit record written") {
			commit = i + 1
		}
	}
	if commit == 0 {
		// A build without a commit record (CROSSCHECK_BIN of an older
		// crosscheck): its new run is complete at its last step.
		t.Logf("no commit record step among %v", stepNames)
		commit = len(stepNames)
	}
	all := os.Getenv("CROSSCHECK_KILL_ALL_POINTS") == "1"
	var points []int
	kinds := map[string]bool{}
	for i, line := range stepNames {
		n := i + 1
		kind := line[strings.Index(line, "(")+1:]
		if all || n == 1 || n == commit-1 || n == commit || (n > commit && !kinds[kind]) || n == len(stepNames) {
			points = append(points, n)
		}
		kinds[kind] = true
	}
	t.Logf("%d write steps (commit record at %d), killing at %v", len(stepNames), commit, points)

	// reader checks the folder as crosscheck's readers see it: `cases
	// import` must accept it, and then the folder must hold the wanted
	// run, complete, with no commit record left.
	reader := func(t *testing.T, dir, want string) {
		t.Helper()
		if r := importInto(t, dir); !importAccepted(r) {
			t.Fatalf("cases import refused the folder (want the complete %s run): exit %d\n%s", want, r.code, r.stderr)
		}
		wantFiles, wantID := oldFiles, oldID
		if want == "new" {
			wantFiles, wantID = newFiles, newID
		}
		got := files(t, dir)
		if !sameFiles(got, wantFiles) || runID(t, dir) != wantID {
			t.Fatalf("after cases import the folder is not the complete %s run: run %s, files differing from it: %s",
				want, runID(t, dir), diffFiles(got, wantFiles))
		}
		info, err := rundir.Verify(dir)
		if err != nil || info.RunID != wantID {
			t.Fatalf("Verify after cases import: %+v %v", info, err)
		}
		if _, err := os.Stat(filepath.Join(dir, rundir.CommitName)); err == nil {
			t.Errorf("the commit record is still there after cases import")
		}
	}

	for _, n := range points {
		name := fmt.Sprintf("%02d-%s", n, strings.NewReplacer(" ", "_", "(", "", ")", "").Replace(stepNames[n-1][strings.Index(stepNames[n-1], "("):]))
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(tmp, fmt.Sprintf("kill-%d", n))
			copyDir(t, base, dir)
			r := crosscheck(t, []string{rundir.KillPointEnv + "=" + fmt.Sprint(n)}, "run", "--config", newJob, "--out", dir, "-q")
			if r.code == 0 || !strings.Contains(r.stderr, "SIGKILL at write step") {
				t.Fatalf("the hook did not kill the run: exit %d: %s", r.code, r.stderr)
			}
			want := "old"
			if n >= commit {
				want = "new"
			}
			// On disk: a commit record exactly when the kill came between
			// the commit point and the end of the clean-up.
			_, err := os.Stat(filepath.Join(dir, rundir.CommitName))
			if hasRecord := err == nil; hasRecord != (n >= commit && n < len(stepNames)) {
				t.Errorf("commit record on disk after the kill: %v", hasRecord)
			}
			killed := filepath.Join(tmp, fmt.Sprintf("kill-%d-copy", n))
			copyDir(t, dir, killed)
			reader(t, dir, want)

			// The next run over the killed folder completes the swap
			// itself (or finds the old run) before it starts: rerunning
			// the old job gives exactly the old run, no file of the new
			// one left behind, no temporary folder.
			if n == commit-1 || n == commit || n == commit+3 {
				mustRun(t, "run", "--config", jobFile, "--out", killed, "-q")
				if got := files(t, killed); !sameFiles(got, oldFiles) || runID(t, killed) != oldID {
					t.Errorf("the old job rerun over the killed folder: files differing from the old run: %s", diffFiles(got, oldFiles))
				}
				if left, _ := filepath.Glob(filepath.Join(killed, ".crosscheck-[tc]*")); len(left) > 0 {
					t.Errorf("left after a rerun: %v", left)
				}
			}
		})
	}

	// A reader killed while it completes the swap: the next reader
	// completes it (each step of the roll-forward is idempotent).
	t.Run("kill-during-recovery", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(tmp, "recovery")
		copyDir(t, base, dir)
		if r := crosscheck(t, []string{rundir.KillPointEnv + "=" + fmt.Sprint(commit)}, "run", "--config", newJob, "--out", dir, "-q"); r.code == 0 {
			t.Fatal("the run was not killed")
		}
		// The import's recovery steps: owned list, old manifest removed,
		// old file removed, file moved… Kill it at the fourth.
		r := crosscheck(t, []string{rundir.KillPointEnv + "=4"}, "cases", "import", "--hits", filepath.Join(dir, "hits.parquet"),
			"--store", filepath.Join(t.TempDir(), "cases.duckdb"), "-q")
		if r.code == 0 || !strings.Contains(r.stderr, "SIGKILL at write step") {
			t.Fatalf("the import was not killed during recovery: exit %d %s", r.code, r.stderr)
		}
		reader(t, dir, "new")
	})

	// `cases import` says when it completed an interrupted swap.
	t.Run("import-says-recovered", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(tmp, "recovered")
		copyDir(t, base, dir)
		if r := crosscheck(t, []string{rundir.KillPointEnv + "=" + fmt.Sprint(commit+3)}, "run", "--config", newJob, "--out", dir, "-q"); r.code == 0 {
			t.Fatal("the run was not killed")
		}
		if r := importInto(t, dir); !strings.Contains(r.stderr, "completed the swap of run "+newID) {
			t.Errorf("cases import did not say it completed the swap: %s", r.stderr)
		}
	})

	// A kill from outside at a random moment of the write stage: as soon
	// as hits.parquet appears in the run's temporary folder, wait 0–250 ms
	// (before, during or after the commit) and send SIGKILL. (CROSSCHECK_KILL_ALL_POINTS=1: five of them.)
	random := 1
	if all {
		random = 5
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := range random {
		delay := time.Duration(rng.IntN(250)) * time.Millisecond
		t.Run(fmt.Sprintf("random-%d", i), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(tmp, fmt.Sprintf("random-%d", i))
			copyDir(t, base, dir)
			cmd := exec.Command(bin, "run", "--config", newJob, "--out", dir, "-q")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var exited error
		poll:
			for {
				select {
				case exited = <-done:
					break poll
				default:
				}
				if m, _ := filepath.Glob(filepath.Join(dir, rundir.TmpPrefix+"*", "hits.parquet")); len(m) > 0 {
					time.Sleep(delay)
					cmd.Process.Signal(syscall.SIGKILL)
					exited = <-done
					break poll
				}
				time.Sleep(time.Millisecond)
			}
			// Killed before the commit point: the old run; after it (or
			// not killed at all): the new one.
			want := "new"
			if _, err := os.Stat(filepath.Join(dir, rundir.ManifestName)); err == nil && runID(t, dir) == oldID {
				if _, err := os.Stat(filepath.Join(dir, rundir.CommitName)); err != nil {
					want = "old"
				}
			}
			t.Logf("SIGKILL %v after hits.parquet was written (exit: %v): the %s run", delay, exited, want)
			reader(t, dir, want)
		})
	}
}
