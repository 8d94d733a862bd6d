package screen_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/benchmarks/gen"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/screen"
	"github.com/crosscheck/crosscheck/store"
)

// BenchmarkStoreScreen measures, on a generated province of
// CROSSCHECK_BENCH_PERSONS persons (default 100,000; generated into
// CROSSCHECK_BENCH_DIR when set and reused by later runs), the first
// store refresh, the screen of a 50,000-payment roll (the first rows of
// the 民政 roll of 2024-05, all of them when it is shorter), a refresh
// after a 20,000-row death extract with screen --changed of the job's
// rolls, and Check latency with 50 concurrent callers
// (CROSSCHECK_BENCH_CHECKS checks, default 200; 0 skips them). It ends
// with one table: each step's seconds and the peak RSS of the process
// during that step (the high-water mark is reset before each step,
// Linux). Figures go to the log (-v); run:
//
//	CROSSCHECK_BENCH_PERSONS=1000000 CROSSCHECK_BENCH_DIR=/tmp/bench1m go test -tags duckdb_arrow -run '^$' -bench StoreScreen -benchtime 1x -v ./screen/
func BenchmarkStoreScreen(b *testing.B) {
	var tab stepTable
	ctx := context.Background()
	n := 100000
	if v := os.Getenv("CROSSCHECK_BENCH_PERSONS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	dir := os.Getenv("CROSSCHECK_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	if _, err := os.Stat(filepath.Join(dir, "job.yaml")); err != nil {
		t0 := time.Now()
		if _, err := gen.Generate(ctx, gen.Config{Persons: n, Seed: 1, Out: dir}); err != nil {
			b.Fatal(err)
		}
		b.Logf("generated %d persons in %.1fs", n, time.Since(t0).Seconds())
	}
	j, err := job.Load(filepath.Join(dir, "job.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	work := b.TempDir()
	st := filepath.Join(work, "ref.duckdb")
	t0 := tab.start()
	r, err := store.Refresh(ctx, j, st, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	tab.step(fmt.Sprintf("first refresh (%d persons)", n), t0)
	b.Logf("first refresh: %.1fs (peak RSS so far %d MiB)", time.Since(t0).Seconds(), engine.PeakRSS()>>20)

	// The roll: the first 50,000 payments of the 民政 roll of 2024-05 (same encoding, same header).
	roll := filepath.Join(work, "yikatong_minzheng_202405.csv")
	rows := headLines(b, filepath.Join(dir, "caizheng", "yikatong_minzheng_202405.csv"), roll, 50000)
	s, err := screen.Open(ctx, st, screen.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 = tab.start()
		rr, err := s.Roll(ctx, screen.RollInput{Path: roll}, filepath.Join(work, fmt.Sprintf("screen%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		tab.step(fmt.Sprintf("screen of a %d-payment roll (%d hits, %d stops)", rows, rr.Hits, len(rr.Stops)), t0)
		b.Logf("screen of a %d-payment roll: %.2fs, %d hits, %d stops", rows, time.Since(t0).Seconds(), rr.Hits, len(rr.Stops))
	}
	b.StopTimer()

	// Check latency, 50 concurrent callers, 200 checks of registered persons of the roll.
	nChecks := 200
	if v := os.Getenv("CROSSCHECK_BENCH_CHECKS"); v != "" {
		if nChecks, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	var apps []screen.Applicant
	if nChecks > 0 {
		apps = applicants(b, st, nChecks)
	}
	lat := make([]time.Duration, len(apps))
	var wg sync.WaitGroup
	next := make(chan int)
	t0 = time.Now()
	for w := 0; w < 50; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c0 := time.Now()
				if _, err := s.Check(ctx, apps[i]); err != nil {
					b.Error(err)
				}
				lat[i] = time.Since(c0)
			}
		}()
	}
	for i := range apps {
		next <- i
	}
	close(next)
	wg.Wait()
	total := time.Since(t0)
	sort.Slice(lat, func(a, c int) bool { return lat[a] < lat[c] })
	if len(lat) > 0 {
		b.Logf("check: %d checks, 50 concurrent, %.1fs: p50 %s, p99 %s", len(lat), total.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100])
	}
	s.Close()

	// The first screen --changed of the job's rolls after the first
	// refresh (nothing changed since): it maps every roll and fills the
	// roll cache (engine/rollcache.go) that the next --changed reads.
	t0 = tab.start()
	sw, err := screen.Open(ctx, st, screen.Options{})
	if err != nil {
		b.Fatal(err)
	}
	rw, err := sw.Roll(ctx, screen.RollInput{JobRolls: true, Changed: true, Since: r.Seq}, filepath.Join(work, "changed-first"))
	if err != nil {
		b.Fatal(err)
	}
	sw.Close()
	tab.step(fmt.Sprintf("first screen --changed of the job's rolls (fills the roll cache; %d payments)", rw.Payments), t0)

	// A 20,000-row death extract appended to the cremation file, refresh + screen --changed.
	deathRows := appendDeaths(b, st, filepath.Join(dir, "minzheng", "huohua_jilu.csv"), 20000)
	t0 = tab.start()
	r2, err := store.Refresh(ctx, j, st, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	tr := time.Since(t0)
	tab.step(fmt.Sprintf("refresh after a %d-row death extract (%d persons changed)", deathRows, r2.ChangedPersons), t0)
	t1 := tab.start()
	s2, err := screen.Open(ctx, st, screen.Options{})
	if err != nil {
		b.Fatal(err)
	}
	rr, err := s2.Roll(ctx, screen.RollInput{JobRolls: true, Changed: true, Since: r2.Seq - 1}, filepath.Join(work, "changed"))
	if err != nil {
		b.Fatal(err)
	}
	s2.Close()
	tab.step(fmt.Sprintf("screen --changed of the job's rolls (%d payments, %d hits)", rr.Payments, rr.Hits), t1)
	tab.rows = append(tab.rows, stepRow{name: "refresh + screen --changed", sec: time.Since(t0).Seconds()})
	b.Logf("refresh after a %d-row death extract: %.1fs (%d files loaded, %d persons changed); screen --changed: %.1fs (%d payments, %d hits); total %.1fs",
		deathRows, tr.Seconds(), r2.FilesLoaded, r2.ChangedPersons, rr.Elapsed.Seconds(), rr.Payments, rr.Hits, time.Since(t0).Seconds())
	b.Logf("peak RSS %d MiB", engine.PeakRSS()>>20)
	// The cremation file is restored for a reused CROSSCHECK_BENCH_DIR.
	restoreDeaths(b)
	b.Logf("store %d persons, GOMAXPROCS %d:\n%s", n, runtime.GOMAXPROCS(0), tab.String())
}

// BenchmarkRollScreen measures the screen of a 50,000-payment roll (the
// first rows of the 民政 roll of 2024-05 of the generated province
// CROSSCHECK_BENCH_DIR) against an existing store, CROSSCHECK_BENCH_STORE
// (refreshed from that province's job.yaml, as /tmp/sizes builds them),
// copied first: the screen step of BenchmarkStoreScreen without its first
// refresh. Each iteration opens the screener and screens the roll, as
// `crosscheck screen` does; skipped without CROSSCHECK_BENCH_STORE. Run:
//
//	CROSSCHECK_BENCH_STORE=/tmp/sizes/ref-1000000.duckdb CROSSCHECK_BENCH_DIR=/tmp/sizes/1000000 go test -tags duckdb_arrow -run '^$' -bench RollScreen -benchtime 3x -v ./screen/
func BenchmarkRollScreen(b *testing.B) {
	from, dir := os.Getenv("CROSSCHECK_BENCH_STORE"), os.Getenv("CROSSCHECK_BENCH_DIR")
	if from == "" || dir == "" {
		b.Skip("CROSSCHECK_BENCH_STORE and CROSSCHECK_BENCH_DIR name a store and its generated province")
	}
	ctx := context.Background()
	work := b.TempDir()
	st := filepath.Join(work, "ref.duckdb")
	copyFile(b, from, st)
	roll := filepath.Join(work, "yikatong_minzheng_202405.csv")
	rows := headLines(b, filepath.Join(dir, "caizheng", "yikatong_minzheng_202405.csv"), roll, 50000)
	var tab stepTable
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := tab.start()
		s, err := screen.Open(ctx, st, screen.Options{})
		if err != nil {
			b.Fatal(err)
		}
		rr, err := s.Roll(ctx, screen.RollInput{Path: roll}, filepath.Join(work, fmt.Sprintf("screen%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
		tab.step(fmt.Sprintf("open + screen of a %d-payment roll (%d hits, %d stops)", rows, rr.Hits, len(rr.Stops)), t0)
		for _, tm := range rr.Result.Timings {
			b.Logf("  %s %.2fs", tm.Stage, tm.Seconds)
		}
	}
	b.StopTimer()
	b.Logf("GOMAXPROCS %d:\n%s", runtime.GOMAXPROCS(0), tab.String())
}

func copyFile(b *testing.B, from, to string) {
	r, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	w, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(w, r); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// stepTable collects the benchmark's steps: seconds and the peak RSS of
// the process during the step.
type stepTable struct {
	rows []stepRow
	cpu0 time.Duration
}

type stepRow struct {
	name string
	sec  float64
	cpu  time.Duration // the process's CPU time (all threads) during the step
	rss  int64         // bytes; 0: not measured
}

// start resets the process's RSS high-water mark (Linux: clear_refs 5)
// and returns the step's start.
func (t *stepTable) start() time.Time {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	t.cpu0 = processCPU()
	return time.Now()
}

func (t *stepTable) step(name string, t0 time.Time) {
	t.rows = append(t.rows, stepRow{name: name, sec: time.Since(t0).Seconds(), cpu: processCPU() - t.cpu0, rss: engine.PeakRSS()})
}

func (t *stepTable) String() string {
	var b strings.Builder
	b.WriteString("| step | seconds | CPU seconds (all threads) | peak RSS during the step |\n|---|---:|---:|---:|\n")
	for _, r := range t.rows {
		rss, cpu := "", ""
		if r.rss > 0 {
			rss = fmt.Sprintf("%d MiB", r.rss>>20)
			cpu = fmt.Sprintf("%.2f", r.cpu.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %.2f | %s | %s |\n", r.name, r.sec, cpu, rss)
	}
	return b.String()
}

var restore func()

func restoreDeaths(b *testing.B) {
	if restore != nil {
		restore()
		restore = nil
	}
}

// headLines copies the header and the first n lines of a file; it returns
// the number of data lines copied.
func headLines(b *testing.B, from, to string, n int) int {
	f, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	out, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	w := bufio.NewWriter(out)
	lines := -1
	for sc.Scan() && lines < n {
		w.Write(sc.Bytes())
		w.WriteByte('\n')
		lines++
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	return lines
}

func openStore(b testing.TB, st string) *sql.DB {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("ATTACH '%s' AS s (READ_ONLY)", st)); err != nil {
		b.Fatal(err)
	}
	return db
}

// applicants are n living persons of the registry applying for 高龄津贴 in 2024-05.
func applicants(b testing.TB, st string, n int) []screen.Applicant {
	return applicantsOrdered(b, st, n, "hash(_rid)")
}

// applicantsOrdered are the first n living persons of the registry in
// order, applying for 高龄津贴 in 2024-05.
func applicantsOrdered(b testing.TB, st string, n int, order string) []screen.Applicant {
	db := openStore(b, st)
	defer db.Close()
	rows, err := db.Query(fmt.Sprintf(`SELECT id_number, name FROM s.person WHERE person_key IS NOT NULL
		ORDER BY %s LIMIT %d`, order, n))
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var out []screen.Applicant
	for rows.Next() {
		var a screen.Applicant
		if err := rows.Scan(&a.IDNumber, &a.Name); err != nil {
			b.Fatal(err)
		}
		a.Program, a.Period = "gaoling", "2024-05"
		out = append(out, a)
	}
	return out
}

// appendDeaths appends n cremation records of living registered persons.
func appendDeaths(b *testing.B, st, file string, n int) int {
	orig, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	restore = func() { os.WriteFile(file, orig, 0o644) }
	db := openStore(b, st)
	defer db.Close()
	rows, err := db.Query(fmt.Sprintf(`SELECT person_key, name, coalesce(gender, ''), strftime(birth_date, '%%Y-%%m-%%d') FROM s.person
		WHERE person_key IS NOT NULL AND death_date IS NULL AND birth_date IS NOT NULL AND person_key NOT IN (SELECT person_key FROM s.death WHERE person_key IS NOT NULL)
		ORDER BY hash(_rid + 7) LIMIT %d`, n))
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	k := 0
	for rows.Next() {
		var id, name, g, birth string
		if err := rows.Scan(&id, &name, &g, &birth); err != nil {
			b.Fatal(err)
		}
		k++
		fmt.Fprintf(w, "HB%09d,%s,%s,%s,%s,2024-03-01,2024-03-03,,殡仪馆\n", k, name, g, id, birth)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return k
}

// BenchmarkCheck runs Checks one after another against the reference
// store CROSSCHECK_CHECK_STORE (default: a store refreshed from the
// sample), applicants drawn from its registry (高龄津贴, 2024-05). With
// CROSSCHECK_CHECK_TRACE=1 each check's step and rule times go to stderr
// (debug log). Profile it:
//
//	go test -tags duckdb_arrow -run '^$' -bench '^BenchmarkCheck$' -benchtime 50x -cpuprofile /tmp/check.prof ./screen/
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	s, st := openCheckBench(b)
	defer s.Close()
	apps := applicants(b, st, 200)
	// the first check opens the pooled session
	if _, err := s.Check(ctx, apps[0]); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	cpu0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c0 := time.Now()
		if _, err := s.Check(ctx, apps[i%len(apps)]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(c0))
	}
	b.StopTimer()
	cpu := processCPU() - cpu0
	sort.Slice(lat, func(a, c int) bool { return lat[a] < lat[c] })
	b.Logf("%d checks one at a time: p50 %s, p99 %s; process CPU %s per check; peak RSS %d MiB", len(lat), lat[len(lat)/2], lat[len(lat)*99/100],
		(cpu / time.Duration(len(lat))).Round(time.Millisecond), engine.PeakRSS()>>20)
}

// processCPU is the process's user and system CPU time (Linux; 0 elsewhere),
// all threads (DuckDB's included), in clock ticks of 10 ms.
func processCPU() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// the fields after the command name in parentheses: utime and stime
	// are the 12th and 13th
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

// BenchmarkCheckConcurrent is BenchmarkCheck with 50 callers in a closed
// loop (b.N checks in all), as 50 clients of POST /api/v1/check: the
// checks waiting are screened together in batches. It logs p50, p99, the
// process's CPU per check, the mean batch and peak RSS.
//
//	CROSSCHECK_CHECK_STORE=/tmp/ref.duckdb go test -tags duckdb_arrow -run '^$' -bench '^BenchmarkCheckConcurrent$' -benchtime 500x ./screen/
func BenchmarkCheckConcurrent(b *testing.B) {
	ctx := context.Background()
	s, st := openCheckBench(b)
	defer s.Close()
	apps := applicants(b, st, 1000)
	if _, err := s.Check(ctx, apps[0]); err != nil {
		b.Fatal(err)
	}
	const clients = 50
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	c0, b0 := s.BatchStats()
	cpu0 := processCPU()
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if _, err := s.Check(ctx, apps[i%len(apps)]); err != nil {
					errs <- err
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	cpu := processCPU() - cpu0
	c1, b1 := s.BatchStats()
	sort.Slice(lat, func(a, c int) bool { return lat[a] < lat[c] })
	b.Logf("%d checks by %d callers: p50 %s, p99 %s; process CPU %s per check; %d batches (mean %.1f checks); peak RSS %d MiB",
		len(lat), clients, lat[len(lat)/2], lat[len(lat)*99/100], (cpu / time.Duration(len(lat))).Round(time.Millisecond),
		b1-b0, float64(c1-c0)/float64(max(1, b1-b0)), engine.PeakRSS()>>20)
}

// openCheckBench opens the screener the Check benchmarks use: the store
// CROSSCHECK_CHECK_STORE, or one refreshed from the sample; with
// CROSSCHECK_CHECK_TRACE set, debug log to stderr. It returns the
// screener and the store's path.
func openCheckBench(b *testing.B) (*screen.Screener, string) {
	ctx := context.Background()
	st := os.Getenv("CROSSCHECK_CHECK_STORE")
	if st == "" {
		j, err := job.Load(filepath.Join(henanDir, "job.yaml"))
		if err != nil {
			b.Fatal(err)
		}
		st = filepath.Join(b.TempDir(), "ref.duckdb")
		if _, err := store.Refresh(ctx, j, st, store.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	opt := screen.Options{}
	if os.Getenv("CROSSCHECK_CHECK_TRACE") != "" {
		opt.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := screen.Open(ctx, st, opt)
	if err != nil {
		b.Fatal(err)
	}
	return s, st
}
