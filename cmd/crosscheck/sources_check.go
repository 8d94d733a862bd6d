package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

func newSourcesCheck() *cobra.Command {
	var cfg string
	var rows, show int
	var raw bool
	c := &cobra.Command{
		Use:   "check",
		Short: "Read a sample of every source and show how its columns map, without running rules",
		Long: `check reads the first rows of every source of a job through its connector and mapping and
shows, per source, where each canonical column comes from, the first rows with the original
values next to the canonical ones, and the quality counts of the sample (accepted, quarantined
by reason, ID number statuses). Use it when a department sends a new file.`,
		Example: "  crosscheck sources check --config examples/henan-sample/job.yaml --rows 1000 --show 3",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := job.Load(cfg)
			if err != nil {
				return err
			}
			plans, err := engine.Plan(cmd.Context(), j, connectors.Default)
			if err != nil {
				return err
			}
			samples, err := engine.CheckSources(cmd.Context(), plans, rows)
			if err != nil {
				return err
			}
			for _, s := range samples {
				printSample(cmd.OutOrStdout(), s, show, raw)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&cfg, "config", "c", "", "job file (YAML)")
	c.Flags().IntVar(&rows, "rows", 1000, "rows read per source")
	c.Flags().IntVar(&show, "show", 3, "accepted rows shown per source")
	c.Flags().BoolVar(&raw, "raw-ids", false, "show ID numbers and accounts unmasked")
	_ = c.MarkFlagRequired("config")
	return c
}

func printSample(w io.Writer, s engine.SourceSample, show int, raw bool) {
	mask := func(col, v string) string {
		if raw {
			return v
		}
		return idnumber.MaskDigitRuns(v)
	}
	var files []string
	for _, h := range s.Headers {
		files = append(files, h.Input)
	}
	fmt.Fprintf(w, "== %s (role %s): %s\n", s.Source, s.Role, strings.Join(files, ", "))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "canonical\tkind\tfrom")
	for _, m := range s.Mapped {
		from := m.From
		if from == "" {
			from = "(not mapped)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Canonical, m.Kind, from)
	}
	tw.Flush()
	for i, r := range s.Rows {
		if i >= show {
			break
		}
		fmt.Fprintf(w, "\n%s row %d\n", r.File, r.Row)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "canonical\toriginal\t→ canonical value")
		for _, m := range s.Mapped {
			if m.From == "" {
				continue
			}
			orig := ""
			if m.From != "" && !strings.HasPrefix(m.From, "constant: ") {
				orig = mask(m.From, r.Original[m.From])
			}
			val := mask(m.Canonical, r.Canonical[m.Canonical])
			switch m.Kind {
			case dataset.ID:
				val += "  [" + r.Canonical[m.Canonical+"_status"] + "]"
			case dataset.Name:
				val += "  (normalised " + r.Canonical[m.Canonical+"_norm"] + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Canonical, orig, val)
		}
		tw.Flush()
	}
	st := s.Stats
	fmt.Fprintf(w, "\nsample: read %d = accepted %d + quarantined %d\n", st.RowsRead, st.RowsAccepted, st.RowsQuarantined)
	for _, k := range keys(st.Quarantined) {
		fmt.Fprintf(w, "  quarantined %s: %d\n", k, st.Quarantined[k])
	}
	for _, c := range keys(st.IDStatus) {
		var parts []string
		for _, k := range keys(st.IDStatus[c]) {
			parts = append(parts, fmt.Sprintf("%s %d", k, st.IDStatus[c][k]))
		}
		fmt.Fprintf(w, "  %s: %s\n", c, strings.Join(parts, ", "))
	}
	for i, q := range s.Quarantine {
		if i >= show {
			fmt.Fprintf(w, "  … %d more quarantined rows\n", len(s.Quarantine)-show)
			break
		}
		fmt.Fprintf(w, "  %s row %d column %q: %s %s\n", q.File, q.Row, q.Column, q.Reason, mask("", q.Detail))
	}
	fmt.Fprintln(w)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
