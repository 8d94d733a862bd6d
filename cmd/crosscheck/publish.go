package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/publish"
)

func newPublish() *cobra.Command {
	var cfg, runDir, out, title, store string
	var minPersons int64
	c := &cobra.Command{
		Use:   "publish --config JOB --run DIR --out PUB",
		Short: "Write the publication pack for the public column: policy list, rules and aggregate results (HTML, CSV, xlsx)",
		Long: `publish writes what the subsidy-information column (补贴信息公开专栏) publishes about a run, into PUB:
index.html (one page), policy_list.csv (一张清单: program, department, standard, legal basis and the
eligibility parameters screened), rules.csv (the rules in force in plain Chinese, with their
parameters), results_by_county.csv, results_by_program.csv and results_by_month.csv (persons,
payments and amount paid; persons, cases and amount concerned by the screening; with --store,
the cases confirmed by review and the amounts recovered), and publication.xlsx with the same tables.

It reads the run folder (aggregates.csv, catalogue.json, manifest.json) and no personal data.
A figure that rests on fewer than --min-persons persons is shown as *, and so is a second figure
of the same column whenever the total would give the first away (docs/publish.md).`,
		Example: `  crosscheck run --config examples/henan-sample/job.yaml --out out/demo-sample
  crosscheck publish --config examples/henan-sample/job.yaml --run out/demo-sample --out out/publish`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if minPersons < 2 {
				return fmt.Errorf("--min-persons %d: must be at least 2", minPersons)
			}
			j, err := job.Load(cfg)
			if err != nil {
				return err
			}
			set, err := rulesForJob(j, nil)
			if err != nil {
				return err
			}
			r, err := publish.ReadRun(runDir)
			if err != nil {
				return fmt.Errorf("--run %s: %w", runDir, err)
			}
			if store != "" {
				st, err := casestore.Open(cmd.Context(), store, casestore.Options{})
				if err != nil {
					return fmt.Errorf("--store %s: %w", store, err)
				}
				err = r.AddOutcomes(st)
				st.Close()
				if err != nil {
					return fmt.Errorf("--store %s: %w", store, err)
				}
			}
			p := publish.Build(r, set, title, minPersons)
			if err := publish.Write(out, p); err != nil {
				return fmt.Errorf("--out %s: %w", out, err)
			}
			suppressed := 0
			for _, t := range p.Tables {
				for _, l := range append(t.Lines, t.Total) {
					for _, c := range l.Cells {
						if c.Suppressed {
							suppressed++
						}
					}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "公开资料已写入 %s：%d 个补贴项目，%d 条比对规则，%d 张结果表（%d 个数字因涉及人数少于 %d 人不予公开）\n",
				out, len(p.Policies), len(p.Rules), len(p.Tables), suppressed, minPersons)
			for _, f := range publish.Files {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", f)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&cfg, "config", "c", "", "job file (YAML) of the run")
	c.Flags().StringVar(&runDir, "run", "", "output folder of the run")
	c.Flags().StringVarP(&out, "out", "o", "", "folder to write the publication into")
	c.Flags().StringVar(&store, "store", "", "case store (cases import): adds confirmed cases and amounts recovered")
	c.Flags().StringVar(&title, "title", "惠民惠农财政补贴资金比对结果公开", "title of the publication")
	c.Flags().Int64Var(&minPersons, "min-persons", publish.DefaultMinPersons, "smallest number of persons a published figure may rest on")
	for _, f := range []string{"config", "run", "out"} {
		_ = c.MarkFlagRequired(f)
	}
	return c
}
