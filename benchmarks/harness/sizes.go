package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/crosscheck/crosscheck/engine"
)

// SizeRun is one province size of a sizes run.
type SizeRun struct {
	Persons  int             `json:"persons"`
	Payments int64           `json:"payments"`
	Rows     int64           `json:"rows_read"`
	Seconds  float64         `json:"seconds"`
	Stages   []engine.Timing `json:"stages"`
	PeakRSS  int64           `json:"peak_rss_bytes"`
	Spill    int64           `json:"spill_bytes"`
	Hits     int64           `json:"hits"`
	// Precision and Recall over every category with an engine rule.
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	// Load is the machine's 1-minute load average before and after.
	Load [2]float64 `json:"load_average"`
}

// SecondsPerM is seconds per million payments.
func (s SizeRun) SecondsPerM(sec float64) float64 {
	if s.Payments == 0 {
		return 0
	}
	return sec / (float64(s.Payments) / 1e6)
}

// Stage returns the seconds of a stage (0 when it did not run).
func (s SizeRun) Stage(name string) float64 {
	for _, t := range s.Stages {
		if t.Stage == name {
			return t.Seconds
		}
	}
	return 0
}

// Sizes is sizes.json: the same benchmark at several province sizes, one
// after the other in one process, for the cost per payment across sizes.
type Sizes struct {
	Started time.Time `json:"started"`
	Seed    uint64    `json:"seed"`
	Dir     string    `json:"dir"`
	Runs    []SizeRun `json:"runs"`
}

// Stages in run order (engine.Run: the store refresh, then the screening
// of the rolls).
var stageOrder = []string{"check", "load", "identity", "store", "load_rolls", "rules", "cases", "write"}

// loadAverage reads the 1-minute load average (0 when unknown).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// RunSizes runs the benchmark (Run) for each number of persons in sizes,
// the province of each in o.Dir/N (reused with o.Reuse), and writes
// o.Dir/sizes.json, sizes.md and sizes.svg (time per stage per size).
// Per-stage profiles go to o.ProfileDir/N when o.ProfileDir is set.
func RunSizes(ctx context.Context, o Options, sizes []int) (*Sizes, error) {
	if len(sizes) == 0 {
		return nil, fmt.Errorf("no sizes")
	}
	out := &Sizes{Started: time.Now().UTC(), Seed: o.Seed, Dir: o.Dir}
	for _, n := range sizes {
		if n <= 0 {
			return nil, fmt.Errorf("size %d: the number of persons must be positive", n)
		}
		so := o
		so.Persons = n
		so.Dir = filepath.Join(o.Dir, strconv.Itoa(n))
		if o.ProfileDir != "" {
			so.ProfileDir = filepath.Join(o.ProfileDir, strconv.Itoa(n))
		}
		o.logf("size %d persons", n)
		l0 := loadAverage()
		rep, err := Run(ctx, so)
		if err != nil {
			return nil, fmt.Errorf("%d persons: %w", n, err)
		}
		out.Runs = append(out.Runs, SizeRun{
			Persons: n, Payments: rep.Generation.Payments, Rows: rep.Crosscheck.RowsRead,
			Seconds: rep.Crosscheck.Seconds, Stages: rep.Crosscheck.Timings, PeakRSS: rep.Crosscheck.PeakRSS,
			Spill: rep.Crosscheck.SpillBytes, Hits: rep.Crosscheck.Hits,
			Precision: rep.Accuracy.Overall.Precision, Recall: rep.Accuracy.Overall.Recall,
			Load: [2]float64{l0, loadAverage()},
		})
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	if err := os.WriteFile(filepath.Join(o.Dir, "sizes.json"), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "sizes.md"), []byte(out.Markdown()), 0o644); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(o.Dir, "sizes.svg"))
	if err != nil {
		return nil, err
	}
	if err := out.WriteSVG(f); err != nil {
		f.Close()
		return nil, err
	}
	return out, f.Close()
}

// Spread is the largest deviation of a size's seconds per million
// payments (whole run) from their mean, as a fraction of the mean: the
// linearity target asks for at most 0.25.
func (s *Sizes) Spread() float64 {
	var sum float64
	var n int
	for _, r := range s.Runs {
		if v := r.SecondsPerM(r.Seconds); v > 0 {
			sum += v
			n++
		}
	}
	if n == 0 {
		return 0
	}
	mean := sum / float64(n)
	var d float64
	for _, r := range s.Runs {
		if v := r.SecondsPerM(r.Seconds); v > 0 {
			d = math.Max(d, math.Abs(v-mean)/mean)
		}
	}
	return d
}

