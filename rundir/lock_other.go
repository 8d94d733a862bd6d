//go:build !unix

package rundir

import (
	"os"
	"path/filepath"
)

// acquire creates the lock file as the folder's marker. Outside Unix there
// is no flock: concurrent runs into one folder are not detected.
func acquire(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, LockName), os.O_RDWR|os.O_CREATE, 0o644)
}

func release(f *os.File) { f.Close() }

// lockShortly has no lock to take outside Unix.
func lockShortly(dir string) (func(), error) { return func() {}, nil }
