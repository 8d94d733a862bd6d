package schema

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/crosscheck/crosscheck/dataset"
)

// PersonLinkDDL creates person_link, when it does not exist, with the
// columns and types package identity writes (one row per record of the
// linked tables: how its person key was reached, for a probabilistic link
// its match weight, probability and competing candidates, and whether the
// key is a person of the registry), so that rules can be checked and
// tested without linkage. The engine's linkage replaces it. A test of this
// package fails when identity's table and this one differ.
const PersonLinkDDL = createIfNotExists + " " + PersonLink + ` (table_name VARCHAR, _rid BIGINT, person_key VARCHAR, method VARCHAR,
	match_weight DOUBLE, match_probability DOUBLE, candidates VARCHAR, n_candidates INTEGER, in_registry BOOLEAN)`

// Source is what the helper macros know of a source: its name, its title
// (src_title, and the evidence's "title") and the source columns that hold
// personal identifiers, header → kind (src_personal, the evidence's
// "personal", which the review pages and exports mask).
type Source struct {
	Name     string
	Title    string
	Personal map[string]dataset.Personal
}

// Prelude returns the statements that prepare a loaded database for
// rules: the helper macros src_title and src_personal over sources (in
// the given order), ev, ym and money; the screened view (the payments of
// periods, all when periods is empty, joined with the catalogue, which
// must exist); and person_link when absent.
//
//	src_title(s)       the title of source s (s itself when unknown)
//	src_personal(s)    JSON: header → kind of source s's personal columns
//	ev(s, f, r, o)     one evidence object: source, title, file, row, values (o), personal
//	ym(d)              a date as 2024年5月
//	money(x)           an amount with two decimals
func Prelude(sources []Source, periods []string) []string {
	return []string{
		srcTitleMacro(sources),
		srcPersonalMacro(sources),
		`CREATE OR REPLACE MACRO ev(s, f, r, o) AS json_object('source', s, 'title', src_title(s), 'file', f, 'row', r, 'values', json(o), 'personal', src_personal(s))`,
		`CREATE OR REPLACE MACRO ym(d) AS strftime(d, '%Y年%-m月')`,
		`CREATE OR REPLACE MACRO money(x) AS printf('%.2f', x)`,
		ScreenedSQL(periods),
		PersonLinkDDL,
	}
}

func srcTitleMacro(sources []Source) string {
	if len(sources) == 0 {
		return "CREATE OR REPLACE MACRO src_title(s) AS s"
	}
	var when []string
	for _, s := range sources {
		when = append(when, fmt.Sprintf("WHEN %s THEN %s", lit(s.Name), lit(s.Title)))
	}
	return fmt.Sprintf("CREATE OR REPLACE MACRO src_title(s) AS CASE s %s ELSE s END", strings.Join(when, " "))
}

func srcPersonalMacro(sources []Source) string {
	if len(sources) == 0 {
		return `CREATE OR REPLACE MACRO src_personal(s) AS json('{}')`
	}
	var when []string
	for _, s := range sources {
		b := []byte("{}")
		if len(s.Personal) > 0 {
			b, _ = json.Marshal(s.Personal)
		}
		when = append(when, fmt.Sprintf("WHEN %s THEN json(%s)", lit(s.Name), lit(string(b))))
	}
	return fmt.Sprintf(`CREATE OR REPLACE MACRO src_personal(s) AS CASE s %s ELSE json('{}') END`, strings.Join(when, " "))
}

// ScreenedSQL creates screened: the payments of periods (all when
// periods is empty) with their program's name (the code when the
// catalogue has none), department, age limits, payable_after_death,
// ssc_required and standard_amount. It is a view over payment and the
// (small) catalogue, not a copy: a copy of every payment with its _orig
// held a second time in memory while the rules run, and at 10M persons
// under a 6 GiB memory_limit that made DuckDB spill the tables the rules
// read. Each rule's scan of screened joins the catalogue again, which
// costs next to nothing. A database that holds an older screened table
// must drop it first (engine.prepareRules does).
func ScreenedSQL(periods []string) string {
	cond := "TRUE"
	if len(periods) > 0 {
		ps := make([]string, len(periods))
		for i, p := range periods {
			ps[i] = lit(p)
		}
		cond = "p.period IN (" + strings.Join(ps, ", ") + ")"
	}
	return `CREATE OR REPLACE VIEW ` + Screened + ` AS
	SELECT p.*, coalesce(c.name, p.program_code) AS program_name, c.department, c.min_age, c.max_age,
		c.payable_after_death, c.ssc_required, c.standard_amount
	FROM payment p LEFT JOIN ` + ProgramCatalogue + ` c USING (program_code)
	WHERE ` + cond
}
