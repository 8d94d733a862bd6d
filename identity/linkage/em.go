package linkage

import (
	"context"
	"database/sql"
	"fmt"
	"math"
)

// TrainOptions tune Train, EstimateM and EstimatePrior.
type TrainOptions struct {
	// MaxPairsU is the number of random pairs for the u estimates
	// (default 1,000,000).
	MaxPairsU int64
	// Seed makes the random sample reproducible.
	Seed int64
	// UExclude is an SQL condition over l and r for pairs known to match
	// (same valid ID number, say); they are left out of the u sample,
	// whose pairs are meant to be non-matches. Empty: none.
	UExclude string
	// MaxIter bounds each EM session (default 100); Tol is the largest
	// change of any m at which a session has converged (default 1e-5).
	MaxIter int
	Tol     float64
	// Sessions lists the blocking rules (indexes into Model.Blocking)
	// that are EM sessions; nil means all.
	Sessions []int
	// MinSessionPairs skips sessions with fewer pairs (default 50).
	MinSessionPairs float64
	// KeepPrior leaves Model.Prior as it is instead of estimating it.
	KeepPrior bool
}

func (o *TrainOptions) defaults() {
	if o.MaxPairsU <= 0 {
		o.MaxPairsU = 1_000_000
	}
	if o.MaxIter <= 0 {
		o.MaxIter = 100
	}
	if o.Tol <= 0 {
		o.Tol = 1e-5
	}
	if o.MinSessionPairs <= 0 {
		o.MinSessionPairs = 50
	}
}

// Session reports one EM session.
type Session struct {
	Rule       string   // the blocking rule
	Pairs      float64  // pairs satisfying it
	Estimated  []string // comparisons whose m it estimated
	Lambda     float64  // estimated share of matches among its pairs
	Iterations int
	Converged  bool
}

// Report summarises a training run.
type Report struct {
	UPairs   int64     // random pairs behind the u estimates
	Pairs    int64     // candidate pairs of the blocking rules
	Sessions []Session // EM sessions run
	// PriorPairs is the estimated share of matches among the candidate
	// pairs; Model.Prior is that share scaled to all possible pairs.
	PriorPairs float64
	// ExpectedMatches is the estimated number of matching pairs.
	ExpectedMatches float64
}

// Train estimates u from random pairs of in, writes the candidate pairs of
// in to the table pairs (see Pairs), estimates m by EM and the prior from
// them. The pairs table is left for Score.
func (m *Model) Train(ctx context.Context, db *sql.DB, in Input, pairs string, opt TrainOptions) (*Report, error) {
	opt.defaults()
	rep := &Report{}
	var err error
	if rep.UPairs, err = m.EstimateU(ctx, db, in, opt); err != nil {
		return nil, fmt.Errorf("estimate u: %w", err)
	}
	if rep.Pairs, err = m.Pairs(ctx, db, in, pairs); err != nil {
		return nil, fmt.Errorf("candidate pairs: %w", err)
	}
	pats, err := m.patterns(ctx, db, pairs)
	if err != nil {
		return nil, err
	}
	rep.Sessions = m.estimateM(pats, opt)
	if !opt.KeepPrior {
		total, err := TotalPairs(ctx, db, in)
		if err != nil {
			return nil, err
		}
		rep.PriorPairs, rep.ExpectedMatches = m.estimatePrior(pats, total, opt)
	}
	return rep, nil
}

// EstimateM estimates m probabilities by EM over the pairs table written
// by Pairs, one session per blocking rule, with u fixed. A session leaves
// out the comparisons that share a column with its rule; each m is the
// mean of the sessions that estimated it.
func (m *Model) EstimateM(ctx context.Context, db *sql.DB, pairs string, opt TrainOptions) ([]Session, error) {
	opt.defaults()
	pats, err := m.patterns(ctx, db, pairs)
	if err != nil {
		return nil, err
	}
	return m.estimateM(pats, opt), nil
}

// EstimatePrior estimates the prior by EM over the pairs table with m and u
// fixed: the expected number of matches among the candidate pairs divided
// by totalPairs (see TotalPairs). Matches that no blocking rule finds are
// not counted, so the prior is a slight underestimate when blocking misses
// some.
func (m *Model) EstimatePrior(ctx context.Context, db *sql.DB, pairs string, totalPairs float64, opt TrainOptions) error {
	opt.defaults()
	pats, err := m.patterns(ctx, db, pairs)
	if err != nil {
		return err
	}
	m.estimatePrior(pats, totalPairs, opt)
	return nil
}

