package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/identity"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/mapping"
	"github.com/crosscheck/crosscheck/rules"
	"github.com/crosscheck/crosscheck/rundir"
	"github.com/crosscheck/crosscheck/schema"
)

// Options tune a run.
type Options struct {
	// OutDir overrides the job's output.dir.
	OutDir string
	// RawIDs writes ID numbers and accounts unmasked in CSV exports.
	RawIDs bool
	// Registry of connectors; connectors.Default when nil.
	Registry *connectors.Registry
	// Log receives progress; discarded when nil.
	Log *slog.Logger
	// Progress, when set (a terminal), gets a progress bar per source
	// instead of log lines.
	Progress io.Writer
	// Force accepts an output folder that holds files crosscheck did not
	// write (they are still never replaced nor deleted).
	Force bool
	// RawCells writes CSV cells verbatim: cells starting with = + - @, tab
	// or CR are not neutralised with a leading '.
	RawCells bool
	// LoadOnly makes Prepare stop after loading the sources (no ID repair
	// or identity resolution): for benchmarks of the load stage.
	LoadOnly bool
	// StageDone, when set, is called at the end of each stage (check,
	// load, identity, store, load_rolls, rules, cases, write) with its
	// name, after its wall time is taken: the benchmark writes per-stage
	// profiles there.
	StageDone func(stage string)
	// Store, when set, is where Run keeps the reference store it builds
	// (a full refresh; see docs/store.md); "" = a store in a temporary
	// working folder, removed after the run.
	Store string
}

// Timing is the wall time of one stage.
type Timing struct {
	Stage   string  `json:"stage"`
	Seconds float64 `json:"seconds"`
}

// Result summarises a finished run.
type Result struct {
	RunID   string
	OutDir  string
	Hits    int64
	Cases   int64
	Sources []*mapping.Stats
	Timings []Timing
	PeakRSS int64
	RuleSet string
	Counts  []CategoryCount
	// AmountAtRisk is the sum of the flagged payments, each counted once
	// however many rules hit it.
	AmountAtRisk float64
	Catalogue    *Catalogue
	Started      time.Time
	Elapsed      time.Duration
	Identity     *identity.Summary
	// Watermarks holds, per incremental source, the watermark before and
	// after this run.
	Watermarks map[string][2]string
	// CaseRouting counts cases by where their region came from (payment,
	// person, household, roll_prefecture, roll_province, none);
	// NoCounty counts the cases routed to no county.
	CaseRouting map[string]int64
	NoCounty    int64
}

// CategoryCount is the number of hits of a category for a program.
type CategoryCount struct {
	Category string
	Program  string
	Hits     int64
	Amount   float64
}

// compileRules loads the built-in rule library and the job's rule
// folders, checks every rule against the canonical schemas and compiles it
// to SQL, before any data is loaded.
func compileRules(ctx context.Context, j *job.Job) ([]rules.Compiled, error) {
	if j.Rules.Set != "builtin" {
		return nil, fmt.Errorf("rules.set: %q is not a known rule set (builtin)", j.Rules.Set)
	}
	dirs := make([]string, len(j.Rules.Dirs))
	for i, d := range j.Rules.Dirs {
		dirs[i] = j.Resolve(d)
	}
	c := rules.ContextFromJob(j)
	c.AppliesTo = j.Rules.AppliesTo
	comp, _, err := rules.LoadAndCompile(ctx, c, true, dirs...)
	if err != nil {
		return nil, fmt.Errorf("rules:\n%w", err)
	}
	return comp, nil
}

// rolesOf lists every built-in role plus the job's custom roles.
func rolesOf(j *job.Job) []dataset.Role {
	roles := dataset.Builtin()
	seen := map[string]bool{}
	for _, r := range roles {
		seen[r.Name] = true
	}
	for _, s := range j.Sources {
		r, err := j.SourceRole(s)
		if err == nil && !seen[r.Name] {
			seen[r.Name] = true
			roles = append(roles, r)
		}
	}
	return roles
}

