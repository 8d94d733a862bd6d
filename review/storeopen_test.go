package review_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// TestStoreOpenErrorsThroughBinary: a store held by a running server and a
// store whose write-ahead log cannot be replayed give different errors,
// each saying what to do; "cases recover" brings the second one back.
func TestStoreOpenErrorsThroughBinary(t *testing.T) {
	dir := t.TempDir()
	users := writeUsersFile(t, dir)
	store := filepath.Join(dir, "cases.duckdb")
	if code, _, errs := run(t, "cases", "info", "--store", store); code != 0 {
		t.Fatalf("cases info: %d %s", code, errs)
	}

	// Locked: a server holds the store.
	srv := spawnServe(t, store, users)
	if _, err := srv.waitURL(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "cases", "info", "--store", store)
	if code == 0 || !strings.Contains(errs, "store is in use by another process") ||
		!strings.Contains(errs, fmt.Sprintf("pid %d holds it", srv.cmd.Process.Pid)) || strings.Contains(errs, "write-ahead log") {
		t.Fatalf("locked store: exit %d, stderr:\n%s", code, errs)
	}
	srv.stop(t)

	// Damaged: a write-ahead log DuckDB 1.5 cannot replay (ADD COLUMN to a
	// table with a nextval() default, the pattern the store's migration 2
	// used), left behind as a kill -9 leaves it.
	db, err := sql.Open("duckdb", store)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	for _, q := range []string{`PRAGMA disable_checkpoint_on_shutdown`, `SET checkpoint_threshold = '1TB'`,
		`CREATE SEQUENCE damage_seq`, `CREATE TABLE damage (id BIGINT DEFAULT nextval('damage_seq'), a INTEGER)`,
		`ALTER TABLE damage ADD COLUMN b INTEGER`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	if _, err := os.Stat(store + ".wal"); err != nil {
		t.Fatal("no write-ahead log left:", err)
	}
	code, _, errs = run(t, "cases", "info", "--store", store)
	if code == 0 || !strings.Contains(errs, "write-ahead log cannot be replayed") || strings.Contains(errs, "in use by another process") ||
		!strings.Contains(errs, "crosscheck cases recover --store "+store) || strings.Contains(errs, "Stack Trace") {
		t.Fatalf("damaged store: exit %d, stderr:\n%s", code, errs)
	}
	// serve says the same.
	code, _, errs = run(t, "serve", "--store", store, "--users", users, "--addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errs, "write-ahead log cannot be replayed") {
		t.Fatalf("serve on damaged store: exit %d, stderr:\n%s", code, errs)
	}
	// Following the advice brings the store back.
	code, out, errs := run(t, "cases", "recover", "--store", store)
	if code != 0 || !strings.Contains(out, "moved the write-ahead log to "+store+".wal.damaged-") {
		t.Fatalf("cases recover: exit %d\n%s\n%s", code, out, errs)
	}
	if m, _ := filepath.Glob(store + ".wal.damaged-*"); len(m) != 1 {
		t.Fatalf("damaged log kept: %v", m)
	}
	code, out, errs = run(t, "cases", "info", "--store", store)
	var info struct {
		Schema int `json:"schema_version"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil || info.Schema < 2 {
		t.Fatalf("cases info after recover: exit %d\n%s\n%s", code, out, errs)
	}
	// A healthy store is left alone.
	code, _, errs = run(t, "cases", "recover", "--store", store)
	if code == 0 || !strings.Contains(errs, "nothing to recover") {
		t.Fatalf("recover of a healthy store: exit %d %s", code, errs)
	}
}
