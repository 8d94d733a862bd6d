package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/crosscheck/crosscheck/identity/linkage"
)

// uPairs is the number of random pairs behind the u estimates (training
// and the drift check alike).
const uPairs = 1_000_000

// ErrNoSavedModel is returned by LoadModel (and LinkRecords) when the
// database holds no model saved by Link.
var ErrNoSavedModel = errors.New("identity: no saved linkage model (person_link_info has none: run Link first)")

// SavedModel is the linkage model Link saved in the database
// (person_link_info, key "model"; person_link_model holds the same m and u
// as rows for people and Explain), with what LinkRecords and the drift
// check need to reuse it.
type SavedModel struct {
	// Model is the complete model: comparisons with m and u, blocking
	// rules and prior.
	Model *linkage.Model `json:"model"`
	// Threshold is the match probability the saving run linked at (chosen
	// automatically or configured); ThresholdAuto says which.
	Threshold     float64 `json:"threshold"`
	ThresholdAuto bool    `json:"threshold_auto"`
	// Trained reports that m and u were estimated from data (not the
	// starting values); TrainedAt when (UTC). A reused model keeps the
	// date of its training.
	Trained   bool      `json:"trained"`
	TrainedAt time.Time `json:"trained_at"`
	// RegistryRecords is the size of the registry the model was trained
	// (or last checked) against.
	RegistryRecords int64 `json:"registry_records"`
	// Training is the training report (per EM session: rule, pairs, λ,
	// expected matches, weight, m); nil when not trained.
	Training *linkage.Report `json:"training,omitempty"`
}

// Keys of person_link_info written for the saved model.
const (
	infoModel          = "model"
	infoThresholdAuto  = "threshold_auto"
	infoTrained        = "trained"
	infoTrainedAt      = "trained_at"
	infoRegistryCount  = "registry_records"
	infoTraining       = "training"
	infoThresholdChose = "threshold_choice"
	infoFingerprint    = "registry_fingerprint"
)

// savedInfo returns the person_link_info rows that save the model.
func savedInfo(m *linkage.Model, sum *Summary, nRef int64) ([][2]string, error) {
	mj, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	trained := sum.Trained
	at := time.Now().UTC()
	var training []byte
	if sum.Training != nil {
		if training, err = json.Marshal(sum.Training); err != nil {
			return nil, err
		}
	}
	if sum.Reused && sum.saved != nil {
		trained, at = sum.saved.Trained, sum.saved.TrainedAt
		if sum.saved.Training != nil {
			training, _ = json.Marshal(sum.saved.Training)
		}
		nRef = sum.saved.RegistryRecords
	}
	out := [][2]string{
		{infoModel, string(mj)},
		{infoThresholdAuto, fmt.Sprint(sum.ThresholdChoice != nil)},
		{infoTrained, fmt.Sprint(trained)},
		{infoTrainedAt, at.Format(time.RFC3339)},
		{infoRegistryCount, fmt.Sprint(nRef)},
	}
	if training != nil {
		out = append(out, [2]string{infoTraining, string(training)})
	}
	if sum.ThresholdChoice != nil {
		cj, _ := json.Marshal(sum.ThresholdChoice)
		out = append(out, [2]string{infoThresholdChose, string(cj)})
	}
	if sum.fingerprint != "" {
		out = append(out, [2]string{infoFingerprint, sum.fingerprint})
	}
	return out, nil
}

// registryFingerprint summarises the registry's rows as the model reads
// them (tRef): their number and the sum of their hashes.
func registryFingerprint(ctx context.Context, db *sql.DB) (string, error) {
	var fp string
	err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*)::VARCHAR || ':' || coalesce(sum(hash(__id, person_key, name, gender, birth_date, region_code)), 0)::VARCHAR
		FROM %s`, tRef)).Scan(&fp)
	return fp, err
}

// registryCached reports whether person_link_ref holds the registry with
// fingerprint fp.
func registryCached(ctx context.Context, db *sql.DB, fp string) (bool, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables()
		WHERE database_name = current_database() AND schema_name = current_schema() AND table_name IN (?, ?)`, TableRef, TableInfo).Scan(&n); err != nil {
		return false, err
	}
	if n < 2 {
		return false, nil
	}
	var got sql.NullString
	err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT max(value) FROM %s WHERE key = ?", TableInfo), infoFingerprint).Scan(&got)
	return err == nil && got.Valid && got.String == fp, err
}

