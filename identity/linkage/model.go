// Package linkage is a Fellegi-Sunter record-linkage model that runs in
// DuckDB, after Splink: blocking rules and comparisons are SQL, DuckDB
// generates and scores the candidate pairs, Go only orchestrates and runs
// the expectation-maximisation on aggregated comparison patterns.
//
// The model knows nothing about the records except their columns, so the
// same code links Chinese person records (package identity) and the FEBRL
// and Splink benchmark data (benchmarks/linkage).
//
// A run has five steps, each a method of Model:
//
//  1. EstimateU: u probabilities (how often each comparison level occurs
//     among non-matching pairs) from random pairs.
//  2. Pairs: the candidate pairs of the blocking rules (each pair once),
//     with every comparison's level (gamma), the term frequencies the
//     model needs and a bit mask of the rules each pair satisfies.
//  3. EstimateM: m probabilities (how often each level occurs among
//     matches) by EM, one session per blocking rule as Splink does: a
//     session uses the pairs of its rule and leaves out the comparisons
//     whose columns the rule blocks on. u stays fixed. The sessions'
//     estimates are combined weighted by their expected matches (λ ×
//     pairs); sessions expecting few matches do not vote.
//  4. EstimatePrior: the probability that two random records match
//     (λ), by EM on the candidate pairs with m and u fixed.
//  5. Score: match weight (log2 Bayes factor, prior included) and match
//     probability for every pair, with term-frequency adjustments.
//
// Train runs steps 1-4. Explain breaks one pair's weight down per
// comparison (Splink's waterfall chart, as data).
//
// Tables are read and written through database/sql; any DuckDB connection
// works. The input tables need a unique BIGINT id column and the columns
// the rules and comparisons read; SQL refers to the two records of a pair
// as l and r (l.name, r.name).
package linkage

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
)

// Level is one outcome of a comparison, from most to least similar.
type Level struct {
	// Label describes the level for explanations ("exact", "same pinyin").
	Label string `json:"label"`
	// When is a SQL condition over the pair (l.col, r.col). The first level
	// whose condition holds is the pair's level; an empty When (the else
	// level) must come last.
	When string `json:"when,omitempty"`
	// Null marks the level that stands for missing data: it adds nothing
	// to the weight and is left out of the m and u estimates.
	Null bool `json:"null,omitempty"`
	// TF names a column whose term frequency adjusts the weight of this
	// level: a match on a rare value counts more than on a common one
	// (see Model.Score).
	TF string `json:"tf,omitempty"`
	// M and U are the probabilities of the level among matches and
	// non-matches. They are starting values before training and the
	// estimates after.
	M float64 `json:"m"`
	U float64 `json:"u"`
	// Trained reports which of M and U were estimated from data.
	MTrained bool `json:"m_trained,omitempty"`
	UTrained bool `json:"u_trained,omitempty"`
}

// Weight is the level's match weight log2(m/u), 0 for the null level.
func (l Level) Weight() float64 {
	if l.Null {
		return 0
	}
	return math.Log2(l.M / l.U)
}

// Comparison compares the two records of a pair on one aspect (name,
// birth date …) and puts the pair into one of its levels.
type Comparison struct {
	// Name identifies the comparison; the pairs table has its level in
	// column g_<Name>. Lower-case letters, digits and _.
	Name string `json:"name"`
	// Columns lists further columns that determine the comparison although
	// its SQL does not name them (derived keys such as a pinyin key). A
	// blocking rule on any column of the comparison, named in its SQL or
	// here, leaves the comparison out of that rule's EM session.
	Columns []string `json:"columns,omitempty"`
	Levels  []Level  `json:"levels"`
}

// Model is a Fellegi-Sunter model: comparisons, blocking rules and the
// prior.
type Model struct {
	Comparisons []Comparison `json:"comparisons"`
	// Blocking are SQL conditions over l and r. A pair is a candidate when
	// it satisfies at least one; each candidate is generated once.
	// At most 30 rules.
	Blocking []string `json:"blocking"`
	// Prior is the probability that two records drawn at random match (λ).
	Prior float64 `json:"prior"`
	// Floor is the smallest value an estimated m or u takes (a level never
	// seen must not weigh ±∞). Default 1e-6.
	Floor float64 `json:"floor,omitempty"`
}

