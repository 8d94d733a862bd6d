package linkage

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Input names the records to link: Left against Right, or Left against
// itself when Right is empty (deduplication). Both need the column ID, a
// unique BIGINT, and the model's input columns.
type Input struct {
	Left, Right string
	ID          string
	// TF names the table whose values the term frequencies count; empty:
	// Left and Right together. A fixed reference (a registry) makes a
	// pair's weight independent of the other records being linked.
	TF string
}

// Dedupe reports whether the input deduplicates one table.
func (in Input) Dedupe() bool { return in.Right == "" || in.Right == in.Left }

func (in Input) right() string {
	if in.Dedupe() {
		return in.Left
	}
	return in.Right
}

// Ident quotes an SQL identifier.
func Ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// lit formats a float as an SQL literal that reads back exactly.
func lit(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "0"
	}
	return strconv.FormatFloat(f, 'g', 17, 64) + "::DOUBLE"
}

func exec(ctx context.Context, db *sql.DB, stmts ...string) error {
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("linkage: %w\nin SQL: %s", err, firstLines(q, 8))
		}
	}
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}

// idCol is the id column in the working tables.
const idCol = "__id"

// gammaSQL is the CASE expression giving comparison k's level.
func (m *Model) gammaSQL(k int) string {
	c := &m.Comparisons[k]
	var b strings.Builder
	b.WriteString("CASE")
	last := len(c.Levels) - 1
	for j, l := range c.Levels {
		if l.When == "" {
			continue
		}
		fmt.Fprintf(&b, " WHEN %s THEN %d", l.When, j)
	}
	// The else level; when the last level has a condition too, a pair
	// matching no condition falls into it as well.
	fmt.Fprintf(&b, " ELSE %d", last)
	b.WriteString(" END::TINYINT")
	return b.String()
}

// GammaColumn is the pairs-table column holding comparison name's level.
func GammaColumn(name string) string { return "g_" + name }

// TFColumn is the pairs-table column holding the term frequency of column
// col for the pair (the larger of the two records').
func TFColumn(col string) string { return "tf_" + col }

func (m *Model) gammaList(prefix string) string {
	var parts []string
	for _, c := range m.Comparisons {
		parts = append(parts, prefix+Ident(GammaColumn(c.Name)))
	}
	return strings.Join(parts, ", ")
}

// selectGammas is the select list of the levels of a pair l, r.
func (m *Model) selectGammas() string {
	var parts []string
	for k, c := range m.Comparisons {
		parts = append(parts, m.gammaSQL(k)+" AS "+Ident(GammaColumn(c.Name)))
	}
	return strings.Join(parts, ",\n  ")
}

// project is a parenthesised query selecting id AS __id and cols from t.
func project(t, id string, cols []string) string {
	sel := []string{Ident(id) + " AS " + idCol}
	seen := map[string]bool{idCol: true}
	for _, c := range cols {
		if !seen[c] {
			seen[c] = true
			sel = append(sel, Ident(c))
		}
	}
	return fmt.Sprintf("(SELECT %s FROM %s)", strings.Join(sel, ", "), Ident(t))
}

