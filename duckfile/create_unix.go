//go:build unix

package duckfile

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process with this id exists (a process of
// another user counts as alive).
func processAlive(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
