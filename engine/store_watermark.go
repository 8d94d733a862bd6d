package engine

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/crosscheck/crosscheck/mapping"
)

// Database sources by watermark in the reference store (docs/store.md,
// "Database sources"). A source with a watermark_column whose watermark
// the previous store recorded is pulled from that watermark on: only the
// rows whose watermark column is greater. They are added to the source's
// rows copied from the previous store; with a watermark_key a new row
// replaces the copied rows with the same key (a record updated at the
// source). Only the new rows are linked, and the change log compares the
// source's rows with the previous store's as for a loaded file.

// WatermarkPull is what a refresh pulled from one source with a
// watermark_column.
type WatermarkPull struct {
	Source string `json:"source"`
	// Since is the watermark the pull started after ("" = every row).
	Since string `json:"since"`
	// Reached is the watermark after the pull.
	Reached string `json:"reached"`
	// Rows counts the rows pulled (accepted and quarantined).
	Rows int64 `json:"rows"`
	// Replaced counts the previous store's rows replaced by a pulled row
	// with the same watermark_key.
	Replaced int64 `json:"replaced"`
	// Appended: the rows were added to those of the previous store; false
	// when the source was pulled whole (first or full refresh).
	Appended bool `json:"appended"`
}

// appendPull is an incremental pull of one source on top of the previous
// store's rows.
type appendPull struct {
	since string
	// key are the canonical columns of watermark_key (nil: rows are only added).
	key []string
	// firstRID is the first _rid of the pulled rows, set once they are
	// numbered after the previous store's rows.
	firstRID int64
	replaced int64
}

