package rules

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/dataset"
)

// The six original rules, compiled from their rule files, give exactly the
// hits (payment, severity, explanation, evidence) of the SQL they replace,
// on every fixture of their tests.
func TestLegacyEquivalence(t *testing.T) {
	ctx := context.Background()
	set, err := LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	chk, err := newChecker(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer chk.close()
	total := 0
	compared = nil
	for _, old := range legacyBuiltin {
		r, ok := set.Lookup(old.ID)
		if !ok {
			t.Fatalf("rule %s is not in the library", old.ID)
		}
		if r.Title != old.Title || r.Category != old.Category {
			t.Errorf("%s: title/category %s/%s, want %s/%s", old.ID, r.Title, r.Category, old.Title, old.Category)
		}
		for _, tc := range r.Tests {
			lc := legacyContext{Params: map[string]int{}}
			c := Context{RuleParams: map[string]map[string]any{}}
			for _, p := range old.Params {
				lc.Params[p.Name] = p.Default
			}
			skip := false
			for k, v := range tc.Params {
				n, ok := v.(int)
				if _, had := lc.Params[k]; !ok || !had {
					skip = true // a parameter the old rule did not have: no oracle
				}
				lc.Params[k] = n
			}
			for _, f := range tc.Data {
				// The old SQL predates linkage: a person key meant an ID
				// number. With probabilistic links the rule keeps that
				// meaning (ID only) and the old SQL does not.
				skip = skip || f.Role == "person_link"
				// The person role's death_date postdates the old SQL,
				// which knew only the cancellation date.
				for _, row := range f.Rows {
					for _, c := range row.Cols {
						skip = skip || (f.Role == "person" && c == "death_date")
					}
				}
			}
			if skip {
				continue
			}
			if len(tc.Params) > 0 {
				c.RuleParams[r.ID] = tc.Params
			}
			for _, p := range tc.Programs {
				for _, ro := range p.Rosters {
					role, _ := dataset.Lookup(ro.Role)
					c.Rosters = append(c.Rosters, rosterOf(p.Code, role, ro.Column, ro.Values, ro.Label))
				}
			}
			lc.Rosters = c.Rosters
			comp, el := compileRule(ctx, chk, r, c)
			if len(el) > 0 {
				t.Fatalf("%s: %v", r.ID, el)
			}
			got := queryHits(t, tc, comp.SQL)
			want := queryHits(t, tc, old.Build(lc))
			if got != want {
				t.Errorf("%s / %s:\nrule file:\n%s\nold SQL:\n%s", r.ID, tc.Name, got, want)
			}
			compared = append(compared, legacyCase{rule: r, test: tc, ctx: lc, want: want})
			total += strings.Count(want, "\n")
		}
	}
	if total < 15 {
		t.Errorf("only %d hits compared; the fixtures should exercise the rules", total)
	}
}

// legacyCase is a fixture on which the old SQL was compared.
type legacyCase struct {
	rule *Rule
	test Test
	ctx  legacyContext
	want string
}

// compared holds the cases TestLegacyEquivalence compared, for the tests
// of the deprecated API (compat_test.go).
var compared []legacyCase

func queryHits(t *testing.T, tc Test, q string) string {
	t.Helper()
	ctx := context.Background()
	db, err := openMemory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if probs := loadFixture(ctx, db, tc); len(probs) > 0 {
		t.Fatal(probs)
	}
	rows, err := db.QueryContext(ctx, "SELECT _rid, severity, explanation, evidence::VARCHAR FROM ("+q+") ORDER BY _rid")
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var rid int64
		var sev, expl, ev sql.NullString
		if err := rows.Scan(&rid, &sev, &expl, &ev); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d|%s|%s|%s\n", rid, sev.String, expl.String, ev.String)
	}
	return b.String()
}

