package linkage

import (
	"context"
	"database/sql"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Bin is one bar of a histogram: values in [Lo, Hi).
type Bin struct {
	Lo, Hi float64
	Count  int64
}

// Histogram bins the values of column col of table (rows where it is not
// NULL) into bins of the given width, computed in the database.
func Histogram(ctx context.Context, db *sql.DB, table, col string, width float64) ([]Bin, error) {
	if width <= 0 {
		width = 1
	}
	q := fmt.Sprintf("SELECT floor(%s / %s)::BIGINT AS b, count(*) FROM %s WHERE %s IS NOT NULL AND isfinite(%s) GROUP BY 1 ORDER BY 1",
		Ident(col), lit(width), Ident(table), Ident(col), Ident(col))
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("linkage: histogram of %s.%s: %w", table, col, err)
	}
	defer rows.Close()
	var out []Bin
	for rows.Next() {
		var b, n int64
		if err := rows.Scan(&b, &n); err != nil {
			return nil, err
		}
		out = append(out, Bin{Lo: float64(b) * width, Hi: float64(b+1) * width, Count: n})
	}
	return out, rows.Err()
}

// HistogramOptions style WriteHistogramSVG.
type HistogramOptions struct {
	Title  string
	XLabel string // default "match weight (bits)"
	// Marks are vertical lines, e.g. the weight of the link threshold.
	Marks []Mark
	// LogY draws counts on a log scale (pairs of non-matches usually
	// outnumber matches by orders of magnitude).
	LogY          bool
	Width, Height int // default 720 × 360
}

// Mark is a labelled vertical line on a histogram.
type Mark struct {
	X     float64
	Label string
}

// WriteHistogramSVG writes bins as a self-contained SVG bar chart (Splink's
// match-weight distribution chart). Bars left of 0 bits (against a match)
// are drawn red, right of it blue.
func WriteHistogramSVG(w io.Writer, bins []Bin, opt HistogramOptions) error {
	W, H := opt.Width, opt.Height
	if W <= 0 {
		W = 720
	}
	if H <= 0 {
		H = 360
	}
	if opt.XLabel == "" {
		opt.XLabel = "match weight (bits)"
	}
	const ml, mr, mt, mb = 64, 20, 36, 48
	pw, ph := float64(W-ml-mr), float64(H-mt-mb)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", ml, html.EscapeString(opt.Title))
	if len(bins) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d">no values</text>`+"\n</svg>\n", ml, H/2)
		_, err := io.WriteString(w, b.String())
		return err
	}
	lo, hi := bins[0].Lo, bins[len(bins)-1].Hi
	for _, mk := range opt.Marks {
		lo, hi = math.Min(lo, mk.X), math.Max(hi, mk.X)
	}
	if hi <= lo {
		hi = lo + 1
	}
	var maxC int64
	for _, bn := range bins {
		maxC = max(maxC, bn.Count)
	}
	yv := func(c int64) float64 {
		if c <= 0 {
			return 0
		}
		if opt.LogY {
			return math.Log10(float64(c)+1) / math.Log10(float64(maxC)+1)
		}
		return float64(c) / float64(maxC)
	}
	xp := func(x float64) float64 { return float64(ml) + (x-lo)/(hi-lo)*pw }
	// axes
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", ml, mt+int(ph), W-mr, mt+int(ph))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", ml, mt, ml, mt+int(ph))
	for _, bn := range bins {
		x0, x1 := xp(bn.Lo), xp(bn.Hi)
		h := yv(bn.Count) * ph
		color := "#4c78a8"
		if bn.Hi <= 0 {
			color = "#e45756"
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>[%g, %g): %d</title></rect>`+"\n",
			x0, float64(mt)+ph-h, math.Max(x1-x0-0.5, 0.5), h, color, bn.Lo, bn.Hi, bn.Count)
	}
	// x ticks
	step := niceStep((hi - lo) / 8)
	for t := math.Ceil(lo/step) * step; t <= hi+1e-9; t += step {
		x := xp(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/><text x="%.1f" y="%.1f" text-anchor="middle">%g</text>`+"\n",
			x, float64(mt)+ph, x, float64(mt)+ph+4, x, float64(mt)+ph+16, math.Round(t*100)/100)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", float64(ml)+pw/2, H-10, html.EscapeString(opt.XLabel))
	// y ticks: 0, max (and a middle one)
	ylabel := "pairs"
	if opt.LogY {
		ylabel = "pairs (log scale)"
	}
	for _, c := range []int64{maxC, middle(maxC, opt.LogY)} {
		y := float64(mt) + ph - yv(c)*ph
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/><text x="%d" y="%.1f" text-anchor="end">%d</text>`+"\n",
			ml-4, y, ml, y, ml-6, y+4, c)
	}
	fmt.Fprintf(&b, `<text transform="translate(14,%.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", float64(mt)+ph/2, ylabel)
	for _, mk := range opt.Marks {
		x := xp(mk.X)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#333" stroke-dasharray="4 3"/><text x="%.1f" y="%d" font-size="10">%s</text>`+"\n",
			x, mt, x, float64(mt)+ph, x+3, mt+10, html.EscapeString(mk.Label))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func middle(maxC int64, logY bool) int64 {
	if logY {
		return int64(math.Round(math.Sqrt(float64(maxC))))
	}
	return maxC / 2
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, f := range []float64{1, 2, 5, 10} {
		if raw <= f*p {
			return f * p
		}
	}
	return 10 * p
}
