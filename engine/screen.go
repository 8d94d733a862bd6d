package engine

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/mapping"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
	"github.com/crosscheck/crosscheck/rules"
	"github.com/crosscheck/crosscheck/rundir"
)

// ScreenOptions tune a Screener.
type ScreenOptions struct {
	Log *slog.Logger
	// MemoryLimit is DuckDB's memory_limit of each screening session (""
	// = the engine's default).
	MemoryLimit string
	Threads     int
	Registry    *connectors.Registry
	// RawCells writes the CSV cells verbatim (no formula neutralisation).
	RawCells bool
	// Progress, when set (a terminal), gets a progress bar per roll.
	Progress io.Writer
}

// Screener screens payment rolls and applicants against a reference
// store with the rules compiled once. Every Roll and Check opens its own
// in-memory DuckDB that attaches the store read-only, so it is safe for
// concurrent use and several processes may screen against one store.
type Screener struct {
	path   string
	j      *job.Job
	comp   []rules.Compiled
	byID   map[string]rules.Compiled
	opt    ScreenOptions
	log    *slog.Logger
	reg    *connectors.Registry
	seq    int64
	tables []string // the store's reference tables, exposed as views
	tmp    string
	// keyed are the reference tables with a person_key, and per table its
	// ID columns (person_key and the other ID-number columns); sentinels
	// per table the _rid of its first row of each source.
	keyed     map[string][]string
	sentinels map[string][]int64
	// pool holds idle Check sessions; slots bounds the Checks running at
	// once (more would only share the same cores among more DuckDB
	// instances): a Check beyond it waits for a slot.
	pool  chan *Session
	slots chan struct{}
	queue checkQueue
	// reads are the tables the rules read (ruleReads), once readsOnce ran.
	readsOnce sync.Once
	reads     map[string]bool
	// shared, in the batch run (Run), is the database the store was
	// refreshed into: rolls are screened in it, against its tables.
	shared *Session
}

// RollInput names the roll to screen.
type RollInput struct {
	Path    string
	Source  string // payment source of the store's job; "" = chosen by header
	Program string // only these payments ("" = all)
	Period  string // YYYY-MM ("" = all)
	RawIDs  bool   // unmasked ID numbers and accounts in the CSV/xlsx exports
	// More are further rolls screened together with Path (each mapped by
	// the source that fits it): rules across rolls (the same person paid
	// twice in two counties' rolls) see them all, as in a batch run.
	More []string
	// JobRolls screens the payment sources of the store's job as the job
	// configures them (paths and globs) instead of Path: what a batch run
	// screens.
	JobRolls bool
	// Changed screens only the payments of the persons whose reference
	// data changed in the store's refreshes after Since (the change log),
	// with the members of their registered households and their spouses.
	Changed bool
	Since   int64
	// batch, set by Run only, makes the screening the batch run's (see
	// batchRun).
	batch *batchRun
}

// RollResult summarises a screened roll.
type RollResult struct {
	RunID    string
	OutDir   string
	Payments int64
	Hits     int64
	Stops    []StopEntry // one per payment to stop, most severe reason first
	Elapsed  time.Duration
	// Source is the payment source the roll was mapped with.
	Source string
	// Result is the run's full result (catalogue, counts, timings).
	Result *Result
	// Seq is the store's refresh sequence screened against.
	Seq int64
	// Persons, in Changed mode, are the person keys whose payments were
	// screened (nil: every payment was, the change log naming every person).
	Persons []string
}

// StopEntry is one payment of the stop-list.
type StopEntry struct {
	PaymentID, Account, IDNumber, Name, ProgramCode, Program, Period, RegionCode string
	Amount                                                                       float64
	Reason                                                                       string // one sentence (zh-CN)
	Severity                                                                     string // high|medium|low
	RuleIDs                                                                      []string
}

// Applicant is one person applying for one program and period.
type Applicant struct {
	IDNumber, Name, Program, Period string
	// RawEvidence returns the evidence unmasked.
	RawEvidence bool
}

// CheckResult is what Check finds for an applicant.
type CheckResult struct {
	PersonKey string // canonical ID ("" when the ID could not be resolved)
	IDStatus  string // valid|upgraded|repaired|invalid|…
	Known     bool   // the person is in the store's registry
	Hits      []CheckHit
	// Amount is the synthetic payment's amount (the program's standard
	// amount, 0 when the catalogue gives none).
	Amount float64
}

// CheckHit is one rule hit of a Check.
type CheckHit struct {
	RuleID, Category, Severity, Title, TitleEN, Explanation string
	Evidence                                                json.RawMessage
}

// ErrUnknownProgram is returned by Check for a program not in the store's catalogue.
var ErrUnknownProgram = errors.New("program not in the catalogue")

// OpenScreener prepares the store's job and compiled rules.
func OpenScreener(ctx context.Context, storePath string, opt ScreenOptions) (*Screener, error) {
	return openScreener(ctx, storePath, opt, nil)
}