// registryCachedKeyed reports whether person_link_ref holds the prepared
// registry with the person keys of its records (as cacheRegistry writes
// it) under fingerprint fp.
func registryCachedKeyed(ctx context.Context, db *sql.DB, fp string) (bool, error) {
	ok, err := registryCached(ctx, db, fp)
	if err != nil || !ok {
		return false, err
	}
	var n int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_columns()
		WHERE database_name = current_database() AND schema_name = current_schema() AND table_name = ? AND column_name = 'person_key'`, TableRef).Scan(&n)
	return n == 1, err
}

// cacheRegistry keeps the prepared registry (tR) as person_link_ref, with
// the person key of each record (from tRef). A
// scoped run also records the fingerprint in person_link_info (a full run
// writes it with the other keys).
func cacheRegistry(ctx context.Context, db *sql.DB, fp string, scoped bool) error {
	stmts := []string{fmt.Sprintf("CREATE OR REPLACE TABLE %s AS SELECT p.*, f.person_key FROM %s p JOIN %s f ON f.__id = p.__id", TableRef, tR, tRef)}
	if scoped {
		stmts = append(stmts, fmt.Sprintf("DELETE FROM %s WHERE key = %s", TableInfo, lit(infoFingerprint)),
			fmt.Sprintf("INSERT INTO %s VALUES (%s, %s)", TableInfo, lit(infoFingerprint), lit(fp)))
	}
	return execAll(ctx, db, stmts...)
}

// LoadModel reads the model the last Link saved in db. It returns
// ErrNoSavedModel when there is none.
func LoadModel(ctx context.Context, db *sql.DB) (*SavedModel, error) {
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT count(*) > 0 FROM duckdb_tables()
		WHERE database_name = current_database() AND schema_name = current_schema() AND table_name = ?`, TableInfo).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		return nil, ErrNoSavedModel
	}
	info, err := readInfo(ctx, db)
	if err != nil {
		return nil, err
	}
	mj, ok := info[infoModel]
	if !ok || mj == "" {
		return nil, ErrNoSavedModel
	}
	s := &SavedModel{Model: &linkage.Model{}}
	if err := json.Unmarshal([]byte(mj), s.Model); err != nil {
		return nil, fmt.Errorf("identity: saved model: %w", err)
	}
	if err := s.Model.Validate(); err != nil {
		return nil, fmt.Errorf("identity: saved model: %w", err)
	}
	if s.Threshold, err = strconv.ParseFloat(info["threshold"], 64); err != nil {
		return nil, fmt.Errorf("identity: saved threshold %q: %w", info["threshold"], err)
	}
	s.ThresholdAuto = info[infoThresholdAuto] == "true"
	s.Trained = info[infoTrained] == "true"
	if t, err := time.Parse(time.RFC3339, info[infoTrainedAt]); err == nil {
		s.TrainedAt = t
	}
	s.RegistryRecords, _ = strconv.ParseInt(info[infoRegistryCount], 10, 64)
	if tj := info[infoTraining]; tj != "" {
		s.Training = &linkage.Report{}
		if err := json.Unmarshal([]byte(tj), s.Training); err != nil {
			return nil, fmt.Errorf("identity: saved training report: %w", err)
		}
	}
	return s, nil
}

// SameDefinition reports whether two models have the same comparisons
// (names, levels, conditions, TF columns) and blocking rules, whatever
// their m, u and prior: whether a model saved as a can stand for b.
func SameDefinition(a, b *linkage.Model) bool {
	if len(a.Comparisons) != len(b.Comparisons) || len(a.Blocking) != len(b.Blocking) {
		return false
	}
	for i := range a.Blocking {
		if a.Blocking[i] != b.Blocking[i] {
			return false
		}
	}
	for i := range a.Comparisons {
		ca, cb := a.Comparisons[i], b.Comparisons[i]
		if ca.Name != cb.Name || len(ca.Levels) != len(cb.Levels) || strings.Join(ca.Columns, ",") != strings.Join(cb.Columns, ",") {
			return false
		}
		for j := range ca.Levels {
			la, lb := ca.Levels[j], cb.Levels[j]
			if la.Label != lb.Label || la.When != lb.When || la.Null != lb.Null || la.TF != lb.TF {
				return false
			}
		}
	}
	return true
}

