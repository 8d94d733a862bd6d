// Package identity resolves every record of the canonical tables to a
// person: exactly by its ID number when the ID is usable, and otherwise
// probabilistically against the person registry with a Fellegi-Sunter
// model (package linkage) over names in pinyin (package pinyin), birth
// dates, gender, division codes and damaged ID numbers.
//
// Link writes three tables and changes nothing else:
//
//	person_link            one row per record of the linked tables: the
//	                       person key, how it was reached and, for records
//	                       without a usable ID, the match weight and
//	                       probability and the competing candidates
//	person_link_candidate  every candidate pair scored for those records,
//	                       with each comparison's level (for Explain)
//	person_link_model      the model's m and u per comparison level and
//	                       the prior, as used
//	person_link_info       key/value: registry, thresholds, training
//
// Explain prints one record's candidates and each comparison's
// contribution to the match weight; WriteWeightHistogram draws the
// distribution of candidate match weights as SVG.
package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/crosscheck/crosscheck/identity/linkage"
)

// Methods: how a record's person key was reached (person_link.method).
const (
	MethodExact         = "exact"         // valid 18-character ID number
	MethodUpgraded      = "upgraded"      // valid 15-digit ID upgraded to 18
	MethodRepaired      = "repaired"      // ID repaired against the registry (engine)
	MethodProbabilistic = "probabilistic" // linked by the model
	MethodUnresolved    = "unresolved"    // no key: no candidate clearly good enough
)

// Train modes.
const (
	TrainAuto   = "auto"   // train when there are enough records (the default)
	TrainAlways = "always" // train whatever the size (tests)
	TrainNever  = "never"  // use PersonModel's starting values
)

// Config tunes Link. The zero value links every canonical table against
// "person" with the defaults below.
type Config struct {
	// Tables to link. Default: every table of the current schema with the
	// columns _rid, id_number, id_number_status, person_key and name_norm
	// (or name), the registry included.
	Tables []string
	// Registry is the person registry (default "person"): its records
	// with a person key are the candidates. Without it, the keyed records
	// of the linked tables are the candidates and training is skipped.
	Registry string
	// Threshold is the match probability a best candidate needs to be
	// linked. 0 (the default, job key identity.threshold: auto) chooses it
	// from the model's own estimates after scoring: the probability that
	// maximises the estimated F1 of the links among those whose expected
	// share of false links is at most ThresholdMaxFalse (see
	// linkage.ChooseThreshold), within [0.5, 0.999]. LinkRecords uses the
	// saved model's threshold when it is 0.
	Threshold float64
	// ThresholdMaxFalse bounds the expected share of false links of the
	// automatic threshold (default 0.002: a false link can stop a living
	// person's payment, and the model's estimates run about twice too
	// optimistic on the synthetic Chinese sets, see docs/benchmarks.md).
	ThresholdMaxFalse float64
	// Margin is how many bits the best candidate's match weight must
	// exceed the second best's (default 5: 32 times more likely).
	Margin float64
	// AllowNameMismatch links a candidate whose name is entirely different
	// (or missing). By default it cannot be linked, whatever its weight:
	// twins and other household members share birth date and address.
	AllowNameMismatch bool
	// MaxCandidates is the length of the candidates list (default 5);
	// candidates below MinCandidateProbability (default 0.01) are not
	// listed there (person_link_candidate keeps them all).
	MaxCandidates           int
	MinCandidateProbability float64
	// Train is TrainAuto, TrainAlways or TrainNever. Training uses up to
	// TrainSample (default 200,000) records with a usable ID from the
	// linked tables other than the registry against the registry, and
	// needs at least MinTrainRecords (default 1,000) of them and as many
	// registry records in auto mode.
	//
	// A model saved in the database by an earlier Link (LoadModel) is
	// reused in auto mode unless it has drifted (see CheckDrift): the
	// registry grew or shrank by more than RetrainChange (default 0.10),
	// the u of a comparison level moved by more than RetrainUBits
	// (default 1 bit) on a fresh random sample, or the model's definition
	// changed. TrainNever uses the saved model when there is one and the
	// starting values otherwise; TrainAlways retrains.
	Train           string
	TrainSample     int
	MinTrainRecords int
	RetrainChange   float64
	RetrainUBits    float64
	// CacheRegistry keeps the registry as the model reads it (pinyin keys,
	// region and ID prefixes) in the table person_link_ref, with a
	// fingerprint of the registry's rows in person_link_info, so that
	// LinkRecords skips preparing the registry again while it is
	// unchanged. Costs the table's space in the database.
	CacheRegistry bool
	// RegistryFingerprint, when not empty, stands for the registry's
	// content (e.g. a hash of the files it was loaded from and of the job
	// that loaded them) in place of the fingerprint computed by reading
	// its rows. A scoped run (LinkRecords) whose person_link_ref was
	// written with the same fingerprint reads the prepared registry from
	// it without reading the registry table at all. The caller vouches
	// that equal fingerprints mean equal registries.
	RegistryFingerprint string
	// Saved is a model saved by an earlier Link in another database
	// (ReadModelFile, job key identity.model). When set, it stands in for
	// the model saved in this database (LoadModel): auto mode reuses it
	// unless it has drifted or its definition differs, never mode uses it,
	// always mode ignores it.
	Saved *SavedModel
	// Seed makes sampling reproducible.
	Seed int64
	// Model replaces PersonModel (its prior is re-estimated unless
	// training is off). Its input columns must be among Prepare's.
	Model *linkage.Model
	// Log receives progress messages (counts and timings only, never
	// personal data). Nil discards them.
	Log *slog.Logger
}

