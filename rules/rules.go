// Package rules holds the screening rules: the rule-file language (YAML,
// one rule per file), its parser and linter, the templates of the standard
// rule families, the compiler to DuckDB SQL, the test runner for the tests
// every rule file carries, and the built-in library under rules/library/.
//
// A rule is compiled to one SELECT that returns one row per payment it
// flags, with the payment's record id (_rid), a severity, a one-sentence
// Chinese explanation built from the rule's explain template, the evidence
// (a JSON array of the source rows, payment first, in the department's
// original values) and fields (a JSON object of the named evidence fields
// the explanation was built from).
//
// Rules run over the canonical tables (one per dataset role, see package
// dataset) and what the engine prepares before rules run (package schema
// owns them all: schema.Tables, schema.Prelude; the checker and the test
// runner build their databases from it too):
//   - screened: the payments of the screened periods, with program_name,
//     department, min_age, max_age, payable_after_death, ssc_required and
//     standard_amount from the catalogue;
//   - program_catalogue and program_exclusive (program_code, other_code);
//   - person_link (table_name, _rid, person_key, method, match_weight,
//     match_probability, candidates, n_candidates, in_registry): how each
//     record reached its person, empty until record linkage fills it;
//   - macros ev(source, file, row, orig) → evidence object, ym(date) →
//     "2024年5月", money(x) → "200.00", src_title(source) → the source
//     title, src_personal(source) → its personal columns (JSON).
//
// Rules are parsed, type-checked against the canonical schemas (in an
// empty in-memory DuckDB) and compiled before any data is loaded; a broken
// rule stops the run with its file, line and reason. Rule SQL runs with
// DuckDB's external access disabled (see Sandbox).
//
// The package uses DuckDB through database/sql and does not link it: the
// program registers the driver (the engine imports
// github.com/duckdb/duckdb-go/v2), so packages that only read the
// catalogue stay light. rules/README.md documents the rule-file format.
package rules

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Categories of hits.
const (
	Deceased    = "deceased"
	Duplicate   = "duplicate"
	Ineligible  = "ineligible"
	OneCard     = "one_card"
	DataQuality = "data_quality"
)

// Categories lists the hit categories.
var Categories = []string{Deceased, Duplicate, Ineligible, OneCard, DataQuality}

// Severities lists the severities of hits, highest first.
var Severities = []string{"high", "medium", "low"}

// Rule is one rule file.
type Rule struct {
	ID          string
	Title       string // Chinese title
	TitleEn     string // English title (title_en; optional)
	Description string
	Category    string
	// Severity of the rule's hits. Templates that grade hits
	// (deceased_after_death) give this at most.
	Severity string
	Version  string
	Owner    string
	// Basis names the legal or policy basis (document numbers) a program
	// department can check the rule against; optional.
	Basis string
	// AppliesTo restricts the payments the rule may hit; zero means all.
	AppliesTo AppliesTo
	// Params are the rule's parameters: for a template rule the template's
	// parameters with the defaults and ranges the file sets.
	Params []Param
	// Template names the rule family; SQL is the SELECT of a sql rule.
	Template string
	SQL      string
	// Explain is the explanation template over the evidence fields.
	Explain string
	Tests   []Test

	// File is the rule file as shown in messages; Line the line of its id.
	File string
	Line int

	lines   map[string]int // key → line ("sql" is the first line of the SQL text)
	explain *explainTemplate
	tmpl    *template
}

// AppliesTo says which programs a rule screens: programs by code, or the
// programs whose catalogue entry has a property (ssc_required, or
// requires = disability).
type AppliesTo struct {
	Programs []string
	Property string
	Equals   string
}

// IsZero reports whether the rule screens every program.
func (a AppliesTo) IsZero() bool { return len(a.Programs) == 0 && a.Property == "" }

// String renders the restriction for catalogues.
func (a AppliesTo) String() string {
	switch {
	case len(a.Programs) > 0:
		return strings.Join(a.Programs, ", ")
	case a.Property != "" && a.Equals != "":
		return a.Property + "=" + a.Equals
	case a.Property != "":
		return a.Property
	}
	return "all"
}

// Test is one test of a rule file: fixture rows per dataset, the program
// catalogue, the parameters, and the hits expected.
type Test struct {
	Name     string
	Line     int
	Params   map[string]any
	Periods  []string
	Sources  map[string]string // source name → title
	Programs []TestProgram
	Data     []Fixture
	Expect   []ExpectedHit
}

// TestProgram is a catalogue entry of a test (the job's programs[] keys).
type TestProgram struct {
	Code              string
	Name              string
	Department        string
	Frequency         string
	MinAge            *int
	MaxAge            *int
	ExclusiveWith     []string
	Rosters           []TestRoster
	Requires          string
	SSCRequired       bool
	PayableAfterDeath bool
	StandardAmount    *float64
	Line              int
}

// TestRoster is an exclusive roster of a test program.
type TestRoster struct {
	Role   string
	Column string
	Values []string
	Label  string
}

// Fixture is the rows of one dataset (role) in a test.
type Fixture struct {
	Role string
	Line int
	Rows []FixtureRow
}

// FixtureRow is one row: canonical column → raw value, as a department
// would send it (dates and ID numbers are parsed as in a real load).
type FixtureRow struct {
	Line   int
	Source string // _source; the role name when not given
	Cols   []string
	Values []string
	// PersonKey, when set, overrides the person key computed from the ID
	// number (to stand for an ID repaired against the registry, or "" for
	// none).
	PersonKey *string
}

