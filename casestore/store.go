// Package casestore keeps the cases that reviewers work on: cases built
// from the hits of screening runs (one per person and program while open,
// merged across runs), their hits and evidence, routing, priority, the
// review lifecycle with deadlines, suppression of dismissed cases and an
// exception register, and an append-only audit log of every view of
// personal data and every action and parameter change.
//
// The store is a DuckDB file with a versioned schema (see migrations.go).
// DuckDB is the source of truth; the store also keeps an in-memory queue
// index of the cases (without hits and evidence) so that the queue of a
// reviewer's department and region answers in well under a millisecond
// with a million cases. Every write goes through the Store, which refreshes
// the index after it commits. One process opens a store file at a time.
package casestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/crosscheck/crosscheck/duckfile"
)

// Sentinel errors callers test with errors.Is.
var (
	// ErrNotFound is returned for a case that does not exist or that the
	// caller's scope does not cover: the two are indistinguishable on purpose.
	ErrNotFound = errors.New("case not found")
	// ErrConflict is returned when a case changed since the caller read it
	// (its version differs) or an action does not fit the case's status.
	ErrConflict = errors.New("case changed or action not allowed in its status")
	// ErrForbidden is returned when the actor's role may not do the action.
	ErrForbidden = errors.New("not allowed")
	// ErrInvalid is returned for a malformed request (missing reason, bad amount…).
	ErrInvalid = errors.New("invalid request")
	// ErrAlreadyImported is returned when a run's hits were imported before.
	ErrAlreadyImported = errors.New("run already imported")
	// ErrLocked is returned by Open when another process holds the store
	// file; the error names the holder's pid when DuckDB reports it.
	ErrLocked = errors.New("store is in use by another process")
	// ErrDamagedWAL is returned by Open when DuckDB cannot replay the
	// store's write-ahead log (<store>.wal): the store is not in use, but
	// the changes since its last checkpoint cannot be read back.
	ErrDamagedWAL = errors.New("the store's write-ahead log cannot be replayed")
	// ErrNotAStore is returned by Open when a file exists at the store's
	// path but DuckDB cannot read it as a database (no valid header). Open
	// never replaces nor deletes it.
	ErrNotAStore = errors.New("the file is not a case store")
)

var lockPIDRE = regexp.MustCompile(`PID (\d+)`)

// openError classifies an error of DuckDB's open: a lock held by another
// process, a write-ahead log that cannot be replayed, or anything else. It
// keeps DuckDB's first line only (an internal error carries a stack trace,
// whose "unique_lock" once made a damaged log look like a lock).
func openError(path string, err error) error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	switch {
	case strings.Contains(msg, "Could not set lock on file") || strings.Contains(msg, "Conflicting lock"):
		if m := lockPIDRE.FindStringSubmatch(msg); m != nil {
			return fmt.Errorf("open store %s: %w (pid %s holds it)", path, ErrLocked, m[1])
		}
		return fmt.Errorf("open store %s: %w (%s)", path, ErrLocked, msg)
	case strings.Contains(msg, "replaying WAL"):
		return fmt.Errorf("open store %s: %w (%s)", path, ErrDamagedWAL, msg)
	case strings.Contains(msg, "not a valid DuckDB database file") || strings.Contains(msg, "Could not read enough bytes from file"):
		return fmt.Errorf("open store %s: %w (%s)", path, ErrNotAStore, msg)
	}
	return fmt.Errorf("open store %s: %w", path, err)
}

// WALPath is the write-ahead log DuckDB keeps beside the store file.
func WALPath(path string) string { return path + ".wal" }

// Options configure Open.
type Options struct {
	// Threads and MemoryLimit are DuckDB settings ("" and 0 leave DuckDB's defaults).
	Threads     int
	MemoryLimit string
	// Log receives operational messages (never personal data). nil discards.
	Log *slog.Logger
	// Now returns the current time; tests set it. nil means time.Now.
	Now func() time.Time
	// ReadConcurrency bounds concurrent DuckDB read queries (default 4):
	// queueing in Go keeps the latency tail short under load.
	ReadConcurrency int
	// AuditFlushEvery is how long a view's audit entry may wait to be
	// grouped with others before the journal is fsync'd (default 0: the
	// entries that arrive during one fsync go together into the next).
	AuditFlushEvery time.Duration
	// DetailCache is how many cases' hits and history are kept in memory
	// (default 20000; negative disables).
	DetailCache int
}

