package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// payeeViews points the keyed reference views of a roll screening at the
// rows of the screened payees' persons: the payees, the members of their
// registered households and their spouses in the marriage records (by
// person_key or another ID-number column), plus the first row of each
// source (so that rules testing whether a table or a source has data at
// all see it) — what Check reads for one applicant (subsetViews), for
// every payee of the roll at once. The rows are copied once into
// temporary tables (one filtered scan of each table, which DuckDB's
// zonemaps narrow on the person_key-sorted store) instead of every rule
// scanning the whole store: the rules' cost then grows with the roll,
// not with the store. A rule's hit on a payment joins reference rows to
// the payee by these keys; the screen-equals-batch tests check the
// subset against the whole tables.
//
// It runs after the payments are loaded, their IDs confirmed and repaired
// against the whole registry, and (--changed) narrowed to the changed
// persons.
func (s *Screener) payeeViews(ctx context.Context, sess *Session) error {
	if len(s.keyed) == 0 {
		return nil
	}
	q := `CREATE OR REPLACE TEMP TABLE _payee_key AS
		WITH p AS (SELECT DISTINCT person_key FROM payment WHERE person_key IS NOT NULL)
		SELECT person_key FROM p`
	if _, ok := s.keyed["person"]; ok {
		q += ` UNION SELECT b.person_key FROM refstore.main.person a JOIN refstore.main.person b USING (household_id)
			WHERE a.person_key IN (SELECT person_key FROM p) AND a.household_id IS NOT NULL AND b.person_key IS NOT NULL`
	}
	if slices.Contains(s.keyed["marriage"], "spouse_id_number") {
		q += ` UNION SELECT spouse_id_number FROM refstore.main.marriage WHERE person_key IN (SELECT person_key FROM p) AND spouse_id_number IS NOT NULL
			UNION SELECT person_key FROM refstore.main.marriage WHERE spouse_id_number IN (SELECT person_key FROM p) AND person_key IS NOT NULL`
	}
	stmts := []string{q}
	tables := make([]string, 0, len(s.keyed))
	for t := range s.keyed {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	for _, t := range tables {
		var conds []string
		for _, c := range s.keyed[t] {
			conds = append(conds, fmt.Sprintf("%s IN (SELECT person_key FROM temp._payee_key)", Ident(c)))
		}
		match := "(" + strings.Join(conds, " OR ") + ")"
		sub := Ident("_payee_" + t)
		sel := fmt.Sprintf("SELECT * FROM refstore.main.%s WHERE %s", Ident(t), match)
		if ids := s.sentinels[t]; len(ids) > 0 {
			l := make([]string, len(ids))
			for i, id := range ids {
				l[i] = fmt.Sprint(id)
			}
			sel += fmt.Sprintf(" UNION ALL SELECT * FROM refstore.main.%s WHERE _rid IN (%s) AND NOT coalesce(%s, false)",
				Ident(t), strings.Join(l, ", "), match)
		}
		stmts = append(stmts, fmt.Sprintf("CREATE OR REPLACE TEMP TABLE %s AS %s", sub, sel),
			fmt.Sprintf("CREATE OR REPLACE VIEW main.%s AS SELECT * FROM temp.%s", Ident(t), sub))
	}
	return sess.Exec(ctx, stmts...)
}