var identRe = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// colRe finds l.col and r.col references in SQL.
var colRe = regexp.MustCompile(`\b[lr]\.("?)([A-Za-z_][A-Za-z0-9_]*)("?)`)

// ErrInvalidModel is wrapped by the errors of Validate.
var ErrInvalidModel = errors.New("invalid linkage model")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidModel, fmt.Sprintf(format, a...))
}

// Validate checks the model's structure.
func (m *Model) Validate() error {
	if len(m.Comparisons) == 0 {
		return invalid("no comparisons")
	}
	if len(m.Blocking) == 0 || len(m.Blocking) > 30 {
		return invalid("%d blocking rules: need 1 to 30", len(m.Blocking))
	}
	seen := map[string]bool{}
	for _, c := range m.Comparisons {
		if !identRe.MatchString(c.Name) {
			return invalid("comparison %q: names are lower-case letters, digits and _", c.Name)
		}
		if seen[c.Name] {
			return invalid("comparison %q declared twice", c.Name)
		}
		seen[c.Name] = true
		if len(c.Levels) < 2 || len(c.Levels) > 100 {
			return invalid("comparison %s: %d levels, need 2 to 100", c.Name, len(c.Levels))
		}
		nonNull := 0
		for i, l := range c.Levels {
			if l.When == "" && i != len(c.Levels)-1 {
				return invalid("comparison %s: level %d (%s) has no condition but is not the last", c.Name, i, l.Label)
			}
			if l.TF != "" && !identRe.MatchString(l.TF) {
				return invalid("comparison %s: level %s: TF column %q", c.Name, l.Label, l.TF)
			}
			if !l.Null {
				nonNull++
				if !(l.M > 0 && l.M <= 1 && l.U > 0 && l.U <= 1) {
					return invalid("comparison %s: level %s: m %g and u %g must be in (0, 1] (see StartingValues)", c.Name, l.Label, l.M, l.U)
				}
			}
		}
		if nonNull < 2 {
			return invalid("comparison %s: needs at least two levels that are not null levels", c.Name)
		}
	}
	if m.Prior < 0 || m.Prior >= 1 {
		return invalid("prior %g is not a probability below 1", m.Prior)
	}
	return nil
}

func (m *Model) floor() float64 {
	if m.Floor > 0 {
		return m.Floor
	}
	return 1e-6
}

// Clone returns a deep copy of the model.
func (m *Model) Clone() *Model {
	c := *m
	c.Blocking = append([]string(nil), m.Blocking...)
	c.Comparisons = make([]Comparison, len(m.Comparisons))
	for i, cmp := range m.Comparisons {
		cmp.Columns = append([]string(nil), cmp.Columns...)
		cmp.Levels = append([]Level(nil), cmp.Levels...)
		c.Comparisons[i] = cmp
	}
	return &c
}

// sqlColumns returns the column names referenced as l.x or r.x in s.
func sqlColumns(s string) []string {
	var out []string
	for _, m := range colRe.FindAllStringSubmatch(s, -1) {
		out = append(out, m[2])
	}
	return out
}

// columns returns every column of the comparison: those its SQL names and
// those it declares.
func (c *Comparison) columns() map[string]bool {
	out := map[string]bool{}
	for _, col := range c.Columns {
		out[col] = true
	}
	for _, l := range c.Levels {
		for _, col := range sqlColumns(l.When) {
			out[col] = true
		}
	}
	return out
}

