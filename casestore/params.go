package casestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/crosscheck/crosscheck/holidays"
)

// Params are the review parameters: stage deadlines, priority weights,
// routing and the working-day calendar. They live in the store, versioned;
// every change is audited with who, when and why.
type Params struct {
	// Deadlines in working days per stage: how long a case may stay in a status.
	Deadlines Deadlines `json:"deadlines"`
	// DueSoonDays: a case due within this many working days is shown yellow.
	DueSoonDays int `json:"due_soon_days"`
	// EscalateAfterDays: a case overdue by this many working days is
	// escalated to the prefecture (shown in its escalated list); 0 never.
	EscalateAfterDays int `json:"escalate_after_days"`
	// RouteLevel is the office a case is routed to within the department:
	// "county" (first six digits of the payment's region code) or
	// "township" (first nine digits, when the roll gives them).
	RouteLevel string `json:"route_level"`
	// Weights of the priority parts (need not add up to 100).
	Weights Weights `json:"weights"`
	// MoneyCap: money at risk per month (yuan) that scores the full money part.
	MoneyCap float64 `json:"money_cap"`
	// Calendar is the official calendar the working days start from:
	// "cn" (default) uses China's public holidays and make-up workdays
	// embedded from the State Council notices (package holidays); "none"
	// counts Monday to Friday only.
	Calendar string `json:"calendar"`
	// Holidays are extra days off (YYYY-MM-DD); Workdays are weekend days
	// worked (调休), also YYYY-MM-DD. Both override the official calendar.
	Holidays []string `json:"holidays"`
	Workdays []string `json:"workdays"`
	// TimeZone for working days (IANA name; default Asia/Shanghai).
	TimeZone string `json:"time_zone"`
}

// Deadlines are working days allowed per status.
type Deadlines struct {
	Triage         int `json:"triage"`          // new: route and assign
	VillageCheck   int `json:"village_check"`   // assigned: village committee checks
	TownshipReview int `json:"township_review"` // verifying: township reviews and decides
	Recovery       int `json:"recovery"`        // confirmed: stop, recover, close
	Closing        int `json:"closing"`         // dismissed: close
}

// Weights of the priority parts.
type Weights struct {
	Severity  float64 `json:"severity"`
	Sources   float64 `json:"sources"`
	Link      float64 `json:"link"`
	Money     float64 `json:"money"`
	Precision float64 `json:"precision"`
}

// DefaultParams are the parameters of a new store: deadlines from observed
// practice (village check 3 working days, township review 10).
func DefaultParams() Params {
	return Params{
		Deadlines:         Deadlines{Triage: 2, VillageCheck: 3, TownshipReview: 10, Recovery: 30, Closing: 5},
		DueSoonDays:       1,
		EscalateAfterDays: 5,
		RouteLevel:        "county",
		Weights:           Weights{Severity: 30, Sources: 20, Link: 10, Money: 20, Precision: 20},
		MoneyCap:          1000,
		Calendar:          CalendarChina,
		TimeZone:          "Asia/Shanghai",
	}
}

// Validate checks the parameters.
func (p Params) Validate() error {
	for name, d := range map[string]int{"triage": p.Deadlines.Triage, "village_check": p.Deadlines.VillageCheck,
		"township_review": p.Deadlines.TownshipReview, "recovery": p.Deadlines.Recovery, "closing": p.Deadlines.Closing} {
		if d < 1 || d > 365 {
			return fmt.Errorf("%w: deadlines.%s: %d is outside 1..365 working days", ErrInvalid, name, d)
		}
	}
	if p.DueSoonDays < 0 || p.DueSoonDays > 30 {
		return fmt.Errorf("%w: due_soon_days: %d is outside 0..30", ErrInvalid, p.DueSoonDays)
	}
	if p.EscalateAfterDays < 0 || p.EscalateAfterDays > 365 {
		return fmt.Errorf("%w: escalate_after_days: %d is outside 0..365", ErrInvalid, p.EscalateAfterDays)
	}
	if p.RouteLevel != "county" && p.RouteLevel != "township" {
		return fmt.Errorf("%w: route_level: %q is not county or township", ErrInvalid, p.RouteLevel)
	}
	w := p.Weights
	for name, v := range map[string]float64{"severity": w.Severity, "sources": w.Sources, "link": w.Link, "money": w.Money, "precision": w.Precision} {
		if v < 0 || v > 1000 || math.IsNaN(v) {
			return fmt.Errorf("%w: weights.%s: %v is outside 0..1000", ErrInvalid, name, v)
		}
	}
	if w.Severity+w.Sources+w.Link+w.Money+w.Precision == 0 {
		return fmt.Errorf("%w: weights: all zero", ErrInvalid)
	}
	if !(p.MoneyCap > 0) {
		return fmt.Errorf("%w: money_cap must be positive", ErrInvalid)
	}
	for _, d := range append(append([]string{}, p.Holidays...), p.Workdays...) {
		if _, err := time.Parse("2006-01-02", d); err != nil {
			return fmt.Errorf("%w: holidays/workdays: %q is not YYYY-MM-DD", ErrInvalid, d)
		}
	}
	if p.Calendar != CalendarChina && p.Calendar != CalendarNone {
		return fmt.Errorf("%w: calendar: %q is not %s or %s", ErrInvalid, p.Calendar, CalendarChina, CalendarNone)
	}
	if _, err := time.LoadLocation(p.TimeZone); err != nil {
		return fmt.Errorf("%w: time_zone: %v", ErrInvalid, err)
	}
	return nil
}

func loadParams(ctx context.Context, db *sql.DB) (Params, error) {
	var v string
	err := db.QueryRowContext(ctx, `SELECT value FROM params ORDER BY version DESC LIMIT 1`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return DefaultParams(), nil
	}
	if err != nil {
		return Params{}, err
	}
	p := DefaultParams()
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return Params{}, fmt.Errorf("params: %w", err)
	}
	return p, nil
}

