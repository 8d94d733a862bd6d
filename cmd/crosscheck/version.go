package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
)

// commit and buildDate are set at build time by the Makefile:
//
//	-ldflags "-X main.commit=$(git rev-parse HEAD) -X main.buildDate=2026-12-07T05:00:00Z"
var (
	commit    = "unknown"
	buildDate = "unknown"
)

// buildInfo is what `crosscheck version` prints.
type buildInfo struct {
	Version       string `json:"version"`
	Commit        string `json:"commit"`
	BuildDate     string `json:"build_date"`
	GoVersion     string `json:"go_version"`
	DuckDBVersion string `json:"duckdb_version"`
	DuckDBSource  string `json:"duckdb_source_id"`
	Platform      string `json:"platform"`
}

// duckDBVersion asks an in-memory DuckDB for its library version and source
// id, so the printed version is the one linked into this binary.
func duckDBVersion(ctx context.Context) (version, source string, err error) {
	s, err := engine.Open(ctx, job.Engine{Database: ":memory:", Threads: 1})
	if err != nil {
		return "", "", err
	}
	defer s.Close()
	err = s.DB.QueryRowContext(ctx, "SELECT library_version, source_id FROM pragma_version()").Scan(&version, &source)
	return version, source, err
}

func newVersion() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date, Go and DuckDB versions and the platform",
		Example: `  crosscheck version
  crosscheck version --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b := buildInfo{Version: engine.Version, Commit: commit, BuildDate: buildDate,
				GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
			var err error
			if b.DuckDBVersion, b.DuckDBSource, err = duckDBVersion(cmd.Context()); err != nil {
				return fmt.Errorf("ask DuckDB for its version: %w", err)
			}
			return printBuildInfo(cmd.OutOrStdout(), b, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print as one JSON object")
	return c
}

func printBuildInfo(w io.Writer, b buildInfo, asJSON bool) error {
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(b)
	}
	_, err := fmt.Fprintf(w, "crosscheck %s\n  commit:     %s\n  built:      %s\n  go:         %s\n  duckdb:     %s (%s)\n  platform:   %s\n",
		b.Version, b.Commit, b.BuildDate, b.GoVersion, b.DuckDBVersion, b.DuckDBSource, b.Platform)
	return err
}
