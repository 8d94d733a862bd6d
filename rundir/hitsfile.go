package rundir

import (
	"fmt"
	"os"
	"path/filepath"
)

// VerifyHits checks a hits file given to `cases import --hits` on its own.
// When its folder is a crosscheck run folder (it has a manifest.json or
// crosscheck's lock or ownership marker) the whole folder must verify, so
// that a run killed while writing is never imported in part; a hits file
// elsewhere must at least be a whole Parquet file (the Info is then nil).
func VerifyHits(hits string) (*Info, error) {
	dir := filepath.Dir(hits)
	for _, marker := range []string{ManifestName, LockName, OwnedName} {
		if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
			return Verify(dir)
		}
	}
	if err := checkParquet(hits); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIncomplete, err)
	}
	return nil, nil
}