// Store is an open case store.
type Store struct {
	db     *sql.DB
	path   string
	log    *slog.Logger
	now    func() time.Time
	readSm chan struct{}

	// writeMu serialises case-changing transactions (actions, imports,
	// parameter changes): they never conflict with each other in DuckDB.
	writeMu sync.Mutex

	idx *index

	paramsMu sync.RWMutex
	params   Params
	cal      *Calendar

	audit *auditWriter

	assigneeCheck AssigneeCheck
	detailCache   *detailCache
}

// Open opens (creating if needed) the store at path, migrates its schema to
// the current version and loads the queue index. path ":memory:" gives a
// throw-away store. A new store is created whole or not at all
// (duckfile.Create): a process killed while creating it leaves no file at
// path.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	q := url.Values{}
	if o.Threads > 0 {
		q.Set("threads", fmt.Sprint(o.Threads))
	}
	q.Set("checkpoint_threshold", "256MB")
	if o.MemoryLimit != "" {
		q.Set("memory_limit", o.MemoryLimit)
	}
	query := ""
	if len(q) > 0 {
		query = "?" + q.Encode()
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	dsn := path + query
	if path == ":memory:" {
		dsn = query
	} else if _, err := duckfile.Create(ctx, path, query, func(ctx context.Context, db *sql.DB) error {
		return migrate(ctx, db, now())
	}); err != nil {
		return nil, fmt.Errorf("case store: %w", err)
	}
	c, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, openError(path, err)
	}
	db := sql.OpenDB(c)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, openError(path, err)
	}
	s := &Store{db: db, path: path, log: o.Log, now: now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	rc := o.ReadConcurrency
	if rc <= 0 {
		rc = 4
	}
	s.readSm = make(chan struct{}, rc)
	if err := migrate(ctx, db, s.now()); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	if s.params, err = loadParams(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	s.cal = s.params.calendar()
	s.idx = newIndex()
	dc := o.DetailCache
	if dc == 0 {
		dc = 20000
	}
	s.detailCache = newDetailCache(dc)
	if err := s.reloadIndex(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: load cases: %w", path, err)
	}
	if s.audit, err = openAuditWriter(ctx, db, s.log, path, o.AuditFlushEvery); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return s, nil
}

// RecoverDamagedWAL opens a store whose write-ahead log cannot be replayed
// (Open fails with ErrDamagedWAL): it moves <path>.wal aside to
// <path>.wal.damaged-<UTC time> and opens the store as of its last
// checkpoint (the audit journal then gives back the views it still holds;
// changes committed after the checkpoint are not in the store). A store
// that opens, or is locked, is left alone and its error returned. It
// returns the open store and where the log went.
func RecoverDamagedWAL(ctx context.Context, path string, o Options) (*Store, string, error) {
	if _, err := os.Stat(WALPath(path)); errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("store %s has no write-ahead log: nothing to recover", path)
	}
	s, err := Open(ctx, path, o)
	if err == nil {
		s.Close()
		return nil, "", fmt.Errorf("store %s opens: nothing to recover", path)
	}
	if !errors.Is(err, ErrDamagedWAL) {
		return nil, "", err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	moved := fmt.Sprintf("%s.damaged-%s", WALPath(path), now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(WALPath(path), moved); err != nil {
		return nil, "", fmt.Errorf("recover store %s: %w", path, err)
	}
	s, err = Open(ctx, path, o)
	if err != nil {
		return nil, moved, fmt.Errorf("recover store %s (log moved to %s): %w", path, moved, err)
	}
	return s, moved, nil
}

// Close copies pending audit entries into audit_log, empties the audit
// journal and closes the database
// (checkpointing the file).
func (s *Store) Close() error {
	s.audit.close()
	return s.db.Close()
}

// DB returns the underlying database for read-only reporting; writes must
// go through the Store's methods.
func (s *Store) DB() *sql.DB { return s.db }

// Now returns the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// read acquires a read slot; the returned func releases it.
func (s *Store) read(ctx context.Context) (func(), error) {
	select {
	case s.readSm <- struct{}{}:
		return func() { <-s.readSm }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// inTx runs f in a transaction under the write lock.
func (s *Store) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.inTxLocked(ctx, f)
}

func (s *Store) inTxLocked(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
