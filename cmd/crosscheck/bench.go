package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crosscheck/crosscheck/benchmarks/gen"
	"github.com/crosscheck/crosscheck/benchmarks/harness"
)

func newBench() *cobra.Command {
	var o harness.Options
	var baselines, ratesFile, sizes, svg string
	var rates []string
	var quiet bool
	c := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark crosscheck on a generated province: accuracy against the truth, speed, memory, naive baselines",
		Long: `bench generates a province (see "crosscheck gen") in --dir, or reuses it with --reuse when its
gen.json matches, runs its job with the engine, and scores the hits against truth.csv: precision and
recall per category, per rule family and per injected case, and the noise that was falsely hit. It
measures the wall time of each stage, rows read per second, peak memory and the bytes DuckDB spilled
to disk, and runs the naive baselines (--baselines duckdb,postgres) on the same data: hand-written
SQL joining on the raw ID strings (benchmarks/baselines/*.sql).

It writes DIR/bench/bench.json, DIR/bench/bench.md and DIR/bench/problems.csv (every miss and false
hit with its case or noise).

--profile PROFDIR writes a CPU and an allocation profile per stage of crosscheck's run (check, load,
identity, rules, cases, write) and PROFDIR/README.txt with the "go tool pprof" commands that show
their tops. DuckDB's work shows there as runtime.cgocall (under the Go function that sent the SQL)
and as the binary's name in brackets (DuckDB's worker threads); -v prints the INFO log lines that
time each step of a stage.

--sizes N1,N2,... runs the benchmark for each number of persons one after the other (province N in
DIR/N, reused with --reuse) and writes DIR/sizes.md (per size and stage: seconds, seconds per
million payments, peak RSS, load average), DIR/sizes.json and DIR/sizes.svg (time per stage per
size); --svg PATH writes the chart there too (docs/img/bench-sizes.svg in the documentation).`,
		Example: `  crosscheck bench --persons 200000 --dir /tmp/bench200k --baselines duckdb,postgres
  crosscheck bench --persons 200000 --dir /tmp/bench200k --reuse
  crosscheck bench --persons 30000000 --dir /data/bench30m --memory-limit 8GiB --database /data/bench30m.duckdb
  crosscheck bench --persons 20000 --dir /tmp/bench20k --reuse --profile /tmp/bench20k-prof
  crosscheck bench --sizes 10000,20000 --dir /tmp/bench-sizes --reuse --svg /tmp/bench-sizes.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Rates = gen.DefaultRates()
			if ratesFile != "" {
				if err := gen.LoadRates(ratesFile, o.Rates); err != nil {
					return err
				}
			}
			for _, r := range rates {
				if err := o.Rates.Set(r); err != nil {
					return err
				}
			}
			if o.Dir == "" {
				o.Dir = filepath.Join("bench-data", fmt.Sprintf("henan-%d-seed%d", o.Persons, o.Seed))
			}
			for _, b := range strings.Split(baselines, ",") {
				if b = strings.TrimSpace(b); b != "" {
					o.Baselines = append(o.Baselines, b)
				}
			}
			if !quiet {
				o.Log = cmd.ErrOrStderr()
			}
			if sizes != "" {
				var ns []int
				for _, f := range strings.Split(sizes, ",") {
					n, err := strconv.Atoi(strings.TrimSpace(f))
					if err != nil || n <= 0 {
						return fmt.Errorf("--sizes: %q is not a number of persons", f)
					}
					ns = append(ns, n)
				}
				if !cmd.Flags().Changed("dir") {
					o.Dir = filepath.Join("bench-data", fmt.Sprintf("sizes-seed%d", o.Seed))
				}
				res, err := harness.RunSizes(cmd.Context(), o, ns)
				if err != nil {
					return err
				}
				if svg != "" {
					b, err := os.ReadFile(filepath.Join(o.Dir, "sizes.svg"))
					if err == nil {
						err = os.WriteFile(svg, b, 0o644)
					}
					if err != nil {
						return fmt.Errorf("--svg: %w", err)
					}
				}
				fmt.Fprint(cmd.OutOrStdout(), res.Markdown())
				fmt.Fprintf(cmd.OutOrStdout(), "\nwritten: %s, %s\n", filepath.Join(o.Dir, "sizes.md"), filepath.Join(o.Dir, "sizes.svg"))
				return nil
			}
			rep, err := harness.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), rep.Markdown())
			fmt.Fprintf(cmd.OutOrStdout(), "\nwritten: %s\n", filepath.Join(o.Dir, "bench", "bench.md"))
			return nil
		},
	}
	c.Flags().IntVarP(&o.Persons, "persons", "n", 200000, "number of persons")
	c.Flags().Uint64Var(&o.Seed, "seed", 1, "random seed")
	c.Flags().StringVar(&o.Dir, "dir", "", "folder of the province and results (default bench-data/henan-N-seedS)")
	c.Flags().BoolVar(&o.Reuse, "reuse", false, "reuse the province in --dir if it was generated with the same size, seed and rates")
	c.Flags().StringVar(&baselines, "baselines", "", "naive baselines to run on the same data: duckdb, postgres")
	c.Flags().StringVar(&o.Postgres, "postgres", "host=127.0.0.1 port=5432 dbname=test", "psql connection string for the postgres baseline")
	c.Flags().StringVar(&o.MemoryLimit, "memory-limit", "", "override the job's engine.memory_limit (e.g. 4GiB)")
	c.Flags().StringVar(&o.Database, "database", "", "run crosscheck in this DuckDB database file instead of memory (replaced at each run)")
	c.Flags().StringVar(&ratesFile, "rates", "", "YAML file of kind: rate for generation")
	c.Flags().StringArrayVar(&rates, "rate", nil, "kind=rate for generation (repeatable)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress lines")
	c.Flags().BoolVarP(&o.Verbose, "verbose", "v", false, "also print crosscheck's INFO log lines (the time of each step)")
	c.Flags().StringVar(&o.ProfileDir, "profile", "", "write CPU and allocation profiles per stage into this folder")
	c.Flags().StringVar(&sizes, "sizes", "", "comma-separated numbers of persons to run one after the other (instead of --persons)")
	c.Flags().StringVar(&svg, "svg", "", "with --sizes: also write the chart to this file")
	c.AddCommand(newBenchCheck())
	return c
}