// Each bad rule file stops with its file, line and reason.
func TestBadRuleFiles(t *testing.T) {
	cases := []struct {
		file   string
		line   int
		reason string
	}{
		// screened is a view: DuckDB calls its alias a "Values list" here.
		{"unknown_column.yaml", 11, `"p" does not have a column named "account_colour"`},
		{"bad_param_type.yaml", 11, "params.grace_months.default: int parameter: want a whole number, got \"three\""},
		{"param_out_of_range.yaml", 11, "params.grace_months.default: 30 is outside 0..24"},
		{"copy_to.yaml", 9, "only a single SELECT is allowed, not COPY"},
		{"attach.yaml", 10, "only a single SELECT is allowed, not ATTACH"},
		{"read_csv.yaml", 11, "table function read_csv is not allowed"},
		{"unknown_template.yaml", 8, `unknown template "deceased_before_birth"`},
		{"missing_explain.yaml", 2, "explain is missing"},
		{"explain_unknown_field.yaml", 12, "explain names {limit}, which is not an evidence field of the rule (fields: amount, program_name)"},
		{"explain_unknown_field_template.yaml", 9, "explain names {program}, which is not an evidence field of template duplicate_payment"},
		{"two_statements.yaml", 9, "want exactly one SELECT statement; another statement follows the first"},
		{"query_function.yaml", 10, "table function query is not allowed"},
		{"file_as_table.yaml", 11, `"/tmp/blacklist.csv": rules cannot read files`},
		{"template_unknown_column.yaml", 12, `params.exclude_column: unknown column "colour": dataset vehicle has`},
		{"unknown_param.yaml", 10, "params.window_months: template duplicate_payment has no parameter window_months"},
		{"bad_sql_param.yaml", 13, "sql: ${limit} is not a parameter of the rule (parameters: ceiling)"},
		{"fixture_unknown_column.yaml", 13, `"colour" is not a column of dataset payment`},
	}
	dir := filepath.Join("testdata", "bad")
	_, err := Lint(context.Background(), Context{}, dir)
	all := Errors(err)
	if len(all) == 0 {
		t.Fatalf("no errors linting %s (%v)", dir, err)
	}
	byFile := map[string][]*Error{}
	for _, e := range all {
		byFile[filepath.Base(e.File)] = append(byFile[filepath.Base(e.File)], e)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) != len(cases) {
		t.Errorf("%d bad files, %d cases", len(files), len(cases))
	}
	for _, c := range cases {
		es := byFile[c.file]
		if len(es) != 1 {
			t.Errorf("%s: want one error, got %d: %v", c.file, len(es), ErrorList(es))
			if len(es) == 0 {
				continue
			}
		}
		e := es[0]
		if e.File != filepath.Join(dir, c.file) || e.Line != c.line || !strings.Contains(e.Reason, c.reason) {
			t.Errorf("%s:\n got  %s:%d: %s\n want %s:%d: …%s…", c.file, e.File, e.Line, e.Reason, filepath.Join(dir, c.file), c.line, c.reason)
		}
		if !strings.HasPrefix(e.Error(), fmt.Sprintf("%s:%d: ", e.File, e.Line)) {
			t.Errorf("%s: message %q does not start with file:line", c.file, e.Error())
		}
	}
}

