package casestore

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// caseCols are the columns read into Case, in scanCase's order.
const caseCols = `case_id, person_key, coalesce(id_number, ''), coalesce(id_status, ''), coalesce(name, ''),
	program_code, coalesce(program_name, ''), coalesce(department, ''),
	coalesce(region_code, ''), coalesce(county_code, ''), coalesce(township_code, ''), coalesce(prefecture_code, ''),
	coalesce(first_period, ''), coalesce(last_period, ''), coalesce(periods, 0),
	coalesce(severity, ''), coalesce(categories, []), coalesce(rule_ids, []),
	coalesce(hits, 0), coalesce(payments, 0), coalesce(amount, 0)::DOUBLE, coalesce(amount_per_month, 0)::DOUBLE,
	coalesce(sources, 0), coalesce(source_list, []), coalesce(link_probability, 1), coalesce(rule_precision, 0.5),
	coalesce(priority, 0), coalesce(prio_severity, 0), coalesce(prio_sources, 0), coalesce(prio_link, 0),
	coalesce(prio_money, 0), coalesce(prio_precision, 0),
	status, coalesce(assignee, ''), stage_started, due_at, coalesce(decision, ''),
	outcome_payment_stopped, outcome_to_recover::DOUBLE, outcome_recovered::DOUBLE, outcome_referred, outcome_note,
	coalesce(dismiss_reason, ''), coalesce(dismiss_text, ''),
	death_withdrawn, evidence_changed, reopened, suppressed_hits,
	coalesce(run_ids, []), created_at, updated_at, decided_at, closed_at, version`

type scanner interface{ Scan(dest ...any) error }

// interned low-cardinality strings, so that a million cases share them.
type interner struct {
	mu sync.Mutex
	m  map[string]string
}

func (in *interner) s(v string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if x, ok := in.m[v]; ok {
		return x
	}
	in.m[v] = v
	return v
}

func (in *interner) list(v any) []string {
	l, _ := v.([]any)
	if len(l) == 0 {
		return nil
	}
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, in.s(s))
		}
	}
	return out
}

var strs = &interner{m: map[string]string{}}

func scanCase(r scanner) (*Case, error) {
	c := &Case{}
	var cats, rules, srcs, runs any
	var due, decided, closed sql.NullTime
	var stopped, referred sql.NullBool
	var toRec, rec sql.NullFloat64
	var onote sql.NullString
	var p = &c.Priority
	err := r.Scan(&c.ID, &c.PersonKey, &c.IDNumber, &c.IDStatus, &c.Name,
		&c.ProgramCode, &c.ProgramName, &c.Department,
		&c.RegionCode, &c.CountyCode, &c.TownshipCode, &c.PrefectureCode,
		&c.FirstPeriod, &c.LastPeriod, &c.Periods,
		&c.Severity, &cats, &rules,
		&c.Hits, &c.Payments, &c.Amount, &c.AmountPerMonth,
		&c.Sources, &srcs, &c.LinkProbability, &c.RulePrecision,
		&p.Score, &p.Severity, &p.Sources, &p.Link, &p.Money, &p.Precision,
		&c.Status, &c.Assignee, &c.StageStarted, &due, &c.Decision,
		&stopped, &toRec, &rec, &referred, &onote,
		&c.DismissReason, &c.DismissText,
		&c.DeathWithdrawn, &c.EvidenceChanged, &c.Reopened, &c.SuppressedHits,
		&runs, &c.CreatedAt, &c.UpdatedAt, &decided, &closed, &c.Version)
	if err != nil {
		return nil, err
	}
	for _, sp := range []*string{&c.ProgramCode, &c.ProgramName, &c.Department, &c.CountyCode, &c.PrefectureCode,
		&c.FirstPeriod, &c.LastPeriod, &c.Severity, &c.Status, &c.Assignee, &c.IDStatus, &c.Decision, &c.DismissReason} {
		*sp = strs.s(*sp)
	}
	c.Categories, c.RuleIDs, c.SourceList, c.RunIDs = strs.list(cats), strs.list(rules), strs.list(srcs), strs.list(runs)
	if due.Valid {
		t := due.Time
		c.DueAt = &t
	}
	if decided.Valid {
		t := decided.Time
		c.DecidedAt = &t
	}
	if closed.Valid {
		t := closed.Time
		c.ClosedAt = &t
	}
	if c.Decision == StatusConfirmed {
		c.Outcome = &Outcome{PaymentStopped: stopped.Bool, ToRecover: toRec.Float64, Recovered: rec.Float64,
			Referred: referred.Bool, Note: onote.String}
	}
	return c, nil
}

