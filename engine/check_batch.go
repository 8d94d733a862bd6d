package engine

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
	"github.com/crosscheck/crosscheck/rules"
)

// Micro-batching of Checks. A Check costs a fixed ~150–300 ms of DuckDB
// work (loading the synthetic payment, copying the applicant's reference
// rows, planning each applicable rule) that hardly grows with the number
// of payments screened. Checks that arrive while workers are busy are
// therefore screened together: one multi-row roll, one copy of the
// reference rows of all their persons, one statement per rule; the hits
// are split back by payment.
//
// A batch holds only applicants whose persons are disjoint (the
// applicant, the members of the applicant's registered households and the
// spouses: the rows Check reads, see subsetViews), so that no rule joining
// payments to payments (a household, a spouse, the same person) can pair
// two applicants. An applicant whose ID resolves to no person is checked
// alone. As a last guard, a hit whose evidence names another applicant's
// payment sends its applicant to a check of its own.

// maxCheckBatch bounds the applicants screened together.
const maxCheckBatch = 64

// checkLinger is how long a worker holding a single check waits for more.
const checkLinger = 3 * time.Millisecond

type checkReq struct {
	a    Applicant
	ctx  context.Context
	solo bool // check alone (after a batch showed a cross-applicant hit)
	done chan checkAns
}

type checkAns struct {
	res *CheckResult
	err error
}

// checkQueue is the Screener's queue of Checks and its workers.
type checkQueue struct {
	once sync.Once
	reqs chan *checkReq
	quit chan struct{}
	// stopped is closed once the workers have stopped and the checks
	// still queued were answered
	stopped chan struct{}
	wg      sync.WaitGroup
	stop    sync.Once
	// checks answered by the workers and the batches that answered them
	checks, batches atomic.Int64
}

// BatchStats are the Checks answered so far and the batches that
// screened them: checks/batches is the mean batch.
func (s *Screener) BatchStats() (checks, batches int64) {
	return s.queue.checks.Load(), s.queue.batches.Load()
}

// checkWorkers is how many batches are screened at once: one DuckDB
// thread each, one per core.
func checkWorkers() int { return max(1, runtime.GOMAXPROCS(0)) }

// enqueue hands a Check to the workers and waits for its answer.
func (s *Screener) enqueue(ctx context.Context, a Applicant) (*CheckResult, error) {
	q := &s.queue
	q.once.Do(func() {
		q.reqs = make(chan *checkReq, 4*maxCheckBatch)
		q.quit = make(chan struct{})
		q.stopped = make(chan struct{})
		for i := 0; i < checkWorkers(); i++ {
			q.wg.Add(1)
			go s.checkWorker()
		}
	})
	r := &checkReq{a: a, ctx: ctx, done: make(chan checkAns, 1)}
	select {
	case q.reqs <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-q.quit:
		return nil, errClosed
	}
	select {
	case ans := <-r.done:
		return ans.res, ans.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-q.stopped:
		select {
		case ans := <-r.done:
			return ans.res, ans.err
		default:
			return nil, errClosed
		}
	}
}

var errClosed = errors.New("check: the screener is closed")

// stopQueue stops the workers once their batches are done and answers
// the checks still queued (Close).
func (s *Screener) stopQueue() {
	q := &s.queue
	q.once.Do(func() {})
	if q.quit == nil {
		return
	}
	q.stop.Do(func() {
		close(q.quit)
		q.wg.Wait()
		for {
			select {
			case r := <-q.reqs:
				r.done <- checkAns{err: errClosed}
			default:
				close(q.stopped)
				return
			}
		}
	})
}

// checkWorker takes the Checks waiting (up to maxCheckBatch) and screens
// them as one batch; those the batch leaves out go first into the next.
func (s *Screener) checkWorker() {
	q := &s.queue
	defer q.wg.Done()
	var carry []*checkReq
	for {
		var batch []*checkReq
		if len(carry) > 0 {
			batch, carry = carry, nil
		} else {
			select {
			case r := <-q.reqs:
				batch = append(batch, r)
			case <-q.quit:
				return
			}
		}
		// A check arriving alone waits a moment for those arriving with it
		// (the callers a batch just answered send their next checks a few
		// microseconds apart): a batch costs about as much for one check as
		// for many.
		linger := time.NewTimer(checkLinger)
	drain:
		for len(batch) < maxCheckBatch {
			select {
			case r := <-q.reqs:
				batch = append(batch, r)
			default:
				if len(batch) > 1 {
					break drain
				}
				select {
				case r := <-q.reqs:
					batch = append(batch, r)
				case <-linger.C:
					break drain
				}
			}
		}
		linger.Stop()
		// a request whose caller left is not screened
		live := batch[:0]
		for _, r := range batch {
			if r.ctx.Err() != nil {
				r.done <- checkAns{err: r.ctx.Err()}
				continue
			}
			live = append(live, r)
		}
		if len(live) == 0 {
			continue
		}
		// a solo request is screened alone; the others wait for the next batch
		if i := soloIndex(live); i >= 0 {
			carry = append(carry, live[:i]...)
			carry = append(carry, live[i+1:]...)
			live = live[i : i+1]
		}
		carry = append(carry, s.runBatch(live)...)
	}
}

