package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
	"github.com/crosscheck/crosscheck/screen"
	"github.com/crosscheck/crosscheck/store"
)

func newStore() *cobra.Command {
	c := &cobra.Command{
		Use:   "store",
		Short: "The reference store: every source but the payment rolls, kept between screenings (docs/store.md)",
		Example: `  crosscheck store refresh --config examples/henan-sample/job.yaml --store out/ref.duckdb
  crosscheck store info --store out/ref.duckdb
  crosscheck store watch --config job.yaml --store ref.duckdb --dir /srv/exchange/drop --cases cases.duckdb`,
	}
	c.AddCommand(newStoreRefresh(), newStoreInfo(), newStoreWatch())
	return c
}

func newStoreRefresh() *cobra.Command {
	var cfg, path, lang string
	var verbose, quiet, force bool
	c := &cobra.Command{
		Use:   "refresh",
		Short: "Load the job's reference sources that changed since the last refresh into the store",
		Long: `refresh brings the reference store up to date with the job's sources other than the payment
rolls: when a file's SHA-256 changed, a file was added or removed, or the job has database
sources, it loads them, repairs ID numbers, links persons, rebuilds the program catalogue and
records what changed per person (the change log that screen --changed reads). When nothing
changed it leaves the store as it is.

A database source with a watermark_column is pulled from the watermark the store recorded: only
its rows changed since are read, added to the stored ones (with watermark_key, a pulled row
replaces the stored rows with the same key) and linked; the summary says how many came.
--force pulls everything again.

The new store is built beside the file (STORE.next) and renamed into place: a refresh that
fails or is killed leaves the previous store, which screeners keep reading meanwhile. One
refresh at a time (STORE.lock). Rejected rows go to STORE.quarantine/SOURCE.csv.`,
		Example: `  crosscheck store refresh --config examples/henan-sample/job.yaml --store out/ref.duckdb`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			lg, err := engine.SummaryLang(lang)
			if err != nil {
				return fmt.Errorf("--lang: %w", err)
			}
			j, err := job.Load(cfg)
			if err != nil {
				return err
			}
			res, err := store.Refresh(cmd.Context(), j, path, store.Options{Force: force,
				Log: newLogger(cmd.ErrOrStderr(), !verbose), Progress: terminal(cmd.ErrOrStderr(), quiet)})
			if err != nil {
				return err
			}
			printRefresh(cmd.OutOrStdout(), res, lg)
			return nil
		},
	}
	c.Flags().StringVarP(&cfg, "config", "c", "", "job file (YAML)")
	c.Flags().StringVar(&path, "store", "", "the store file (created by the first refresh)")
	c.Flags().BoolVar(&force, "force", false, "rebuild even when no source changed; database sources are pulled whole again")
	c.Flags().StringVar(&lang, "lang", "", "language of the summary: zh or en (default: CROSSCHECK_LANG, else zh)")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every stage (INFO lines on stderr)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	_ = c.MarkFlagRequired("config")
	_ = c.MarkFlagRequired("store")
	return c
}

func printRefresh(w io.Writer, res *store.Result, lang string) {
	if res.Unchanged {
		if lang == "en" {
			fmt.Fprintf(w, "store %s: no reference source changed (refresh %d kept)\n", res.Store, res.Seq)
		} else {
			fmt.Fprintf(w, "参照库 %s：参照数据无变化（保留第 %d 次更新）\n", res.Store, res.Seq)
		}
		return
	}
	var rows int64
	for _, s := range res.Sources {
		rows += s.RowsAccepted
	}
	changed := fmt.Sprint(res.ChangedPersons)
	if res.ChangedPersons < 0 {
		changed = map[string]string{"en": "all (first refresh)", "zh": "全部（首次建库）"}[lang]
	}
	if lang == "en" {
		fmt.Fprintf(w, "store %s: refresh %d, %d sources, %d rows, %d files (%d unchanged), persons changed: %s, %.1f s\n",
			res.Store, res.Seq, len(res.Sources), rows, res.FilesLoaded, res.FilesKept, changed, res.Elapsed.Seconds())
	} else {
		fmt.Fprintf(w, "参照库 %s：第 %d 次更新，%d 个数据源，%d 行，%d 个文件（%d 个未变），变化人员：%s，用时 %.1f 秒\n",
			res.Store, res.Seq, len(res.Sources), rows, res.FilesLoaded, res.FilesKept, changed, res.Elapsed.Seconds())
	}
	for _, p := range res.Pulls {
		fmt.Fprintln(w, "  "+pullLine(p, lang))
	}
}

// pullLine says what a refresh pulled from a database source by watermark.
func pullLine(p engine.WatermarkPull, lang string) string {
	if lang == "en" {
		if !p.Appended {
			return fmt.Sprintf("%s: pulled whole, %d rows, watermark %s", p.Source, p.Rows, p.Reached)
		}
		return fmt.Sprintf("%s: %d new rows after watermark %s (%d older rows replaced), watermark now %s", p.Source, p.Rows, p.Since, p.Replaced, p.Reached)
	}
	if !p.Appended {
		return fmt.Sprintf("%s：全量拉取 %d 行，水位 %s", p.Source, p.Rows, p.Reached)
	}
	return fmt.Sprintf("%s：水位 %s 之后新增 %d 行（替换旧行 %d 行），水位更新为 %s", p.Source, p.Since, p.Rows, p.Replaced, p.Reached)
}

