package engine

import (
	"context"
	"database/sql/driver"
	"fmt"
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
	for _, t := range tables {
		parts = append(parts, fmt.Sprintf(`SELECT DISTINCT id_number FROM %s
			WHERE id_number_status = 'invalid' AND length(id_number) = 18 AND name_norm IS NOT NULL`, t))
	}
	rows, err := s.DB.QueryContext(ctx, strings.Join(parts, " UNION "))
	if err != nil {
		return nil, err
	}
	var bad []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		bad = append(bad, id)
	}
	rows.Close()
	if err := s.Exec(ctx, `CREATE OR REPLACE TABLE id_repair_candidate (id_number VARCHAR, candidate VARCHAR)`); err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		if err := s.appendCandidates(ctx, bad); err != nil {
			return nil, err
		}
	}
	// A record is repaired when exactly one candidate is registered under
	// the record's own normalised name.
	var stmts []string
	for _, t := range tables {
		stmts = append(stmts, fmt.Sprintf(`UPDATE %[1]s SET person_key = r.candidate, id_number_status = 'repaired', link_method = 'repaired'
			FROM (
				SELECT x.id_number, x.name_norm, min(c.candidate) AS candidate
				FROM (SELECT DISTINCT id_number, name_norm FROM %[1]s WHERE id_number_status = 'invalid') x
				JOIN id_repair_candidate c ON c.id_number = x.id_number
				JOIN (SELECT DISTINCT person_key, name_norm FROM person WHERE person_key IS NOT NULL) p
				  ON p.person_key = c.candidate AND p.name_norm = x.name_norm
				GROUP BY ALL HAVING count(DISTINCT c.candidate) = 1
			) r
			WHERE %[1]s.id_number = r.id_number AND %[1]s.name_norm = r.name_norm AND %[1]s.id_number_status = 'invalid'`, t))
	}
	if err := s.Exec(ctx, stmts...); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, t := range tables {
		rows, err := s.DB.QueryContext(ctx, fmt.Sprintf(`SELECT _source, count(*) FROM %s WHERE id_number_status = 'repaired' GROUP BY _source`, t))
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var src string
			var n int64
			if err := rows.Scan(&src, &n); err != nil {
				rows.Close()
				return nil, err
			}
			out[src] += n
		}
		rows.Close()
	}
	return out, nil
}

func (s *Session) appendCandidates(ctx context.Context, bad []string) error {
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
		for _, id := range bad {
			for _, c := range idnumber.RepairCandidates(id) {
				if err := app.AppendRow(id, c); err != nil {
					app.Close()
					return err
				}
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