// watermarkKey is the watermark_key option of a source: canonical columns
// of its role, comma-separated.
func watermarkKey(p planned) ([]string, error) {
	v, _ := p.src.Options["watermark_key"].(string)
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []string
	for _, c := range strings.Split(v, ",") {
		c = strings.TrimSpace(c)
		found := false
		for _, col := range p.role.Columns {
			if col.Name == c {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("source %s: option watermark_key: %q is not a column of role %s", p.src.Name, c, p.role.Name)
		}
		out = append(out, c)
	}
	return out, nil
}

// planAppends decides which loaded sources are pulled from the previous
// store's watermark (an incremental refresh, the source's watermark
// recorded) and sets that watermark on their connectors. The others are
// pulled whole.
func planAppends(ctx context.Context, path string, hasPrev, full bool, loadPlans []planned) (map[string]*appendPull, error) {
	out := map[string]*appendPull{}
	for _, p := range loadPlans {
		if _, ok := incremental(p); ok {
			if _, err := watermarkKey(p); err != nil {
				return nil, err
			}
		}
	}
	if !hasPrev || full {
		return out, nil
	}
	marks, err := readStoreMarks(ctx, path)
	if err != nil {
		return nil, err
	}
	for _, p := range loadPlans {
		inc, ok := incremental(p)
		if !ok {
			continue
		}
		since, ok := marks[p.src.Name]
		if !ok {
			continue
		}
		key, _ := watermarkKey(p)
		inc.SetWatermark(since)
		out[p.src.Name] = &appendPull{since: since, key: key}
	}
	return out, nil
}

// readStoreMarks reads the watermark of each source at the store's last refresh.
func readStoreMarks(ctx context.Context, path string) (map[string]string, error) {
	db, err := openStoreRead(ctx, path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT source, coalesce(watermark, '') FROM store.store_watermark
		WHERE seq = (SELECT max(seq) FROM store.store_refresh)`)
	if err != nil {
		return nil, fmt.Errorf("store %s: watermarks: %w", path, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var s, w string
		if err := rows.Scan(&s, &w); err != nil {
			return nil, err
		}
		out[s] = w
	}
	return out, rows.Err()
}

// nothingPulled reports whether an incremental refresh loaded nothing but
// database sources pulled from their watermark, and they returned no row:
// the store stays as it is.
func nothingPulled(full bool, loadPlans []planned, appends map[string]*appendPull, stats []*mapping.Stats) bool {
	if full || len(loadPlans) == 0 {
		return false
	}
	for _, p := range loadPlans {
		if appends[p.src.Name] == nil {
			return false
		}
	}
	for _, st := range stats {
		if st.RowsRead > 0 || st.RowsAccepted > 0 || st.RowsQuarantined > 0 {
			return false
		}
	}
	return true
}

// appendPrevious puts the previous store's rows (attached as prev) of
// each source pulled from its watermark beside the pulled rows: the
// pulled rows are numbered after the previous ones (_rid), and the
// previous rows are copied but those whose watermark_key a pulled row has.
// Records linked by probability lose that link when unlinkProbabilistic
// (every record is linked again). The source's quarantine file keeps the
// previous rows' entries before the pulled ones'.
func (s *Session) appendPrevious(ctx context.Context, plans, loadPlans []planned, appends map[string]*appendPull, unlinkProbabilistic bool, oldQ, newQ string) error {
	for _, p := range loadPlans {
		a := appends[p.src.Name]
		if a == nil {
			continue
		}
		t := Table(p.role)
		base := int64(indexOfPlan(plans, p.src.Name)+1) << 40
		a.firstRID = base
		exists, err := s.hasTable(ctx, "prev", t)
		if err != nil {
			return err
		}
		if exists {
			var prevMax sql.NullInt64
			if err := s.DB.QueryRowContext(ctx, fmt.Sprintf("SELECT max(_rid) FROM prev.%s WHERE _source = ?", Ident(t)), p.src.Name).Scan(&prevMax); err != nil {
				return err
			}
			if prevMax.Valid {
				var minNew sql.NullInt64
				if err := s.DB.QueryRowContext(ctx, fmt.Sprintf("SELECT min(_rid) FROM %s WHERE _source = ?", Ident(t)), p.src.Name).Scan(&minNew); err != nil {
					return err
				}
				if minNew.Valid && minNew.Int64 <= prevMax.Int64 {
					if err := s.Exec(ctx, fmt.Sprintf("UPDATE %s SET _rid = _rid + %d WHERE _source = %s",
						Ident(t), prevMax.Int64+1-minNew.Int64, Lit(p.src.Name))); err != nil {
						return err
					}
				}
				a.firstRID = prevMax.Int64 + 1
			}
			sel := "*"
			if hasPersonKey(p.role) && unlinkProbabilistic {
				sel = `* REPLACE (CASE WHEN link_method = 'probabilistic' THEN NULL ELSE person_key END AS person_key,
					CASE WHEN link_method = 'probabilistic' THEN NULL ELSE link_method END AS link_method)`
			}
			where := "o._source = " + Lit(p.src.Name)
			if len(a.key) > 0 {
				var eq []string
				for _, k := range a.key {
					eq = append(eq, fmt.Sprintf("n.%s = o.%s", Ident(k), Ident(k)))
				}
				where += fmt.Sprintf(" AND NOT EXISTS (SELECT 1 FROM main.%s n WHERE n._source = %s AND n._rid >= %d AND %s)",
					Ident(t), Lit(p.src.Name), a.firstRID, strings.Join(eq, " AND "))
			}
			var before, copied int64
			if err := s.DB.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM prev.%s WHERE _source = ?", Ident(t)), p.src.Name).Scan(&before); err != nil {
				return err
			}
			res, err := s.DB.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s BY NAME SELECT %s FROM prev.%s o WHERE %s", Ident(t), sel, Ident(t), where))
			if err != nil {
				return fmt.Errorf("source %s: copy the previous rows: %w", p.src.Name, err)
			}
			if copied, err = res.RowsAffected(); err != nil {
				return err
			}
			a.replaced = before - copied
		}
		if err := mergeQuarantine(filepath.Join(oldQ, p.src.Name+".csv"), filepath.Join(newQ, p.src.Name+".csv")); err != nil {
			return fmt.Errorf("source %s: quarantine file: %w", p.src.Name, err)
		}
	}
	return nil
}

// mergeQuarantine puts the rows of the previous quarantine file old before
// those of the new one (whose BOM and header line are dropped).
func mergeQuarantine(old, new string) error {
	ob, err := os.ReadFile(old)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	nb, err := os.ReadFile(new)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if i := bytes.IndexByte(nb, '\n'); i >= 0 {
		nb = nb[i+1:]
	} else {
		nb = nil
	}
	if err := os.MkdirAll(filepath.Dir(new), 0o755); err != nil {
		return err
	}
	return os.WriteFile(new, append(ob, nb...), 0o644)
}

// linkDrop is the condition on person_link rows of prev that a refresh
// drops for a loaded source at position i of table t, and the condition
// on the table's rows that are linked again: every row of a source pulled
// whole, the pulled rows of a source pulled from its watermark (whose
// replaced rows' links go too).
func linkDrop(t, source string, i int, a *appendPull) (drop, relink string) {
	if a == nil {
		return fmt.Sprintf("(table_name = %s AND _rid >> 40 = %d)", Lit(t), i+1),
			"_source = " + Lit(source)
	}
	return fmt.Sprintf("(table_name = %s AND _rid >> 40 = %d AND _rid NOT IN (SELECT _rid FROM main.%s WHERE _source = %s AND _rid < %d))",
			Lit(t), i+1, Ident(t), Lit(source), a.firstRID),
		fmt.Sprintf("(_source = %s AND _rid >= %d)", Lit(source), a.firstRID)
}

// recordPulls writes, for refresh seq, what each source with a
// watermark_column pulled into store_watermark and returns it.
func (s *Session) recordPulls(ctx context.Context, seq int64, plans, loadPlans []planned, appends map[string]*appendPull, stats []*mapping.Stats) ([]WatermarkPull, error) {
	bySource := map[string]*mapping.Stats{}
	for _, st := range stats {
		bySource[st.Source] = st
	}
	loaded := map[string]bool{}
	for _, p := range loadPlans {
		loaded[p.src.Name] = true
	}
	var out []WatermarkPull
	for _, p := range plans {
		inc, ok := incremental(p)
		if !ok || !loaded[p.src.Name] {
			continue
		}
		wp := WatermarkPull{Source: p.src.Name, Reached: inc.Watermark()}
		if st := bySource[p.src.Name]; st != nil {
			wp.Rows = st.RowsAccepted + st.RowsQuarantined
		}
		if a := appends[p.src.Name]; a != nil {
			wp.Since, wp.Replaced, wp.Appended = a.since, a.replaced, true
		}
		if err := s.Exec(ctx, fmt.Sprintf("UPDATE store_watermark SET since = %s, rows_pulled = %d, rows_replaced = %d, appended = %t WHERE seq = %d AND source = %s",
			Lit(wp.Since), wp.Rows, wp.Replaced, wp.Appended, seq, Lit(wp.Source))); err != nil {
			return nil, err
		}
		out = append(out, wp)
	}
	return out, nil
}

// readPulls reads what the sources with a watermark_column pulled in
// refresh seq (none for a store written before the columns existed).
func readPulls(ctx context.Context, db *sql.DB, seq int64) []WatermarkPull {
	rows, err := db.QueryContext(ctx, `SELECT source, coalesce(since, ''), coalesce(watermark, ''), coalesce(rows_pulled, 0),
		coalesce(rows_replaced, 0), coalesce(appended, false) FROM store.store_watermark WHERE seq = ? ORDER BY source`, seq)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var out []WatermarkPull
	for rows.Next() {
		var w WatermarkPull
		if err := rows.Scan(&w.Source, &w.Since, &w.Reached, &w.Rows, &w.Replaced, &w.Appended); err != nil {
			return out
		}
		out = append(out, w)
	}
	return out
}
