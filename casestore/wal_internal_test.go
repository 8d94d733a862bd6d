package casestore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// rawOpen opens a DuckDB file without the Store around it.
func rawOpen(t *testing.T, path string) *sql.DB {
	t.Helper()
	c, err := duckdb.NewConnector(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1) // PRAGMAs below hold for the one connection
	return db
}

// TestEveryMigrationStepReplaysFromWAL leaves each schema step only in the
// write-ahead log, as a kill -9 right after its commit does (checkpoint on
// shutdown disabled), and opens the store again. Step 2 used to be
// ALTER TABLE audit_log ADD COLUMN, whose replay re-binds the table's
// nextval() defaults before DuckDB has a default database: "INTERNAL Error:
// Failure while replaying WAL … GetDefaultDatabase with no default database
// set" (duckdb/duckdb#18259, #20543).
func TestEveryMigrationStepReplaysFromWAL(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2024, 6, 5, 2, 0, 0, 0, time.UTC)
	for _, m := range Migrations {
		t.Run(m.Name[:min(len(m.Name), 20)], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cases.duckdb")
			db := rawOpen(t, path)
			if _, err := migrateTo(ctx, db, now, m.Version-1); err != nil {
				t.Fatal(err)
			}
			// Rows in every table with a sequence default, so that a step
			// that rebuilds a table has something to carry over.
			if m.Version > 1 {
				if _, err := db.ExecContext(ctx, `INSERT INTO audit_log (ts, actor, action) VALUES (?, 'admin', 'case.confirm')`, now); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.ExecContext(ctx, `CHECKPOINT`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, `PRAGMA disable_checkpoint_on_shutdown`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, `SET checkpoint_threshold = '1TB'`); err != nil {
				t.Fatal(err)
			}
			if _, err := migrateTo(ctx, db, now, m.Version); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			s, err := Open(ctx, path, Options{})
			if err != nil {
				t.Fatalf("open after step %d was left in the WAL: %v", m.Version, err)
			}
			defer s.Close()
			var v int
			if err := s.DB().QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil || v != SchemaVersion() {
				t.Fatalf("schema version %d (%v), want %d", v, err, SchemaVersion())
			}
			if m.Version > 1 {
				var n int
				if err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM audit_log WHERE action = 'case.confirm' AND seq = 1`).Scan(&n); err != nil || n != 1 {
					t.Fatalf("audit row carried over: %d (%v)", n, err)
				}
			}
		})
	}
}
