package casestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

// RequiredHitColumns are the hits.parquet columns an import reads: a
// subset of a run's schema.HitColumns, in its order (person_key and
// route_region are read when present: older runs' files lack them; see
// docs/outputs.md).
var RequiredHitColumns = []string{"run_id", "hit_id", "rule_id", "category", "severity", "payment_id", "program_code",
	"program_name", "department", "period", "region_code", "id_number", "id_status", "name", "amount", "explanation",
	"evidence", "payment_source", "payment_file", "payment_row"}

// ImportOptions configure Import.
type ImportOptions struct {
	// Manifest is the run's manifest.json; "" looks beside the hits file and
	// goes without one when there is none. It gives the periods the run
	// screened, its payment sources and its rule set.
	Manifest string
	// NoManifest ignores any manifest.json beside the hits file.
	NoManifest bool
	// Periods overrides the screened periods (YYYY-MM) used to decide that
	// a death a case rests on was withdrawn.
	Periods []string
	// Actor is recorded in the audit log (default System).
	Actor *Actor
	// Persons, when not nil, are the only persons (person keys) the run
	// screened (crosscheck screen --changed re-screens the persons whose
	// reference data changed): only their cases can be flagged "death
	// record withdrawn".
	Persons []string
}

// ImportResult counts what an import did.
type ImportResult struct {
	RunID           string `json:"run_id"`
	Hits            int64  `json:"hits"`
	NewCases        int64  `json:"new_cases"`
	MergedCases     int64  `json:"merged_cases"`
	SuppressedHits  int64  `json:"suppressed_hits"`
	ExceptedHits    int64  `json:"excepted_hits"`
	ReopenedCases   int64  `json:"reopened_cases"`
	WithdrawnDeaths int64  `json:"withdrawn_deaths"`
	// How the run's cases became store cases (see docs/review.md):
	// RunCases (one per person, program and period, as the run's
	// cases.parquet) - RunCasesExcepted (every hit matched to the
	// exception register) - PeriodsMerged (run cases of one person and
	// program joined into one store case) = NewCases + MergedCases.
	RunCases         int64 `json:"run_cases"`
	RunCasesExcepted int64 `json:"run_cases_excepted"`
	PeriodsMerged    int64 `json:"periods_merged"`
	// SuppressedCases are the cases gaining hits that are dismissed with
	// unchanged evidence: their new hits are suppressed, the case stays.
	SuppressedCases int64 `json:"suppressed_cases"`
	// NoCounty counts the new and updated cases routed to no county: to
	// the department's prefecture (or province) queue when only that is
	// known, or to no region at all (admins and analysts only).
	NoCounty int64         `json:"no_county"`
	NoRegion int64         `json:"no_region"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// Import reads the hits.parquet of a run and builds or updates cases:
//   - hits are grouped per person and program; a group joins the latest
//     case of that person and program unless that case was confirmed and
//     closed before the group's first period, in which case a new case is
//     raised (so a case open from last month gains this month's payments);
//   - hits of a person and rule in the exception register are kept but
//     raise nothing;
//   - a dismissed case whose evidence is unchanged takes the new hits as
//     suppressed and stays as it is; with changed evidence it is reopened;
//   - a case resting on a death that this run (screening the same periods
//     and rolls) no longer sees is flagged "death record withdrawn" and, if
//     it was confirmed, reopened;
//   - deadlines, rule precision and priorities are recomputed.
//
// All of it commits in one transaction. A run imported before gives
// ErrAlreadyImported.
func (s *Store) Import(ctx context.Context, hitsPath string, o ImportOptions) (*ImportResult, error) {
	t0 := time.Now()
	actor := System
	if o.Actor != nil {
		actor = *o.Actor
	}
	if !actor.Role.CanAdmin() {
		return nil, ErrForbidden
	}
	if _, err := os.Stat(hitsPath); err != nil {
		return nil, fmt.Errorf("hits: %w", err)
	}
	var m *manifest
	if !o.NoManifest {
		var err error
		if m, err = readManifest(hitsPath, o.Manifest); err != nil {
			return nil, err
		}
	}
	p := s.Params()
	cal := p.calendar()
	now := s.now().UTC()
	res := &ImportResult{}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.inTxLocked(ctx, func(tx *sql.Tx) error {
		return importTx(ctx, tx, hitsPath, m, o, actor, p, cal, now, res)
	})
	if err != nil {
		return nil, err
	}
	if err := s.reloadIndex(ctx); err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(t0)
	s.log.Info("import", "run", res.RunID, "hits", res.Hits, "new_cases", res.NewCases, "merged", res.MergedCases,
		"suppressed", res.SuppressedHits, "reopened", res.ReopenedCases, "seconds", res.Elapsed.Seconds())
	return res, nil
}

// AlreadyImportedError is the error of an import of a run imported
// before; errors.Is(err, ErrAlreadyImported) holds. The same run id means
// the same engine, job, inputs and rules, hence the same hits: importing
// it again would change nothing.
type AlreadyImportedError struct {
	RunID      string
	ImportedAt time.Time
	ImportedBy string
}

func (e *AlreadyImportedError) Error() string {
	return fmt.Sprintf("run %s: %s (%s UTC by %s)", e.RunID, ErrAlreadyImported, e.ImportedAt.UTC().Format("2006-01-02 15:04"), e.ImportedBy)
}

// Unwrap gives ErrAlreadyImported.
func (e *AlreadyImportedError) Unwrap() error { return ErrAlreadyImported }

func execAll(ctx context.Context, tx *sql.Tx, stmts ...string) error {
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			first := q
			if len(first) > 300 {
				first = first[:300] + "…"
			}
			return fmt.Errorf("%w\nin SQL: %s", err, first)
		}
	}
	return nil
}

func count(ctx context.Context, tx *sql.Tx, q string, args ...any) (int64, error) {
	var n int64
	err := tx.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}

func sqlList(vals []string) string {
	if len(vals) == 0 {
		return "(NULL)"
	}
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = lit(v)
	}
	return "(" + strings.Join(q, ", ") + ")"
}

func importTx(ctx context.Context, tx *sql.Tx, hitsPath string, m *manifest, o ImportOptions, actor Actor, p Params, cal *Calendar, now time.Time, res *ImportResult) error {
	if err := execAll(ctx, tx, fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE imp_raw AS SELECT * FROM read_parquet(%s)`, lit(hitsPath))); err != nil {
		return fmt.Errorf("read %s: %w", hitsPath, err)
	}
	cols := map[string]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT column_name FROM (DESCRIBE imp_raw)`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return err
		}
		cols[c] = true
	}
	rows.Close()
	var missing []string
	for _, c := range RequiredHitColumns {
		if !cols[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: %w: not a hits file: missing columns %s", hitsPath, ErrInvalid, strings.Join(missing, ", "))
	}
	var runs int64
	if runs, err = count(ctx, tx, `SELECT count(DISTINCT run_id) FROM imp_raw`); err != nil {
		return err
	}
	if runs > 1 {
		return fmt.Errorf("%s: %w: holds %d runs; import one run at a time", hitsPath, ErrInvalid, runs)
	}
	if runs == 0 {
		if m == nil || m.RunID == "" {
			return fmt.Errorf("%s: %w: no hits and no manifest to name the run", hitsPath, ErrInvalid)
		}
		res.RunID = m.RunID
	} else if err := tx.QueryRowContext(ctx, `SELECT any_value(run_id) FROM imp_raw`).Scan(&res.RunID); err != nil {
		return err
	}
	if m != nil && m.RunID != "" && m.RunID != res.RunID {
		return fmt.Errorf("%w: manifest is of run %s, hits of run %s", ErrInvalid, m.RunID, res.RunID)
	}
	var prevAt time.Time
	var prevBy string
	switch err := tx.QueryRowContext(ctx, `SELECT imported_at, imported_by FROM runs WHERE run_id = ?`, res.RunID).Scan(&prevAt, &prevBy); {
	case err == nil:
		return &AlreadyImportedError{RunID: res.RunID, ImportedAt: prevAt, ImportedBy: prevBy}
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	run := lit(res.RunID)

	// Periods and payment sources the run screened.
	periods := o.Periods
	var paySources []string
	var ruleSet string
	if m != nil {
		if len(periods) == 0 {
			periods = m.Job.Periods
		}
		for _, src := range m.Sources {
			if src.Role == "payment" {
				paySources = append(paySources, src.Name)
			}
		}
		ruleSet = m.RuleSet
	}
	if len(periods) == 0 {
		if periods, err = strings1(ctx, tx, `SELECT DISTINCT period::VARCHAR FROM imp_raw ORDER BY 1`); err != nil {
			return err
		}
	}
	more, err := strings1(ctx, tx, `SELECT DISTINCT payment_source FROM imp_raw ORDER BY 1`)
	if err != nil {
		return err
	}
	paySources = dedupe(append(paySources, more...))
	ps := sqlList(paySources)
	// The run's own case key (engine buildCases): its person, else the
	// payment row. Hits files written before person_key was read have
	// only the store's key.
	runKey := `NULL::VARCHAR`
	if cols["person_key"] {
		runKey = `coalesce(nullif(person_key::VARCHAR, ''), 'payment:' || payment_source || ':' || payment_file || ':' || payment_row)`
	}
	// The region a case is routed by: the engine's route_region (the
	// payment's, else the person's registry address, else the household's,
	// else the roll's prefecture) when the hits file has it.
	region := `coalesce(region_code::VARCHAR, '')`
	if cols["route_region"] {
		region = `coalesce(nullif(route_region::VARCHAR, ''), region_code::VARCHAR, '')`
	}

	err = execAll(ctx, tx,
		`CREATE OR REPLACE TEMP TABLE imp AS
		SELECT run_id, hit_id, rule_id, category, severity, payment_id::VARCHAR AS payment_id, program_code, program_name,
			department, period::VARCHAR AS period, `+region+` AS region_code, id_number, id_status, name,
			amount::DECIMAL(18,2) AS amount, explanation, evidence::VARCHAR AS evidence, payment_source, payment_file,
			payment_row::BIGINT AS payment_row,
			CASE WHEN id_status IN ('valid', 'upgraded') AND coalesce(id_number, '') <> '' THEN id_number
			     WHEN coalesce(id_number, '') <> '' THEN 'raw:' || id_number || '|' || coalesce(name, '')
			     ELSE 'payment:' || payment_source || '|' || payment_file || '|' || payment_row END AS person_key,
			`+runKey+` AS run_key
		FROM imp_raw`,
		// Evidence rows; rows from non-payment sources are the material evidence.
		`CREATE OR REPLACE TEMP TABLE imp_ev AS
		SELECT hit_id, json_extract_string(e, '$.source') AS source, json_extract(e, '$.values')::VARCHAR AS vals
		FROM (SELECT hit_id, unnest(json_extract(evidence, '$[*]')) AS e FROM imp WHERE evidence IS NOT NULL AND json_valid(evidence))`,
		`CREATE OR REPLACE TEMP TABLE imp_fp AS
		SELECT i.hit_id,
			md5(i.rule_id || '|' || coalesce(string_agg(e.source || '=' || e.vals, ';' ORDER BY e.source, e.vals)
				FILTER (WHERE e.source NOT IN `+ps+`), '') || '|' || count(e.source) FILTER (WHERE e.source IN `+ps+`)) AS fingerprint,
			coalesce(list_sort(list_distinct(list(e.source) FILTER (WHERE e.source NOT IN `+ps+`))), []) AS ev_sources,
			CASE WHEN any_value(i.category) = 'deceased' THEN
				coalesce(string_agg(e.source || '=' || e.vals, ';' ORDER BY e.source, e.vals) FILTER (WHERE e.source NOT IN `+ps+`), '') END AS death_fp
		FROM imp i LEFT JOIN imp_ev e USING (hit_id)
		GROUP BY i.hit_id, i.rule_id`,
		fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE imp_exc AS
		SELECT i.hit_id, min(x.id) AS exception_id
		FROM imp i JOIN exceptions x ON x.person_key = i.person_key
			AND (x.rule_id = '*' OR x.rule_id = i.rule_id) AND (x.program_code = '*' OR x.program_code = i.program_code)
			AND x.revoked_at IS NULL AND (x.expires IS NULL OR x.expires >= %s::DATE)
		GROUP BY i.hit_id`, lit(now.In(cal.loc).Format("2006-01-02"))),
		`CREATE OR REPLACE TEMP TABLE grp AS
		SELECT person_key, program_code, min(period) AS first_period, max(period) AS last_period
		FROM imp ANTI JOIN imp_exc USING (hit_id) GROUP BY ALL`,
		`CREATE OR REPLACE TEMP TABLE prev AS
		SELECT * FROM (
			SELECT c.person_key, c.program_code, c.case_id, c.status, c.decision, c.last_period, c.assignee,
				row_number() OVER (PARTITION BY c.person_key, c.program_code ORDER BY c.created_at DESC, c.case_id DESC) AS rn,
				count(*) OVER (PARTITION BY c.person_key, c.program_code) AS n
			FROM cases c SEMI JOIN grp g ON g.person_key = c.person_key AND g.program_code = c.program_code)
		WHERE rn = 1`,
		`CREATE OR REPLACE TEMP TABLE tgt AS
		SELECT *, CASE WHEN is_new THEN substr(md5(CASE WHEN n_prev = 0 THEN concat_ws('|', person_key, program_code, first_period)
				ELSE concat_ws('|', person_key, program_code, first_period, n_prev) END), 1, 16) ELSE prev_id END AS case_id
		FROM (
			SELECT g.person_key, g.program_code, g.first_period,
				p.case_id IS NULL OR (p.status = 'closed' AND p.decision = 'confirmed' AND g.first_period > p.last_period) AS is_new,
				p.case_id AS prev_id, p.status AS prev_status, p.decision AS prev_decision, coalesce(p.n, 0) AS n_prev
			FROM grp g LEFT JOIN prev p USING (person_key, program_code))`,
		// Changed: a hit whose material evidence the case has not seen.
		`CREATE OR REPLACE TEMP TABLE chg AS
		SELECT t.case_id, count(*) FILTER (WHERE k.fingerprint IS NULL) > 0 AS changed
		FROM tgt t JOIN imp i USING (person_key, program_code) JOIN imp_fp f USING (hit_id)
		LEFT JOIN (SELECT DISTINCT case_id, fingerprint FROM hits WHERE case_id IN (SELECT case_id FROM tgt WHERE NOT is_new)) k
			ON k.case_id = t.case_id AND k.fingerprint = f.fingerprint
		WHERE NOT t.is_new AND i.hit_id NOT IN (SELECT hit_id FROM imp_exc)
		GROUP BY t.case_id`,
	)
	if err != nil {
		return err
	}
	if n, err := count(ctx, tx, `SELECT count(*) FROM tgt t JOIN cases c USING (case_id) WHERE t.is_new`); err != nil {
		return err
	} else if n > 0 {
		return fmt.Errorf("internal error: %d new case ids collide with existing cases", n)
	}
	err = execAll(ctx, tx,
		`INSERT INTO hits
		SELECT i.run_id, i.hit_id, CASE WHEN x.exception_id IS NULL THEN t.case_id END,
			CASE WHEN x.exception_id IS NOT NULL THEN 'exception:' || x.exception_id
			     WHEN NOT t.is_new AND t.prev_decision = 'dismissed' AND NOT coalesce(c.changed, false) THEN 'dismissed' END,
			i.rule_id, i.category, i.severity, i.payment_id, i.program_code, i.program_name, i.department, i.period,
			i.region_code, i.id_number, i.id_status, i.name, i.amount, i.explanation, i.evidence,
			i.payment_source, i.payment_file, i.payment_row, i.person_key, f.fingerprint, f.ev_sources, f.death_fp
		FROM imp i JOIN imp_fp f USING (hit_id) LEFT JOIN imp_exc x USING (hit_id)
		LEFT JOIN tgt t ON t.person_key = i.person_key AND t.program_code = i.program_code
		LEFT JOIN chg c ON c.case_id = t.case_id`,
		// Deaths withdrawn: a case's death hit in a period and roll this run
		// screened, and no death hit for the person in this run.
		`CREATE OR REPLACE TEMP TABLE wd AS
		SELECT DISTINCT h.case_id FROM hits h JOIN cases c USING (case_id)
		WHERE h.category = 'deceased' AND h.run_id <> `+run+` AND NOT c.death_withdrawn
			AND h.period IN `+sqlList(periods)+` AND h.payment_source IN `+ps+`
			AND h.person_key NOT IN (SELECT person_key FROM imp WHERE category = 'deceased')`+screenedPersons(o.Persons),
	)
	if err != nil {
		return err
	}
	if err := aggregateTx(ctx, tx, `SELECT case_id FROM tgt`); err != nil {
		return err
	}
	dueNew := p.dueFor(cal, StatusNew, now)
	dueAssigned := p.dueFor(cal, StatusAssigned, now)
	err = execAll(ctx, tx,
		`CREATE OR REPLACE TEMP TABLE flags AS
		SELECT t.case_id, t.is_new, coalesce(c.changed, false) AS changed, w.case_id IS NOT NULL AS withdrawn,
			NOT t.is_new AND ((t.prev_decision = 'dismissed' AND coalesce(c.changed, false))) AS reopen
		FROM tgt t LEFT JOIN chg c USING (case_id) LEFT JOIN wd w USING (case_id)
		UNION ALL
		SELECT w.case_id, false, false, true, false FROM wd w ANTI JOIN tgt USING (case_id)`,
		`UPDATE flags SET reopen = true FROM cases c WHERE flags.case_id = c.case_id AND flags.withdrawn AND c.decision = 'confirmed'`,
	)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO cases (case_id, person_key, id_number, id_status, name, program_code, program_name,
			department, region_code, county_code, township_code, prefecture_code, first_period, last_period, periods, severity,
			categories, rule_ids, hits, payments, amount, amount_per_month, sources, source_list, link_probability,
			status, stage_started, due_at, suppressed_hits, run_ids, first_run, last_run, created_at, updated_at, version)
		SELECT a.case_id, a.person_key, a.id_number, a.id_status, a.name, a.program_code, a.program_name,
			a.department, a.region_code, a.county_code, a.township_code, a.prefecture_code, a.first_period, a.last_period, a.periods,
			a.severity, a.categories, a.rule_ids, a.hits, a.payments, a.amount, a.amount_per_month, a.sources, a.source_list, 1.0,
			'new', ?, ?, a.suppressed_hits, a.run_ids, `+run+`, `+run+`, ?, ?, 1
		FROM agg a JOIN tgt t USING (case_id) WHERE t.is_new`, now, dueNew, now, now); err != nil {
		return fmt.Errorf("insert cases: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE cases SET
			id_number = a.id_number, id_status = a.id_status, name = a.name, program_name = a.program_name,
			department = a.department, region_code = a.region_code, county_code = a.county_code,
			township_code = a.township_code, prefecture_code = a.prefecture_code,
			first_period = a.first_period, last_period = a.last_period, periods = a.periods, severity = a.severity,
			categories = a.categories, rule_ids = a.rule_ids, hits = a.hits, payments = a.payments, amount = a.amount,
			amount_per_month = a.amount_per_month, sources = a.sources, source_list = a.source_list,
			suppressed_hits = a.suppressed_hits, run_ids = a.run_ids, last_run = `+run+`, updated_at = ?, version = cases.version + 1
		FROM agg a JOIN tgt t USING (case_id) WHERE cases.case_id = a.case_id AND NOT t.is_new`, now); err != nil {
		return fmt.Errorf("update cases: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE cases SET
			evidence_changed = cases.evidence_changed OR f.changed OR f.withdrawn,
			death_withdrawn = cases.death_withdrawn OR f.withdrawn,
			status = CASE WHEN f.reopen THEN CASE WHEN cases.assignee IS NOT NULL THEN 'assigned' ELSE 'new' END ELSE cases.status END,
			stage_started = CASE WHEN f.reopen THEN ? ELSE cases.stage_started END,
			due_at = CASE WHEN f.reopen THEN CASE WHEN cases.assignee IS NOT NULL THEN ?::TIMESTAMP ELSE ?::TIMESTAMP END ELSE cases.due_at END,
			decision = CASE WHEN f.reopen THEN NULL ELSE cases.decision END,
			outcome_payment_stopped = CASE WHEN f.reopen THEN NULL ELSE cases.outcome_payment_stopped END,
			outcome_to_recover = CASE WHEN f.reopen THEN NULL ELSE cases.outcome_to_recover END,
			outcome_recovered = CASE WHEN f.reopen THEN NULL ELSE cases.outcome_recovered END,
			outcome_referred = CASE WHEN f.reopen THEN NULL ELSE cases.outcome_referred END,
			outcome_note = CASE WHEN f.reopen THEN NULL ELSE cases.outcome_note END,
			dismiss_reason = CASE WHEN f.reopen THEN NULL ELSE cases.dismiss_reason END,
			dismiss_text = CASE WHEN f.reopen THEN NULL ELSE cases.dismiss_text END,
			decided_at = CASE WHEN f.reopen THEN NULL ELSE cases.decided_at END,
			closed_at = CASE WHEN f.reopen THEN NULL ELSE cases.closed_at END,
			reopened = cases.reopened + CASE WHEN f.reopen THEN 1 ELSE 0 END,
			updated_at = ?, version = cases.version + CASE WHEN f.is_new THEN 0 ELSE 1 END
		FROM flags f WHERE cases.case_id = f.case_id AND (f.changed OR f.withdrawn OR f.reopen)`,
		now, dueAssigned, dueNew, now); err != nil {
		return fmt.Errorf("update case flags: %w", err)
	}
	// Case events: created, hits added (suppressed or not), reopened, death withdrawn.
	ev := func(action, from, to, detail, where string) string {
		return fmt.Sprintf(`INSERT INTO case_events (case_id, ts, actor, action, from_status, to_status, detail, reason, run_id)
			SELECT f.case_id, %s, %s, %s, %s, %s, %s, NULL, %s FROM flags f JOIN tgt_status s USING (case_id) WHERE %s`,
			lit(now.Format("2006-01-02 15:04:05.999999")), lit(actor.User), lit(action), from, to, detail, run, where)
	}
	err = execAll(ctx, tx,
		`CREATE OR REPLACE TEMP TABLE tgt_status AS
		SELECT f.case_id, t.prev_status, c.status, coalesce(n.n, 0) AS added, coalesce(n.sup, 0) AS sup
		FROM flags f JOIN cases c USING (case_id) LEFT JOIN tgt t USING (case_id)
		LEFT JOIN (SELECT case_id, count(*) AS n, count(*) FILTER (WHERE suppressed IS NOT NULL) AS sup FROM hits WHERE run_id = `+run+` GROUP BY ALL) n USING (case_id)`,
		ev("created", "NULL", "'new'", `json_object('hits', s.added)::VARCHAR`, "f.is_new"),
		ev("hits_added", "s.prev_status", "s.status", `json_object('hits', s.added, 'suppressed', s.sup, 'evidence_changed', f.changed)::VARCHAR`, "NOT f.is_new AND s.added > 0"),
		ev("death_withdrawn", "coalesce(s.prev_status, s.status)", "s.status", `'{}'`, "f.withdrawn"),
		ev("reopened", "coalesce(s.prev_status, 'closed')", "s.status", `json_object('cause', CASE WHEN f.withdrawn THEN 'death_withdrawn' ELSE 'evidence_changed' END)::VARCHAR`, "f.reopen"),
	)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		dst *int64
		q   string
	}{
		{&res.Hits, `SELECT count(*) FROM imp`},
		{&res.NewCases, `SELECT count(*) FROM tgt WHERE is_new`},
		{&res.MergedCases, `SELECT count(*) FROM tgt WHERE NOT is_new`},
		{&res.SuppressedHits, `SELECT count(*) FROM hits WHERE run_id = ` + run + ` AND suppressed = 'dismissed'`},
		{&res.ExceptedHits, `SELECT count(*) FROM imp_exc`},
		{&res.ReopenedCases, `SELECT count(*) FROM flags WHERE reopen`},
		{&res.WithdrawnDeaths, `SELECT count(*) FROM flags WHERE withdrawn`},
		{&res.RunCases, `SELECT count(DISTINCT (coalesce(run_key, person_key), program_code, period)) FROM imp`},
		{&res.RunCasesExcepted, `SELECT count(*) FROM (SELECT coalesce(run_key, person_key), program_code, period FROM imp
			GROUP BY ALL HAVING bool_and(hit_id IN (SELECT hit_id FROM imp_exc)))`},
		{&res.SuppressedCases, `SELECT count(*) FROM tgt t LEFT JOIN chg c USING (case_id)
			WHERE NOT t.is_new AND t.prev_decision = 'dismissed' AND NOT coalesce(c.changed, false)`},
		{&res.NoCounty, `SELECT count(*) FROM cases WHERE case_id IN (SELECT case_id FROM tgt) AND coalesce(county_code, '') = ''`},
		{&res.NoRegion, `SELECT count(*) FROM cases WHERE case_id IN (SELECT case_id FROM tgt) AND coalesce(region_code, '') = ''`},
	} {
		if *c.dst, err = count(ctx, tx, c.q); err != nil {
			return err
		}
	}
	res.PeriodsMerged = res.RunCases - res.RunCasesExcepted - res.NewCases - res.MergedCases
	if err := refreshTx(ctx, tx, p, cal, now); err != nil {
		return err
	}
	var prevRuleSet sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT rule_set FROM runs WHERE rule_set IS NOT NULL ORDER BY imported_at DESC LIMIT 1`).Scan(&prevRuleSet); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO runs VALUES (?, ?, ?, ?, `+listLit(periods)+`, `+listLit(paySources)+`, ?, ?, ?, ?, ?, ?, ?)`,
		res.RunID, now, actor.User, hitsPath, nullIf(ruleSet), res.Hits, res.NewCases, res.MergedCases, res.SuppressedHits,
		res.ReopenedCases, res.WithdrawnDeaths); err != nil {
		return err
	}
	if err := auditTx(ctx, tx, now, actor, "run.import", "run", res.RunID, res, ""); err != nil {
		return err
	}
	if ruleSet != "" && prevRuleSet.Valid && prevRuleSet.String != ruleSet {
		if err := auditTx(ctx, tx, now, actor, "rules.change", "rule_set", ruleSet,
			map[string]any{"before": prevRuleSet.String, "after": ruleSet, "rules": m.Rules, "run_id": res.RunID}, "rule set of an imported run differs from the previous run's"); err != nil {
			return err
		}
	}
	return execAll(ctx, tx, `DROP TABLE imp_raw`, `DROP TABLE imp`, `DROP TABLE imp_ev`, `DROP TABLE imp_fp`, `DROP TABLE imp_exc`,
		`DROP TABLE grp`, `DROP TABLE prev`, `DROP TABLE tgt`, `DROP TABLE chg`, `DROP TABLE wd`, `DROP TABLE flags`,
		`DROP TABLE tgt_status`, `DROP TABLE agg`)
}

// aggregateTx recomputes, into temp table agg, the aggregates of the cases
// the query selects, from their hits.
func aggregateTx(ctx context.Context, tx *sql.Tx, ids string) error {
	return execAll(ctx, tx, `CREATE OR REPLACE TEMP TABLE agg AS
		WITH h AS (SELECT * FROM hits WHERE case_id IN (`+ids+`)),
		pay AS (SELECT case_id, any_value(amount) AS amount FROM h
			GROUP BY case_id, payment_source, payment_file, payment_row, payment_id, period),
		pagg AS (SELECT case_id, sum(amount) AS amount, count(*) AS payments FROM pay GROUP BY case_id),
		src AS (SELECT case_id, list_sort(list_distinct(flatten(list(ev_sources)))) AS source_list FROM h GROUP BY case_id),
		a AS (
			SELECT case_id, any_value(person_key) AS person_key,
				arg_max(id_number, period) AS id_number, arg_max(id_status, period) AS id_status, arg_max(name, period) AS name,
				any_value(program_code) AS program_code, arg_max(program_name, period) AS program_name,
				arg_max(department, period) AS department, arg_max(region_code, period) AS region_code,
				min(period) AS first_period, max(period) AS last_period, count(DISTINCT period) AS periods,
				CASE max(CASE severity WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END)
					WHEN 3 THEN 'high' WHEN 2 THEN 'medium' ELSE 'low' END AS severity,
				list_sort(list_distinct(list(category))) AS categories, list_sort(list_distinct(list(rule_id))) AS rule_ids,
				count(DISTINCT hit_id || '|' || coalesce(period, '') || '|' || coalesce(payment_id, '')) AS hits,
				count(*) FILTER (WHERE suppressed IS NOT NULL) AS suppressed_hits,
				list_sort(list_distinct(list(run_id))) AS run_ids
			FROM h GROUP BY case_id)
		SELECT a.*, CASE WHEN length(a.region_code) >= 6 AND substr(a.region_code, 5, 2) <> '00' THEN left(a.region_code, 6) ELSE '' END AS county_code,
			CASE WHEN length(a.region_code) >= 9 AND substr(a.region_code, 5, 2) <> '00' THEN left(a.region_code, 9) ELSE '' END AS township_code,
			CASE WHEN length(a.region_code) >= 4 AND substr(a.region_code, 3, 2) <> '00' THEN left(a.region_code, 4) || '00' ELSE '' END AS prefecture_code,
			pagg.amount, pagg.payments, round(pagg.amount / greatest(a.periods, 1), 2) AS amount_per_month,
			len(src.source_list) AS sources, src.source_list
		FROM a JOIN pagg USING (case_id) JOIN src USING (case_id)`)
}

// refreshTx recomputes rule precision from decided cases and the priority
// of every case not closed (closed cases keep the priority they closed with).
func refreshTx(ctx context.Context, tx *sql.Tx, p Params, cal *Calendar, now time.Time) error {
	w := p.Weights
	W := w.Severity + w.Sources + w.Link + w.Money + w.Precision
	k := func(x float64) string { return fmt.Sprintf("%.6f", 100*x/W) }
	return execAll(ctx, tx,
		`CREATE OR REPLACE TEMP TABLE rule_prec AS
		SELECT rule_id, (count(*) FILTER (WHERE decision = 'confirmed') + 1.0) / (count(*) + 2.0) AS precision
		FROM (SELECT unnest(rule_ids) AS rule_id, decision FROM cases WHERE decision IN ('confirmed', 'dismissed'))
		GROUP BY rule_id`,
		fmt.Sprintf(`UPDATE cases SET rule_precision = q.prec, prio_severity = q.ps, prio_sources = q.pso, prio_link = q.pl,
			prio_money = q.pm, prio_precision = q.pp, priority = round(q.ps + q.pso + q.pl + q.pm + q.pp, 1)
		FROM (
			SELECT c.case_id, r.prec,
				%s * CASE c.severity WHEN 'high' THEN 1.0 WHEN 'medium' THEN 0.6 ELSE 0.3 END AS ps,
				%s * least(c.sources, 3) / 3.0 AS pso,
				%s * coalesce(c.link_probability, 1.0) AS pl,
				%s * least(1.0, ln(1 + greatest(c.amount_per_month, 0)::DOUBLE) / ln(1 + %f)) AS pm,
				%s * r.prec AS pp
			FROM cases c JOIN (
				SELECT case_id, max(coalesce(rp.precision, 0.5)) AS prec
				FROM (SELECT case_id, unnest(rule_ids) AS rule_id FROM cases WHERE status <> 'closed') u
				LEFT JOIN rule_prec rp USING (rule_id) GROUP BY case_id) r USING (case_id)
		) q
		WHERE cases.case_id = q.case_id AND (cases.priority IS NULL OR cases.priority <> round(q.ps + q.pso + q.pl + q.pm + q.pp, 1)
			OR cases.rule_precision IS DISTINCT FROM q.prec)`,
			k(w.Severity), k(w.Sources), k(w.Link), k(w.Money), p.MoneyCap, k(w.Precision)),
		`DROP TABLE rule_prec`,
	)
}

func strings1(ctx context.Context, tx *sql.Tx, q string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		if s.Valid {
			out = append(out, s.String)
		}
	}
	return out, rows.Err()
}

func dedupe(v []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range v {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// screenedPersons limits the withdrawn deaths to the persons a run
// screened, when it screened only some.
func screenedPersons(persons []string) string {
	if persons == nil {
		return ""
	}
	return " AND list_contains(" + listLit(persons) + ", h.person_key)"
}

func listLit(v []string) string {
	q := make([]string, len(v))
	for i, s := range v {
		q[i] = lit(s)
	}
	return "[" + strings.Join(q, ", ") + "]::VARCHAR[]"
}

func nullIf(s string) any {
	if s == "" {
		return nil
	}
	return s
}
