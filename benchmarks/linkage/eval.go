// Package linkbench evaluates the Fellegi-Sunter model of
// identity/linkage on public benchmark data (FEBRL 3 and 4, Splink's
// fake_1000) and its speed on a synthetic deduplication of a million
// Chinese person records. Training is unsupervised: the labels are read
// only to score the result. See README.md for the command and the figures.
package linkbench

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/crosscheck/crosscheck/identity/linkage"
)

// DefaultThreshold is the match probability at which pairs are declared
// matches in the reported figures. It is fixed in advance, not tuned on
// the labels.
const DefaultThreshold = 0.9

// DataDir is where the benchmark data live: $CROSSCHECK_LINKAGE_DATA, or
// ../shared/data/linkage relative to the repository root (the directory
// holding go.mod, searched upwards from the working directory).
func DataDir() string {
	if d := os.Getenv("CROSSCHECK_LINKAGE_DATA"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(), "..", "shared", "data", "linkage")
}

// NamesDir is where the Chinese name frequency tables live:
// $CROSSCHECK_NAMES_DATA or ../shared/data/chinese_names from the
// repository root.
func NamesDir() string {
	if d := os.Getenv("CROSSCHECK_NAMES_DATA"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(), "..", "shared", "data", "chinese_names")
}

func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// Point is one threshold of a precision-recall curve.
type Point struct {
	Weight      float64 // match-weight threshold (pairs with weight ≥ it are matches)
	Probability float64 // the same threshold as a probability
	Predicted   int64
	TP          int64
	Precision   float64
	Recall      float64
	F1          float64
}

// Result is the evaluation of one benchmark.
type Result struct {
	Name      string
	Scored    string // the scored pairs table
	Dedupe    bool
	Records   int64
	Pairs     int64 // candidate pairs scored
	TruePairs int64 // all true matching pairs (found by blocking or not)
	Blocked   int64 // true pairs among the candidates (recall ceiling)
	Threshold float64
	At        Point // figures at Threshold
	// Auto is the threshold the model's own estimates choose
	// (linkage.ChooseThreshold: highest estimated F1 with ≤ 1% expected
	// false links), with the figures there; no labels are used to choose.
	AutoChoice linkage.ThresholdChoice
	Auto       Point
	// AutoBounds are the automatic thresholds under other bounds on the
	// expected share of false links (AutoMaxFalse), for comparison.
	AutoBounds []AutoPoint
	Best       Point   // best F1 over the curve (uses the labels: an oracle, for reference only)
	Curve      []Point // ascending weight thresholds
	// Clustered is the pairwise evaluation after clustering the pairs at
	// the threshold into connected components (deduplication only).
	Clustered *Point
	Seconds   float64
	// DedupeSeconds is the linkage work alone (for the synthetic run:
	// pinyin keys to clusters, without generating and evaluating).
	DedupeSeconds float64
	PeakRSSMiB    float64
	Report        *linkage.Report
	Model         *linkage.Model
	Notes         []string
}

// AutoPoint is an automatic threshold under one bound and its figures.
type AutoPoint struct {
	MaxFalse float64
	Choice   linkage.ThresholdChoice
	At       Point
}

// AutoMaxFalse are the bounds on the expected share of false links under
// which Evaluate also reports the automatic threshold.
var AutoMaxFalse = []float64{0.005, 0.002, 0.001}