// openScreener is OpenScreener; a batch run gives its job (jb), which the
// store was just refreshed from, instead of the stored job text.
func openScreener(ctx context.Context, storePath string, opt ScreenOptions, jb *job.Job) (*Screener, error) {
	abs, err := filepath.Abs(storePath)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("store %s: %w (run `crosscheck store refresh` first)", storePath, err)
	}
	db, err := openStoreRead(ctx, abs)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var file, dir, yml string
	var seq int64
	if err := db.QueryRowContext(ctx, "SELECT job_file, job_dir, job_yaml FROM store.store_job").Scan(&file, &dir, &yml); err != nil {
		return nil, fmt.Errorf("store %s: not a crosscheck store: %w", storePath, err)
	}
	if err := db.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) FROM store.store_refresh").Scan(&seq); err != nil {
		return nil, err
	}
	s := &Screener{path: abs, opt: opt, seq: seq}
	s.log, s.reg = withDefaults(opt.Log, opt.Registry)
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM duckdb_tables() WHERE database_name = 'store' AND schema_name = 'main'
		AND NOT starts_with(table_name, 'store_') AND table_name NOT IN ('program_catalogue', 'program_exclusive', 'id_repair_candidate', 'payment')
		ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, err
		}
		s.tables = append(s.tables, t)
	}
	rows.Close()
	if err := s.readKeyed(ctx, db); err != nil {
		return nil, err
	}
	n := 2 * runtime.GOMAXPROCS(0)
	if n < 4 {
		n = 4
	}
	s.pool = make(chan *Session, n)
	s.slots = make(chan struct{}, n)
	// The job as refreshed: parsed from the stored text, paths resolved
	// from the job file's folder.
	s.tmp, err = os.MkdirTemp("", "crosscheck-screen-")
	if err != nil {
		return nil, err
	}
	if jb != nil {
		s.j = jb
		return s, s.compile(ctx)
	}
	jf := filepath.Join(s.tmp, "job.yaml")
	if err := os.WriteFile(jf, []byte(yml), 0o600); err != nil {
		os.RemoveAll(s.tmp)
		return nil, err
	}
	j, err := job.Load(jf)
	if err != nil {
		os.RemoveAll(s.tmp)
		return nil, fmt.Errorf("store %s: the stored job: %w", storePath, err)
	}
	j.File, j.Dir = file, dir
	s.j = j
	return s, s.compile(ctx)
}

// compile compiles the rules of the screener's job.
func (s *Screener) compile(ctx context.Context) error {
	var err error
	s.comp, err = compileRules(ctx, s.j)
	if err != nil {
		os.RemoveAll(s.tmp)
		return err
	}
	s.byID = map[string]rules.Compiled{}
	for _, c := range s.comp {
		s.byID[c.ID] = c
	}
	return nil
}

// Job is the job the store was refreshed from.
func (s *Screener) Job() *job.Job { return s.j }

// Seq is the store's refresh sequence when the screener was opened.
func (s *Screener) Seq() int64 { return s.seq }

// Close closes the idle Check sessions and removes the screener's
// temporary files.
func (s *Screener) Close() error {
	s.stopQueue()
	for {
		select {
		case sess := <-s.pool:
			sess.Close()
		default:
			return os.RemoveAll(s.tmp)
		}
	}
}

// readKeyed finds the reference tables with a person_key, their ID
// columns, and the sentinel rows of each (the first row of each source).
func (s *Screener) readKeyed(ctx context.Context, db *sql.DB) error {
	s.keyed, s.sentinels = map[string][]string{}, map[string][]int64{}
	rows, err := db.QueryContext(ctx, `SELECT table_name, list(column_name ORDER BY column_index) FROM duckdb_columns()
		WHERE database_name = 'store' AND schema_name = 'main' GROUP BY 1`)
	if err != nil {
		return err
	}
	cols := map[string][]string{}
	for rows.Next() {
		var t string
		var cs []any
		if err := rows.Scan(&t, &cs); err != nil {
			rows.Close()
			return err
		}
		for _, c := range cs {
			cols[t] = append(cols[t], fmt.Sprint(c))
		}
	}
	rows.Close()
	for _, t := range s.tables {
		cs := cols[t]
		if !slices.Contains(cs, "person_key") || !slices.Contains(cs, "_rid") || !slices.Contains(cs, "_source") ||
			strings.HasPrefix(t, "person_link") {
			continue
		}
		idCols := []string{"person_key"}
		for _, c := range cs {
			// other ID numbers of a record (a spouse's): checked by their
			// status column, as the loader writes it
			if c != "id_number" && slices.Contains(cs, c+"_status") && strings.HasSuffix(c, "id_number") {
				idCols = append(idCols, c)
			}
		}
		s.keyed[t] = idCols
		// A source's _rid lie in its band of 1<<40 (its position among the
		// job's sources, see RefreshStore): when the table's smallest and
		// largest _rid, which DuckDB answers from its statistics without
		// reading the table, share a band, the table holds one source and
		// the smallest is its sentinel; else the table is read.
		var lo, hi sql.NullInt64
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT min(_rid), max(_rid) FROM store.main.%s", Ident(t))).Scan(&lo, &hi); err != nil {
			return err
		}
		if !lo.Valid {
			continue
		}
		if lo.Int64>>40 == hi.Int64>>40 {
			s.sentinels[t] = []int64{lo.Int64}
			continue
		}
		r, err := db.QueryContext(ctx, fmt.Sprintf("SELECT min(_rid) FROM store.main.%s GROUP BY _source ORDER BY 1", Ident(t)))
		if err != nil {
			return err
		}
		for r.Next() {
			var id int64
			if err := r.Scan(&id); err != nil {
				r.Close()
				return err
			}
			s.sentinels[t] = append(s.sentinels[t], id)
		}
		r.Close()
	}
	return nil
}

