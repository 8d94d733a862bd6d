package linkage

import (
	"bytes"
	"encoding/xml"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func testModel() *Model {
	return &Model{
		Comparisons: []Comparison{
			JaroWinklerAtThresholds("name", "name", true, 0.9),
			DateComparison("dob", "dob", 0),
			ExactMatch("city", "city", false),
		},
		Blocking: []string{"l.name = r.name", "l.dob = r.dob AND l.city = r.city"},
		Prior:    0.01,
	}
}

func TestValidate(t *testing.T) {
	if err := testModel().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []func(m *Model){
		func(m *Model) { m.Comparisons = nil },
		func(m *Model) { m.Blocking = nil },
		func(m *Model) { m.Comparisons[0].Name = "Bad Name" },
		func(m *Model) { m.Comparisons[1].Name = "name" },
		func(m *Model) { m.Comparisons[0].Levels[1].When = "" },
		func(m *Model) { m.Comparisons[2].Levels[1].M = 0 },
		func(m *Model) { m.Prior = 1 },
	}
	for i, f := range bad {
		m := testModel()
		f(m)
		if err := m.Validate(); !errors.Is(err, ErrInvalidModel) {
			t.Errorf("case %d: Validate = %v, want ErrInvalidModel", i, err)
		}
	}
}

func TestColumnsAndExclusion(t *testing.T) {
	m := testModel()
	if got := strings.Join(m.InputColumns(), ","); got != "city,dob,name" {
		t.Errorf("InputColumns = %s", got)
	}
	if ex := m.excluded(0); !ex[0] || ex[1] || ex[2] {
		t.Errorf("rule 0 excludes %v, want only name", ex)
	}
	if ex := m.excluded(1); ex[0] || !ex[1] || !ex[2] {
		t.Errorf("rule 1 excludes %v, want dob and city", ex)
	}
}

func TestStartingValues(t *testing.T) {
	c := JaroWinklerAtThresholds("x", "x", false, 0.9, 0.8)
	sm, su := 0.0, 0.0
	prev := math.Inf(1)
	for _, l := range c.Levels {
		if l.Null {
			continue
		}
		sm += l.M
		su += l.U
		if w := l.Weight(); w >= prev {
			t.Errorf("weights do not fall: %s %.2f after %.2f", l.Label, w, prev)
		} else {
			prev = w
		}
	}
	if math.Abs(sm-1) > 1e-9 || math.Abs(su-1) > 1e-9 {
		t.Errorf("m sums to %g, u to %g", sm, su)
	}
}

// TestEM draws comparison vectors from known m, u and λ and checks that EM
// with u fixed finds m and λ again.
func TestEM(t *testing.T) {
	m := &Model{Blocking: []string{"true"}, Prior: 0.1, Comparisons: []Comparison{
		{Name: "a", Levels: []Level{{Label: "null", When: "x", Null: true}, {Label: "eq", When: "y", M: 0.5, U: 0.05}, {Label: "else", M: 0.5, U: 0.95}}},
		{Name: "b", Levels: []Level{{Label: "eq", When: "y", M: 0.5, U: 0.1}, {Label: "near", When: "z", M: 0.3, U: 0.2}, {Label: "else", M: 0.2, U: 0.7}}},
		{Name: "c", Levels: []Level{{Label: "eq", When: "y", M: 0.5, U: 0.02}, {Label: "else", M: 0.5, U: 0.98}}},
	}}
	trueM := [][]float64{{0, 0.9, 0.1}, {0.8, 0.15, 0.05}, {0.95, 0.05}}
	trueU := [][]float64{{0, 0.05, 0.95}, {0.1, 0.2, 0.7}, {0.02, 0.98}}
	const lambda = 0.2
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[[3]int8]float64{}
	draw := func(p []float64) int8 {
		x := rng.Float64()
		for i, v := range p {
			if x < v {
				return int8(i)
			}
			x -= v
		}
		return int8(len(p) - 1)
	}
	for range 200000 {
		var g [3]int8
		match := rng.Float64() < lambda
		for k := range 3 {
			if match {
				g[k] = draw(trueM[k])
			} else {
				g[k] = draw(trueU[k])
			}
		}
		if rng.Float64() < 0.1 {
			g[0] = 0 // missing
		}
		counts[g]++
	}
	var pats []pattern
	for g, n := range counts {
		pats = append(pats, pattern{mask: 1, g: g[:], n: n})
	}
	for k := range m.Comparisons {
		for j := range m.Comparisons[k].Levels {
			if !m.Comparisons[k].Levels[j].Null {
				m.Comparisons[k].Levels[j].U = trueU[k][j]
			}
		}
	}
	sessions := m.estimateM(pats, TrainOptions{MaxIter: 500, Tol: 1e-9, MinSessionPairs: 1})
	if len(sessions) != 1 || math.Abs(sessions[0].Lambda-lambda) > 0.01 {
		t.Fatalf("sessions %+v, want λ ≈ %g", sessions, lambda)
	}
	for k, c := range m.Comparisons {
		for j, l := range c.Levels {
			if !l.Null && math.Abs(l.M-trueM[k][j]) > 0.02 {
				t.Errorf("%s %s: m %.3f, want %.3f", c.Name, l.Label, l.M, trueM[k][j])
			}
		}
	}
	share, expected := m.estimatePrior(pats, 1e6, TrainOptions{MaxIter: 500, Tol: 1e-9})
	if math.Abs(share-lambda) > 0.01 || math.Abs(m.Prior-expected/1e6) > 1e-12 {
		t.Errorf("prior: share %.3f expected %.0f prior %g", share, expected, m.Prior)
	}
}

func TestExplainSums(t *testing.T) {
	m := testModel()
	parts, err := m.Explain([]int{1, 1, 2}, map[string]float64{"name": 0.001})
	if err != nil {
		t.Fatal(err)
	}
	want := m.PriorWeight() + m.Comparisons[0].Levels[1].Weight() + math.Log2(m.Comparisons[0].Levels[1].U/0.001) +
		m.Comparisons[1].Levels[1].Weight() + m.Comparisons[2].Levels[2].Weight()
	got := 0.0
	for _, p := range parts {
		got += p.Weight
	}
	if math.Abs(got-want) > 1e-9 || len(parts) != 5 {
		t.Errorf("parts %+v sum to %g, want %g", parts, got, want)
	}
	s := FormatParts(parts)
	if !strings.Contains(s, "name tf") || !strings.Contains(s, "match probability") {
		t.Errorf("FormatParts:\n%s", s)
	}
	if _, err := m.Explain([]int{1}, nil); err == nil {
		t.Error("Explain with too few levels: no error")
	}
	if p := Probability(Weight(0.9)); math.Abs(p-0.9) > 1e-12 {
		t.Errorf("Probability(Weight(0.9)) = %g", p)
	}
}

func TestHistogramSVG(t *testing.T) {
	var b bytes.Buffer
	bins := []Bin{{-3, -2, 100}, {-2, -1, 50}, {5, 6, 7}}
	if err := WriteHistogramSVG(&b, bins, HistogramOptions{Title: "t <&>", LogY: true, Marks: []Mark{{X: 3, Label: "p = 0.9"}}}); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&b)
	for {
		if _, err := d.Token(); err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("SVG is not well-formed: %v", err)
			}
			break
		}
	}
}
