package linkage

import (
	"fmt"
	"strings"
)

// Helpers that build common comparisons over one column, in the manner of
// Splink's comparison library. Levels get starting m and u values (see
// StartingValues) that training replaces.

// NullLevel is the level "one of the columns is missing on either side".
func NullLevel(cols ...string) Level {
	var parts []string
	for _, c := range cols {
		parts = append(parts, fmt.Sprintf("l.%s IS NULL OR r.%s IS NULL", Ident(c), Ident(c)))
	}
	return Level{Label: "missing", When: strings.Join(parts, " OR "), Null: true}
}

// ElseLevel is the last level, "different".
func ElseLevel() Level { return Level{Label: "different"} }

// ExactLevel is the level "equal", term-frequency adjusted on col when tf.
func ExactLevel(col string, tf bool) Level {
	l := Level{Label: "exact", When: fmt.Sprintf("l.%s = r.%s", Ident(col), Ident(col))}
	if tf {
		l.TF = col
	}
	return l
}

// ExactMatch compares col for equality: missing, exact, different.
func ExactMatch(name, col string, tf bool) Comparison {
	return StartingValues(Comparison{Name: name, Levels: []Level{NullLevel(col), ExactLevel(col, tf), ElseLevel()}})
}

// JaroWinklerAtThresholds compares a string column: missing, exact, then
// one level per Jaro-Winkler threshold (DuckDB's jaro_winkler_similarity,
// descending thresholds), different.
func JaroWinklerAtThresholds(name, col string, tf bool, thresholds ...float64) Comparison {
	c := Comparison{Name: name, Levels: []Level{NullLevel(col), ExactLevel(col, tf)}}
	for _, t := range thresholds {
		c.Levels = append(c.Levels, Level{Label: fmt.Sprintf("Jaro-Winkler ≥ %g", t),
			When: fmt.Sprintf("jaro_winkler_similarity(l.%s, r.%s) >= %g", Ident(col), Ident(col), t)})
	}
	c.Levels = append(c.Levels, ElseLevel())
	return StartingValues(c)
}

// LevenshteinAtThresholds compares a string column: missing, exact, then
// one level per edit distance (ascending), different.
func LevenshteinAtThresholds(name, col string, tf bool, dists ...int) Comparison {
	c := Comparison{Name: name, Levels: []Level{NullLevel(col), ExactLevel(col, tf)}}
	for _, d := range dists {
		c.Levels = append(c.Levels, Level{Label: fmt.Sprintf("Levenshtein ≤ %d", d),
			When: fmt.Sprintf("levenshtein(l.%s, r.%s) <= %d", Ident(col), Ident(col), d)})
	}
	c.Levels = append(c.Levels, ElseLevel())
	return StartingValues(c)
}

// DateComparison compares a DATE column: missing, exact, day and month
// transposed, one of year/month/day different, within days (when > 0),
// different.
func DateComparison(name, col string, days int) Comparison {
	l, r := "l."+Ident(col), "r."+Ident(col)
	c := Comparison{Name: name, Levels: []Level{
		NullLevel(col),
		{Label: "exact", When: fmt.Sprintf("%s = %s", l, r)},
		{Label: "day and month transposed", When: fmt.Sprintf("year(%s) = year(%s) AND month(%s) = day(%s) AND day(%s) = month(%s)", l, r, l, r, l, r)},
		{Label: "one of year, month, day different", When: fmt.Sprintf("(year(%s) = year(%s))::INT + (month(%s) = month(%s))::INT + (day(%s) = day(%s))::INT = 2", l, r, l, r, l, r)},
	}}
	if days > 0 {
		c.Levels = append(c.Levels, Level{Label: fmt.Sprintf("within %d days", days),
			When: fmt.Sprintf("abs(date_diff('day', %s, %s)) <= %d", l, r, days)})
	}
	c.Levels = append(c.Levels, ElseLevel())
	return StartingValues(c)
}

// StartingValues fills the levels' m and u where they are 0: m falls and u
// rises from the first to the last non-null level (m 0.75, 0.19, … and
// u 0.0004, 0.0016, … for four levels). EM and random sampling replace them;
// they matter only when the data are too few to train on.
func StartingValues(c Comparison) Comparison {
	var idx []int
	for j, l := range c.Levels {
		if !l.Null {
			idx = append(idx, j)
		}
	}
	n := len(idx)
	if n == 0 {
		return c
	}
	ms, us := make([]float64, n), make([]float64, n)
	sm, su := 0.0, 0.0
	for t := range n {
		ms[t] = 1 / float64(int(1)<<(2*t))
		if t == n-1 && n > 1 {
			ms[t] = 0.05
		}
		us[t] = 1 / float64(int(1)<<(2*(n-1-t)))
		if t == 0 && n > 2 {
			us[t] /= 16
		}
		sm += ms[t]
		su += us[t]
	}
	for t, j := range idx {
		l := &c.Levels[j]
		if l.M == 0 {
			l.M = ms[t] / sm
		}
		if l.U == 0 {
			l.U = us[t] / su
		}
	}
	return c
}
