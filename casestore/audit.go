package casestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
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
// entry is durable: appended to the audit journal and fsync'd (entries of
// concurrent views share one fsync). The entry is copied into audit_log in
// the background; a store opened after a crash replays the journal first.
// The caller shows the data only after LogView returns nil.
func (s *Store) LogView(ctx context.Context, a Actor, action, objType, objID string, detail any, reason string) error {
	return s.audit.add(ctx, AuditEntry{Time: s.now().UTC(), Actor: a.User, Role: string(a.Role), Action: action,
		ObjectType: objType, ObjectID: objID, Detail: detailJSON(detail), Reason: reason, Remote: a.Remote})
}

// ErrClosed is returned for work sent to a closed store.
var ErrClosed = errors.New("store closed")

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
	// Read your writes: views acknowledged so far are copied first.
	if err := s.audit.sync(ctx); err != nil {
		return nil, err
	}
	rel, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	defer rel()
	rows, err := s.db.QueryContext(ctx, `SELECT seq, ts, actor, coalesce(role, ''), action, coalesce(object_type, ''),
		coalesce(object_id, ''), coalesce(detail, ''), coalesce(reason, ''), coalesce(remote, '')
		FROM audit_log WHERE (? = '' OR actor = ?) AND starts_with(action, ?) AND (? = '' OR object_id = ?)
		ORDER BY ts DESC, seq DESC LIMIT ?`, f.Actor, f.Actor, f.Action, f.ObjectID, f.ObjectID, f.Limit)
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
