// Package harness is the benchmark of crosscheck on a generated province:
// it generates (or reuses) the data, runs the job with the engine, scores
// the hits against truth.csv by category, rule family and injected case,
// measures time, memory and spill, runs naive DuckDB and PostgreSQL
// baselines on the same data and writes bench.json, bench.md and a list
// of misses and false hits.
package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crosscheck/crosscheck/benchmarks/gen"
	_ "github.com/crosscheck/crosscheck/connectors/csv"     // the generated extracts are CSV
	_ "github.com/crosscheck/crosscheck/connectors/parquet" // and Parquet
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
)

// Options configure a benchmark run.
type Options struct {
	Persons int
	Seed    uint64
	// Dir holds the generated province and the results (bench/).
	Dir string
	// Reuse a province already in Dir when its gen.json matches.
	Reuse bool
	Rates gen.Rates
	// Baselines to run: "duckdb", "postgres".
	Baselines []string
	// Postgres is the psql connection string for the postgres baseline.
	Postgres string
	// MemoryLimit overrides the job's engine.memory_limit when set.
	MemoryLimit string
	// Database, when set, is the DuckDB database file crosscheck runs in
	// (engine.database) instead of memory; it is replaced at each run.
	Database string
	// ProfileDir, when set, receives a CPU and an allocation profile per
	// stage of crosscheck's run (see stageProfiler).
	ProfileDir string
	// Verbose logs crosscheck's INFO lines (each step's time) to Log.
	Verbose bool
	Log     io.Writer
}

// Generation describes the data generation.
type Generation struct {
	Reused        bool    `json:"reused"`
	Seconds       float64 `json:"seconds"`
	PersonsPerSec float64 `json:"persons_per_second"`
	PeakRSS       int64   `json:"peak_rss_bytes"`
	Bytes         int64   `json:"bytes"`
	Files         int     `json:"files"`
	Payments      int64   `json:"payments"`
	TruthRows     int64   `json:"truth_rows"`
}

// Performance of crosscheck.
type Performance struct {
	Seconds    float64         `json:"seconds"`
	Timings    []engine.Timing `json:"timings"`
	RowsRead   int64           `json:"rows_read"`
	RowsPerSec float64         `json:"rows_per_second"`
	PeakRSS    int64           `json:"peak_rss_bytes"`
	SpillBytes int64           `json:"spill_bytes"`
	// DatabaseBytes is the size of the database file after the run
	// (with Options.Database).
	DatabaseBytes int64 `json:"database_bytes,omitempty"`
	Hits          int64 `json:"hits"`
	Cases         int64 `json:"cases"`
}

// Baseline is a naive baseline's run.
type Baseline struct {
	Name     string   `json:"name"`
	Seconds  float64  `json:"seconds"`
	Prepare  float64  `json:"prepare_seconds"`
	Ratio    float64  `json:"crosscheck_over_baseline"`
	Note     string   `json:"note"`
	Error    string   `json:"error,omitempty"`
	Accuracy Accuracy `json:"accuracy"`
}

// Report is bench.json.
type Report struct {
	Persons    int         `json:"persons"`
	Seed       uint64      `json:"seed"`
	Dir        string      `json:"dir"`
	Started    time.Time   `json:"started"`
	Generation Generation  `json:"generation"`
	Crosscheck Performance `json:"crosscheck"`
	Accuracy   Accuracy    `json:"accuracy"`
	Baselines  []Baseline  `json:"baselines"`
}

func (o *Options) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

// resetPeakRSS clears the process's peak RSS (Linux: clear_refs 5) so
// that the next reading covers only what follows.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0o644) }

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if st, err := d.Info(); err == nil {
				n += st.Size()
			}
		}
		return nil
	})
	return n
}