// InputColumns lists the columns the model reads from its input tables
// (besides the id), sorted.
func (m *Model) InputColumns() []string {
	set := map[string]bool{}
	for i := range m.Comparisons {
		for _, l := range m.Comparisons[i].Levels {
			for _, c := range sqlColumns(l.When) {
				set[c] = true
			}
			if l.TF != "" {
				set[l.TF] = true
			}
		}
	}
	for _, b := range m.Blocking {
		for _, c := range sqlColumns(b) {
			set[c] = true
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// tfColumns lists the distinct TF columns, sorted.
func (m *Model) tfColumns() []string {
	set := map[string]bool{}
	for _, c := range m.Comparisons {
		for _, l := range c.Levels {
			if l.TF != "" {
				set[l.TF] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// excluded reports, for blocking rule i, which comparisons its EM session
// must leave out: those sharing a column with the rule.
func (m *Model) excluded(i int) []bool {
	rc := map[string]bool{}
	for _, c := range sqlColumns(m.Blocking[i]) {
		rc[c] = true
	}
	out := make([]bool, len(m.Comparisons))
	for k := range m.Comparisons {
		for c := range m.Comparisons[k].columns() {
			if rc[c] {
				out[k] = true
			}
		}
	}
	return out
}

// PriorWeight is the match weight of the prior, log2(λ/(1-λ)).
func (m *Model) PriorWeight() float64 {
	return math.Log2(m.Prior / (1 - m.Prior))
}

// tfRef returns, for level j of comparison c with a TF column, the u of
// "at least this similar": the sum of u over the non-null levels 0..j.
// The term-frequency adjustment replaces that average agreement rate by
// the agreement rate of the pair's own value.
func tfRef(c *Comparison, j int) float64 {
	s := 0.0
	for i := 0; i <= j; i++ {
		if !c.Levels[i].Null {
			s += c.Levels[i].U
		}
	}
	return s
}

// Probability turns a match weight into a match probability.
func Probability(w float64) float64 {
	return 1 / (1 + math.Exp2(-w))
}

// Weight turns a match probability into a match weight.
func Weight(p float64) float64 {
	return math.Log2(p / (1 - p))
}

// Part is one term of a pair's match weight.
type Part struct {
	Comparison string  // comparison name, "prior" or "<name> tf"
	Level      string  // level label
	Gamma      int     // level index
	M, U       float64 // 0 for the prior and TF terms
	Weight     float64 // contribution in bits
}

// Explain breaks the weight of a pair with the given levels (one per
// comparison, in order) and term frequencies (by TF column; missing means
// no adjustment) into its parts: the prior, each comparison, and each
// term-frequency adjustment. The parts sum to the match weight Score gives
// the pair.
func (m *Model) Explain(gammas []int, tf map[string]float64) ([]Part, error) {
	if len(gammas) != len(m.Comparisons) {
		return nil, fmt.Errorf("linkage: %d levels for %d comparisons", len(gammas), len(m.Comparisons))
	}
	parts := []Part{{Comparison: "prior", Level: fmt.Sprintf("λ = %.3g", m.Prior), Weight: m.PriorWeight()}}
	for k := range m.Comparisons {
		c := &m.Comparisons[k]
		g := gammas[k]
		if g < 0 || g >= len(c.Levels) {
			return nil, fmt.Errorf("linkage: comparison %s: level %d out of range", c.Name, g)
		}
		l := c.Levels[g]
		parts = append(parts, Part{Comparison: c.Name, Level: l.Label, Gamma: g, M: l.M, U: l.U, Weight: l.Weight()})
		if l.TF != "" && !l.Null {
			if v, ok := tf[l.TF]; ok && v > 0 {
				parts = append(parts, Part{Comparison: c.Name + " tf", Level: fmt.Sprintf("%s frequency %.3g", l.TF, v),
					Gamma: g, Weight: math.Log2(tfRef(c, g) / math.Max(v, m.floor()))})
			}
		}
	}
	return parts, nil
}

// FormatParts renders parts as a text waterfall: one line per part with
// its contribution and the running total, then the match probability.
func FormatParts(parts []Part) string {
	var b strings.Builder
	total := 0.0
	fmt.Fprintf(&b, "%-16s %-34s %10s %10s %8s %8s\n", "comparison", "level", "m", "u", "weight", "total")
	for _, p := range parts {
		total += p.Weight
		m, u := "", ""
		if p.M > 0 || p.U > 0 {
			m, u = fmt.Sprintf("%.4g", p.M), fmt.Sprintf("%.4g", p.U)
		}
		fmt.Fprintf(&b, "%-16s %-34s %10s %10s %+8.2f %+8.2f\n", p.Comparison, truncate(p.Level, 34), m, u, p.Weight, total)
	}
	fmt.Fprintf(&b, "match weight %+.2f, match probability %.6f\n", total, Probability(total))
	return b.String()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
