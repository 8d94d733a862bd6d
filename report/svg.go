package report

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"

	"github.com/crosscheck/crosscheck/textwidth"
)

// Bar is one bar of a chart.
type Bar struct {
	Label string
	Value float64
	// Text is shown after the bar; the value itself when empty.
	Text string
	// Color overrides the chart's colour (CSS colour).
	Color string
	// Sub is a second label line (column charts only).
	Sub string
}

// Charts are written by hand as SVG: no charting library in Go's module
// set renders offline SVG without a JavaScript runtime (go-echarts needs
// ECharts in the browser), and ranked bars need little.

const (
	chartWidth = 620
	rowHeight  = 24
	labelWidth = 170
	textWidth  = 130
	barColor   = "#3b6fb6"
)

// HBars draws ranked horizontal bars, one row per bar in the order given,
// scaled to the largest value. title is the SVG's accessible name.
func HBars(title string, bars []Bar) template.HTML {
	if len(bars) == 0 {
		return ""
	}
	maxV := 0.0
	for _, b := range bars {
		maxV = math.Max(maxV, b.Value)
	}
	h := len(bars)*rowHeight + 8
	var s strings.Builder
	fmt.Fprintf(&s, `<svg class="chart" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`,
		html.EscapeString(title), chartWidth, h, chartWidth, h)
	fmt.Fprintf(&s, `<title>%s</title>`, html.EscapeString(title))
	span := float64(chartWidth - labelWidth - textWidth)
	for i, b := range bars {
		y := 4 + i*rowHeight
		w := 0.0
		if maxV > 0 && b.Value > 0 {
			w = math.Max(1, b.Value/maxV*span)
		}
		c := b.Color
		if c == "" {
			c = barColor
		}
		text := b.Text
		if text == "" {
			text = trimFloat(b.Value)
		}
		fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="end" class="lbl">%s</text>`, labelWidth-6, y+16, html.EscapeString(clip(b.Label, 14)))
		fmt.Fprintf(&s, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: %s</title></rect>`,
			labelWidth, y+3, w, rowHeight-8, html.EscapeString(c), html.EscapeString(b.Label), html.EscapeString(text))
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" class="val">%s</text>`, float64(labelWidth)+w+6, y+16, html.EscapeString(text))
	}
	s.WriteString(`</svg>`)
	return template.HTML(s.String())
}

// Columns draws vertical bars in the order given (a trend over runs),
// with the label under each bar and its text above.
func Columns(title string, bars []Bar) template.HTML {
	if len(bars) == 0 {
		return ""
	}
	maxV := 0.0
	for _, b := range bars {
		maxV = math.Max(maxV, b.Value)
	}
	const h, top, bottom = 200, 24, 40
	colW := math.Min(90, float64(chartWidth-20)/float64(len(bars)))
	var s strings.Builder
	fmt.Fprintf(&s, `<svg class="chart" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`,
		html.EscapeString(title), chartWidth, h, chartWidth, h)
	fmt.Fprintf(&s, `<title>%s</title>`, html.EscapeString(title))
	fmt.Fprintf(&s, `<line x1="10" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, h-bottom, chartWidth-10, h-bottom)
	span := float64(h - top - bottom)
	for i, b := range bars {
		x := 10 + float64(i)*colW
		bh := 0.0
		if maxV > 0 && b.Value > 0 {
			bh = math.Max(1, b.Value/maxV*span)
		}
		c := b.Color
		if c == "" {
			c = barColor
		}
		text := b.Text
		if text == "" {
			text = trimFloat(b.Value)
		}
		fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`,
			x+colW*0.15, float64(h-bottom)-bh, colW*0.7, bh, html.EscapeString(c), html.EscapeString(b.Label), html.EscapeString(text))
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" text-anchor="middle" class="val">%s</text>`, x+colW/2, float64(h-bottom)-bh-5, html.EscapeString(text))
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" text-anchor="middle" class="lbl">%s</text>`, x+colW/2, h-bottom+16, html.EscapeString(clip(b.Label, 12)))
		if b.Sub != "" {
			fmt.Fprintf(&s, `<text x="%.1f" y="%d" text-anchor="middle" class="val">%s</text>`, x+colW/2, h-bottom+31, html.EscapeString(clip(b.Sub, 12)))
		}
	}
	s.WriteString(`</svg>`)
	return template.HTML(s.String())
}

// Segment is one part of a stacked bar.
type Segment struct {
	Label string
	Value float64
	Color string
}

// Stacked draws one horizontal bar split into segments in proportion,
// with a legend under it.
func Stacked(title string, segs []Segment) template.HTML {
	total := 0.0
	for _, g := range segs {
		total += math.Max(0, g.Value)
	}
	const h = 52
	var s strings.Builder
	fmt.Fprintf(&s, `<svg class="chart" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`,
		html.EscapeString(title), chartWidth, h, chartWidth, h)
	fmt.Fprintf(&s, `<title>%s</title>`, html.EscapeString(title))
	x, lx := 0.0, 0.0
	for _, g := range segs {
		if total > 0 && g.Value > 0 {
			w := g.Value / total * chartWidth
			fmt.Fprintf(&s, `<rect x="%.1f" y="2" width="%.1f" height="20" fill="%s"><title>%s: %s</title></rect>`,
				x, w, html.EscapeString(g.Color), html.EscapeString(g.Label), trimFloat(g.Value))
			x += w
		}
		legend := g.Label + " " + trimFloat(g.Value)
		fmt.Fprintf(&s, `<rect x="%.1f" y="32" width="10" height="10" fill="%s"/><text x="%.1f" y="42" class="lbl">%s</text>`,
			lx, html.EscapeString(g.Color), lx+14, html.EscapeString(legend))
		lx += 24 + float64(textwidth.Of(legend))*7
	}
	s.WriteString(`</svg>`)
	return template.HTML(s.String())
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// clip shortens a label to n characters with an ellipsis.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
