package engine

import (
	"errors"
	"fmt"

	"github.com/crosscheck/crosscheck/rundir"
)

// lockStore takes the store's writer lock (STORE.lock, an exclusive flock
// through rundir.LockFile): one refresh at a time. The kernel drops it
// when the process dies, SIGKILL included. Screeners take no lock: they
// read the file the last refresh renamed into place.
func lockStore(path string) (func(), error) {
	unlock, err := rundir.LockFile(path + ".lock")
	var held *rundir.HeldError
	if errors.As(err, &held) {
		return nil, fmt.Errorf("另一个 store refresh（%s）正在更新 %s / another store refresh (%s) is updating %s",
			held.Holder, path, held.Holder, path)
	}
	return unlock, err
}