// A rule's SQL runs in a sandbox: no files (except the output folder the
// engine names), no ATTACH, no extensions, settings locked.
func TestSandbox(t *testing.T) {
	ctx := context.Background()
	db, err := openMemory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret.csv")
	if err := os.WriteFile(secret, []byte("a\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Sandbox(ctx, db, out); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"SELECT * FROM read_csv(" + lit(secret) + ")",
		"SELECT * FROM " + lit(secret),
		"COPY (SELECT 1) TO " + lit(filepath.Join(filepath.Dir(secret), "x.csv")),
		"ATTACH " + lit(filepath.Join(filepath.Dir(secret), "x.duckdb")) + " AS x",
		"LOAD httpfs",
		"SET enable_external_access = true",
		"SET lock_configuration = false",
	} {
		if _, err := db.ExecContext(ctx, q); err == nil {
			t.Errorf("%s: allowed in the sandbox", q)
		}
	}
	// The engine still writes its results to the output folder.
	if _, err := db.ExecContext(ctx, "COPY (SELECT 1 AS a) TO "+lit(filepath.Join(out, "hits.parquet"))+" (FORMAT parquet)"); err != nil {
		t.Errorf("COPY to the output folder: %v", err)
	}
}

func TestExplainTemplate(t *testing.T) {
	for _, c := range []struct{ in, sql, err string }{
		{"死亡{death_date|date}", `concat('死亡', strftime(h."death_date", '%Y-%m-%d'))`, ""},
		{"{a}{{x}}", `concat(h."a", '{x}')`, ""},
		{"{a|ym}", `concat(ym(h."a"), '')`, ""},
		{"{a|euro}", "", `unknown format "euro"`},
		{"{a", "", "unclosed {"},
		{"a}", "", "unmatched }"},
		{"{A b}", "", "is not a field name"},
	} {
		tm, err := parseExplain(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := tm.sql("h"); got != c.sql {
			t.Errorf("%q: %s, want %s", c.in, got, c.sql)
		}
	}
}

// The job's parameters are checked by name, type and range and named by
// their job key.
func TestCompileJobSettings(t *testing.T) {
	set, err := LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		ctx  Context
		want string
	}{
		{Context{RuleParams: map[string]map[string]any{"deceased_after_death": {"grace_months": 30}}},
			"rules.params.deceased_after_death.grace_months: 30 is outside 0..24"},
		{Context{RuleParams: map[string]map[string]any{"deceased_after_death": {"grace_months": "one"}}},
			`rules.params.deceased_after_death.grace_months: want a whole number, got "one"`},
		{Context{RuleParams: map[string]map[string]any{"deceased_after_death": {"grace": 1}}},
			"rules.params.deceased_after_death.grace: rule deceased_after_death has no parameter grace"},
		{Context{RuleParams: map[string]map[string]any{"vehicle_on_assistance": {"exclude_column": "colour"}}},
			`rules.params.vehicle_on_assistance.exclude_column: unknown column "colour"`},
		{Context{Disabled: []string{"no_such_rule"}}, `rules.disabled: unknown rule "no_such_rule"`},
		{Context{AppliesTo: map[string][]string{"no_such_rule": {"x"}}}, `rules.applies_to: unknown rule "no_such_rule"`},
	} {
		_, err := set.Compile(ctx, c.ctx)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want …%s…", err, c.want)
		}
	}
	comp, err := set.Compile(ctx, Context{
		RuleParams: map[string]map[string]any{
			"vehicle_on_assistance": {"exclude_values": []any{"二轮摩托车"}},
			"amount_off_standard":   {"tolerance": 1},
		},
		Disabled:  []string{"invalid_id"},
		AppliesTo: map[string][]string{"staff_on_assistance": {"dibao"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]Compiled{}
	for _, c := range comp {
		by[c.ID] = c
	}
	if _, ok := by["invalid_id"]; ok || len(comp) != len(set.Rules)-1 {
		t.Errorf("disabled rule compiled (%d of %d)", len(comp), len(set.Rules))
	}
	if v := by["amount_off_standard"].Params["tolerance"]; v != 1.0 {
		t.Errorf("tolerance = %#v", v)
	}
	if !strings.Contains(by["staff_on_assistance"].SQL, "s.program_code IN ('dibao')") {
		t.Errorf("applies_to override not in SQL")
	}
}

func TestCatalogueOutputs(t *testing.T) {
	set, err := LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	var tb, md bytes.Buffer
	c := Context{RuleParams: map[string]map[string]any{"deceased_after_death": {"grace_months": 1}}, Disabled: []string{"invalid_id"}}
	if err := WriteTable(&tb, set, c); err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(&md, set, c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"deceased_after_death", "grace_months=1", "invalid_id (disabled)", "requires=disability", "dibao, tekun"} {
		if !strings.Contains(tb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tb.String())
		}
	}
	for _, want := range []string{"# 筛查规则目录", "| `grace_months` | int | 1 | 0 | 0..24 |", "### 死亡后仍发放", "<a id=\"shared_account\"></a>"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}

// Diff reports per rule the hits added, removed and changed between two
// rule sets run on the same data.
func TestDiff(t *testing.T) {
	ctx := context.Background()
	set, err := LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := set.Lookup("deceased_after_death")
	tc := r.Tests[1] // single source, death 2024-04-20, payments 2024-05 and 2024-04
	db, err := openMemory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if probs := loadFixture(ctx, db, tc); len(probs) > 0 {
		t.Fatal(probs)
	}
	old, err := set.Compile(ctx, Context{Disabled: without(set.IDs(), "deceased_after_death", "age_range")})
	if err != nil {
		t.Fatal(err)
	}
	neu, err := set.Compile(ctx, Context{Disabled: without(set.IDs(), "deceased_after_death", "duplicate_payment"),
		RuleParams: map[string]map[string]any{"deceased_after_death": {"grace_months": 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := RunSet(ctx, db, old, "hits_old", nil); err != nil {
		t.Fatal(err)
	}
	if err := RunSet(ctx, db, neu, "hits_new", nil); err != nil {
		t.Fatal(err)
	}
	d, err := Diff(ctx, db, "hits_old", "hits_new", ids(old), ids(neu), 5)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteDiff(&b, d); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"age_range             removed  0    0    +0     -0       ~0",
		"deceased_after_death  changed  1    0    +0     -1       ~0",
		"duplicate_payment     added    0    0    +0     -0       ~0",
		"  - P2 payment:2 fixture [medium] 民政火化记录显示该人员已于2024-04-20死亡，2024年5月仍发放高龄津贴100.00元",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
}

func without(all []string, keep ...string) []string {
	var out []string
	for _, id := range all {
		if !contains(keep, id) {
			out = append(out, id)
		}
	}
	return out
}

func ids(c []Compiled) []string {
	var out []string
	for _, x := range c {
		out = append(out, x.ID)
	}
	return out
}