// Pairs creates the table out with the candidate pairs of in: columns id_l,
// id_r (the input ids; for deduplication id_l < id_r), rule (the first
// blocking rule that generates the pair), mask (bit i set when the pair
// satisfies rule i), g_<comparison> (the level index) and tf_<col> (term
// frequencies, the larger of the two records', for every TF column).
// Term frequencies are computed over Left and Right together, or over
// in.TF. It returns the number of pairs.
//
// Each rule is a join of narrow projections (id and the rule's columns);
// the id pairs are deduplicated, then joined back to the inputs once to
// compute the comparison levels.
func (m *Model) Pairs(ctx context.Context, db *sql.DB, in Input, out string) (int64, error) {
	if err := m.Validate(); err != nil {
		return 0, err
	}
	tmp := "_lk_" + out + "_"
	var drops []string
	defer func() {
		for _, d := range drops {
			db.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+Ident(d))
		}
	}()
	for _, c := range m.tfColumns() {
		t := tmp + "tf_" + c
		drops = append(drops, t)
		var src string
		if in.TF != "" {
			src = fmt.Sprintf("SELECT %s AS v FROM %s", Ident(c), Ident(in.TF))
		} else if in.Dedupe() {
			src = fmt.Sprintf("SELECT %s AS v FROM %s", Ident(c), Ident(in.Left))
		} else {
			src = fmt.Sprintf("SELECT %s AS v FROM %s UNION ALL SELECT %s FROM %s", Ident(c), Ident(in.Left), Ident(c), Ident(in.Right))
		}
		if err := exec(ctx, db, fmt.Sprintf(`CREATE OR REPLACE TABLE %s AS
			SELECT v, count(*)::DOUBLE / sum(count(*)) OVER () AS tf FROM (%s) WHERE v IS NOT NULL GROUP BY v`, Ident(t), src)); err != nil {
			return 0, err
		}
	}
	ids := tmp + "ids"
	drops = append(drops, ids)
	var parts []string
	for i, b := range m.Blocking {
		cols := sqlColumns(b)
		on := "(" + b + ")"
		if in.Dedupe() {
			on += fmt.Sprintf(" AND l.%s < r.%s", idCol, idCol)
		}
		parts = append(parts, fmt.Sprintf("SELECT l.%s AS id_l, r.%s AS id_r, %d AS rule FROM %s l JOIN %s r ON %s",
			idCol, idCol, i, project(in.Left, in.ID, cols), project(in.right(), in.ID, cols), on))
	}
	// A pair satisfying rule i is generated by rule i's join, so the OR of
	// the rules generating a pair is its mask.
	if err := exec(ctx, db, fmt.Sprintf(`CREATE OR REPLACE TABLE %s AS
SELECT id_l, id_r, min(rule) AS rule, bit_or((1 << rule)::INTEGER) AS mask FROM (
%s
) GROUP BY id_l, id_r`, Ident(ids), strings.Join(parts, "\nUNION ALL\n"))); err != nil {
		return 0, err
	}
	cols := m.InputColumns()
	from := fmt.Sprintf("%s p JOIN %s l ON l.%s = p.id_l JOIN %s r ON r.%s = p.id_r",
		Ident(ids), project(in.Left, in.ID, cols), idCol, project(in.right(), in.ID, cols), idCol)
	sel := "p.id_l, p.id_r, p.rule, p.mask,\n  " + m.selectGammas()
	for i, c := range m.tfColumns() {
		t := Ident(tmp + "tf_" + c)
		from += fmt.Sprintf("\n LEFT JOIN %s tl%d ON tl%d.v = l.%s LEFT JOIN %s tr%d ON tr%d.v = r.%s", t, i, i, Ident(c), t, i, i, Ident(c))
		sel += fmt.Sprintf(",\n  greatest(tl%d.tf, tr%d.tf) AS %s", i, i, Ident(TFColumn(c)))
	}
	if err := exec(ctx, db, fmt.Sprintf("CREATE OR REPLACE TABLE %s AS\nSELECT %s\nFROM %s", Ident(out), sel, from)); err != nil {
		return 0, err
	}
	return count(ctx, db, out)
}

// count returns the number of rows of a table.
func count(ctx context.Context, db *sql.DB, table string) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+Ident(table)).Scan(&n)
	return n, err
}

// TotalPairs is the number of possible pairs of in.
func TotalPairs(ctx context.Context, db *sql.DB, in Input) (float64, error) {
	nl, err := count(ctx, db, in.Left)
	if err != nil {
		return 0, err
	}
	if in.Dedupe() {
		return float64(nl) * float64(nl-1) / 2, nil
	}
	nr, err := count(ctx, db, in.Right)
	if err != nil {
		return 0, err
	}
	return float64(nl) * float64(nr), nil
}