// Evaluate scores the pairs table (id_l, id_r, match_weight) against the
// truth: entity columns of the left and right tables (id → entity). gate,
// when not empty, is an SQL condition over the pairs table that a pair
// must also meet to count as a predicted match. The curve has one point
// per quarter bit of match weight.
func Evaluate(ctx context.Context, db *sql.DB, pairs, truthL, truthR string, dedupe bool, gate string, threshold float64) (*Result, error) {
	res := &Result{Threshold: threshold}
	var err error
	if dedupe {
		err = db.QueryRowContext(ctx, fmt.Sprintf("SELECT coalesce(sum(n * (n - 1) / 2), 0)::BIGINT FROM (SELECT entity, count(*) AS n FROM %s GROUP BY entity)", truthL)).Scan(&res.TruePairs)
	} else {
		err = db.QueryRowContext(ctx, fmt.Sprintf(`SELECT coalesce(sum(a.n * b.n), 0)::BIGINT FROM (SELECT entity, count(*) AS n FROM %s GROUP BY entity) a
			JOIN (SELECT entity, count(*) AS n FROM %s GROUP BY entity) b USING (entity)`, truthL, truthR)).Scan(&res.TruePairs)
	}
	if err != nil {
		return nil, err
	}
	g := "true"
	if gate != "" {
		g = gate
	}
	// Pairs binned by weight (1/4 bit), with their true matches.
	q := fmt.Sprintf(`SELECT CASE WHEN %s THEN floor(s.match_weight * 4) / 4 ELSE -1e9 END AS b, count(*), count(*) FILTER (WHERE tl.entity = tr.entity)
		FROM %s s JOIN %s tl ON tl.id = s.id_l JOIN %s tr ON tr.id = s.id_r GROUP BY 1 ORDER BY 1 DESC`, g, pairs, truthL, truthR)
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, q)
	}
	type bin struct {
		w     float64
		n, tp int64
	}
	var bins []bin
	for rows.Next() {
		var b bin
		if err := rows.Scan(&b.w, &b.n, &b.tp); err != nil {
			rows.Close()
			return nil, err
		}
		bins = append(bins, b)
		res.Pairs += b.n
		res.Blocked += b.tp
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var n, tp int64
	for _, b := range bins {
		if b.w < -1e8 {
			continue
		}
		n += b.n
		tp += b.tp
		res.Curve = append(res.Curve, point(b.w, n, tp, res.TruePairs))
	}
	sort.Slice(res.Curve, func(i, j int) bool { return res.Curve[i].Weight < res.Curve[j].Weight })
	tw := linkage.Weight(threshold)
	// Exact figures at the threshold (bins are 1/4 bit wide).
	if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE tl.entity = tr.entity)
		FROM %s s JOIN %s tl ON tl.id = s.id_l JOIN %s tr ON tr.id = s.id_r WHERE (%s) AND s.match_weight >= %v`,
		pairs, truthL, truthR, g, tw)).Scan(&n, &tp); err != nil {
		return nil, err
	}
	res.At = point(tw, n, tp, res.TruePairs)
	// The threshold from the model's estimates, and the true figures there.
	if res.AutoChoice, err = linkage.ChooseThreshold(ctx, db, pairs, g, linkage.ThresholdOptions{}); err != nil {
		return nil, err
	}
	if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE tl.entity = tr.entity)
		FROM %s s JOIN %s tl ON tl.id = s.id_l JOIN %s tr ON tr.id = s.id_r WHERE (%s) AND s.match_weight >= %v`,
		pairs, truthL, truthR, g, res.AutoChoice.Weight)).Scan(&n, &tp); err != nil {
		return nil, err
	}
	res.Auto = point(res.AutoChoice.Weight, n, tp, res.TruePairs)
	for _, mf := range AutoMaxFalse {
		ch, err := linkage.ChooseThreshold(ctx, db, pairs, g, linkage.ThresholdOptions{MaxFalseShare: mf})
		if err != nil {
			return nil, err
		}
		if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE tl.entity = tr.entity)
		FROM %s s JOIN %s tl ON tl.id = s.id_l JOIN %s tr ON tr.id = s.id_r WHERE (%s) AND s.match_weight >= %v`,
			pairs, truthL, truthR, g, ch.Weight)).Scan(&n, &tp); err != nil {
			return nil, err
		}
		res.AutoBounds = append(res.AutoBounds, AutoPoint{MaxFalse: mf, Choice: ch, At: point(ch.Weight, n, tp, res.TruePairs)})
	}
	for _, p := range res.Curve {
		if p.F1 > res.Best.F1 {
			res.Best = p
		}
	}
	return res, nil
}

// EvaluateClusters clusters the pairs at the threshold (connected
// components, see linkage.Cluster) and scores every pair within a cluster
// as a predicted match.
func EvaluateClusters(ctx context.Context, db *sql.DB, res *Result, pairs, truth, gate string) error {
	tw := linkage.Weight(res.Threshold)
	cl, err := linkage.Cluster(ctx, db, pairs, tw, gate)
	if err != nil {
		return err
	}
	cond := fmt.Sprintf("match_weight >= %v", tw)
	if gate != "" {
		cond += " AND (" + gate + ")"
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT id, entity FROM %s WHERE id IN (
		SELECT id_l FROM %s WHERE %s UNION SELECT id_r FROM %s WHERE %s)`, truth, pairs, cond, pairs, cond))
	if err != nil {
		return err
	}
	defer rows.Close()
	size := map[int64]int64{}
	both := map[[2]int64]int64{}
	for rows.Next() {
		var id, e int64
		if err := rows.Scan(&id, &e); err != nil {
			return err
		}
		c := cl[id]
		size[c]++
		both[[2]int64{c, e}]++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var n, tp int64
	for _, k := range size {
		n += k * (k - 1) / 2
	}
	for _, k := range both {
		tp += k * (k - 1) / 2
	}
	p := point(tw, n, tp, res.TruePairs)
	res.Clustered = &p
	return nil
}

