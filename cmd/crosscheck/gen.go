package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/crosscheck/crosscheck/benchmarks/gen"
	"github.com/crosscheck/crosscheck/engine"
)

func newGen() *cobra.Command {
	var cfg gen.Config
	var ratesFile string
	var rates []string
	var quiet bool
	c := &cobra.Command{
		Use:   "gen",
		Short: "Generate a synthetic province (extracts, payment rolls, job file and truth) for benchmarks",
		Long: `gen writes a synthetic rural Henan province to --out: departmental extracts in their own
formats (GBK and UTF-8 CSV, Parquet), monthly payment rolls for seven programs, job.yaml that
"crosscheck run" takes as is, truth.csv (payment_id, category, rule_family, case: the findings a
perfect screening makes), noise.csv (payments carrying noise that must not be hit) and gen.json.
The same --seed and --persons give the same bytes.

Injected cases and noise have default rates; change them with --rate kind=value (repeatable),
--rate all_cases=2 (a factor on every case rate), or --rates FILE (YAML map kind: rate).
Kinds:
` + kindHelp(),
		Example: `  crosscheck gen --persons 200000 --seed 1 --out /tmp/henan
  crosscheck gen --persons 10000000 --out /data/henan10m --rate noise_id_format=0.1
  crosscheck run --config /tmp/henan/job.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Rates = gen.DefaultRates()
			if ratesFile != "" {
				if err := gen.LoadRates(ratesFile, cfg.Rates); err != nil {
					return err
				}
			}
			for _, r := range rates {
				if err := cfg.Rates.Set(r); err != nil {
					return err
				}
			}
			t0 := time.Now()
			last := time.Now()
			if !quiet {
				cfg.Progress = func(n int64) {
					if time.Since(last) > 5*time.Second {
						last = time.Now()
						fmt.Fprintf(cmd.ErrOrStderr(), "generated %d persons (%.0f/s)\n", n, float64(n)/time.Since(t0).Seconds())
					}
				}
			}
			sum, err := gen.Generate(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			sec := time.Since(t0).Seconds()
			w := cmd.OutOrStdout()
			var bytes int64
			for _, f := range sum.Files {
				bytes += f.Bytes
			}
			fmt.Fprintf(w, "wrote %s: %d persons in %d households, %d payments, %d truth rows, %.1f MiB in %d files\n",
				cfg.Out, sum.Persons, sum.Households, sum.Payments, sum.TruthRows, float64(bytes)/(1<<20), len(sum.Files))
			fmt.Fprintf(w, "time %.1fs (%.0f persons/s); peak memory %.0f MiB\n", sec, float64(sum.Persons)/sec,
				float64(engine.PeakRSS())/(1<<20))
			fmt.Fprintf(w, "run it: crosscheck run --config %s/job.yaml\n", cfg.Out)
			return nil
		},
	}
	c.Flags().IntVarP(&cfg.Persons, "persons", "n", 200000, "number of persons")
	c.Flags().Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	c.Flags().StringVarP(&cfg.Out, "out", "o", "", "output folder")
	c.Flags().StringVar(&ratesFile, "rates", "", "YAML file of kind: rate")
	c.Flags().StringArrayVar(&rates, "rate", nil, "kind=rate (repeatable); all_cases=F or all_noise=F scale the defaults")
	c.Flags().IntVar(&cfg.Workers, "workers", 0, "generating goroutines (default: GOMAXPROCS)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress lines")
	_ = c.MarkFlagRequired("out")
	return c
}

func kindHelp() string {
	s := ""
	for _, k := range gen.Kinds {
		fam := k.Family
		if fam == "" {
			fam = "noise"
		}
		s += fmt.Sprintf("  %-20s %-21s %-7g per %s: %s\n", k.Name, fam, k.Rate, k.Per, k.Doc)
	}
	return s
}
