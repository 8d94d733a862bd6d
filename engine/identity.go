package engine

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// repairIDs gives a person key to records whose ID number is invalid but
// one substitution or one adjacent transposition away from exactly one ID
// in the person registry registered under the same normalised name. The
// record's status becomes "repaired"; its id_number stays as sent. It
// returns the number of records repaired per source.
//
// The candidates are found in SQL, over the invalid IDs only: each
// invalid ID is joined with the registry keys under the same name that
// share its first 8 or its last 9 characters (one substitution or one
// adjacent transposition leaves one of the two intact), and the pairs one
// edit apart are kept. Go then checks the few pairs left with the ID
// rules (idnumber.Valid), so that a repair is exactly one that
// idnumber.RepairCandidates would propose.
func (s *Session) repairIDs(ctx context.Context, roles []dataset.Role) (map[string]int64, error) {
	var tables []string
	for _, r := range roles {
		if !hasPersonKey(r) || r.Name == "person" {
			continue
		}
		if _, ok := r.Column("name"); !ok {
			continue
		}
		tables = append(tables, Ident(Table(r)))
	}
	if len(tables) == 0 {
		return nil, nil
	}
	var parts []string
	for i, t := range tables {
		parts = append(parts, fmt.Sprintf(`SELECT DISTINCT %d AS tbl, id_number, name_norm FROM %s
			WHERE id_number_status = 'invalid' AND length(id_number) = 18 AND name_norm IS NOT NULL`, i, t))
	}
	// Without an invalid ID there is nothing to repair: the registry is
	// not read (a Check's one payment, a roll of valid IDs).
	var bad bool
	if err := s.DB.QueryRowContext(ctx, "SELECT EXISTS ("+strings.Join(parts, " UNION ALL ")+")").Scan(&bad); err != nil {
		return nil, err
	}
	if !bad {
		if err := s.Exec(ctx, `CREATE OR REPLACE TABLE id_repair_candidate (id_number VARCHAR, name_norm VARCHAR, candidate VARCHAR)`); err != nil {
			return nil, err
		}
		return map[string]int64{}, nil
	}
	// c: the candidate key; the transposition test runs only on pairs
	// with two differing characters. tbl: the tables that hold the ID.
	// reg keeps only the registry's rows under the names of the invalid
	// IDs (a semi-join) before DISTINCT, instead of aggregating the whole
	// registry for a roll with a few invalid IDs.
	q := fmt.Sprintf(`WITH bad AS (SELECT id_number, name_norm, array_to_string(list(DISTINCT tbl), ',') AS tbl FROM (%s) GROUP BY ALL),
		reg AS (SELECT DISTINCT person_key, name_norm FROM person WHERE person_key IS NOT NULL AND length(person_key) = 18
			AND name_norm IN (SELECT name_norm FROM bad)),
		pair AS (
			SELECT b.id_number, b.name_norm, r.person_key AS c FROM bad b
			JOIN reg r ON r.name_norm = b.name_norm AND left(r.person_key, 8) = left(b.id_number, 8)
			UNION
			SELECT b.id_number, b.name_norm, r.person_key AS c FROM bad b
			JOIN reg r ON r.name_norm = b.name_norm AND right(r.person_key, 9) = right(b.id_number, 9)
		),
		near AS (SELECT *, hamming(id_number, c) AS d FROM pair)
		SELECT n.id_number, n.name_norm, n.c, b.tbl FROM near n JOIN bad b USING (id_number, name_norm)
		WHERE d = 1 OR (d = 2 AND list_bool_or(list_transform(range(1, 18),
			i -> c = substr(id_number, 1, i - 1) || substr(id_number, i + 1, 1) || substr(id_number, i, 1) || substr(id_number, i + 2))))`,
		strings.Join(parts, " UNION ALL "))
	rows, err := s.DB.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	var pairs [][3]string
	touched := make([]bool, len(tables))
	for rows.Next() {
		var p [3]string
		var tbl string
		if err := rows.Scan(&p[0], &p[1], &p[2], &tbl); err != nil {
			rows.Close()
			return nil, err
		}
		if repairable(p[0], p[2]) {
			pairs = append(pairs, p)
			for _, f := range strings.Split(tbl, ",") {
				if i, err := strconv.Atoi(f); err == nil && i >= 0 && i < len(touched) {
					touched[i] = true
				}
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := s.Exec(ctx, `CREATE OR REPLACE TABLE id_repair_candidate (id_number VARCHAR, name_norm VARCHAR, candidate VARCHAR)`); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	if len(pairs) == 0 {
		return out, nil
	}
	if err := s.appendCandidates(ctx, pairs); err != nil {
		return nil, err
	}
	// A record is repaired when exactly one candidate is registered under
	// the record's own normalised name. Only the tables holding such an
	// ID are updated; RETURNING counts the repaired records per source.
	for i, t := range tables {
		if !touched[i] {
			continue
		}
		rows, err := s.DB.QueryContext(ctx, fmt.Sprintf(`UPDATE %[1]s SET person_key = r.candidate, id_number_status = 'repaired', link_method = 'repaired'
			FROM (
				SELECT id_number, name_norm, min(candidate) AS candidate FROM id_repair_candidate
				GROUP BY ALL HAVING count(DISTINCT candidate) = 1
			) r
			WHERE %[1]s.id_number = r.id_number AND %[1]s.name_norm = r.name_norm AND %[1]s.id_number_status = 'invalid'
			RETURNING %[1]s._source`, t))
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var src string
			if err := rows.Scan(&src); err != nil {
				rows.Close()
				return nil, err
			}
			out[src]++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// repairable reports whether candidate, a registry key one edit away from
// the invalid ID id (found in SQL), is a repair idnumber.RepairCandidates
// proposes for id: id is 18 characters of digits and X and not valid,
// and the candidate is a valid ID.
func repairable(id, candidate string) bool {
	if len(id) != 18 || idnumber.Valid(id) || !idnumber.Valid(candidate) {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && c != 'X' {
			return false
		}
	}
	return true
}

func (s *Session) appendCandidates(ctx context.Context, pairs [][3]string) error {
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		app, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", "id_repair_candidate")
		if err != nil {
			return err
		}
		for _, p := range pairs {
			if err := app.AppendRow(p[0], p[1], p[2]); err != nil {
				app.Close()
				return err
			}
		}
		return app.Close()
	})
}

// confirmExcelIDs gives back their ID to records whose number came as a
// spreadsheet rendering (4.11082194501039E+17, …000.0) of a valid ID that
// the person registry holds: a real ID ending in 000 (check character 0,
// sequence x00) survives Excel's 15 significant digits, so it is only
// suspected of damage when the registry does not know it. The record
// becomes valid with the 18-digit number (id_number_raw keeps what was
// sent). It returns the number of records confirmed per source.
func (s *Session) confirmExcelIDs(ctx context.Context, roles []dataset.Role) (map[string]int64, error) {
	var tables []string
	for _, r := range roles {
		if hasPersonKey(r) && r.Name != "person" {
			tables = append(tables, Ident(Table(r)))
		}
	}
	if len(tables) == 0 {
		return nil, nil
	}
	var parts []string
	for _, t := range tables {
		parts = append(parts, fmt.Sprintf(`SELECT DISTINCT id_number FROM %s WHERE id_number_status = 'excel_damaged'`, t))
	}
	rows, err := s.DB.QueryContext(ctx, strings.Join(parts, " UNION "))
	if err != nil {
		return nil, err
	}
	var pairs [][2]string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		if v, ok := idnumber.ExcelValue(id); ok {
			pairs = append(pairs, [2]string{id, v})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	if len(pairs) == 0 {
		return out, nil
	}
	vals := make([]string, len(pairs))
	for i, p := range pairs {
		vals[i] = fmt.Sprintf("(%s, %s)", Lit(p[0]), Lit(p[1]))
	}
	if err := s.Exec(ctx, `CREATE OR REPLACE TEMP TABLE excel_id_value (id_number VARCHAR, value VARCHAR)`,
		`INSERT INTO excel_id_value VALUES `+strings.Join(vals, ", ")); err != nil {
		return nil, err
	}
	for _, t := range tables {
		rows, err := s.DB.QueryContext(ctx, fmt.Sprintf(`UPDATE %[1]s SET id_number = v.value, person_key = v.value, id_number_status = 'valid',
				id_number_reason = NULL, link_method = 'exact'
			FROM excel_id_value v
			WHERE %[1]s.id_number = v.id_number AND %[1]s.id_number_status = 'excel_damaged'
				AND v.value IN (SELECT person_key FROM person WHERE person_key IS NOT NULL)
			RETURNING %[1]s._source`, t))
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var src string
			if err := rows.Scan(&src); err != nil {
				rows.Close()
				return nil, err
			}
			out[src]++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, s.Exec(ctx, `DROP TABLE excel_id_value`)
}