func point(w float64, n, tp, truth int64) Point {
	p := Point{Weight: w, Probability: linkage.Probability(w), Predicted: n, TP: tp}
	if n > 0 {
		p.Precision = float64(tp) / float64(n)
	}
	if truth > 0 {
		p.Recall = float64(tp) / float64(truth)
	}
	if p.Precision+p.Recall > 0 {
		p.F1 = 2 * p.Precision * p.Recall / (p.Precision + p.Recall)
	}
	return p
}

// WriteCurveCSV writes the precision-recall curve: threshold (match
// weight and probability), predicted pairs, true positives, precision,
// recall, F1.
func WriteCurveCSV(w io.Writer, curve []Point) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"threshold_weight", "threshold_probability", "predicted", "true_positives", "precision", "recall", "f1"})
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	for _, p := range curve {
		cw.Write([]string{f(p.Weight), f(p.Probability), fmt.Sprint(p.Predicted), fmt.Sprint(p.TP), f(p.Precision), f(p.Recall), f(p.F1)})
	}
	cw.Flush()
	return cw.Error()
}

// String renders the result as a few report lines.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d records, %d candidate pairs, %d true pairs (%d among the candidates: blocking recall %.4f)\n",
		r.Name, r.Records, r.Pairs, r.TruePairs, r.Blocked, ratio(r.Blocked, r.TruePairs))
	fmt.Fprintf(&b, "  at p ≥ %g (weight ≥ %.2f): precision %.4f recall %.4f F1 %.4f (%d predicted, %d right)\n",
		r.Threshold, r.At.Weight, r.At.Precision, r.At.Recall, r.At.F1, r.At.Predicted, r.At.TP)
	if c := r.Clustered; c != nil {
		fmt.Fprintf(&b, "  clustered at that threshold (connected components): precision %.4f recall %.4f F1 %.4f (%d pairs in clusters)\n",
			c.Precision, c.Recall, c.F1, c.Predicted)
	}
	a, ac := r.Auto, r.AutoChoice
	fmt.Fprintf(&b, "  at the automatic threshold p ≥ %.4f (weight ≥ %.3f): precision %.4f recall %.4f F1 %.4f (%d predicted, %d right); the model expected precision %.4f recall %.4f F1 %.4f\n",
		ac.Probability, ac.Weight, a.Precision, a.Recall, a.F1, a.Predicted, a.TP, ac.Precision, ac.Recall, ac.F1)
	for _, ab := range r.AutoBounds {
		fmt.Fprintf(&b, "    with expected false links ≤ %g%%: p ≥ %.4f: precision %.4f recall %.4f F1 %.4f (expected precision %.4f)\n",
			100*ab.MaxFalse, ab.Choice.Probability, ab.At.Precision, ab.At.Recall, ab.At.F1, ab.Choice.Precision)
	}
	fmt.Fprintf(&b, "  best F1 over thresholds (oracle, for reference): %.4f at weight %.2f (p %.4f)\n", r.Best.F1, r.Best.Weight, r.Best.Probability)
	if r.Model != nil {
		fmt.Fprintf(&b, "  prior λ = %.3g", r.Model.Prior)
		if r.Report != nil {
			fmt.Fprintf(&b, ", %d u-sample pairs, %d EM sessions", r.Report.UPairs, len(r.Report.Sessions))
		}
		b.WriteString("\n")
		if r.Report != nil {
			b.WriteString(indentLines(r.Report.String(r.Model), "  "))
		}
	}
	fmt.Fprintf(&b, "  %.2f s", r.Seconds)
	if r.PeakRSSMiB > 0 {
		fmt.Fprintf(&b, ", peak RSS %.0f MiB", r.PeakRSSMiB)
	}
	b.WriteString("\n")
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	return b.String()
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// PeakRSSMiB reads VmHWM from /proc/self/status (0 where unavailable).
func PeakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

func indentLines(s, p string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = p + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}