// Markdown renders sizes.md: per size and stage the seconds and the
// seconds per million payments, peak RSS and the load average.
func (s *Sizes) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# crosscheck at several sizes\n\nSeed %d, data in `%s`, started %s UTC. ", s.Seed, s.Dir, s.Started.Format("2006-01-02 15:04"))
	b.WriteString("Each cell: seconds (seconds per million payments).\n\n")
	b.WriteString("| persons | payments |")
	for _, st := range stageOrder {
		b.WriteString(" " + st + " |")
	}
	b.WriteString(" total | peak RSS | P / R | load avg |\n|---:|---:|")
	for range stageOrder {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|---:|---:|\n")
	for _, r := range s.Runs {
		fmt.Fprintf(&b, "| %s | %s |", thousands(int64(r.Persons)), thousands(r.Payments))
		for _, st := range stageOrder {
			v := r.Stage(st)
			fmt.Fprintf(&b, " %.1f (%.1f) |", v, r.SecondsPerM(v))
		}
		fmt.Fprintf(&b, " **%.1f (%.1f)** | %s MiB | %.3f / %.3f | %.1f–%.1f |\n", r.Seconds, r.SecondsPerM(r.Seconds),
			mib(r.PeakRSS), r.Precision, r.Recall, r.Load[0], r.Load[1])
	}
	if len(s.Runs) > 1 {
		fmt.Fprintf(&b, "\nSeconds per million payments (whole run) deviate from their mean by at most **%.0f%%** across the sizes (target ±25%%).\n",
			100*s.Spread())
	}
	return b.String()
}

// thousands writes n with comma separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// stageColors are the bar colours of the stages (stageOrder).
var stageColors = []string{"#bab0ac", "#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#b279a2", "#9d755d"}

// sizeLabel writes 1000000 as 1M, 200000 as 200k.
func sizeLabel(n int) string {
	switch {
	case n >= 1e6 && n%1e5 == 0:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + "M"
	case n >= 1e3 && n%100 == 0:
		return strconv.FormatFloat(float64(n)/1e3, 'f', -1, 64) + "k"
	}
	return strconv.Itoa(n)
}

// WriteSVG draws two panels of stacked bars, one bar per size: the seconds
// of each stage, and the same per million payments (flat bars when the
// cost grows linearly). Plain self-contained SVG, no script.
func (s *Sizes) WriteSVG(w io.Writer) error {
	const W, H = 860, 400
	const ml, mr, mt, mb, gap = 60, 20, 56, 52, 70
	pw := (float64(W-ml-mr) - gap) / 2
	ph := float64(H - mt - mb)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", ml,
		html.EscapeString(fmt.Sprintf("crosscheck time per stage (seed %d, %s UTC)", s.Seed, s.Started.Format("2006-01-02 15:04"))))
	// legend
	for i, st := range stageOrder {
		x := ml + i*110
		fmt.Fprintf(&b, `<rect x="%d" y="30" width="12" height="12" fill="%s"/><text x="%d" y="40">%s</text>`+"\n", x, stageColors[i], x+16, st)
	}
	panel := func(x0 float64, title string, val func(SizeRun, float64) float64) {
		var maxV float64
		for _, r := range s.Runs {
			maxV = math.Max(maxV, val(r, r.Seconds))
		}
		if maxV <= 0 {
			maxV = 1
		}
		step := niceStep(maxV / 5)
		top := math.Ceil(maxV/step) * step
		yp := func(v float64) float64 { return float64(mt) + ph - v/top*ph }
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x0, float64(mt)+ph, x0+pw, float64(mt)+ph)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x0, mt, x0, float64(mt)+ph)
		for t := 0.0; t <= top+1e-9; t += step {
			y := yp(t)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="end">%g</text>`+"\n",
				x0, y, x0+pw, y, x0-4, y+4, math.Round(t*100)/100)
		}
		fmt.Fprintf(&b, `<text transform="translate(%.1f,%.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n",
			x0-42, float64(mt)+ph/2, html.EscapeString(title))
		n := float64(max(len(s.Runs), 1))
		slot := pw / n
		bw := math.Min(slot*0.6, 80)
		for i, r := range s.Runs {
			x := x0 + slot*float64(i) + (slot-bw)/2
			acc := 0.0
			for k, st := range stageOrder {
				v := val(r, r.Stage(st))
				if v <= 0 {
					continue
				}
				y1, y0 := yp(acc+v), yp(acc)
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s: %.1f</title></rect>`+"\n",
					x, y1, bw, math.Max(y0-y1, 0.5), stageColors[k], sizeLabel(r.Persons), st, v)
				acc += v
			}
			tot := val(r, r.Seconds)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.1f</text>`+"\n", x+bw/2, yp(tot)-4, tot)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x+bw/2, float64(mt)+ph+16, sizeLabel(r.Persons))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">persons</text>`+"\n", x0+pw/2, H-14)
	}
	panel(float64(ml), "seconds", func(_ SizeRun, v float64) float64 { return v })
	panel(float64(ml)+pw+gap, "seconds per million payments", func(r SizeRun, v float64) float64 { return r.SecondsPerM(v) })
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceStep rounds a step up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}