// Run runs the benchmark and writes DIR/bench/bench.json, bench.md and
// problems.csv.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Rates == nil {
		o.Rates = gen.DefaultRates()
	}
	rep := &Report{Persons: o.Persons, Seed: o.Seed, Dir: o.Dir, Started: time.Now().UTC()}
	benchDir := filepath.Join(o.Dir, "bench")
	if err := os.MkdirAll(benchDir, 0o755); err != nil {
		return nil, err
	}
	// 1. Data.
	sum, err := gen.ReadSummary(o.Dir)
	reuse := o.Reuse && err == nil && sum.Persons == int64(o.Persons) && sum.Seed == o.Seed && sum.Generator == gen.Version &&
		sameRates(sum.Rates, o.Rates)
	if reuse {
		o.logf("reusing the province in %s", o.Dir)
		rep.Generation.Reused = true
	} else {
		o.logf("generating %d persons in %s", o.Persons, o.Dir)
		resetPeakRSS()
		t0 := time.Now()
		sum, err = gen.Generate(ctx, gen.Config{Persons: o.Persons, Seed: o.Seed, Out: o.Dir, Rates: o.Rates})
		if err != nil {
			return nil, err
		}
		rep.Generation.Seconds = time.Since(t0).Seconds()
		rep.Generation.PersonsPerSec = float64(sum.Persons) / rep.Generation.Seconds
		rep.Generation.PeakRSS = engine.PeakRSS()
		o.logf("generated in %.1fs (%.0f persons/s)", rep.Generation.Seconds, rep.Generation.PersonsPerSec)
	}
	for _, f := range sum.Files {
		rep.Generation.Bytes += f.Bytes
	}
	rep.Generation.Files = len(sum.Files)
	rep.Generation.Payments = sum.Payments
	rep.Generation.TruthRows = sum.TruthRows

	// 2. crosscheck.
	j, err := job.Load(filepath.Join(o.Dir, gen.JobFile))
	if err != nil {
		return nil, err
	}
	if o.MemoryLimit != "" {
		j.Engine.MemoryLimit = o.MemoryLimit
	}
	if o.Database != "" {
		for _, f := range []string{o.Database, o.Database + ".wal"} {
			if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
				return nil, err
			}
		}
		j.Engine.Database = o.Database
	}
	spillDir := j.Engine.TempDirectory
	if spillDir == "" {
		spillDir = filepath.Join(benchDir, "duckdb_tmp")
		j.Engine.TempDirectory = spillDir
	}
	os.RemoveAll(spillDir)
	os.MkdirAll(spillDir, 0o755)
	var spillMax int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(250 * time.Millisecond)
		defer tk.Stop()
		for {
			if n := dirSize(spillDir); n > spillMax {
				spillMax = n
			}
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()
	outDir := filepath.Join(benchDir, "crosscheck_out")
	o.logf("running crosscheck")
	debug.FreeOSMemory() // what generation left behind
	resetPeakRSS()
	var logger *slog.Logger
	if o.Log != nil {
		lv := slog.LevelWarn
		if o.Verbose {
			lv = slog.LevelInfo
		}
		logger = slog.New(slog.NewTextHandler(o.Log, &slog.HandlerOptions{Level: lv}))
	}
	eopt := engine.Options{OutDir: outDir, RawIDs: true, Log: logger}
	var prof *stageProfiler
	if o.ProfileDir != "" {
		if prof, err = newStageProfiler(o.ProfileDir); err != nil {
			close(stop)
			wg.Wait()
			return nil, fmt.Errorf("profile: %w", err)
		}
		eopt.StageDone = prof.done
	}
	res, err := engine.Run(ctx, j, eopt)
	close(stop)
	wg.Wait()
	if prof != nil {
		if perr := prof.close(); perr != nil && err == nil {
			err = fmt.Errorf("profile: %w", perr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("crosscheck: %w", err)
	}
	if prof != nil {
		o.logf("profiles in %s (README.txt there says how to read them)", o.ProfileDir)
	}
	perf := &rep.Crosscheck
	perf.Seconds = res.Elapsed.Seconds()
	perf.Timings = res.Timings
	for _, s := range res.Sources {
		perf.RowsRead += s.RowsRead
	}
	perf.RowsPerSec = float64(perf.RowsRead) / perf.Seconds
	perf.PeakRSS = res.PeakRSS
	perf.SpillBytes = spillMax
	if o.Database != "" {
		if st, err := os.Stat(o.Database); err == nil {
			perf.DatabaseBytes = st.Size()
		}
	}
	perf.Hits, perf.Cases = res.Hits, res.Cases
	o.logf("crosscheck: %d hits in %.1fs", res.Hits, perf.Seconds)
	hits, err := ReadHits(filepath.Join(outDir, "hits.csv"))
	if err != nil {
		return nil, err
	}
	// The truth is read after the run, so that its memory is not counted
	// in crosscheck's peak RSS.
	truth, err := ReadTruth(filepath.Join(o.Dir, gen.TruthFile))
	if err != nil {
		return nil, err
	}
	noise, err := ReadNoise(filepath.Join(o.Dir, gen.NoiseFile))
	if err != nil {
		return nil, err
	}
	acc, probs := Evaluate("crosscheck", truth, noise, hits)
	rep.Accuracy = acc

	// 3. Baselines.
	for _, b := range o.Baselines {
		var bl Baseline
		var bh []Hit
		switch strings.TrimSpace(b) {
		case "":
			continue
		case "duckdb":
			bl, bh = runDuckDB(ctx, &o, benchDir)
		case "postgres":
			bl, bh = runPostgres(ctx, &o, benchDir)
		default:
			return nil, fmt.Errorf("unknown baseline %q (duckdb, postgres)", b)
		}
		if bl.Error == "" {
			var p []Problem
			bl.Accuracy, p = Evaluate(bl.Name, truth, noise, bh)
			probs = append(probs, p...)
			if bl.Seconds > 0 {
				bl.Ratio = perf.Seconds / bl.Seconds
			}
		}
		rep.Baselines = append(rep.Baselines, bl)
	}

	// 4. Reports.
	if err := WriteProblems(filepath.Join(benchDir, "problems.csv"), probs); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(benchDir, "bench.json"), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(benchDir, "bench.md"), []byte(rep.Markdown()), 0o644); err != nil {
		return nil, err
	}
	return rep, nil
}

func sameRates(a, b gen.Rates) bool {
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

func mib(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 0, 64) }
