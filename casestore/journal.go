package casestore

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// The audit journal makes a view's audit entry durable without waiting for
// a DuckDB commit (which under load took up to half a second).
//
// LogView hands the entry to the journal writer, a group-commit goroutine
// that appends every entry queued so far to the current journal segment as
// one JSON line each, fsyncs once and then acknowledges them all. A copier
// goroutine copies acknowledged entries into audit_log in batches (one
// DuckDB commit per batch, every auditCopyEvery) and deletes segments whose
// entries are all in audit_log. Each entry carries a journal id, stored in
// audit_log.journal_id; at Open, entries of the remaining segments that are
// not yet in audit_log are inserted (idempotent by journal id), so nothing
// acknowledged is lost when the process dies.
//
// Segments live in the directory <store>.audit-journal, named by the
// journal id of their first entry. A :memory: store has no journal: its
// entries are acknowledged at once and copied in the background.

const (
	maxJournalGroup   = 4096
	auditCopyEvery    = time.Second
	maxAuditCopyBatch = 5000
	journalSegmentMax = 8 << 20
)

type journalLine struct {
	ID int64 `json:"id"`
	AuditEntry
}

type pendingAudit struct {
	e    journalLine
	done chan error
}

type segment struct {
	path   string
	lastID int64 // highest journal id written to it
}

type auditWriter struct {
	db    *sql.DB
	log   *slog.Logger
	dir   string // "" for a store without a journal
	every time.Duration

	in   chan *pendingAudit
	stop chan struct{}
	once sync.Once

	writerDone chan struct{}
	wg         sync.WaitGroup

	// owned by the writer goroutine
	f      *os.File
	fpath  string
	fsize  int64
	nextID int64
	buf    bytes.Buffer

	mu      sync.Mutex
	pending []journalLine // acknowledged, not yet in audit_log
	acked   int64         // highest acknowledged journal id
	copied  int64         // highest journal id known to be in audit_log
	sealed  []segment     // closed segments, deleted once copied
	copyErr error
	copyGen chan struct{} // closed (and replaced) after each copy attempt
	kick    chan struct{}
	stopped bool

	conn *sql.Conn
	app  *duckdb.Appender
}

func journalDir(path string) string {
	if path == ":memory:" || path == "" {
		return ""
	}
	return path + ".audit-journal"
}

