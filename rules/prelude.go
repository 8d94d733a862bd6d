package rules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/crosscheck/crosscheck/dataset"
)

// PersonLinkDDL creates person_link as package identity writes it (one
// row per record of the linked tables: how its person key was reached and,
// for a probabilistic link, its match probability) when it does not exist,
// so that rules can be checked and tested without linkage. The engine's
// linkage replaces it.
const PersonLinkDDL = `CREATE TABLE IF NOT EXISTS person_link (table_name VARCHAR, _rid BIGINT, person_key VARCHAR, method VARCHAR,
	match_weight DOUBLE, match_probability DOUBLE, candidates VARCHAR, n_candidates BIGINT)`

// CatalogueDDL creates the program catalogue tables the engine fills.
var CatalogueDDL = []string{
	`CREATE TABLE IF NOT EXISTS program_catalogue (program_code VARCHAR PRIMARY KEY, name VARCHAR, department VARCHAR,
		frequency VARCHAR, min_age INTEGER, max_age INTEGER, requires VARCHAR, ssc_required BOOLEAN,
		payable_after_death BOOLEAN, standard_amount DOUBLE)`,
	`CREATE TABLE IF NOT EXISTS program_exclusive (program_code VARCHAR, other_code VARCHAR)`,
}

// duckType is the DuckDB type of a physical field (as the engine creates
// the tables).
func duckType(f dataset.Field) string {
	switch f.Type.ID() {
	case arrow.INT64:
		return "BIGINT"
	case arrow.FLOAT64:
		return "DOUBLE"
	case arrow.DATE32:
		return "DATE"
	case arrow.BOOL:
		return "BOOLEAN"
	}
	return "VARCHAR"
}

func hasPersonKey(r dataset.Role) bool {
	c, ok := r.Column("id_number")
	return ok && c.Kind == dataset.ID
}

// TableDDL creates the empty canonical table of a role, as the engine
// does: its physical fields, and for roles with an ID number person_key
// with link_method and link_probability (how the key was reached:
// exact, upgraded, repaired, probabilistic; the match probability of a
// probabilistic link).
func TableDDL(r dataset.Role) string {
	var cols []string
	for _, f := range r.Fields() {
		cols = append(cols, fmt.Sprintf("%s %s", ident(f.Name), duckType(f)))
	}
	if hasPersonKey(r) {
		cols = append(cols, dataset.ColPersonKey+" VARCHAR", "link_method VARCHAR", "link_probability DOUBLE")
	}
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s)", ident(r.Name), strings.Join(cols, ", "))
}

// Prelude returns the statements that prepare a loaded database for rules:
// the helper macros (src_title from the sources' titles), the screened
// table (payments of periods, all when periods is empty, joined with the
// catalogue) and person_link when absent. The engine's prepareRules does
// the same (it may call this instead).
func Prelude(titles map[string]string, periods []string) []string {
	names := make([]string, 0, len(titles))
	for n := range titles {
		names = append(names, n)
	}
	sort.Strings(names)
	title := "s"
	if len(names) > 0 {
		var when []string
		for _, n := range names {
			when = append(when, fmt.Sprintf("WHEN %s THEN %s", lit(n), lit(titles[n])))
		}
		title = "CASE s " + strings.Join(when, " ") + " ELSE s END"
	}
	cond := "TRUE"
	if len(periods) > 0 {
		ps := make([]string, len(periods))
		for i, p := range periods {
			ps[i] = lit(p)
		}
		cond = "p.period IN (" + strings.Join(ps, ", ") + ")"
	}
	return []string{
		"CREATE OR REPLACE MACRO src_title(s) AS " + title,
		`CREATE OR REPLACE MACRO ev(s, f, r, o) AS json_object('source', s, 'title', src_title(s), 'file', f, 'row', r, 'values', json(o))`,
		`CREATE OR REPLACE MACRO ym(d) AS strftime(d, '%Y年%-m月')`,
		`CREATE OR REPLACE MACRO money(x) AS printf('%.2f', x)`,
		`CREATE OR REPLACE TABLE screened AS
			SELECT p.*, coalesce(c.name, p.program_code) AS program_name, c.department, c.min_age, c.max_age,
				c.payable_after_death, c.ssc_required, c.standard_amount
			FROM payment p LEFT JOIN program_catalogue c USING (program_code)
			WHERE ` + cond,
		PersonLinkDDL,
	}
}

// schema returns the statements creating an empty database with the
// canonical tables of roles and the catalogue tables.
func schema(roles []dataset.Role) []string {
	var out []string
	for _, r := range roles {
		out = append(out, TableDDL(r))
	}
	out = append(out, CatalogueDDL...)
	return append(out, PersonLinkDDL)
}

// fixedTables are the tables rules may read besides the datasets.
var fixedTables = []string{"screened", "program_catalogue", "program_exclusive", "person_link"}
