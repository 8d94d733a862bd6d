//go:build !unix

package rundir

import "os"

// LockFile creates the lock file. Outside Unix there is no flock:
// concurrent holders are not detected.
func LockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// lockShortly has no lock to take outside Unix.
func lockShortly(dir string) (func(), error) { return func() {}, nil }
