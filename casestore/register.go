package casestore

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Exception is an entry of the exception register: hits of this person
// under this rule (and program) raise no case until it expires or is revoked.
type Exception struct {
	ID           int64      `json:"id"`
	PersonKey    string     `json:"person"`
	Name         string     `json:"name"`
	RuleID       string     `json:"rule_id"`      // "*" for every rule
	ProgramCode  string     `json:"program_code"` // "*" for every program
	Reason       string     `json:"reason"`
	Owner        string     `json:"owner"`
	Expires      *time.Time `json:"expires,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	CreatedBy    string     `json:"created_by"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	RevokedBy    string     `json:"revoked_by,omitempty"`
	RevokeReason string     `json:"revoke_reason,omitempty"`
}

// Active reports whether the exception applies at t.
func (e *Exception) Active(t time.Time) bool {
	return e.RevokedAt == nil && (e.Expires == nil || !e.Expires.Before(t.Truncate(24*time.Hour)))
}

// AddException registers an exception. The person is an ID number (the
// person key of a valid ID); rule and program may be "*".
func (s *Store) AddException(ctx context.Context, a Actor, e Exception) (*Exception, error) {
	if !a.Role.CanExceptions() {
		return nil, ErrForbidden
	}
	e.PersonKey = strings.ToUpper(strings.TrimSpace(e.PersonKey))
	e.Reason = strings.TrimSpace(e.Reason)
	e.Owner = strings.TrimSpace(e.Owner)
	if e.RuleID == "" {
		e.RuleID = "*"
	}
	if e.ProgramCode == "" {
		e.ProgramCode = "*"
	}
	if e.PersonKey == "" || e.Reason == "" || e.Owner == "" {
		return nil, fmt.Errorf("%w: person, reason and owner are required", ErrInvalid)
	}
	now := s.now().UTC()
	if e.Expires != nil && e.Expires.Before(now) {
		return nil, fmt.Errorf("%w: expiry is in the past", ErrInvalid)
	}
	e.CreatedAt, e.CreatedBy = now, a.User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var exp any
		if e.Expires != nil {
			exp = e.Expires.Format("2006-01-02")
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO exceptions (person_key, name, rule_id, program_code, reason, owner, expires, created_at, created_by)
			VALUES (?, ?, ?, ?, ?, ?, ?::DATE, ?, ?) RETURNING id`, e.PersonKey, e.Name, e.RuleID, e.ProgramCode, e.Reason, e.Owner, exp, now, a.User).Scan(&e.ID); err != nil {
			return err
		}
		return auditTx(ctx, tx, now, a, "exception.add", "exception", fmt.Sprint(e.ID),
			map[string]any{"rule_id": e.RuleID, "program_code": e.ProgramCode, "owner": e.Owner, "expires": exp}, e.Reason)
	})
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// RevokeException ends an exception before its expiry.
func (s *Store) RevokeException(ctx context.Context, a Actor, id int64, reason string) error {
	if !a.Role.CanExceptions() {
		return ErrForbidden
	}
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("%w: a reason is required", ErrInvalid)
	}
	now := s.now().UTC()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE exceptions SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL`, now, a.User, reason, id)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n != 1 {
			return ErrNotFound
		}
		return auditTx(ctx, tx, now, a, "exception.revoke", "exception", fmt.Sprint(id), nil, reason)
	})
}