// Params returns the parameters in force.
func (s *Store) Params() Params {
	s.paramsMu.RLock()
	defer s.paramsMu.RUnlock()
	return s.params
}

// ParamsChange is one recorded parameter version.
type ParamsChange struct {
	Version   int       `json:"version"`
	Params    Params    `json:"params"`
	ChangedAt time.Time `json:"changed_at"`
	ChangedBy string    `json:"changed_by"`
	Reason    string    `json:"reason"`
}

// SetParams records a new parameter version (with the actor and reason in
// the audit log) and recomputes deadlines and priorities of open cases.
func (s *Store) SetParams(ctx context.Context, a Actor, p Params, reason string) error {
	if !a.Role.CanAdmin() {
		return ErrForbidden
	}
	if reason == "" {
		return fmt.Errorf("%w: a reason is required", ErrInvalid)
	}
	if err := p.Validate(); err != nil {
		return err
	}
	old := s.Params()
	b, _ := json.Marshal(p)
	ob, _ := json.Marshal(old)
	now := s.now().UTC()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO params SELECT coalesce(max(version), 0) + 1, ?, ?, ?, ? FROM params`,
			string(b), now, a.User, reason); err != nil {
			return err
		}
		if err := auditTx(ctx, tx, now, a, "params.change", "params", "", map[string]any{"before": json.RawMessage(ob), "after": json.RawMessage(b)}, reason); err != nil {
			return err
		}
		cal := p.calendar()
		if err := refreshDueTx(ctx, tx, p, cal); err != nil {
			return err
		}
		return refreshTx(ctx, tx, p, cal, now)
	})
	if err != nil {
		return err
	}
	s.paramsMu.Lock()
	s.params, s.cal = p, p.calendar()
	s.paramsMu.Unlock()
	return s.reloadIndex(ctx)
}

// ParamsHistory lists parameter versions, newest first.
func (s *Store) ParamsHistory(ctx context.Context) ([]ParamsChange, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT version, value, changed_at, changed_by, coalesce(reason, '') FROM params ORDER BY version DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ParamsChange
	for rows.Next() {
		var c ParamsChange
		var v string
		if err := rows.Scan(&c.Version, &v, &c.ChangedAt, &c.ChangedBy, &c.Reason); err != nil {
			return nil, err
		}
		c.Params = DefaultParams()
		_ = json.Unmarshal([]byte(v), &c.Params)
		out = append(out, c)
	}
	return out, rows.Err()
}

// The official calendars a store can use (Params.Calendar).
const (
	CalendarChina = "cn"
	CalendarNone  = "none"
)

// Calendar counts working days: Monday to Friday, less holidays, plus
// weekend days worked; the official calendar first, then the store's own
// extra days.
type Calendar struct {
	loc      *time.Location
	official *holidays.Table
	holidays map[string]bool
	workdays map[string]bool
}

func (p Params) calendar() *Calendar {
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil || p.TimeZone == "" {
		loc = time.FixedZone("CST", 8*3600)
	}
	c := &Calendar{loc: loc, holidays: map[string]bool{}, workdays: map[string]bool{}}
	if p.Calendar == CalendarChina {
		c.official = holidays.China()
	}
	for _, d := range p.Holidays {
		c.holidays[d] = true
	}
	for _, d := range p.Workdays {
		c.workdays[d] = true
	}
	return c
}

// Calendar returns the working-day calendar of the parameters in force.
func (s *Store) Calendar() *Calendar {
	s.paramsMu.RLock()
	defer s.paramsMu.RUnlock()
	if s.cal == nil {
		return s.params.calendar()
	}
	return s.cal
}

// IsWorkday reports whether the day of t (in the calendar's zone) is a working day.
func (c *Calendar) IsWorkday(t time.Time) bool {
	t = t.In(c.loc)
	d := t.Format("2006-01-02")
	if c.workdays[d] {
		return true
	}
	if c.holidays[d] {
		return false
	}
	if c.official != nil {
		if day, ok := c.official.Lookup(d); ok {
			return day.Kind == holidays.Workday
		}
	}
	wd := t.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

func (c *Calendar) dayStart(t time.Time) time.Time {
	t = t.In(c.loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, c.loc)
}

// Due returns the deadline for a stage that starts at t and may take n
// working days: the end (midnight) of the n-th working day after the day of t.
func (c *Calendar) Due(t time.Time, n int) time.Time {
	d := c.dayStart(t)
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		if c.IsWorkday(d) {
			n--
		}
	}
	return d.AddDate(0, 0, 1)
}

// Back returns the start of the day n working days before the day of t.
func (c *Calendar) Back(t time.Time, n int) time.Time {
	d := c.dayStart(t)
	for n > 0 {
		d = d.AddDate(0, 0, -1)
		if c.IsWorkday(d) {
			n--
		}
	}
	return d
}

// stageDays are the working days allowed in a status (0: no deadline).
func (p Params) stageDays(status string) int {
	switch status {
	case StatusNew:
		return p.Deadlines.Triage
	case StatusAssigned:
		return p.Deadlines.VillageCheck
	case StatusVerifying:
		return p.Deadlines.TownshipReview
	case StatusConfirmed:
		return p.Deadlines.Recovery
	case StatusDismissed:
		return p.Deadlines.Closing
	}
	return 0
}

// dueFor returns the deadline of a status entered at t (nil for closed).
func (p Params) dueFor(cal *Calendar, status string, t time.Time) any {
	n := p.stageDays(status)
	if n == 0 {
		return nil
	}
	return cal.Due(t, n).UTC()
}
