package rundir

import (
	"os"
	"strconv"
	"sync/atomic"
)

// KillPointEnv names the test hook: when it holds N > 0, the N-th call of
// Step kills the process with SIGKILL (a real kill: no deferred code, no
// flush), so tests can stop a run at every point of its write stage. With
// KillPointEnv+"_LOG" = 1 as well, every step is logged to stderr.
const KillPointEnv = "CROSSCHECK_TEST_KILL_POINT"

var (
	killPoint = func() int64 {
		n, _ := strconv.ParseInt(os.Getenv(KillPointEnv), 10, 64)
		return n
	}()
	steps atomic.Int64
)

// Step marks one step of the write stage (a file written, renamed or
// removed). It does nothing unless the test hook is set.
func Step(name string) {
	if killPoint <= 0 {
		return
	}
	n := steps.Add(1)
	if os.Getenv(KillPointEnv+"_LOG") == "1" {
		os.Stderr.WriteString("test hook: write step " + strconv.FormatInt(n, 10) + " (" + name + ")\n")
	}
	if n == killPoint {
		os.Stderr.WriteString("test hook: SIGKILL at write step " + strconv.FormatInt(killPoint, 10) + " (" + name + ")\n")
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			_ = p.Kill() // SIGKILL on Unix
		}
		select {} // the signal is on its way
	}
}