// Exceptions lists the register, newest first (admins and analysts: the
// register is not scoped by department or region).
func (s *Store) Exceptions(ctx context.Context, a Actor) ([]Exception, error) {
	if !a.Role.CanExceptions() {
		return nil, ErrForbidden
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, person_key, coalesce(name, ''), rule_id, program_code, reason, owner, expires::TIMESTAMP,
		created_at, created_by, revoked_at, coalesce(revoked_by, ''), coalesce(revoke_reason, '') FROM exceptions ORDER BY id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Exception
	for rows.Next() {
		var e Exception
		var exp, rev sql.NullTime
		if err := rows.Scan(&e.ID, &e.PersonKey, &e.Name, &e.RuleID, &e.ProgramCode, &e.Reason, &e.Owner, &exp, &e.CreatedAt,
			&e.CreatedBy, &rev, &e.RevokedBy, &e.RevokeReason); err != nil {
			return nil, err
		}
		if exp.Valid {
			t := exp.Time
			e.Expires = &t
		}
		if rev.Valid {
			t := rev.Time
			e.RevokedAt = &t
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// RuleStat is a rule's volume and precision within a scope.
type RuleStat struct {
	RuleID    string         `json:"rule_id"`
	Cases     int            `json:"cases"`
	Open      int            `json:"open"`
	Confirmed int            `json:"confirmed"`
	Dismissed int            `json:"dismissed"`
	Overdue   int            `json:"overdue"`
	Amount    float64        `json:"amount"`
	ToRecover float64        `json:"amount_to_recover"`
	Recovered float64        `json:"amount_recovered"`
	Precision float64        `json:"precision"` // confirmed / decided; 0 with none decided
	Reasons   map[string]int `json:"dismiss_reasons"`
}

// RuleStats returns per-rule volume and precision of the cases in scope
// (a case with several rules counts under each).
func (s *Store) RuleStats(sc Scope) []RuleStat {
	ck := s.Clock()
	m := map[string]*RuleStat{}
	s.idx.each(sc, func(c *Case) {
		for _, r := range c.RuleIDs {
			st := m[r]
			if st == nil {
				st = &RuleStat{RuleID: r, Reasons: map[string]int{}}
				m[r] = st
			}
			st.Cases++
			st.Amount += c.Amount
			switch c.Decision {
			case StatusConfirmed:
				st.Confirmed++
				if c.Outcome != nil {
					st.ToRecover += c.Outcome.ToRecover
					st.Recovered += c.Outcome.Recovered
				}
			case StatusDismissed:
				st.Dismissed++
				st.Reasons[c.DismissReason]++
			default:
				st.Open++
			}
			if ck.DueState(c) == DueOverdue {
				st.Overdue++
			}
		}
	})
	out := make([]RuleStat, 0, len(m))
	for _, st := range m {
		if d := st.Confirmed + st.Dismissed; d > 0 {
			st.Precision = float64(st.Confirmed) / float64(d)
		}
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RuleID < out[j].RuleID })
	return out
}

// StopEntry is a person whose payments of a program are to stop: a
// confirmed case whose outcome says payment stopped.
type StopEntry struct {
	CaseID      string    `json:"case_id"`
	IDNumber    string    `json:"id_number"`
	Name        string    `json:"name"`
	ProgramCode string    `json:"program_code"`
	ProgramName string    `json:"program_name"`
	Department  string    `json:"department"`
	RegionCode  string    `json:"region_code"`
	FromPeriod  string    `json:"from_period"`
	DecidedAt   time.Time `json:"decided_at"`
	ToRecover   float64   `json:"amount_to_recover"`
	Recovered   float64   `json:"amount_recovered"`
}

// StopList returns the stop-list within scope, optionally for one program
// and decided since a time, oldest decision first.
func (s *Store) StopList(sc Scope, program string, since time.Time) []StopEntry {
	var out []StopEntry
	s.idx.each(sc, func(c *Case) {
		if c.Decision != StatusConfirmed || c.Outcome == nil || !c.Outcome.PaymentStopped || c.DecidedAt == nil {
			return
		}
		if program != "" && c.ProgramCode != program {
			return
		}
		if c.DecidedAt.Before(since) {
			return
		}
		out = append(out, StopEntry{CaseID: c.ID, IDNumber: c.IDNumber, Name: c.Name, ProgramCode: c.ProgramCode,
			ProgramName: c.ProgramName, Department: c.Department, RegionCode: c.RegionCode, FromPeriod: c.FirstPeriod,
			DecidedAt: *c.DecidedAt, ToRecover: c.Outcome.ToRecover, Recovered: c.Outcome.Recovered})
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].DecidedAt.Equal(out[j].DecidedAt) {
			return out[i].DecidedAt.Before(out[j].DecidedAt)
		}
		return out[i].CaseID < out[j].CaseID
	})
	return out
}

// StatusCount is a count of cases by status, department and age band, for metrics.
type StatusCount struct {
	Status, Department, Age string
	N                       int
}

// Age bands of a case since it was raised.
var AgeBands = []string{"0-3d", "4-10d", "11-30d", "31d+"}

func ageBand(d time.Duration) string {
	days := int(d.Hours() / 24)
	switch {
	case days <= 3:
		return AgeBands[0]
	case days <= 10:
		return AgeBands[1]
	case days <= 30:
		return AgeBands[2]
	}
	return AgeBands[3]
}

// CountByStatus counts all cases by status, department and age band.
func (s *Store) CountByStatus() []StatusCount {
	now := s.now()
	type key struct{ s, d, a string }
	m := map[key]int{}
	s.idx.each(Scope{All: true}, func(c *Case) {
		m[key{c.Status, c.Department, ageBand(now.Sub(c.CreatedAt))}]++
	})
	out := make([]StatusCount, 0, len(m))
	for k, n := range m {
		out = append(out, StatusCount{k.s, k.d, k.a, n})
	}
	return out
}

// Runs lists imported runs, newest first.
func (s *Store) Runs(ctx context.Context) ([]map[string]any, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT run_id, imported_at, imported_by, coalesce(rule_set, ''), hits, new_cases, merged_cases,
		suppressed_hits, reopened_cases, withdrawn_deaths FROM runs ORDER BY imported_at DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var id, by, rs string
		var at time.Time
		var h, nc, mc, sh, rc, wd int64
		if err := rows.Scan(&id, &at, &by, &rs, &h, &nc, &mc, &sh, &rc, &wd); err != nil {
			return nil, err
		}
		out = append(out, map[string]any{"run_id": id, "imported_at": at, "imported_by": by, "rule_set": rs, "hits": h,
			"new_cases": nc, "merged_cases": mc, "suppressed_hits": sh, "reopened_cases": rc, "withdrawn_deaths": wd})
	}
	return out, rows.Err()
}

// Refresh recomputes deadlines of open cases (from the day they entered
// their status, under the parameters in force), rule precision and
// priorities, then reloads the queue index. The server runs it on a timer
// so that priorities follow review outcomes.
func (s *Store) Refresh(ctx context.Context) error {
	p := s.Params()
	cal := p.calendar()
	now := s.now().UTC()
	if err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := refreshDueTx(ctx, tx, p, cal); err != nil {
			return err
		}
		return refreshTx(ctx, tx, p, cal, now)
	}); err != nil {
		return err
	}
	return s.reloadIndex(ctx)
}

