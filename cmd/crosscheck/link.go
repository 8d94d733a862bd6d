package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/identity"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/schema"
)

func newLink() *cobra.Command {
	var cfg, out string
	var quiet, force bool
	c := &cobra.Command{
		Use:   "link",
		Short: "Resolve who is who across the sources, without running rules",
		Long: `link loads every source of the job, repairs ID numbers and links records without a usable ID
number to the person registry (Fellegi-Sunter model estimated from the data), then writes to the
output folder: person_link.parquet (one row per record: person key, method, match weight and
probability, competing candidates), link_summary.json (records resolved each way, per table) and
match_weights.svg (the distribution of match weights, for a reviewer to open).`,
		Example: `  crosscheck link --config examples/henan-sample/job.yaml --out out/link
  crosscheck link inspect --config examples/henan-sample/job.yaml huohua:20`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := job.Load(cfg)
			if err != nil {
				return err
			}
			p, err := engine.Prepare(cmd.Context(), j, engine.Options{OutDir: out, Force: force, Log: newLogger(cmd.ErrOrStderr(), quiet)})
			if err != nil {
				return err
			}
			defer p.Close()
			dir := p.WorkDir() // moved into the output folder by CommitFiles
			pq := filepath.Join(dir, "person_link.parquet")
			if err := p.Session.Exec(cmd.Context(), fmt.Sprintf(
				"COPY (SELECT * FROM person_link ORDER BY table_name, _rid) TO %s (FORMAT parquet)", engine.Lit(pq))); err != nil {
				return err
			}
			f, err := os.Create(filepath.Join(dir, "match_weights.svg"))
			if err != nil {
				return err
			}
			if err := identity.WriteWeightHistogram(cmd.Context(), p.Session.DB, f); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			s := p.Identity
			b, _ := json.MarshalIndent(map[string]any{"records": s.Records, "by_method": s.ByMethod, "by_table": s.ByTable,
				"ambiguous": s.Ambiguous, "pairs_scored": s.Pairs, "trained": s.Trained}, "", "  ")
			if err := os.WriteFile(filepath.Join(dir, "link_summary.json"), append(b, '\n'), 0o644); err != nil {
				return err
			}
			if err := p.CommitFiles("link"); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%d records linked in %s; %d candidate pairs scored; model trained on the data: %t\n",
				s.Records, p.Result.OutDir, s.Pairs, s.Trained)
			fmt.Fprintf(w, "%-12s %8s %9s %9s %14s %11s\n", "table", "exact", "upgraded", "repaired", "probabilistic", "unresolved")
			for _, t := range s.Tables {
				m := s.ByTable[t]
				fmt.Fprintf(w, "%-12s %8d %9d %9d %14d %11d\n", t, m["exact"], m["upgraded"], m["repaired"], m["probabilistic"], m["unresolved"])
			}
			fmt.Fprintf(w, "ambiguous (two candidates above the threshold, left unresolved): %d\n", s.Ambiguous)
			return nil
		},
	}
	c.Flags().StringVarP(&cfg, "config", "c", "", "job file (YAML)")
	c.Flags().StringVarP(&out, "out", "o", "", "output folder (default: the job's output.dir)")
	c.Flags().BoolVar(&force, "force", false, "write into a folder that holds other files (they are never deleted)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "log warnings only")
	_ = c.MarkFlagRequired("config")
	c.AddCommand(newLinkInspect())
	return c
}

func newLinkInspect() *cobra.Command {
	var cfg string
	c := &cobra.Command{
		Use:   "inspect SOURCE:ROW",
		Short: "Explain how one record was linked: its candidates and each comparison's share of the match weight",
		Long: `inspect loads the job like link does and explains one record, named by its source and its row
number in the source file (as in quarantine files and evidence): the candidates considered and,
for each, every comparison's level and contribution to the match weight (a waterfall in text).
ID numbers are masked.`,
		Example: "  crosscheck link inspect --config examples/henan-sample/job.yaml huohua:20",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, rowText, ok := strings.Cut(args[0], ":")
			row, err := strconv.ParseInt(rowText, 10, 64)
			if !ok || err != nil {
				return fmt.Errorf("record %q: write SOURCE:ROW, e.g. huohua:20", args[0])
			}
			j, err := job.Load(cfg)
			if err != nil {
				return err
			}
			var table string
			for _, s := range j.Sources {
				if s.Name == src {
					r, err := j.SourceRole(s)
					if err != nil {
						return err
					}
					table = schema.Table(r)
				}
			}
			if table == "" {
				return fmt.Errorf("record %q: the job has no source %s", args[0], src)
			}
			dir, err := os.MkdirTemp("", "crosscheck-inspect")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			p, err := engine.Prepare(cmd.Context(), j, engine.Options{OutDir: dir, Log: newLogger(cmd.ErrOrStderr(), true)})
			if err != nil {
				return err
			}
			defer p.Close()
			var rid int64
			err = p.Session.DB.QueryRowContext(cmd.Context(), fmt.Sprintf(
				"SELECT _rid FROM %s WHERE _source = ? AND _row = ? ORDER BY _rid LIMIT 1", engine.Ident(table)), src, row).Scan(&rid)
			if err != nil {
				return fmt.Errorf("record %q: no accepted row %d in source %s (quarantined rows are not linked)", args[0], row, src)
			}
			text, err := identity.Explain(cmd.Context(), p.Session.DB, table, rid)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), text)
			return nil
		},
	}
	c.Flags().StringVarP(&cfg, "config", "c", "", "job file (YAML)")
	_ = c.MarkFlagRequired("config")
	return c
}