// Drift compares a saved model with the data now: the registry's size and
// the u of each comparison level re-estimated on a fresh random sample.
type Drift struct {
	RegistryThen, RegistryNow int64
	// Change is |now − then| / then.
	Change float64
	// UBits is the largest |log2(u now / u saved)| over the levels common
	// enough to be measured (≥ 100 of the sample pairs on both sides);
	// ULevel names it.
	UBits  float64
	ULevel string
	// Reasons lists what exceeded the limits (empty: no retraining).
	Reasons []string
}

// checkUDrift estimates u on the drift sample (in) with a copy of the
// saved model and compares it with the saved u and the registry sizes.
func checkUDrift(ctx context.Context, db *sql.DB, saved *SavedModel, in linkage.Input, nRef int64, cfg Config) ([]string, error) {
	d := Drift{RegistryThen: saved.RegistryRecords, RegistryNow: nRef}
	if d.RegistryThen > 0 {
		d.Change = math.Abs(float64(nRef-d.RegistryThen)) / float64(d.RegistryThen)
	}
	if d.RegistryThen <= 0 || d.Change > cfg.RetrainChange {
		d.Reasons = append(d.Reasons, fmt.Sprintf("the registry changed from %d to %d records (more than %.0f%%)", d.RegistryThen, nRef, 100*cfg.RetrainChange))
	}
	if saved.Trained {
		m := saved.Model.Clone()
		opt := linkage.TrainOptions{Seed: cfg.Seed, MaxPairsU: uPairs}
		for _, c := range m.InputColumns() {
			if c == "id_full" {
				opt.UExclude = "l.id_full = r.id_full"
			}
		}
		n, err := m.EstimateU(ctx, db, in, opt)
		if err != nil {
			return nil, fmt.Errorf("identity: drift check: %w", err)
		}
		for i, c := range m.Comparisons {
			for j, l := range c.Levels {
				old := saved.Model.Comparisons[i].Levels[j]
				if l.Null || !l.UTrained || !old.UTrained {
					continue
				}
				if math.Min(l.U, old.U)*float64(n) < 100 {
					continue // too rare to measure on the sample
				}
				if b := math.Abs(math.Log2(l.U / old.U)); b > d.UBits {
					d.UBits, d.ULevel = b, c.Name+": "+l.Label
				}
			}
		}
		if d.UBits > cfg.RetrainUBits {
			d.Reasons = append(d.Reasons, fmt.Sprintf("u of %s moved by %.2f bits (more than %g)", d.ULevel, d.UBits, cfg.RetrainUBits))
		}
	}
	cfg.Log.Info("identity: drift", "registry_then", d.RegistryThen, "registry_now", d.RegistryNow, "u_bits", d.UBits)
	return d.Reasons, nil
}

// chooseThreshold picks the link threshold from the model's estimates over
// the best candidate of every record that may link (name gate, margin).
func chooseThreshold(ctx context.Context, db *sql.DB, cfg *Config, nameOK, nameG string) (linkage.ThresholdChoice, error) {
	gate := strings.ReplaceAll(nameOK, "name_level", nameG)
	// ChooseThreshold reads a table: give it the best candidates that may link.
	q := fmt.Sprintf(`CREATE OR REPLACE TABLE _idl_thr AS
SELECT w1 AS match_weight, p1 AS match_probability FROM (
  SELECT lid,
    max(match_weight) FILTER (WHERE rank = 1) AS w1,
    max(match_probability) FILTER (WHERE rank = 1) AS p1,
    max(match_weight) FILTER (WHERE rank = 2) AS w2,
    bool_or(%s) FILTER (WHERE rank = 1) AS gate_ok
  FROM %s GROUP BY lid)
WHERE gate_ok AND (w2 IS NULL OR w1 - w2 >= %s)`, gate, tCand, flit(cfg.Margin))
	if err := execAll(ctx, db, q); err != nil {
		return linkage.ThresholdChoice{}, err
	}
	defer dropAll(db, "_idl_thr")
	return linkage.ChooseThreshold(ctx, db, "_idl_thr", "", linkage.ThresholdOptions{MaxFalseShare: cfg.ThresholdMaxFalse})
}

