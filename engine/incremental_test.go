package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	_ "github.com/crosscheck/crosscheck/connectors/all"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
)

// A source with a watermark_column pulls, on the next run, only the rows
// changed since the last successful run; the watermark is kept in the run
// state file. Runs against the local PostgreSQL server.
func TestIncrementalPullKeepsWatermark(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	dsn := "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Skipf("PostgreSQL at 127.0.0.1:5432 not reachable (.ci/run starts it): %v", err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("cc_engine_%d", time.Now().UnixNano())
	exec := func(q string) {
		t.Helper()
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	exec("CREATE SCHEMA " + schema)
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	exec(`CREATE TABLE ` + schema + `.siwang (zjhm text, xm text, swrq date, gxsj timestamp)`)
	exec(`INSERT INTO ` + schema + `.siwang VALUES
		('11010519491231002X', '张三', '2023-03-05', '2024-01-01 00:00:00'),
		('440308199901101512', '李四', '2023-04-01', '2024-01-02 00:00:00')`)

	dir := writeFiles(t, map[string]string{
		"job.yaml": `
periods: ["2024-05"]
sources:
  - name: siwang
    role: death
    connector: postgres
    options: {table: ` + schema + `.siwang, watermark_column: gxsj, dsn_env: CC_TEST_DSN}
    columns: {id_number: zjhm, name: xm, death_date: swrq}
  - name: pay
    role: payment
    connector: csv
    path: pay.csv
    columns: {payment_id: 编号, program_code: 项目, period: 期间, id_number: 身份证号, name: 姓名, amount: 金额}
`,
		"pay.csv": "编号,项目,期间,身份证号,姓名,金额\nP1,gaoling,202405,11010519491231002X,张三,200\n",
	})
	t.Setenv("CC_TEST_DSN", dsn)
	run := func() int64 {
		t.Helper()
		j, err := job.Load(filepath.Join(dir, "job.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		res, err := engine.Run(ctx, j, engine.Options{OutDir: filepath.Join(dir, "out")})
		if err != nil {
			t.Fatal(err)
		}
		return res.Sources[0].RowsRead
	}
	if n := run(); n != 2 {
		t.Fatalf("first run read %d rows, want 2", n)
	}
	statePath := filepath.Join(dir, ".job.state.json")
	b, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatalf("no run state written: %v", err)
	}
	var st engine.State
	if err := json.Unmarshal(b, &st); err != nil || st.Watermarks["siwang"] == "" {
		t.Fatalf("run state %s has no watermark for siwang: %v", b, err)
	}
	exec(`INSERT INTO ` + schema + `.siwang VALUES ('34052419800101001X', '王五', '2024-02-01', '2024-02-01 00:00:00')`)
	if n := run(); n != 1 {
		t.Fatalf("second run read %d rows, want only the 1 new row", n)
	}
	if n := run(); n != 0 {
		t.Fatalf("third run read %d rows, want none", n)
	}
}