func (c *Config) defaults() error {
	if c.Registry == "" {
		c.Registry = "person"
	}
	if c.Threshold < 0 || c.Threshold >= 1 {
		return fmt.Errorf("identity: threshold %g is not a probability strictly between 0 and 1 (0: auto)", c.Threshold)
	}
	if c.ThresholdMaxFalse <= 0 {
		c.ThresholdMaxFalse = 0.002
	}
	if c.RetrainChange <= 0 {
		c.RetrainChange = 0.10
	}
	if c.RetrainUBits <= 0 {
		c.RetrainUBits = 1
	}
	if c.Margin == 0 {
		c.Margin = 5
	}
	if c.Margin < 0 {
		return fmt.Errorf("identity: margin %g is negative", c.Margin)
	}
	if c.MaxCandidates <= 0 {
		c.MaxCandidates = 5
	}
	if c.MinCandidateProbability <= 0 {
		c.MinCandidateProbability = 0.01
	}
	switch c.Train {
	case "":
		c.Train = TrainAuto
	case TrainAuto, TrainAlways, TrainNever:
	default:
		return fmt.Errorf("identity: train mode %q: want auto, always or never", c.Train)
	}
	if c.TrainSample <= 0 {
		c.TrainSample = 200_000
	}
	if c.MinTrainRecords <= 0 {
		c.MinTrainRecords = 1000
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return nil
}

// Summary reports a Link run.
type Summary struct {
	Tables   []string
	Registry string // "" when there was none
	Records  int64
	// ByMethod counts records per method; ByTable per table and method.
	ByMethod map[string]int64
	ByTable  map[string]map[string]int64
	// Ambiguous counts unresolved records whose best two candidates both
	// reached the threshold.
	Ambiguous int64
	// Pairs is the number of candidate pairs scored.
	Pairs int64
	// Trained reports whether the model was trained; Training holds the
	// details (per EM session: rule, pairs, λ, expected matches, weight,
	// m). Reused reports that the saved model was used instead; Retrain
	// lists why it was not (drift, changed definition, none saved).
	Trained  bool
	Training *linkage.Report
	Reused   bool
	Retrain  []string
	Model    *linkage.Model
	// Threshold is the match probability used; ThresholdChoice, when it
	// was chosen automatically, what the model expects of it.
	Threshold       float64
	ThresholdChoice *linkage.ThresholdChoice
	// RegistryCached reports that LinkRecords read the prepared registry
	// from person_link_ref (Config.CacheRegistry) instead of preparing it.
	RegistryCached bool
	Elapsed        time.Duration

	saved       *SavedModel // the model reused
	fingerprint string      // of the registry, when person_link_ref was written
}

// Output tables.
const (
	TableLink      = "person_link"
	TableCandidate = "person_link_candidate"
	TableModel     = "person_link_model"
	TableInfo      = "person_link_info"
	// TableRef is the prepared registry kept by Config.CacheRegistry.
	TableRef = "person_link_ref"
)

// Working tables, dropped when Link returns.
const (
	tRec     = "_idl_rec"
	tRef     = "_idl_ref"
	tTrain   = "_idl_train_src"
	tPinyin  = "_idl_pinyin"
	tPinyin2 = "_idl_pinyin2"
	tDrift   = "_idl_drift_src"
	tL       = "_idl_l"
	tR       = "_idl_r"
	tT       = "_idl_t"
	tTPairs  = "_idl_train_pairs"
	tPairs   = "_idl_pairs"
	tScored  = "_idl_scored"
	tCand    = "_idl_cand"
	tDecided = "_idl_decided"
	tNewLink = "_idl_new_link"
	tNewCand = "_idl_new_cand"
)

// ErrNoTables is returned when no table qualifies for linking.
var ErrNoTables = errors.New("identity: no table to link (need _rid, id_number, id_number_status, person_key and a name)")

type tableInfo struct {
	name string
	cols map[string]bool
}

func (t tableInfo) col(c, typ string) string {
	if t.cols[c] {
		return linkage.Ident(c)
	}
	return "NULL::" + typ
}

func (t tableInfo) nameCol() string {
	if t.cols["name_norm"] {
		return "name_norm"
	}
	return "name"
}

// discover lists the tables of the current schema and their columns.
func discover(ctx context.Context, db *sql.DB) (map[string]tableInfo, error) {
	rows, err := db.QueryContext(ctx, `SELECT table_name, column_name FROM duckdb_columns()
		WHERE database_name = current_database() AND schema_name = current_schema()`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]tableInfo{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		ti, ok := out[t]
		if !ok {
			ti = tableInfo{name: t, cols: map[string]bool{}}
			out[t] = ti
		}
		ti.cols[c] = true
	}
	return out, rows.Err()
}

func linkable(t tableInfo) bool {
	return t.cols["_rid"] && t.cols["id_number"] && t.cols["id_number_status"] && t.cols["person_key"] &&
		(t.cols["name_norm"] || t.cols["name"]) && !strings.HasPrefix(t.name, "_idl_") && !strings.HasPrefix(t.name, "person_link")
}

// Link resolves the person key of every record of the configured tables
// and writes person_link, person_link_candidate, person_link_model and
// person_link_info (replacing them). It reads the canonical tables and
// changes none of them.
//
// A record with a person key (valid, upgraded or repaired ID) keeps it
// (method exact, upgraded, repaired). Every other record is compared with
// the registry's records through the blocking rules; its candidates are
// scored and grouped by person key. It is linked (method probabilistic) to
// the best candidate when that candidate's match probability reaches
// cfg.Threshold, its weight beats the second best by cfg.Margin bits, and
// its name is not entirely different; otherwise it stays unresolved, with
// the candidates listed.
func Link(ctx context.Context, db *sql.DB, cfg Config) (*Summary, error) {
	return link(ctx, db, cfg, nil)
}

// scope restricts a run to some records of one table, scored with a saved
// model (LinkRecords).
type scope struct {
	table string
	rids  string // SQL query of _rid values
	saved *SavedModel
}

func link(ctx context.Context, db *sql.DB, cfg Config, sc *scope) (*Summary, error) {
	started := time.Now()
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Log
	all, err := discover(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("identity: list tables: %w", err)
	}
	var tabs []tableInfo
	if sc != nil {
		t, ok := all[sc.table]
		if !ok {
			return nil, fmt.Errorf("identity: table %q does not exist", sc.table)
		}
		if !linkable(t) {
			return nil, fmt.Errorf("identity: table %q lacks a column of _rid, id_number, id_number_status, person_key, name_norm", sc.table)
		}
		tabs = append(tabs, t)
	} else if len(cfg.Tables) > 0 {
		for _, n := range cfg.Tables {
			t, ok := all[n]
			if !ok {
				return nil, fmt.Errorf("identity: table %q does not exist", n)
			}
			if !linkable(t) {
				return nil, fmt.Errorf("identity: table %q lacks a column of _rid, id_number, id_number_status, person_key, name_norm", n)
			}
			tabs = append(tabs, t)
		}
	} else {
		for _, t := range all {
			if linkable(t) {
				tabs = append(tabs, t)
			}
		}
		sort.Slice(tabs, func(i, j int) bool { return tabs[i].name < tabs[j].name })
	}
	if len(tabs) == 0 {
		return nil, ErrNoTables
	}
	sum := &Summary{ByMethod: map[string]int64{}, ByTable: map[string]map[string]int64{}}
	for _, t := range tabs {
		sum.Tables = append(sum.Tables, t.name)
	}
	defer dropAll(db, tRec, tRef, tTrain, tPinyin, tPinyin2, tDrift, tL, tR, tT, tTPairs, tPairs, tScored, tCand, tDecided, tNewLink, tNewCand)

	// 1. All records of the linked tables (in scope), with a link id.
	var parts []string
	where := ""
	if sc != nil {
		where = fmt.Sprintf(" WHERE _rid IN (%s)", sc.rids)
	}
	for _, t := range tabs {
		parts = append(parts, fmt.Sprintf(`SELECT %s AS tbl, _rid AS rid, id_number_status AS status, person_key,
			%s AS name, %s::VARCHAR AS gender, %s::DATE AS birth_date, %s::VARCHAR AS region_code, id_number::VARCHAR AS id_number
			FROM %s%s`, lit(t.name), linkage.Ident(t.nameCol()), t.col("gender", "VARCHAR"), t.col("birth_date", "DATE"),
			t.col("region_code", "VARCHAR"), linkage.Ident(t.name), where))
	}
	// The link id is _rid when that is unique across the tables (as the
	// engine assigns it), else a row number in (table, _rid) order: stable
	// either way, so that sampling and results are reproducible.
	if err := execAll(ctx, db, fmt.Sprintf("CREATE OR REPLACE TABLE %s AS SELECT rid AS lid, * FROM (%s)",
		tRec, strings.Join(parts, "\nUNION ALL\n"))); err != nil {
		return nil, err
	}
	var unique bool
	if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) = count(DISTINCT lid) AND count(lid) = count(*) FROM %s", tRec)).Scan(&unique); err != nil {
		return nil, err
	}
	if !unique {
		if err := execAll(ctx, db, fmt.Sprintf("CREATE OR REPLACE TABLE %[1]s AS SELECT row_number() OVER (ORDER BY tbl, rid) AS lid, * EXCLUDE (lid) FROM %[1]s", tRec)); err != nil {
			return nil, err
		}
	}

	// 2. The candidates: registry records with a person key. ID-derived
	// birth date and gender fill gaps (the key is authoritative there).
	reg, hasReg := all[cfg.Registry]
	hasReg = hasReg && reg.cols["person_key"] && (reg.cols["name_norm"] || reg.cols["name"])
	if sc != nil && !hasReg {
		return nil, fmt.Errorf("identity: LinkRecords needs the registry %q", cfg.Registry)
	}
	// A scoped run with the caller's fingerprint of the registry reads the
	// prepared registry (with its person keys) from person_link_ref when
	// that fingerprint wrote it: the registry table is not read.
	fast := false
	if sc != nil && cfg.CacheRegistry && cfg.RegistryFingerprint != "" {
		if fast, err = registryCachedKeyed(ctx, db, cfg.RegistryFingerprint); err != nil {
			return nil, err
		}
	}
	refTable := tRef // the candidates' __id and person_key
	var nRef int64
	var fp string
	cached := false
	if fast {
		refTable, fp, cached = TableRef, cfg.RegistryFingerprint, true
		sum.Registry = cfg.Registry
		if nRef, err = count(ctx, db, TableRef); err != nil {
			return nil, err
		}
	} else if nRef, fp, cached, err = buildRef(ctx, db, &cfg, sc, reg, hasReg, sum); err != nil {
		return nil, err
	}
	right := tR
	if cached {
		right = TableRef
		sum.RegistryCached = true
	}

	// 3. Training records: keyed records of the other tables, sampled.
	regName := ""
	if hasReg {
		regName = reg.name
	}
	trainLimit := cfg.TrainSample
	if sc != nil {
		trainLimit = 0 // a scoped run never trains
	}
	// The training records are the first trainLimit keyed records in a
	// hashed order. They are materialised only when the model is trained;
	// the drift check of a saved model takes the first few of the same
	// order.
	trainSQL := func(limit int64) string {
		return fmt.Sprintf(`SELECT lid AS __id, name, gender, birth_date, region_code, person_key AS id_number FROM %s
		WHERE person_key IS NOT NULL AND tbl <> %s ORDER BY hash(lid, %d), lid LIMIT %d`, tRec, lit(regName), cfg.Seed, limit)
	}
	var nTrain int64
	if trainLimit > 0 {
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT least(count(*), %d) FROM %s WHERE person_key IS NOT NULL AND tbl <> %s",
			trainLimit, tRec, lit(regName))).Scan(&nTrain); err != nil {
			return nil, err
		}
	}
	makeTrain := func() error {
		return execAll(ctx, db, fmt.Sprintf("CREATE OR REPLACE TABLE %s AS %s", tTrain, trainSQL(int64(trainLimit))))
	}
	canTrain := sc == nil && hasReg && nTrain > 0 && nRef > 1 && (cfg.Train == TrainAlways ||
		cfg.Train == TrainAuto && nTrain >= int64(cfg.MinTrainRecords) && nRef >= int64(cfg.MinTrainRecords))

	// The model as configured (its definition), and the saved one.
	model := cfg.Model
	if model == nil {
		model = PersonModel(1 / math.Max(float64(nRef), 2))
	} else {
		model = model.Clone()
		if model.Prior == 0 {
			model.Prior = 1 / math.Max(float64(nRef), 2)
		}
	}
	var saved *SavedModel
	if sc != nil {
		saved = sc.saved
	} else if cfg.Train != TrainAlways {
		sv, err := cfg.Saved, error(nil)
		if sv == nil {
			sv, err = LoadModel(ctx, db)
		}
		switch {
		case errors.Is(err, ErrNoSavedModel):
			sum.Retrain = append(sum.Retrain, "no saved model")
		case err != nil:
			return nil, err
		case !SameDefinition(sv.Model, model):
			sum.Retrain = append(sum.Retrain, "the model's definition changed since it was saved")
		default:
			saved = sv
		}
	}
	// In auto mode a saved model is checked for drift: a registry that
	// grew or shrank, u that moved. The check prepares only the records
	// EstimateU draws.
	train := canTrain && (cfg.Train == TrainAlways || saved == nil)
	checkDrift := canTrain && !train && cfg.Train == TrainAuto
	var uIn linkage.Input
	if checkDrift {
		kl, _ := linkage.USampleSizes(nTrain, nRef, uPairs, false)
		if err := execAll(ctx, db, fmt.Sprintf("CREATE OR REPLACE TABLE %s AS %s", tDrift, trainSQL(kl))); err != nil {
			return nil, err
		}
		uIn = linkage.Input{Left: tT, Right: tR, ID: "__id", TF: tR}
	}

	// 4. Pinyin keys of every name involved, then the prepared tables.
	lSrc := fmt.Sprintf("(SELECT lid AS __id, name, gender, birth_date, region_code, id_number FROM %s WHERE person_key IS NULL)", tRec)
	namesQ := fmt.Sprintf("SELECT name FROM %s UNION SELECT name FROM %s", tRef, lSrc)
	if cached {
		namesQ = "SELECT name FROM " + lSrc
	}
	switch {
	case train:
		if err := makeTrain(); err != nil {
			return nil, err
		}
		namesQ += " UNION SELECT name FROM " + tTrain
	case checkDrift:
		namesQ += " UNION SELECT name FROM " + tDrift
	}
	log.Info("identity: records", "registry", nRef, "training", nTrain, "seconds", time.Since(started).Seconds())
	t0 := time.Now()
	nNames, err := LoadPinyin(ctx, db, namesQ, tPinyin)
	if err != nil {
		return nil, err
	}
	log.Info("identity: pinyin keys", "names", nNames, "seconds", time.Since(t0).Seconds(), "registry_cached", cached)
	if !cached {
		if err := prepareWith(ctx, db, tRef, tPinyin, tR); err != nil {
			return nil, err
		}
		if hasReg && cfg.CacheRegistry {
			if err := cacheRegistry(ctx, db, fp, sc != nil); err != nil {
				return nil, err
			}
			sum.fingerprint = fp
		}
	}
	if err := prepareWith(ctx, db, lSrc, tPinyin, tL); err != nil {
		return nil, err
	}

	// 5. The model: the saved one unless it drifted, trained, or the
	// starting values.
	if checkDrift {
		t0 := time.Now()
		if err := prepareWith(ctx, db, tDrift, tPinyin, tT); err != nil {
			return nil, err
		}
		d, err := checkUDrift(ctx, db, saved, uIn, nRef, cfg)
		if err != nil {
			return nil, err
		}
		log.Info("identity: drift check", "retrain", len(d) > 0, "seconds", time.Since(t0).Seconds())
		if len(d) > 0 {
			sum.Retrain = append(sum.Retrain, d...)
			train = true
			// The training records' pinyin keys, beyond the sample's.
			if err := makeTrain(); err != nil {
				return nil, err
			}
			if _, err := LoadPinyin(ctx, db, fmt.Sprintf("SELECT name FROM %s EXCEPT SELECT name FROM %s", tTrain, tPinyin), tPinyin2); err != nil {
				return nil, err
			}
			if err := execAll(ctx, db, fmt.Sprintf("INSERT INTO %s SELECT * FROM %s", tPinyin, tPinyin2)); err != nil {
				return nil, err
			}
		}
	}
	if !train && saved != nil {
		model = saved.Model.Clone()
		sum.Reused, sum.saved = true, saved
	}
	if train {
		t0 := time.Now()
		if err := prepareWith(ctx, db, tTrain, tPinyin, tT); err != nil {
			return nil, err
		}
		opt := linkage.TrainOptions{Seed: cfg.Seed, MaxPairsU: uPairs}
		if slices.Contains(model.InputColumns(), "id_full") {
			// Pairs with the same ID are matches: keep them out of the u sample.
			opt.UExclude = "l.id_full = r.id_full"
		}
		rep, err := model.Train(ctx, db, linkage.Input{Left: tT, Right: tR, ID: "__id", TF: tR}, tTPairs, opt)
		if err != nil {
			return nil, fmt.Errorf("identity: train: %w", err)
		}
		if cfg.Model == nil {
			// The ID comparison's m describes damaged IDs, which the
			// training records (intact IDs) cannot show: keep the fixed
			// values.
			restoreIDm(model)
		}
		sum.Trained, sum.Training = true, rep
		log.Info("identity: trained", "records", nTrain, "pairs", rep.Pairs, "prior", model.Prior, "seconds", time.Since(t0).Seconds())
	}
	sum.Model = model

	// 6. Candidate pairs of the records without a key, scored.
	t0 = time.Now()
	if sum.Pairs, err = model.Pairs(ctx, db, linkage.Input{Left: tL, Right: right, ID: "__id", TF: right}, tPairs); err != nil {
		return nil, err
	}
	if err := model.Score(ctx, db, tPairs, tScored, 0); err != nil {
		return nil, err
	}
	log.Info("identity: scored", "pairs", sum.Pairs, "seconds", time.Since(t0).Seconds())

	// 7. Decide and write the outputs.
	t0 = time.Now()
	if err := writeOutputs(ctx, db, &cfg, model, hasReg, sc, sum, nRef, refTable); err != nil {
		return nil, err
	}
	if err := summarise(ctx, db, sum, cfg, sc); err != nil {
		return nil, err
	}
	log.Info("identity: links written", "seconds", time.Since(t0).Seconds())
	sum.Elapsed = time.Since(started)
	return sum, nil
}

