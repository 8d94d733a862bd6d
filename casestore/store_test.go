package casestore_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/casestore/casetest"
)

// A Wednesday, 10:00 in Beijing.
var t0 = time.Date(2024, 6, 5, 2, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func open(t *testing.T, path string, ck *clock) *casestore.Store {
	t.Helper()
	s, err := casestore.Open(context.Background(), path, casestore.Options{Now: ck.now, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func write(t *testing.T, dir, name string, hits []casetest.Hit) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := casetest.WriteHits(context.Background(), p, hits); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	zhang = "410102194003051237"
	li    = "410102195001012343"
	wang  = "41010219701101345X"
	jin   = "410105001002" // 金水区, township 410105001
	zhong = "410102003004"
)

var (
	reviewer = casestore.Actor{User: "mz_zhongyuan", Role: casestore.RoleReviewer, Scope: casestore.Scope{Department: "民政局", RegionPrefix: "410102"}}
	admin    = casestore.Actor{User: "admin", Role: casestore.RoleAdmin, Scope: casestore.Scope{All: true}}
	ctx      = context.Background()
)

func mustImport(t *testing.T, s *casestore.Store, path string) *casestore.ImportResult {
	t.Helper()
	r, err := s.Import(ctx, path, casestore.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func onlyCase(t *testing.T, s *casestore.Store, f casestore.Filter) *casestore.Case {
	t.Helper()
	pg, err := s.Queue(casestore.Scope{All: true}, f, 1, 50)
	if err != nil {
		t.Fatal(err)
	}
	if pg.Total != 1 {
		t.Fatalf("want 1 case for %+v, got %d", f, pg.Total)
	}
	return pg.Cases[0]
}

func act(t *testing.T, s *casestore.Store, a casestore.Actor, id string, x casestore.Action) *casestore.Case {
	t.Helper()
	c, err := s.Act(ctx, a, id, x)
	if err != nil {
		t.Fatalf("%s: %v", x.Kind, err)
	}
	return c
}

func TestImportBuildsRoutedPrioritisedCases(t *testing.T) {
	dir := t.TempDir()
	ck := &clock{t: t0}
	s := open(t, filepath.Join(dir, "cases.duckdb"), ck)
	h1 := casetest.Death("run1", "2024-05", zhang, "张三", "gaoling", "高龄津贴", "民政局", zhong, 200, 2, "2023-03-05")
	h1.Severity = "high"
	h2 := casetest.Age("run1", "2024-05", li, "李四", "gaoling", "高龄津贴", "民政局", jin, 200, 3, "1950-01-01")
	h3 := casetest.Death("run1", "2024-05", zhang, "张三", "canji", "残疾人两项补贴", "残联", zhong, 100, 4, "2023-03-05")
	r := mustImport(t, s, write(t, dir, "h1.parquet", []casetest.Hit{h1, h2, h3}))
	if r.RunID != "run1" || r.Hits != 3 || r.NewCases != 3 || r.MergedCases != 0 {
		t.Fatalf("import: %+v", r)
	}
	c := onlyCase(t, s, casestore.Filter{Program: "gaoling", Rule: "deceased_after_death"})
	if c.Department != "民政局" || c.CountyCode != "410102" || c.TownshipCode != "410102003" || c.PrefectureCode != "410100" {
		t.Errorf("routing: %+v", c)
	}
	if c.Status != casestore.StatusNew || c.DueAt == nil {
		t.Errorf("status %s due %v", c.Status, c.DueAt)
	}
	// Wednesday + 2 working days (triage) → due at the end of Friday, Beijing time.
	if want := time.Date(2024, 6, 8, 0, 0, 0, 0, time.FixedZone("", 8*3600)); !c.DueAt.Equal(want) {
		t.Errorf("due %v, want %v", c.DueAt, want)
	}
	// high severity 30 + 1 source 20/3 + link 10 + money log(201)/log(1001)*20 + precision 0.5*20
	if c.Sources != 1 || c.LinkProbability != 1 || c.RulePrecision != 0.5 {
		t.Errorf("parts: sources %d link %v precision %v", c.Sources, c.LinkProbability, c.RulePrecision)
	}
	p := c.Priority
	if p.Severity != 30 || p.Link != 10 || p.Precision != 10 || p.Sources < 6.66 || p.Sources > 6.67 || p.Money < 15 || p.Money > 16 {
		t.Errorf("priority parts %+v", p)
	}
	if sum := p.Severity + p.Sources + p.Link + p.Money + p.Precision; sum < p.Score-0.06 || sum > p.Score+0.06 {
		t.Errorf("score %v is not the sum of its parts %v", p.Score, sum)
	}
	// The engine's case id for the same person, program and period.
	if c.ID == "" || len(c.ID) != 16 {
		t.Errorf("case id %q", c.ID)
	}
	// Scope: the reviewer of 民政局 in 410102 sees only the gaoling case of 中原区.
	pg, _ := s.Queue(reviewer.Scope, casestore.Filter{}, 1, 50)
	if pg.Total != 1 || pg.Cases[0].ID != c.ID {
		t.Errorf("reviewer queue: %d", pg.Total)
	}
	other := onlyCase(t, s, casestore.Filter{Program: "canji"})
	if _, err := s.Get(reviewer.Scope, other.ID); !errors.Is(err, casestore.ErrNotFound) {
		t.Errorf("other department's case: %v", err)
	}
	if _, err := s.Act(ctx, reviewer, other.ID, casestore.Action{Kind: casestore.ActNote, Text: "x"}); !errors.Is(err, casestore.ErrNotFound) {
		t.Errorf("act on other department's case: %v", err)
	}
	d, err := s.Detail(ctx, reviewer.Scope, c.ID)
	if err != nil || len(d.HitList) != 1 || len(d.Events) != 1 || d.Events[0].Action != "created" {
		t.Fatalf("detail: %v %+v", err, d)
	}
	if _, err := s.Import(ctx, write(t, dir, "again.parquet", []casetest.Hit{h1}), casestore.ImportOptions{}); !errors.Is(err, casestore.ErrAlreadyImported) {
		t.Errorf("reimport: %v", err)
	}
}

func TestOpenCaseGainsNextMonthsPayments(t *testing.T) {
	dir := t.TempDir()
	ck := &clock{t: t0}
	s := open(t, filepath.Join(dir, "cases.duckdb"), ck)
	mustImport(t, s, write(t, dir, "may.parquet", []casetest.Hit{
		casetest.Death("run-may", "2024-05", zhang, "张三", "gaoling", "高龄津贴", "民政局", zhong, 200, 2, "2023-03-05")}))
	c := onlyCase(t, s, casestore.Filter{})
	act(t, s, reviewer, c.ID, casestore.Action{Kind: casestore.ActAssign, Assignee: "mz_zhongyuan", Version: c.Version})
	ck.add(30 * 24 * time.Hour)
	r := mustImport(t, s, write(t, dir, "jun.parquet", []casetest.Hit{
		casetest.Death("run-jun", "2024-06", zhang, "张三", "gaoling", "高龄津贴", "民政局", zhong, 200, 2, "2023-03-05")}))
	if r.NewCases != 0 || r.MergedCases != 1 {
		t.Fatalf("june import: %+v", r)
	}
	c2 := onlyCase(t, s, casestore.Filter{})
	if c2.ID != c.ID || c2.Periods != 2 || c2.Payments != 2 || c2.Amount != 400 || c2.AmountPerMonth != 200 ||
		c2.FirstPeriod != "2024-05" || c2.LastPeriod != "2024-06" || len(c2.RunIDs) != 2 {
		t.Errorf("merged case: %+v", c2)
	}
	if c2.Status != casestore.StatusAssigned || c2.EvidenceChanged {
		t.Errorf("status %s evidence changed %v", c2.Status, c2.EvidenceChanged)
	}
}

func TestDismissedCaseSuppressedUntilEvidenceChanges(t *testing.T) {
	dir := t.TempDir()
	ck := &clock{t: t0}
	s := open(t, filepath.Join(dir, "cases.duckdb"), ck)
	mustImport(t, s, write(t, dir, "may.parquet", []casetest.Hit{
		casetest.Age("r1", "2024-05", li, "李四", "gaoling", "高龄津贴", "民政局", zhong, 200, 3, "1950-01-01")}))
	c := onlyCase(t, s, casestore.Filter{})
	c = act(t, s, reviewer, c.ID, casestore.Action{Kind: casestore.ActAssign, Assignee: "mz_zhongyuan", Version: c.Version})
	if _, err := s.Act(ctx, reviewer, c.ID, casestore.Action{Kind: casestore.ActDismiss, Reason: "other", Version: c.Version}); !errors.Is(err, casestore.ErrInvalid) {
		t.Errorf("other without text: %v", err)
	}
	c = act(t, s, reviewer, c.ID, casestore.Action{Kind: casestore.ActDismiss, Reason: casestore.ReasonSourceDataError, Text: "户籍出生日期登记错误", Version: c.Version})
	c = act(t, s, reviewer, c.ID, casestore.Action{Kind: casestore.ActClose, Version: c.Version})

	// Same evidence next month: not raised again.
	r := mustImport(t, s, write(t, dir, "jun.parquet", []casetest.Hit{
		casetest.Age("r2", "2024-06", li, "李四", "gaoling", "高龄津贴", "民政局", zhong, 200, 3, "1950-01-01")}))
	if r.NewCases != 0 || r.SuppressedHits != 1 || r.ReopenedCases != 0 {
		t.Fatalf("june: %+v", r)
	}
	c2 := onlyCase(t, s, casestore.Filter{})
	if c2.Status != casestore.StatusClosed || c2.SuppressedHits != 1 || c2.Hits != 2 {
		t.Errorf("suppressed: %+v", c2)
	}
	// The registry row changes (another birth date): reopened.
	r = mustImport(t, s, write(t, dir, "jul.parquet", []casetest.Hit{
		casetest.Age("r3", "2024-07", li, "李四", "gaoling", "高龄津贴", "民政局", zhong, 200, 3, "1951-01-01")}))
	if r.NewCases != 0 || r.ReopenedCases != 1 {
		t.Fatalf("july: %+v", r)
	}
	c3 := onlyCase(t, s, casestore.Filter{})
	if c3.Status != casestore.StatusAssigned || !c3.EvidenceChanged || c3.Reopened != 1 || c3.Decision != "" {
		t.Errorf("reopened: %+v", c3)
	}
}

func TestDeathWithdrawnReopensConfirmedCase(t *testing.T) {
	dir := t.TempDir()
	ck := &clock{t: t0}
	s := open(t, filepath.Join(dir, "cases.duckdb"), ck)
	mustImport(t, s, write(t, dir, "may.parquet", []casetest.Hit{
		casetest.Death("r1", "2024-05", zhang, "张三", "gaoling", "高龄津贴", "民政局", zhong, 200, 2, "2023-03-05"),
		casetest.Age("r1", "2024-05", li, "李四", "gaoling", "高龄津贴", "民政局", zhong, 200, 3, "1950-01-01")}))
	c := onlyCase(t, s, casestore.Filter{Rule: "deceased_after_death"})
	c = act(t, s, reviewer, c.ID, casestore.Action{Kind: casestore.ActAssign, Assignee: "mz_zhongyuan", Version: c.Version})
	c = act(t, s, reviewer, c.ID, casestore.Action{Kind: casestore.ActVerify, Version: c.Version, Text: "村委会核实"})
	c = act(t, s, reviewer, c.ID, casestore.Action{Kind: casestore.ActConfirm, Version: c.Version,
		Outcome: &casestore.Outcome{PaymentStopped: true, ToRecover: 2800, Recovered: 0}})
	if c.Decision != "confirmed" || c.Outcome == nil || !c.Outcome.PaymentStopped {
		t.Fatalf("confirmed: %+v", c)
	}
	if n := len(s.StopList(casestore.Scope{All: true}, "", time.Time{})); n != 1 {
		t.Errorf("stop list: %d", n)
	}
	// A corrected rerun of May (the registry withdrew the death): only the age hit remains.
	r := mustImport(t, s, write(t, dir, "may2.parquet", []casetest.Hit{
		casetest.Age("r1b", "2024-05", li, "李四", "gaoling", "高龄津贴", "民政局", zhong, 200, 3, "1950-01-01")}))
	if r.WithdrawnDeaths != 1 || r.ReopenedCases != 1 {
		t.Fatalf("rerun: %+v", r)
	}
	c2, _ := s.Get(casestore.Scope{All: true}, c.ID)
	if !c2.DeathWithdrawn || c2.Status != casestore.StatusAssigned || c2.Decision != "" {
		t.Errorf("withdrawn: %+v", c2)
	}
	pg, _ := s.Queue(casestore.Scope{All: true}, casestore.Filter{Flag: "death_withdrawn"}, 1, 10)
	if pg.Total != 1 {
		t.Errorf("flag filter: %d", pg.Total)
	}
	d, _ := s.Detail(ctx, casestore.Scope{All: true}, c.ID)
	var actions []string
	for _, e := range d.Events {
		actions = append(actions, e.Action)
	}
	want := []string{"created", "assign", "verify", "confirm", "death_withdrawn", "reopened"}
	if len(actions) != len(want) {
		t.Fatalf("events %v, want %v", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Fatalf("events %v, want %v", actions, want)
		}
	}
}

func TestExceptionRegisterSuppressesRaising(t *testing.T) {
	dir := t.TempDir()
	ck := &clock{t: t0}
	s := open(t, filepath.Join(dir, "cases.duckdb"), ck)
	if _, err := s.AddException(ctx, reviewer, casestore.Exception{PersonKey: wang, RuleID: "age_range", Reason: "x", Owner: "y"}); !errors.Is(err, casestore.ErrForbidden) {
		t.Errorf("reviewer adds exception: %v", err)
	}
	exp := t0.AddDate(0, 6, 0)
	e, err := s.AddException(ctx, admin, casestore.Exception{PersonKey: wang, RuleID: "age_range", Reason: "登记监护人代领", Owner: "民政局 王科长", Expires: &exp})
	if err != nil {
		t.Fatal(err)
	}
	r := mustImport(t, s, write(t, dir, "h.parquet", []casetest.Hit{
		casetest.Age("r1", "2024-05", wang, "王五", "dibao", "城乡低保", "民政局", zhong, 300, 4, "1970-11-01"),
		casetest.Death("r1", "2024-05", wang, "王五", "dibao", "城乡低保", "民政局", zhong, 300, 4, "2024-01-01")}))
	if r.ExceptedHits != 1 || r.NewCases != 1 {
		t.Fatalf("import: %+v", r)
	}
	c := onlyCase(t, s, casestore.Filter{})
	if len(c.RuleIDs) != 1 || c.RuleIDs[0] != "deceased_after_death" {
		t.Errorf("rules %v", c.RuleIDs)
	}
	if err := s.RevokeException(ctx, admin, e.ID, "监护关系终止"); err != nil {
		t.Fatal(err)
	}
	r = mustImport(t, s, write(t, dir, "h2.parquet", []casetest.Hit{
		casetest.Age("r2", "2024-06", wang, "王五", "dibao", "城乡低保", "民政局", zhong, 300, 4, "1970-11-01")}))
	if r.ExceptedHits != 0 || r.MergedCases != 1 {
		t.Fatalf("after revoke: %+v", r)
	}
}

func TestLifecycleRulesAndConflicts(t *testing.T) {
	dir := t.TempDir()
	ck := &clock{t: t0}
	s := open(t, filepath.Join(dir, "cases.duckdb"), ck)
	mustImport(t, s, write(t, dir, "h.parquet", []casetest.Hit{
		casetest.Death("r1", "2024-05", zhang, "张三", "gaoling", "高龄津贴", "民政局", zhong, 200, 2, "2023-03-05")}))
	c := onlyCase(t, s, casestore.Filter{})
	analyst := casestore.Actor{User: "ana", Role: casestore.RoleAnalyst, Scope: casestore.Scope{All: true}}
	if _, err := s.Act(ctx, analyst, c.ID, casestore.Action{Kind: casestore.ActAssign, Assignee: "x"}); !errors.Is(err, casestore.ErrForbidden) {
		t.Errorf("analyst assigns: %v", err)
	}
	if _, err := s.Act(ctx, reviewer, c.ID, casestore.Action{Kind: casestore.ActConfirm, Outcome: &casestore.Outcome{}}); !errors.Is(err, casestore.ErrConflict) {
		t.Errorf("confirm a new case: %v", err)
	}
	s.SetAssigneeCheck(func(u string, c *casestore.Case) bool { return u == "mz_zhongyuan" })
	if _, err := s.Act(ctx, reviewer, c.ID, casestore.Action{Kind: casestore.ActAssign, Assignee: "someone_else"}); !errors.Is(err, casestore.ErrInvalid) {
		t.Errorf("assign out of scope: %v", err)
	}
	c2 := act(t, s, reviewer, c.ID, casestore.Action{Kind: casestore.ActAssign, Assignee: "mz_zhongyuan", Version: c.Version})
	if _, err := s.Act(ctx, reviewer, c.ID, casestore.Action{Kind: casestore.ActVerify, Version: c.Version}); !errors.Is(err, casestore.ErrConflict) {
		t.Errorf("stale version: %v", err)
	}
	// Village check: 3 working days from Wednesday 5 June: Thursday, Friday,
	// then Monday 10 June is 端午节 (official calendar) → end of Tuesday.
	if want := time.Date(2024, 6, 12, 0, 0, 0, 0, time.FixedZone("", 8*3600)); !c2.DueAt.Equal(want) {
		t.Errorf("village check due %v, want %v", c2.DueAt, want)
	}
	act(t, s, analyst, c.ID, casestore.Action{Kind: casestore.ActNote, Text: "已电话联系村委会"})
	c3 := act(t, s, reviewer, c.ID, casestore.Action{Kind: casestore.ActVerify, Version: c2.Version})
	if _, err := s.Act(ctx, reviewer, c.ID, casestore.Action{Kind: casestore.ActConfirm, Version: c3.Version,
		Outcome: &casestore.Outcome{ToRecover: 100, Recovered: 200}}); !errors.Is(err, casestore.ErrInvalid) {
		t.Errorf("recovered > to recover: %v", err)
	}
	c4 := act(t, s, reviewer, c.ID, casestore.Action{Kind: casestore.ActConfirm, Version: c3.Version,
		Outcome: &casestore.Outcome{PaymentStopped: true, ToRecover: 2800, Referred: true}})
	platform := casestore.Actor{User: "yikatong", Role: casestore.RolePlatform, Scope: casestore.Scope{All: true}}
	c5 := act(t, s, platform, c.ID, casestore.Action{Kind: casestore.ActOutcome,
		Outcome: &casestore.Outcome{PaymentStopped: true, ToRecover: 2800, Recovered: 1400, Referred: true}})
	if c5.Outcome.Recovered != 1400 || c5.Status != casestore.StatusConfirmed || c5.Version != c4.Version+1 {
		t.Errorf("outcome: %+v", c5)
	}
	c6 := act(t, s, reviewer, c.ID, casestore.Action{Kind: casestore.ActClose, Version: c5.Version})
	if c6.Status != casestore.StatusClosed || c6.DueAt != nil || c6.ClosedAt == nil {
		t.Errorf("closed: %+v", c6)
	}
	if _, err := s.Act(ctx, reviewer, c.ID, casestore.Action{Kind: casestore.ActReopen, Version: c6.Version}); !errors.Is(err, casestore.ErrInvalid) {
		t.Errorf("reopen without reason: %v", err)
	}
	// Overdue: after five working days a case assigned but not verified is red.
	mustImport(t, s, write(t, dir, "h2.parquet", []casetest.Hit{
		casetest.Age("r2", "2024-06", li, "李四", "gaoling", "高龄津贴", "民政局", zhong, 200, 3, "1950-01-01")}))
	ck.add(7 * 24 * time.Hour)
	pg, _ := s.Queue(casestore.Scope{All: true}, casestore.Filter{Due: "overdue"}, 1, 10)
	if pg.Total != 1 {
		t.Errorf("overdue: %d", pg.Total)
	}
	// Precision of deceased_after_death is now (1+1)/(1+2).
	st := s.RuleStats(casestore.Scope{All: true})
	if len(st) != 2 || st[1].RuleID != "deceased_after_death" || st[1].Confirmed != 1 || st[1].Precision != 1 {
		t.Errorf("rule stats %+v", st)
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	log, err := s.Audit(ctx, admin, casestore.AuditFilter{ObjectID: c.ID})
	if err != nil || len(log) != 6 { // assign, note, verify, confirm, outcome, close
		t.Errorf("audit: %v %d", err, len(log))
	}
}

func TestParamsAuditAndMigrations(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cases.duckdb")
	ck := &clock{t: t0}
	s, err := casestore.Open(ctx, path, casestore.Options{Now: ck.now})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Params()
	p.Deadlines.VillageCheck = 5
	p.Holidays = []string{"2024-06-10"} // 端午节
	if err := s.SetParams(ctx, reviewer, p, "x"); !errors.Is(err, casestore.ErrForbidden) {
		t.Errorf("reviewer sets params: %v", err)
	}
	if err := s.SetParams(ctx, admin, p, ""); !errors.Is(err, casestore.ErrInvalid) {
		t.Errorf("no reason: %v", err)
	}
	bad := p
	bad.RouteLevel = "village"
	if err := s.SetParams(ctx, admin, bad, "x"); !errors.Is(err, casestore.ErrInvalid) {
		t.Errorf("bad route level: %v", err)
	}
	if err := s.SetParams(ctx, admin, p, "县政府通知：村级核查延至5个工作日"); err != nil {
		t.Fatal(err)
	}
	if err := s.LogView(ctx, admin, "view.case", "case", "abc", nil, ""); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := casestore.Open(ctx, path, casestore.Options{Now: ck.now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Params().Deadlines.VillageCheck != 5 {
		t.Errorf("params not kept")
	}
	log, _ := s2.Audit(ctx, admin, casestore.AuditFilter{})
	if len(log) != 2 || log[0].Action != "view.case" || log[1].Action != "params.change" || log[1].Reason == "" {
		t.Errorf("audit %+v", log)
	}
	var v int
	s2.DB().QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&v)
	if v != casestore.SchemaVersion() {
		t.Errorf("schema version %d", v)
	}
	cal := s2.Calendar()
	// Friday 2024-06-07 + 1 working day with Monday 10 June a holiday → end of Tuesday.
	fri := time.Date(2024, 6, 7, 9, 0, 0, 0, time.FixedZone("", 8*3600))
	if got := cal.Due(fri, 1); !got.Equal(time.Date(2024, 6, 12, 0, 0, 0, 0, time.FixedZone("", 8*3600))) {
		t.Errorf("due %v", got)
	}
}
