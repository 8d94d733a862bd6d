package casestore

import (
	"container/list"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Action kinds.
const (
	ActAssign  = "assign"  // new|assigned|verifying: set the assignee (new → assigned)
	ActVerify  = "verify"  // assigned → verifying: village check done, township reviews
	ActConfirm = "confirm" // assigned|verifying → confirmed, with the outcome
	ActDismiss = "dismiss" // assigned|verifying → dismissed, with a reason
	ActOutcome = "outcome" // confirmed|closed confirmed: update the outcome (amounts recovered…)
	ActClose   = "close"   // confirmed|dismissed → closed
	ActReopen  = "reopen"  // confirmed|dismissed|closed → assigned (or new), with a reason
	ActNote    = "note"    // any status: a note
)

// ActionKinds lists the kinds.
var ActionKinds = []string{ActAssign, ActVerify, ActConfirm, ActDismiss, ActOutcome, ActClose, ActReopen, ActNote}

// Action is a reviewer's action on a case.
type Action struct {
	Kind string `json:"action"`
	// Version is the case version the actor saw; a different current
	// version gives ErrConflict. 0 skips the check (notes and outcome pushes).
	Version  int      `json:"version,omitempty"`
	Assignee string   `json:"assignee,omitempty"`
	Outcome  *Outcome `json:"outcome,omitempty"`
	// Reason is the dismissal reason code.
	Reason string `json:"reason,omitempty"`
	// Text is the note, the dismissal text (required with reason "other"),
	// the reason for a reopen or reassignment, or the village check finding.
	Text string `json:"text,omitempty"`
}

// AssigneeCheck tells whether a user may be assigned a case (set by the
// server from its user list). nil allows any non-empty name.
type AssigneeCheck func(user string, c *Case) bool

// SetAssigneeCheck sets the check used by ActAssign.
func (s *Store) SetAssigneeCheck(f AssigneeCheck) { s.assigneeCheck = f }

const maxText = 2000

func validMoney(x float64) bool { return x >= 0 && x < 1e12 && !math.IsNaN(x) && !math.IsInf(x, 0) }

// Act applies an action and returns the case as it is afterwards. A case
// outside the actor's scope is ErrNotFound.
func (s *Store) Act(ctx context.Context, a Actor, caseID string, act Action) (*Case, error) {
	if !slices.Contains(ActionKinds, act.Kind) {
		return nil, fmt.Errorf("%w: unknown action %q", ErrInvalid, act.Kind)
	}
	act.Text = strings.TrimSpace(act.Text)
	if len([]rune(act.Text)) > maxText {
		return nil, fmt.Errorf("%w: text longer than %d characters", ErrInvalid, maxText)
	}
	switch act.Kind {
	case ActNote:
		if !a.Role.CanNote() {
			return nil, ErrForbidden
		}
	case ActOutcome:
		if !a.Role.CanRecordOutcome() {
			return nil, ErrForbidden
		}
	default:
		if !a.Role.CanDecide() {
			return nil, ErrForbidden
		}
	}
	p := s.Params()
	cal := s.Calendar()
	now := s.now().UTC()
	defer s.detailCache.drop(caseID)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		s.detailCache.drop(caseID)
		cs, err := loadCases(ctx, tx, []string{caseID})
		if err != nil {
			return err
		}
		if len(cs) == 0 || !a.Scope.Allows(cs[0]) {
			return ErrNotFound
		}
		c := cs[0]
		if act.Version != 0 && act.Version != c.Version {
			return fmt.Errorf("%w: case is at version %d, not %d", ErrConflict, c.Version, act.Version)
		}
		return s.apply(ctx, tx, a, c, act, p, cal, now)
	})
	if err != nil {
		return nil, err
	}
	cs, err := loadCases(ctx, s.db, []string{caseID})
	if err != nil || len(cs) == 0 {
		return nil, fmt.Errorf("reload case: %v", err)
	}
	s.idx.upsert(cs)
	return cs[0], nil
}

