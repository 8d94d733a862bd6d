package rules

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/schema"
)

// Sandbox locks a DuckDB database down before rules run: no file system
// access except under allowedDirs (the run's output folder, so that the
// engine can still COPY its results there), no extensions, no ATTACH, and
// the configuration locked so that nothing can undo it. Spilling to the
// temp directory and the database file itself keep working. It cannot be
// undone for the life of the database: open a new one for anything else.
func Sandbox(ctx context.Context, db *sql.DB, allowedDirs ...string) error {
	var dirs []string
	for _, d := range allowedDirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return err
		}
		dirs = append(dirs, lit(strings.TrimSuffix(abs, string(filepath.Separator))+string(filepath.Separator)))
	}
	stmts := []string{
		"SET GLOBAL allowed_directories = [" + strings.Join(dirs, ", ") + "]::VARCHAR[]",
		"SET GLOBAL enable_external_access = false",
		"SET GLOBAL autoinstall_known_extensions = false",
		"SET GLOBAL autoload_known_extensions = false",
		"SET GLOBAL lock_configuration = true",
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("rules sandbox: %s: %w", q, err)
		}
	}
	return nil
}

// openMemory opens a fresh in-memory DuckDB. The package does not link
// DuckDB itself: the program does (the engine imports
// github.com/duckdb/duckdb-go/v2, which registers the "duckdb" driver), so
// that packages that only read rule files stay light.
func openMemory(ctx context.Context) (*sql.DB, error) {
	db, err := sql.Open("duckdb", "?threads=1")
	if err != nil {
		return nil, fmt.Errorf("rules need DuckDB: %w (import _ \"github.com/duckdb/duckdb-go/v2\" in the program)", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// checker type-checks rule SQL against the canonical schemas in an empty,
// sandboxed in-memory DuckDB.
type checker struct {
	db     *sql.DB
	tables map[string]bool
}

func newChecker(ctx context.Context, roles []dataset.Role) (*checker, error) {
	db, err := openMemory(ctx)
	if err != nil {
		return nil, fmt.Errorf("rules: open DuckDB for checking: %w", err)
	}
	if roles == nil {
		roles = dataset.Builtin()
	}
	c := &checker{db: db, tables: map[string]bool{}}
	stmts := append(schema.Tables(roles), schema.Prelude(nil, nil)...)
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			return nil, fmt.Errorf("rules: prepare schema: %w", err)
		}
	}
	for _, r := range roles {
		c.tables[r.Name] = true
	}
	for _, t := range schema.RuleTables {
		c.tables[t] = true
	}
	if err := Sandbox(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

func (c *checker) close() { c.db.Close() }

func (c *checker) tableNames() string {
	n := make([]string, 0, len(c.tables))
	for t := range c.tables {
		n = append(n, t)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// allowedTableFunctions may appear in FROM: they read nothing outside
// the query.
var allowedTableFunctions = map[string]bool{"unnest": true, "range": true, "generate_series": true}

// sqlProblem is a problem in a SELECT at a byte offset (-1 when unknown).
type sqlProblem struct {
	offset int
	msg    string
}

var leadingComments = regexp.MustCompile(`^(\s+|--[^\n]*\n?|/\*(?s:.*?)\*/)*`)

// validate checks with DuckDB's parser that text is exactly one SELECT
// reading only known tables (and CTEs) and no table function but unnest,
// range and generate_series.
func (c *checker) validate(ctx context.Context, text string) []sqlProblem {
	var js string
	if err := c.db.QueryRowContext(ctx, "SELECT json_serialize_sql($1::VARCHAR)::VARCHAR", text).Scan(&js); err != nil {
		return []sqlProblem{{-1, "cannot parse: " + err.Error()}}
	}
	var res struct {
		Error        bool             `json:"error"`
		ErrorType    string           `json:"error_type"`
		ErrorMessage string           `json:"error_message"`
		Position     json.Number      `json:"position"`
		Statements   []map[string]any `json:"statements"`
	}
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		return []sqlProblem{{-1, "cannot read the parse tree: " + err.Error()}}
	}
	if res.Error {
		if strings.Contains(res.ErrorMessage, "Only SELECT") {
			rest := leadingComments.ReplaceAllString(text, "")
			word := strings.ToUpper(strings.FieldsFunc(strings.TrimLeft(rest, "( \t\r\n")+" ", func(r rune) bool {
				return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '(' || r == ';'
			})[0])
			switch word {
			case "SELECT", "WITH", "FROM", "VALUES", "TABLE":
				// The first statement is a query: something follows it.
				return []sqlProblem{{strings.Index(text, ";"), "want exactly one SELECT statement; another statement follows the first (a rule cannot write, attach, load or change anything)"}}
			}
			return []sqlProblem{{len(text) - len(rest),
				fmt.Sprintf("only a single SELECT is allowed, not %s (a rule cannot write, attach, load or change anything)", word)}}
		}
		off := -1
		if n, err := strconv.Atoi(res.Position.String()); err == nil {
			off = n
		}
		return []sqlProblem{{off, res.ErrorMessage}}
	}
	if len(res.Statements) != 1 {
		return []sqlProblem{{-1, fmt.Sprintf("want exactly one SELECT statement, found %d", len(res.Statements))}}
	}
	ctes := map[string]bool{}
	collectCTEs(res.Statements[0], ctes)
	var out []sqlProblem
	walk(res.Statements[0], func(m map[string]any) {
		switch m["type"] {
		case "BASE_TABLE":
			name, _ := m["table_name"].(string)
			schema, _ := m["schema_name"].(string)
			catalog, _ := m["catalog_name"].(string)
			off := location(m)
			switch {
			case catalog != "" || (schema != "" && !strings.EqualFold(schema, "main")):
				out = append(out, sqlProblem{off, fmt.Sprintf("table %s: rules read only the canonical datasets of this run, not another database or schema", qualified(catalog, schema, name))})
			case schema == "" && ctes[strings.ToLower(name)]:
			case !c.tables[strings.ToLower(name)]:
				if strings.ContainsAny(name, "./\\") {
					out = append(out, sqlProblem{off, fmt.Sprintf("%q: rules cannot read files; use the canonical datasets (%s)", name, c.tableNames())})
				} else {
					out = append(out, sqlProblem{off, fmt.Sprintf("unknown table %s (tables: %s)", name, c.tableNames())})
				}
			}
		case "TABLE_FUNCTION":
			fn, _ := m["function"].(map[string]any)
			name, _ := fn["function_name"].(string)
			if !allowedTableFunctions[strings.ToLower(name)] {
				out = append(out, sqlProblem{location(m), fmt.Sprintf("table function %s is not allowed: rules read only the canonical datasets (no files, no other databases)", name)})
			}
		case "SHOW_REF":
			out = append(out, sqlProblem{location(m), "DESCRIBE, SHOW and SUMMARIZE are not allowed in rules"})
		}
	})
	return out
}

func qualified(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

func location(m map[string]any) int {
	if n, ok := m["query_location"].(json.Number); ok {
		if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil && i < 1<<40 {
			return int(i)
		}
	}
	return -1
}

func walk(v any, f func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(x)
		for _, c := range x {
			walk(c, f)
		}
	case []any:
		for _, c := range x {
			walk(c, f)
		}
	}
}

// collectCTEs records every CTE name of the tree.
func collectCTEs(v any, out map[string]bool) {
	walk(v, func(m map[string]any) {
		cm, ok := m["cte_map"].(map[string]any)
		if !ok {
			return
		}
		entries, _ := cm["map"].([]any)
		for _, e := range entries {
			if em, ok := e.(map[string]any); ok {
				if k, ok := em["key"].(string); ok {
					out[strings.ToLower(k)] = true
				}
			}
		}
	})
}

// column is a result column of a SELECT.
type column struct {
	name, typ string
}

var lineRE = regexp.MustCompile(`LINE (\d+):`)

// describe binds a SELECT against the empty schemas and returns its
// columns; errors carry the SQL line DuckDB reports (0 when none).
func (c *checker) describe(ctx context.Context, text string) ([]column, int, error) {
	rows, err := c.db.QueryContext(ctx, "DESCRIBE "+text)
	if err != nil {
		line := 0
		msg := err.Error()
		if m := lineRE.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		if i := strings.Index(msg, "\n\nLINE"); i >= 0 {
			msg = msg[:i]
		}
		var parts []string
		for _, l := range strings.Split(msg, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				parts = append(parts, l)
			}
		}
		return nil, line, fmt.Errorf("%s", strings.Join(parts, "; "))
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var name, typ string
		var a, b, d, e any
		if err := rows.Scan(&name, &typ, &a, &b, &d, &e); err != nil {
			return nil, 0, err
		}
		out = append(out, column{name, typ})
	}
	return out, 0, rows.Err()
}

// lineAt is the line of byte offset off in text, counted from first.
func lineAt(text string, off, first int) int {
	if off < 0 || first <= 0 {
		return first
	}
	if off > len(text) {
		off = len(text)
	}
	return first + strings.Count(text[:off], "\n")
}