func soloIndex(rs []*checkReq) int {
	for i, r := range rs {
		if r.solo {
			return i
		}
	}
	return -1
}

// runBatch screens rs in one pooled session and answers them; it returns
// the requests left for a later batch.
func (s *Screener) runBatch(rs []*checkReq) []*checkReq {
	// the batch runs while any of its callers waits
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waiting atomic.Int64
	waiting.Store(int64(len(rs)))
	for _, r := range rs {
		stop := context.AfterFunc(r.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	apps := make([]Applicant, len(rs))
	for i, r := range rs {
		apps[i] = r.a
	}
	ans, later, err := s.checkBatch(ctx, apps, true)
	if err != nil {
		for _, r := range rs {
			r.done <- checkAns{err: err}
		}
		return nil
	}
	var carry []*checkReq
	s.queue.batches.Add(1)
	for i, r := range rs {
		switch later[i] {
		case laterNext:
			carry = append(carry, r)
		case laterSolo:
			r.solo = true
			carry = append(carry, r)
		default:
			s.queue.checks.Add(1)
			r.done <- ans[i]
		}
	}
	return carry
}

const (
	laterNone = iota
	laterNext // persons shared with an applicant of the batch
	laterSolo // a hit named another applicant's payment
)

// checkBatch screens applicants together (see the top of this file). It
// answers each applicant (ans) or defers it (later); err is an error of
// the whole batch.
func (s *Screener) checkBatch(ctx context.Context, apps []Applicant, subset bool) (ans []checkAns, later []int, err error) {
	tr := newStepTrace()
	tr.attrs = append(tr.attrs, slog.Int("applicants", len(apps)))
	defer tr.log(s.log, "check steps")
	ans, later = make([]checkAns, len(apps)), make([]int, len(apps))
	sess, cat, err := s.checkSession(ctx)
	if err != nil {
		return nil, nil, err
	}
	tr.step("session")
	ok := false
	defer func() {
		if ok {
			s.release(sess)
		} else {
			sess.Close()
		}
	}()
	// The synthetic payments go through the payment mapping like a roll's
	// rows: a CSV of canonical column names, applicant i on data row i+1
	// (file row i+2).
	cols := []string{"payment_id", "program_code", "period", "id_number", "name", "amount"}
	var b strings.Builder
	cw := csv.NewWriter(&b)
	cw.Write(cols)
	res := make([]*CheckResult, len(apps))
	rowOf := map[int64]int{}
	for i, a := range apps {
		prog, found := cat.Lookup(a.Program)
		if !found {
			ans[i].err = fmt.Errorf("%w: %q", ErrUnknownProgram, a.Program)
			continue
		}
		res[i] = &CheckResult{}
		if prog.StandardAmount != nil {
			res[i].Amount = *prog.StandardAmount
		}
		// every applicant's row is written (a rejected one keeps the row
		// numbers of the others)
		cw.Write([]string{"check", a.Program, a.Period, a.IDNumber, a.Name, fmt.Sprint(res[i].Amount)})
		rowOf[int64(i+2)] = i
	}
	cw.Flush()
	if len(rowOf) == 0 {
		ok = true
		return ans, later, nil
	}
	dir, err := os.MkdirTemp(s.tmp, "check-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "applicant.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return nil, nil, err
	}
	src := job.Source{Name: "check", Role: "payment", Title: "申请核验", Connector: "csv", Path: path, Columns: map[string]job.Mapping{}}
	for _, c := range cols {
		src.Columns[c] = job.Mapping{Column: c}
	}
	pay, _ := dataset.Lookup("payment")
	conn, err := s.reg.Build("csv", src.Name, path, nil)
	if err != nil {
		return nil, nil, err
	}
	// Confirmation and repair of an ID read the whole registry; an ID that
	// is valid as sent needs neither (CheckWhole's rules read the whole
	// tables too).
	fixIDs := !subset
	for _, a := range apps {
		fixIDs = fixIDs || !idnumber.Valid(a.IDNumber)
	}
	if fixIDs {
		if err := s.fullViews(ctx, sess); err != nil {
			return nil, nil, err
		}
	}
	tr.step("full_views")
	if err := sess.Exec(ctx, "DELETE FROM payment"); err != nil {
		return nil, nil, err
	}
	if err := s.loadPaymentRows(ctx, sess, []planned{{src: src, role: pay, conn: conn}}, nil, filepath.Join(dir, "q"), true, &Result{}, "", "", fixIDs); err != nil {
		return nil, nil, err
	}
	tr.step("load_payment")
	rows, err := sess.DB.QueryContext(ctx, "SELECT _row, _rid, person_key, id_number_status FROM payment ORDER BY _row")
	if err != nil {
		return nil, nil, err
	}
	ridOf := map[int64]int{} // payment _rid → applicant
	accepted := make([]bool, len(apps))
	for rows.Next() {
		var row, rid int64
		var pk, status sql.NullString
		if err := rows.Scan(&row, &rid, &pk, &status); err != nil {
			rows.Close()
			return nil, nil, err
		}
		i, found := rowOf[row]
		if !found || accepted[i] {
			rows.Close()
			return nil, nil, fmt.Errorf("check: payment row %d of the batch is no applicant's", row)
		}
		if !fixIDs && (status.String == "invalid" || status.String == "excel_damaged") {
			rows.Close()
			return nil, nil, fmt.Errorf("check: ID %s of payment row %d was taken as valid but loaded as %s", idnumber.Mask(apps[i].IDNumber), row, status.String)
		}
		accepted[i] = true
		ridOf[rid] = i
		res[i].PersonKey, res[i].IDStatus = pk.String, status.String
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for row, i := range rowOf {
		if !accepted[i] {
			ans[i].err = fmt.Errorf("check: the applicant's data were not accepted (an ID number, a program code, the period as YYYY-MM)")
			res[i] = nil
			delete(rowOf, row)
		}
	}
	// the persons each applicant's check reads; the batch takes applicants
	// whose persons are disjoint
	groups, err := s.personGroups(ctx, sess, res)
	if err != nil {
		return nil, nil, err
	}
	if len(rowOf) == 0 {
		ok = true
		return ans, later, nil
	}
	taken := map[string]bool{}
	var keys, drop []string
	order := sortedApplicants(rowOf)
	alone := len(groups[order[0]]) == 0 // without a person: checked alone
	for n, i := range order {
		g := groups[i]
		clash := n > 0 && (alone || len(g) == 0)
		for _, k := range g {
			clash = clash || taken[k]
		}
		if clash {
			later[i] = laterNext
			continue
		}
		for _, k := range g {
			taken[k] = true
			keys = append(keys, k)
		}
	}
	for rid, i := range ridOf {
		if later[i] != laterNone {
			drop = append(drop, fmt.Sprint(rid))
			delete(ridOf, rid)
		}
	}
	if len(drop) > 0 {
		if err := sess.Exec(ctx, "DELETE FROM payment WHERE _rid IN ("+strings.Join(drop, ", ")+")"); err != nil {
			return nil, nil, err
		}
	}
	tr.step("person_groups")
	comp, err := s.applicable(ctx, sess)
	if err != nil {
		return nil, nil, err
	}
	tr.step("applicable")
	// Known reads the registry's rows of the applicants: in a subset check
	// the copy subsetKeys made of them, when it made one.
	registry := "refstore.main.person"
	if subset {
		if err := s.subsetKeys(ctx, sess, keys, comp); err != nil {
			return nil, nil, err
		}
		if _, ok := s.keyed["person"]; ok && readsTable(comp, "person") {
			registry = "temp." + Ident("_subset_person")
		}
	}
	tr.step("subset_views")
	if err := s.known(ctx, sess, registry, res, later); err != nil {
		return nil, nil, err
	}
	tr.step("known")
	// One statement per rule into rule_hits (the batch's per-rule limits
	// would cost four): the callers' contexts bound a check.
	if err := rules.RunSet(ctx, sess.DB, comp, "rule_hits", tr.ruleLog()); err != nil {
		return nil, nil, err
	}
	tr.step("rules")
	if err := s.splitHits(ctx, sess, apps, res, ridOf, later); err != nil {
		return nil, nil, err
	}
	for i := range apps {
		if res[i] != nil && later[i] == laterNone {
			ans[i].res = res[i]
		}
	}
	tr.step("hits")
	ok = true
	return ans, later, nil
}

func sortedApplicants(rowOf map[int64]int) []int {
	out := make([]int, 0, len(rowOf))
	for _, i := range rowOf {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// personGroups are, per applicant with a person key, the persons its
// check reads: the applicant, the members of its registered households,
// its spouses (as in subsetViews).
func (s *Screener) personGroups(ctx context.Context, sess *Session, res []*CheckResult) (map[int][]string, error) {
	groups := map[int][]string{}
	var lits []string
	byKey := map[string][]int{}
	for i, r := range res {
		if r == nil || r.PersonKey == "" {
			continue
		}
		groups[i] = []string{r.PersonKey}
		if len(byKey[r.PersonKey]) == 0 {
			lits = append(lits, Lit(r.PersonKey))
		}
		byKey[r.PersonKey] = append(byKey[r.PersonKey], i)
	}
	if len(lits) == 0 {
		return groups, nil
	}
	in := "(" + strings.Join(lits, ", ") + ")"
	var parts []string
	if _, ok := s.keyed["person"]; ok {
		parts = append(parts, fmt.Sprintf(`SELECT a.person_key AS k, b.person_key AS m FROM refstore.main.person a JOIN refstore.main.person b USING (household_id)
			WHERE a.person_key IN %s AND a.household_id IS NOT NULL AND b.person_key IS NOT NULL`, in))
	}
	if _, ok := s.keyed["marriage"]; ok {
		parts = append(parts, fmt.Sprintf(`SELECT person_key, spouse_id_number FROM refstore.main.marriage WHERE person_key IN %[1]s AND spouse_id_number IS NOT NULL
			UNION SELECT spouse_id_number, person_key FROM refstore.main.marriage WHERE spouse_id_number IN %[1]s AND person_key IS NOT NULL`, in))
	}
	if len(parts) == 0 {
		return groups, nil
	}
	rows, err := sess.DB.QueryContext(ctx, "SELECT DISTINCT * FROM ("+strings.Join(parts, " UNION ")+")")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k, m string
		if err := rows.Scan(&k, &m); err != nil {
			return nil, err
		}
		if m == k {
			continue
		}
		for _, i := range byKey[k] {
			groups[i] = append(groups[i], m)
		}
	}
	return groups, rows.Err()
}

// known sets Known of the batch's applicants: their person is in the
// registry (registry: the person table or a copy of its rows of the
// batch's persons).
func (s *Screener) known(ctx context.Context, sess *Session, registry string, res []*CheckResult, later []int) error {
	var lits []string
	for i, r := range res {
		if r != nil && r.PersonKey != "" && later[i] == laterNone {
			lits = append(lits, Lit(r.PersonKey))
		}
	}
	if len(lits) == 0 {
		return nil
	}
	rows, err := sess.DB.QueryContext(ctx, "SELECT DISTINCT person_key FROM "+registry+" WHERE person_key IN ("+strings.Join(lits, ", ")+")")
	if err != nil {
		return err
	}
	defer rows.Close()
	in := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return err
		}
		in[k] = true
	}
	for i, r := range res {
		if r != nil && later[i] == laterNone {
			r.Known = in[r.PersonKey]
		}
	}
	return rows.Err()
}

// checkPayment finds the check source's payment objects in a hit's
// evidence (the ev macro: source, title, file, row, …).
var checkPayment = regexp.MustCompile(`("source":"check",[^{}]*?"row":)([0-9]+)`)

// splitHits reads rule_hits and gives each applicant the hits of its
// payment. The evidence names the applicant's payment by its row in the
// batch's file: it is written as row 2, the row of a check alone. A hit
// naming another applicant's payment marks its applicant laterSolo.
func (s *Screener) splitHits(ctx context.Context, sess *Session, apps []Applicant, res []*CheckResult, ridOf map[int64]int, later []int) error {
	rows, err := sess.DB.QueryContext(ctx, `SELECT _rid, rule_id, category, severity, coalesce(explanation, ''), coalesce(evidence, '[]') FROM rule_hits
		ORDER BY CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, rule_id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	pers := personalColumns(s.j)
	for rows.Next() {
		var h CheckHit
		var rid int64
		var ev string
		if err := rows.Scan(&rid, &h.RuleID, &h.Category, &h.Severity, &h.Explanation, &ev); err != nil {
			return err
		}
		i, found := ridOf[rid]
		if !found {
			return fmt.Errorf("check: rule %s hit payment %d, no applicant's", h.RuleID, rid)
		}
		own := strconv.Itoa(i + 2)
		ev = checkPayment.ReplaceAllStringFunc(ev, func(m string) string {
			sub := checkPayment.FindStringSubmatch(m)
			if sub[2] != own {
				later[i] = laterSolo
			}
			return sub[1] + "2"
		})
		if c, ok := s.byID[h.RuleID]; ok {
			h.Title = c.Title
			if c.Rule != nil {
				h.TitleEN = c.Rule.TitleEn
			}
		}
		if !apps[i].RawEvidence {
			ev = dataset.MaskEvidence(ev, pers, s.j.Output.MaskNames)
			h.Explanation = idnumber.MaskDigitRuns(h.Explanation)
		}
		if !json.Valid([]byte(ev)) {
			b, _ := json.Marshal(ev)
			ev = string(b)
		}
		h.Evidence = json.RawMessage(ev)
		res[i].Hits = append(res[i].Hits, h)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range res {
		if r != nil {
			sort.SliceStable(r.Hits, func(a, b int) bool { return sevRank(r.Hits[a].Severity) > sevRank(r.Hits[b].Severity) })
		}
	}
	return nil
}
