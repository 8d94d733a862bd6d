package main

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/crosscheck/crosscheck/casestore"
)

// TestStoreWatermarkBinary: the sample's cremation records come from a
// database table (the real PostgreSQL and MariaDB servers) with
// watermark_column updated_at and watermark_key record_id. The first
// refresh pulls every row; after N new death rows the second pulls exactly
// N and screen --changed raises exactly their cases; a row updated at the
// source (same record_id, newer updated_at, the ID number corrected)
// replaces the stored one and its person's cases are flagged withdrawn.
func TestStoreWatermarkBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and MariaDB")
	}
	stamp := time.Now().UnixNano()
	t.Run("postgres", func(t *testing.T) {
		dsn := "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Skipf("PostgreSQL at 127.0.0.1:5432 not reachable: %v", err)
		}
		defer conn.Close(ctx)
		exec := func(t *testing.T, q string, args ...any) {
			t.Helper()
			if _, err := conn.Exec(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		schema := fmt.Sprintf("watch_%d", stamp)
		exec(t, "CREATE SCHEMA "+schema)
		t.Cleanup(func() { conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
		testWatermark(t, exec, "postgres", dsn, schema+".huohua", "$%d")
	})
	t.Run("mariadb", func(t *testing.T) {
		dsn := "root@tcp(127.0.0.1:3306)/test?timeout=3s"
		db, err := sql.Open("mysql", dsn)
		if err == nil {
			err = db.Ping()
		}
		if err != nil {
			t.Skipf("MariaDB at 127.0.0.1:3306 not reachable: %v", err)
		}
		defer db.Close()
		table := fmt.Sprintf("watch_huohua_%d", stamp)
		t.Cleanup(func() { db.Exec("DROP TABLE IF EXISTS " + table) })
		exec := func(t *testing.T, q string, args ...any) {
			t.Helper()
			if _, err := db.Exec(q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		testWatermark(t, exec, "mysql", dsn, table, "?")
	})
}

// testWatermark runs the scenario against one server; ph formats the
// n-th placeholder of a statement.
func testWatermark(t *testing.T, mustExec func(*testing.T, string, ...any), connector, dsn, table, ph string) {
	dir := copySample(t)
	t.Setenv("CC_WATCH_DSN", dsn)
	mustExec(t, "CREATE TABLE "+table+` (hhzm VARCHAR(32), xm VARCHAR(64), xb VARCHAR(8), sfzh VARCHAR(32),
		csrq VARCHAR(32), swrq VARCHAR(32), updated_at TIMESTAMP NULL)`)
	p := func(n int) string {
		if strings.Contains(ph, "%d") {
			return fmt.Sprintf(ph, n)
		}
		return ph
	}
	insert := "INSERT INTO " + table + " VALUES (" + p(1) + ", " + p(2) + ", " + p(3) + ", " + p(4) + ", " + p(5) + ", " + p(6) + ", " + p(7) + ")"

	// The cremation file's rows go to the table; the job reads the table.
	deathFile := filepath.Join(dir, "data", "民政火化记录.csv")
	f, err := os.Open(deathFile)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	dead := map[string]bool{}
	for i, r := range recs[1:] {
		mustExec(t, insert, r[0], r[1], r[2], r[3], r[4], r[5], fmt.Sprintf("2024-01-01 00:00:%02d", i))
		dead[r[3]] = true
	}
	jb, err := os.ReadFile(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	old := `    connector: csv
    path: data/民政火化记录.csv
    columns:
      record_id: 火化证明编号
      name: 逝者姓名
      gender: 性别
      id_number: 身份证号码
      birth_date: 出生日期
      death_date: 死亡日期
`
	if !strings.Contains(string(jb), old) {
		t.Fatal("the sample's cremation source changed: update this test")
	}
	neu := `    connector: ` + connector + `
    options: {table: ` + table + `, watermark_column: updated_at, watermark_key: record_id, dsn_env: CC_WATCH_DSN}
    columns: {record_id: hhzm, name: xm, gender: xb, id_number: sfzh, birth_date: csrq, death_date: swrq}
`
	if err := os.WriteFile(filepath.Join(dir, "job.yaml"), []byte(strings.Replace(string(jb), old, neu, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(dir, "ref.duckdb")
	cases := filepath.Join(dir, "cases.duckdb")
	refresh := func() string {
		t.Helper()
		r := runCLI(t, dir, 5*time.Minute, "store", "refresh", "--config", "job.yaml", "--store", st, "--lang", "en")
		if r.code != 0 {
			t.Fatalf("store refresh: exit %d\n%s", r.code, tail(r.stderr, 20))
		}
		return r.stdout
	}
	changed := func(out string) cliResult {
		t.Helper()
		r := runCLI(t, dir, 10*time.Minute, "screen", "--store", st, "--job-rolls", "--changed", "--cases", cases, "--raw-ids", "--out", out, "--lang", "en")
		if r.code != 0 {
			t.Fatalf("screen --changed: exit %d\n%s\n%s", r.code, r.stdout, tail(r.stderr, 20))
		}
		return r
	}
	pulls := func() []map[string]any {
		t.Helper()
		r := runCLI(t, dir, time.Minute, "store", "info", "--store", st, "--json")
		if r.code != 0 {
			t.Fatalf("store info: exit %d\n%s", r.code, r.stderr)
		}
		var in struct {
			Pulls []map[string]any `json:"pulls"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &in); err != nil {
			t.Fatal(err)
		}
		return in.Pulls
	}

	out := refresh()
	if want := fmt.Sprintf("huohua: pulled whole, %d rows", len(recs)-1); !strings.Contains(out, want) {
		t.Fatalf("first refresh: want %q in\n%s", want, out)
	}
	changed("s1")
	before := countCases(t, cases)
	if before == 0 {
		t.Fatal("no case after the first screening")
	}

	// Two payees of the 2024-05 高龄津贴 roll without a death record die.
	rf, err := os.Open(filepath.Join(dir, "data", "长葛市一卡通发放名单202405.csv"))
	if err != nil {
		t.Fatal(err)
	}
	roll, err := csv.NewReader(simplifiedchinese.GBK.NewDecoder().Reader(rf)).ReadAll()
	rf.Close()
	if err != nil {
		t.Fatal(err)
	}
	var ids, names []string
	withCase := personsWithCases(t, cases)
	for _, r := range roll[1:] {
		if r[1] == "gaoling" && r[2] == "202405" && !dead[r[3]] && !withCase[r[3]] && len(ids) < 2 && (len(ids) == 0 || ids[0] != r[3]) {
			ids, names = append(ids, r[3]), append(names, r[4])
		}
	}
	if len(ids) != 2 {
		t.Fatal("no two payees to kill")
	}
	programs := map[string]map[string]bool{} // the persons' 2024-05 payments
	for _, r := range roll[1:] {
		for _, id := range ids {
			if r[3] == id && r[2] == "202405" {
				if programs[id] == nil {
					programs[id] = map[string]bool{}
				}
				programs[id][r[1]] = true
			}
		}
	}
	for i, id := range ids {
		mustExec(t, insert, fmt.Sprintf("HH2024999%d", i), names[i], "男", id,
			id[6:10]+"-"+id[10:12]+"-"+id[12:14], "2024-03-01 08:00", fmt.Sprintf("2024-06-01 00:00:%02d", i))
	}
	out = refresh()
	if !strings.Contains(out, "huohua: 2 new rows after watermark 2024-01-01 00:00:20 (0 older rows replaced)") {
		t.Fatalf("second refresh: want exactly the 2 new rows pulled in\n%s", out)
	}
	if ps := pulls(); len(ps) != 1 || ps[0]["rows"].(float64) != 2 || ps[0]["appended"] != true {
		t.Errorf("store info: pulls %v, want 2 rows appended", ps)
	}
	changed("s2")
	for _, h := range csvRows(t, filepath.Join(dir, "s2", "hits.csv")) {
		if (h["id_number"] != ids[0] && h["id_number"] != ids[1]) || h["category"] != "deceased" {
			t.Errorf("screen --changed: a hit other than the new deaths: %s %s %s", h["rule_id"], h["payment_id"], h["category"])
		}
	}
	after := countCases(t, cases)
	if want := len(programs[ids[0]]) + len(programs[ids[1]]); after-before != want {
		t.Errorf("the new deaths raised %d cases, want %d (one per program paid to each person)", after-before, want)
	}

	// The first new record is corrected at the source: its ID number was
	// wrong, the person who died is someone already recorded dead.
	var other string
	for _, r := range recs[1:] {
		if len(r[3]) == 18 {
			other = r[3]
			break
		}
	}
	mustExec(t, "UPDATE "+table+" SET sfzh = "+p(1)+", updated_at = "+p(2)+" WHERE hhzm = "+p(3), other, "2024-07-01 00:00:00", "HH20249990")
	out = refresh()
	if !strings.Contains(out, "huohua: 1 new rows after watermark 2024-06-01 00:00:01 (1 older rows replaced)") {
		t.Fatalf("third refresh: want the updated row to replace the stored one in\n%s", out)
	}
	r := changed("s3")
	if want := fmt.Sprintf("%d cases whose death record this run no longer sees", len(programs[ids[0]])); !strings.Contains(r.stdout, want) {
		t.Errorf("screen --changed after the correction: want %q in\n%s", want, r.stdout)
	}
	cs, err := casestore.Open(context.Background(), cases, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := cs.Select(casestore.Scope{All: true}, casestore.Filter{}, 0)
	cs.Close()
	if err != nil {
		t.Fatal(err)
	}
	withdrawn := 0
	for _, c := range all {
		if c.DeathWithdrawn {
			withdrawn++
			if c.PersonKey != ids[0] {
				t.Errorf("case %s of another person flagged withdrawn", c.ID)
			}
		}
	}
	if withdrawn != len(programs[ids[0]]) {
		t.Errorf("%d cases flagged withdrawn, want %d", withdrawn, len(programs[ids[0]]))
	}

	// Nothing new at the source: the store stays as it is.
	if out := refresh(); !strings.Contains(out, "no reference source changed") {
		t.Errorf("refresh without new rows:\n%s", out)
	}
	// --force pulls everything again, and the death table is the one the
	// incremental refreshes built (but for _rid and _row).
	incremental := storeRows(t, st, "death")
	r = runCLI(t, dir, 5*time.Minute, "store", "refresh", "--config", "job.yaml", "--store", st, "--lang", "en", "--force")
	if want := fmt.Sprintf("huohua: pulled whole, %d rows", len(recs)-1+2); r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("refresh --force: exit %d, want %q in\n%s\n%s", r.code, want, r.stdout, tail(r.stderr, 10))
	}
	full := storeRows(t, st, "death")
	if len(full) != len(recs)-1+2 || strings.Join(full, "\n") != strings.Join(incremental, "\n") {
		t.Errorf("death table after the watermark pulls (%d rows) differs from the full pull (%d rows):\n%s\n---\n%s",
			len(incremental), len(full), strings.Join(incremental, "\n"), strings.Join(full, "\n"))
	}
}

// storeRows reads a store table's rows (without _rid and _row) as sorted text.
func storeRows(t *testing.T, store, table string) []string {
	t.Helper()
	db, err := sql.Open("duckdb", store+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT CAST(d AS VARCHAR) AS r FROM (SELECT * EXCLUDE (_rid, _row) FROM " + table + ") d ORDER BY r")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// personsWithCases are the person keys of the case store's cases.
func personsWithCases(t *testing.T, path string) map[string]bool {
	t.Helper()
	cs, err := casestore.Open(context.Background(), path, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	all, err := cs.Select(casestore.Scope{All: true}, casestore.Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, c := range all {
		out[c.PersonKey] = true
	}
	return out
}
