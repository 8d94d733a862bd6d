package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/rules"
	"github.com/crosscheck/crosscheck/schema"
)

// newRulesCmd is `crosscheck rules`: the rule catalogue and the tools to
// write rule files (list, test, explain, lint, diff).
func newRulesCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "rules",
		Short: "List, test, explain, lint and compare screening rules",
		Long: `Rules are YAML files: the built-in library (rules/library, embedded in the binary) and any
folder given with --dir. Each file holds one rule — a standard rule family (template) with its
parameters, or a SELECT over the canonical datasets (sql) — with its Chinese explanation template
and its own tests. See docs/rules.md.`,
	}
	c.AddCommand(newRulesList(), newRulesTest(), newRulesExplain(), newRulesLint(), newRulesDiff())
	return c
}

// rulesSetFlags are the flags that choose a rule set and the job whose
// settings apply.
type rulesSetFlags struct {
	config string
	dirs   []string
}

func (f *rulesSetFlags) add(c *cobra.Command, withConfig bool) {
	if withConfig {
		c.Flags().StringVarP(&f.config, "config", "c", "", "job file whose rule settings (parameters, disabled rules, rosters, datasets) apply")
	}
	c.Flags().StringArrayVar(&f.dirs, "dir", nil, "rule folder added to the built-in library (repeatable); its rules replace built-in rules with the same id")
}

// load returns the job (nil without --config), the rule set and the
// compile context.
func (f *rulesSetFlags) load() (*job.Job, *rules.Set, rules.Context, error) {
	var j *job.Job
	c := rules.Context{}
	if f.config != "" {
		var err error
		if j, err = job.Load(f.config); err != nil {
			return nil, nil, c, err
		}
		c = rules.ContextFromJob(j)
		c.AppliesTo = j.Rules.AppliesTo
	}
	set, err := rulesForJob(j, f.dirs)
	return j, set, c, err
}

// rulesForJob loads the rule set of a job: the built-in library, the
// job's rules.dirs (resolved against the job file) and the folders given.
func rulesForJob(j *job.Job, dirs []string) (*rules.Set, error) {
	if j != nil && j.Rules.Set != "" && j.Rules.Set != job.DefaultRuleSet {
		return nil, fmt.Errorf("rules.set: %q is not a known rule set (builtin)", j.Rules.Set)
	}
	var all []string
	if j != nil {
		for _, d := range j.Rules.Dirs {
			all = append(all, j.Resolve(d))
		}
	}
	return rules.Load(true, append(all, dirs...)...)
}

