// Package engine runs a screening job: it owns the DuckDB session, loads
// every source through its connector and mapping into canonical tables,
// resolves person keys, runs the rules, groups hits into cases and writes
// the results, the quality report and the manifest.
package engine

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/duckfile"
	"github.com/crosscheck/crosscheck/job"
)

// Version is the engine version written to manifests; set at build time
// with -ldflags "-X github.com/crosscheck/crosscheck/engine.Version=…".
var Version = "0.1.0-dev"

// Session is an open DuckDB database.
type Session struct {
	DB        *sql.DB
	connector *duckdb.Connector
	views     atomic.Int64
	// MemoryLimit is DuckDB's memory_limit as set ("" for DuckDB's own
	// default), for messages about running out of memory.
	MemoryLimit string
	// compressed: the tables live in an in-memory database attached with
	// COMPRESS (see Open), which Checkpoint compresses.
	compressed bool
	// keyedFull, in a Check session, tells that the views of the keyed
	// tables read the whole tables (Screener.fullViews), not the check's
	// subsets (Screener.subsetKeys).
	keyedFull bool
}

// workDB is the in-memory database an in-memory session works in.
const workDB = "work"

// Open opens the database the engine settings name (":memory:" or a file).
func Open(ctx context.Context, e job.Engine) (*Session, error) {
	path := e.Database
	if path == ":memory:" {
		path = ""
	}
	q := url.Values{}
	ml := ""
	if e.MemoryLimit != "" {
		var err error
		ml, err = memoryLimit(e.MemoryLimit)
		if err != nil {
			return nil, err
		}
		q.Set("memory_limit", ml)
	}
	if e.Threads > 0 {
		q.Set("threads", fmt.Sprint(e.Threads))
	}
	if e.TempDirectory != "" {
		q.Set("temp_directory", e.TempDirectory)
	}
	q.Set("preserve_insertion_order", "false")
	// Let the allocator's background threads return freed memory to the
	// system, so that the process's memory follows memory_limit.
	q.Set("allocator_background_threads", "true")
	dsn := path
	if len(q) > 0 {
		dsn += "?" + q.Encode()
	}
	if path != "" {
		// A new file is created whole: a run killed while DuckDB writes
		// its header would otherwise leave a file no later run can open.
		if _, err := duckfile.Create(ctx, path, "", nil); err != nil {
			return nil, fmt.Errorf("open database %q: %w", e.Database, err)
		}
	}
	// DuckDB's own in-memory database keeps its tables uncompressed, so
	// that at a few million persons they no longer fit in memory_limit and
	// every rule reads them back from the temp folder (docs/benchmarks.md,
	// BenchmarkRuleStage). An in-memory database attached with COMPRESS
	// compresses its tables when checkpointed: every connection of the
	// pool works in it (the first one attaches it). A database file is
	// compressed anyway and stays as it is. Off by default
	// (engine.compress): at 1M persons it saved memory but no clear time.
	var init func(driver.ExecerContext) error
	compress := path == "" && e.Compress
	if compress {
		var attached atomic.Bool
		init = func(ex driver.ExecerContext) error {
			if !attached.Load() {
				if _, err := ex.ExecContext(context.Background(), "ATTACH IF NOT EXISTS ':memory:' AS "+workDB+" (COMPRESS)", nil); err != nil {
					return err
				}
				attached.Store(true)
			}
			_, err := ex.ExecContext(context.Background(), "USE "+workDB, nil)
			return err
		}
	}
	c, err := duckdb.NewConnector(dsn, init)
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", e.Database, err)
	}
	db := sql.OpenDB(c)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %q: %w", e.Database, err)
	}
	return &Session{DB: db, connector: c, MemoryLimit: ml, compressed: compress}, nil
}

// Checkpoint compresses the tables of an in-memory session with
// engine.compress once the stage that wrote them is done (see Open) and
// logs the time it took; otherwise it does nothing (DuckDB checkpoints a
// file by itself).
func (s *Session) Checkpoint(ctx context.Context, log *slog.Logger, stage string) error {
	if !s.compressed {
		return nil
	}
	t0 := time.Now()
	if err := s.Exec(ctx, "CHECKPOINT "+workDB); err != nil {
		return err
	}
	log.Info(stage+": tables compressed", "seconds", time.Since(t0).Seconds())
	return nil
}

// Close closes the database (checkpointing a file database).
func (s *Session) Close() error { return s.DB.Close() }

// Exec runs statements one after the other.
func (s *Session) Exec(ctx context.Context, stmts ...string) error {
	for _, q := range stmts {
		if _, err := s.DB.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%w\nin SQL: %s", err, firstLines(q, 6))
		}
	}
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}

// InsertArrow streams the batches of rdr into an existing table. DuckDB's
// Arrow scan reads a registered stream only once (a second scan returns no
// rows and no error), so the stream is registered under a fresh view name,
// copied with INSERT … SELECT and the view dropped at once: nothing can
// read it a second time.
//
// extra, when not empty, adds computed columns to the select list; the
// insert matches columns by name.
func (s *Session) InsertArrow(ctx context.Context, table string, rdr array.RecordReader, extra string) (err error) {
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var ar *duckdb.Arrow
	if err := conn.Raw(func(dc any) error {
		var e error
		ar, e = duckdb.NewArrowFromConn(dc.(driver.Conn))
		return e
	}); err != nil {
		return fmt.Errorf("arrow: %w", err)
	}
	view := fmt.Sprintf("_arrow_stream_%d", s.views.Add(1))
	release, err := ar.RegisterView(rdr, view)
	if err != nil {
		return fmt.Errorf("arrow view for %s: %w", table, err)
	}
	defer func() {
		if _, e := s.DB.ExecContext(context.Background(), "DROP VIEW IF EXISTS "+view); e != nil && err == nil {
			err = e
		}
		release()
	}()
	sel := "*"
	if extra != "" {
		sel += ", " + extra
	}
	if _, err := s.DB.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s BY NAME SELECT %s FROM %s", Ident(table), sel, view)); err != nil {
		if rerr := rdr.Err(); rerr != nil {
			return rerr
		}
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return rdr.Err()
}

// Ident quotes an identifier.
func Ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Lit quotes a string literal.
func Lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// memoryLimit turns "50%" into a size from the memory the process may use; other
// values (8GiB, 500MB) pass through to DuckDB.
func memoryLimit(v string) (string, error) {
	if !strings.HasSuffix(v, "%") {
		return v, nil
	}
	pct, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil || pct <= 0 || pct > 100 {
		return "", fmt.Errorf("engine.memory_limit: %q is not a percentage between 0 and 100", v)
	}
	total := totalMemory()
	if total == 0 {
		return "", fmt.Errorf("engine.memory_limit: cannot read the machine's memory to compute %s; give a size such as 8GiB", v)
	}
	return fmt.Sprintf("%dMiB", int64(float64(total)*pct/100)>>20), nil
}

// totalMemory is the memory the process may use: the machine's, or the
// limit of its cgroup (a container, a systemd slice) when that is lower.
func totalMemory() int64 {
	total := memInfoTotal()
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64) // "max" fails: no limit
		if err == nil && n > 0 && (total == 0 || n < total) {
			total = n
		}
	}
	return total
}

func memInfoTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}

// withDefaults gives an option's logger and connector registry their
// defaults: a logger that discards, connectors.Default.
func withDefaults(log *slog.Logger, reg *connectors.Registry) (*slog.Logger, *connectors.Registry) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if reg == nil {
		reg = connectors.Default
	}
	return log, reg
}
