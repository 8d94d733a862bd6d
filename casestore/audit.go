package casestore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// AuditEntry is one line of the append-only audit log: who, when, what, why.
type AuditEntry struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"ts"`
	Actor      string    `json:"actor"`
	Role       string    `json:"role"`
	Action     string    `json:"action"`
	ObjectType string    `json:"object_type"`
	ObjectID   string    `json:"object_id"`
	Detail     string    `json:"detail"`
	Reason     string    `json:"reason"`
	Remote     string    `json:"remote"`
}

func detailJSON(d any) string {
	if d == nil {
		return ""
	}
	if s, ok := d.(string); ok {
		return s
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// auditTx appends an audit entry inside a case-changing transaction, so the
// change and its record commit together.
func auditTx(ctx context.Context, tx *sql.Tx, now time.Time, a Actor, action, objType, objID string, detail any, reason string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (ts, actor, role, action, object_type, object_id, detail, reason, remote)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, now, a.User, string(a.Role), action, objType, objID, detailJSON(detail), reason, a.Remote)
	return err
}

// LogView records a view or export of personal data. It returns once the
// entry is committed: the caller shows the data only after that.
func (s *Store) LogView(ctx context.Context, a Actor, action, objType, objID string, detail any, reason string) error {
	return s.audit.add(ctx, AuditEntry{Time: s.now().UTC(), Actor: a.User, Role: string(a.Role), Action: action,
		ObjectType: objType, ObjectID: objID, Detail: detailJSON(detail), Reason: reason, Remote: a.Remote})
}

// auditWriter commits view entries in groups: entries that arrive while a
// group is being written go into the next one, so that many concurrent
// views cost one commit.
type auditWriter struct {
	db    *sql.DB
	log   *slog.Logger
	every time.Duration
	in    chan *pendingAudit
	wg    sync.WaitGroup
	once  sync.Once
	stop  chan struct{}
	conn  *sql.Conn
	app   *duckdb.Appender
}

type pendingAudit struct {
	e    AuditEntry
	done chan error
}

// ErrClosed is returned for work sent to a closed store.
var ErrClosed = errors.New("store closed")

func newAuditWriter(db *sql.DB, log *slog.Logger, every time.Duration) *auditWriter {
	w := &auditWriter{db: db, log: log, every: every, in: make(chan *pendingAudit, 4096), stop: make(chan struct{})}
	w.wg.Add(1)
	go w.run()
	return w
}

func (w *auditWriter) add(ctx context.Context, e AuditEntry) error {
	p := &pendingAudit{e: e, done: make(chan error, 1)}
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
	case <-ctx.Done():
		return ctx.Err()
	}
}

const maxAuditBatch = 512

func (w *auditWriter) run() {
	defer w.wg.Done()
	for {
		var batch []*pendingAudit
		select {
		case p := <-w.in:
			batch = append(batch, p)
		case <-w.stop:
			// drain what is queued, then stop
			for {
				select {
				case p := <-w.in:
					batch = append(batch, p)
					if len(batch) == maxAuditBatch {
						w.flush(batch)
						batch = nil
					}
				default:
					w.flush(batch)
					return
				}
			}
		}
		t := time.NewTimer(w.every)
	gather:
		for len(batch) < maxAuditBatch {
			select {
			case p := <-w.in:
				batch = append(batch, p)
			case <-t.C:
				break gather
			}
		}
		t.Stop()
		w.flush(batch)
	}
}

func (w *auditWriter) flush(batch []*pendingAudit) {
	if len(batch) == 0 {
		return
	}
	t0 := time.Now()
	err := w.appendBatch(batch)
	if d := time.Since(t0); d > 50*time.Millisecond {
		w.log.Warn("slow audit log write", "entries", len(batch), "ms", d.Milliseconds())
	}
	if err != nil {
		w.log.Error("audit log write failed", "entries", len(batch), "err", err)
	}
	for _, p := range batch {
		p.done <- err
	}
}

// appendBatch writes a batch with DuckDB's appender on the writer's own
// connection; Flush commits it.
func (w *auditWriter) appendBatch(batch []*pendingAudit) error {
	if w.app == nil {
		conn, err := w.db.Conn(context.Background())
		if err != nil {
			return err
		}
		err = conn.Raw(func(dc any) error {
			a, err := duckdb.NewAppenderWithColumns(dc.(driver.Conn), "", "", "audit_log",
				[]string{"ts", "actor", "role", "action", "object_type", "object_id", "detail", "reason", "remote"})
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
	for _, p := range batch {
		e := p.e
		if err := w.app.AppendRow(e.Time, e.Actor, e.Role, e.Action, e.ObjectType, e.ObjectID, e.Detail, e.Reason, e.Remote); err != nil {
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
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
	w.resetAppender()
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	Actor    string
	Action   string // prefix, e.g. "case." or "view."
	ObjectID string
	Limit    int
}

// Audit lists audit entries, newest first (admin only).
func (s *Store) Audit(ctx context.Context, a Actor, f AuditFilter) ([]AuditEntry, error) {
	if !a.Role.CanAdmin() {
		return nil, ErrForbidden
	}
	if f.Limit <= 0 || f.Limit > 5000 {
		f.Limit = 200
	}
	rel, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	defer rel()
	rows, err := s.db.QueryContext(ctx, `SELECT seq, ts, actor, coalesce(role, ''), action, coalesce(object_type, ''),
		coalesce(object_id, ''), coalesce(detail, ''), coalesce(reason, ''), coalesce(remote, '')
		FROM audit_log WHERE (? = '' OR actor = ?) AND starts_with(action, ?) AND (? = '' OR object_id = ?)
		ORDER BY seq DESC LIMIT ?`, f.Actor, f.Actor, f.Action, f.ObjectID, f.ObjectID, f.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.Seq, &e.Time, &e.Actor, &e.Role, &e.Action, &e.ObjectType, &e.ObjectID, &e.Detail, &e.Reason, &e.Remote); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
