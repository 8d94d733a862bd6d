package engine

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crosscheck/crosscheck/duckfile"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/mapping"
	"github.com/crosscheck/crosscheck/rundir"
)

// The roll cache keeps the mapped payment rows of the job's rolls in a
// DuckDB file beside the store (RollCachePath), so that `screen --changed
// --job-rolls` maps only the rolls that changed since they were last
// mapped and reads, of the others, only the payments that the changed
// persons can have:
//
//   - each payment source of the job (a slot: its position among the
//     job's payment sources, which gives its rows' _rid) is cached with
//     a fingerprint: the engine's version, the source's configuration,
//     the payment table's layout, whether IDs were kept unmasked (the
//     quarantine file), and per input file its path, size, modification
//     time and the SHA-256 of its first and last 64 KiB. A source whose fingerprint differs
//     is mapped again (loadSources) and replaces its cached rows, stats
//     and quarantine file in one transaction;
//   - the rows are those loadSources writes, before the program and
//     period filter and before the registry's confirmations and repairs
//     (which depend on the store): a screening copies the rows whose
//     person_key is a changed person's (changed_keys) and every row with
//     an invalid or Excel-damaged ID (the only rows the confirmations
//     and repairs change, and whose new key may be a changed person's),
//     so that confirmations, repairs and their counts are those of the
//     whole roll, as the screening of every payment gives them;
//   - the stats of the mapping (rows read, quarantined, ID statuses,
//     inputs) and the quarantine file are kept with the rows, and the
//     duplicate payment IDs of the whole roll are counted in the cache,
//     so that the run folder's counts are those of the whole roll.
//
// A writer holds RollCachePath+".lock" from the cache's ATTACH to its
// DETACH; a screening that finds it held (another screening filling or
// reading it) maps its rolls as without a cache.

// RollCachePath is the roll cache of the store at storePath.
func RollCachePath(storePath string) string { return storePath + ".rolls" }

// rollCacheVersion changes when what the cache holds changes meaning.
const rollCacheVersion = 1

// rollCacheDB is the name the cache is attached under.
const rollCacheDB = "rollcache"

// rollCache is the roll cache of one --changed screening of the job's
// rolls, attached to its session from openRollCache to the end of load.
type rollCache struct {
	s       *Screener
	path    string
	unlock  func()
	since   int64
	program string
	period  string
	// all: the change log names every person (every payment is read).
	all bool
	// dups are the duplicate payment IDs of each whole source.
	dups map[string]int64
	// Mapped and Read count the sources mapped and read from the cache.
	mapped, read int
}

// openRollCache attaches the roll cache of a --changed screening of the
// job's rolls to sess (creating the file) and returns it; nil (the rolls
// are mapped as without a cache) for any other screening, when another
// process holds the cache or when it cannot be opened (logged).
func (s *Screener) openRollCache(ctx context.Context, sess *Session, in RollInput) *rollCache {
	if !in.Changed || !in.JobRolls || in.batch != nil || s.shared != nil {
		return nil
	}
	path := RollCachePath(s.path)
	unlock, err := rundir.LockFile(path + ".lock")
	if err != nil {
		s.log.Info("roll cache not used", "path", path, "reason", err.Error())
		return nil
	}
	rc := &rollCache{s: s, path: path, unlock: unlock, since: in.Since, program: in.Program, period: in.Period, dups: map[string]int64{}}
	if err := rc.attach(ctx, sess); err != nil {
		// A damaged cache is made again.
		s.log.Warn("roll cache damaged, made again", "path", path, "error", err.Error())
		for _, f := range []string{path, duckfile.WAL(path)} {
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("roll cache not used", "path", path, "error", err.Error())
				unlock()
				return nil
			}
		}
		if err := rc.attach(ctx, sess); err != nil {
			s.log.Warn("roll cache not used", "path", path, "error", err.Error())
			unlock()
			return nil
		}
	}
	return rc
}

