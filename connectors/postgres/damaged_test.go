package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/connectors/conformance"
)

// Issue 15: a query with two columns called 姓名 is refused, naming both
// positions, at Headers and at Open.
func TestDuplicateColumn(t *testing.T) {
	newFixture(t)
	src := build(t, map[string]any{"query": `SELECT 1 AS "序号", '张三' AS "姓名", '李四' AS "姓名"`})
	err, _ := conformance.StopsNaming(t, src, "source 民政低保", "query", "columns 2 and 3", `"姓名"`, "AS")
	if !errors.Is(err, connectors.ErrDuplicateColumn) {
		t.Errorf("%v is not ErrDuplicateColumn", err)
	}
	rd, err := src.Open(context.Background())
	if err == nil {
		defer rd.Close()
		_, err = rd.Next()
	}
	if !errors.Is(err, connectors.ErrDuplicateColumn) {
		t.Errorf("reading: %v, want ErrDuplicateColumn", err)
	}
}

// A row that fails in the middle of the stream (division by zero on row
// 3000) stops the source naming the first row not read.
func TestRowFailsMidStream(t *testing.T) {
	newFixture(t)
	src := build(t, map[string]any{"fetch_rows": 1000,
		"query": "SELECT g AS id, 10000 / (g - 3000) AS x FROM generate_series(1, 5000) g"})
	_, n := conformance.StopsNaming(t, src, "source 民政低保", "query", "fetch at row 2001", "division by zero")
	if n != 2000 {
		t.Errorf("read %d rows before the error, want 2000", n)
	}
}

// The connection killed in the middle of the stream (the server terminates
// the backend) stops the source naming the first row not read; the rows
// already read are not passed off as the whole table.
func TestConnectionKilledMidStream(t *testing.T) {
	fx := newFixture(t)
	fx.exec(t, `CREATE TABLE `+fx.schema+`.big AS SELECT g AS id, md5(g::text) AS s FROM generate_series(1, 50000) g`)
	fetch := 1000 + rand.IntN(8000) // tells this test's FETCH from other sessions'
	rd, err := build(t, map[string]any{"table": fx.schema + ".big", "fetch_rows": fetch}).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	n := 0
	for ; n < 10; n++ {
		if _, err := rd.Next(); err != nil {
			t.Fatal(err)
		}
	}
	var killed int
	deadline := time.Now().Add(10 * time.Second)
	for killed == 0 && time.Now().Before(deadline) {
		err := fx.conn.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE query = $1 AND pid <> pg_backend_pid()`, fmt.Sprintf("FETCH FORWARD %d FROM crosscheck_cursor", fetch)).Scan(&killed)
		if err != nil {
			t.Fatal(err)
		}
	}
	if killed != 1 {
		t.Fatalf("terminated %d backends, want 1", killed)
	}
	for {
		_, err = rd.Next()
		if err != nil {
			break
		}
		n++
	}
	if n != fetch {
		t.Errorf("read %d rows, want the %d of the first FETCH", n, fetch)
	}
	for _, w := range []string{"source 民政低保", "table " + fx.schema + ".big", fmt.Sprintf("fetch at row %d", fetch+1)} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not name %q", err, w)
		}
	}
}
