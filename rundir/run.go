package rundir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Options tune Open.
type Options struct {
	// Force accepts a folder that holds files crosscheck did not write.
	// They are still never replaced nor deleted.
	Force bool
}

// ErrLocked is returned (wrapped) by Open when another run holds the
// folder's lock.
var ErrLocked = errors.New("output folder in use / 输出文件夹正被使用")

// ErrRefused is returned (wrapped) by Open for a folder a run must not
// write into.
var ErrRefused = errors.New("output folder refused / 拒绝使用该输出文件夹")

// Run is an output folder opened for one run: locked, with a fresh
// temporary folder inside it that the run writes every file into.
type Run struct {
	// Dir is the output folder (absolute).
	Dir string
	// Tmp is the run's temporary folder inside Dir.
	Tmp       string
	lock      func() // releases the folder's lock
	committed bool
}

// Open checks that dir may receive a run, takes its lock, removes the
// temporary folders of runs that were killed, and creates this run's
// temporary folder. dir is created when missing. It must be empty, hold a
// previous crosscheck output (manifest.json or the lock file), or be
// forced with Options.Force; the file system root, the home folder and
// system folders are refused even when forced.
func Open(dir string, opt Options) (*Run, error) {
	if err := Check(dir, opt); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	// Symbolic links are followed once the folder exists: --out pointing
	// at / through a link is still /.
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		if err := refused(real); err != nil {
			return nil, err
		}
	}
	if !opt.Force {
		if err := acceptable(abs); err != nil {
			return nil, err
		}
	}
	lock, err := acquire(abs)
	if err != nil {
		return nil, err
	}
	r := &Run{Dir: abs, lock: lock}
	// A run killed after its commit point left a swap to complete: the
	// folder then holds that run, complete, before this one starts.
	if _, err := recoverCommit(abs); err != nil {
		if !errors.Is(err, errUnrecoverable) {
			r.Close()
			return nil, fmt.Errorf("complete the interrupted swap in %s: %w", abs, err)
		}
		// Its temporary folder is gone: this run replaces the folder.
		if err := unrecoverableToOwned(abs); err != nil {
			r.Close()
			return nil, err
		}
	}
	ents, err := os.ReadDir(abs)
	if err != nil {
		r.Close()
		return nil, err
	}
	for _, e := range ents {
		// Holding the lock, every temporary folder is a killed run's.
		if e.IsDir() && strings.HasPrefix(e.Name(), TmpPrefix) {
			if err := os.RemoveAll(filepath.Join(abs, e.Name())); err != nil {
				r.Close()
				return nil, fmt.Errorf("remove the temporary folder of an interrupted run: %w", err)
			}
		}
	}
	r.Tmp = filepath.Join(abs, fmt.Sprintf("%s%s-%d", TmpPrefix, time.Now().UTC().Format("20060102T150405"), os.Getpid()))
	if err := os.Mkdir(r.Tmp, 0o755); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Check tells, without creating or changing anything, whether Open would
// accept dir: not a refused target, not a file, and (unless forced) empty,
// missing or a previous crosscheck output.
func Check(dir string, opt Options) error {
	if dir == "" {
		return fmt.Errorf("%w: no output folder given (--out or output.dir)", ErrRefused)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := refused(abs); err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		if err := refused(real); err != nil {
			return err
		}
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%w: %s 是文件而不是文件夹 / %s is a file, not a folder", ErrRefused, abs, abs)
	}
	if !opt.Force {
		return acceptable(abs)
	}
	return nil
}

