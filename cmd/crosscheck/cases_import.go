package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/crosscheck/crosscheck/casestore"
)

// importRun imports a run folder (dir) or a hits file (hits; its manifest
// from o.Manifest or beside it) and prints how the run's hits and cases
// became store cases. A run imported before changes nothing and is not an
// error: the same run id means the same inputs, rules and engine, hence
// the same hits (runs are idempotent).
func importRun(cmd *cobra.Command, st *casestore.Store, dir, hits string, o casestore.ImportOptions) error {
	if err := checkImportArgs(dir, hits); err != nil {
		return err
	}
	var res *casestore.ImportResult
	var err error
	if dir != "" {
		res, err = st.ImportRun(cmd.Context(), dir, o)
	} else {
		res, err = st.Import(cmd.Context(), hits, o)
	}
	w := cmd.OutOrStdout()
	if errors.Is(err, casestore.ErrAlreadyImported) {
		return printAlreadyImported(st, w, err)
	}
	if err != nil {
		return err
	}
	printImport(w, res, st.Count())
	return nil
}

// checkImportArgs wants exactly one of a run folder and a hits file.
func checkImportArgs(dir, hits string) error {
	if (dir == "") == (hits == "") {
		return errors.New("give the run folder (crosscheck cases import out/demo --store cases.duckdb) or --hits FILE, one of them")
	}
	return nil
}

func printAlreadyImported(st *casestore.Store, w io.Writer, err error) error {
	var ae *casestore.AlreadyImportedError
	if !errors.As(err, &ae) {
		return err
	}
	fmt.Fprintf(w, "run %s was imported before (%s by %s): nothing changed; %d cases in store\n",
		ae.RunID, ae.ImportedAt.Local().Format("2006-01-02 15:04"), ae.ImportedBy, st.Count())
	return nil
}

// printImport explains the import's counts: hits → run cases (one per
// person, program and period, as the run's summary and cases.csv count
// them) → store cases (one per person and program while open).
func printImport(w io.Writer, r *casestore.ImportResult, inStore int) {
	fmt.Fprintf(w, "run %s: %d hits in %d run cases (one per person, program and period)\n", r.RunID, r.Hits, r.RunCases)
	fmt.Fprintf(w, "  %d run cases - %d matched to the exception register (%d hits) - %d merged across periods (one case per person and program) = %d store cases:\n",
		r.RunCases, r.RunCasesExcepted, r.ExceptedHits, r.PeriodsMerged, r.NewCases+r.MergedCases)
	fmt.Fprintf(w, "    %d new, %d already in the store gained hits (%d of them dismissed with the same evidence: %d hits suppressed, case unchanged; %d reopened)\n",
		r.NewCases, r.MergedCases, r.SuppressedCases, r.SuppressedHits, r.ReopenedCases)
	if r.WithdrawnDeaths > 0 {
		fmt.Fprintf(w, "  %d cases whose death record this run no longer sees (flagged death withdrawn)\n", r.WithdrawnDeaths)
	}
	if r.NoCounty > 0 {
		fmt.Fprintf(w, "  %d of these cases have no county: %d in their department's prefecture or province queue, %d with no region (admin and analyst only)\n",
			r.NoCounty, r.NoCounty-r.NoRegion, r.NoRegion)
	}
	fmt.Fprintf(w, "%d cases in store (%.1fs)\n", inStore, r.Elapsed.Seconds())
}
