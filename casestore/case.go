package casestore

import (
	"strings"
	"time"
)

// Case statuses.
const (
	StatusNew       = "new"
	StatusAssigned  = "assigned"
	StatusVerifying = "verifying"
	StatusConfirmed = "confirmed"
	StatusDismissed = "dismissed"
	StatusClosed    = "closed"
)

// Statuses in lifecycle order.
var Statuses = []string{StatusNew, StatusAssigned, StatusVerifying, StatusConfirmed, StatusDismissed, StatusClosed}

// Dismissal reasons.
const (
	ReasonSourceDataError    = "source_data_error"
	ReasonEligible           = "eligible"
	ReasonRegisteredGuardian = "registered_guardian"
	ReasonExemptAsset        = "exempt_asset"
	ReasonAlreadyHandled     = "already_handled"
	ReasonOther              = "other"
)

// DismissReasons in display order.
var DismissReasons = []string{ReasonSourceDataError, ReasonEligible, ReasonRegisteredGuardian, ReasonExemptAsset, ReasonAlreadyHandled, ReasonOther}

// Role is a user's role.
type Role string

// Roles.
const (
	RoleAdmin    Role = "admin"    // bureau administrator: everything, all regions
	RoleAnalyst  Role = "analyst"  // reads all cases, notes, exceptions, dashboards, exports
	RoleReviewer Role = "reviewer" // decides the cases of one department and region
	RolePlatform Role = "platform" // the 一卡通 platform: pulls stop-lists, pushes outcomes
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleAdmin || r == RoleAnalyst || r == RoleReviewer || r == RolePlatform
}

// CanAdmin reports whether r may change parameters.
func (r Role) CanAdmin() bool { return r == RoleAdmin }

// CanDecide reports whether r may assign, verify, confirm, dismiss, close and reopen cases.
func (r Role) CanDecide() bool { return r == RoleAdmin || r == RoleReviewer }

// CanNote reports whether r may add notes.
func (r Role) CanNote() bool { return r != RolePlatform }

// CanExceptions reports whether r may manage the exception register.
func (r Role) CanExceptions() bool { return r == RoleAdmin || r == RoleAnalyst }

// CanRecordOutcome reports whether r may record the outcome of a confirmed case.
func (r Role) CanRecordOutcome() bool {
	return r == RoleAdmin || r == RoleReviewer || r == RolePlatform
}

// Scope limits which cases a user sees: a department and a region code
// prefix. The zero Scope with All set sees everything.
type Scope struct {
	All          bool   `json:"all"`
	Department   string `json:"department,omitempty"`
	RegionPrefix string `json:"region_prefix,omitempty"`
}

// Allows reports whether the scope covers c.
func (sc Scope) Allows(c *Case) bool {
	if sc.All {
		return true
	}
	if sc.Department != "" && c.Department != sc.Department {
		return false
	}
	if sc.Department == "" && sc.RegionPrefix == "" {
		return false
	}
	return strings.HasPrefix(c.RegionCode, sc.RegionPrefix)
}

// Actor is who does something: the audit log's "who".
type Actor struct {
	User   string
	Role   Role
	Scope  Scope
	Remote string // client address, for the audit log
}

// System is the actor of imports and scheduled work.
var System = Actor{User: "system", Role: RoleAdmin, Scope: Scope{All: true}}

// Priority is a case's priority score with its parts: each part is a
// 0..1 score times its weight; Score is their sum over the sum of weights,
// scaled to 0..100.
type Priority struct {
	Score     float64 `json:"score"`
	Severity  float64 `json:"severity"`
	Sources   float64 `json:"sources"`
	Link      float64 `json:"link"`
	Money     float64 `json:"money"`
	Precision float64 `json:"precision"`
}

// Outcome is what a confirmed case led to.
type Outcome struct {
	PaymentStopped bool    `json:"payment_stopped"`
	ToRecover      float64 `json:"amount_to_recover"`
	Recovered      float64 `json:"amount_recovered"`
	Referred       bool    `json:"referred_to_discipline"`
	Note           string  `json:"note,omitempty"`
}