// LinkRecords resolves only the records of table whose _rid is returned by
// the SQL query rids (e.g. "SELECT _rid FROM death WHERE _refresh = 7"),
// against the whole registry, with the model saved by the last Link
// (LoadModel): no training. It replaces those records' rows of
// person_link and person_link_candidate and leaves every other row, the
// saved model and person_link_info as they are. Records the query names
// that are no longer in the table lose their rows. With cfg.Threshold 0
// the saved threshold is used.
//
// It scores a record exactly as a full Link with the same saved model
// would: term frequencies count the registry's values only, so a pair's
// weight does not depend on the other records linked with it. When the
// registry itself
// changed, records linked earlier may have new candidates: re-link them
// too (e.g. rids "SELECT _rid FROM person_link WHERE table_name = 'death'
// AND method IN ('probabilistic', 'unresolved')"), or run Link.
func LinkRecords(ctx context.Context, db *sql.DB, cfg Config, table, rids string) (*Summary, error) {
	saved, err := LoadModel(ctx, db)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(rids) == "" {
		rids = "SELECT _rid FROM " + linkage.Ident(table)
	}
	cfg.Train = TrainNever
	return link(ctx, db, cfg, &scope{table: table, rids: rids, saved: saved})
}

// mergeScoped replaces the scoped records' rows of person_link and
// person_link_candidate by the new ones.
func mergeScoped(ctx context.Context, db *sql.DB, sc *scope, newLink, newCand string) error {
	del := fmt.Sprintf("table_name = %s AND _rid IN (%s)", lit(sc.table), sc.rids)
	stmts := []string{
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s AS SELECT * FROM %s WHERE false", TableLink, newLink),
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s AS SELECT * FROM %s WHERE false", TableCandidate, newCand),
		"BEGIN TRANSACTION",
		fmt.Sprintf("DELETE FROM %s WHERE %s", TableLink, del),
		fmt.Sprintf("INSERT INTO %s BY NAME SELECT * FROM %s", TableLink, newLink),
		fmt.Sprintf("DELETE FROM %s WHERE %s", TableCandidate, del),
		fmt.Sprintf("INSERT INTO %s BY NAME SELECT * FROM %s", TableCandidate, newCand),
		"COMMIT",
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			conn.ExecContext(context.Background(), "ROLLBACK")
			return fmt.Errorf("identity: %w\nin SQL: %s", err, firstLines(q, 4))
		}
	}
	return nil
}

// modelFileFormat names the layout of a model file (WriteModelFile).
const modelFileFormat = "crosscheck-linkage-model/1"

// modelFile is the JSON layout of a model file.
type modelFile struct {
	Format string `json:"format"`
	*SavedModel
}

// WriteModelFile writes a saved model (LoadModel after a Link) to path as
// JSON, replacing the file atomically, so that a later run in another
// database can reuse it (Config.Saved, job key identity.model).
func WriteModelFile(path string, s *SavedModel) error {
	if s == nil || s.Model == nil {
		return errors.New("identity: no model to write")
	}
	b, err := json.MarshalIndent(modelFile{Format: modelFileFormat, SavedModel: s}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("identity: model file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".model-*.json")
	if err != nil {
		return fmt.Errorf("identity: model file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("identity: model file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("identity: model file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("identity: model file: %w", err)
	}
	return nil
}

// ReadModelFile reads a model file written by WriteModelFile. A missing
// file is reported with an error satisfying errors.Is(err, fs.ErrNotExist).
func ReadModelFile(path string) (*SavedModel, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f modelFile
	f.SavedModel = &SavedModel{}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("identity: model file %s: %w", path, err)
	}
	if f.Format != modelFileFormat {
		return nil, fmt.Errorf("identity: model file %s: format %q, want %q", path, f.Format, modelFileFormat)
	}
	if f.Model == nil {
		return nil, fmt.Errorf("identity: model file %s holds no model", path)
	}
	if err := f.Model.Validate(); err != nil {
		return nil, fmt.Errorf("identity: model file %s: %w", path, err)
	}
	return f.SavedModel, nil
}