// session opens an in-memory DuckDB with the store attached read-only and
// its reference tables as views of the main schema.
func (s *Screener) session(ctx context.Context) (*Session, error) {
	return s.sessionThreads(ctx, 0)
}

// sessionThreads is session with DuckDB's threads set (0: the options',
// else the job's).
func (s *Screener) sessionThreads(ctx context.Context, threads int) (*Session, error) {
	if s.shared != nil {
		return s.shared, nil
	}
	e := job.Engine{Database: ":memory:", MemoryLimit: s.opt.MemoryLimit, Threads: threads, TempDirectory: s.j.Engine.TempDirectory}
	if e.MemoryLimit == "" {
		e.MemoryLimit = s.j.Engine.MemoryLimit
	}
	if e.Threads == 0 {
		e.Threads = s.opt.Threads
	}
	if e.Threads == 0 {
		e.Threads = s.j.Engine.Threads
	}
	sess, err := Open(ctx, e)
	if err != nil {
		return nil, err
	}
	if err := sess.AttachStore(ctx, s.path, "refstore", s.log); err != nil {
		sess.Close()
		return nil, fmt.Errorf("store %s: %w", s.path, err)
	}
	var stmts []string
	for _, t := range s.tables {
		stmts = append(stmts, fmt.Sprintf("CREATE VIEW main.%s AS SELECT * FROM refstore.main.%s", Ident(t), Ident(t)))
	}
	if err := sess.Exec(ctx, stmts...); err != nil {
		sess.Close()
		return nil, fmt.Errorf("store %s: %w", s.path, err)
	}
	return sess, nil
}