// Prepared is a job whose sources are loaded and whose persons are
// resolved: what rules run on, and what `crosscheck link` reports.
type Prepared struct {
	Session  *Session
	Job      *job.Job
	Result   *Result
	Identity *identity.Summary
	comp     []rules.Compiled
	state    *State
	incs     map[string]connectors.Incremental
	out      string // the run's temporary folder inside the output folder
	run      *rundir.Run
	raw      bool
	rawCells bool
	log      *slog.Logger
	stage    func(string, time.Time)
	// screen (a roll screened against a store): no run state is read or
	// written, runSalt (the store's version) goes into the run id, and
	// beforeCommit writes the extra outputs (the stop-list).
	noState      bool
	runSalt      string
	beforeCommit func(ctx context.Context) error
}

// Close closes the database, removes the temporary folder of a run that
// did not finish and releases the output folder's lock.
func (p *Prepared) Close() error {
	err := p.Session.Close()
	if cerr := p.run.Close(); err == nil {
		err = cerr
	}
	return err
}

// Prepare checks the job and the rules, loads every source (quarantine
// files go to the output folder), repairs ID numbers and resolves persons.
func Prepare(ctx context.Context, j *job.Job, opt Options) (*Prepared, error) {
	started := time.Now()
	log, reg := withDefaults(opt.Log, opt.Registry)
	out := opt.OutDir
	if out == "" {
		out = j.Resolve(j.Output.Dir)
	}
	raw := opt.RawIDs || j.Output.RawIDs
	res := &Result{OutDir: out, Started: started}
	stage := func(name string, t0 time.Time) {
		// Give the Go heap a stage left behind back to the system (the
		// pinyin keys of millions of names, the load's Arrow batches):
		// without new allocations the collector would not run, and the
		// garbage would count in the process's memory while DuckDB works
		// up to its own limit in the next stage.
		debug.FreeOSMemory()
		res.Timings = append(res.Timings, Timing{Stage: name, Seconds: time.Since(t0).Seconds()})
		if opt.StageDone != nil {
			opt.StageDone(name)
		}
	}

	// A wrong output folder is refused before anything else, without
	// creating it.
	if err := rundir.Check(out, rundir.Options{Force: opt.Force}); err != nil {
		return nil, err
	}
	t0 := time.Now()
	comp, err := compileRules(ctx, j)
	if err != nil {
		return nil, err
	}
	plans, err := plan(ctx, j, reg)
	if err != nil {
		return nil, err
	}
	stage("check", t0)

	// Every file of the run goes to a temporary folder inside the output
	// folder and is moved into place when the run succeeded
	// (docs/outputs.md); a second run into the folder is refused.
	run, err := rundir.Open(out, rundir.Options{Force: opt.Force})
	if err != nil {
		return nil, err
	}
	qdir := filepath.Join(run.Tmp, "quarantine")
	sess, err := Open(ctx, j.Engine)
	if err != nil {
		run.Close()
		return nil, err
	}
	p := &Prepared{Session: sess, Job: j, Result: res, comp: comp, out: run.Tmp, run: run, raw: raw, rawCells: opt.RawCells,
		log: log, stage: stage}
	fail := func(err error) (*Prepared, error) {
		sess.Close()
		run.Close()
		return nil, err
	}
	roles := rolesOf(j)
	if err := sess.createTables(ctx, roles); err != nil {
		return fail(err)
	}

	state, err := loadState(StatePath(j))
	if err != nil {
		return fail(err)
	}
	p.state, p.incs = state, map[string]connectors.Incremental{}
	for _, pl := range plans {
		if inc, ok := incremental(pl); ok {
			inc.SetWatermark(state.Watermarks[pl.src.Name])
			p.incs[pl.src.Name] = inc
		}
	}

	t0 = time.Now()
	workers := j.Engine.Threads
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	stats, err := sess.loadSources(ctx, plans, qdir, raw, workers, log, opt.Progress)
	if err != nil {
		return fail(err)
	}
	res.Sources = stats
	stage("load", t0)
	warnQuarantine(log, stats)
	if err := checkQuarantine(j, stats); err != nil {
		if at := keepRejected(run, qdir); at != "" {
			err = fmt.Errorf("%w\nthe quarantined rows (隔离行明细): %s", err, at)
		}
		return fail(err)
	}
	if opt.LoadOnly {
		return p, nil
	}

	t0 = time.Now()
	confirmed, err := sess.confirmExcelIDs(ctx, roles)
	if err != nil {
		return fail(fmt.Errorf("ID check against the registry: %w", err))
	}
	for _, st := range stats {
		if n := confirmed[st.Source]; n > 0 && st.IDStatus["id_number"] != nil {
			st.IDStatus["id_number"]["valid"] += n
			st.IDStatus["id_number"]["excel_damaged"] -= n
		}
	}
	repaired, err := sess.repairIDs(ctx, roles)
	if err != nil {
		return fail(fmt.Errorf("ID repair: %w", err))
	}
	log.Info("identity: ID numbers repaired", "seconds", time.Since(t0).Seconds())
	for _, st := range stats {
		if n := repaired[st.Source]; n > 0 && st.IDStatus["id_number"] != nil {
			st.IDStatus["id_number"]["repaired"] = n
			st.IDStatus["id_number"]["invalid"] -= n
		}
	}
	if err := sess.countDuplicates(ctx, roles, stats); err != nil {
		return fail(err)
	}
	sum, err := linkPersons(ctx, sess, j, identity.Config{Log: log}, log)
	if err != nil {
		return fail(err)
	}
	p.Identity = sum
	t1 := time.Now()
	if err := sess.applyLinks(ctx, roles); err != nil {
		return fail(fmt.Errorf("identity resolution: %w", err))
	}
	log.Info("identity: links applied to the tables", "seconds", time.Since(t1).Seconds())
	// With engine.compress the tables the rules read are compressed now,
	// once: a checkpoint after the load as well read the tables spilled
	// under a small memory_limit back and cost more than it saved
	// (docs/benchmarks.md).
	if err := sess.Checkpoint(ctx, log, "identity"); err != nil {
		return fail(fmt.Errorf("compress the linked tables: %w", err))
	}
	stage("identity", t0)
	return p, nil
}

