package postgres

import (
	"context"
	"crypto/rand"
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

	"github.com/jackc/pgx/v5"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/connectors/conformance"
)

// The tests run against a real PostgreSQL server: $CROSSCHECK_TEST_PG_DSN,
// or the local test server (trust authentication, database test).
func candidateDSNs() []string {
	if d := os.Getenv("CROSSCHECK_TEST_PG_DSN"); d != "" {
		return []string{d}
	}
	return []string{
		"postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"postgres://root@127.0.0.1:5432/test?sslmode=disable",
	}
}

var (
	serverOnce sync.Once
	serverDSN  string
	serverErr  error
)

func tryConnect() (string, error) {
	var errs []error
	for _, d := range candidateDSNs() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		c, err := pgx.Connect(ctx, d)
		cancel()
		if err == nil {
			c.Close(context.Background())
			return d, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// startServer tries to start the local cluster, as .ci/run does.
func startServer() {
	vers, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(vers) == 0 {
		return
	}
	exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", vers[0].Name(), "main", "start").Run()
}

// server returns a DSN of a reachable server or skips the test.
func server(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("PostgreSQL integration test: skipped with -short")
	}
	serverOnce.Do(func() {
		if serverDSN, serverErr = tryConnect(); serverErr == nil {
			return
		}
		startServer()
		for i := 0; i < 20; i++ {
			time.Sleep(500 * time.Millisecond)
			if serverDSN, serverErr = tryConnect(); serverErr == nil {
				return
			}
		}
	})
	if serverErr != nil {
		t.Skipf("PostgreSQL integration test: no server reachable after trying to start the local one (CROSSCHECK_TEST_PG_DSN selects another): %v", serverErr)
	}
	return serverDSN
}

// fixture is a schema of its own on the test server, dropped at cleanup.
type fixture struct {
	dsn    string
	schema string
	conn   *pgx.Conn
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dsn := server(t)
	b := make([]byte, 6)
	rand.Read(b)
	fx := &fixture{dsn: dsn, schema: "cc_test_" + hex.EncodeToString(b)}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	fx.conn = conn
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+fx.schema+" CASCADE")
		conn.Close(context.Background())
	})
	fx.exec(t, "CREATE SCHEMA "+fx.schema)
	t.Setenv("CROSSCHECK_PG_DSN", dsn)
	return fx
}

func (fx *fixture) exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if _, err := fx.conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// payroll creates the 低保名册 table: Chinese text, NULLs, 15-digit IDs
// stored as numbers, dates, and an updated_at watermark.
func (fx *fixture) payroll(t testing.TB) string {
	table := fx.schema + ".低保名册"
	fx.exec(t, `CREATE TABLE `+fx.schema+`."低保名册" (
		id integer PRIMARY KEY,
		"姓名" text,
		"身份证号" text,
		"旧证号" bigint,
		"金额" numeric(12,2),
		"发放日期" date,
		"在册" boolean,
		updated_at timestamp(6)
	)`)
	fx.exec(t, `INSERT INTO `+fx.schema+`."低保名册" VALUES
		(1, '张三', '410102198001010012', 410102800101001, 300.00, '2024-05-01', true, '2024-05-01 10:00:00'),
		(2, '李四', NULL, NULL, NULL, NULL, NULL, '2024-05-02 10:00:00.25'),
		(3, '王五', '41108219900101123X', 411082900101101, 1234567.89, '1999-12-31', false, '2024-05-03 10:00:00')`)
	return table
}

var payrollWant = [][]string{
	{"1", "张三", "410102198001010012", "410102800101001", "300.00", "2024-05-01", "t", "2024-05-01 10:00:00"},
	{"2", "李四", "", "", "", "", "", "2024-05-02 10:00:00.25"},
	{"3", "王五", "41108219900101123X", "411082900101101", "1234567.89", "1999-12-31", "f", "2024-05-03 10:00:00"},
}