var connectorByExt = map[string]string{".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}

// rollPlan maps a roll with the payment source it fits (in.Source, else
// the first payment source of the job whose mapped columns the roll's
// header has).
func (s *Screener) rollPlan(ctx context.Context, in RollInput) (planned, error) {
	var tried []string
	var errs []error
	for _, src := range s.j.Sources {
		role, err := s.j.SourceRole(src)
		if err != nil || role.Name != "payment" {
			continue
		}
		if in.Source != "" && src.Name != in.Source {
			continue
		}
		tried = append(tried, src.Name)
		src.Path = in.Path
		if c, ok := connectorByExt[strings.ToLower(filepath.Ext(in.Path))]; ok && c != src.Connector {
			src.Connector, src.Options = c, nil
		}
		c, err := s.reg.Build(src.Connector, src.Name, in.Path, src.Options)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hdrs, err := c.Headers(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fits := len(hdrs) > 0
		for i := range hdrs {
			m, _ := mapping.New(role, src, nil, 0)
			if miss := m.MissingColumns(&hdrs[i]); len(miss) > 0 {
				fits = false
				errs = append(errs, fmt.Errorf("source %s: mapped column %s not found", src.Name, quoteList(miss)))
			}
			m.Release()
		}
		if fits {
			return planned{src: src, role: role, conn: c}, nil
		}
	}
	if len(tried) == 0 {
		if in.Source != "" {
			return planned{}, fmt.Errorf("the store's job has no payment source %q", in.Source)
		}
		return planned{}, fmt.Errorf("the store's job has no payment source")
	}
	return planned{}, fmt.Errorf("roll %s fits no payment source of the store's job (%s): %w", in.Path, strings.Join(tried, ", "), errors.Join(errs...))
}

// Roll screens one payment roll into outDir (a run folder, see rundir).
func (s *Screener) Roll(ctx context.Context, in RollInput, outDir string) (*RollResult, error) {
	started := time.Now()
	if in.batch == nil {
		if err := rundir.Check(outDir, rundir.Options{}); err != nil {
			return nil, err
		}
	}
	var plans []planned
	if in.JobRolls {
		pj := *s.j
		pj.Sources = nil
		for _, src := range s.j.Sources {
			if r, err := s.j.SourceRole(src); err == nil && r.Name == "payment" {
				pj.Sources = append(pj.Sources, src)
			}
		}
		if len(pj.Sources) == 0 {
			return nil, fmt.Errorf("the store's job has no payment source")
		}
		var err error
		if plans, err = plan(ctx, &pj, s.reg); err != nil {
			return nil, err
		}
		if in.batch != nil {
			in.batch.setWatermarks(plans)
		}
		return s.screen(ctx, plans, in, outDir, started)
	}
	if in.Path == "" {
		return nil, fmt.Errorf("no roll to screen")
	}
	for _, p := range append([]string{in.Path}, in.More...) {
		one := in
		one.Path = p
		pl, err := s.rollPlan(ctx, one)
		if err != nil {
			return nil, err
		}
		plans = append(plans, pl)
	}
	return s.screen(ctx, plans, in, outDir, started)
}

// screen screens the payments of plans into outDir.
func (s *Screener) screen(ctx context.Context, plans []planned, in RollInput, outDir string, started time.Time) (*RollResult, error) {
	var run *rundir.Run
	var err error
	if in.batch != nil {
		run = in.batch.run
	} else if run, err = rundir.Open(outDir, rundir.Options{}); err != nil {
		return nil, err
	}
	sess, err := s.session(ctx)
	if err != nil {
		run.Close()
		return nil, err
	}
	res := &Result{OutDir: outDir, Started: started}
	stage := func(name string, t0 time.Time) {
		res.Timings = append(res.Timings, Timing{Stage: name, Seconds: time.Since(t0).Seconds()})
	}
	raw := in.RawIDs || s.j.Output.RawIDs
	salt := fmt.Sprintf("\x00store:%d", s.seq)
	if in.Changed {
		salt += fmt.Sprintf("\x00changed-since:%d", in.Since)
	}
	p := &Prepared{Session: sess, Job: s.j, Result: res, comp: s.comp, state: &State{Watermarks: map[string]string{}},
		out: run.Tmp, run: run, raw: raw, rawCells: s.opt.RawCells, log: s.log, stage: stage,
		noState: true, runSalt: salt}
	defer p.Close()
	if in.batch != nil {
		in.batch.prepare(p)
	}
	t0 := time.Now()
	rc := s.openRollCache(ctx, sess, in)
	defer rc.close(ctx, sess)
	if err := s.loadPayments(ctx, sess, plans, rc, filepath.Join(run.Tmp, "quarantine"), raw, res, in.Program, in.Period); err != nil {
		if at := keepRejected(run, filepath.Join(run.Tmp, "quarantine")); at != "" {
			err = fmt.Errorf("%w\nthe quarantined rows (隔离行明细): %s", err, at)
		}
		return nil, err
	}
	rr := &RollResult{OutDir: outDir, Source: plans[0].src.Name, Seq: s.seq}
	rc.setDuplicates(res.Sources)
	if in.Changed {
		persons, err := s.keepChanged(ctx, sess, in.Since, rc != nil && !rc.all)
		if err != nil {
			return nil, err
		}
		rr.Persons = persons
	}
	if in.batch != nil {
		// The batch run's folder: every source's counts and quarantine
		// file, no stop-list.
		if err := in.batch.loaded(p); err != nil {
			return nil, err
		}
		p.stage("load_rolls", t0)
		if _, err := p.Screen(ctx); err != nil {
			return nil, err
		}
		rr.RunID, rr.Hits, rr.Result = res.RunID, res.Hits, res
		return rr, nil
	}
	if err := s.payeeViews(ctx, sess); err != nil {
		return nil, err
	}
	stage("load", t0)
	p.beforeCommit = func(ctx context.Context) error {
		stops, err := sess.stopList(ctx, s.j, s.byID)
		if err != nil {
			return err
		}
		rr.Stops = stops
		return writeStopList(run.Tmp, stops, raw, s.opt.RawCells, s.j.Output.MaskNames)
	}
	if _, err := p.Screen(ctx); err != nil {
		return nil, err
	}
	if err := sess.DB.QueryRowContext(ctx, "SELECT count(*) FROM screened").Scan(&rr.Payments); err != nil {
		return nil, err
	}
	rr.RunID, rr.Hits, rr.Result = res.RunID, res.Hits, res
	rr.Elapsed = time.Since(started)
	return rr, nil
}

// keepChanged keeps the payments of the persons changed after refresh
// since (with their household members and spouses) and returns those
// persons; nil and every payment kept when the change log names every
// person (a first refresh, a table whose layout changed). keyed: the
// roll cache made changed_keys already (changedKeys), naming persons.
func (s *Screener) keepChanged(ctx context.Context, sess *Session, since int64, keyed bool) ([]string, error) {
	if !keyed {
		all, err := s.changedKeys(ctx, sess, since)
		if err != nil || all {
			return nil, err
		}
	}
	if err := sess.Exec(ctx,
		`DELETE FROM payment WHERE person_key IS NULL OR person_key NOT IN (SELECT person_key FROM changed_keys)`); err != nil {
		return nil, err
	}
	rows, err := sess.DB.QueryContext(ctx, `SELECT DISTINCT person_key FROM payment ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// changedKeys makes the temporary table changed_keys: the persons changed
// after refresh since, the members of their registered households and
// their spouses; all (and no table) when the change log names every
// person.
func (s *Screener) changedKeys(ctx context.Context, sess *Session, since int64) (all bool, err error) {
	if err := sess.DB.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) > 0 FROM refstore.main.store_change WHERE seq > %d AND table_name = %s`,
		since, Lit(ChangeAll))).Scan(&all); err != nil {
		return false, err
	}
	if all {
		return true, nil
	}
	q := fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE changed_keys AS
		WITH c AS (SELECT DISTINCT person_key FROM refstore.main.store_change WHERE seq > %d AND person_key IS NOT NULL)
		SELECT person_key FROM c`, since)
	if slices.Contains(s.tables, "person") {
		q += ` UNION SELECT b.person_key FROM refstore.main.person a JOIN refstore.main.person b USING (household_id)
			WHERE a.person_key IN (SELECT person_key FROM c) AND b.person_key IS NOT NULL`
	}
	if _, ok := s.keyed["marriage"]; ok && slices.Contains(s.keyed["marriage"], "spouse_id_number") {
		q += ` UNION SELECT spouse_id_number FROM refstore.main.marriage WHERE person_key IN (SELECT person_key FROM c) AND spouse_id_number IS NOT NULL
			UNION SELECT person_key FROM refstore.main.marriage WHERE spouse_id_number IN (SELECT person_key FROM c) AND person_key IS NOT NULL`
	}
	return false, sess.Exec(ctx, q)
}

// loadPayments loads the payment plans, keeps the payments of program and
// period, and gives their IDs the registry's confirmations and repairs.
func (s *Screener) loadPayments(ctx context.Context, sess *Session, plans []planned, rc *rollCache, qdir string, raw bool, res *Result, program, period string) error {
	pay, _ := dataset.Lookup("payment")
	if err := sess.createTables(ctx, []dataset.Role{pay}); err != nil {
		return err
	}
	return s.loadPaymentRows(ctx, sess, plans, rc, qdir, raw, res, program, period, true)
}

// loadPaymentRows is loadPayments into the existing payment table. Without
// fixIDs the IDs are neither confirmed nor repaired against the registry:
// a Check whose applicants' IDs are all valid, which neither would touch.
func (s *Screener) loadPaymentRows(ctx context.Context, sess *Session, plans []planned, rc *rollCache, qdir string, raw bool, res *Result, program, period string, fixIDs bool) error {
	pay, _ := dataset.Lookup("payment")
	roles := []dataset.Role{pay}
	workers := s.j.Engine.Threads
	if workers <= 0 {
		workers = 2
	}
	stats, err := rc.load(ctx, sess, plans, qdir, raw, workers, s.log, s.opt.Progress)
	if err != nil {
		return err
	}
	res.Sources = stats
	warnQuarantine(s.log, stats)
	if err := checkQuarantine(s.j, stats); err != nil {
		return err
	}
	var where []string
	if program != "" {
		where = append(where, "program_code IS DISTINCT FROM "+Lit(program))
	}
	if period != "" {
		where = append(where, "period IS DISTINCT FROM "+Lit(period))
	}
	if len(where) > 0 {
		if err := sess.Exec(ctx, "DELETE FROM payment WHERE "+strings.Join(where, " OR ")); err != nil {
			return err
		}
	}
	if !fixIDs {
		return sess.countDuplicates(ctx, roles, stats)
	}
	confirmed, err := sess.confirmExcelIDs(ctx, roles)
	if err != nil {
		return fmt.Errorf("ID check against the registry: %w", err)
	}
	for _, st := range stats {
		if n := confirmed[st.Source]; n > 0 && st.IDStatus["id_number"] != nil {
			st.IDStatus["id_number"]["valid"] += n
			st.IDStatus["id_number"]["excel_damaged"] -= n
		}
	}
	repaired, err := sess.repairIDs(ctx, roles)
	if err != nil {
		return fmt.Errorf("ID repair: %w", err)
	}
	for _, st := range stats {
		if n := repaired[st.Source]; n > 0 && st.IDStatus["id_number"] != nil {
			st.IDStatus["id_number"]["repaired"] = n
			st.IDStatus["id_number"]["invalid"] -= n
		}
	}
	return sess.countDuplicates(ctx, roles, stats)
}

// stopList reads the hits as one entry per payment, most severe first.
func (s *Session) stopList(ctx context.Context, j *job.Job, byID map[string]rules.Compiled) ([]StopEntry, error) {
	rows, err := s.DB.QueryContext(ctx, `WITH h AS (
		SELECT h.*, s.account_no, CASE h.severity WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END AS rank
		FROM hits h JOIN screened s ON s._source = h.payment_source AND s._file = h.payment_file AND s._row = h.payment_row)
	SELECT any_value(payment_id), coalesce(any_value(account_no), ''), coalesce(any_value(id_number), ''), coalesce(any_value(name), ''),
		any_value(program_code), coalesce(any_value(program_name), ''), coalesce(any_value(period), ''), coalesce(any_value(region_code), ''),
		coalesce(any_value(amount), 0), max(rank), list(rule_id ORDER BY rank DESC, rule_id), list(coalesce(explanation, '') ORDER BY rank DESC, rule_id)
	FROM h GROUP BY payment_source, payment_file, payment_row
	ORDER BY max(rank) DESC, payment_source, payment_file, payment_row`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StopEntry
	for rows.Next() {
		var e StopEntry
		var rank int
		var ids, expl []any
		if err := rows.Scan(&e.PaymentID, &e.Account, &e.IDNumber, &e.Name, &e.ProgramCode, &e.Program, &e.Period, &e.RegionCode,
			&e.Amount, &rank, &ids, &expl); err != nil {
			return nil, err
		}
		e.Severity = map[int]string{3: "high", 2: "medium", 1: "low"}[rank]
		for _, v := range ids {
			e.RuleIDs = append(e.RuleIDs, fmt.Sprint(v))
		}
		e.Reason = stopReason(e.RuleIDs, expl, byID)
		out = append(out, e)
	}
	return out, rows.Err()
}

// stopReason is the stop-list's one sentence: the most severe hit's
// explanation, and the titles of the other rules hit.
func stopReason(ids []string, expl []any, byID map[string]rules.Compiled) string {
	if len(ids) == 0 {
		return ""
	}
	first := strings.TrimSpace(fmt.Sprint(expl[0]))
	if first == "" {
		first = byID[ids[0]].Title
	}
	first = strings.TrimRight(first, "。.;； ")
	if len(ids) == 1 {
		return first + "。"
	}
	var others []string
	for _, id := range ids[1:] {
		t := byID[id].Title
		if t == "" {
			t = id
		}
		others = append(others, t)
	}
	return fmt.Sprintf("%s；另有%d项：%s。", first, len(others), strings.Join(others, "、"))
}

// StopListColumns are the header of stop-list.csv and stop-list.xlsx.
var StopListColumns = []string{"发放流水号 payment_id", "账号 account", "身份证号 id_number", "姓名 name", "项目代码 program_code",
	"项目 program", "期间 period", "区划 region_code", "金额 amount", "严重程度 severity", "原因 reason", "规则 rule_ids"}

var severityZH = map[string]string{"high": "高", "medium": "中", "low": "低"}

func stopRecord(e StopEntry, raw, maskNames bool) []string {
	id, acc, name := e.IDNumber, e.Account, e.Name
	reason := e.Reason
	if !raw {
		if id != "" {
			id = idnumber.Mask(id)
		}
		if acc != "" {
			acc = idnumber.Mask(acc)
		}
		reason = idnumber.MaskDigitRuns(reason)
		if maskNames && name != "" {
			m := dataset.PersonName.Mask(name)
			reason = strings.ReplaceAll(reason, name, m)
			name = m
		}
	}
	return []string{e.PaymentID, acc, id, name, e.ProgramCode, e.Program, e.Period, e.RegionCode,
		fmt.Sprintf("%.2f", e.Amount), severityZH[e.Severity] + " " + e.Severity, reason, strings.Join(e.RuleIDs, ",")}
}

// writeStopList writes stop-list.csv (UTF-8 with BOM, formula-like cells
// neutralised unless rawCells) and stop-list.xlsx into dir.
func writeStopList(dir string, stops []StopEntry, raw, rawCells, maskNames bool) error {
	f, err := os.Create(filepath.Join(dir, "stop-list.csv"))
	if err != nil {
		return err
	}
	f.WriteString("\uFEFF")
	w := csv.NewWriter(f)
	w.Write(StopListColumns)
	for _, e := range stops {
		rec := stopRecord(e, raw, maskNames)
		if !rawCells {
			rec = safeRecord(rec)
		}
		w.Write(rec)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	rundir.Step("stop-list.csv")

	x := excelize.NewFile()
	defer x.Close()
	sheet := "停发名单"
	x.SetSheetName("Sheet1", sheet)
	sw, err := x.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	hdr := make([]any, len(StopListColumns))
	for i, c := range StopListColumns {
		hdr[i] = c
	}
	if err := sw.SetRow("A1", hdr); err != nil {
		return err
	}
	for i, e := range stops {
		rec := stopRecord(e, raw, maskNames)
		row := make([]any, len(rec))
		for k, v := range rec {
			row[k] = v // text cells: excelize never evaluates them
		}
		row[8] = e.Amount
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, row); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	if err := x.SaveAs(filepath.Join(dir, "stop-list.xlsx")); err != nil {
		return err
	}
	rundir.Step("stop-list.xlsx")
	return nil
}

// checkSession takes an idle Check session or opens one: the store
// attached, the catalogue built, the sentinel rows copied, the tables of
// each check's rows created, the sandbox on.
func (s *Screener) checkSession(ctx context.Context) (*Session, *Catalogue, error) {
	select {
	case sess := <-s.pool:
		cat, err := catalogueOf(ctx, sess)
		if err == nil {
			return sess, cat, nil
		}
		sess.Close()
	default:
	}
	// A check reads a few rows: one thread each, and as many checks at
	// once as there are slots.
	sess, err := s.sessionThreads(ctx, 1)
	if err != nil {
		return nil, nil, err
	}
	if _, err := sess.buildCatalogue(ctx, s.j); err != nil {
		sess.Close()
		return nil, nil, fmt.Errorf("program catalogue: %w", err)
	}
	var stmts []string
	for t, ids := range s.sentinels {
		var l []string
		for _, id := range ids {
			l = append(l, fmt.Sprint(id))
		}
		stmts = append(stmts, fmt.Sprintf("CREATE TABLE %s AS SELECT * FROM refstore.main.%s WHERE _rid IN (%s)",
			Ident("_sentinel_"+t), Ident(t), strings.Join(l, ", ")))
	}
	// each check's rows of the keyed tables (subsetKeys), read through the
	// keyed views
	for t := range s.keyed {
		stmts = append(stmts, fmt.Sprintf("CREATE TEMP TABLE %s AS SELECT * FROM refstore.main.%s LIMIT 0", Ident("_subset_"+t), Ident(t)))
	}
	stmts = append(stmts, s.subsetViewsSQL()...)
	if err := sess.Exec(ctx, stmts...); err != nil {
		sess.Close()
		return nil, nil, err
	}
	// The tables, views and macros every check uses are created once per
	// session: a batch only deletes and inserts rows, so that DuckDB's
	// catalog does not change between batches.
	pay, _ := dataset.Lookup("payment")
	if err := sess.createTables(ctx, []dataset.Role{pay}); err != nil {
		sess.Close()
		return nil, nil, err
	}
	if err := sess.prepareRules(ctx, s.j); err != nil {
		sess.Close()
		return nil, nil, err
	}
	if err := rules.Sandbox(ctx, sess.DB); err != nil {
		sess.Close()
		return nil, nil, err
	}
	cat, err := catalogueOf(ctx, sess)
	if err != nil {
		sess.Close()
		return nil, nil, err
	}
	return sess, cat, nil
}

// catalogueOf reads program_catalogue back (standard amounts).
func catalogueOf(ctx context.Context, sess *Session) (*Catalogue, error) {
	rows, err := sess.DB.QueryContext(ctx, "SELECT program_code, standard_amount FROM program_catalogue")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cat := &Catalogue{}
	for rows.Next() {
		var p Program
		var std sql.NullFloat64
		if err := rows.Scan(&p.Code, &std); err != nil {
			return nil, err
		}
		if std.Valid {
			v := std.Float64
			p.StandardAmount = &v
		}
		cat.Programs = append(cat.Programs, p)
	}
	return cat, rows.Err()
}

// release returns a session to the pool (or closes it when the pool is full).
func (s *Screener) release(sess *Session) {
	select {
	case s.pool <- sess:
	default:
		sess.Close()
	}
}

// Check screens one applicant: a payment of the program's standard amount
// in the period, screened by the compiled rules against the store.
//
// The rules read, of each reference table with a person_key, only the
// rows of the applicant's persons (the applicant, the members of the
// applicant's registered households, the spouses in the marriage
// records; by person_key or another ID-number column) and the first row
// of each source (so that rules testing whether a table or a source has
// data at all see it). A rule hit on a payment joins reference rows to
// the payee by these keys; TestHenanCheckSubsetEqualsFull checks the
// subset against the whole tables.
func (s *Screener) Check(ctx context.Context, a Applicant) (*CheckResult, error) {
	return s.check(ctx, a, true)
}

// CheckWhole is Check reading the whole reference tables: slow, the
// oracle Check's subsets are tested against.
func (s *Screener) CheckWhole(ctx context.Context, a Applicant) (*CheckResult, error) {
	return s.check(ctx, a, false)
}

func (s *Screener) check(ctx context.Context, a Applicant, subset bool) (*CheckResult, error) {
	if a.Program == "" || a.Period == "" || a.IDNumber == "" {
		return nil, fmt.Errorf("check: ID number, program and period are required")
	}
	for _, f := range []string{a.IDNumber, a.Name, a.Program, a.Period} {
		if strings.ContainsAny(f, "\r\n") {
			return nil, fmt.Errorf("check: a line break in the applicant's data")
		}
	}
	if subset {
		// screened in a batch with the checks waiting (check_batch.go)
		return s.enqueue(ctx, a)
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ans, _, err := s.checkBatch(ctx, []Applicant{a}, false)
	if err != nil {
		return nil, err
	}
	return ans[0].res, ans[0].err
}

// applicable are the compiled rules whose applies_to admits the program
// of the check's payment (in screened): the others cannot hit it, their
// SELECT keeping only payments of the programs it admits (rules.wrap), so
// they are not run.
func (s *Screener) applicable(ctx context.Context, sess *Session) ([]rules.Compiled, error) {
	conds, idx := []string{}, map[string]int{}
	for _, c := range s.comp {
		if q := c.AppliesSQL("s.program_code"); q != "" {
			if _, ok := idx[q]; !ok {
				idx[q] = len(conds)
				conds = append(conds, "EXISTS (SELECT 1 FROM screened s WHERE "+q+")")
			}
		}
	}
	if len(conds) == 0 {
		return s.comp, nil
	}
	admits := make([]bool, len(conds))
	dest := make([]any, len(conds))
	for i := range admits {
		dest[i] = &admits[i]
	}
	if err := sess.DB.QueryRowContext(ctx, "SELECT "+strings.Join(conds, ", ")).Scan(dest...); err != nil {
		return nil, fmt.Errorf("rules that apply: %w", err)
	}
	var out []rules.Compiled
	for _, c := range s.comp {
		if q := c.AppliesSQL("s.program_code"); q == "" || admits[idx[q]] {
			out = append(out, c)
		}
	}
	return out, nil
}

// fullViews points the keyed views of a Check session at the whole
// tables (unless they already are).
func (s *Screener) fullViews(ctx context.Context, sess *Session) error {
	if sess.keyedFull {
		return nil
	}
	var stmts []string
	for t := range s.keyed {
		stmts = append(stmts, fmt.Sprintf("CREATE OR REPLACE VIEW main.%s AS SELECT * FROM refstore.main.%s", Ident(t), Ident(t)))
	}
	if err := sess.Exec(ctx, stmts...); err != nil {
		return err
	}
	sess.keyedFull = true
	return nil
}

// subsetViewsSQL points the keyed views at the session's _subset_ tables.
func (s *Screener) subsetViewsSQL() []string {
	var stmts []string
	for t := range s.keyed {
		stmts = append(stmts, fmt.Sprintf("CREATE OR REPLACE VIEW main.%s AS SELECT * FROM temp.%s", Ident(t), Ident("_subset_"+t)))
	}
	return stmts
}

// subsetKeys points the keyed views at the rows of the given persons (see
// Check and personGroups) and the sentinel rows, copied into the
// session's _subset_ tables; only the tables the rules comp name.
func (s *Screener) subsetKeys(ctx context.Context, sess *Session, keys []string, comp []rules.Compiled) error {
	lits := make([]string, 0, len(keys))
	seen := map[string]bool{}
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			lits = append(lits, Lit(k))
		}
	}
	sort.Strings(lits)
	in := "(NULL)"
	if len(lits) > 0 {
		in = "(" + strings.Join(lits, ", ") + ")"
	}
	// The rows are copied into the session's tables (emptied first), read
	// once per table instead of once per rule that reads the table.
	var stmts []string
	for t, idCols := range s.keyed {
		var conds []string
		for _, c := range idCols {
			conds = append(conds, fmt.Sprintf("%s IN %s", Ident(c), in))
		}
		match := "(" + strings.Join(conds, " OR ") + ")"
		sub := Ident("_subset_" + t)
		stmts = append(stmts, "DELETE FROM temp."+sub)
		// a table no rule to run names stays empty
		if readsTable(comp, t) {
			// The IN lists are not pushed into the scan: the key columns
			// are read first, then the rows they match (the row IDs pushed
			// into the second scan as a filter), not every column of every
			// row.
			q := fmt.Sprintf("INSERT INTO temp.%[1]s SELECT * FROM refstore.main.%[2]s WHERE rowid IN (SELECT rowid FROM refstore.main.%[2]s WHERE %[3]s)",
				sub, Ident(t), match)
			if _, ok := s.sentinels[t]; ok {
				q += fmt.Sprintf(" UNION ALL SELECT * FROM %s WHERE NOT coalesce(%s, false)", Ident("_sentinel_"+t), match)
			}
			stmts = append(stmts, q)
		}
	}
	if sess.keyedFull {
		stmts = append(stmts, s.subsetViewsSQL()...)
	}
	if err := sess.Exec(ctx, stmts...); err != nil {
		return err
	}
	sess.keyedFull = false
	return nil
}

// readsTable reports whether the SQL of one of comp names table t (as a
// whole word: a table name also used as a column or alias counts too).
func readsTable(comp []rules.Compiled, t string) bool {
	re := regexp.MustCompile(`(?i)(^|[^A-Za-z0-9_])"?` + regexp.QuoteMeta(t) + `"?($|[^A-Za-z0-9_])`)
	for _, c := range comp {
		if re.MatchString(c.SQL) {
			return true
		}
	}
	return false
}

func sevRank(s string) int {
	switch s {
	case "high":
		return 3
	case "medium":
		return 2
	}
	return 1
}