// buildRef creates tRef, the registry's records with a person key as the
// model reads them (or, without a registry, the keyed records of tRec),
// and returns their number, the registry's fingerprint (the caller's, else
// computed from the rows) when it is needed, and whether a scoped run
// finds the prepared registry cached in person_link_ref under it.
func buildRef(ctx context.Context, db *sql.DB, cfg *Config, sc *scope, reg tableInfo, hasReg bool, sum *Summary) (nRef int64, fp string, cached bool, err error) {
	var refSrc string
	if hasReg {
		sum.Registry = cfg.Registry
		refSrc = fmt.Sprintf(`SELECT _rid AS rid, person_key, %s AS name, %s::VARCHAR AS gender, %s::DATE AS birth_date, %s::VARCHAR AS region_code
			FROM %s WHERE person_key IS NOT NULL`, linkage.Ident(reg.nameCol()), reg.col("gender", "VARCHAR"),
			reg.col("birth_date", "DATE"), reg.col("region_code", "VARCHAR"), linkage.Ident(reg.name))
	} else {
		refSrc = fmt.Sprintf("SELECT lid AS rid, person_key, name, gender, birth_date, region_code FROM %s WHERE person_key IS NOT NULL", tRec)
	}
	if err := execAll(ctx, db, fmt.Sprintf(`CREATE OR REPLACE TABLE %s AS
		SELECT rid AS __id, person_key, name,
		  coalesce(gender, CASE WHEN length(person_key) = 18 THEN CASE WHEN substr(person_key, 17, 1) IN ('1','3','5','7','9') THEN '男' ELSE '女' END END) AS gender,
		  coalesce(birth_date, CASE WHEN length(person_key) = 18 THEN try_strptime(substr(person_key, 7, 8), '%%Y%%m%%d')::DATE END) AS birth_date,
		  region_code, person_key AS id_number
		FROM (%s)`, tRef, refSrc)); err != nil {
		return 0, "", false, err
	}
	var unique bool
	if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) = count(DISTINCT __id) AND count(__id) = count(*) FROM %s", tRef)).Scan(&unique); err != nil {
		return 0, "", false, err
	}
	if !unique {
		if err := execAll(ctx, db, fmt.Sprintf("CREATE OR REPLACE TABLE %[1]s AS SELECT row_number() OVER (ORDER BY __id, person_key) AS __id, * EXCLUDE (__id) FROM %[1]s", tRef)); err != nil {
			return 0, "", false, err
		}
	}
	if nRef, err = count(ctx, db, tRef); err != nil {
		return 0, "", false, err
	}
	// A scoped run reuses the prepared registry when it is cached and the
	// registry has not changed since.
	if hasReg && (cfg.CacheRegistry || sc != nil) {
		fp = cfg.RegistryFingerprint
		if fp == "" {
			if fp, err = registryFingerprint(ctx, db); err != nil {
				return 0, "", false, err
			}
		}
		if sc != nil {
			if cached, err = registryCached(ctx, db, fp); err != nil {
				return 0, "", false, err
			}
		}
	}
	return nRef, fp, cached, nil
}