func (rc *rollCache) attach(ctx context.Context, sess *Session) error {
	if _, err := duckfile.Create(ctx, rc.path, "", nil); err != nil {
		return err
	}
	if err := sess.Exec(ctx, fmt.Sprintf("ATTACH %s AS %s", Lit(rc.path), rollCacheDB)); err != nil {
		return err
	}
	err := sess.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+rollCacheDB+`.roll_source (slot INTEGER, source VARCHAR, fingerprint VARCHAR,
		stats VARCHAR, examples VARCHAR, quarantine BLOB, duplicates BIGINT)`)
	if err != nil {
		sess.Exec(context.WithoutCancel(ctx), "DETACH "+rollCacheDB)
	}
	return err
}

// close detaches the cache and releases its lock (once).
func (rc *rollCache) close(ctx context.Context, sess *Session) error {
	if rc == nil || rc.unlock == nil {
		return nil
	}
	err := sess.Exec(context.WithoutCancel(ctx), "DETACH "+rollCacheDB)
	rc.unlock()
	rc.unlock = nil
	return err
}

// cachedSource is a source's row of roll_source.
type cachedSource struct {
	fingerprint string
	stats       *mapping.Stats
	quarantine  []byte
	duplicates  int64
}

// load loads the payments of plans into sess's payment table (created):
// with rc nil, every payment, mapped (loadSources); else the payments
// changed persons can have, from the cache, the sources that changed
// mapped into it first. It returns the stats of the whole sources, and
// writes their quarantine files into qdir. The cache is detached when it
// returns.
func (rc *rollCache) load(ctx context.Context, sess *Session, plans []planned, qdir string, raw bool, workers int, log *slog.Logger, progress io.Writer) ([]*mapping.Stats, error) {
	if rc == nil {
		return sess.loadSources(ctx, plans, qdir, raw, workers, log, progress)
	}
	defer rc.close(ctx, sess)
	layout, err := tableLayout(ctx, sess.DB, "", "payment")
	if err != nil {
		return nil, err
	}
	old, err := tableLayout(ctx, sess.DB, rollCacheDB, "payment")
	if err != nil {
		return nil, err
	}
	if old != layout {
		// a new cache, or one of another payment table: emptied
		if err := sess.Exec(ctx, "DROP TABLE IF EXISTS "+rollCacheDB+".payment", "DELETE FROM "+rollCacheDB+".roll_source",
			"CREATE TABLE "+rollCacheDB+".payment AS SELECT * FROM payment LIMIT 0"); err != nil {
			return nil, err
		}
	}
	cached, err := rc.sources(ctx, sess.DB)
	if err != nil {
		return nil, err
	}
	fps := make([]string, len(plans))
	var stale []planned
	for i, p := range plans {
		if fps[i], err = rc.fingerprint(i, p, raw, layout); err != nil {
			return nil, err
		}
		if c, ok := cached[i]; !ok || c.fingerprint != fps[i] || c.stats.Source != p.src.Name {
			p.rid = int64(i+1) << 40
			stale = append(stale, p)
		}
	}
	rc.mapped, rc.read = len(stale), len(plans)-len(stale)
	t0 := time.Now()
	if len(stale) > 0 {
		if err := rc.fill(ctx, sess, plans, stale, fps, qdir, raw, workers, log, progress); err != nil {
			return nil, err
		}
		if cached, err = rc.sources(ctx, sess.DB); err != nil {
			return nil, err
		}
	}
	filled := time.Since(t0)
	t0 = time.Now()
	var stats []*mapping.Stats
	var names []string
	for i, p := range plans {
		c := cached[i]
		if c == nil || c.fingerprint != fps[i] {
			return nil, fmt.Errorf("roll cache %s: source %s missing after it was filled", rc.path, p.src.Name)
		}
		if err := os.MkdirAll(qdir, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(qdir, p.src.Name+".csv"), c.quarantine, 0o644); err != nil {
			return nil, err
		}
		stats = append(stats, c.stats)
		rc.dups[p.src.Name] = c.duplicates
		names = append(names, Lit(p.src.Name))
	}
	all, err := rc.s.changedKeys(ctx, sess, rc.since)
	if err != nil {
		return nil, err
	}
	rc.all = all
	q := fmt.Sprintf("INSERT INTO payment SELECT * FROM %s.payment WHERE _source IN (%s)", rollCacheDB, strings.Join(names, ", "))
	if !all {
		q += ` AND (person_key IN (SELECT person_key FROM changed_keys) OR id_number_status IN ('invalid', 'excel_damaged'))`
	}
	if err := sess.Exec(ctx, q); err != nil {
		return nil, err
	}
	if rc.program != "" || rc.period != "" {
		// the duplicates of the payments of the program and period
		var where []string
		if rc.program != "" {
			where = append(where, "program_code = "+Lit(rc.program))
		}
		if rc.period != "" {
			where = append(where, "period = "+Lit(rc.period))
		}
		if rc.dups, err = countDuplicatePayments(ctx, sess.DB, rollCacheDB+".payment", strings.Join(where, " AND ")); err != nil {
			return nil, err
		}
	}
	log.Info("roll cache", "path", rc.path, "sources_mapped", rc.mapped, "sources_cached", rc.read,
		"fill_seconds", filled.Seconds(), "read_seconds", time.Since(t0).Seconds())
	return stats, rc.close(ctx, sess)
}

