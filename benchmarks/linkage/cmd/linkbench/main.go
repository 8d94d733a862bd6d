// Command linkbench runs the record-linkage benchmarks of
// benchmarks/linkage: FEBRL 4 (link), FEBRL 3 and Splink fake_1000
// (deduplicate) and the synthetic deduplication of a million Chinese person
// records. It prints precision, recall and F1 at the threshold, and writes
// for each benchmark the precision-recall curve (CSV) and the match-weight
// histogram (SVG) to -out.
//
//	go run -tags=duckdb_arrow ./benchmarks/linkage/cmd/linkbench -out out/linkage
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/duckdb/duckdb-go/v2"

	linkbench "github.com/crosscheck/crosscheck/benchmarks/linkage"
	"github.com/crosscheck/crosscheck/identity/linkage"
)

func main() {
	data := flag.String("data", linkbench.DataDir(), "benchmark data folder (febrl/, splink_fake_1000/); env CROSSCHECK_LINKAGE_DATA")
	namesDir := flag.String("names", linkbench.NamesDir(), "Chinese name frequency tables for the synthetic records; env CROSSCHECK_NAMES_DATA")
	out := flag.String("out", "out/linkage", "folder for the curves (CSV) and histograms (SVG)")
	threshold := flag.Float64("threshold", linkbench.DefaultThreshold, "match probability at which a pair is a match")
	records := flag.Int("records", 1_000_000, "records of the synthetic Chinese deduplication")
	only := flag.String("only", "febrl4,febrl3,fake1000,chinese", "benchmarks to run, comma-separated")
	threads := flag.Int("threads", 2, "DuckDB threads")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	ctx := context.Background()
	type bench struct {
		key string
		run func(context.Context, *sql.DB) (*linkbench.Result, error)
	}
	all := []bench{
		{"febrl4", func(ctx context.Context, db *sql.DB) (*linkbench.Result, error) {
			return linkbench.RunFEBRL4(ctx, db, *data, *threshold)
		}},
		{"febrl3", func(ctx context.Context, db *sql.DB) (*linkbench.Result, error) {
			return linkbench.RunFEBRL3(ctx, db, *data, *threshold)
		}},
		{"fake1000", func(ctx context.Context, db *sql.DB) (*linkbench.Result, error) {
			return linkbench.RunFake1000(ctx, db, *data, *threshold)
		}},
		{"chinese", func(ctx context.Context, db *sql.DB) (*linkbench.Result, error) {
			return linkbench.RunChinese(ctx, db, linkbench.ChineseOptions{Records: *records, Seed: 1, NamesDir: *namesDir}, *threshold)
		}},
	}
	want := map[string]bool{}
	for _, k := range strings.Split(*only, ",") {
		want[strings.TrimSpace(k)] = true
	}
	failed := false
	for _, b := range all {
		if !want[b.key] {
			continue
		}
		db, err := sql.Open("duckdb", fmt.Sprintf("?threads=%d", *threads))
		if err != nil {
			fail(err)
		}
		res, err := b.run(ctx, db)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", b.key, err)
			failed = true
			db.Close()
			continue
		}
		fmt.Print(res.String())
		if err := write(ctx, db, res, filepath.Join(*out, b.key)); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", b.key, err)
			failed = true
		}
		fmt.Printf("  wrote %s_pr.csv and %s_weights.svg\n\n", filepath.Join(*out, b.key), filepath.Join(*out, b.key))
		db.Close()
	}
	if failed {
		os.Exit(1)
	}
}

func write(ctx context.Context, db *sql.DB, res *linkbench.Result, prefix string) error {
	f, err := os.Create(prefix + "_pr.csv")
	if err != nil {
		return err
	}
	if err := linkbench.WriteCurveCSV(f, res.Curve); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	bins, err := linkage.Histogram(ctx, db, res.Scored, "match_weight", 1)
	if err != nil {
		return err
	}
	g, err := os.Create(prefix + "_weights.svg")
	if err != nil {
		return err
	}
	err = linkage.WriteHistogramSVG(g, bins, linkage.HistogramOptions{
		Title: "Match weights of candidate pairs: " + res.Name,
		LogY:  true,
		Marks: []linkage.Mark{{X: res.At.Weight, Label: fmt.Sprintf("p = %g", res.Threshold)}},
	})
	if cerr := g.Close(); err == nil {
		err = cerr
	}
	return err
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