// restoreIDm puts back the fixed m values of the ID comparison.
func restoreIDm(m *linkage.Model) {
	def := idLevels()
	for i := range m.Comparisons {
		c := &m.Comparisons[i]
		if c.Name != CmpID || len(c.Levels) != len(def) {
			continue
		}
		for j := range c.Levels {
			c.Levels[j].M = def[j].M
			c.Levels[j].MTrained = false
		}
	}
}

// refTable holds the candidates' __id and person_key (tRef, or
// person_link_ref when a scoped run read the registry from it).
func writeOutputs(ctx context.Context, db *sql.DB, cfg *Config, model *linkage.Model, hasReg bool, sc *scope, sum *Summary, nRef int64, refTable string) error {
	var gcols, tcols []string
	for _, c := range model.Comparisons {
		gcols = append(gcols, linkage.Ident(linkage.GammaColumn(c.Name)))
	}
	seenTF := map[string]bool{}
	for _, c := range model.Comparisons {
		for _, l := range c.Levels {
			if l.TF != "" && !seenTF[l.TF] {
				seenTF[l.TF] = true
				tcols = append(tcols, linkage.Ident(linkage.TFColumn(l.TF)))
			}
		}
	}
	sort.Strings(tcols)
	nameG := "NULL"
	for _, c := range model.Comparisons {
		if c.Name == CmpName {
			nameG = linkage.Ident(linkage.GammaColumn(c.Name))
		}
	}
	nameOK := "true"
	if !cfg.AllowNameMismatch {
		nameOK = strings.ReplaceAll(LinkableNameSQL(model), linkage.Ident(linkage.GammaColumn(CmpName)), "name_level")
	}
	outLink, outCand := TableLink, TableCandidate
	if sc != nil {
		outLink, outCand = tNewLink, tNewCand
	}
	inRegistry := "NULL::BOOLEAN"
	if hasReg {
		inRegistry = fmt.Sprintf("final_key IN (SELECT person_key FROM %s)", refTable)
	}
	// Best scoring registry record per (record, person key), ranked.
	if err := execAll(ctx, db, fmt.Sprintf(`CREATE OR REPLACE TABLE %[1]s AS
SELECT *, row_number() OVER (PARTITION BY lid ORDER BY match_weight DESC, person_key) AS rank FROM (
  SELECT s.id_l AS lid, f.person_key, s.match_weight, s.match_probability, %[4]s,
    row_number() OVER (PARTITION BY s.id_l, f.person_key ORDER BY s.match_weight DESC) AS kr
  FROM %[2]s s JOIN %[3]s f ON f.__id = s.id_r)
WHERE kr = 1`, tCand, tScored, refTable, prefixed("s.", gcols, tcols))); err != nil {
		return err
	}
	// The threshold: configured, the saved model's (scoped run), or chosen
	// from the model's estimates over the best candidates that may link
	// (name gate and margin met).
	switch {
	case cfg.Threshold > 0:
	case sc != nil && sc.saved.Threshold > 0:
		cfg.Threshold = sc.saved.Threshold
	default:
		ch, err := chooseThreshold(ctx, db, cfg, nameOK, nameG)
		if err != nil {
			return err
		}
		cfg.Threshold, sum.ThresholdChoice = ch.Probability, &ch
	}
	sum.Threshold = cfg.Threshold
	stmts := []string{
		fmt.Sprintf(`CREATE OR REPLACE TABLE %[1]s AS
SELECT lid, best_key, w1, p1, w2, p2, candidates, n_candidates,
  p1 >= %[3]s AND (w2 IS NULL OR w1 - w2 >= %[4]s) AND %[5]s AS linked
FROM (
  SELECT lid,
    max(person_key) FILTER (WHERE rank = 1) AS best_key,
    max(match_weight) FILTER (WHERE rank = 1) AS w1,
    max(match_probability) FILTER (WHERE rank = 1) AS p1,
    max(match_weight) FILTER (WHERE rank = 2) AS w2,
    max(match_probability) FILTER (WHERE rank = 2) AS p2,
    max(%[6]s) FILTER (WHERE rank = 1) AS name_level,
    to_json(list({'person_key': person_key, 'match_weight': round(match_weight, 2), 'match_probability': round(match_probability, 6)} ORDER BY rank)
      FILTER (WHERE rank <= %[7]d AND match_probability >= %[8]s))::VARCHAR AS candidates,
    count(*) FILTER (WHERE match_probability >= %[8]s) AS n_candidates
  FROM %[2]s GROUP BY lid)`, tDecided, tCand, flit(cfg.Threshold), flit(cfg.Margin), nameOK, nameG, cfg.MaxCandidates, flit(cfg.MinCandidateProbability)),
		fmt.Sprintf(`CREATE OR REPLACE TABLE %[1]s AS
SELECT table_name, _rid, final_key AS person_key, method, match_weight, match_probability, candidates, n_candidates,
  %[4]s AS in_registry
FROM (
  SELECT r.tbl AS table_name, r.rid AS _rid,
    CASE WHEN r.person_key IS NOT NULL THEN r.person_key WHEN d.linked THEN d.best_key END AS final_key,
    CASE WHEN r.person_key IS NOT NULL THEN
           CASE r.status WHEN 'upgraded' THEN 'upgraded' WHEN 'repaired' THEN 'repaired' ELSE 'exact' END
         WHEN d.linked THEN 'probabilistic' ELSE 'unresolved' END AS method,
    CASE WHEN r.person_key IS NULL THEN d.w1 END AS match_weight,
    CASE WHEN r.person_key IS NULL THEN d.p1 END AS match_probability,
    CASE WHEN r.person_key IS NULL THEN d.candidates END AS candidates,
    CASE WHEN r.person_key IS NULL THEN coalesce(d.n_candidates, 0)::INTEGER END AS n_candidates
  FROM %[2]s r LEFT JOIN %[3]s d ON d.lid = r.lid)`, outLink, tRec, tDecided, inRegistry),
		fmt.Sprintf(`CREATE OR REPLACE TABLE %[1]s AS
SELECT r.tbl AS table_name, r.rid AS _rid, c.rank::INTEGER AS rank, c.person_key, c.match_weight, c.match_probability, %[4]s
FROM %[2]s c JOIN %[3]s r ON r.lid = c.lid ORDER BY r.lid, c.rank`, outCand, tCand, tRec, prefixed("c.", gcols, tcols)),
	}
	if err := execAll(ctx, db, stmts...); err != nil {
		return err
	}
	if sc != nil {
		return mergeScoped(ctx, db, sc, outLink, outCand)
	}
	if err := writeModel(ctx, db, model); err != nil {
		return err
	}
	info := [][2]string{
		{"registry", map[bool]string{true: cfg.Registry, false: ""}[hasReg]},
		{"threshold", fmt.Sprint(cfg.Threshold)},
		{"margin", fmt.Sprint(cfg.Margin)},
		{"allow_name_mismatch", fmt.Sprint(cfg.AllowNameMismatch)},
		{"max_candidates", fmt.Sprint(cfg.MaxCandidates)},
		{"min_candidate_probability", fmt.Sprint(cfg.MinCandidateProbability)},
	}
	saved, err := savedInfo(model, sum, nRef)
	if err != nil {
		return err
	}
	info = append(info, saved...)
	var rows []string
	for _, kv := range info {
		rows = append(rows, fmt.Sprintf("(%s, %s)", lit(kv[0]), lit(kv[1])))
	}
	return execAll(ctx, db, fmt.Sprintf("CREATE OR REPLACE TABLE %s (key VARCHAR, value VARCHAR)", TableInfo),
		fmt.Sprintf("INSERT INTO %s VALUES %s", TableInfo, strings.Join(rows, ", ")))
}

