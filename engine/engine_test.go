package engine_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	_ "github.com/crosscheck/crosscheck/connectors/all"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const smallJob = `
periods: ["2024-05"]
sources:
  - name: huji
    role: person
    connector: csv
    path: huji.csv
    columns: {id_number: 身份证号, name: 姓名, birth_date: 出生日期}
  - name: pay
    role: payment
    connector: csv
    path: pay.csv
    columns: {payment_id: 编号, program_code: 项目, period: 期间, id_number: 身份证号, name: 姓名, amount: 金额}
`

// A mapped column missing from a file stops the run before anything is
// loaded, naming the source, the file and the column.
func TestMissingMappedColumnStopsBeforeLoad(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"job.yaml": smallJob,
		"huji.csv": "身份证号,姓名,出生日期\n11010519491231002X,张三,1949-12-31\n",
		"pay.csv":  "编号,项目,期间,身份证号,名字,金额\nP1,gaoling,202405,11010519491231002X,张三,200\n",
	})
	j, err := job.Load(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	_, err = engine.Run(context.Background(), j, engine.Options{OutDir: out})
	if err == nil {
		t.Fatal("run succeeded with a missing column")
	}
	for _, want := range []string{"source pay", "pay.csv", `"姓名"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
		t.Errorf("output folder was created before the check failed")
	}
}

func TestMissingFileStopsBeforeLoad(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"job.yaml": smallJob,
		"huji.csv": "身份证号,姓名,出生日期\n",
	})
	j, err := job.Load(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = engine.Run(context.Background(), j, engine.Options{OutDir: filepath.Join(dir, "out")})
	if err == nil || !strings.Contains(err.Error(), "source pay") || !strings.Contains(err.Error(), "pay.csv") {
		t.Fatalf("want an error naming source pay and pay.csv, got %v", err)
	}
}

// InsertArrow reads a stream once and leaves no view behind that a second
// query could read (DuckDB would return zero rows without an error).
func TestInsertArrowReadsOnce(t *testing.T) {
	ctx := context.Background()
	s, err := engine.Open(ctx, job.Engine{Database: ":memory:", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Exec(ctx, "CREATE TABLE t (n BIGINT)"); err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i := 0; i < 5000; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
	}
	rec := b.NewRecordBatch()
	rdr, err := array.NewRecordReader(schema, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertArrow(ctx, "t", rdr, ""); err != nil {
		t.Fatal(err)
	}
	var n, sum int64
	if err := s.DB.QueryRow("SELECT count(*), sum(n) FROM t").Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 5000 || sum != 4999*5000/2 {
		t.Fatalf("inserted %d rows (sum %d), want 5000", n, sum)
	}
	var views int
	if err := s.DB.QueryRow("SELECT count(*) FROM duckdb_views() WHERE view_name LIKE '_arrow_stream_%'").Scan(&views); err != nil {
		t.Fatal(err)
	}
	if views != 0 {
		t.Errorf("%d registered arrow views left behind", views)
	}
}

func TestMemoryLimitPercent(t *testing.T) {
	ctx := context.Background()
	s, err := engine.Open(ctx, job.Engine{Database: ":memory:", MemoryLimit: "10%"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v string
	if err := s.DB.QueryRow("SELECT current_setting('memory_limit')").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(v, "iB") {
		t.Errorf("memory_limit = %q", v)
	}
	if _, err := engine.Open(ctx, job.Engine{MemoryLimit: "150%"}); err == nil {
		t.Errorf("150%% accepted")
	}
}

// The parallel loader gives the same table, record ids, quarantine file
// and counts whatever the number of workers.
func TestParallelLoadIsDeterministic(t *testing.T) {
	var b strings.Builder
	b.WriteString("编号,项目,期间,身份证号,姓名,金额\n")
	for i := 0; i < 50000; i++ {
		amount := fmt.Sprintf("%d", 100+i%7)
		if i%997 == 0 {
			amount = "n/a" // quarantined: bad_number
		}
		body := fmt.Sprintf("110105%04d0101%03d", 1900+i/1000, i%1000)
		fmt.Fprintf(&b, "P%d,gaoling,202405,%s%c,张三,%s\n", i, body, idnumber.CheckChar(body), amount)
	}
	dir := writeFiles(t, map[string]string{
		"job.yaml": smallJob,
		"huji.csv": "身份证号,姓名,出生日期\n11010519491231002X,张三,1949-12-31\n",
		"pay.csv":  b.String(),
	})
	sums := map[int]string{}
	quarantine := map[int]string{}
	for _, threads := range []int{1, 2, 3} {
		j, err := job.Load(filepath.Join(dir, "job.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		db := filepath.Join(dir, fmt.Sprintf("t%d.duckdb", threads))
		j.Engine.Database = db
		j.Engine.Threads = threads
		out := filepath.Join(dir, fmt.Sprintf("out%d", threads))
		res, err := engine.Run(context.Background(), j, engine.Options{OutDir: out})
		if err != nil {
			t.Fatal(err)
		}
		st := res.Sources[1]
		if st.RowsRead != 50000 || st.RowsQuarantined != 51 || st.RowsAccepted != 50000-51 {
			t.Fatalf("threads %d: counts %d = %d + %d", threads, st.RowsRead, st.RowsAccepted, st.RowsQuarantined)
		}
		s, err := engine.Open(context.Background(), job.Engine{Database: db})
		if err != nil {
			t.Fatal(err)
		}
		var sum string
		if err := s.DB.QueryRow(`SELECT md5(string_agg(concat_ws('|', _rid, _row, payment_id, amount, _orig), ',' ORDER BY _rid)) FROM payment`).Scan(&sum); err != nil {
			t.Fatal(err)
		}
		s.Close()
		sums[threads] = sum
		q, err := os.ReadFile(filepath.Join(out, "quarantine", "pay.csv"))
		if err != nil {
			t.Fatal(err)
		}
		quarantine[threads] = string(q)
	}
	if sums[1] != sums[2] || sums[1] != sums[3] {
		t.Errorf("payment tables differ with the number of workers: %v", sums)
	}
	if quarantine[1] != quarantine[2] || quarantine[1] != quarantine[3] {
		t.Errorf("quarantine files differ with the number of workers")
	}
	if !strings.Contains(quarantine[1], "pay.csv,2,金额,bad_number") {
		t.Errorf("quarantine lacks the first bad row (line 2):\n%.300s", quarantine[1])
	}
}

// With a progress writer the loader draws one line per source with rows
// and bytes, ending with the source's total.
func TestProgressBar(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"job.yaml": smallJob,
		"huji.csv": "身份证号,姓名,出生日期\n11010519491231002X,张三,1949-12-31\n",
		"pay.csv":  "编号,项目,期间,身份证号,姓名,金额\nP1,gaoling,202405,11010519491231002X,张三,200\n",
	})
	j, err := job.Load(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	if _, err := engine.Run(context.Background(), j, engine.Options{OutDir: filepath.Join(dir, "out"), Progress: &lockedWriter{w: &buf}}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"huji", "pay", "1 rows", "MB"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress output lacks %q:\n%q", want, out)
		}
	}
	if strings.Count(out, "\n") != 2 {
		t.Errorf("want one finished line per source, got %q", out)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
