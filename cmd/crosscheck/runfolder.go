package main

import "github.com/crosscheck/crosscheck/rundir"

// verifyImport refuses what `cases import` must not read in part: a run
// folder must hold a complete run; a hits file must be a whole Parquet file
// and, inside a run folder, that folder must be complete.
func verifyImport(dir, hits string) (*rundir.Info, error) {
	if dir != "" {
		return rundir.Verify(dir)
	}
	return rundir.VerifyHits(hits)
}
