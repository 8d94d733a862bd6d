//go:build unix

package rundir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// LockFile takes an exclusive flock on the file at path (created if
// missing) without waiting, and writes this process's id into it; unlock
// releases it (the file stays). The kernel releases a flock when its
// process dies, SIGKILL included, so a killed process leaves no stale
// lock. When another process holds the lock the error is a *HeldError
// naming it. Outside Unix there is no flock: nothing is detected.
func LockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := strings.TrimSpace(string(b))
			if who == "" {
				who = "pid unknown"
			}
			return nil, &HeldError{Path: path, Holder: who}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	host, _ := os.Hostname()
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "pid %d on %s, started %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	}
	return func() { release(f) }, nil
}

func release(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	f.Close()
}

// lockShortly takes the folder's lock for a reader: shared when there is
// no interrupted swap to complete (readers do not hold each other up),
// exclusive when there is. Non-blocking, retried for a few seconds
// (another reader may hold it exclusively while it completes a swap). A
// folder without a lock file has no run to wait for. A lock held by a live
// run is refused naming it.
func lockShortly(dir string) (func(), error) {
	p := filepath.Join(dir, LockName)
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	how := syscall.LOCK_SH
	if _, err := os.Lstat(filepath.Join(dir, CommitName)); err == nil {
		how = syscall.LOCK_EX
	}
	for i := 0; ; i++ {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil && how == syscall.LOCK_SH {
			// A run killed after its commit point since the check above
			// left a record: complete it under the exclusive lock.
			if _, err := os.Lstat(filepath.Join(dir, CommitName)); err == nil {
				how = syscall.LOCK_EX
				continue
			}
		}
		if err == nil {
			return func() { release(f) }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", p, err)
		}
		if i == 100 {
			b, _ := os.ReadFile(p)
			f.Close()
			who := strings.TrimSpace(string(b))
			if who == "" {
				who = "pid unknown"
			}
			return nil, fmt.Errorf("%w: 一个 crosscheck 运行（%s）正在写入 %s，请等它结束后再试 / a run is writing this folder (%s): %s; try again when it has finished",
				ErrLocked, who, dir, who, dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