// Case is a case as the queue and the detail show it (its hits are read
// separately with Store.Hits).
type Case struct {
	ID             string   `json:"case_id"`
	PersonKey      string   `json:"-"`
	IDNumber       string   `json:"id_number"`
	IDStatus       string   `json:"id_status"`
	Name           string   `json:"name"`
	ProgramCode    string   `json:"program_code"`
	ProgramName    string   `json:"program_name"`
	Department     string   `json:"department"`
	RegionCode     string   `json:"region_code"`
	CountyCode     string   `json:"county_code"`
	TownshipCode   string   `json:"township_code"`
	PrefectureCode string   `json:"prefecture_code"`
	FirstPeriod    string   `json:"first_period"`
	LastPeriod     string   `json:"last_period"`
	Periods        int      `json:"periods"`
	Severity       string   `json:"severity"`
	Categories     []string `json:"categories"`
	RuleIDs        []string `json:"rule_ids"`
	Hits           int      `json:"hits"`
	Payments       int      `json:"payments"`
	Amount         float64  `json:"amount"`
	AmountPerMonth float64  `json:"amount_per_month"`
	// Sources is the number of agreeing sources: distinct non-payment
	// sources among the evidence rows.
	Sources         int      `json:"agreeing_sources"`
	SourceList      []string `json:"source_list"`
	LinkProbability float64  `json:"link_probability"`
	RulePrecision   float64  `json:"rule_precision"`
	Priority        Priority `json:"priority"`

	Status        string     `json:"status"`
	Assignee      string     `json:"assignee,omitempty"`
	StageStarted  time.Time  `json:"stage_started"`
	DueAt         *time.Time `json:"due_at,omitempty"`
	Decision      string     `json:"decision,omitempty"`
	Outcome       *Outcome   `json:"outcome,omitempty"`
	DismissReason string     `json:"dismiss_reason,omitempty"`
	DismissText   string     `json:"dismiss_text,omitempty"`

	DeathWithdrawn  bool `json:"death_withdrawn"`
	EvidenceChanged bool `json:"evidence_changed"`
	Reopened        int  `json:"reopened"`
	SuppressedHits  int  `json:"suppressed_hits"`

	RunIDs    []string   `json:"run_ids"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	ClosedAt  *time.Time `json:"closed_at,omitempty"`
	Version   int        `json:"version"`
}

// Open reports whether the case awaits work (not closed).
func (c *Case) Open() bool { return c.Status != StatusClosed }

// Route is the office the case is routed to: department and county (or
// township with RouteLevel "township").
func (c *Case) Route(p Params) string {
	if p.RouteLevel == "township" && c.TownshipCode != "" {
		return c.TownshipCode
	}
	return c.CountyCode
}

// Due states.
const (
	DueNone    = ""         // no deadline (closed)
	DueOnTime  = "on_time"  // within the deadline
	DueSoon    = "due_soon" // yellow
	DueOverdue = "overdue"  // red
)

// Clock is the time reference for deadline states, computed once per
// request from the calendar.
type Clock struct {
	Now       time.Time
	SoonLimit time.Time // due before this is due soon
	EscLimit  time.Time // due before this is escalated
	escalate  bool
}

// Clock returns the deadline reference for now.
func (s *Store) Clock() Clock {
	p := s.Params()
	cal := s.Calendar()
	now := s.now()
	ck := Clock{Now: now, SoonLimit: cal.Due(now, p.DueSoonDays), escalate: p.EscalateAfterDays > 0}
	if p.DueSoonDays == 0 {
		ck.SoonLimit = now
	}
	ck.EscLimit = cal.Back(now, p.EscalateAfterDays)
	return ck
}

// DueState is the case's deadline state at the clock.
func (ck Clock) DueState(c *Case) string {
	if c.DueAt == nil || c.Status == StatusClosed {
		return DueNone
	}
	if ck.Now.After(*c.DueAt) {
		return DueOverdue
	}
	if c.DueAt.Before(ck.SoonLimit) {
		return DueSoon
	}
	return DueOnTime
}

// Escalated reports whether the case is overdue long enough to be
// escalated to the prefecture.
func (ck Clock) Escalated(c *Case) bool {
	return ck.escalate && c.DueAt != nil && c.Status != StatusClosed && c.DueAt.Before(ck.EscLimit)
}