func newRulesList() *cobra.Command {
	var f rulesSetFlags
	var format string
	c := &cobra.Command{
		Use:   "list",
		Short: "Print the rule catalogue: id, title, category, programs and parameters in force",
		Example: `  crosscheck rules list
  crosscheck rules list --config examples/henan-sample/job.yaml
  crosscheck rules list --format md > docs/rule-catalogue.md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, set, ctx, err := f.load()
			if err != nil {
				return err
			}
			switch format {
			case "table":
				return rules.WriteTable(cmd.OutOrStdout(), set, ctx)
			case "md", "markdown":
				return rules.WriteMarkdown(cmd.OutOrStdout(), set, ctx)
			}
			return fmt.Errorf("--format: %q is not table or md", format)
		},
	}
	f.add(c, true)
	c.Flags().StringVar(&format, "format", "table", "table, or md for a Markdown page fit for publishing")
	return c
}

func newRulesTest() *cobra.Command {
	var run string
	var verbose bool
	c := &cobra.Command{
		Use:   "test [DIR...]",
		Short: "Run the tests of every rule file (the built-in library, or the folders given) in DuckDB",
		Long: `test runs each test of each rule file in a fresh in-memory DuckDB: it loads the test's rows
through the same mapping as a real load, compiles the rule with the test's parameters, runs it and
compares the hits with the hits the test expects. Any difference fails the test, like opa test and
promtool test rules.`,
		Example: `  crosscheck rules test
  crosscheck rules test ./my-rules --run 'vehicle_.*' -v`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var set *rules.Set
			var err error
			if len(args) == 0 {
				set, err = rules.LoadBuiltin()
			} else {
				set, err = rules.LoadDirs(args...)
			}
			if err != nil {
				return err
			}
			filter, err := rules.Filter(run)
			if err != nil {
				return fmt.Errorf("--run: %w", err)
			}
			rep, err := rules.RunTests(cmd.Context(), nil, set, filter)
			if err != nil {
				return err
			}
			return printTestReport(cmd.OutOrStdout(), rep, len(set.Rules), verbose)
		},
	}
	c.Flags().StringVar(&run, "run", "", "run only tests matching RULE or RULE/TEST (regular expressions)")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "list every test")
	return c
}

func printTestReport(w io.Writer, rep *rules.TestReport, nrules int, verbose bool) error {
	for _, r := range rep.Results {
		if r.Passed() {
			if verbose {
				fmt.Fprintf(w, "ok    %s / %s (%d hits, %.2fs)\n", r.Rule, r.Name, len(r.Hits), r.Elapsed.Seconds())
			}
			continue
		}
		fmt.Fprintf(w, "FAIL  %s / %s  %s:%d\n", r.Rule, r.Name, r.File, r.Line)
		for _, p := range r.Problems {
			fmt.Fprintf(w, "      %s\n", p)
		}
	}
	if n := rep.Failed(); n > 0 {
		fmt.Fprintf(w, "FAIL: %d of %d tests failed\n", n, len(rep.Results))
		return fmt.Errorf("%d rule tests failed", n)
	}
	fmt.Fprintf(w, "PASS: %d tests of %d rules\n", len(rep.Results), nrules)
	return nil
}

func newRulesExplain() *cobra.Command {
	var f rulesSetFlags
	c := &cobra.Command{
		Use:   "explain RULE",
		Short: "Print a rule's compiled SQL and the parameters in force",
		Example: `  crosscheck rules explain deceased_after_death
  crosscheck rules explain vehicle_on_assistance --config job.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, set, ctx, err := f.load()
			if err != nil {
				return err
			}
			r, ok := set.Lookup(args[0])
			if !ok {
				return fmt.Errorf("unknown rule %q (rules: %s)", args[0], strings.Join(set.IDs(), ", "))
			}
			for _, d := range ctx.Disabled {
				if d == r.ID {
					fmt.Fprintf(cmd.ErrOrStderr(), "note: rule %s is disabled by the job; showing it as it would run\n", r.ID)
				}
			}
			ctx.Disabled = nil
			one := &rules.Set{Rules: []*rules.Rule{r}, Version: set.Version}
			ctx = rulesContextFor(ctx, one)
			comp, err := one.Compile(cmd.Context(), ctx)
			if err != nil {
				return err
			}
			return printExplain(cmd.OutOrStdout(), comp[0], ctx)
		},
	}
	f.add(c, true)
	return c
}

func printExplain(w io.Writer, c rules.Compiled, ctx rules.Context) error {
	r := c.Rule
	fmt.Fprintf(w, "%s — %s\n", c.ID, c.Title)
	fmt.Fprintf(w, "  category %s, severity %s, version %s, owner %s\n", c.Category, c.Severity, c.Version, r.Owner)
	if r.Basis != "" {
		fmt.Fprintf(w, "  basis    %s\n", strings.TrimSpace(r.Basis))
	}
	fmt.Fprintf(w, "  file     %s\n", c.File)
	if r.Template != "" {
		fmt.Fprintf(w, "  family   %s\n", r.Template)
	} else {
		fmt.Fprintf(w, "  family   sql rule\n")
	}
	fmt.Fprintf(w, "  programs %s\n", c.AppliesTo)
	fmt.Fprintf(w, "  explain  %s\n", r.Explain)
	if len(r.Params) > 0 {
		fmt.Fprintln(w, "\nparameters in force:")
		for _, p := range r.Params {
			from := "rule file"
			if _, ok := ctx.RuleParams[c.ID][p.Name]; ok {
				from = "job"
			} else if r.Template != "" && !p.Declared() {
				from = "template " + r.Template
			}
			fmt.Fprintf(w, "  %-18s = %-24s (%s; %s) %s\n", p.Name, rules.FormatValue(c.Params[p.Name]), from, p.Describe(), p.Doc)
		}
	}
	fmt.Fprintln(w, "\nevidence fields:")
	for _, f := range c.Fields {
		fmt.Fprintf(w, "  %-18s %s\n", f.Name, f.Type)
	}
	fmt.Fprintf(w, "\ncompiled SQL (returns _rid, severity, explanation, evidence, fields):\n%s\n", c.SQL)
	return nil
}

