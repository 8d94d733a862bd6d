package rules

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/crosscheck/crosscheck/schema"
)

// RunSet runs compiled rules on a prepared database (canonical tables
// loaded, Prelude run, Sandbox applied) into table, created or replaced
// with the columns rule_id, category, _rid, severity, explanation,
// evidence, fields (schema.RuleHitsDDL). It checks the contract of one hit per payment and
// rule. log, when not nil, gets each rule's time.
func RunSet(ctx context.Context, db *sql.DB, comp []Compiled, table string, log *slog.Logger) error {
	if _, err := db.ExecContext(ctx, schema.RuleHitsDDL(table)); err != nil {
		return err
	}
	for _, c := range comp {
		t0 := time.Now()
		q := fmt.Sprintf("INSERT INTO %s SELECT %s, %s, _rid, severity, explanation, evidence::VARCHAR, fields::VARCHAR FROM (%s)",
			ident(table), lit(c.ID), lit(c.Category), c.SQL)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("rule %s (%s): %w", c.ID, c.File, err)
		}
		if log != nil {
			log.Info("rule", "id", c.ID, "seconds", time.Since(t0).Seconds())
		}
	}
	var dup int64
	var rule sql.NullString
	if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*), min(rule_id) FROM (SELECT rule_id, _rid FROM %s GROUP BY ALL HAVING count(*) > 1)`,
		ident(table))).Scan(&dup, &rule); err != nil {
		return err
	}
	if dup > 0 {
		return fmt.Errorf("rule %s: %d payments hit more than once by the same rule; a rule returns one row per payment", rule.String, dup)
	}
	return nil
}

// RuleDiff is how one rule's hits changed between two rule sets run on
// the same data.
type RuleDiff struct {
	Rule string
	// Status is "added" (rule only in the new set), "removed" (only in
	// the old), "changed" or "same".
	Status  string
	Old     int64
	New     int64
	Added   int64 // payments hit by the new set only
	Removed int64 // payments hit by the old set only
	// Changed counts payments hit by both with another severity or
	// explanation.
	Changed        int64
	AddedSamples   []DiffSample
	RemovedSamples []DiffSample
	ChangedSamples []DiffSample
}

// DiffSample is one payment whose hit was added, removed or changed.
type DiffSample struct {
	Source      string
	File        string
	Row         int64
	PaymentID   string
	Severity    string
	Explanation string
	// OldSeverity and OldExplanation are set for changed hits.
	OldSeverity    string
	OldExplanation string
}

// Diff compares two hit tables filled by RunSet on the same data: per rule
// the hits added and removed, with up to samples examples each. oldRules
// and newRules list the rules of each set, so that a rule without hits
// still shows.
func Diff(ctx context.Context, db *sql.DB, oldTable, newTable string, oldRules, newRules []string, samples int) ([]RuleDiff, error) {
	by := map[string]*RuleDiff{}
	get := func(id string) *RuleDiff {
		d := by[id]
		if d == nil {
			d = &RuleDiff{Rule: id}
			by[id] = d
		}
		return d
	}
	inOld, inNew := map[string]bool{}, map[string]bool{}
	for _, id := range oldRules {
		inOld[id] = true
		get(id)
	}
	for _, id := range newRules {
		inNew[id] = true
		get(id)
	}
	q := fmt.Sprintf(`WITH o AS (SELECT * FROM %[1]s), n AS (SELECT * FROM %[2]s)
		SELECT coalesce(n.rule_id, o.rule_id) AS rule_id,
			count(o._rid) AS old, count(n._rid) AS new,
			count(*) FILTER (WHERE o._rid IS NULL) AS added,
			count(*) FILTER (WHERE n._rid IS NULL) AS removed,
			count(*) FILTER (WHERE o._rid IS NOT NULL AND n._rid IS NOT NULL
				AND (o.severity IS DISTINCT FROM n.severity OR o.explanation IS DISTINCT FROM n.explanation)) AS changed
		FROM o FULL JOIN n ON o.rule_id = n.rule_id AND o._rid = n._rid
		GROUP BY ALL`, ident(oldTable), ident(newTable))
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var o, n, a, r, c int64
		if err := rows.Scan(&id, &o, &n, &a, &r, &c); err != nil {
			rows.Close()
			return nil, err
		}
		d := get(id)
		d.Old, d.New, d.Added, d.Removed, d.Changed = o, n, a, r, c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if samples > 0 {
		sq := fmt.Sprintf(`WITH o AS (SELECT * FROM %[1]s), n AS (SELECT * FROM %[2]s), d AS (
			SELECT coalesce(n.rule_id, o.rule_id) AS rule_id, coalesce(n._rid, o._rid) AS _rid,
				CASE WHEN o._rid IS NULL THEN 'added' WHEN n._rid IS NULL THEN 'removed' ELSE 'changed' END AS kind,
				coalesce(n.severity, o.severity) AS severity, coalesce(n.explanation, o.explanation) AS explanation,
				CASE WHEN n._rid IS NOT NULL THEN o.severity END AS old_severity,
				CASE WHEN n._rid IS NOT NULL THEN o.explanation END AS old_explanation
			FROM o FULL JOIN n ON o.rule_id = n.rule_id AND o._rid = n._rid
			WHERE o._rid IS NULL OR n._rid IS NULL
				OR o.severity IS DISTINCT FROM n.severity OR o.explanation IS DISTINCT FROM n.explanation
		), r AS (
			SELECT d.*, s._source, s._file, s._row, s.payment_id,
				row_number() OVER (PARTITION BY d.rule_id, d.kind ORDER BY s._source, s._file, s._row) AS k
			FROM d LEFT JOIN screened s USING (_rid)
		)
		SELECT rule_id, kind, coalesce(_source, ''), coalesce(_file, ''), coalesce(_row, 0), coalesce(payment_id, ''),
			coalesce(severity, ''), coalesce(explanation, ''), coalesce(old_severity, ''), coalesce(old_explanation, '')
		FROM r WHERE k <= %[3]d ORDER BY rule_id, kind, k`, ident(oldTable), ident(newTable), samples)
		rows, err := db.QueryContext(ctx, sq)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, kind string
			var s DiffSample
			if err := rows.Scan(&id, &kind, &s.Source, &s.File, &s.Row, &s.PaymentID, &s.Severity, &s.Explanation,
				&s.OldSeverity, &s.OldExplanation); err != nil {
				rows.Close()
				return nil, err
			}
			d := get(id)
			switch kind {
			case "added":
				d.AddedSamples = append(d.AddedSamples, s)
			case "removed":
				d.RemovedSamples = append(d.RemovedSamples, s)
			default:
				d.ChangedSamples = append(d.ChangedSamples, s)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]RuleDiff, 0, len(by))
	for id, d := range by {
		switch {
		case inNew[id] && !inOld[id]:
			d.Status = "added"
		case inOld[id] && !inNew[id]:
			d.Status = "removed"
		case d.Added+d.Removed+d.Changed > 0:
			d.Status = "changed"
		default:
			d.Status = "same"
		}
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rule < out[j].Rule })
	return out, nil
}

// WriteDiff prints a diff report: a table of hits per rule, then samples.
func WriteDiff(w io.Writer, diffs []RuleDiff) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "rule\tstatus\told\tnew\tadded\tremoved\tchanged")
	for _, d := range diffs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t+%d\t-%d\t~%d\n", d.Rule, d.Status, d.Old, d.New, d.Added, d.Removed, d.Changed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, d := range diffs {
		if len(d.AddedSamples)+len(d.RemovedSamples)+len(d.ChangedSamples) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", d.Rule)
		for _, s := range d.AddedSamples {
			fmt.Fprintf(w, "  + %s %s:%d %s [%s] %s\n", s.PaymentID, s.Source, s.Row, s.File, s.Severity, s.Explanation)
		}
		for _, s := range d.RemovedSamples {
			fmt.Fprintf(w, "  - %s %s:%d %s [%s] %s\n", s.PaymentID, s.Source, s.Row, s.File, s.Severity, s.Explanation)
		}
		for _, s := range d.ChangedSamples {
			fmt.Fprintf(w, "  ~ %s %s:%d %s [%s → %s] %s\n", s.PaymentID, s.Source, s.Row, s.File, s.OldSeverity, s.Severity,
				changedText(s.OldExplanation, s.Explanation))
		}
	}
	return nil
}

func changedText(o, n string) string {
	if o == n {
		return n
	}
	return strings.TrimSpace(o) + " → " + strings.TrimSpace(n)
}
