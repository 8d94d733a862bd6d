package rundir

import (
	"errors"
	"fmt"
	"path/filepath"
)

// HeldError is returned by LockFile when another process holds the lock.
type HeldError struct {
	// Path is the lock file.
	Path string
	// Holder is what the holder wrote into the lock file
	// ("pid N on HOST, started TIME"), or "pid unknown".
	Holder string
}

func (e *HeldError) Error() string { return fmt.Sprintf("%s is held by %s", e.Path, e.Holder) }

// acquire takes the run folder's lock (LockName).
func acquire(dir string) (func(), error) {
	unlock, err := LockFile(filepath.Join(dir, LockName))
	var held *HeldError
	if errors.As(err, &held) {
		return nil, fmt.Errorf("%w: 另一个 crosscheck 运行（%s）正在写入 %s，请等它结束或换一个 --out / another crosscheck run (%s) is writing to %s: wait for it to finish or choose another --out",
			ErrLocked, held.Holder, dir, held.Holder, dir)
	}
	return unlock, err
}