// rulesContextFor keeps the job settings that name rules of set: a job's
// parameters for rules another set lacks are not errors there.
func rulesContextFor(c rules.Context, set *rules.Set) rules.Context {
	out := c
	out.RuleParams = map[string]map[string]any{}
	for id, p := range c.RuleParams {
		if _, ok := set.Lookup(id); ok {
			out.RuleParams[id] = p
		}
	}
	out.AppliesTo = map[string][]string{}
	for id, p := range c.AppliesTo {
		if _, ok := set.Lookup(id); ok {
			out.AppliesTo[id] = p
		}
	}
	out.Disabled = nil
	for _, id := range c.Disabled {
		if _, ok := set.Lookup(id); ok {
			out.Disabled = append(out.Disabled, id)
		}
	}
	return out
}

func newRulesLint() *cobra.Command {
	var config string
	c := &cobra.Command{
		Use:   "lint [DIR...]",
		Short: "Check rule files (the built-in library, or the folders given): syntax, parameters, SQL, explanations",
		Long: `lint parses every rule file and compiles every rule against the canonical schemas in an empty
DuckDB, without data: unknown keys, columns and tables, bad parameter types and ranges, SQL that is
not a single SELECT or reads files, explanations naming unknown evidence fields. Every problem is
printed as FILE:LINE: reason; the exit status is 1 when there is any.`,
		Example: `  crosscheck rules lint
  crosscheck rules lint ./my-rules --config job.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := rules.Context{}
			if config != "" {
				j, err := job.Load(config)
				if err != nil {
					return err
				}
				ctx = rules.ContextFromJob(j)
			}
			set, err := rules.Lint(cmd.Context(), rules.Context{Rosters: ctx.Rosters, Roles: ctx.Roles}, args...)
			el := rules.Errors(err)
			if err != nil && len(el) == 0 {
				return err
			}
			w := cmd.OutOrStdout()
			for _, e := range el {
				fmt.Fprintln(w, e.Error())
			}
			if config != "" && set != nil && len(el) == 0 {
				// The job's settings against the rules as the run will see them.
				full, err := rulesForJob(nil, args)
				if err == nil {
					_, err = full.Compile(cmd.Context(), ctx)
				}
				for _, e := range rules.Errors(err) {
					fmt.Fprintf(w, "%s: %s\n", config, e.Error())
					el = append(el, e)
				}
				if err != nil && len(rules.Errors(err)) == 0 {
					return err
				}
			}
			if len(el) > 0 {
				return fmt.Errorf("%d problems in rule files", len(el))
			}
			n := 0
			if set != nil {
				n = len(set.Rules)
			}
			fmt.Fprintf(w, "ok: %d rules\n", n)
			return nil
		},
	}
	c.Flags().StringVarP(&config, "config", "c", "", "job file: check its rule settings too, and its custom datasets for sql rules")
	return c
}

func newRulesDiff() *cobra.Command {
	var f rulesSetFlags
	var against string
	var sets []string
	var samples int
	var quiet bool
	c := &cobra.Command{
		Use:   "diff --config JOB [--against OLD_RULES_DIR|builtin|defaults] [--set RULE.PARAM=VALUE]",
		Short: "Run two rule sets or parameter sets on the same loaded data and report per rule the hits added and removed",
		Long: `diff loads the job's sources once, runs an old and a new rule set on the same data, and prints per
rule the hits before and after, added, removed and changed (another severity or explanation), then
the payments concerned, hit by hit (up to --samples per rule and kind of change).

What is compared:
  --set RULE.PARAM=VALUE   the job as it is (old) against the job with these parameters changed (new);
                           repeatable
  --against defaults       the built-in defaults of every parameter (old) against the job's
                           rules.params (new); the default when neither --against nor --set is given
  --against builtin        the built-in library (old) against the job's rule set: built-in plus --dir
                           and rules.dirs (new), both with the job's parameters
  --against DIR            the rule files in DIR (old) against the job's rule set (new)
--set also applies to the new side of --against. Nothing is written to the job's output folder.`,
		Example: `  crosscheck rules diff --config examples/henan-sample/job.yaml
  crosscheck rules diff --config examples/henan-sample/job.yaml --set deceased_after_death.grace_months=1
  crosscheck rules diff --config job.yaml --against ./rules-2024-04
  crosscheck rules diff --config job.yaml --against builtin --dir ./my-rules`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			j, newSet, ctx, err := f.load()
			if err != nil {
				return err
			}
			changes, err := parseParamSets(sets)
			if err != nil {
				return err
			}
			if against == "" && len(changes) == 0 {
				against = "defaults"
			}
			oldSet, oldCtx, oldLabel := newSet, ctx, "job parameters"
			switch against {
			case "":
			case "defaults":
				oldCtx = ctx
				oldCtx.RuleParams = nil
				oldLabel = "built-in parameter defaults"
			case "builtin":
				oldSet, err = rules.LoadBuiltin()
				oldLabel = "builtin"
			default:
				oldSet, err = rules.LoadDirs(against)
				oldLabel = against
			}
			if err != nil {
				return fmt.Errorf("--against: %w", err)
			}
			if oldSet != newSet {
				oldCtx = rulesContextFor(ctx, oldSet)
			}
			newCtx := withParamSets(ctx, changes)
			oldComp, err := oldSet.Compile(cmd.Context(), oldCtx)
			if err != nil {
				return fmt.Errorf("old rules (%s): %w", oldLabel, err)
			}
			newComp, err := newSet.Compile(cmd.Context(), newCtx)
			if err != nil {
				return fmt.Errorf("new rules: %w", err)
			}
			log := newLogger(cmd.ErrOrStderr(), quiet)
			db, cleanup, err := rulesLoadForDiff(cmd.Context(), j, log)
			if err != nil {
				return err
			}
			defer cleanup()
			if err := rules.RunSet(cmd.Context(), db, oldComp, "diff_hits_old", log); err != nil {
				return fmt.Errorf("old rules: %w", err)
			}
			if err := rules.RunSet(cmd.Context(), db, newComp, "diff_hits_new", log); err != nil {
				return fmt.Errorf("new rules: %w", err)
			}
			d, err := rules.Diff(cmd.Context(), db, "diff_hits_old", "diff_hits_new", compiledIDs(oldComp), compiledIDs(newComp), samples)
			if err != nil {
				return err
			}
			newLabel := strings.Join(newSet.Origins, " + ")
			if ps := paramChanges(oldComp, newComp); len(ps) > 0 {
				newLabel += "; parameters " + strings.Join(ps, ", ")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "old: %s (%d rules)   new: %s (%d rules)\n\n", oldLabel, len(oldComp), newLabel, len(newComp))
			return rules.WriteDiff(cmd.OutOrStdout(), d)
		},
	}
	f.add(c, true)
	c.Flags().StringVar(&against, "against", "", "old side: a folder of rule files, builtin, or defaults (the built-in parameter defaults)")
	c.Flags().StringArrayVar(&sets, "set", nil, "change a parameter on the new side, RULE.PARAM=VALUE (repeatable; lists as [a, b])")
	c.Flags().IntVar(&samples, "samples", 20, "payments shown per rule and kind of change")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "log warnings only")
	_ = c.MarkFlagRequired("config")
	return c
}