// openAuditWriter replays the journal of the store at path into audit_log
// and starts the journal writer and the copier.
func openAuditWriter(ctx context.Context, db *sql.DB, log *slog.Logger, path string, every time.Duration) (*auditWriter, error) {
	w := &auditWriter{db: db, log: log, dir: journalDir(path), every: every,
		in: make(chan *pendingAudit, maxJournalGroup), stop: make(chan struct{}), writerDone: make(chan struct{}),
		copyGen: make(chan struct{}), kick: make(chan struct{}, 1)}
	var maxID int64
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(journal_id), 0) FROM audit_log`).Scan(&maxID); err != nil {
		return nil, fmt.Errorf("audit journal: %w", err)
	}
	if w.dir != "" {
		if err := os.MkdirAll(w.dir, 0o700); err != nil {
			return nil, fmt.Errorf("audit journal: %w", err)
		}
		last, err := w.replay(ctx)
		if err != nil {
			return nil, fmt.Errorf("audit journal replay: %w", err)
		}
		maxID = max(maxID, last)
	}
	w.nextID = maxID + 1
	w.acked, w.copied = maxID, maxID
	if w.dir != "" {
		if err := w.openSegment(); err != nil {
			return nil, fmt.Errorf("audit journal: %w", err)
		}
	}
	w.wg.Add(2)
	go w.runWriter()
	go w.runCopier()
	return w, nil
}

func segmentName(first int64) string { return fmt.Sprintf("%016d.jsonl", first) }

func (w *auditWriter) segments() ([]string, error) {
	ents, err := os.ReadDir(w.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".jsonl") {
			continue
		}
		if _, err := strconv.ParseInt(strings.TrimSuffix(n, ".jsonl"), 10, 64); err != nil {
			continue
		}
		out = append(out, filepath.Join(w.dir, n))
	}
	sort.Strings(out)
	return out, nil
}

// replay inserts the journal's entries that audit_log does not hold yet,
// then removes the segments. It returns the highest journal id seen.
func (w *auditWriter) replay(ctx context.Context) (int64, error) {
	segs, err := w.segments()
	if err != nil || len(segs) == 0 {
		return 0, err
	}
	var lines []journalLine
	var last int64
	for _, p := range segs {
		b, err := os.ReadFile(p)
		if err != nil {
			return 0, err
		}
		for i, ln := range bytes.Split(b, []byte{'\n'}) {
			if len(bytes.TrimSpace(ln)) == 0 {
				continue
			}
			var j journalLine
			if err := json.Unmarshal(ln, &j); err != nil || j.ID <= 0 {
				// A torn last line: its write was never acknowledged.
				w.log.Warn("audit journal: skipping unreadable line", "segment", filepath.Base(p), "line", i+1)
				continue
			}
			lines = append(lines, j)
			last = max(last, j.ID)
		}
	}
	if len(lines) > 0 {
		minID := lines[0].ID
		for _, j := range lines {
			minID = min(minID, j.ID)
		}
		have := map[int64]bool{}
		rows, err := w.db.QueryContext(ctx, `SELECT journal_id FROM audit_log WHERE journal_id >= ?`, minID)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return 0, err
			}
			have[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, err
		}
		var missing []journalLine
		for _, j := range lines {
			if !have[j.ID] {
				have[j.ID] = true
				missing = append(missing, j)
			}
		}
		sort.Slice(missing, func(a, b int) bool { return missing[a].ID < missing[b].ID })
		for len(missing) > 0 {
			n := min(len(missing), maxAuditCopyBatch)
			if err := w.appendBatch(missing[:n]); err != nil {
				return 0, err
			}
			missing = missing[n:]
		}
		w.resetAppender()
		w.log.Info("audit journal replayed", "entries", len(lines), "segments", len(segs))
	}
	for _, p := range segs {
		if err := os.Remove(p); err != nil {
			return 0, err
		}
	}
	return last, syncDir(w.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (w *auditWriter) openSegment() error {
	p := filepath.Join(w.dir, segmentName(w.nextID))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	w.f, w.fpath, w.fsize = f, p, 0
	return nil
}

func (w *auditWriter) add(ctx context.Context, e AuditEntry) error {
	p := &pendingAudit{e: journalLine{AuditEntry: e}, done: make(chan error, 1)}
	select {
	case <-w.stop:
		return ErrClosed
	default:
	}
	select {
	case w.in <- p:
	case <-w.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-w.writerDone:
		select {
		case err := <-p.done:
			return err
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runWriter is the group commit: every entry queued while the previous
// group was being fsync'd goes into the next group.
func (w *auditWriter) runWriter() {
	defer w.wg.Done()
	for {
		var group []*pendingAudit
		select {
		case p := <-w.in:
			group = append(group, p)
		case <-w.stop:
			for {
				select {
				case p := <-w.in:
					group = append(group, p)
					if len(group) == maxJournalGroup {
						w.commit(group)
						group = nil
					}
				default:
					w.commit(group)
					if w.f != nil {
						w.f.Close()
						w.f = nil
					}
					w.mu.Lock()
					w.stopped = true
					w.mu.Unlock()
					close(w.writerDone)
					return
				}
			}
		}
		if w.every > 0 {
			t := time.NewTimer(w.every)
		gather:
			for len(group) < maxJournalGroup {
				select {
				case p := <-w.in:
					group = append(group, p)
				case <-t.C:
					break gather
				}
			}
			t.Stop()
		}
	drain:
		for len(group) < maxJournalGroup {
			select {
			case p := <-w.in:
				group = append(group, p)
			default:
				break drain
			}
		}
		w.commit(group)
	}
}

func (w *auditWriter) commit(group []*pendingAudit) {
	if len(group) == 0 {
		return
	}
	t0 := time.Now()
	for _, p := range group {
		p.e.ID = w.nextID
		w.nextID++
	}
	err := w.writeGroup(group)
	if d := time.Since(t0); d > 50*time.Millisecond {
		w.log.Warn("slow audit journal write", "entries", len(group), "ms", d.Milliseconds())
	}
	if err != nil {
		w.log.Error("audit journal write failed", "entries", len(group), "err", err)
		for _, p := range group {
			p.done <- err
		}
		return
	}
	w.mu.Lock()
	for _, p := range group {
		w.pending = append(w.pending, p.e)
	}
	w.acked = group[len(group)-1].e.ID
	w.mu.Unlock()
	for _, p := range group {
		p.done <- nil
	}
	if w.f != nil && w.fsize >= journalSegmentMax {
		w.rotate()
	}
}

func (w *auditWriter) writeGroup(group []*pendingAudit) error {
	if w.dir == "" {
		return nil
	}
	if w.f == nil {
		if err := w.openSegment(); err != nil {
			return err
		}
	}
	w.buf.Reset()
	enc := json.NewEncoder(&w.buf)
	enc.SetEscapeHTML(false)
	for _, p := range group {
		if err := enc.Encode(&p.e); err != nil { // one line each
			return err
		}
	}
	n, err := w.f.Write(w.buf.Bytes())
	w.fsize += int64(n)
	if err == nil {
		err = w.f.Sync()
	}
	if err != nil {
		// The segment may now end in a torn line: continue in a new one.
		w.f.Close()
		w.f = nil
		w.sealSegment(w.fpath, group[len(group)-1].e.ID)
	}
	return err
}

func (w *auditWriter) sealSegment(path string, lastID int64) {
	w.mu.Lock()
	w.sealed = append(w.sealed, segment{path: path, lastID: lastID})
	w.mu.Unlock()
}

func (w *auditWriter) rotate() {
	if err := w.f.Close(); err != nil {
		w.log.Warn("audit journal: close segment", "err", err)
	}
	w.f = nil
	w.sealSegment(w.fpath, w.nextID-1)
	if err := w.openSegment(); err != nil {
		w.log.Error("audit journal: new segment", "err", err)
	}
}

// runCopier copies acknowledged entries into audit_log.
func (w *auditWriter) runCopier() {
	defer w.wg.Done()
	t := time.NewTicker(auditCopyEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-w.kick:
		case <-w.stop:
			// wait for the writer's last group, then copy everything
			for {
				w.mu.Lock()
				done := w.stopped
				w.mu.Unlock()
				if done {
					break
				}
				time.Sleep(time.Millisecond)
			}
			for w.copyOnce() > 0 {
			}
			w.mu.Lock()
			err := w.copyErr
			w.mu.Unlock()
			if err == nil && w.dir != "" {
				// everything is in audit_log: the journal is empty
				if segs, err := w.segments(); err == nil {
					for _, p := range segs {
						os.Remove(p)
					}
				}
			}
			w.resetAppender()
			w.signal()
			return
		}
		for w.copyOnce() == maxAuditCopyBatch {
		}
		w.signal()
	}
}

func (w *auditWriter) signal() {
	w.mu.Lock()
	close(w.copyGen)
	w.copyGen = make(chan struct{})
	w.mu.Unlock()
}

// copyOnce copies up to maxAuditCopyBatch pending entries; it returns how
// many it copied.
func (w *auditWriter) copyOnce() int {
	w.mu.Lock()
	n := min(len(w.pending), maxAuditCopyBatch)
	batch := w.pending[:n:n]
	w.mu.Unlock()
	if n == 0 {
		return 0
	}
	t0 := time.Now()
	err := w.appendBatch(batch)
	if d := time.Since(t0); d > 100*time.Millisecond {
		w.log.Info("slow audit log copy", "entries", n, "ms", d.Milliseconds())
	}
	w.mu.Lock()
	w.copyErr = err
	if err != nil {
		w.mu.Unlock()
		w.log.Error("audit log copy failed (entries stay in the journal)", "entries", n, "err", err)
		return 0
	}
	w.pending = w.pending[n:]
	if len(w.pending) == 0 {
		w.pending = nil
	}
	w.copied = batch[n-1].ID
	var keep []segment
	var drop []string
	for _, s := range w.sealed {
		if s.lastID <= w.copied {
			drop = append(drop, s.path)
		} else {
			keep = append(keep, s)
		}
	}
	w.sealed = keep
	w.mu.Unlock()
	for _, p := range drop {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			w.log.Warn("audit journal: remove segment", "err", err)
		}
	}
	return n
}

// sync waits until every entry acknowledged so far is in audit_log.
func (w *auditWriter) sync(ctx context.Context) error {
	w.mu.Lock()
	target := w.acked
	w.mu.Unlock()
	for {
		w.mu.Lock()
		copied, err, gen := w.copied, w.copyErr, w.copyGen
		w.mu.Unlock()
		if copied >= target {
			return nil
		}
		select {
		case w.kick <- struct{}{}:
		default:
		}
		select {
		case <-gen:
			w.mu.Lock()
			copied, err = w.copied, w.copyErr
			w.mu.Unlock()
			if copied < target && err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		_ = err
	}
}

// appendBatch writes entries with DuckDB's appender on the copier's own
// connection; Flush commits them.
func (w *auditWriter) appendBatch(batch []journalLine) error {
	if w.app == nil {
		conn, err := w.db.Conn(context.Background())
		if err != nil {
			return err
		}
		err = conn.Raw(func(dc any) error {
			a, err := duckdb.NewAppenderWithColumns(dc.(driver.Conn), "", "", "audit_log",
				[]string{"ts", "actor", "role", "action", "object_type", "object_id", "detail", "reason", "remote", "journal_id"})
			w.app = a
			return err
		})
		if err != nil {
			conn.Close()
			w.app = nil
			return err
		}
		w.conn = conn
	}
	for _, e := range batch {
		if err := w.app.AppendRow(e.Time, e.Actor, e.Role, e.Action, e.ObjectType, e.ObjectID, e.Detail, e.Reason, e.Remote, e.ID); err != nil {
			w.resetAppender()
			return err
		}
	}
	if err := w.app.Flush(); err != nil {
		w.resetAppender()
		return err
	}
	return nil
}

func (w *auditWriter) resetAppender() {
	if w.app != nil {
		_ = w.app.Clear()
		_ = w.app.Close()
		w.app = nil
	}
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

func (w *auditWriter) close() {
	w.once.Do(func() {
		close(w.stop)
	})
	w.wg.Wait()
}
