//go:build unix

package rundir_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/rundir"
)

// TestLockFile: a second holder is refused with a HeldError naming the
// first (flock locks belong to the open file, so two opens in one process
// conflict like two processes); once released the lock can be taken again.
func TestLockFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := rundir.LockFile(p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rundir.LockFile(p)
	var held *rundir.HeldError
	if !errors.As(err, &held) || held.Path != p || !strings.HasPrefix(held.Holder, fmt.Sprintf("pid %d on ", os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock2, err := rundir.LockFile(p)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	unlock2()
}