// ExpectedHit is a hit a test expects. Only the fields given are compared;
// the set of hit payments must match exactly.
type ExpectedHit struct {
	Line        int
	PaymentID   string
	Source      string
	Severity    string
	Explanation string
	// Evidence lists the evidence rows as source:row, in order.
	Evidence []string
	// Fields are evidence fields rendered as text.
	Fields map[string]string
}

// Set is a rule set: the built-in library, a folder, or both merged.
type Set struct {
	Rules []*Rule
	// Version is a hash of the rule files' contents.
	Version string
	// Origins lists where the rules came from (builtin, folders).
	Origins []string
	files   map[string][]byte
}

// Lookup returns the rule with the given id.
func (s *Set) Lookup(id string) (*Rule, bool) {
	for _, r := range s.Rules {
		if r.ID == id {
			return r, true
		}
	}
	return nil, false
}

// IDs lists the rule ids in order.
func (s *Set) IDs() []string {
	out := make([]string, len(s.Rules))
	for i, r := range s.Rules {
		out[i] = r.ID
	}
	return out
}

//go:embed library/*.yaml
var library embed.FS

// LibraryDir is how messages name the built-in library's folder.
const LibraryDir = "rules/library"

// LoadBuiltin loads the built-in library.
func LoadBuiltin() (*Set, error) {
	return loadFS(library, "library", LibraryDir, "builtin")
}

// LoadDirs loads every *.yaml and *.yml file of the folders (not their
// subfolders). A rule id may appear once.
func LoadDirs(dirs ...string) (*Set, error) {
	out := &Set{files: map[string][]byte{}}
	var all ErrorList
	for _, d := range dirs {
		s, err := loadFS(os.DirFS(d), ".", filepath.Clean(d), d)
		all = append(all, Errors(err)...)
		if err != nil && len(Errors(err)) == 0 {
			return nil, err
		}
		if s != nil {
			all = append(all, out.add(s, false)...)
		}
	}
	out.finish()
	return out, all.Err()
}

// Load loads the rule set a job names: the built-in library (unless
// builtin is false) and then the folders, whose rules replace built-in
// rules with the same id. When files have problems it returns them as an
// ErrorList together with the set of the rules that loaded.
func Load(builtin bool, dirs ...string) (*Set, error) {
	out := &Set{files: map[string][]byte{}}
	var all ErrorList
	if builtin {
		b, err := LoadBuiltin()
		if err != nil {
			return nil, err
		}
		out.add(b, true)
	}
	if len(dirs) > 0 {
		d, err := LoadDirs(dirs...)
		all = append(all, Errors(err)...)
		if err != nil && len(Errors(err)) == 0 {
			return nil, err
		}
		if d != nil {
			out.add(d, true)
		}
	}
	out.finish()
	return out, all.Err()
}

// add merges o into s; with replace a rule replaces one with the same id,
// otherwise a second id is an error.
func (s *Set) add(o *Set, replace bool) ErrorList {
	var el ErrorList
	for _, r := range o.Rules {
		if old, ok := s.Lookup(r.ID); ok {
			if !replace {
				el = append(el, &Error{File: r.File, Line: r.Line, Rule: r.ID,
					Reason: fmt.Sprintf("id %s is already used by %s", r.ID, old.File)})
				continue
			}
			for i := range s.Rules {
				if s.Rules[i].ID == r.ID {
					s.Rules[i] = r
				}
			}
			continue
		}
		s.Rules = append(s.Rules, r)
	}
	for k, v := range o.files {
		s.files[k] = v
	}
	s.Origins = append(s.Origins, o.Origins...)
	return el
}

func (s *Set) finish() {
	sort.Slice(s.Rules, func(i, j int) bool { return s.Rules[i].ID < s.Rules[j].ID })
	h := sha256.New()
	for _, r := range s.Rules {
		fmt.Fprintf(h, "%s\x00%s\x00", r.ID, s.files[r.File])
	}
	s.Version = hex.EncodeToString(h.Sum(nil))[:16]
}

// loadFS parses every rule file of dir in fsys; shown is how messages name
// the folder. Files that do not parse are left out of the set and their
// problems returned as an ErrorList.
func loadFS(fsys fs.FS, dir, shown, origin string) (*Set, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("rules folder %s: %w", shown, err)
	}
	out := &Set{files: map[string][]byte{}, Origins: []string{origin}}
	var all ErrorList
	ids := map[string]*Rule{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("rules folder %s: %w", shown, err)
		}
		file := filepath.Join(shown, name)
		if shown == "." {
			file = name
		}
		r, el := Parse(file, b)
		all = append(all, el...)
		if r == nil || len(el) > 0 {
			continue
		}
		if old := ids[r.ID]; old != nil {
			all = append(all, &Error{File: file, Line: r.Line, Rule: r.ID, Reason: fmt.Sprintf("id %s is already used by %s", r.ID, old.File)})
			continue
		}
		ids[r.ID] = r
		out.Rules = append(out.Rules, r)
		out.files[file] = b
	}
	out.finish()
	return out, all.Err()
}

// SetVersion is a hash of the rules' SQL as built for a run: it changes
// when a rule or a parameter changes.
func SetVersion(sqls map[string]string) string {
	ids := make([]string, 0, len(sqls))
	for id := range sqls {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%s\x00%s\x00", id, sqls[id])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