func prefixed(p string, lists ...[]string) string {
	var out []string
	for _, l := range lists {
		for _, c := range l {
			out = append(out, p+c)
		}
	}
	return strings.Join(out, ", ")
}

// writeModel stores the model as rows: one per comparison level and one for
// the prior (comparison "prior", level -1, m = λ).
func writeModel(ctx context.Context, db *sql.DB, m *linkage.Model) error {
	rows := []string{fmt.Sprintf("(0, 'prior', -1, 'prior', NULL, false, NULL, %s, NULL, %s, false, false)", flit(m.Prior), flit(m.PriorWeight()))}
	for i, c := range m.Comparisons {
		for j, l := range c.Levels {
			tf := "NULL"
			if l.TF != "" {
				tf = lit(l.TF)
			}
			w := "NULL"
			if !l.Null {
				w = flit(l.Weight())
			}
			rows = append(rows, fmt.Sprintf("(%d, %s, %d, %s, %s, %v, %s, %s, %s, %s, %v, %v)", i+1, lit(c.Name), j, lit(l.Label),
				lit(l.When), l.Null, tf, flit(l.M), flit(l.U), w, l.MTrained, l.UTrained))
		}
	}
	return execAll(ctx, db,
		fmt.Sprintf(`CREATE OR REPLACE TABLE %s (ord INTEGER, comparison VARCHAR, level INTEGER, label VARCHAR, condition VARCHAR,
			is_null BOOLEAN, tf_column VARCHAR, m DOUBLE, u DOUBLE, match_weight DOUBLE, m_trained BOOLEAN, u_trained BOOLEAN)`, TableModel),
		fmt.Sprintf("INSERT INTO %s VALUES %s", TableModel, strings.Join(rows, ",\n")))
}