func newStoreInfo() *cobra.Command {
	var path string
	var asJSON bool
	c := &cobra.Command{
		Use:     "info",
		Short:   "Print the store's manifest: refreshes, files with their SHA-256 and rows, watermarks, tables",
		Example: `  crosscheck store info --store out/ref.duckdb --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := store.ReadInfo(cmd.Context(), path)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				b, _ := json.MarshalIndent(in, "", "  ")
				_, err := fmt.Fprintln(w, string(b))
				return err
			}
			fmt.Fprintf(w, "store %s, refresh %d, job %s\n\nrefreshes:\n", in.Path, in.Seq, in.JobFile)
			for _, r := range in.Refreshes {
				fmt.Fprintf(w, "  %d  %s  %.1fs  rows %d  files %d (kept %d)  persons changed %d\n", r.Seq, r.Started.Format("2006-01-02 15:04:05"),
					r.Finished.Sub(r.Started).Seconds(), r.Rows, r.FilesLoaded, r.FilesKept, r.ChangedPersons)
			}
			fmt.Fprintln(w, "\nfiles:")
			for _, f := range in.Files {
				fmt.Fprintf(w, "  %-12s %-10s %s  sha256 %s  accepted %d  quarantined %d\n", f.Source, f.Role, f.Path, f.SHA256, f.RowsAccepted, f.RowsQuarantined)
			}
			if len(in.Pulls) > 0 {
				fmt.Fprintln(w, "\nwatermarks (database sources, last refresh):")
				for _, p := range in.Pulls {
					fmt.Fprintln(w, "  "+pullLine(p, "en"))
				}
			} else if len(in.Marks) > 0 {
				fmt.Fprintln(w, "\nwatermarks:")
				for s, m := range in.Marks {
					fmt.Fprintf(w, "  %s  %s\n", s, m)
				}
			}
			fmt.Fprintln(w, "\ntables (estimated rows):")
			names := make([]string, 0, len(in.Tables))
			for t := range in.Tables {
				names = append(names, t)
			}
			sort.Strings(names)
			for _, t := range names {
				fmt.Fprintf(w, "  %-28s %d\n", t, in.Tables[t])
			}
			return nil
		},
	}
	c.Flags().StringVar(&path, "store", "", "the store file")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = c.MarkFlagRequired("store")
	return c
}

func newScreen() *cobra.Command {
	var path, out, source, program, period, lang, cases string
	var rolls []string
	var raw, rawCells, verbose, jobRolls, changed bool
	var since int64
	c := &cobra.Command{
		Use:   "screen",
		Short: "Screen payment rolls against the reference store before payment and write the stop-list",
		Long: `screen maps each roll (xlsx, csv, parquet, jsonl) with the payment source of the store's job
whose columns its header has (or --source), repairs its ID numbers against the store's person
registry, runs the job's rules and writes to the output folder, like run: hits, cases, quality,
report.html, manifest.json, and the stop-list for the bank: stop-list.xlsx and stop-list.csv,
one row per payment to stop (payment serial, account, amount, severity, the reason in one
sentence), most severe first. ID numbers and accounts are masked unless --raw-ids.

Give every roll of the period with --roll (repeated), or --job-rolls for the rolls the job
names, to see the rules across rolls (the same person paid in two counties' rolls); the hits
then equal those of a batch run.

--cases FILE imports the hits into the case store (as crosscheck cases import). With
--changed only the payments of the persons whose reference data changed since the last
--changed screening (STORE.screened.json beside the store keeps its refresh number; --since N
overrides it) are screened, with the members of their households and their spouses: run it
after each store refresh to raise the new cases, and to flag the cases whose death record was
corrected away as "death record withdrawn".`,
		Example: `  crosscheck store refresh --config examples/henan-sample/job.yaml --store out/ref.duckdb
  crosscheck screen --store out/ref.duckdb --roll examples/henan-sample/data/长葛市一卡通发放名单202405.csv --out out/screen-changge
  crosscheck screen --store out/ref.duckdb --roll examples/henan-sample/data/长葛市一卡通发放名单202405.csv --program gaoling --period 2024-05 --out out/screen-gaoling
  crosscheck screen --store out/ref.duckdb --job-rolls --changed --cases out/cases.duckdb --out out/screen-changed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			lg, err := engine.SummaryLang(lang)
			if err != nil {
				return fmt.Errorf("--lang: %w", err)
			}
			if len(rolls) == 0 && !jobRolls {
				return fmt.Errorf("--roll: give the roll to screen (or --job-rolls)")
			}
			in := screen.RollInput{Source: source, Program: program, Period: period, RawIDs: raw, JobRolls: jobRolls, Changed: changed}
			if len(rolls) > 0 {
				in.Path, in.More = rolls[0], rolls[1:]
			}
			if changed {
				in.Since = since
				if !cmd.Flags().Changed("since") {
					st, err := readScreened(path)
					if err != nil {
						return err
					}
					in.Since = st.Seq
				}
			}
			s, err := screen.Open(cmd.Context(), path, screen.Options{Log: newLogger(cmd.ErrOrStderr(), !verbose), RawCells: rawCells})
			if err != nil {
				return err
			}
			defer s.Close()
			if changed && in.Since >= s.Seq() {
				if lg == "en" {
					fmt.Fprintf(cmd.OutOrStdout(), "no refresh of the store since refresh %d: nothing to screen\n", in.Since)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "参照库自第 %d 次更新以来无变化，无需重新比对\n", in.Since)
				}
				return nil
			}
			rr, err := s.Roll(cmd.Context(), in, out)
			if err != nil {
				return err
			}
			printScreen(cmd.OutOrStdout(), rr, raw, lg)
			if cases != "" {
				if err := importScreen(cmd, cases, rr); err != nil {
					return err
				}
			}
			if changed {
				return writeScreened(path, screenedState{Seq: rr.Seq})
			}
			return nil
		},
	}
	c.Flags().StringVar(&path, "store", "", "the reference store (crosscheck store refresh)")
	c.Flags().StringArrayVar(&rolls, "roll", nil, "payment roll to screen (repeat for several rolls screened together)")
	c.Flags().StringVar(&source, "source", "", "payment source of the store's job to map the roll with (default: the one whose columns the header has)")
	c.Flags().StringVar(&program, "program", "", "screen only the payments of this program code")
	c.Flags().StringVar(&period, "period", "", "screen only the payments of this period (YYYY-MM)")
	c.Flags().StringVarP(&out, "out", "o", "", "output folder")
	c.Flags().BoolVar(&jobRolls, "job-rolls", false, "screen the payment sources of the store's job as the job names them")
	c.Flags().BoolVar(&changed, "changed", false, "screen only the payments of persons whose reference data changed since the last --changed screening")
	c.Flags().Int64Var(&since, "since", 0, "with --changed: the store refresh number to compare with (default: STORE.screened.json)")
	c.Flags().StringVar(&cases, "cases", "", "import the hits into this case store (new cases raised, withdrawn deaths flagged)")
	c.Flags().BoolVar(&raw, "raw-ids", false, "write ID numbers and account numbers unmasked")
	c.Flags().BoolVar(&rawCells, "raw-cells", false, "write CSV cells verbatim (no ' before cells starting with = + - @)")
	c.Flags().StringVar(&lang, "lang", "", "language of the summary: zh or en (default: CROSSCHECK_LANG, else zh)")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every stage (INFO lines on stderr)")
	_ = c.MarkFlagRequired("store")
	_ = c.MarkFlagRequired("out")
	return c
}