func build(t testing.TB, opts map[string]any) connectors.Source {
	t.Helper()
	src, err := connectors.Default.Clone().Build("postgres", "民政低保", "", opts)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestConformance(t *testing.T) {
	fx := newFixture(t)
	table := fx.payroll(t)
	for _, fetch := range []int{1, 2, 3, 10000} {
		t.Run(fmt.Sprintf("fetch_%d", fetch), func(t *testing.T) {
			conformance.Run(t, func(t *testing.T) connectors.Source {
				return build(t, map[string]any{"table": table, "order_by": "id", "fetch_rows": fetch})
			}, payrollWant, conformance.WithRows(1, 2, 3), conformance.WithInputs(1))
		})
	}
	t.Run("query", func(t *testing.T) {
		q := `SELECT "姓名", "金额" FROM ` + fx.schema + `."低保名册" WHERE "金额" > 100 ORDER BY id;`
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
	if len(hdrs) != 1 || !reflect.DeepEqual(hdrs[0].Names, want) || hdrs[0].Input != table ||
		!strings.HasPrefix(hdrs[0].Path, "postgres://") || strings.Contains(hdrs[0].Path, "@") {
		t.Errorf("headers %+v", hdrs)
	}
	_, err = build(t, map[string]any{"table": table, "watermark_column": "changed_at"}).Headers(context.Background())
	if err == nil || !strings.Contains(err.Error(), `no column "changed_at"`) {
		t.Errorf("missing watermark column: %v", err)
	}
}

// A first pull reads everything; after an UPDATE and an INSERT an
// incremental pull returns only the changed rows; a pull with nothing new
// keeps the watermark.
func TestIncremental(t *testing.T) {
	fx := newFixture(t)
	table := fx.payroll(t)
	opts := map[string]any{"table": table, "watermark_column": "updated_at", "fetch_rows": 2}
	src := build(t, opts)
	inc, ok := src.(connectors.Incremental)
	if !ok {
		t.Fatal("postgres source is not connectors.Incremental")
	}
	recs, inputs := conformance.ReadAll(t, src, context.Background())
	if !reflect.DeepEqual(conformance.Values(recs), payrollWant) || inputs[0].Rows != 3 {
		t.Fatalf("first pull %q %+v", conformance.Values(recs), inputs)
	}
	w1 := inc.Watermark()
	if w1 != "2024-05-03 10:00:00" {
		t.Fatalf("watermark after first pull %q", w1)
	}

	fx.exec(t, `UPDATE `+fx.schema+`."低保名册" SET "姓名" = '张三丰', "金额" = 350, updated_at = '2024-06-01 09:00:00.123456' WHERE id = 1`)
	fx.exec(t, `INSERT INTO `+fx.schema+`."低保名册" VALUES (4, '赵六', '410102198001010012', NULL, 0.5, '2024-06-01', true, '2024-06-01 08:00:00')`)

	// As the engine does on the next run: a fresh source, the stored watermark.
	src2 := build(t, opts)
	src2.(connectors.Incremental).SetWatermark(w1)
	recs, inputs = conformance.ReadAll(t, src2, context.Background())
	want := [][]string{
		{"4", "赵六", "410102198001010012", "", "0.50", "2024-06-01", "t", "2024-06-01 08:00:00"},
		{"1", "张三丰", "410102198001010012", "410102800101001", "350.00", "2024-05-01", "t", "2024-06-01 09:00:00.123456"},
	}
	if got := conformance.Values(recs); !reflect.DeepEqual(got, want) {
		t.Errorf("incremental pull\n got %q\nwant %q", got, want)
	}
	if len(recs) == 2 && (recs[0].Row != 1 || recs[1].Row != 2) || inputs[0].Rows != 2 {
		t.Errorf("rows %d %d, inputs %+v", recs[0].Row, recs[1].Row, inputs)
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

	// A watermark with a quote cannot break out of the literal.
	src4 := build(t, opts)
	src4.(connectors.Incremental).SetWatermark("2024-01-01'; DROP TABLE x; --")
	rd, err := src4.Open(context.Background())
	if err == nil {
		_, err = rd.Next()
		rd.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "invalid input syntax") {
		t.Errorf("quoted watermark: %v", err)
	}

	// Without watermark_column a watermark is refused rather than ignored.
	src5 := build(t, map[string]any{"table": table})
	src5.(connectors.Incremental).SetWatermark(w2)
	if _, err := src5.Open(context.Background()); err == nil || !strings.Contains(err.Error(), "watermark_column") {
		t.Errorf("watermark without column: %v", err)
	}
}

// Values come back as PostgreSQL's text output.
func TestTypesAsText(t *testing.T) {
	fx := newFixture(t)
	fx.exec(t, `CREATE TABLE `+fx.schema+`.types (
		i int, b bigint, n numeric(30,10), f double precision, r real, ok boolean, d date, ts timestamp,
		tz timestamptz, iv interval, u uuid, j jsonb, a text[], by bytea, c char(4), nul text)`)
	fx.exec(t, `INSERT INTO `+fx.schema+`.types VALUES (-7, 411082199001011234, 12345678901234567890.0123456789, 0.1, 1.5, true,
		'2024-05-01', '2024-05-01 08:30:00', '2024-05-01 08:30:00+08', '1 day 02:00:00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
		'{"县": "西平县", "n": 1}', '{一组,"二 组"}', '\x00ff', '张三', NULL)`)
	var tz string
	if err := fx.conn.QueryRow(context.Background(), `SELECT tz::text FROM `+fx.schema+`.types`).Scan(&tz); err != nil {
		t.Fatal(err)
	}
	recs, _ := conformance.ReadAll(t, build(t, map[string]any{"table": fx.schema + ".types"}), context.Background())
	want := []string{"-7", "411082199001011234", "12345678901234567890.0123456789", "0.1", "1.5", "t", "2024-05-01",
		"2024-05-01 08:30:00", tz, "1 day 02:00:00", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", `{"n": 1, "县": "西平县"}`,
		`{一组,"二 组"}`, `\x00ff`, "张三  ", ""}
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
		{"refused url", "postgres://postgres:" + pw + "@127.0.0.1:1/test?sslmode=disable&connect_timeout=5",
			[]string{"source 民政低保", "postgres 127.0.0.1:1/test", "connect"}},
		{"refused key value", "host=127.0.0.1 port=1 user=postgres password=" + pw + " dbname=test sslmode=disable connect_timeout=5",
			[]string{"source 民政低保", "postgres 127.0.0.1:1/test", "connect"}},
		{"bad port", "postgres://postgres:" + pw + "@127.0.0.1:port/test", []string{"source 民政低保", "cannot be parsed"}},
		{"bad key value", "host=127.0.0.1 password='" + pw + " user=postgres", []string{"source 民政低保", "cannot be parsed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CROSSCHECK_PG_DSN", c.dsn)
			src := build(t, map[string]any{"table": "低保名册"})
			_, err := src.Headers(context.Background())
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
				if strings.Contains(err.Error(), pw) || strings.Contains(fmt.Sprintf("%+v", err), pw) {
					t.Errorf("error shows the password: %q", err)
				}
				for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
					if strings.Contains(e.Error(), pw) {
						t.Errorf("wrapped error shows the password: %q", e)
					}
				}
			}
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

	_, err := build(t, map[string]any{"table": fx.schema + ".不存在"}).Open(ctx)
	if err == nil || !strings.Contains(err.Error(), "table "+fx.schema+".不存在") || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing table: %v", err)
	}
	_, err = build(t, map[string]any{"query": "SELEC 1"}).Headers(ctx)
	if err == nil || !strings.Contains(err.Error(), "query") || !strings.Contains(err.Error(), "syntax error") {
		t.Errorf("bad query: %v", err)
	}

	t.Setenv("CROSSCHECK_PG_DSN", "")
	_, err = build(t, map[string]any{"table": "t"}).Headers(ctx)
	if err == nil || !strings.Contains(err.Error(), "CROSSCHECK_PG_DSN is not set") {
		t.Errorf("unset DSN: %v", err)
	}
	dsnFile := filepath.Join(t.TempDir(), "pg.dsn")
	os.WriteFile(dsnFile, []byte(fx.dsn+"\n"), 0o600)
	hdrs, err := build(t, map[string]any{"table": fx.schema + ".低保名册", "dsn_file": dsnFile}).Headers(ctx)
	if err != nil || len(hdrs[0].Names) != 8 {
		t.Errorf("dsn_file: %v %+v", err, hdrs)
	}

	reg := connectors.Default.Clone()
	for _, opts := range []map[string]any{
		{},
		{"table": "a", "query": "SELECT 1"},
		{"table": "a..b"},
		{"table": "a", "fetch_rows": 0},
		{"table": "a", "watermark_column": "a,b"},
		{"table": "a", "password": "x"},
	} {
		if _, err := reg.Build("postgres", "民政低保", "", opts); err == nil {
			t.Errorf("options %v accepted", opts)
		}
	}
}

// A pull stops when the context is cancelled in the middle of a batch.
func TestCancelMidBatch(t *testing.T) {
	fx := newFixture(t)
	fx.exec(t, `CREATE TABLE `+fx.schema+`.big AS SELECT g AS id, md5(g::text) AS s FROM generate_series(1, 50000) g`)
	ctx, cancel := context.WithCancel(context.Background())
	rd, err := build(t, map[string]any{"table": fx.schema + ".big"}).Open(ctx)
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
	if _, err := rd.Next(); errors.Is(err, io.EOF) || err == nil {
		t.Errorf("second Next after cancel: %v", err)
	}
}

// BenchmarkPostgresPull pulls a 10-column, 1M-row table made with
// generate_series; the figure is rows/s.
func BenchmarkPostgresPull(b *testing.B) {
	fx := newFixture(b)
	const n = 1_000_000
	fx.exec(b, `CREATE TABLE `+fx.schema+`.pull AS SELECT
		g AS id,
		'张' || (g % 1000)::text AS name,
		(410102198001010000 + g)::text AS id_number,
		(g % 100000)::numeric(12,2) / 100 AS amount,
		DATE '2024-01-01' + (g % 365) AS paid_on,
		TIMESTAMP '2024-01-01 00:00:00' + g * INTERVAL '1 second' AS updated_at,
		g % 2 = 0 AS active,
		'4101' || lpad((g % 100)::text, 2, '0') AS region,
		md5(g::text) AS note,
		g::bigint * 1000 AS big
		FROM generate_series(1, `+fmt.Sprint(n)+`) g`)
	src := build(b, map[string]any{"table": fx.schema + ".pull"})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rd, err := src.Open(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		var rows int
		for {
			_, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows++
		}
		rd.Close()
		if rows != n {
			b.Fatalf("pulled %d rows", rows)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