// index is the in-memory queue index: every case without hits, sorted by
// department, region code and id so that a reviewer's scope is one range.
type index struct {
	mu    sync.RWMutex
	cases []*Case
	pos   map[string]int
	gen   uint64 // counts changes (replace, upsert), under mu
}

func newIndex() *index { return &index{pos: map[string]int{}} }

func less(a, b *Case) bool {
	if a.Department != b.Department {
		return a.Department < b.Department
	}
	if a.RegionCode != b.RegionCode {
		return a.RegionCode < b.RegionCode
	}
	return a.ID < b.ID
}

// replace swaps in a full set of cases.
func (ix *index) replace(cs []*Case) {
	sort.Slice(cs, func(i, j int) bool { return less(cs[i], cs[j]) })
	pos := make(map[string]int, len(cs))
	for i, c := range cs {
		pos[c.ID] = i
	}
	ix.mu.Lock()
	ix.cases, ix.pos = cs, pos
	ix.gen++
	ix.mu.Unlock()
}

// upsert puts updated or new cases into the index.
func (ix *index) upsert(cs []*Case) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.gen++
	var added bool
	for _, c := range cs {
		if i, ok := ix.pos[c.ID]; ok && ix.cases[i].Department == c.Department && ix.cases[i].RegionCode == c.RegionCode {
			ix.cases[i] = c
			continue
		} else if ok {
			ix.cases[i] = nil // moved: drop and re-add
		}
		ix.cases = append(ix.cases, c)
		added = true
	}
	if !added {
		return
	}
	out := ix.cases[:0]
	for _, c := range ix.cases {
		if c != nil {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return less(out[i], out[j]) })
	ix.cases = out
	ix.pos = make(map[string]int, len(out))
	for i, c := range out {
		ix.pos[c.ID] = i
	}
}

func (ix *index) get(id string) *Case {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if i, ok := ix.pos[id]; ok {
		return ix.cases[i]
	}
	return nil
}

func (ix *index) len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.cases)
}

// span returns the index range a scope covers.
func (ix *index) span(sc Scope) (int, int) {
	if sc.All || sc.Department == "" {
		return 0, len(ix.cases)
	}
	lo := sort.Search(len(ix.cases), func(i int) bool {
		c := ix.cases[i]
		return c.Department > sc.Department || (c.Department == sc.Department && c.RegionCode >= sc.RegionPrefix)
	})
	hi := sort.Search(len(ix.cases), func(i int) bool {
		c := ix.cases[i]
		return c.Department > sc.Department || (c.Department == sc.Department && c.RegionCode >= sc.RegionPrefix+"\xff")
	})
	return lo, hi
}

// each calls f for every case in scope, under the read lock.
func (ix *index) each(sc Scope, f func(c *Case)) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	lo, hi := ix.span(sc)
	if !sc.All && sc.Department != "" {
		// The span is exactly the scope: one department, region codes from
		// the prefix up to prefix+"\xff" (the cases are sorted by both),
		// and every string s with prefix <= s < prefix+"\xff" starts with
		// the prefix. So no case is checked again (which would read each
		// case's region code: a cache miss per case on a large index).
		for _, c := range ix.cases[lo:hi] {
			f(c)
		}
		return
	}
	for _, c := range ix.cases[lo:hi] {
		if sc.Allows(c) {
			f(c)
		}
	}
}