// EstimateU estimates every comparison's u probabilities from about
// opt.MaxPairsU random pairs of in (records drawn by a hash of their id and
// opt.Seed, so the sample is reproducible), leaving out pairs that satisfy
// opt.UExclude. Levels never seen get the model's floor. It returns the
// number of pairs sampled.
func (m *Model) EstimateU(ctx context.Context, db *sql.DB, in Input, opt TrainOptions) (int64, error) {
	if err := m.Validate(); err != nil {
		return 0, err
	}
	opt.defaults()
	maxPairs, seed := opt.MaxPairsU, opt.Seed
	nl, err := count(ctx, db, in.Left)
	if err != nil {
		return 0, err
	}
	nr := nl
	if !in.Dedupe() {
		if nr, err = count(ctx, db, in.Right); err != nil {
			return 0, err
		}
	}
	kl, kr := USampleSizes(nl, nr, maxPairs, in.Dedupe())
	cols := []string{Ident(in.ID) + " AS " + idCol}
	for _, c := range m.InputColumns() {
		cols = append(cols, Ident(c))
	}
	sample := func(t string, k int64, s int64) string {
		return fmt.Sprintf("(SELECT %s FROM %s ORDER BY hash(%s, %d), %s LIMIT %d)", strings.Join(cols, ", "), Ident(t), Ident(in.ID), s, Ident(in.ID), k)
	}
	where := ""
	if opt.UExclude != "" {
		where = " WHERE NOT coalesce((" + opt.UExclude + "), false)"
	}
	var q string
	if in.Dedupe() {
		if where == "" {
			where = " WHERE true"
		}
		q = fmt.Sprintf("WITH s AS %s SELECT %s, count(*) FROM (SELECT %s FROM s l JOIN s r ON l.%s < r.%s%s) GROUP BY ALL",
			sample(in.Left, kl, seed), m.gammaList(""), m.selectGammas(), idCol, idCol, strings.Replace(where, " WHERE", " AND", 1))
	} else {
		q = fmt.Sprintf("WITH a AS %s, b AS %s SELECT %s, count(*) FROM (SELECT %s FROM a l CROSS JOIN b r%s) GROUP BY ALL",
			sample(in.Left, kl, seed), sample(in.Right, kr, seed+1), m.gammaList(""), m.selectGammas(), where)
	}
	pats, err := m.readPatterns(ctx, db, q, false)
	if err != nil {
		return 0, err
	}
	var total int64
	counts := make([][]float64, len(m.Comparisons))
	for k := range m.Comparisons {
		counts[k] = make([]float64, len(m.Comparisons[k].Levels))
	}
	for _, p := range pats {
		total += int64(p.n)
		for k, g := range p.g {
			counts[k][g] += p.n
		}
	}
	fl := m.floor()
	for k := range m.Comparisons {
		c := &m.Comparisons[k]
		sum := 0.0
		for j, l := range c.Levels {
			if !l.Null {
				sum += counts[k][j]
			}
		}
		if sum == 0 {
			continue // no information: keep the starting values
		}
		for j := range c.Levels {
			l := &c.Levels[j]
			if l.Null {
				continue
			}
			l.U = math.Max(counts[k][j]/sum, fl)
			l.UTrained = true
		}
	}
	return total, nil
}

// USampleSizes returns how many records EstimateU draws from the left and
// right inputs (nl and nr records) for about maxPairs random pairs. The
// records drawn are the first ones in the order of hash(id, seed) (left)
// and hash(id, seed+1) (right), so a caller can prepare just those.
func USampleSizes(nl, nr, maxPairs int64, dedupe bool) (kl, kr int64) {
	if dedupe {
		kl = min(nl, int64(math.Sqrt(2*float64(maxPairs)))+1)
		return kl, kl
	}
	kl = min(nl, int64(math.Sqrt(float64(maxPairs)))+1)
	kr = min(nr, maxPairs/max(kl, 1)+1)
	if kr == nr { // small right side: spend the budget on the left
		kl = min(nl, maxPairs/max(kr, 1)+1)
	}
	return kl, kr
}

