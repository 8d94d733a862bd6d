package mysql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/connectors/conformance"
)

// The tests run against a real MySQL or MariaDB server:
// $CROSSCHECK_TEST_MYSQL_DSN, or the local test server (root without
// password, database test).
func candidateDSN() string {
	if d := os.Getenv("CROSSCHECK_TEST_MYSQL_DSN"); d != "" {
		return d
	}
	return "root@tcp(127.0.0.1:3306)/test?timeout=3s"
}

var (
	serverOnce sync.Once
	serverErr  error
)

func ping() error {
	db, err := sql.Open("mysql", candidateDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// server skips the test unless a server is reachable, trying to start the
// local one as .ci/run does.
func server(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("MySQL/MariaDB integration test: skipped with -short")
	}
	serverOnce.Do(func() {
		if serverErr = ping(); serverErr == nil {
			return
		}
		if _, err := os.Stat("/usr/sbin/mariadbd"); err == nil {
			exec.Command("start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/mariadbd").Run()
		}
		for i := 0; i < 30; i++ {
			time.Sleep(500 * time.Millisecond)
			if serverErr = ping(); serverErr == nil {
				return
			}
		}
	})
	if serverErr != nil {
		t.Skipf("MySQL/MariaDB integration test: no server reachable after trying to start the local one (CROSSCHECK_TEST_MYSQL_DSN selects another): %v", serverErr)
	}
	return candidateDSN()
}

type fixture struct {
	dsn string
	db  string
	sql *sql.DB
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dsn := server(t)
	b := make([]byte, 6)
	rand.Read(b)
	fx := &fixture{dsn: dsn, db: "cc_test_" + hex.EncodeToString(b)}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	fx.sql = db
	t.Cleanup(func() {
		db.Exec("DROP DATABASE IF EXISTS " + fx.db)
		db.Close()
	})
	fx.exec(t, "CREATE DATABASE "+fx.db+" CHARACTER SET utf8mb4")
	t.Setenv("CROSSCHECK_MYSQL_DSN", dsn)
	return fx
}

func (fx *fixture) exec(t testing.TB, q string, args ...any) {
	t.Helper()
	if _, err := fx.sql.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (fx *fixture) payroll(t testing.TB) string {
	fx.exec(t, "CREATE TABLE "+fx.db+".`低保名册` (\n"+
		"id INT PRIMARY KEY, `姓名` VARCHAR(50), `身份证号` VARCHAR(18), `旧证号` BIGINT, `金额` DECIMAL(12,2),\n"+
		"`发放日期` DATE, `在册` BOOLEAN, updated_at DATETIME(6))")
	fx.exec(t, "INSERT INTO "+fx.db+".`低保名册` VALUES\n"+
		"(1, '张三', '410102198001010012', 410102800101001, 300.00, '2024-05-01', TRUE, '2024-05-01 10:00:00'),\n"+
		"(2, '李四', NULL, NULL, NULL, NULL, NULL, '2024-05-02 10:00:00.25'),\n"+
		"(3, '王五', '41108219900101123X', 411082900101101, 1234567.89, '1999-12-31', FALSE, '2024-05-03 10:00:00')")
	return fx.db + ".低保名册"
}

var payrollWant = [][]string{
	{"1", "张三", "410102198001010012", "410102800101001", "300.00", "2024-05-01", "1", "2024-05-01 10:00:00.000000"},
	{"2", "李四", "", "", "", "", "", "2024-05-02 10:00:00.250000"},
	{"3", "王五", "41108219900101123X", "411082900101101", "1234567.89", "1999-12-31", "0", "2024-05-03 10:00:00.000000"},
}

func build(t testing.TB, opts map[string]any) connectors.Source {
	t.Helper()
	src, err := connectors.Default.Clone().Build("mysql", "残联", "", opts)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestConformance(t *testing.T) {
	fx := newFixture(t)
	table := fx.payroll(t)
	t.Run("table", func(t *testing.T) {
		conformance.Run(t, func(t *testing.T) connectors.Source {
			return build(t, map[string]any{"table": table, "order_by": "id"})
		}, payrollWant, conformance.WithRows(1, 2, 3), conformance.WithInputs(1))
	})
	t.Run("query", func(t *testing.T) {
		q := "SELECT `姓名`, `金额` FROM " + fx.db + ".`低保名册` WHERE `金额` > 100 ORDER BY id;"
		conformance.Run(t, func(t *testing.T) connectors.Source { return build(t, map[string]any{"query": q}) },
			[][]string{{"张三", "300.00"}, {"王五", "1234567.89"}}, conformance.WithRows(1, 2))
	})
	t.Run("watermark", func(t *testing.T) {
		conformance.Run(t, func(t *testing.T) connectors.Source {
			return build(t, map[string]any{"table": table, "watermark_column": "updated_at"})
		}, payrollWant, conformance.WithRows(1, 2, 3))
	})
}

func TestHeaders(t *testing.T) {
	fx := newFixture(t)
	table := fx.payroll(t)
	hdrs, err := build(t, map[string]any{"table": table}).Headers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"id", "姓名", "身份证号", "旧证号", "金额", "发放日期", "在册", "updated_at"}
	if len(hdrs) != 1 || !reflect.DeepEqual(hdrs[0].Names, want) || hdrs[0].Input != table || !strings.HasPrefix(hdrs[0].Path, "mysql://") {
		t.Errorf("headers %+v", hdrs)
	}
	_, err = build(t, map[string]any{"table": table, "watermark_column": "changed_at"}).Headers(context.Background())
	if err == nil || !strings.Contains(err.Error(), `no column "changed_at"`) {
		t.Errorf("missing watermark column: %v", err)
	}
}

func TestIncremental(t *testing.T) {
	fx := newFixture(t)
	table := fx.payroll(t)
	opts := map[string]any{"table": table, "watermark_column": "updated_at"}
	src := build(t, opts)
	inc, ok := src.(connectors.Incremental)
	if !ok {
		t.Fatal("mysql source is not connectors.Incremental")
	}
	recs, inputs := conformance.ReadAll(t, src, context.Background())
	if !reflect.DeepEqual(conformance.Values(recs), payrollWant) || inputs[0].Rows != 3 {
		t.Fatalf("first pull %q %+v", conformance.Values(recs), inputs)
	}
	w1 := inc.Watermark()
	if w1 != "2024-05-03 10:00:00.000000" {
		t.Fatalf("watermark after first pull %q", w1)
	}

	fx.exec(t, "UPDATE "+fx.db+".`低保名册` SET `姓名` = '张三丰', `金额` = 350, updated_at = '2024-06-01 09:00:00.123456' WHERE id = 1")
	fx.exec(t, "INSERT INTO "+fx.db+".`低保名册` VALUES (4, '赵六', '410102198001010012', NULL, 0.5, '2024-06-01', TRUE, '2024-06-01 08:00:00')")

	src2 := build(t, opts)
	src2.(connectors.Incremental).SetWatermark(w1)
	recs, inputs = conformance.ReadAll(t, src2, context.Background())
	want := [][]string{
		{"4", "赵六", "410102198001010012", "", "0.50", "2024-06-01", "1", "2024-06-01 08:00:00.000000"},
		{"1", "张三丰", "410102198001010012", "410102800101001", "350.00", "2024-05-01", "1", "2024-06-01 09:00:00.123456"},
	}
	if got := conformance.Values(recs); !reflect.DeepEqual(got, want) {
		t.Errorf("incremental pull\n got %q\nwant %q", got, want)
	}
	if inputs[0].Rows != 2 {
		t.Errorf("inputs %+v", inputs)
	}
	w2 := src2.(connectors.Incremental).Watermark()
	if w2 != "2024-06-01 09:00:00.123456" {
		t.Fatalf("watermark after incremental pull %q", w2)
	}

	src3 := build(t, opts)
	src3.(connectors.Incremental).SetWatermark(w2)
	recs, _ = conformance.ReadAll(t, src3, context.Background())
	if len(recs) != 0 {
		t.Errorf("pull with nothing new returned %q", conformance.Values(recs))
	}
	if w := src3.(connectors.Incremental).Watermark(); w != w2 {
		t.Errorf("watermark after an empty pull %q, want %q kept", w, w2)
	}

	// The watermark is escaped by the driver: a quote cannot end the literal.
	src4 := build(t, opts)
	src4.(connectors.Incremental).SetWatermark(`2099-01-01' OR '1'='1`)
	recs, _ = conformance.ReadAll(t, src4, context.Background())
	if len(recs) != 0 {
		t.Errorf("quoted watermark (read as 2099-01-01) matched %d rows", len(recs))
	}

	src5 := build(t, map[string]any{"table": table})
	src5.(connectors.Incremental).SetWatermark(w2)
	if _, err := src5.Open(context.Background()); err == nil || !strings.Contains(err.Error(), "watermark_column") {
		t.Errorf("watermark without column: %v", err)
	}
}

func TestTypesAsText(t *testing.T) {
	fx := newFixture(t)
	fx.exec(t, "CREATE TABLE "+fx.db+".types (i INT, b BIGINT, n DECIMAL(30,10), f DOUBLE, r FLOAT, ok BOOLEAN, d DATE, "+
		"dt DATETIME, tm TIME, y YEAR, c CHAR(4), v VARCHAR(20), tx TEXT, e ENUM('男','女'), bl VARBINARY(4), nul VARCHAR(5))")
	fx.exec(t, "INSERT INTO "+fx.db+".types VALUES (-7, 411082199001011234, 12345678901234567890.0123456789, 0.1, 1.5, TRUE, "+
		"'2024-05-01', '2024-05-01 08:30:00', '08:30:00', 2024, '张三', '西平县', '备注\n第二行', '女', X'00FF', NULL)")
	recs, _ := conformance.ReadAll(t, build(t, map[string]any{"table": fx.db + ".types"}), context.Background())
	want := []string{"-7", "411082199001011234", "12345678901234567890.0123456789", "0.1", "1.5", "1", "2024-05-01",
		"2024-05-01 08:30:00", "08:30:00", "2024", "张三", "西平县", "备注\n第二行", "女", "\x00\xff", ""}
	if len(recs) != 1 || !reflect.DeepEqual(recs[0].Values, want) {
		t.Errorf("values\n got %q\nwant %q", conformance.Values(recs), want)
	}
}

func TestConnectionErrors(t *testing.T) {
	const pw = "s3cr3t-Pw"
	cases := []struct {
		name, dsn string
		want      []string
	}{
		{"refused", "root:" + pw + "@tcp(127.0.0.1:1)/test?timeout=3s", []string{"source 残联", "mysql 127.0.0.1:1/test", "connect", "refused"}},
		{"bad dsn", "root:" + pw + "@tcp(127.0.0.1:3306/test", []string{"source 残联", "cannot be parsed"}},
		{"bad param", "root:" + pw + "@tcp(127.0.0.1:3306)/test?timeout=soon", []string{"source 残联", "cannot be parsed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CROSSCHECK_MYSQL_DSN", c.dsn)
			src := build(t, map[string]any{"table": "低保名册"})
			check := func(err error) {
				t.Helper()
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				for e := err; e != nil; e = errors.Unwrap(e) {
					if strings.Contains(e.Error(), pw) {
						t.Errorf("error shows the password: %q", e)
					}
				}
			}
			_, err := src.Headers(context.Background())
			check(err)
			_, err = src.Open(context.Background())
			check(err)
		})
	}
}

func TestSourceErrors(t *testing.T) {
	fx := newFixture(t)
	fx.payroll(t)
	ctx := context.Background()
	_, err := build(t, map[string]any{"table": fx.db + ".不存在"}).Open(ctx)
	if err == nil || !strings.Contains(err.Error(), "table "+fx.db+".不存在") || !strings.Contains(err.Error(), "doesn't exist") {
		t.Errorf("missing table: %v", err)
	}
	_, err = build(t, map[string]any{"query": "SELEC 1"}).Headers(ctx)
	if err == nil || !strings.Contains(err.Error(), "query") || !strings.Contains(err.Error(), "syntax") {
		t.Errorf("bad query: %v", err)
	}
	t.Setenv("CROSSCHECK_MYSQL_DSN", "")
	_, err = build(t, map[string]any{"table": "t"}).Headers(ctx)
	if err == nil || !strings.Contains(err.Error(), "CROSSCHECK_MYSQL_DSN is not set") {
		t.Errorf("unset DSN: %v", err)
	}
	dsnFile := filepath.Join(t.TempDir(), "my.dsn")
	os.WriteFile(dsnFile, []byte(fx.dsn+"\n"), 0o600)
	hdrs, err := build(t, map[string]any{"table": fx.db + ".低保名册", "dsn_file": dsnFile}).Headers(ctx)
	if err != nil || len(hdrs[0].Names) != 8 {
		t.Errorf("dsn_file: %v %+v", err, hdrs)
	}
	reg := connectors.Default.Clone()
	for _, opts := range []map[string]any{
		{}, {"table": "a", "query": "SELECT 1"}, {"table": "a..b"}, {"table": "a", "fetch_rows": 10}, {"table": "a", "watermark_column": "a,b"},
	} {
		if _, err := reg.Build("mysql", "残联", "", opts); err == nil {
			t.Errorf("options %v accepted", opts)
		}
	}
}

// digits makes a table of n = 10^k rows with a cross join (portable to
// MySQL and MariaDB, no sequence engine needed).
func (fx *fixture) numbers(t testing.TB, table string, k int, cols string) {
	fx.exec(t, "CREATE TABLE "+fx.db+".d (x INT)")
	fx.exec(t, "INSERT INTO "+fx.db+".d VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)")
	from, expr := []string{}, []string{}
	for i := 0; i < k; i++ {
		from = append(from, fmt.Sprintf("%s.d d%d", fx.db, i))
		mul := 1
		for j := 0; j < i; j++ {
			mul *= 10
		}
		expr = append(expr, fmt.Sprintf("d%d.x*%d", i, mul))
	}
	g := "(" + strings.Join(expr, "+") + "+1)"
	fx.exec(t, "CREATE TABLE "+fx.db+"."+table+" AS SELECT "+strings.ReplaceAll(cols, "{g}", g)+" FROM "+strings.Join(from, ", "))
}

func TestCancelMidStream(t *testing.T) {
	fx := newFixture(t)
	fx.numbers(t, "big", 5, "{g} AS id, md5({g}) AS s")
	ctx, cancel := context.WithCancel(context.Background())
	rd, err := build(t, map[string]any{"table": fx.db + ".big"}).Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for i := 0; i < 100; i++ {
		if _, err := rd.Next(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if _, err := rd.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}
	if _, err := rd.Next(); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("second Next after cancel: %v", err)
	}
}

// BenchmarkMySQLPull pulls a 10-column, 1M-row table; the figure is rows/s.
func BenchmarkMySQLPull(b *testing.B) {
	fx := newFixture(b)
	const n = 1_000_000
	fx.numbers(b, "pull", 6, "{g} AS id, CONCAT('张', {g} % 1000) AS name, CAST(410102198001010000 + {g} AS CHAR) AS id_number, "+
		"CAST(({g} % 100000) / 100 AS DECIMAL(12,2)) AS amount, DATE_ADD('2024-01-01', INTERVAL {g} % 365 DAY) AS paid_on, "+
		"TIMESTAMPADD(SECOND, {g}, '2024-01-01 00:00:00') AS updated_at, {g} % 2 = 0 AS active, CONCAT('4101', LPAD({g} % 100, 2, '0')) AS region, "+
		"md5({g}) AS note, {g} * 1000 AS big")
	src := build(b, map[string]any{"table": fx.db + ".pull"})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		recs := 0
		rd, err := src.Open(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			recs++
		}
		rd.Close()
		if recs != n {
			b.Fatalf("pulled %d rows", recs)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