// refreshDueTx recomputes due_at of open cases: deadlines depend on the
// local day a stage started, so one value per status and hour is computed
// in Go and joined in.
func refreshDueTx(ctx context.Context, tx *sql.Tx, p Params, cal *Calendar) error {
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT status, date_trunc('hour', stage_started) FROM cases WHERE status <> 'closed'`)
	if err != nil {
		return err
	}
	var vals []string
	for rows.Next() {
		var st string
		var h time.Time
		if err := rows.Scan(&st, &h); err != nil {
			rows.Close()
			return err
		}
		due := p.dueFor(cal, st, h)
		if due == nil {
			continue
		}
		vals = append(vals, fmt.Sprintf("(%s, %s::TIMESTAMP, %s::TIMESTAMP)", lit(st), lit(h.Format("2006-01-02 15:04:05")),
			lit(due.(time.Time).Format("2006-01-02 15:04:05"))))
	}
	rows.Close()
	if len(vals) == 0 {
		return nil
	}
	return execAll(ctx, tx,
		`CREATE OR REPLACE TEMP TABLE due_map AS SELECT * FROM (VALUES `+strings.Join(vals, ", ")+`) t(status, hour, due)`,
		`UPDATE cases SET due_at = d.due FROM due_map d
		WHERE cases.status = d.status AND date_trunc('hour', cases.stage_started) = d.hour AND cases.due_at IS DISTINCT FROM d.due`,
		`DROP TABLE due_map`)
}
