package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/crosscheck/crosscheck/identity/linkage"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// ErrNoRecord is returned by Explain for a record person_link does not hold.
var ErrNoRecord = errors.New("identity: record not in person_link")

// maxExplained bounds the candidates Explain details.
const maxExplained = 10

// Explain describes how record rid of table was resolved, from the tables
// Link wrote: the method and key and, for a record without a usable ID,
// its candidates best first, each with the waterfall of its match weight
// (prior, each comparison's level with m, u and weight, term-frequency
// adjustments, running total) and the values compared. ID numbers are
// masked.
func Explain(ctx context.Context, db *sql.DB, table string, rid int64) (string, error) {
	var key, method, cands sql.NullString
	var w, p sql.NullFloat64
	var nc sql.NullInt64
	err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT person_key, method, match_weight, match_probability, candidates, n_candidates
		FROM %s WHERE table_name = ? AND _rid = ?`, TableLink), table, rid).Scan(&key, &method, &w, &p, &cands, &nc)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: %s _rid %d", ErrNoRecord, table, rid)
	}
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "record %s _rid %d: method %s", table, rid, method.String)
	if key.Valid {
		fmt.Fprintf(&b, ", person_key %s", idnumber.Mask(key.String))
	}
	b.WriteString("\n")
	rec, err := recordValues(ctx, db, table, "_rid = ?", rid)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "  record:    %s\n", rec)
	switch method.String {
	case MethodExact:
		b.WriteString("  linked by its valid ID number; no probabilistic comparison.\n")
		return b.String(), nil
	case MethodUpgraded:
		b.WriteString("  linked by its 15-digit ID number upgraded to 18 digits; no probabilistic comparison.\n")
		return b.String(), nil
	case MethodRepaired:
		b.WriteString("  linked by its ID number repaired against the registry (one edit, same name); no probabilistic comparison.\n")
		return b.String(), nil
	}
	info, err := readInfo(ctx, db)
	if err != nil {
		return "", err
	}
	th := info["threshold"]
	if v, err := strconv.ParseFloat(th, 64); err == nil {
		th = strconv.FormatFloat(v, 'g', 4, 64)
	}
	if info[infoThresholdAuto] == "true" {
		th += " (chosen from the model's estimates)"
	}
	fmt.Fprintf(&b, "  rule: link when the best candidate has probability ≥ %s, beats the second by ≥ %s bits", th, info["margin"])
	if info["allow_name_mismatch"] != "true" {
		b.WriteString(" and its name is not entirely different")
	}
	b.WriteString("\n")
	if w.Valid {
		fmt.Fprintf(&b, "  best candidate: weight %+.2f, probability %.6f; %d candidate(s) with probability ≥ %s\n",
			w.Float64, p.Float64, nc.Int64, info["min_candidate_probability"])
	} else {
		b.WriteString("  no candidate: no registry record shares a blocking key with it.\n")
		return b.String(), nil
	}
	model, err := readModel(ctx, db)
	if err != nil {
		return "", err
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT * FROM %s WHERE table_name = ? AND _rid = ? ORDER BY rank LIMIT %d", TableCandidate, maxExplained), table, rid)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	type cand struct {
		rank   int64
		key    string
		weight float64
		prob   float64
		gammas []int
		tf     map[string]float64
	}
	var list []cand
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		c := cand{tf: map[string]float64{}}
		byName := map[string]any{}
		for i, n := range cols {
			byName[n] = vals[i]
		}
		c.rank = toInt(byName["rank"])
		c.key, _ = byName["person_key"].(string)
		c.weight = toFloat(byName["match_weight"])
		c.prob = toFloat(byName["match_probability"])
		for _, cmp := range model.Comparisons {
			c.gammas = append(c.gammas, int(toInt(byName[linkage.GammaColumn(cmp.Name)])))
			for _, l := range cmp.Levels {
				if l.TF != "" {
					if v, ok := byName[linkage.TFColumn(l.TF)]; ok && v != nil {
						c.tf[l.TF] = toFloat(v)
					}
				}
			}
		}
		list = append(list, c)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	rows.Close()
	for _, c := range list {
		fmt.Fprintf(&b, "\ncandidate #%d person_key %s: weight %+.2f, probability %.6f\n", c.rank, idnumber.Mask(c.key), c.weight, c.prob)
		if reg := info["registry"]; reg != "" {
			if v, err := recordValues(ctx, db, reg, "person_key = ?", c.key); err == nil {
				fmt.Fprintf(&b, "  registry:  %s\n", v)
			}
		}
		parts, err := model.Explain(c.gammas, c.tf)
		if err != nil {
			return "", err
		}
		b.WriteString(indent(linkage.FormatParts(parts), "  "))
		total := 0.0
		for _, p := range parts {
			total += p.Weight
		}
		if math.Abs(total-c.weight) > 1e-6 {
			fmt.Fprintf(&b, "  (stored weight %+.4f differs from the recomputed %+.4f: the model table changed after Link)\n", c.weight, total)
		}
	}
	return b.String(), nil
}

// recordValues renders the compared columns of the first row of table
// matching cond.
func recordValues(ctx context.Context, db *sql.DB, table, cond string, arg any) (string, error) {
	all, err := discover(ctx, db)
	if err != nil {
		return "", err
	}
	t, ok := all[table]
	if !ok {
		return "", fmt.Errorf("identity: table %q does not exist", table)
	}
	cols := []string{t.nameCol(), "gender", "birth_date", "region_code", "id_number", "id_number_status"}
	var sel, names []string
	for _, c := range cols {
		if t.cols[c] {
			sel = append(sel, linkage.Ident(c)+"::VARCHAR")
			names = append(names, c)
		}
	}
	if len(sel) == 0 {
		return "", nil
	}
	vals := make([]sql.NullString, len(sel))
	ptrs := make([]any, len(sel))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s LIMIT 1", strings.Join(sel, ", "), linkage.Ident(table), cond)
	if err := db.QueryRowContext(ctx, q, arg).Scan(ptrs...); err != nil {
		return "", err
	}
	var parts []string
	for i, n := range names {
		v := "∅"
		if vals[i].Valid {
			v = vals[i].String
			if n == "id_number" {
				v = idnumber.Mask(v)
			}
		}
		parts = append(parts, n+"="+v)
	}
	return strings.Join(parts, " "), nil
}

func readInfo(ctx context.Context, db *sql.DB) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT key, value FROM "+TableInfo)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

func indent(s, p string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = p + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case uint64:
		return int64(x)
	case uint32:
		return int64(x)
	case float64:
		return int64(x)
	}
	return 0
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case float32:
		return float64(x)
	case int64:
		return float64(x)
	}
	return 0
}

// WriteWeightHistogram writes the distribution of the match weights in
// person_link_candidate (every scored candidate pair) as an SVG bar chart
// of 1-bit bins, log-scaled, with the link threshold marked.
func WriteWeightHistogram(ctx context.Context, db *sql.DB, w io.Writer) error {
	bins, err := linkage.Histogram(ctx, db, TableCandidate, "match_weight", 1)
	if err != nil {
		return err
	}
	info, err := readInfo(ctx, db)
	if err != nil {
		return err
	}
	opt := linkage.HistogramOptions{Title: "Match weights of candidate pairs (person_link_candidate)", LogY: true}
	var th float64
	if _, err := fmt.Sscan(info["threshold"], &th); err == nil && th > 0 && th < 1 {
		opt.Marks = append(opt.Marks, linkage.Mark{X: linkage.Weight(th), Label: fmt.Sprintf("threshold p = %s", info["threshold"])})
	}
	return linkage.WriteHistogramSVG(w, bins, opt)
}
