package report

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// widths returns the widths of the <rect> elements of an SVG.
func widths(t *testing.T, svg string) []float64 {
	t.Helper()
	var out []float64
	for _, m := range regexp.MustCompile(`<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"`).FindAllStringSubmatch(svg, -1) {
		f, _ := strconv.ParseFloat(m[1], 64)
		out = append(out, f)
	}
	return out
}

func wellFormed(t *testing.T, svg string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed XML: %v\n%s", err, svg)
			}
			return
		}
	}
}

func TestHBarsScaleAndEscape(t *testing.T) {
	svg := string(HBars("县区 <疑点>", []Bar{{Label: "杞县", Value: 10}, {Label: `a<b>&"c"`, Value: 5}, {Label: "零", Value: 0}}))
	wellFormed(t, svg)
	w := widths(t, svg)
	if len(w) != 3 || w[0] != float64(chartWidth-labelWidth-textWidth) || w[1] != w[0]/2 || w[2] != 0 {
		t.Errorf("bar widths %v", w)
	}
	if !strings.Contains(svg, "a&lt;b&gt;&amp;") || strings.Contains(svg, "<b>") {
		t.Errorf("label not escaped: %s", svg)
	}
	if !strings.Contains(svg, ">杞县<") {
		t.Errorf("label missing")
	}
	if HBars("x", nil) != "" {
		t.Errorf("empty chart drawn")
	}
}

func TestColumnsAndStacked(t *testing.T) {
	svg := string(Columns("trend", []Bar{{Label: "2024-04", Value: 20}, {Label: "2024-05", Value: 10, Sub: "05-31"}}))
	wellFormed(t, svg)
	if n := strings.Count(svg, "<rect"); n != 2 {
		t.Errorf("%d columns", n)
	}
	if !strings.Contains(svg, "05-31") {
		t.Errorf("no sub label")
	}
	st := string(Stacked("sev", []Segment{{"高", 3, "#c00"}, {"低", 1, "#999"}}))
	wellFormed(t, st)
	w := widths(t, st)
	// each segment (3:1 of the width) followed by its legend square
	if len(w) != 4 || w[0] != 3*w[2] || w[0]+w[2] != chartWidth || w[1] != 10 {
		t.Errorf("segments %v", w)
	}
}

func TestRenderBothLanguages(t *testing.T) {
	d := &Data{RunID: "r1", Job: "j", Periods: []string{"2024-05"}, Hits: 3, Payments: 2, Amount: 1234567.5, Screened: 10,
		ByCategory: []Group{{Key: "deceased", Label: "死亡后仍发放", LabelEN: "Paid after death", Hits: 3, Payments: 2, Amount: 1234567.5}},
		Trend:      []Point{{RunID: "r0", Hits: 1}, {RunID: "r1", Hits: 3}}}
	b, err := Render(d)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`<span lang="zh">死亡后仍发放</span><span lang="en">Paid after death</span>`, "1,234,567.50",
		`id="trend-zh"`, `id="trend-en"`, "Amount at risk by category", "按疑点类别的涉及金额"} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	d.Trend = d.Trend[1:]
	b, _ = Render(d)
	if strings.Contains(string(b), `id="trend-zh"`) {
		t.Errorf("trend shown for a single run")
	}
}

func TestTopGroups(t *testing.T) {
	var gs []Group
	for i := 0; i < 30; i++ {
		gs = append(gs, Group{Key: fmt.Sprint(i), Hits: int64(100 - i), Amount: 1})
	}
	got := top("zh", gs)
	if len(got) != maxBars || got[maxBars-1].Label != "其他 6 项" || got[maxBars-1].Hits != 76+75+74+73+72+71 || got[maxBars-1].Amount != 6 {
		t.Errorf("last bar %+v of %d", got[len(got)-1], len(got))
	}
	if len(top("zh", gs[:maxBars])) != maxBars {
		t.Errorf("cut below the limit")
	}
}