// Filter selects cases of the queue. Empty fields do not filter.
type Filter struct {
	Program  string `json:"program,omitempty"`
	Rule     string `json:"rule,omitempty"`
	County   string `json:"county,omitempty"` // county code, or any region code prefix
	Status   string `json:"status,omitempty"` // a status, "open" (not closed) or "" (all)
	Priority string `json:"priority,omitempty"`
	// Due: overdue, due_soon, on_time or escalated.
	Due      string `json:"due,omitempty"`
	Assignee string `json:"assignee,omitempty"`
	// Flag: death_withdrawn or evidence_changed.
	Flag string `json:"flag,omitempty"`
}

// Priority bands.
const (
	PriorityHigh   = "high"   // score ≥ 70
	PriorityMedium = "medium" // 40 ≤ score < 70
	PriorityLow    = "low"    // score < 40
)

// Band is the priority band of a score.
func Band(score float64) string {
	switch {
	case score >= 70:
		return PriorityHigh
	case score >= 40:
		return PriorityMedium
	}
	return PriorityLow
}

// Validate checks enumerated filter values.
func (f Filter) Validate() error {
	switch f.Status {
	case "", "open", StatusNew, StatusAssigned, StatusVerifying, StatusConfirmed, StatusDismissed, StatusClosed:
	default:
		return fmt.Errorf("%w: status %q", ErrInvalid, f.Status)
	}
	switch f.Priority {
	case "", PriorityHigh, PriorityMedium, PriorityLow:
	default:
		return fmt.Errorf("%w: priority %q (high, medium, low)", ErrInvalid, f.Priority)
	}
	switch f.Due {
	case "", DueOverdue, DueSoon, DueOnTime, "escalated":
	default:
		return fmt.Errorf("%w: due %q (overdue, due_soon, on_time, escalated)", ErrInvalid, f.Due)
	}
	switch f.Flag {
	case "", "death_withdrawn", "evidence_changed":
	default:
		return fmt.Errorf("%w: flag %q", ErrInvalid, f.Flag)
	}
	return nil
}