// paramSet is one --set RULE.PARAM=VALUE.
type paramSet struct {
	rule, param string
	value       any
}

// parseParamSets reads --set flags; values are YAML scalars or flow lists
// as in the job file (1, 0.5, true, text, [a, b]).
func parseParamSets(sets []string) ([]paramSet, error) {
	var out []paramSet
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		rule, param, ok2 := strings.Cut(strings.TrimSpace(k), ".")
		if !ok || !ok2 || rule == "" || param == "" {
			return nil, fmt.Errorf("--set %q: want RULE.PARAM=VALUE, e.g. deceased_after_death.grace_months=1", s)
		}
		var val any
		if err := yaml.Unmarshal([]byte(v), &val); err != nil {
			return nil, fmt.Errorf("--set %q: value: %w", s, err)
		}
		out = append(out, paramSet{rule: rule, param: param, value: val})
	}
	return out, nil
}

// withParamSets returns c with the changes applied to a copy of its rule
// parameters.
func withParamSets(c rules.Context, changes []paramSet) rules.Context {
	if len(changes) == 0 {
		return c
	}
	out := c
	out.RuleParams = map[string]map[string]any{}
	for id, ps := range c.RuleParams {
		m := map[string]any{}
		for k, v := range ps {
			m[k] = v
		}
		out.RuleParams[id] = m
	}
	for _, ch := range changes {
		if out.RuleParams[ch.rule] == nil {
			out.RuleParams[ch.rule] = map[string]any{}
		}
		out.RuleParams[ch.rule][ch.param] = ch.value
	}
	return out
}

