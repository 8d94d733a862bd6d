package linkage

import (
	"math"
	"math/rand/v2"
	"testing"
)

// oracleThreshold recomputes the choice by brute force over the pairs'
// own weights: for every distinct bin edge t, the links are the pairs with
// weight ≥ t, the expected true links the sum of their p.
func oracleThreshold(ws []float64, binsPerBit int, maxFalse, pMin, pMax float64) (float64, float64) {
	var all, edges []float64
	sumP := 0.0
	for _, w := range ws {
		sumP += Probability(w)
		all = append(all, w)
	}
	seen := map[float64]bool{}
	for _, w := range ws {
		e := math.Floor(w*float64(binsPerBit)) / float64(binsPerBit)
		if !seen[e] {
			seen[e] = true
			edges = append(edges, e)
		}
	}
	bestT, bestF1 := math.NaN(), -1.0
	below := func(e float64) float64 { // the upper edge of the highest bin below e
		u := math.Inf(-1)
		for _, x := range edges {
			if x < e {
				u = math.Max(u, x+1/float64(binsPerBit))
			}
		}
		return u
	}
	for _, e := range edges {
		p := Probability(e)
		if p < pMin || p > pMax {
			continue
		}
		links, tp := 0.0, 0.0
		for _, w := range all {
			if math.Floor(w*float64(binsPerBit))/float64(binsPerBit) >= e {
				links++
				tp += Probability(w)
			}
		}
		if 1-tp/links > maxFalse {
			continue
		}
		if f1 := 2 * tp / (links + sumP); f1 > bestF1 {
			bestT, bestF1 = math.Max(Weight(pMin), below(e)), f1
		}
	}
	return bestT, bestF1
}

func binsOf(ws []float64, binsPerBit int) []ThresholdBin {
	m := map[float64]*ThresholdBin{}
	for _, w := range ws {
		e := math.Floor(w*float64(binsPerBit)) / float64(binsPerBit)
		if m[e] == nil {
			m[e] = &ThresholdBin{Weight: e}
		}
		m[e].N++
		m[e].SumP += Probability(w)
	}
	var out []ThresholdBin
	for _, b := range m {
		out = append(out, *b)
	}
	return out
}

func TestChooseThreshold(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	// A mixture: clear matches, clear non-matches and a grey zone.
	var ws []float64
	for range 3000 {
		ws = append(ws, 10+rng.NormFloat64()*3)
	}
	for range 6000 {
		ws = append(ws, -8+rng.NormFloat64()*4)
	}
	for range 800 {
		ws = append(ws, rng.Float64()*8-2)
	}
	for _, maxFalse := range []float64{0.01, 0.002, 0.05} {
		ch := ChooseThresholdBins(binsOf(ws, 8), ThresholdOptions{MaxFalseShare: maxFalse})
		wantW, wantF1 := oracleThreshold(ws, 8, maxFalse, 0.5, 0.999)
		t.Logf("max false %g: p %.4f (weight %.3f) precision %.4f recall %.4f F1 %.4f; %s", maxFalse, ch.Probability, ch.Weight, ch.Precision, ch.Recall, ch.F1, ch.Rule)
		if ch.Weight != wantW || math.Abs(ch.F1-wantF1) > 1e-9 {
			t.Errorf("max false %g: weight %v F1 %v, brute force %v %v", maxFalse, ch.Weight, ch.F1, wantW, wantF1)
		}
		if 1-ch.Precision > maxFalse+1e-12 {
			t.Errorf("max false %g: expected false share %.4f", maxFalse, 1-ch.Precision)
		}
		if ch.Probability < 0.5 || ch.Probability > 0.999 {
			t.Errorf("probability %v outside [0.5, 0.999]", ch.Probability)
		}
	}
	// A stricter bound never lowers the threshold.
	loose := ChooseThresholdBins(binsOf(ws, 8), ThresholdOptions{MaxFalseShare: 0.05})
	strict := ChooseThresholdBins(binsOf(ws, 8), ThresholdOptions{MaxFalseShare: 0.001})
	if strict.Weight < loose.Weight {
		t.Errorf("stricter bound gave a lower threshold: %v < %v", strict.Weight, loose.Weight)
	}
	// A clean split (no pair between −3 and +8 bits): any threshold in the
	// gap links the same pairs; the lowest allowed is taken.
	var split []float64
	for range 500 {
		split = append(split, 8+rng.Float64()*6, -3-rng.Float64()*10)
	}
	if ch := ChooseThresholdBins(binsOf(split, 8), ThresholdOptions{}); ch.Probability != 0.5 || ch.Links != 500 {
		t.Errorf("clean split: p %v with %v links, want 0.5 and 500", ch.Probability, ch.Links)
	}
	// Only grey-zone pairs: no threshold keeps 1% false links; the upper bound.
	var grey []float64
	for range 100 {
		grey = append(grey, rng.Float64()*4-2)
	}
	if ch := ChooseThresholdBins(binsOf(grey, 8), ThresholdOptions{}); ch.Probability != 0.999 {
		t.Errorf("grey zone only: %v (%s), want the upper bound 0.999", ch.Probability, ch.Rule)
	}
}
