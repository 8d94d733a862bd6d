package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/connectors/conformance"
)

// Issue 15: a query with two columns called 姓名 is refused. Headers
// describes the query as a derived table, which the server itself refuses
// ("Duplicate column name"); Open runs the query as written and the
// connector refuses it, naming both positions.
func TestDuplicateColumn(t *testing.T) {
	newFixture(t)
	src := build(t, map[string]any{"query": "SELECT 1 AS `序号`, '张三' AS `姓名`, '李四' AS `姓名`"})
	conformance.StopsNaming(t, src, "source 残联", "query", "姓名")
	rd, err := src.Open(context.Background())
	if err == nil {
		defer rd.Close()
		_, err = rd.Next()
	}
	if !errors.Is(err, connectors.ErrDuplicateColumn) {
		t.Fatalf("Open: %v, want ErrDuplicateColumn", err)
	}
	for _, w := range []string{"source 残联", "query", "columns 2 and 3", `"姓名"`, "AS"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
}

// A row that fails in the middle of the stream (a subquery that returns
// more than one row for id 3000) stops the source naming the row.
func TestRowFailsMidStream(t *testing.T) {
	fx := newFixture(t)
	fx.numbers(t, "big", 4, "{g} AS id")
	src := build(t, map[string]any{"query": "SELECT id, (SELECT x FROM " + fx.db + ".d WHERE big.id = 3000) AS x FROM " + fx.db + ".big ORDER BY id"})
	err, n := conformance.StopsNaming(t, src, "source 残联", "query", "more than 1 row")
	if !strings.Contains(fmt.Sprint(err), fmt.Sprintf("row %d", n+1)) || n >= 3000 {
		t.Errorf("error %v after %d rows, want it to name row %d before row 3000", err, n, n+1)
	}
}

// The connection killed in the middle of the stream stops the source
// naming the first row not read; the rows already read are not passed off
// as the whole table.
func TestConnectionKilledMidStream(t *testing.T) {
	fx := newFixture(t)
	fx.numbers(t, "big", 5, "{g} AS id, md5({g}) AS s")
	rd, err := build(t, map[string]any{"table": fx.db + ".big"}).Open(context.Background())
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
	var id int64
	deadline := time.Now().Add(10 * time.Second)
	for id == 0 && time.Now().Before(deadline) {
		fx.sql.QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE ? AND ID <> CONNECTION_ID()",
			"%"+fx.db+"%big%").Scan(&id)
	}
	if id == 0 {
		t.Fatal("the reader's connection is not in the process list")
	}
	fx.exec(t, fmt.Sprintf("KILL CONNECTION %d", id))
	for {
		_, err = rd.Next()
		if err != nil {
			break
		}
		n++
	}
	if n >= 100000 {
		t.Fatalf("read all %d rows after the kill", n)
	}
	for _, w := range []string{"source 残联", "table " + fx.db + ".big", fmt.Sprintf("row %d", n+1)} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v (after %d rows) does not name %q", err, n, w)
		}
	}
}