// paramChanges lists RULE.PARAM=VALUE for every parameter in force that
// differs between the two compiled sets.
func paramChanges(old, new []rules.Compiled) []string {
	byID := map[string]rules.Compiled{}
	for _, c := range old {
		byID[c.ID] = c
	}
	var out []string
	for _, n := range new {
		o, ok := byID[n.ID]
		if !ok {
			continue
		}
		for _, k := range sortedParamKeys(n.Params) {
			if ov, nv := fmt.Sprint(o.Params[k]), fmt.Sprint(n.Params[k]); ov != nv {
				out = append(out, fmt.Sprintf("%s.%s=%s (was %s)", n.ID, k, nv, ov))
			}
		}
	}
	return out
}

func sortedParamKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func compiledIDs(c []rules.Compiled) []string {
	out := make([]string, len(c))
	for i, x := range c {
		out[i] = x.ID
	}
	sort.Strings(out)
	return out
}

// rulesLoadForDiff loads a job's data into a DuckDB database prepared for
// rules (screened, macros, catalogue, person_link) and sandboxed, and
// returns it with a cleanup function.
//
// Until the engine offers a load-only entry point it runs the job once
// with a temporary file database and output folder (the run's own rule
// settings cleared: only its loaded data is used), then reopens that
// database. With engine.LoadForRules(ctx, j, opts) (*engine.Session,
// func(), error) this becomes: sess, cleanup, err := engine.LoadForRules(…);
// return sess.DB, cleanup, err.
func rulesLoadForDiff(ctx context.Context, j *job.Job, log *slog.Logger) (*sql.DB, func(), error) {
	tmp, err := os.MkdirTemp("", "crosscheck-rules-diff-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	jj := *j
	jj.Rules = job.Rules{Set: job.DefaultRuleSet}
	jj.Engine.Database = filepath.Join(tmp, "diff.duckdb")
	jj.Output.Formats = []string{"csv"}
	log.Info("loading the job's data", "job", j.File)
	if _, err := engine.Run(ctx, &jj, engine.Options{OutDir: filepath.Join(tmp, "out"), Log: log}); err != nil {
		cleanup()
		return nil, nil, err
	}
	db, err := sql.Open("duckdb", jj.Engine.Database)
	if err == nil {
		_, err = db.ExecContext(ctx, schema.PersonLinkDDL)
	}
	if err == nil {
		err = rules.Sandbox(ctx, db)
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		cleanup()
		return nil, nil, err
	}
	return db, func() { db.Close(); cleanup() }, nil
}