// linkPersons runs identity.Link with the job's threshold and, when the
// job names identity.model, the model kept in that file (written back when
// the run trained one): the linkage of a batch run (Prepare, and Run's
// refresh).
func linkPersons(ctx context.Context, sess *Session, j *job.Job, icfg identity.Config, log *slog.Logger) (*identity.Summary, error) {
	icfg.Threshold = j.Identity.ThresholdValue
	modelFile := j.Resolve(j.Identity.Model)
	if modelFile != "" {
		sv, err := identity.ReadModelFile(modelFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			log.Info("identity: no model file yet: the model is trained and written there", "file", modelFile)
		case err != nil:
			return nil, fmt.Errorf("identity.model: %w", err)
		default:
			icfg.Saved = sv
		}
	}
	sum, err := identity.Link(ctx, sess.DB, icfg)
	if err != nil {
		return sum, fmt.Errorf("identity resolution: %w", err)
	}
	if modelFile != "" && sum.Trained {
		// A new or retrained model: keep it for the next run.
		sv, err := identity.LoadModel(ctx, sess.DB)
		if err == nil {
			err = identity.WriteModelFile(modelFile, sv)
		}
		if err != nil {
			return nil, fmt.Errorf("identity.model: %w", err)
		}
		log.Info("identity: model written", "file", modelFile, "retrain", strings.Join(sum.Retrain, "; "))
	} else if modelFile != "" {
		log.Info("identity: model reused", "file", modelFile, "reused", sum.Reused)
	}
	return sum, nil
}

// applyLinks copies each record's link method and probability into its
// table and gives records of the departmental extracts (not the payment
// rolls) the person found by probabilistic linkage: a cremation record
// without ID number then reaches the rules, marked as such. Payments keep
// an unresolved ID unresolved, so invalid_id still reports it.
func (s *Session) applyLinks(ctx context.Context, roles []dataset.Role) error {
	return s.applyLinksWhere(ctx, roles, "")
}

