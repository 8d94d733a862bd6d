package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crosscheck/crosscheck/connectors"
	_ "github.com/crosscheck/crosscheck/connectors/all"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
)

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "crosscheck",
		Short: "Screen subsidy payment rolls against departmental data",
		Long: `crosscheck compares the payment rolls of subsidy programs (惠民惠农财政补贴“一卡通”) with
extracts from public security, human resources and social security, civil affairs and other
departments, and writes every suspicious payment as a hit with its evidence.`,
		Example:       "  crosscheck run --config examples/henan-sample/job.yaml --out out/demo",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var cpuProfile string
	var profFile *os.File
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile to this file (for performance work)")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		profFile = f
		return pprof.StartCPUProfile(f)
	}
	root.PersistentPostRun = func(cmd *cobra.Command, args []string) {
		if profFile != nil {
			pprof.StopCPUProfile()
			profFile.Close()
		}
	}
	root.AddCommand(newRun(), newRulesCmd(), newSources(), newLink(), newCases(), newServe(), newGen(), newBench(), newVersion())
	root.AddCommand(newPublish(), newStore(), newScreen())
	return root
}

func newLogger(w io.Writer, quiet bool) *slog.Logger {
	level := slog.LevelInfo
	if quiet {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

func newRun() *cobra.Command {
	var cfg, out, lang, store string
	var raw, rawCells, force, quiet, verbose bool
	c := &cobra.Command{
		Use:   "run",
		Short: "Run a screening job: load sources, run the rules, write hits, cases, the quality report and report.html",
		Long: `run loads every source of the job, normalises ID numbers, names and dates, runs the rules and
writes to the output folder: hits.parquet/hits.csv, cases.parquet/cases.csv, quality.json/quality.md,
quarantine/SOURCE.csv, manifest.json and report.html (the run report with charts, one page that
opens offline). ID numbers are masked in CSV files unless --raw-ids is given; CSV cells starting
with = + - @ are prefixed with ' so that Excel shows them as text, unless --raw-cells.

Files are written to a temporary folder inside the output folder and moved into place when the run
succeeded, manifest.json last: the folder holds the complete previous run or the complete new one.
The output folder must be new, empty or an earlier crosscheck output (--force for a folder with
other files; crosscheck never deletes files it did not write). One run at a time per folder.

A run is a store refresh of the job's reference sources (every source but the payment rolls)
followed by the screening of every payment roll against that store, as crosscheck screen does
(docs/store.md). --store FILE keeps the store the run built (a full refresh into FILE), so that
screen --roll, screen --changed and serve --ref-store can use it without a second refresh;
without --store the store lives in a temporary folder and is removed after the run.

The summary on stdout is in Chinese; --lang en (or CROSSCHECK_LANG=en) switches it to English.
stderr gets warnings only (and a progress bar on a terminal); -v adds the INFO log lines.`,
		Example: `  crosscheck run --config examples/henan-sample/job.yaml --out out/demo
  crosscheck run --config examples/henan-sample/job.yaml --out out/demo --lang en -v
  crosscheck run --config examples/henan-sample/job.yaml --out out/demo --store out/ref.duckdb
  CROSSCHECK_ENGINE_MEMORY_LIMIT=8GiB crosscheck run --config job.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			lg, err := engine.SummaryLang(lang)
			if err != nil {
				return fmt.Errorf("--lang: %w", err)
			}
			j, err := job.Load(cfg)
			if err != nil {
				return err
			}
			res, err := engine.Run(cmd.Context(), j, engine.Options{OutDir: out, RawIDs: raw, RawCells: rawCells, Force: force, Store: store,
				Log:      newLogger(cmd.ErrOrStderr(), !verbose),
				Progress: terminal(cmd.ErrOrStderr(), quiet)})
			if err != nil {
				return err
			}
			res.PrintSummary(cmd.OutOrStdout(), lg)
			return nil
		},
	}
	c.Flags().StringVarP(&cfg, "config", "c", "", "job file (YAML)")
	c.Flags().StringVarP(&out, "out", "o", "", "output folder (default: the job's output.dir)")
	c.Flags().BoolVar(&raw, "raw-ids", false, "write ID numbers and account numbers unmasked in CSV files")
	c.Flags().BoolVar(&rawCells, "raw-cells", false, "write CSV cells verbatim (no ' before cells starting with = + - @)")
	c.Flags().BoolVar(&force, "force", false, "write into a folder that holds other files (they are never deleted)")
	c.Flags().StringVar(&lang, "lang", "", "language of the summary: zh or en (default: CROSSCHECK_LANG, else zh)")
	c.Flags().StringVar(&store, "store", "", "keep the reference store the run builds in this DuckDB file (for screen and serve --ref-store)")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every stage and rule (INFO lines on stderr)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	_ = c.MarkFlagRequired("config")
	return c
}

func newSources() *cobra.Command {
	c := &cobra.Command{Use: "sources", Short: "Inspect connectors"}
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the connectors and their options",
		Example: "  crosscheck sources list",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			for _, s := range connectors.Default.Specs() {
				fmt.Fprintf(w, "%s — %s\n", s.Name, s.Doc)
				for _, o := range s.Options {
					allowed := ""
					if len(o.Allowed) > 0 {
						allowed = " (" + strings.Join(o.Allowed, ", ") + ")"
					}
					fmt.Fprintf(w, "  %-12s %-6s default %-8v %s%s\n", o.Name, o.Kind, o.Default, o.Doc, allowed)
				}
				fmt.Fprintln(w)
			}
			return nil
		},
	}
	c.AddCommand(list, newSourcesCheck())
	return c
}

// terminal returns w when it is a terminal (progress bars), nil otherwise
// (plain log lines).
func terminal(w io.Writer, quiet bool) io.Writer {
	f, ok := w.(*os.File)
	if !ok || quiet {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return w
}