// refused rejects targets no run should write into.
func refused(abs string) error {
	clean := filepath.Clean(abs)
	bad := map[string]bool{string(filepath.Separator): true}
	for _, d := range []string{"/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/opt", "/proc",
		"/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/mnt", "/media", "/usr/local", "/var/tmp"} {
		bad[d] = true
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		bad[filepath.Clean(home)] = true
	}
	if bad[clean] {
		return fmt.Errorf("%w: %s 是系统或主文件夹，不能作为输出文件夹 / %s is a system or home folder: give a folder of its own, e.g. --out out/run1",
			ErrRefused, clean, clean)
	}
	if wd, err := os.Getwd(); err == nil {
		// The working folder or one of its parents: the run would mix
		// with the job, its data or the project.
		for d := wd; ; d = filepath.Dir(d) {
			if d == clean {
				return fmt.Errorf("%w: %s 是当前工作文件夹或其上级 / %s is the working folder or one of its parents: give a folder of its own, e.g. --out out/run1",
					ErrRefused, clean, clean)
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return nil
}

// acceptable accepts an empty folder or a previous crosscheck output.
func acceptable(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) == 0 {
		return nil
	}
	var names []string
	for _, e := range ents {
		switch e.Name() {
		case ManifestName, LockName, OwnedName, CommitName:
			return nil
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if len(names) > 5 {
		names = append(names[:5], "…")
	}
	return fmt.Errorf("%w: %s 不为空，也不是 crosscheck 的输出文件夹（有 %s）/ %s is not empty and not a crosscheck output folder (it holds %s): "+
		"choose an empty or new folder, or pass --force (files crosscheck did not write are never deleted)",
		ErrRefused, dir, strings.Join(names, ", "), dir, strings.Join(names, ", "))
}

// Close removes the temporary folder of a run that did not commit and
// releases the lock. The lock file stays as the folder's marker.
func (r *Run) Close() error {
	var err error
	if r.Tmp != "" && !r.committed {
		err = os.RemoveAll(r.Tmp)
	}
	if r.lock != nil {
		r.lock()
		r.lock = nil
	}
	return err
}

// Commit moves the finished run from the temporary folder into place.
// outputs lists the files in the temporary folder (List), manifest is the
// manifest's content. The swap rolls forward from a commit record
// (docs/outputs.md, "The run folder"):
//
//  1. refuse if a new file would replace a file crosscheck did not write;
//  2. sync every new file, write the new manifest.json into the temporary
//     folder;
//  3. write the commit record .crosscheck-commit.json (temporary name,
//     fsync, rename, fsync of the folder): the commit point. A kill
//     before it leaves the old run; from it on, the next crosscheck that
//     opens the folder (a run, `cases import`) completes the swap;
//  4. the owned list records old ∪ new files, the old manifest.json and
//     the old files the new run does not write are removed, the new files
//     and then manifest.json are renamed into place;
//  5. the owned list becomes the new files, the temporary folder and last
//     the commit record are removed.
func (r *Run) Commit(outputs []Output, manifest []byte) error {
	old, err := owned(r.Dir)
	if err != nil {
		return err
	}
	next := map[string]bool{}
	for _, o := range outputs {
		if err := checkName(o.File); err != nil {
			return err
		}
		next[o.File] = true
		if old[o.File] {
			continue
		}
		if _, err := os.Lstat(filepath.Join(r.Dir, filepath.FromSlash(o.File))); err == nil {
			return fmt.Errorf("%w: %s 已存在且不是 crosscheck 写的，不会覆盖 / %s exists and was not written by crosscheck: move it away or choose another --out",
				ErrRefused, filepath.Join(r.Dir, o.File), filepath.Join(r.Dir, o.File))
		}
	}
	var stale []string
	for n := range old {
		if !next[n] {
			stale = append(stale, n)
		}
	}
	sort.Strings(stale)
	if err := syncFiles(r.Tmp, outputs); err != nil {
		return err
	}
	if err := writeAtomic(r.Tmp, ManifestName, manifest); err != nil {
		return err
	}
	Step("new manifest in the temporary folder")
	rec, err := r.writeRecord(stale, outputs, sha256Of(manifest))
	if err != nil {
		// The record may be in place even so (its folder's fsync
		// failed): keep the temporary folder for the recovery.
		if _, serr := os.Stat(filepath.Join(r.Dir, CommitName)); serr == nil {
			r.committed = true
		}
		return err
	}
	// From here the temporary folder belongs to the swap: Close must not
	// remove it even if a step below fails.
	r.committed = true
	Step("commit record written")
	return rollForward(r.Dir, rec)
}
