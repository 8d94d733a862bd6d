package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/crosscheck/crosscheck/benchmarks/checkload"
)

func newBenchCheck() *cobra.Command {
	var o checkload.Options
	var ids, program, period, ref string
	var sample int
	var asJSON bool
	c := &cobra.Command{
		Use:   "check",
		Short: "Load-test POST /api/v1/check of a running server: concurrent clients, latency percentiles",
		Long: `bench check sends applicant checks to a server started with "crosscheck serve --ref-store":
--clients concurrent clients send --requests checks in all, or for --duration, whichever ends
first, and it prints the latency percentiles (p50, p95, p99, max), the answers by HTTP status and
the errors. Applicants come from --ids, a CSV of id_number[,name[,program[,period]]] lines
(--program and --period fill what a line leaves out), or from --ref-store: --sample persons of the
reference store's registry drawn at random (seed 1), with --program and --period. The token's user needs check_rate and
check_burst high enough for the load (docs/review.md), or the excess is answered 429 and counted
as errors. The token may also come from the environment variable CROSSCHECK_TOKEN.`,
		Example: `  printf '411082193803175310,杨伟\n' > ids.csv
  crosscheck bench check --url http://127.0.0.1:8080 --token "$CROSSCHECK_TOKEN" --ids ids.csv --program gaoling --period 2024-05 --clients 50 --requests 20000 --duration 60s
  crosscheck bench check --token "$CROSSCHECK_TOKEN" --ref-store ref.duckdb --sample 5000 --program gaoling --period 2024-05 --requests 2000 --duration 2m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Token == "" {
				o.Token = os.Getenv("CROSSCHECK_TOKEN")
			}
			if o.Token == "" {
				return errors.New("give --token (or CROSSCHECK_TOKEN): a bearer token of a user that may check (crosscheck serve token)")
			}
			switch {
			case ids != "" && ref != "":
				return errors.New("give --ids or --ref-store, not both")
			case ids != "":
				f, err := os.Open(ids)
				if err != nil {
					return err
				}
				o.Applicants, err = checkload.ReadApplicants(f, program, period)
				f.Close()
				if err != nil {
					return fmt.Errorf("--ids %s: %w", ids, err)
				}
			case ref != "":
				if program == "" || period == "" {
					return errors.New("--ref-store needs --program and --period")
				}
				var err error
				if o.Applicants, err = storeApplicants(cmd.Context(), ref, sample, program, period); err != nil {
					return fmt.Errorf("--ref-store %s: %w", ref, err)
				}
			default:
				return errors.New("give --ids FILE or --ref-store FILE: the applicants to check")
			}
			res, err := checkload.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			fmt.Fprint(cmd.OutOrStdout(), res.String())
			return nil
		},
	}
	c.Flags().StringVar(&o.URL, "url", "http://127.0.0.1:8080", "base URL of the server")
	c.Flags().StringVar(&o.Token, "token", "", "bearer token (default: $CROSSCHECK_TOKEN)")
	c.Flags().IntVar(&o.Clients, "clients", 50, "concurrent clients")
	c.Flags().IntVar(&o.Requests, "requests", 10000, "checks to send in all (a bound)")
	c.Flags().DurationVar(&o.Duration, "duration", time.Minute, "longest time to send for (a bound)")
	c.Flags().DurationVar(&o.Timeout, "timeout", 10*time.Second, "timeout of one request")
	c.Flags().StringVar(&ids, "ids", "", "CSV of applicants: id_number[,name[,program[,period]]]")
	c.Flags().StringVar(&ref, "ref-store", "", "draw the applicants from this reference store's registry instead of --ids")
	c.Flags().IntVar(&sample, "sample", 5000, "persons to draw with --ref-store")
	c.Flags().StringVar(&program, "program", "", "program code for lines without one")
	c.Flags().StringVar(&period, "period", "", "period YYYY-MM for lines without one")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}

// storeApplicants draws n persons (ID number as registered, name) of a
// reference store's registry, at random with a fixed seed.
func storeApplicants(ctx context.Context, path string, n int, program, period string) ([]checkload.Applicant, error) {
	s, err := openRef(ctx, path)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	rows, err := s.DB.QueryContext(ctx, fmt.Sprintf(`SELECT id_number, coalesce(name, '') FROM ref.person
		WHERE id_number IS NOT NULL USING SAMPLE reservoir(%d ROWS) REPEATABLE (1)`, max(n, 1)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []checkload.Applicant
	for rows.Next() {
		a := checkload.Applicant{Program: program, Period: period}
		if err := rows.Scan(&a.IDNumber, &a.Name); err != nil {
			return nil, err
		}
		if a.Name == "" {
			a.Name = "申请人"
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no persons in the store's registry")
	}
	return out, nil
}
