// Package schema owns the database layout of a screening: the canonical
// table of each role (name and DDL, with person_key, link_method and
// link_probability for roles with an ID number), person_link as package
// identity writes it, the program catalogue and its inserts, the helper
// macros rules call (src_title, src_personal, ev, ym, money), the screened
// view, and the SQL and columns of the hits and cases tables.
//
// The engine, the rule checker and the rule test runner build their
// databases from this package alone, so that a rule tested with `crosscheck
// rules test` meets the tables and macros of a real run. The package builds
// SQL text and runs nothing; it imports neither engine nor rules.
package schema

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/crosscheck/crosscheck/dataset"
)

// Names of the fixed tables (the canonical tables are named by Table).
const (
	// Screened holds the payments of the screened periods joined with the
	// program catalogue: what rules return _rid of.
	Screened = "screened"
	// ProgramCatalogue is the merged program catalogue, one row per program.
	ProgramCatalogue = "program_catalogue"
	// ProgramExclusive lists pairs of mutually exclusive programs, both ways.
	ProgramExclusive = "program_exclusive"
	// PersonLink is identity's table: one row per record of the linked tables.
	PersonLink = "person_link"
	// RuleHits holds the rows the rules returned (_rid, rule_id, …).
	RuleHits = "rule_hits"
	// Hits is one row per payment and rule (hits.parquet).
	Hits = "hits"
	// Cases is one row per person (or payment), program and period (cases.parquet).
	Cases = "cases"
)

// RuleTables are the tables rules may read besides the canonical tables
// of the roles.
var RuleTables = []string{Screened, ProgramCatalogue, ProgramExclusive, PersonLink}

// Columns added to the canonical tables of roles with an ID number (see
// HasPersonKey): the resolved person, how it was reached (exact, upgraded,
// repaired, probabilistic, unresolved) and the match probability of a
// probabilistic link.
const (
	ColPersonKey       = dataset.ColPersonKey
	ColLinkMethod      = "link_method"
	ColLinkProbability = "link_probability"
)

// Table is the DuckDB table a role loads into: the role name.
func Table(r dataset.Role) string { return r.Name }

// HasPersonKey reports whether a role's table gets the person_key,
// link_method and link_probability columns: roles with an ID-number
// id_number column.
func HasPersonKey(r dataset.Role) bool {
	c, ok := r.Column("id_number")
	return ok && c.Kind == dataset.ID
}

// DuckType is the DuckDB type of an Arrow type used in canonical tables.
func DuckType(t arrow.DataType) string {
	switch t.ID() {
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

// TableColumns is the column list of a role's canonical table as in a
// CREATE TABLE: its physical fields, then for roles with a person key
// person_key, link_method and link_probability.
func TableColumns(r dataset.Role) string {
	var cols []string
	for _, f := range r.Fields() {
		cols = append(cols, fmt.Sprintf("%s %s", ident(f.Name), DuckType(f.Type)))
	}
	if HasPersonKey(r) {
		cols = append(cols, ColPersonKey+" VARCHAR", ColLinkMethod+" VARCHAR", ColLinkProbability+" DOUBLE")
	}
	return strings.Join(cols, ", ")
}

// TableDDL creates the empty canonical table of a role when it does not
// exist (OrReplace makes it replace one).
func TableDDL(r dataset.Role) string {
	return fmt.Sprintf("%s %s (%s)", createIfNotExists, ident(Table(r)), TableColumns(r))
}

const (
	createIfNotExists = "CREATE TABLE IF NOT EXISTS"
	createOrReplace   = "CREATE OR REPLACE TABLE"
)

// OrReplace turns a CREATE TABLE IF NOT EXISTS statement of this package
// into CREATE OR REPLACE TABLE (an existing table is dropped with its
// rows); other statements are returned unchanged.
func OrReplace(ddl string) string {
	if rest, ok := strings.CutPrefix(ddl, createIfNotExists); ok {
		return createOrReplace + rest
	}
	return ddl
}

// Tables returns the statements creating the empty canonical tables of
// roles, the catalogue tables and person_link, each when it does not
// exist: the database rules are checked and tested against.
func Tables(roles []dataset.Role) []string {
	var out []string
	for _, r := range roles {
		out = append(out, TableDDL(r))
	}
	out = append(out, CatalogueDDL()...)
	return append(out, PersonLinkDDL)
}

// ident quotes an identifier.
func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// lit quotes a string literal.
func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