func inStatus(c *Case, ok ...string) error {
	if !slices.Contains(ok, c.Status) {
		return fmt.Errorf("%w: case is %s", ErrConflict, c.Status)
	}
	return nil
}

func (s *Store) apply(ctx context.Context, tx *sql.Tx, a Actor, c *Case, act Action, p Params, cal *Calendar, now time.Time) error {
	to := c.Status
	set := map[string]any{}
	detail := map[string]any{}
	reason := act.Text
	newStage := func(st string) {
		to = st
		set["status"] = st
		set["stage_started"] = now
		set["due_at"] = p.dueFor(cal, st, now)
	}
	switch act.Kind {
	case ActAssign:
		if err := inStatus(c, StatusNew, StatusAssigned, StatusVerifying); err != nil {
			return err
		}
		if act.Assignee == "" {
			return fmt.Errorf("%w: assignee required", ErrInvalid)
		}
		if s.assigneeCheck != nil && !s.assigneeCheck(act.Assignee, c) {
			return fmt.Errorf("%w: %s cannot be assigned this case (department or region)", ErrInvalid, act.Assignee)
		}
		if c.Assignee != "" && c.Assignee != act.Assignee && act.Text == "" {
			return fmt.Errorf("%w: a reason is required to reassign", ErrInvalid)
		}
		set["assignee"] = act.Assignee
		detail["from"], detail["to"] = c.Assignee, act.Assignee
		if c.Status == StatusNew {
			newStage(StatusAssigned)
		}
	case ActVerify:
		if err := inStatus(c, StatusAssigned); err != nil {
			return err
		}
		newStage(StatusVerifying)
	case ActConfirm:
		if err := inStatus(c, StatusAssigned, StatusVerifying); err != nil {
			return err
		}
		o := act.Outcome
		if o == nil {
			return fmt.Errorf("%w: an outcome is required to confirm", ErrInvalid)
		}
		if !validMoney(o.ToRecover) || !validMoney(o.Recovered) {
			return fmt.Errorf("%w: amounts must be between 0 and 10^12", ErrInvalid)
		}
		if o.Recovered > o.ToRecover {
			return fmt.Errorf("%w: amount recovered exceeds the amount to recover", ErrInvalid)
		}
		newStage(StatusConfirmed)
		set["decision"] = StatusConfirmed
		set["decided_at"] = now
		setOutcome(set, o, act.Text)
		detail["outcome"] = o
	case ActDismiss:
		if err := inStatus(c, StatusAssigned, StatusVerifying); err != nil {
			return err
		}
		if !slices.Contains(DismissReasons, act.Reason) {
			return fmt.Errorf("%w: dismissal reason %q (one of %s)", ErrInvalid, act.Reason, strings.Join(DismissReasons, ", "))
		}
		if act.Reason == ReasonOther && act.Text == "" {
			return fmt.Errorf("%w: reason \"other\" needs a text", ErrInvalid)
		}
		newStage(StatusDismissed)
		set["decision"] = StatusDismissed
		set["decided_at"] = now
		set["dismiss_reason"] = act.Reason
		set["dismiss_text"] = nullIf(act.Text)
		detail["reason"] = act.Reason
	case ActOutcome:
		if c.Decision != StatusConfirmed {
			return fmt.Errorf("%w: only a confirmed case has an outcome", ErrConflict)
		}
		o := act.Outcome
		if o == nil || !validMoney(o.ToRecover) || !validMoney(o.Recovered) || o.Recovered > o.ToRecover {
			return fmt.Errorf("%w: outcome with amounts 0 ≤ recovered ≤ to recover required", ErrInvalid)
		}
		setOutcome(set, o, act.Text)
		detail["before"], detail["after"] = c.Outcome, o
	case ActClose:
		if err := inStatus(c, StatusConfirmed, StatusDismissed); err != nil {
			return err
		}
		to = StatusClosed
		set["status"] = StatusClosed
		set["stage_started"] = now
		set["due_at"] = nil
		set["closed_at"] = now
	case ActReopen:
		if err := inStatus(c, StatusConfirmed, StatusDismissed, StatusClosed); err != nil {
			return err
		}
		if act.Text == "" {
			return fmt.Errorf("%w: a reason is required to reopen", ErrInvalid)
		}
		st := StatusNew
		if c.Assignee != "" {
			st = StatusAssigned
		}
		newStage(st)
		for _, k := range []string{"decision", "decided_at", "closed_at", "dismiss_reason", "dismiss_text", "outcome_payment_stopped",
			"outcome_to_recover", "outcome_recovered", "outcome_referred", "outcome_note"} {
			set[k] = nil
		}
		set["reopened"] = c.Reopened + 1
		detail["decision"] = c.Decision
		if c.Outcome != nil {
			detail["outcome"] = c.Outcome
		}
		if c.DismissReason != "" {
			detail["dismiss_reason"] = c.DismissReason
		}
	case ActNote:
		if act.Text == "" {
			return fmt.Errorf("%w: empty note", ErrInvalid)
		}
	}
	if act.Kind != ActNote {
		set["updated_at"] = now
		var cols []string
		var args []any
		for k, v := range set {
			cols = append(cols, k+" = ?")
			args = append(args, v)
		}
		slices.Sort(cols) // stable SQL text
		args = args[:0]
		for _, col := range cols {
			args = append(args, set[strings.TrimSuffix(col, " = ?")])
		}
		args = append(args, c.ID, c.Version)
		r, err := tx.ExecContext(ctx, `UPDATE cases SET `+strings.Join(cols, ", ")+`, version = version + 1 WHERE case_id = ? AND version = ?`, args...)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n != 1 {
			return ErrConflict
		}
	}
	det := detailJSON(detail)
	if len(detail) == 0 {
		det = ""
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO case_events (case_id, ts, actor, action, from_status, to_status, detail, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, now, a.User, act.Kind, c.Status, to, det, nullIf(reason)); err != nil {
		return err
	}
	return auditTx(ctx, tx, now, a, "case."+act.Kind, "case", c.ID, detail, reason)
}

func setOutcome(set map[string]any, o *Outcome, note string) {
	set["outcome_payment_stopped"] = o.PaymentStopped
	set["outcome_to_recover"] = math.Round(o.ToRecover*100) / 100
	set["outcome_recovered"] = math.Round(o.Recovered*100) / 100
	set["outcome_referred"] = o.Referred
	if o.Note == "" {
		o.Note = note
	}
	set["outcome_note"] = nullIf(o.Note)
}

// Event is one entry of a case's history.
type Event struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"ts"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	From   string    `json:"from_status,omitempty"`
	To     string    `json:"to_status,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Reason string    `json:"reason,omitempty"`
	RunID  string    `json:"run_id,omitempty"`
}

// Hit is one hit of a case with its evidence.
type Hit struct {
	RunID         string  `json:"run_id"`
	HitID         string  `json:"hit_id"`
	Suppressed    string  `json:"suppressed,omitempty"`
	RuleID        string  `json:"rule_id"`
	Category      string  `json:"category"`
	Severity      string  `json:"severity"`
	PaymentID     string  `json:"payment_id"`
	Period        string  `json:"period"`
	RegionCode    string  `json:"region_code"`
	IDNumber      string  `json:"id_number"`
	IDStatus      string  `json:"id_status"`
	Name          string  `json:"name"`
	Amount        float64 `json:"amount"`
	Explanation   string  `json:"explanation"`
	Evidence      string  `json:"evidence"`
	PaymentSource string  `json:"payment_source"`
	PaymentFile   string  `json:"payment_file"`
	PaymentRow    int64   `json:"payment_row"`
}

// Detail is a case with its hits and history.
type Detail struct {
	*Case
	HitList []Hit   `json:"hit_list"`
	Events  []Event `json:"events"`
}

// Detail returns a case with hits and history, if the scope covers it.
// Hits and history come from a small LRU cache that every write to the
// case invalidates: a point read of a wide row from the columnar store
// costs milliseconds, and reviewers return to the same cases.
func (s *Store) Detail(ctx context.Context, sc Scope, id string) (*Detail, error) {
	c, err := s.Get(sc, id)
	if err != nil {
		return nil, err
	}
	if d := s.detailCache.get(id); d != nil {
		return &Detail{Case: c, HitList: d.HitList, Events: d.Events}, nil
	}
	gen := s.detailCache.generation()
	rel, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	defer rel()
	d := &Detail{Case: c}
	rows, err := s.db.QueryContext(ctx, `SELECT 'h' AS kind, run_id, hit_id, coalesce(suppressed, ''), rule_id, coalesce(category, ''),
		coalesce(severity, ''), coalesce(payment_id, ''), coalesce(period, ''), coalesce(region_code, ''), coalesce(id_number, ''),
		coalesce(id_status, ''), coalesce(name, ''), coalesce(amount, 0)::DOUBLE, coalesce(explanation, ''), coalesce(evidence, '[]'),
		coalesce(payment_source, ''), coalesce(payment_file, ''), coalesce(payment_row, 0), NULL::TIMESTAMP AS ts, 0::BIGINT AS seq
		FROM hits WHERE case_id = ?
		UNION ALL
		SELECT 'e', coalesce(run_id, ''), '', '', action, coalesce(from_status, ''), coalesce(to_status, ''), actor, '', '', '', '', '',
			0, coalesce(reason, ''), coalesce(detail, ''), '', '', 0, ts, seq
		FROM case_events WHERE case_id = ?`, id, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var h Hit
		var ts sql.NullTime
		var seq int64
		if err := rows.Scan(&kind, &h.RunID, &h.HitID, &h.Suppressed, &h.RuleID, &h.Category, &h.Severity, &h.PaymentID, &h.Period,
			&h.RegionCode, &h.IDNumber, &h.IDStatus, &h.Name, &h.Amount, &h.Explanation, &h.Evidence, &h.PaymentSource,
			&h.PaymentFile, &h.PaymentRow, &ts, &seq); err != nil {
			return nil, err
		}
		if kind == "h" {
			d.HitList = append(d.HitList, h)
			continue
		}
		d.Events = append(d.Events, Event{Seq: seq, Time: ts.Time, Actor: h.PaymentID, Action: h.RuleID, From: h.Category,
			To: h.Severity, Detail: h.Evidence, Reason: h.Explanation, RunID: h.RunID})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.Slice(d.HitList, func(i, j int) bool {
		a, b := d.HitList[i], d.HitList[j]
		if a.Period != b.Period {
			return a.Period > b.Period
		}
		if a.RuleID != b.RuleID {
			return a.RuleID < b.RuleID
		}
		return a.RunID > b.RunID
	})
	sort.Slice(d.Events, func(i, j int) bool { return d.Events[i].Seq < d.Events[j].Seq })
	s.detailCache.put(id, d, gen)
	return d, nil
}

// detailCache is an LRU of case hits and history.
type detailCache struct {
	mu    sync.Mutex
	max   int
	gen   uint64
	m     map[string]*list.Element
	order *list.List
}

type cached struct {
	id string
	d  *Detail
}

func newDetailCache(max int) *detailCache {
	return &detailCache{max: max, m: map[string]*list.Element{}, order: list.New()}
}

func (c *detailCache) get(id string) *Detail {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*cached).d
	}
	return nil
}

func (c *detailCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores d unless the cache was invalidated since gen was read.
func (c *detailCache) put(id string, d *Detail, gen uint64) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if e, ok := c.m[id]; ok {
		e.Value.(*cached).d = d
		c.order.MoveToFront(e)
		return
	}
	c.m[id] = c.order.PushFront(&cached{id, d})
	for c.order.Len() > c.max {
		e := c.order.Back()
		c.order.Remove(e)
		delete(c.m, e.Value.(*cached).id)
	}
}

// drop forgets one case, or every case when id is "".
func (c *detailCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if id == "" {
		c.m = map[string]*list.Element{}
		c.order.Init()
		return
	}
	if e, ok := c.m[id]; ok {
		c.order.Remove(e)
		delete(c.m, id)
	}
}