func printScreen(w io.Writer, rr *screen.RollResult, raw bool, lang string) {
	if lang == "en" {
		fmt.Fprintf(w, "screened %d payments: %d hits, %d payments to stop (%.1f s)\nstop-list: %s/stop-list.xlsx\n",
			rr.Payments, rr.Hits, len(rr.Stops), rr.Elapsed.Seconds(), rr.OutDir)
	} else {
		fmt.Fprintf(w, "已比对 %d 笔发放：命中 %d 条，建议停发 %d 笔（用时 %.1f 秒）\n停发名单：%s/stop-list.xlsx\n",
			rr.Payments, rr.Hits, len(rr.Stops), rr.Elapsed.Seconds(), rr.OutDir)
	}
	for i, e := range rr.Stops {
		if i == 10 {
			fmt.Fprintf(w, "  … %d more / 另有 %d 笔\n", len(rr.Stops)-10, len(rr.Stops)-10)
			break
		}
		acc := e.Account
		if !raw && acc != "" {
			acc = idnumber.Mask(acc)
		}
		fmt.Fprintf(w, "  %-6s %-14s %-20s %10.2f  %s\n", e.Severity, e.PaymentID, acc, e.Amount, strings.TrimSpace(e.Reason))
	}
}

// screenedState is STORE.screened.json: the store refresh the last
// `screen --changed` screened against.
type screenedState struct {
	Seq int64 `json:"seq"`
}

func screenedPath(store string) string { return store + ".screened.json" }

func readScreened(store string) (screenedState, error) {
	var st screenedState
	b, err := os.ReadFile(screenedPath(store))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w (delete it to screen every change again)", screenedPath(store), err)
	}
	return st, nil
}

func writeScreened(store string, st screenedState) error {
	b, _ := json.Marshal(st)
	tmp := screenedPath(store) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, screenedPath(store))
}

// importScreen imports a screen's run folder into the case store; in
// --changed mode only the screened persons' death cases can be withdrawn.
func importScreen(cmd *cobra.Command, path string, rr *screen.RollResult) error {
	st, err := casestore.Open(cmd.Context(), path, casestore.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	return importRun(cmd, st, rr.OutDir, "", casestore.ImportOptions{Persons: rr.Persons})
}
