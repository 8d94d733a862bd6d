package rundir

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// CommitName is the commit record: written (temporary name, fsync,
// rename, fsync of the folder) once the new run is complete in its
// temporary folder, removed last when the swap is done. Its presence is
// the commit point: whoever opens the folder next completes the swap.
const CommitName = ".crosscheck-commit.json"

// commitRecord is the content of CommitName: everything needed to finish
// a swap without the process that started it.
type commitRecord struct {
	// Tmp is the temporary folder's name inside the output folder; it
	// holds the files still to move and the new manifest.json.
	Tmp string `json:"tmp"`
	// Remove lists the old run's files the new run does not write.
	Remove []string `json:"remove"`
	// Move lists the new run's files (manifest.json aside, moved last).
	Move []string `json:"move"`
	// ManifestSHA256 tells the new manifest.json from the old one.
	ManifestSHA256 string `json:"manifest_sha256"`
	PID            int    `json:"pid"`
}

// errUnrecoverable marks a commit record that cannot be completed: its
// temporary folder lost a file that is not in place either.
var errUnrecoverable = errors.New("interrupted swap cannot be completed")

func readRecord(dir string) (*commitRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, CommitName))
	if err != nil {
		return nil, err
	}
	rec := &commitRecord{}
	if err := json.Unmarshal(b, rec); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, CommitName), err)
	}
	if !strings.HasPrefix(rec.Tmp, TmpPrefix) || filepath.Base(rec.Tmp) != rec.Tmp {
		return nil, fmt.Errorf("%s: temporary folder %q is not one of crosscheck's", filepath.Join(dir, CommitName), rec.Tmp)
	}
	for _, n := range append(append([]string{}, rec.Remove...), rec.Move...) {
		if err := checkName(n); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, CommitName), err)
		}
	}
	return rec, nil
}

// recoverCommit completes a swap a killed run left behind, if the folder
// has a commit record. The caller holds the folder's lock (or there is
// none to hold). It reports whether there was a swap to complete.
func recoverCommit(dir string) (bool, error) {
	rec, err := readRecord(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, rollForward(dir, rec)
}

// rollForward performs the swap a commit record describes. Every step
// may have been done already by a process killed after it, so each is
// idempotent: a file no longer in the temporary folder but in place is
// skipped, and once the new manifest.json is in place only the clean-up
// is left.
func rollForward(dir string, rec *commitRecord) error {
	tmp := filepath.Join(dir, rec.Tmp)
	newManifest := filepath.Join(tmp, ManifestName)
	manifest := filepath.Join(dir, ManifestName)
	if _, err := os.Stat(newManifest); err == nil {
		// Owned: the old run's files and the new ones, so that whatever
		// happens below, crosscheck knows every file it wrote.
		set, err := owned(dir)
		if err != nil {
			return err
		}
		for _, n := range rec.Remove {
			set[n] = true
		}
		for _, n := range rec.Move {
			set[n] = true
		}
		if err := writeOwned(dir, set); err != nil {
			return err
		}
		Step("owned list")
		// Without manifest.json during the swap, a reader that does not
		// know commit records (an older crosscheck, a script) sees no
		// complete run rather than the old manifest beside new files.
		if err := os.Remove(manifest); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := syncDir(dir); err != nil {
			return err
		}
		Step("old manifest removed")
		for _, n := range rec.Remove {
			if err := os.Remove(filepath.Join(dir, filepath.FromSlash(n))); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			Step("old file removed")
		}
		dirs := map[string]bool{dir: true}
		for _, n := range rec.Move {
			src, dst := filepath.Join(tmp, filepath.FromSlash(n)), filepath.Join(dir, filepath.FromSlash(n))
			if _, err := os.Lstat(src); errors.Is(err, os.ErrNotExist) {
				if _, err := os.Lstat(dst); err == nil {
					continue // moved before a kill
				}
				return fmt.Errorf("%w: %s is neither in %s nor in place", errUnrecoverable, n, rec.Tmp)
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := os.Rename(src, dst); err != nil {
				return err
			}
			dirs[filepath.Dir(dst)] = true
			Step("file moved")
		}
		for d := range dirs {
			if err := syncDir(d); err != nil {
				return err
			}
		}
		if err := os.Rename(newManifest, manifest); err != nil {
			return err
		}
		if err := syncDir(dir); err != nil {
			return err
		}
		Step("manifest moved")
	} else if sum, err := HashFile(manifest); err != nil || sum != rec.ManifestSHA256 {
		return fmt.Errorf("%w: the new manifest.json is neither in %s nor in place", errUnrecoverable, rec.Tmp)
	}
	// The new run is in place: clean up.
	next := map[string]bool{}
	for _, n := range rec.Move {
		next[n] = true
	}
	if err := writeOwned(dir, next); err != nil {
		return err
	}
	Step("owned list updated")
	// Remove folders the old run left empty (quarantine/ when this run
	// quarantined nothing); a folder holding anything else stays.
	for _, n := range rec.Remove {
		if d := filepath.Dir(filepath.FromSlash(n)); d != "." {
			_ = os.Remove(filepath.Join(dir, d))
		}
	}
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	Step("temporary folder removed")
	if err := os.Remove(filepath.Join(dir, CommitName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	Step("commit record removed")
	return nil
}

// writeRecord writes the commit record for a swap from r.Tmp: the commit
// point.
func (r *Run) writeRecord(remove []string, outputs []Output, manifestSum string) (*commitRecord, error) {
	rec := &commitRecord{Tmp: filepath.Base(r.Tmp), Remove: remove, ManifestSHA256: manifestSum, PID: os.Getpid()}
	for _, o := range outputs {
		rec.Move = append(rec.Move, o.File)
	}
	sort.Strings(rec.Move)
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return nil, err
	}
	return rec, writeAtomic(r.Dir, CommitName, append(b, '\n'))
}

// syncFiles flushes the files of the temporary folder and its folders to
// disk, so that the commit point is reached only with every byte of the
// new run stored.
func syncFiles(tmp string, outputs []Output) error {
	dirs := map[string]bool{tmp: true}
	for _, o := range outputs {
		p := filepath.Join(tmp, filepath.FromSlash(o.File))
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", p, err)
		}
		dirs[filepath.Dir(p)] = true
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// unrecoverableToOwned is what Open does with a commit record it cannot
// complete (its temporary folder was deleted by hand): every file the
// record names becomes owned, so that the new run replaces or removes
// them, and the record goes.
func unrecoverableToOwned(dir string) error {
	rec, err := readRecord(dir)
	if err == nil {
		set, err := owned(dir)
		if err != nil {
			return err
		}
		for _, n := range append(append([]string{}, rec.Remove...), rec.Move...) {
			set[n] = true
		}
		if err := writeOwned(dir, set); err != nil {
			return err
		}
	}
	if err := os.Remove(filepath.Join(dir, CommitName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(dir)
}

// sha256Of is the hex SHA-256 of b.
func sha256Of(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
