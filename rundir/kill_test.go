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

// TestKillDuringWrite reruns a job over a complete run and kills the rerun
// with a real SIGKILL at every step of its write stage (the test hook
// CROSSCHECK_TEST_KILL_POINT=N makes the process kill itself at the N-th
// step), then at random moments from outside. After each kill the folder
// holds the complete old run or the complete new one — same files, same
// hashes, manifest of that run — or no complete run at all (no
// manifest.json, during the swap), which `cases import` refuses. The next
// run over a killed folder cleans up and completes.
//
// The rerun differs from the old run in its results (grace_months) and in
// its files (formats: [parquet] drops hits.csv and cases.csv), so that
// both the removal of old files and the move of new ones are cut.
func TestKillDuringWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs crosscheck a dozen times; skipped under -short")
	}
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
	var stepNames []string
	for _, line := range strings.Split(rr.stderr, "\n") {
		if _, name, ok := strings.Cut(line, "test hook: write step "); ok {
			stepNames = append(stepNames, name)
		}
	}
	// Every point with CROSSCHECK_KILL_ALL_POINTS=1; by default the first
	// write step, the first step of each kind of the swap and the last one
	// (each point is a run of seconds).
	all := os.Getenv("CROSSCHECK_KILL_ALL_POINTS") == "1"
	var points []int
	kinds := map[string]bool{}
	for i, line := range stepNames {
		kind := line[strings.Index(line, "(")+1:]
		swap := strings.Contains(kind, "owned") || strings.Contains(kind, "removed") || strings.Contains(kind, "moved")
		if all || i == 0 || (swap && !kinds[kind]) || i == len(stepNames)-1 {
			points = append(points, i+1)
		}
		kinds[kind] = true
	}
	points = append(points, len(stepNames)+1) // past the last step: the run finishes
	t.Logf("%d write steps, killing at %v", len(stepNames), points)
	if oldID == newID || sameFiles(oldFiles, newFiles) {
		t.Fatal("the old and the new run are not told apart")
	}

	// check classifies the folder after a kill and returns "old", "new"
	// or "incomplete".
	imported := map[string]bool{}
	check := func(label, dir string) string {
		t.Helper()
		got := files(t, dir)
		info, err := rundir.Verify(dir)
		state := "incomplete"
		switch {
		case err == nil && info.RunID == oldID && sameFiles(got, oldFiles):
			state = "old"
		case err == nil && info.RunID == newID && sameFiles(got, newFiles):
			state = "new"
		case err == nil:
			t.Errorf("%s: the folder verifies but holds neither run (run %s; differs from old in %s; from new in %s)",
				label, info.RunID, diffFiles(got, oldFiles), diffFiles(got, newFiles))
		}
		if _, merr := os.Stat(filepath.Join(dir, rundir.ManifestName)); state == "incomplete" && merr == nil {
			t.Errorf("%s: manifest.json present in a folder that does not verify (%v)", label, err)
		}
		// cases import must refuse an incomplete folder and take a
		// complete one (checked once per state: each import takes a second).
		if !imported[state] {
			imported[state] = true
			r := importInto(t, dir)
			if state == "incomplete" && !refusedIncomplete(r) {
				t.Errorf("%s: cases import did not refuse an incomplete run folder: exit %d %s", label, r.code, r.stderr)
			}
			if state != "incomplete" && refusedIncomplete(r) {
				t.Errorf("%s: cases import refused the complete %s run: %s", label, state, r.stderr)
			}
		}
		return state
	}

	seen := map[string]int{}
	killed := 0
	for _, n := range points {
		dir := filepath.Join(tmp, fmt.Sprintf("kill-%d", n))
		copyDir(t, base, dir)
		r := crosscheck(t, []string{rundir.KillPointEnv + "=" + fmt.Sprint(n)}, "run", "--config", newJob, "--out", dir, "-q")
		if n > len(stepNames) {
			if r.code != 0 {
				t.Fatalf("the run with no step left to kill at failed: %s", r.stderr)
			}
			if s := check("no kill", dir); s != "new" {
				t.Errorf("a run that finished left the %s state", s)
			}
			break
		}
		if r.code == 0 || !strings.Contains(r.stderr, "SIGKILL at write step") {
			t.Fatalf("kill point %d: the hook did not kill the run: exit %d: %s", n, r.code, r.stderr)
		}
		killed++
		state := check(fmt.Sprintf("kill point %d %s", n, stepNames[n-1]), dir)
		seen[state]++
		// The next run over a folder killed mid-swap cleans the temporary
		// folder and completes.
		if state == "incomplete" && seen[state] == 1 {
			mustRun(t, "run", "--config", newJob, "--out", dir, "-q")
			if s := check(fmt.Sprintf("rerun after kill point %d", n), dir); s != "new" {
				t.Errorf("rerun after kill point %d: state %s", n, s)
			}
			if tmps, _ := filepath.Glob(filepath.Join(dir, rundir.TmpPrefix+"*")); len(tmps) > 0 {
				t.Errorf("temporary folders left after a rerun: %v", tmps)
			}
		}
	}
	t.Logf("%d kills: %v", killed, seen)
	if seen["old"] == 0 || seen["new"] == 0 || seen["incomplete"] == 0 {
		t.Errorf("kill points did not cover the old, the swap and the new state: %v", seen)
	}

	// Kills from outside at random moments of the write stage: as soon
	// as hits.parquet appears in the run's temporary folder, wait 0–40 ms
	// and send SIGKILL.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	random := 1
	if all {
		random = 5
	}
	for i := range random {
		dir := filepath.Join(tmp, fmt.Sprintf("random-%d", i))
		copyDir(t, base, dir)
		cmd := exec.Command(bin, "run", "--config", newJob, "--out", dir, "-q")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		delay := time.Duration(rng.IntN(40)) * time.Millisecond
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
		t.Logf("SIGKILL %v after hits.parquet was written (exit: %v): %s", delay, exited,
			check(fmt.Sprintf("random kill %v into the write stage", delay), dir))
	}
}