// applyLinksWhere is applyLinks on the rows of each table that also meet
// the SQL condition where ($t stands for the table; "" for every row).
func (s *Session) applyLinksWhere(ctx context.Context, roles []dataset.Role, where string) error {
	for _, r := range roles {
		if !hasPersonKey(r) {
			continue
		}
		t := Ident(Table(r))
		// Rows keyed by their ID number got their method at load (and in
		// repairIDs); only the rows whose values change are updated, which
		// at 10M records is a few hundred thousand instead of all.
		set, changed, cond := "", "", ""
		if where != "" {
			cond = " AND (" + strings.ReplaceAll(where, "$t", t) + ")"
		}
		if r.Name != "payment" && r.Name != "person" {
			set = ", person_key = coalesce(" + t + ".person_key, CASE WHEN pl.method = 'probabilistic' THEN pl.person_key END)"
			changed = " OR (" + t + ".person_key IS NULL AND pl.method = 'probabilistic')"
		}
		q := fmt.Sprintf(`UPDATE %[1]s SET link_method = pl.method, link_probability = pl.match_probability%[3]s
			FROM person_link pl WHERE pl.table_name = %[2]s AND pl._rid = %[1]s._rid
				AND (%[1]s.link_method IS DISTINCT FROM pl.method OR %[1]s.link_probability IS DISTINCT FROM pl.match_probability%[4]s)%[5]s`,
			t, Lit(Table(r)), set, changed, cond)
		if err := s.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// Run executes a job end to end and writes its results: the store
// refresh of the job's reference sources (every source but the payment
// rolls; into opt.Store, else into a store in a temporary working
// folder), then the screening of every payment roll of the job against
// that store, by the code of `crosscheck screen` (Screener.Roll). The run
// folder is the one a batch run has always written (no stop-list).
func Run(ctx context.Context, j *job.Job, opt Options) (*Result, error) {
	started := time.Now()
	log, reg := withDefaults(opt.Log, opt.Registry)
	out := opt.OutDir
	if out == "" {
		out = j.Resolve(j.Output.Dir)
	}
	// A wrong output folder is refused before anything else, without
	// creating it; the job and its rules are checked before the folder is
	// opened.
	if err := rundir.Check(out, rundir.Options{Force: opt.Force}); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if _, err := compileRules(ctx, j); err != nil {
		return nil, err
	}
	if _, err := plan(ctx, j, reg); err != nil {
		return nil, err
	}
	check := time.Since(t0).Seconds()
	state, err := loadState(StatePath(j))
	if err != nil {
		return nil, err
	}
	// Every file of the run goes to a temporary folder inside the output
	// folder and is moved into place when the run succeeded
	// (docs/outputs.md); a second run into the folder is refused.
	run, err := rundir.Open(out, rundir.Options{Force: opt.Force})
	if err != nil {
		return nil, err
	}
	defer run.Close()
	// Without --store the store is built in the run's database (the job's
	// engine.database, in memory by default) and screened there: writing
	// it to a file and attaching it costs more than the run's other stages
	// together (docs/store.md). The working folder holds its lock and its
	// quarantine files.
	storePath := opt.Store
	var shared *Session
	if storePath == "" {
		// (the system's: engine.temp_directory may not exist yet, DuckDB
		// creates it when it spills)
		work, err := os.MkdirTemp("", "crosscheck-run-")
		if err != nil {
			return nil, fmt.Errorf("run: working folder: %w", err)
		}
		defer os.RemoveAll(work)
		storePath = filepath.Join(work, "ref.duckdb")
		if shared, err = Open(ctx, j.Engine); err != nil {
			return nil, err
		}
		defer shared.Close()
	}
	ref, err := RefreshStore(ctx, j, storePath, RefreshOptions{Registry: reg, Log: log, Progress: opt.Progress, Force: true, batch: true,
		Watermarks: state.Watermarks, StageDone: opt.StageDone, session: shared,
		Rejected: func(qdir string, err error) error {
			if at := keepRejected(run, qdir); at != "" {
				err = fmt.Errorf("%w\nthe quarantined rows (隔离行明细): %s", err, at)
			}
			return err
		}})
	if err != nil {
		return nil, err
	}
	b := &batchRun{run: run, j: j, started: started, state: state, ref: ref, storeQ: StoreQuarantineDir(ref.Store),
		incs: map[string]connectors.Incremental{}, stageDone: opt.StageDone}
	b.timings = append([]Timing{{Stage: "check", Seconds: check}}, ref.Timings...)
	if len(b.timings) > 1 && b.timings[1].Stage == "check" {
		// the refresh's own check (rules, plans, file hashes) is part of the run's
		b.timings[0].Seconds += b.timings[1].Seconds
		b.timings = append(b.timings[:1], b.timings[2:]...)
	}
	for name, w := range ref.Watermarks {
		b.incs[name] = pulled(w)
	}
	sopt := ScreenOptions{Log: log, Registry: reg, RawCells: opt.RawCells, Progress: opt.Progress}
	var s *Screener
	if shared != nil {
		s = &Screener{j: j, shared: shared, opt: sopt, log: log, reg: reg}
		err = s.compile(ctx)
	} else {
		s, err = openScreener(ctx, ref.Store, sopt, j)
	}
	if err != nil {
		return nil, err
	}
	defer s.Close()
	rr, err := s.Roll(ctx, RollInput{JobRolls: true, RawIDs: opt.RawIDs, batch: b}, out)
	if err != nil {
		return nil, err
	}
	return rr.Result, nil
}

// batchRun is what Run gives the screening of its rolls (Screener.Roll):
// the output folder it opened, the run state, and the refresh's counts,
// linkage summary, timings and quarantine files, so that the run folder
// is the one a batch run writes.
type batchRun struct {
	run       *rundir.Run
	j         *job.Job
	started   time.Time
	state     *State
	ref       *RefreshResult
	storeQ    string // the store's quarantine folder
	incs      map[string]connectors.Incremental
	timings   []Timing
	stageDone func(string)
}

// pulled is the watermark a reference source's pull reached in the
// refresh (connectors.Incremental for the run state).
type pulled string

func (pulled) SetWatermark(string) {}
func (w pulled) Watermark() string { return string(w) }

// setWatermarks makes the incremental payment sources pull after the run
// state's watermark.
func (b *batchRun) setWatermarks(plans []planned) {
	for _, pl := range plans {
		if inc, ok := incremental(pl); ok {
			inc.SetWatermark(b.state.Watermarks[pl.src.Name])
			b.incs[pl.src.Name] = inc
		}
	}
}

// prepare makes p, a screening of the job's rolls, the batch run's: its
// start, the refresh's timings and linkage, the run state, no store
// sequence in the run id.
func (b *batchRun) prepare(p *Prepared) {
	res := p.Result
	res.Started = b.started
	res.Timings = append([]Timing(nil), b.timings...)
	p.stage = func(name string, t0 time.Time) {
		debug.FreeOSMemory() // see Prepare
		res.Timings = append(res.Timings, Timing{Stage: name, Seconds: time.Since(t0).Seconds()})
		if b.stageDone != nil {
			b.stageDone(name)
		}
	}
	p.state, p.incs, p.noState, p.runSalt = b.state, b.incs, false, ""
	p.Identity = b.ref.Identity
}

// loaded, after the rolls are loaded, gives the run every source's counts
// in the job's order and the reference sources' quarantine files.
func (b *batchRun) loaded(p *Prepared) error {
	by := map[string]*mapping.Stats{}
	for _, st := range b.ref.Sources {
		by[st.Source] = st
	}
	for _, st := range p.Result.Sources {
		by[st.Source] = st
	}
	var all []*mapping.Stats
	for _, src := range b.j.Sources {
		if st := by[src.Name]; st != nil {
			all = append(all, st)
		}
	}
	p.Result.Sources = all
	files, err := os.ReadDir(b.storeQ)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	qdir := filepath.Join(p.out, "quarantine")
	if err := os.MkdirAll(qdir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		if err := copyFile(filepath.Join(b.storeQ, f.Name()), filepath.Join(qdir, f.Name())); err != nil {
			return fmt.Errorf("quarantine file: %w", err)
		}
	}
	return nil
}

// Screen runs the rules on a prepared job and writes the results.
func (p *Prepared) Screen(ctx context.Context) (*Result, error) {
	sess, j, res, comp, log, stage := p.Session, p.Job, p.Result, p.comp, p.log, p.stage
	t0 := time.Now()
	cat, err := sess.buildCatalogue(ctx, j)
	if err != nil {
		return nil, fmt.Errorf("program catalogue: %w", err)
	}
	res.Catalogue = cat
	if err := sess.prepareRules(ctx, j); err != nil {
		return nil, err
	}
	log.Info("rules: catalogue and screened payments prepared", "seconds", time.Since(t0).Seconds())
	sqls := map[string]string{}
	for _, c := range comp {
		sqls[c.ID] = c.SQL
	}
	res.RuleSet = rules.SetVersion(sqls)
	res.RunID = runID(j, res.Sources, res.RuleSet+p.runSalt)
	// From here on DuckDB can read nothing but the loaded tables and write
	// only to the output folder.
	if err := rules.Sandbox(ctx, sess.DB, p.out); err != nil {
		return nil, err
	}
	if err := sess.runRules(ctx, comp, j.Engine.RuleLimit, log); err != nil {
		return nil, err
	}
	stage("rules", t0)

	t0 = time.Now()
	if err := sess.buildHits(ctx, res.RunID); err != nil {
		return nil, err
	}
	if err := sess.buildCases(ctx); err != nil {
		return nil, err
	}
	stage("cases", t0)

	t0 = time.Now()
	res.Identity = p.Identity
	if err := sess.writeResults(ctx, j, res, p.out, p.raw, p.rawCells); err != nil {
		return nil, err
	}
	stage("write", t0)
	res.PeakRSS = PeakRSS()
	res.Elapsed = time.Since(res.Started)
	if len(p.incs) > 0 {
		res.Watermarks = map[string][2]string{}
		for name, inc := range p.incs {
			res.Watermarks[name] = [2]string{p.state.Watermarks[name], inc.Watermark()}
			p.state.Watermarks[name] = inc.Watermark()
		}
	}
	// The run report and the publication base are outputs of the run like
	// the others: written into the temporary folder before the commit.
	pt, err := sess.WriteRunReport(ctx, j, res, comp, p.state.History, p.out)
	if err != nil {
		return nil, err
	}
	if err := sess.WritePublicationBase(ctx, res.Catalogue, p.out); err != nil {
		return nil, err
	}
	if p.beforeCommit != nil {
		if err := p.beforeCommit(ctx); err != nil {
			return nil, err
		}
	}
	if err := writeManifest(j, res, comp, p.run); err != nil {
		return nil, err
	}
	if p.noState {
		return res, nil
	}
	p.state.History = appendHistory(p.state.History, pt)
	if err := p.state.save(StatePath(j)); err != nil {
		if len(p.incs) > 0 {
			return nil, err
		}
		// Without incremental sources the state only feeds the report's
		// trend: a job folder that cannot be written is no reason to fail.
		log.Warn("run history not saved (the next report shows no trend)", "error", err)
	}
	return res, nil
}

// runID is a hash of what determines the results: engine version, job
// (without its output settings), input file hashes and the rule set.
func runID(j *job.Job, stats []*mapping.Stats, ruleSet string) string {
	h := sha256.New()
	jj := *j
	jj.Output = job.Output{}
	b, _ := json.Marshal(jj)
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", Version, b, ruleSet)
	for _, st := range stats {
		for _, in := range st.Inputs {
			fmt.Fprintf(h, "%s\x00%s\x00", filepath.Base(in.Path), in.SHA256)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (s *Session) countDuplicates(ctx context.Context, roles []dataset.Role, stats []*mapping.Stats) error {
	by := map[string]*mapping.Stats{}
	for _, st := range stats {
		by[st.Source] = st
	}
	for _, r := range roles {
		key := r.Key
		if key == "" {
			continue
		}
		if hasPersonKey(r) && key == "id_number" {
			key = dataset.ColPersonKey
		}
		q := fmt.Sprintf(`SELECT _source, sum(n) FROM (SELECT _source, %s, count(*) AS n FROM %s WHERE %s IS NOT NULL
			GROUP BY ALL HAVING count(*) > 1) GROUP BY _source`, Ident(key), Ident(Table(r)), Ident(key))
		rows, err := s.DB.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		for rows.Next() {
			var src string
			var n int64
			if err := rows.Scan(&src, &n); err != nil {
				rows.Close()
				return err
			}
			if st := by[src]; st != nil {
				st.Duplicates = n
			}
		}
		rows.Close()
	}
	return nil
}

// prepareRules creates the helper macros rules use and the screened
// view (schema.Prelude) for the job's sources and periods. A database
// file written by an older version holds screened as a table, which the
// view cannot replace: it is dropped first.
func (s *Session) prepareRules(ctx context.Context, j *job.Job) error {
	var old int
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()
		AND schema_name = current_schema() AND table_name = `+Lit(schema.Screened)).Scan(&old); err != nil {
		return err
	}
	if old > 0 {
		if err := s.Exec(ctx, "DROP TABLE "+Ident(schema.Screened)); err != nil {
			return err
		}
	}
	personal := personalColumns(j)
	srcs := make([]schema.Source, len(j.Sources))
	for i, src := range j.Sources {
		srcs[i] = schema.Source{Name: src.Name, Title: src.Title, Personal: personal[src.Name]}
	}
	return s.Exec(ctx, schema.Prelude(srcs, j.Periods)...)
}

// runRules runs the rules into rule_hits, each within limit (see
// runRulesLimited).
func (s *Session) runRules(ctx context.Context, comp []rules.Compiled, limit time.Duration, log *slog.Logger) error {
	return s.runRulesLimited(ctx, comp, "rule_hits", limit, log)
}

// buildHits writes the hits table (schema.RouteSQL, then schema.HitsSQL).
func (s *Session) buildHits(ctx context.Context, runID string) error {
	if err := s.Exec(ctx, schema.RouteSQL...); err != nil {
		return fmt.Errorf("routing: %w", err)
	}
	return s.Exec(ctx, schema.HitsSQL(runID))
}

// buildCases groups hits into cases (schema.CasesSQL).
func (s *Session) buildCases(ctx context.Context) error {
	return s.Exec(ctx, schema.CasesSQL)
}

// caseRouting counts the run's cases by where their region came from and
// those routed to no county (into res).
func (s *Session) caseRouting(ctx context.Context, res *Result) error {
	rows, err := s.DB.QueryContext(ctx, `SELECT route_from, count(*), count(*) FILTER (WHERE county_code = '') FROM cases GROUP BY 1 ORDER BY 1`)
	if err != nil {
		return err
	}
	defer rows.Close()
	res.CaseRouting, res.NoCounty = map[string]int64{}, 0
	for rows.Next() {
		var from string
		var n, noCounty int64
		if err := rows.Scan(&from, &n, &noCounty); err != nil {
			return err
		}
		res.CaseRouting[from] = n
		res.NoCounty += noCounty
	}
	return rows.Err()
}

// routingMarkdown is quality.md's section on case routing.
func routingMarkdown(b *strings.Builder, routing map[string]int64, noCounty int64) {
	if routing == nil {
		return
	}
	b.WriteString("\n## 案件归属 / Case routing\n\n")
	b.WriteString("Every case is routed to its program's department and the county of its payment. Payments whose roll gives no region code are placed by the person's registered address code (person registry), else by the payee's household, else by the prefecture or province of the roll.\n\n")
	b.WriteString("| region from | cases |\n|---|---:|\n")
	for _, k := range []string{"payment", "person", "household", "roll_prefecture", "roll_province", "none"} {
		if n := routing[k]; n > 0 {
			fmt.Fprintf(b, "| %s | %d |\n", k, n)
		}
	}
	fmt.Fprintf(b, "\n- cases with no county (无县区归属): %d — in the department's prefecture or province queue: %d, with no region at all (admin and analyst only): %d\n",
		noCounty, noCounty-routing["none"], routing["none"])
}
