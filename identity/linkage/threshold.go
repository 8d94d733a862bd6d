package linkage

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
)

// ThresholdOptions tune ChooseThreshold.
type ThresholdOptions struct {
	// MaxFalseShare bounds the model's expected share of false links among
	// the links (1 − estimated precision). Default 0.01.
	MaxFalseShare float64
	// Min and Max bound the chosen probability (defaults 0.5 and 0.999).
	Min, Max float64
	// BinsPerBit is the resolution of the candidate thresholds in match
	// weight (default 8: every 1/8 bit).
	BinsPerBit int
}

func (o *ThresholdOptions) defaults() {
	if o.MaxFalseShare <= 0 {
		o.MaxFalseShare = 0.01
	}
	if o.Min <= 0 {
		o.Min = 0.5
	}
	if o.Max <= 0 || o.Max >= 1 {
		o.Max = 0.999
	}
	if o.BinsPerBit <= 0 {
		o.BinsPerBit = 8
	}
}

// ThresholdBin is a group of scored pairs with match weight in
// [Weight, Weight + 1/BinsPerBit): their number and the sum of their match
// probabilities (the model's expected number of matches among them).
type ThresholdBin struct {
	Weight float64
	N      float64
	SumP   float64
}

// ThresholdChoice is a match threshold chosen from the model's own
// estimates, with what the model expects of it. The estimates are as good
// as the model's calibration: they use no labels.
type ThresholdChoice struct {
	Probability float64 `json:"probability"` // pairs with p ≥ it are links
	Weight      float64 `json:"weight"`      // the same as a match weight
	Rule        string  `json:"rule"`        // how it was chosen
	// Pairs is the number of pairs considered; ExpectedMatches the sum of
	// their probabilities.
	Pairs           float64 `json:"pairs"`
	ExpectedMatches float64 `json:"expected_matches"`
	// Links is the number of pairs at or above the threshold,
	// ExpectedFalse the sum of 1 − p over them.
	Links         float64 `json:"links"`
	ExpectedFalse float64 `json:"expected_false"`
	// Estimated precision (1 − ExpectedFalse/Links), recall (expected
	// true links over ExpectedMatches) and F1.
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

// ChooseThresholdBins picks the probability threshold that maximises the
// model's estimated F1 among the thresholds whose expected share of false
// links is at most opt.MaxFalseShare, within [opt.Min, opt.Max]. A pair's
// match probability p is the model's estimate that it is a match, so
// above a threshold t the expected true links are Σ p and the expected
// false links Σ (1 − p); the expected matches missed are Σ p below t.
// The candidate thresholds are the bins' lower edges; between the chosen
// edge and the next pair below it, the lowest value is taken. When no
// threshold meets the bound, opt.Max is chosen.
func ChooseThresholdBins(bins []ThresholdBin, opt ThresholdOptions) ThresholdChoice {
	opt.defaults()
	sort.Slice(bins, func(i, j int) bool { return bins[i].Weight > bins[j].Weight })
	ch := ThresholdChoice{}
	for _, b := range bins {
		ch.Pairs += b.N
		ch.ExpectedMatches += b.SumP
	}
	best, bestNext := ThresholdChoice{F1: -1}, math.Inf(-1)
	links, tp := 0.0, 0.0
	wMin, wMax := Weight(opt.Min), Weight(opt.Max)
	for i, b := range bins {
		links += b.N
		tp += b.SumP
		if i+1 < len(bins) && bins[i+1].Weight >= b.Weight {
			continue // equal edges: wait for the last
		}
		if b.Weight > wMax || b.Weight < wMin {
			continue
		}
		c := ch
		c.Weight, c.Probability = b.Weight, Probability(b.Weight)
		c.Links, c.ExpectedFalse = links, links-tp
		c.Precision = tp / links
		if ch.ExpectedMatches > 0 {
			c.Recall = tp / ch.ExpectedMatches
		}
		c.F1 = 2 * tp / (links + ch.ExpectedMatches)
		if 1-c.Precision > opt.MaxFalseShare {
			continue
		}
		if c.F1 > best.F1 {
			best, bestNext = c, math.Inf(-1)
			if i+1 < len(bins) {
				bestNext = bins[i+1].Weight
			}
		}
	}
	if best.F1 < 0 {
		c := ch
		c.Weight, c.Probability = wMax, opt.Max
		c.Rule = fmt.Sprintf("no threshold in [%g, %g] keeps the expected false links ≤ %g%%: the upper bound", opt.Min, opt.Max, 100*opt.MaxFalseShare)
		for _, b := range bins {
			if b.Weight >= wMax {
				c.Links += b.N
				c.ExpectedFalse += b.N - b.SumP
			}
		}
		if c.Links > 0 {
			c.Precision = 1 - c.ExpectedFalse/c.Links
		}
		if ch.ExpectedMatches > 0 {
			tp := c.Links - c.ExpectedFalse
			c.Recall = tp / ch.ExpectedMatches
			c.F1 = 2 * tp / (c.Links + ch.ExpectedMatches)
		}
		return c
	}
	// No pair lies between the chosen edge and the next bin below: any
	// threshold in that gap links the same pairs. Take the lowest (not
	// below opt.Min), which is what the estimates argue for a new pair
	// falling in the gap: linking a pair of probability p raises the
	// estimated F1 when p exceeds about F1/2.
	best.Weight = math.Max(wMin, math.Min(best.Weight, bestNext+1/float64(opt.BinsPerBit)))
	best.Probability = Probability(best.Weight)
	best.Rule = fmt.Sprintf("highest estimated F1 with expected false links ≤ %g%%, p in [%g, %g]", 100*opt.MaxFalseShare, opt.Min, opt.Max)
	return best
}

// ChooseThreshold reads the scored pairs of table (match_weight,
// match_probability) that satisfy where (an SQL condition; "" for all),
// bins them and calls ChooseThresholdBins.
func ChooseThreshold(ctx context.Context, db *sql.DB, table, where string, opt ThresholdOptions) (ThresholdChoice, error) {
	opt.defaults()
	if where == "" {
		where = "true"
	}
	q := fmt.Sprintf(`SELECT floor(match_weight * %d) / %d AS w, count(*)::DOUBLE, sum(match_probability)
		FROM %s WHERE match_weight IS NOT NULL AND (%s) GROUP BY 1`, opt.BinsPerBit, opt.BinsPerBit, Ident(table), where)
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return ThresholdChoice{}, fmt.Errorf("linkage: threshold: %w", err)
	}
	defer rows.Close()
	var bins []ThresholdBin
	for rows.Next() {
		var b ThresholdBin
		if err := rows.Scan(&b.Weight, &b.N, &b.SumP); err != nil {
			return ThresholdChoice{}, err
		}
		if math.IsInf(b.Weight, 0) || math.IsNaN(b.Weight) {
			continue
		}
		bins = append(bins, b)
	}
	if err := rows.Err(); err != nil {
		return ThresholdChoice{}, err
	}
	return ChooseThresholdBins(bins, opt), nil
}