// readModel rebuilds the model (without blocking rules) from its table.
func readModel(ctx context.Context, db *sql.DB) (*linkage.Model, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT ord, comparison, level, label, coalesce(condition, ''), is_null,
		coalesce(tf_column, ''), m, coalesce(u, 0) FROM %s ORDER BY ord, level`, TableModel))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := &linkage.Model{}
	for rows.Next() {
		var ord, level int
		var cmp, label, cond, tf string
		var isNull bool
		var mm, uu float64
		if err := rows.Scan(&ord, &cmp, &level, &label, &cond, &isNull, &tf, &mm, &uu); err != nil {
			return nil, err
		}
		if ord == 0 {
			m.Prior = mm
			continue
		}
		if len(m.Comparisons) < ord {
			m.Comparisons = append(m.Comparisons, linkage.Comparison{Name: cmp})
		}
		c := &m.Comparisons[ord-1]
		c.Levels = append(c.Levels, linkage.Level{Label: label, When: cond, Null: isNull, TF: tf, M: mm, U: uu})
	}
	return m, rows.Err()
}

func summarise(ctx context.Context, db *sql.DB, sum *Summary, cfg Config, sc *scope) error {
	src := TableLink
	if sc != nil {
		src = tNewLink
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT table_name, method, count(*) FROM %s GROUP BY ALL", src))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var t, m string
		var n int64
		if err := rows.Scan(&t, &m, &n); err != nil {
			return err
		}
		if sum.ByTable[t] == nil {
			sum.ByTable[t] = map[string]int64{}
		}
		sum.ByTable[t][m] += n
		sum.ByMethod[m] += n
		sum.Records += n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE NOT linked AND p1 >= %s AND p2 >= %s",
		tDecided, flit(cfg.Threshold), flit(cfg.Threshold))).Scan(&sum.Ambiguous)
}

func execAll(ctx context.Context, db *sql.DB, stmts ...string) error {
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("identity: %w\nin SQL: %s", err, firstLines(q, 6))
		}
	}
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}

func dropAll(db *sql.DB, tables ...string) {
	for _, t := range tables {
		db.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+linkage.Ident(t))
	}
}

func count(ctx context.Context, db *sql.DB, table string) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+linkage.Ident(table)).Scan(&n)
	return n, err
}

// lit quotes a string literal.
func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// flit formats a float literal.
func flit(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "NULL"
	}
	return fmt.Sprintf("%v::DOUBLE", f)
}