// pattern is a distinct comparison vector with its number of pairs.
type pattern struct {
	mask uint32
	g    []int8
	n    float64
}

// readPatterns runs a query returning (mask?, g_1 … g_k, count).
func (m *Model) readPatterns(ctx context.Context, db *sql.DB, q string, withMask bool) ([]pattern, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("linkage: %w\nin SQL: %s", err, firstLines(q, 8))
	}
	defer rows.Close()
	k := len(m.Comparisons)
	var out []pattern
	for rows.Next() {
		var mask int64
		gs := make([]int64, k)
		var n int64
		dest := make([]any, 0, k+2)
		if withMask {
			dest = append(dest, &mask)
		}
		for i := range gs {
			dest = append(dest, &gs[i])
		}
		dest = append(dest, &n)
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		p := pattern{mask: uint32(mask), g: make([]int8, k), n: float64(n)}
		for i, g := range gs {
			if g < 0 || int(g) >= len(m.Comparisons[i].Levels) {
				return nil, fmt.Errorf("linkage: comparison %s: level %d out of range", m.Comparisons[i].Name, g)
			}
			p.g[i] = int8(g)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Patterns reads the distinct comparison vectors of a pairs table.
func (m *Model) patterns(ctx context.Context, db *sql.DB, pairs string) ([]pattern, error) {
	q := fmt.Sprintf("SELECT mask, %s, count(*) FROM %s GROUP BY ALL", m.gammaList(""), Ident(pairs))
	return m.readPatterns(ctx, db, q, true)
}

// weightSQL is the SQL expression of a pair's match weight over a pairs
// table's g_ and tf_ columns.
func (m *Model) weightSQL() string {
	terms := []string{lit(m.PriorWeight())}
	fl := m.floor()
	for k := range m.Comparisons {
		c := &m.Comparisons[k]
		g := Ident(GammaColumn(c.Name))
		var b strings.Builder
		fmt.Fprintf(&b, "CASE %s", g)
		for j, l := range c.Levels {
			if l.Null {
				continue
			}
			fmt.Fprintf(&b, " WHEN %d THEN %s", j, lit(l.Weight()))
		}
		b.WriteString(" ELSE 0 END")
		terms = append(terms, b.String())
		for j, l := range c.Levels {
			if l.TF == "" || l.Null {
				continue
			}
			tc := Ident(TFColumn(l.TF))
			terms = append(terms, fmt.Sprintf("CASE WHEN %s = %d AND %s > 0 THEN log2(%s / greatest(%s, %s)) ELSE 0 END",
				g, j, tc, lit(tfRef(c, j)), tc, lit(fl)))
		}
	}
	return strings.Join(terms, "\n + ")
}

// Score creates the table out from the pairs table with two more columns,
// match_weight (prior, comparisons and term-frequency adjustments, in
// bits) and match_probability. Pairs below minProbability are left out
// (0 keeps all).
func (m *Model) Score(ctx context.Context, db *sql.DB, pairs, out string, minProbability float64) error {
	if err := m.Validate(); err != nil {
		return err
	}
	where := ""
	if minProbability > 0 {
		where = " WHERE match_weight >= " + lit(Weight(minProbability))
	}
	q := fmt.Sprintf(`CREATE OR REPLACE TABLE %s AS
SELECT *, 1 / (1 + pow(2, -match_weight)) AS match_probability FROM (
SELECT *, %s AS match_weight FROM %s)%s`, Ident(out), m.weightSQL(), Ident(pairs), where)
	return exec(ctx, db, q)
}