func (f Filter) match(c *Case, ck Clock) bool {
	if f.Program != "" && c.ProgramCode != f.Program {
		return false
	}
	if f.County != "" && !strings.HasPrefix(c.RegionCode, f.County) && c.CountyCode != f.County {
		return false
	}
	switch f.Status {
	case "":
	case "open":
		if c.Status == StatusClosed {
			return false
		}
	default:
		if c.Status != f.Status {
			return false
		}
	}
	if f.Rule != "" {
		found := false
		for _, r := range c.RuleIDs {
			if r == f.Rule {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if f.Priority != "" && Band(c.Priority.Score) != f.Priority {
		return false
	}
	if f.Assignee != "" && c.Assignee != f.Assignee {
		return false
	}
	switch f.Flag {
	case "death_withdrawn":
		if !c.DeathWithdrawn {
			return false
		}
	case "evidence_changed":
		if !c.EvidenceChanged {
			return false
		}
	}
	switch f.Due {
	case "":
	case "escalated":
		return ck.Escalated(c)
	default:
		return ck.DueState(c) == f.Due
	}
	return true
}

// Page is a page of the queue.
type Page struct {
	Total    int     `json:"total"`
	Page     int     `json:"page"`
	PageSize int     `json:"page_size"`
	Cases    []*Case `json:"cases"`
}

// queue order: priority desc, then earliest deadline, then id.
func before(a, b *Case) bool {
	ka, kb := keyOf(a), keyOf(b)
	return keyBefore(&ka, &kb)
}

var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func dueKey(c *Case) time.Time {
	if c.DueAt == nil {
		return farFuture
	}
	return *c.DueAt
}

// queueKey is a case's place in the queue order (see before), kept next to
// the case so that ordering the queue reads each case only once.
type queueKey struct {
	score   float64
	dueSec  int64 // deadline (farFuture if none), as Unix seconds and nanoseconds
	dueNsec int32
	c       *Case
}

func keyOf(c *Case) queueKey {
	d := dueKey(c)
	return queueKey{score: c.Priority.Score, dueSec: d.Unix(), dueNsec: int32(d.Nanosecond()), c: c}
}

// keyBefore orders two queue keys (the one definition of the queue order:
// before uses it too).
func keyBefore(a, b *queueKey) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	if a.dueSec != b.dueSec {
		return a.dueSec < b.dueSec
	}
	if a.dueNsec != b.dueNsec {
		return a.dueNsec < b.dueNsec
	}
	return a.c.ID < b.c.ID
}

// keyHeap is a worst-first heap of the best cases seen: h[0] is the one
// that comes last in the queue.
type keyHeap []queueKey

func (h keyHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !keyBefore(&h[i], &h[j]) { // parent is not better: in place
			break
		}
		h[i], h[j] = h[j], h[i]
		j = i
	}
}

func (h keyHeap) down(i int) {
	n := len(h)
	for {
		j := 2*i + 1
		if j >= n {
			return
		}
		if j2 := j + 1; j2 < n && keyBefore(&h[j], &h[j2]) {
			j = j2 // the worse child
		}
		if !keyBefore(&h[i], &h[j]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

// MaxPageSize bounds a queue page.
const MaxPageSize = 500

// MaxPage is the highest page number Queue accepts (page × MaxPageSize
// stays far from overflowing an int).
const MaxPage = 1_000_000

// Queue returns one page of the cases in scope that match the filter, in
// priority order. page counts from 1.
func (s *Store) Queue(sc Scope, f Filter, page, size int) (*Page, error) {
	p, _, err := s.queue(sc, f, page, size, nil)
	return p, err
}

// QueueFacets is Queue and Facets(sc) together, in one pass over the scope.
func (s *Store) QueueFacets(sc Scope, f Filter, page, size int) (*Page, Facets, error) {
	fa := newFacetAcc()
	p, _, err := s.queue(sc, f, page, size, fa)
	if err != nil {
		return nil, Facets{}, err
	}
	return p, fa.result(), nil
}

// queue is Queue, also adding every case in scope to fa if not nil.
func (s *Store) queue(sc Scope, f Filter, page, size int, fa *facetAcc) (*Page, *facetAcc, error) {
	if err := f.Validate(); err != nil {
		return nil, nil, err
	}
	if size <= 0 {
		size = 50
	}
	if size > MaxPageSize {
		size = MaxPageSize
	}
	if page <= 0 {
		page = 1
	}
	if page > MaxPage {
		return nil, nil, fmt.Errorf("%w: page %d is beyond %d", ErrInvalid, page, MaxPage)
	}
	ck := s.Clock()
	keep := page * size
	h := make(keyHeap, 0, min(keep, 1024))
	total := 0
	s.idx.each(sc, func(c *Case) {
		if fa != nil {
			fa.add(c)
		}
		if !f.match(c, ck) {
			return
		}
		total++
		if len(h) < keep {
			h = append(h, keyOf(c))
			h.up(len(h) - 1)
			return
		}
		if c.Priority.Score < h[0].score { // cannot beat the worst kept
			return
		}
		if k := keyOf(c); keyBefore(&k, &h[0]) {
			h[0] = k
			h.down(0)
		}
	})
	from := (page - 1) * size
	if from >= len(h) {
		return &Page{Total: total, Page: page, PageSize: size, Cases: []*Case{}}, fa, nil
	}
	// The heap holds the best page*size cases; the page is its worst
	// len(h)-from, which come off the top worst first.
	sorted := make([]*Case, len(h)-from)
	for i := len(sorted) - 1; i >= 0; i-- {
		sorted[i] = h[0].c
		n := len(h) - 1
		h[0] = h[n]
		h = h[:n]
		h.down(0)
	}
	return &Page{Total: total, Page: page, PageSize: size, Cases: sorted}, fa, nil
}

// Select returns every case in scope that matches the filter, in priority
// order, up to limit (0: no limit).
func (s *Store) Select(sc Scope, f Filter, limit int) ([]*Case, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	ck := s.Clock()
	var out []*Case
	s.idx.each(sc, func(c *Case) {
		if f.match(c, ck) {
			out = append(out, c)
		}
	})
	sort.Slice(out, func(i, j int) bool { return before(out[i], out[j]) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Get returns a case if the scope covers it, else ErrNotFound.
func (s *Store) Get(sc Scope, id string) (*Case, error) {
	c := s.idx.get(id)
	if c == nil || !sc.Allows(c) {
		return nil, ErrNotFound
	}
	return c, nil
}

// IndexVersion changes whenever a case of the queue index changes (import,
// reload, any action). Results derived from the index, such as Facets, can
// be cached under it: a value computed after reading version v is at
// least as new as v.
func (s *Store) IndexVersion() uint64 {
	s.idx.mu.RLock()
	defer s.idx.mu.RUnlock()
	return s.idx.gen
}

// Count returns the number of cases in the store.
func (s *Store) Count() int { return s.idx.len() }

// Facets are the distinct values of filterable fields within a scope.
type Facets struct {
	Programs map[string]string `json:"programs"` // code → name
	Rules    []string          `json:"rules"`
	Counties []string          `json:"counties"`
}

// Facets returns the programs, rules and counties of the cases in scope.
func (s *Store) Facets(sc Scope) Facets {
	fa := newFacetAcc()
	s.idx.each(sc, fa.add)
	return fa.result()
}

// facetAcc collects Facets case by case. Neighbouring cases mostly share
// their county and rules (and the strings are interned), so a value equal
// to the previous case's is not looked up again.
type facetAcc struct {
	programs           map[string]string
	rules, counties    map[string]bool
	lastCode, lastName string
	lastRule           string
	lastCounty         string
	any                bool
}

func newFacetAcc() *facetAcc {
	return &facetAcc{programs: map[string]string{}, rules: map[string]bool{}, counties: map[string]bool{}}
}

func (a *facetAcc) add(c *Case) {
	first := !a.any
	a.any = true
	// The last name written for a code wins, as the cases come.
	if first || c.ProgramCode != a.lastCode || c.ProgramName != a.lastName {
		a.programs[c.ProgramCode] = c.ProgramName
		a.lastCode, a.lastName = c.ProgramCode, c.ProgramName
	}
	for _, r := range c.RuleIDs {
		if first || r != a.lastRule {
			a.rules[r] = true
			a.lastRule = r
		}
	}
	if first || c.CountyCode != a.lastCounty {
		a.counties[c.CountyCode] = true
		a.lastCounty = c.CountyCode
	}
}

func (a *facetAcc) result() Facets {
	f := Facets{Programs: a.programs}
	for r := range a.rules {
		f.Rules = append(f.Rules, r)
	}
	for c := range a.counties {
		f.Counties = append(f.Counties, c)
	}
	sort.Strings(f.Rules)
	sort.Strings(f.Counties)
	return f
}

func (s *Store) reloadIndex(ctx context.Context) error {
	s.detailCache.drop("")
	rows, err := s.db.QueryContext(ctx, `SELECT `+caseCols+` FROM cases`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var cs []*Case
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return err
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s.idx.replace(cs)
	return nil
}

// loadCases reads the given cases from the database (within tx when not nil).
func loadCases(ctx context.Context, q querier, ids []string) ([]*Case, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var rows *sql.Rows
	var err error
	if len(ids) == 1 {
		rows, err = q.QueryContext(ctx, `SELECT `+caseCols+` FROM cases WHERE case_id = ?`, ids[0])
	} else {
		rows, err = q.QueryContext(ctx, `SELECT `+caseCols+` FROM cases WHERE case_id IN (SELECT unnest(`+strList(ids)+`))`)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Case
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// strList renders ids as a DuckDB list literal argument.
func strList(ids []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(lit(id))
	}
	b.WriteByte(']')
	return b.String()
}