func (m *Model) estimateM(pats []pattern, opt TrainOptions) []Session {
	rules := opt.Sessions
	if rules == nil {
		for i := range m.Blocking {
			rules = append(rules, i)
		}
	}
	k := len(m.Comparisons)
	sum := make([][]float64, k)
	n := make([]int, k)
	for i := range m.Comparisons {
		sum[i] = make([]float64, len(m.Comparisons[i].Levels))
	}
	var out []Session
	for _, r := range rules {
		if r < 0 || r >= len(m.Blocking) {
			continue
		}
		bit := uint32(1) << r
		var sel []pattern
		total := 0.0
		for _, p := range pats {
			if p.mask&bit != 0 {
				sel = append(sel, p)
				total += p.n
			}
		}
		s := Session{Rule: m.Blocking[r], Pairs: total}
		if total < opt.MinSessionPairs {
			out = append(out, s)
			continue
		}
		ex := m.excluded(r)
		active := make([]bool, k)
		for i := range active {
			active[i] = !ex[i]
			if active[i] {
				s.Estimated = append(s.Estimated, m.Comparisons[i].Name)
			}
		}
		if len(s.Estimated) == 0 {
			out = append(out, s)
			continue
		}
		mm, lambda, it, conv := m.em(sel, active, false, -1, opt.MaxIter, opt.Tol)
		s.Lambda, s.Iterations, s.Converged = lambda, it, conv
		for i := range active {
			if !active[i] {
				continue
			}
			n[i]++
			for j := range sum[i] {
				sum[i][j] += mm[i][j]
			}
		}
		out = append(out, s)
	}
	fl := m.floor()
	for i := range m.Comparisons {
		if n[i] == 0 {
			continue
		}
		for j := range m.Comparisons[i].Levels {
			l := &m.Comparisons[i].Levels[j]
			if l.Null {
				continue
			}
			l.M = math.Max(sum[i][j]/float64(n[i]), fl)
			l.MTrained = true
		}
	}
	return out
}

func (m *Model) estimatePrior(pats []pattern, totalPairs float64, opt TrainOptions) (share, expected float64) {
	k := len(m.Comparisons)
	active := make([]bool, k)
	for i := range active {
		active[i] = true
	}
	n := 0.0
	for _, p := range pats {
		n += p.n
	}
	if n == 0 || totalPairs <= 0 {
		return 0, 0
	}
	_, lambda, _, _ := m.em(pats, active, true, -1, opt.MaxIter*10, opt.Tol/100)
	expected = lambda * n
	m.Prior = math.Min(math.Max(expected/totalPairs, 1/(totalPairs*10)), 0.5)
	return lambda, expected
}

// em runs expectation-maximisation over patterns. active selects the
// comparisons in the likelihood; with fixM only λ is estimated. lambda0 < 0
// starts from the share of pairs whose weight under the current
// parameters is positive. It returns the m estimates (for the active
// comparisons), λ, the iterations and whether it converged.
func (m *Model) em(pats []pattern, active []bool, fixM bool, lambda0 float64, maxIter int, tol float64) ([][]float64, float64, int, bool) {
	k := len(m.Comparisons)
	mm := make([][]float64, k)
	uu := make([][]float64, k)
	for i, c := range m.Comparisons {
		mm[i] = make([]float64, len(c.Levels))
		uu[i] = make([]float64, len(c.Levels))
		for j, l := range c.Levels {
			mm[i][j], uu[i][j] = l.M, l.U
		}
	}
	total := 0.0
	for _, p := range pats {
		total += p.n
	}
	lambda := lambda0
	if lambda < 0 {
		pos := 0.0
		for _, p := range pats {
			w := 0.0
			for i := 0; i < k; i++ {
				if active[i] && !m.Comparisons[i].Levels[p.g[i]].Null {
					w += math.Log2(mm[i][p.g[i]] / uu[i][p.g[i]])
				}
			}
			if w > 0 {
				pos += p.n
			}
		}
		lambda = math.Min(math.Max(pos/total, 0.001), 0.9)
	}
	fl := m.floor()
	acc := make([][]float64, k)
	for i := range acc {
		acc[i] = make([]float64, len(mm[i]))
	}
	it, converged := 0, false
	for it < maxIter {
		it++
		for i := range acc {
			clear(acc[i])
		}
		sw := 0.0
		for _, p := range pats {
			pm, pu := lambda, 1-lambda
			for i := 0; i < k; i++ {
				g := p.g[i]
				if !active[i] || m.Comparisons[i].Levels[g].Null {
					continue
				}
				pm *= mm[i][g]
				pu *= uu[i][g]
			}
			w := 0.0
			if pm+pu > 0 {
				w = pm / (pm + pu)
			}
			cw := p.n * w
			sw += cw
			if !fixM {
				for i := 0; i < k; i++ {
					if active[i] {
						acc[i][p.g[i]] += cw
					}
				}
			}
		}
		newLambda := sw / total
		delta := math.Abs(newLambda - lambda)
		lambda = newLambda
		if !fixM {
			for i := 0; i < k; i++ {
				if !active[i] {
					continue
				}
				den := 0.0
				for j, l := range m.Comparisons[i].Levels {
					if !l.Null {
						den += acc[i][j]
					}
				}
				if den == 0 {
					continue
				}
				for j, l := range m.Comparisons[i].Levels {
					if l.Null {
						continue
					}
					v := math.Max(acc[i][j]/den, fl)
					delta = math.Max(delta, math.Abs(v-mm[i][j]))
					mm[i][j] = v
				}
			}
		}
		if delta < tol {
			converged = true
			break
		}
	}
	return mm, lambda, it, converged
}