// fill maps the stale sources and replaces their rows, stats and
// quarantine files in the cache (one transaction); the sources no longer
// among plans are dropped. The session's payment table is left empty.
func (rc *rollCache) fill(ctx context.Context, sess *Session, plans, stale []planned, fps []string, qdir string, raw bool, workers int, log *slog.Logger, progress io.Writer) error {
	stats, err := sess.loadSources(ctx, stale, qdir, raw, workers, log, progress)
	if err != nil {
		return err
	}
	dups, err := countDuplicatePayments(ctx, sess.DB, "payment", "")
	if err != nil {
		return err
	}
	slot := map[string]int{}
	for i, p := range plans {
		slot[p.src.Name] = i
	}
	var keep []string
	for _, p := range plans {
		if !containsPlan(stale, p.src.Name) {
			keep = append(keep, Lit(p.src.Name))
		}
	}
	keepIn := "(NULL)"
	if len(keep) > 0 {
		keepIn = "(" + strings.Join(keep, ", ") + ")"
	}
	tx, err := sess.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range []string{
		fmt.Sprintf("DELETE FROM %s.payment WHERE _source IS NULL OR _source NOT IN %s", rollCacheDB, keepIn),
		fmt.Sprintf("DELETE FROM %s.roll_source WHERE source IS NULL OR source NOT IN %s", rollCacheDB, keepIn),
		// Not sorted: the persons a refresh changes are spread over the
		// registry, so a sort by person_key lets the read skip no row
		// group (measured) and only makes the fill slower.
		fmt.Sprintf("INSERT INTO %s.payment SELECT * FROM payment", rollCacheDB),
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("roll cache %s: %w", rc.path, err)
		}
	}
	for _, st := range stats {
		js, err := json.Marshal(st)
		if err != nil {
			return err
		}
		ex, err := json.Marshal(st.Examples)
		if err != nil {
			return err
		}
		qf, err := os.ReadFile(filepath.Join(qdir, st.Source+".csv"))
		if err != nil {
			return err
		}
		i := slot[st.Source]
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+rollCacheDB+".roll_source VALUES (?, ?, ?, ?, ?, ?, ?)",
			i, st.Source, fps[i], string(js), string(ex), qf, dups[st.Source]); err != nil {
			return fmt.Errorf("roll cache %s: %w", rc.path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("roll cache %s: %w", rc.path, err)
	}
	return sess.Exec(ctx, "DELETE FROM payment")
}

func containsPlan(plans []planned, name string) bool {
	for _, p := range plans {
		if p.src.Name == name {
			return true
		}
	}
	return false
}

// sources reads roll_source by slot.
func (rc *rollCache) sources(ctx context.Context, db *sql.DB) (map[int]*cachedSource, error) {
	rows, err := db.QueryContext(ctx, "SELECT slot, fingerprint, stats, examples, quarantine, duplicates FROM "+rollCacheDB+".roll_source")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]*cachedSource{}
	for rows.Next() {
		var slot int
		var js, ex string
		c := &cachedSource{}
		if err := rows.Scan(&slot, &c.fingerprint, &js, &ex, &c.quarantine, &c.duplicates); err != nil {
			return nil, err
		}
		c.stats = &mapping.Stats{}
		if err := json.Unmarshal([]byte(js), c.stats); err != nil {
			return nil, fmt.Errorf("roll cache %s: %w", rc.path, err)
		}
		if err := json.Unmarshal([]byte(ex), &c.stats.Examples); err != nil {
			return nil, fmt.Errorf("roll cache %s: %w", rc.path, err)
		}
		out[slot] = c
	}
	return out, rows.Err()
}

