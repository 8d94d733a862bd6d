package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/mapping"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// benchPayments writes a payment roll of about mb megabytes in UTF-8 (13
// columns, like the generated province's rolls) and the same rows in GBK.
func benchPayments(b *testing.B, dir string, mb int) (utf8Path, gbkPath string) {
	b.Helper()
	utf8Path = filepath.Join(dir, "pay.csv")
	gbkPath = filepath.Join(dir, "pay_gbk.csv")
	f, err := os.Create(utf8Path)
	if err != nil {
		b.Fatal(err)
	}
	g, err := os.Create(gbkPath)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	gw := bufio.NewWriterSize(simplifiedchinese.GBK.NewEncoder().Writer(g), 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	surnames := []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"}
	given := []string{"伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟"}
	programs := []string{"高龄津贴", "城乡低保", "特困供养"}
	header := "流水号,项目名称,发放年月,区划代码,户号,姓名,身份证号,开户名,银行账号,账户类型,开户银行,发放金额,发放日期\n"
	w.WriteString(header)
	gw.WriteString(header)
	var size int64
	for i := 0; size < int64(mb)<<20; i++ {
		body := fmt.Sprintf("4101%02d%04d%02d%02d%03d", 1+r.IntN(20), 1930+r.IntN(70), 1+r.IntN(12), 1+r.IntN(28), r.IntN(1000))
		name := surnames[r.IntN(len(surnames))] + given[r.IntN(len(given))]
		line := fmt.Sprintf("MZ2024%013d,%s,2024年5月,4101%02d%03d%03d,4101%011d,%s,%s%c,%s,62170%014d,社会保障卡,中国建设银行,%d.00,2024/5/%d\n",
			i, programs[r.IntN(3)], 1+r.IntN(20), r.IntN(100), r.IntN(300), r.IntN(1e9), name, body, idnumber.CheckChar(body), name,
			r.Int64N(1e14), 50+r.IntN(500), 1+r.IntN(28))
		w.WriteString(line)
		gw.WriteString(line)
		size += int64(len(line))
	}
	for _, c := range []interface{ Flush() error }{w, gw} {
		if err := c.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	g.Close()
	return utf8Path, gbkPath
}

const benchLoadJob = `
periods: ["2024-05"]
sources:
  - name: pay
    role: payment
    connector: csv
    path: %s
    options: {encoding: %s}
    columns:
      payment_id: 流水号
      program_code: {column: 项目名称, map: {高龄津贴: gaoling, 城乡低保: dibao, 特困供养: tekun}}
      period: 发放年月
      region_code: 区划代码
      household_id: 户号
      name: 姓名
      id_number: 身份证号
      account_holder: 开户名
      account_no: 银行账号
      account_type: {column: 账户类型, map: {社会保障卡: ssc}, default: other}
      bank: 开户银行
      amount: 发放金额
      paid_date: 发放日期
`

// clearPeakRSS resets the process's peak resident set size (Linux).
func clearPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is the process's peak resident set size in bytes (Linux).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(l, "VmHWM:"), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// benchMemoryLimit is DuckDB's memory_limit for the load benchmarks:
// CROSSCHECK_BENCH_MEMORY_LIMIT, default 4GiB.
func benchMemoryLimit() string {
	if v := os.Getenv("CROSSCHECK_BENCH_MEMORY_LIMIT"); v != "" {
		return v
	}
	return "4GiB"
}

// cpuSeconds is the CPU time (user and system, every thread: Go's and
// DuckDB's) the process has used so far. On a shared machine it is a
// steadier measure of the work than the wall time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// loadStage runs the load stage of a one-source job (jobText, with
// DuckDB's memory_limit memLimit) and returns its seconds, the source's
// counts and the process's peak RSS in bytes during it.
func loadStage(b *testing.B, jobText, memLimit string) (float64, *mapping.Stats, int64) {
	b.Helper()
	jd := b.TempDir()
	if err := os.WriteFile(filepath.Join(jd, "job.yaml"), []byte(jobText), 0o644); err != nil {
		b.Fatal(err)
	}
	j, err := job.Load(filepath.Join(jd, "job.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	j.Engine.MemoryLimit = memLimit
	clearPeakRSS()
	p, err := engine.Prepare(context.Background(), j, engine.Options{OutDir: filepath.Join(jd, "out"), LoadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	rss := peakRSS()
	for _, t := range p.Result.Timings {
		if t.Stage == "load" {
			return t.Seconds, p.Result.Sources[0], rss
		}
	}
	b.Fatal("no load stage")
	return 0, nil, 0
}

// BenchmarkCSVLoad compares loading a payment roll into DuckDB (reading,
// mapping, normalising, inserting) with DuckDB's own read_csv into a
// table, on the same file in the same run. Size: CROSSCHECK_BENCH_CSV_MB
// (default 100; the figures use 2048 and 5120), DuckDB's
// memory_limit CROSSCHECK_BENCH_MEMORY_LIMIT (default 4GiB). Reports MB/s of the UTF-8
// file for each way and the ratio to read_csv.
//
//	go test -run '^$' -bench CSVLoad -benchtime 1x ./engine/
func BenchmarkCSVLoad(b *testing.B) {
	memLimit := benchMemoryLimit()
	mb := 100
	if v, err := strconv.Atoi(os.Getenv("CROSSCHECK_BENCH_CSV_MB")); err == nil && v > 0 {
		mb = v
	}
	dir := b.TempDir()
	utf8Path, gbkPath := benchPayments(b, dir, mb)
	st, _ := os.Stat(utf8Path)
	size := float64(st.Size()) / (1 << 20)
	ctx := context.Background()
	type timing struct{ wall, cpu float64 }
	readCSV := func(q string) timing {
		s, err := engine.Open(ctx, job.Engine{Database: ":memory:"})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		t0, c0 := time.Now(), cpuSeconds()
		if _, err := s.DB.Exec(q); err != nil {
			b.Fatal(err)
		}
		return timing{time.Since(t0).Seconds(), cpuSeconds() - c0}
	}
	load := func(path, enc string) timing {
		c0 := cpuSeconds()
		secs, st, rss := loadStage(b, fmt.Sprintf(benchLoadJob, path, enc), memLimit)
		cpu := cpuSeconds() - c0
		if st.RowsQuarantined != 0 {
			b.Fatalf("%d rows quarantined", st.RowsQuarantined)
		}
		b.Logf("  %s: load %.1f s (%d rows, %.0f rows/s), peak RSS %.0f MiB (memory_limit %s)", enc, secs, st.RowsRead, float64(st.RowsRead)/secs,
			float64(rss)/(1<<20), memLimit)
		return timing{secs, cpu}
	}
	// CROSSCHECK_BENCH_CSV_ONLY=utf-8 (or gbk) loads that file alone, for
	// profiling one way.
	only := os.Getenv("CROSSCHECK_BENCH_CSV_ONLY")
	b.Logf("file: %.0f MB UTF-8", size)
	for i := 0; i < b.N; i++ {
		if only != "" {
			p := utf8Path
			if only == "gbk" {
				p = gbkPath
			}
			t := load(p, only)
			b.Logf("crosscheck, %s: %6.1f s  %6.1f MB/s of UTF-8 text, CPU %.1f s", only, t.wall, size/t.wall, t.cpu)
			continue
		}
		base := readCSV(fmt.Sprintf("CREATE TABLE t AS FROM read_csv('%s')", utf8Path))
		baseVarchar := readCSV(fmt.Sprintf("CREATE TABLE t AS FROM read_csv('%s', all_varchar = true)", utf8Path))
		conn := load(utf8Path, "utf-8")
		gbk := load(gbkPath, "gbk")
		b.Logf("                                      wall        MB/s       CPU (all threads)")
		b.Logf("read_csv into a table:              %6.1f s  %6.1f MB/s  %6.1f s", base.wall, size/base.wall, base.cpu)
		b.Logf("read_csv(all_varchar) into a table: %6.1f s  %6.1f MB/s  %6.1f s", baseVarchar.wall, size/baseVarchar.wall, baseVarchar.cpu)
		b.Logf("crosscheck, UTF-8:                  %6.1f s  %6.1f MB/s  %6.1f s  %.0f%% of read_csv (CPU: %.0f%%)", conn.wall, size/conn.wall, conn.cpu,
			100*base.wall/conn.wall, 100*base.cpu/conn.cpu)
		b.Logf("crosscheck, GBK (same rows):        %6.1f s  %6.1f MB/s  %6.1f s  %.0f%% of the UTF-8 load (CPU: %.0f%%)", gbk.wall, size/gbk.wall, gbk.cpu,
			100*conn.wall/gbk.wall, 100*conn.cpu/gbk.cpu)
		b.ReportMetric(size/base.wall, "read_csv-MB/s")
		b.ReportMetric(size/conn.wall, "utf8-MB/s")
		b.ReportMetric(size/gbk.wall, "gbk-MB/s")
		b.ReportMetric(base.wall/conn.wall, "ratio")
		b.ReportMetric(base.cpu/conn.cpu, "cpu-ratio")
	}
}

// BenchmarkXLSXLoad loads a generated workbook of CROSSCHECK_BENCH_XLSX_ROWS
// payment rows (default 200,000; random values so that it compresses like
// a real roll) through the xlsx connector into DuckDB and reports the load
// time, the file size and the process's peak RSS with memory_limit
// CROSSCHECK_BENCH_MEMORY_LIMIT (default 4GiB): the streaming reader keeps
// memory flat as the file grows.
//
//	CROSSCHECK_BENCH_XLSX_ROWS=1000000 go test -run '^$' -bench XLSXLoad -benchtime 1x -timeout 60m ./engine/
func BenchmarkXLSXLoad(b *testing.B) {
	rows := 200000
	if v, err := strconv.Atoi(os.Getenv("CROSSCHECK_BENCH_XLSX_ROWS")); err == nil && v > 0 {
		rows = v
	}
	if rows > 1<<20-1 {
		b.Fatalf("a sheet holds at most %d data rows", 1<<20-1)
	}
	memLimit := benchMemoryLimit()
	dir := b.TempDir()
	path := filepath.Join(dir, "pay.xlsx")
	f := excelize.NewFile()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		b.Fatal(err)
	}
	sw.SetRow("A1", []any{"流水号", "姓名", "身份证号", "银行账号", "发放金额", "发放日期"})
	r := rand.New(rand.NewPCG(3, 4))
	surnames := []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"}
	given := []string{"伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军"}
	for i := 1; i <= rows; i++ {
		body := fmt.Sprintf("4101%02d%04d%02d%02d%03d", 1+r.IntN(20), 1930+r.IntN(70), 1+r.IntN(12), 1+r.IntN(28), r.IntN(1000))
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := sw.SetRow(cell, []any{fmt.Sprintf("MZ%012d", i), surnames[r.IntN(10)] + given[r.IntN(10)], body + string(idnumber.CheckChar(body)),
			fmt.Sprintf("62170%014d", r.Int64N(1e14)), float64(50 + r.IntN(500)), fmt.Sprintf("2024-05-%02d", 1+r.IntN(28))}); err != nil {
			b.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.SaveAs(path); err != nil {
		b.Fatal(err)
	}
	f.Close()
	st, _ := os.Stat(path)
	jobText := fmt.Sprintf(`
periods: ["2024-05"]
sources:
  - name: pay
    role: payment
    connector: xlsx
    path: %s
    columns: {payment_id: 流水号, program_code: {constant: dibao}, period: {constant: "2024-05"}, name: 姓名, id_number: 身份证号, account_no: 银行账号, amount: 发放金额, paid_date: 发放日期}
`, path)
	for i := 0; i < b.N; i++ {
		secs, src, rss := loadStage(b, jobText, memLimit)
		if src.RowsRead != int64(rows) || src.RowsQuarantined != 0 {
			b.Fatalf("read %d, quarantined %d", src.RowsRead, src.RowsQuarantined)
		}
		b.Logf("%d rows, %.0f MB .xlsx: load %.1f s (%.0f rows/s), peak RSS %.0f MiB (memory_limit %s)",
			rows, float64(st.Size())/(1<<20), secs, float64(rows)/secs, float64(rss)/(1<<20), memLimit)
		b.ReportMetric(float64(rows)/secs, "rows/s")
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
	}
}
