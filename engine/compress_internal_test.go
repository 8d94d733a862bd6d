package engine

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/rules"
)

// compressedSegments counts the column segments of table t that DuckDB
// stores compressed, and all of them.
func compressedSegments(t *testing.T, s *Session, table string) (compressed, all int) {
	t.Helper()
	if err := s.DB.QueryRowContext(context.Background(), `SELECT count(*) FILTER (WHERE compression <> 'Uncompressed'), count(*)
		FROM pragma_storage_info(`+Lit(table)+`) WHERE segment_type <> 'VALIDITY'`).Scan(&compressed, &all); err != nil {
		t.Fatal(err)
	}
	return compressed, all
}

// An in-memory session keeps its tables in a database attached with
// COMPRESS: Checkpoint compresses them (DuckDB's own in-memory database
// never does), and every connection of the pool, including those opened
// after the rules sandbox locked the configuration, works in it.
func TestMemorySessionCompressesOnCheckpoint(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, job.Engine{Database: ":memory:", Threads: 2, Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Exec(ctx, `CREATE TABLE t AS SELECT i, 'abc' || (i % 100)::VARCHAR AS s FROM range(300000) r(i)`,
		`CREATE MACRO plus_one(x) AS x + 1`); err != nil {
		t.Fatal(err)
	}
	if c, all := compressedSegments(t, s, "t"); all == 0 || c != 0 {
		t.Fatalf("before the checkpoint: %d of %d segments compressed, want 0 of more than 0", c, all)
	}
	if err := s.Checkpoint(ctx, slog.New(slog.DiscardHandler), "test"); err != nil {
		t.Fatal(err)
	}
	if c, all := compressedSegments(t, s, "t"); c == 0 {
		t.Fatalf("after the checkpoint: none of %d segments compressed", all)
	}
	if err := rules.Sandbox(ctx, s.DB, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	// Hold several connections at once, so that the pool opens new ones.
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 4 {
		c, err := s.DB.Conn(ctx)
		if err != nil {
			t.Fatalf("connection %d after the sandbox: %v", i, err)
		}
		conns = append(conns, c)
		var db string
		var n int64
		if err := c.QueryRowContext(ctx, `SELECT current_database(), count(*) FROM t WHERE plus_one(i) > 10`).Scan(&db, &n); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if db != workDB || n != 299990 {
			t.Fatalf("connection %d: database %q, %d rows; want %q, 299990", i, db, n, workDB)
		}
	}
	// Writing after a checkpoint goes on.
	if err := s.Exec(ctx, `INSERT INTO t VALUES (-1, 'x')`, `CREATE TEMP TABLE tt AS SELECT * FROM t WHERE i < 0`); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoint(ctx, slog.New(slog.DiscardHandler), "test"); err != nil {
		t.Fatalf("second checkpoint: %v", err)
	}
}

// Without engine.compress an in-memory session stays in DuckDB's own
// database and Checkpoint leaves it alone.
func TestMemorySessionUncompressedByDefault(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, job.Engine{Database: ":memory:", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Exec(ctx, `CREATE TABLE t AS SELECT i FROM range(300000) r(i)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoint(ctx, slog.New(slog.DiscardHandler), "test"); err != nil {
		t.Fatal(err)
	}
	var db string
	if err := s.DB.QueryRowContext(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	if c, all := compressedSegments(t, s, "t"); db != "memory" || all == 0 || c != 0 {
		t.Fatalf("database %q, %d of %d segments compressed; want memory, 0 of more than 0", db, c, all)
	}
}

// A database file stays as it was: its own catalogue, and Checkpoint
// leaves it to DuckDB.
func TestFileSessionKeepsItsDatabase(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, job.Engine{Database: filepath.Join(t.TempDir(), "w.duckdb"), Threads: 1, Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var db string
	if err := s.DB.QueryRowContext(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	if db != "w" {
		t.Fatalf("current database %q, want w", db)
	}
	if err := s.Checkpoint(ctx, slog.New(slog.DiscardHandler), "test"); err != nil {
		t.Fatal(err)
	}
}
