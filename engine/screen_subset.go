package engine

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/crosscheck/crosscheck/rules"
)

// payeeRanges is the most rowid ranges payeeViews reads a reference table
// by: more would make DuckDB test each row against more ranges than the
// skipped rows save.
const payeeRanges = 32

// payeeViews points the keyed reference views of a roll screening at the
// rows of the screened payees' persons: the payees, the members of their
// registered households and their spouses in the marriage records (by
// person_key or another ID-number column), plus the first row of each
// source (so that rules testing whether a table or a source has data at
// all see it) — what Check reads for one applicant (subsetViews), for
// every payee of the roll at once. The rows are copied once into
// temporary tables instead of every rule scanning the whole store: the
// rules' cost then grows with the roll, not with the store. A rule's hit
// on a payment joins reference rows to the payee by these keys; the
// screen-equals-batch tests check the subset against the whole tables.
//
// A table is read twice, so that its other columns are read only near
// the payees' rows: first its ID columns alone, each matched by its own
// semi-join, give the rowids of the rows to copy; then the rows are copied
// by rowid, the scan limited to at most payeeRanges rowid ranges around
// them. The store is sorted by person_key, so that the rows of a county's
// roll lie in few ranges and the scan skips the rest of the table (a
// semi-join alone reads every column of every row, and an OR of two
// semi-joins as well). A table no rule reads (ruleReads) is not copied:
// its view selects the same rows from the store when something reads it.
//
// It runs after the payments are loaded, their IDs confirmed and repaired
// against the whole registry, and (--changed) narrowed to the changed
// persons.
func (s *Screener) payeeViews(ctx context.Context, sess *Session) error {
	if len(s.keyed) == 0 {
		return nil
	}
	// The payees' keys, their households' members, their spouses.
	q := `CREATE OR REPLACE TEMP TABLE _payee_key AS
		WITH p AS (SELECT DISTINCT person_key FROM payment WHERE person_key IS NOT NULL)
		SELECT person_key FROM p`
	if _, ok := s.keyed["person"]; ok {
		q += ` UNION SELECT person_key FROM refstore.main.person WHERE household_id IN (
				SELECT household_id FROM refstore.main.person WHERE person_key IN (SELECT person_key FROM p) AND household_id IS NOT NULL)
			AND person_key IS NOT NULL`
	}
	if slices.Contains(s.keyed["marriage"], "spouse_id_number") {
		q += ` UNION SELECT spouse_id_number FROM refstore.main.marriage WHERE person_key IN (SELECT person_key FROM p) AND spouse_id_number IS NOT NULL
			UNION SELECT person_key FROM refstore.main.marriage WHERE spouse_id_number IN (SELECT person_key FROM p) AND person_key IS NOT NULL`
	}
	// One connection: the temporary tables are the connection's.
	conn, err := sess.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := execConn(ctx, conn, q); err != nil {
		return err
	}
	reads := s.ruleReads(ctx, conn)
	tables := make([]string, 0, len(s.keyed))
	for t := range s.keyed {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	for _, t := range tables {
		if reads != nil && !reads[t] {
			// No rule reads the table: a view selecting the same rows,
			// which costs nothing unless something reads it.
			if err := execConn(ctx, conn, fmt.Sprintf("CREATE OR REPLACE VIEW main.%s AS %s", Ident(t), s.payeeSelect(t))); err != nil {
				return err
			}
			continue
		}
		var parts []string
		for _, c := range s.keyed[t] {
			parts = append(parts, fmt.Sprintf("SELECT rowid AS r FROM refstore.main.%s WHERE %s IN (SELECT person_key FROM temp._payee_key)", Ident(t), Ident(c)))
		}
		if ids := s.sentinels[t]; len(ids) > 0 {
			l := make([]string, len(ids))
			for i, id := range ids {
				l[i] = fmt.Sprint(id)
			}
			parts = append(parts, fmt.Sprintf("SELECT rowid FROM refstore.main.%s WHERE _rid IN (%s)", Ident(t), strings.Join(l, ", ")))
		}
		if err := execConn(ctx, conn, "CREATE OR REPLACE TEMP TABLE _payee_rows AS "+strings.Join(parts, " UNION ")); err != nil {
			return err
		}
		ranges, err := rowRanges(ctx, conn, payeeRanges)
		if err != nil {
			return err
		}
		sub := Ident("_payee_" + t)
		if err := execConn(ctx, conn,
			fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s AS SELECT * FROM refstore.main.%s WHERE (%s) AND rowid IN (SELECT r FROM temp._payee_rows)",
				sub, Ident(t), ranges),
			fmt.Sprintf("CREATE OR REPLACE VIEW main.%s AS SELECT * FROM temp.%s", Ident(t), sub)); err != nil {
			return err
		}
	}
	return execConn(ctx, conn, "DROP TABLE temp._payee_rows")
}