// rollFile is one input file of a source as the fingerprint names it.
type rollFile struct {
	Path     string `json:"path"`
	Size     int64  `json:"size"`
	ModNanos int64  `json:"mtime_ns"`
	Ends     string `json:"ends_sha256"` // of its first and last 64 KiB
}

// fingerprint identifies what mapping source p (slot i) gives: see the
// roll cache's comment.
func (rc *rollCache) fingerprint(i int, p planned, raw bool, layout string) (string, error) {
	pattern := rc.s.j.Resolve(p.src.Path)
	paths, err := filepath.Glob(pattern)
	if err != nil {
		return "", fmt.Errorf("source %s: %w", p.src.Name, err)
	}
	files := []rollFile{}
	for _, path := range paths {
		f, err := endsOf(path)
		if err != nil {
			return "", fmt.Errorf("source %s: %w", p.src.Name, err)
		}
		files = append(files, f)
	}
	b, err := json.Marshal(struct {
		Version int        `json:"version"`
		Engine  string     `json:"engine"`
		Slot    int        `json:"slot"`
		Source  job.Source `json:"source"`
		Raw     bool       `json:"raw"`
		Layout  string     `json:"layout"`
		Files   []rollFile `json:"files"`
		Role    string     `json:"role"`
		Cols    []string   `json:"cols"`
		Periods []string   `json:"periods"`
	}{rollCacheVersion, Version, i, p.src, raw, layout, files, p.role.Name, roleColumns(p), rc.s.j.Periods})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func roleColumns(p planned) []string {
	var out []string
	for _, c := range p.role.Columns {
		out = append(out, c.Name)
	}
	return out
}

// endsOf stats path and hashes its first and last 64 KiB.
func endsOf(path string) (rollFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return rollFile{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return rollFile{}, err
	}
	const n = 64 << 10
	h := sha256.New()
	if _, err := io.CopyN(h, f, n); err != nil && err != io.EOF {
		return rollFile{}, err
	}
	if fi.Size() > n {
		if _, err := f.Seek(max(n, fi.Size()-n), io.SeekStart); err != nil {
			return rollFile{}, err
		}
		if _, err := io.Copy(h, f); err != nil {
			return rollFile{}, err
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return rollFile{}, err
	}
	return rollFile{Path: abs, Size: fi.Size(), ModNanos: fi.ModTime().UnixNano(), Ends: hex.EncodeToString(h.Sum(nil))}, nil
}

// tableLayout is the column names and types of table in database dbName
// ("": the session's own), "" when there is no such table.
func tableLayout(ctx context.Context, db *sql.DB, dbName, table string) (string, error) {
	cond := "database_name = current_database() AND schema_name = current_schema()"
	if dbName != "" {
		cond = "database_name = " + Lit(dbName) + " AND schema_name = 'main'"
	}
	var l sql.NullString
	err := db.QueryRowContext(ctx, `SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY column_index) FROM duckdb_columns()
		WHERE `+cond+` AND table_name = `+Lit(table)).Scan(&l)
	return l.String, err
}

// countDuplicatePayments counts, per source, the payments of table (where
// cond, "" for all) whose payment_id repeats within the source, as
// countDuplicates does for the payment role.
func countDuplicatePayments(ctx context.Context, db *sql.DB, table, cond string) (map[string]int64, error) {
	where := "payment_id IS NOT NULL"
	if cond != "" {
		where += " AND " + cond
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT _source, sum(n) FROM (SELECT _source, payment_id, count(*) AS n FROM %s WHERE %s
		GROUP BY ALL HAVING count(*) > 1) GROUP BY _source`, table, where))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var src string
		var n int64
		if err := rows.Scan(&src, &n); err != nil {
			return nil, err
		}
		out[src] = n
	}
	return out, rows.Err()
}

// setDuplicates gives the stats the duplicates of the whole sources (the
// session's payment table holding only some of their payments).
func (rc *rollCache) setDuplicates(stats []*mapping.Stats) {
	if rc == nil {
		return
	}
	for _, st := range stats {
		st.Duplicates = rc.dups[st.Source]
	}
}