// payeeSelect selects the rows of table t payeeViews copies: those whose
// ID columns hold a key of temp._payee_key, and the sentinel rows.
func (s *Screener) payeeSelect(t string) string {
	var conds []string
	for _, c := range s.keyed[t] {
		conds = append(conds, fmt.Sprintf("%s IN (SELECT person_key FROM temp._payee_key)", Ident(c)))
	}
	if ids := s.sentinels[t]; len(ids) > 0 {
		l := make([]string, len(ids))
		for i, id := range ids {
			l[i] = fmt.Sprint(id)
		}
		conds = append(conds, fmt.Sprintf("_rid IN (%s)", strings.Join(l, ", ")))
	}
	return fmt.Sprintf("SELECT * FROM refstore.main.%s WHERE %s", Ident(t), strings.Join(conds, " OR "))
}

// ruleReads are the tables the rules' SQL (and the pre-aggregations they
// share) names as tables, lower-case, as DuckDB's parser finds them: a
// word in a string or a column of the same name does not count. Nil when
// a statement could not be parsed (every table then counts as read).
// Computed once per screener.
func (s *Screener) ruleReads(ctx context.Context, conn *sql.Conn) map[string]bool {
	s.readsOnce.Do(func() {
		create, _ := rules.RulePrelude(s.comp)
		var stmts []string
		for _, q := range create {
			_, sel, ok := strings.Cut(q, " AS ")
			if !ok {
				return
			}
			stmts = append(stmts, sel)
		}
		for _, c := range s.comp {
			stmts = append(stmts, c.SQL)
			if c.SharedSQL != "" {
				stmts = append(stmts, c.SharedSQL)
			}
		}
		reads := map[string]bool{}
		for _, q := range stmts {
			var js string
			if err := conn.QueryRowContext(ctx, "SELECT json_serialize_sql("+Lit(q)+")::VARCHAR").Scan(&js); err != nil {
				return
			}
			var tree any
			if err := json.Unmarshal([]byte(js), &tree); err != nil {
				return
			}
			if m, ok := tree.(map[string]any); !ok || m["error"] != false {
				return
			}
			baseTables(tree, reads)
		}
		s.reads = reads
	})
	return s.reads
}

// baseTables adds the table_name of every BASE_TABLE node of a parsed
// statement (json_serialize_sql) to out, lower-case.
func baseTables(node any, out map[string]bool) {
	switch n := node.(type) {
	case map[string]any:
		if n["type"] == "BASE_TABLE" {
			if t, ok := n["table_name"].(string); ok {
				out[strings.ToLower(t)] = true
			}
		}
		for _, v := range n {
			baseTables(v, out)
		}
	case []any:
		for _, v := range n {
			baseTables(v, out)
		}
	}
}

// rowRanges reads the rowids of temp._payee_rows and returns a condition
// on rowid that admits them: at most n ranges, the gaps between them the
// largest between the rowids ("false" for none).
func rowRanges(ctx context.Context, conn *sql.Conn, n int) (string, error) {
	rows, err := conn.QueryContext(ctx, "SELECT r FROM temp._payee_rows ORDER BY r")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return "", err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return rowidRanges(ids, n), nil
}

// rowidRanges is a condition on rowid that admits the sorted rowids ids:
// at most n ranges (n ≥ 1), split at the n-1 largest gaps between
// consecutive ids ("false" for none).
func rowidRanges(ids []int64, n int) string {
	if len(ids) == 0 {
		return "false"
	}
	// gaps[k] = i: a gap between ids[i-1] and ids[i]
	gaps := make([]int, 0, len(ids)-1)
	for i := 1; i < len(ids); i++ {
		if ids[i]-ids[i-1] > 1 {
			gaps = append(gaps, i)
		}
	}
	slices.SortStableFunc(gaps, func(a, b int) int {
		return cmp.Compare(ids[b]-ids[b-1], ids[a]-ids[a-1])
	})
	if len(gaps) > n-1 {
		gaps = gaps[:max(n-1, 0)]
	}
	slices.Sort(gaps)
	var conds []string
	lo := ids[0]
	for _, g := range append(gaps, len(ids)) {
		conds = append(conds, fmt.Sprintf("rowid BETWEEN %d AND %d", lo, ids[g-1]))
		if g < len(ids) {
			lo = ids[g]
		}
	}
	return strings.Join(conds, " OR ")
}

// execConn runs statements one after the other on conn.
func execConn(ctx context.Context, conn *sql.Conn, stmts ...string) error {
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%w\nin SQL: %s", err, firstLines(q, 6))
		}
	}
	return nil
}
