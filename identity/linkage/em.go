package linkage

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
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
	// EqualVotes combines the sessions' m estimates as a plain mean, each
	// session one vote (the behaviour before sessions were weighted; kept
	// for comparison). By default each session's estimate is weighted by
	// its expected matches (λ × pairs), and sessions expecting fewer than
	// MinSessionShare of the largest session's matches are left out: a
	// broad rule whose pairs hold few true matches fits its EM to
	// something else (household members, namesakes) and would otherwise
	// drag the m of the other sessions towards it.
	EqualVotes bool
	// MinSessionShare is the share of the largest session's expected
	// matches below which a session does not vote (default 0.05).
	MinSessionShare float64
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
	if o.MinSessionShare <= 0 {
		o.MinSessionShare = 0.05
	}
}

// Session reports one EM session.
type Session struct {
	Rule      string   `json:"rule"`      // the blocking rule
	Pairs     float64  `json:"pairs"`     // pairs satisfying it
	Estimated []string `json:"estimated"` // comparisons whose m it estimated
	Lambda    float64  `json:"lambda"`    // estimated share of matches among its pairs
	// Expected is its expected number of matches, Lambda × Pairs.
	Expected float64 `json:"expected"`
	// Weight is the session's share of the vote on the m of the
	// comparisons it estimated (its Expected over the sum of the voting
	// sessions' Expected; 1/n with EqualVotes); 0 when it did not vote.
	Weight float64 `json:"weight"`
	// Skipped says why the session did not vote ("" when it did).
	Skipped string `json:"skipped,omitempty"`
	// M holds the session's m estimates per comparison it estimated, one
	// value per level (0 for the null level).
	M          map[string][]float64 `json:"m,omitempty"`
	Iterations int                  `json:"iterations"`
	Converged  bool                 `json:"converged"`
}

// Report summarises a training run.
type Report struct {
	UPairs   int64     `json:"u_pairs"`  // random pairs behind the u estimates
	Pairs    int64     `json:"pairs"`    // candidate pairs of the blocking rules
	Sessions []Session `json:"sessions"` // EM sessions run
	// EqualVotes reports that the sessions were combined as a plain mean.
	EqualVotes bool `json:"equal_votes,omitempty"`
	// PriorPairs is the estimated share of matches among the candidate
	// pairs; Model.Prior is that share scaled to all possible pairs.
	PriorPairs float64 `json:"prior_pairs"`
	// ExpectedMatches is the estimated number of matching pairs.
	ExpectedMatches float64 `json:"expected_matches"`
}

// String renders the report as text: one block per EM session with its
// rule, pairs, λ, expected matches, weight and m per comparison level.
func (r *Report) String(m *Model) string {
	var b strings.Builder
	fmt.Fprintf(&b, "u from %d random pairs; %d candidate pairs; λ among them %.4g (%.0f expected matches)\n", r.UPairs, r.Pairs, r.PriorPairs, r.ExpectedMatches)
	vote := "weighted by expected matches"
	if r.EqualVotes {
		vote = "one equal vote each"
	}
	fmt.Fprintf(&b, "EM sessions (%s):\n", vote)
	for _, s := range r.Sessions {
		fmt.Fprintf(&b, "  %s\n    pairs %.0f  λ %.4g  expected matches %.1f  weight %.3f  iterations %d", s.Rule, s.Pairs, s.Lambda, s.Expected, s.Weight, s.Iterations)
		if s.Skipped != "" {
			fmt.Fprintf(&b, "  not voting: %s", s.Skipped)
		}
		b.WriteString("\n")
		for _, c := range m.Comparisons {
			mm, ok := s.M[c.Name]
			if !ok {
				continue
			}
			fmt.Fprintf(&b, "    m %-12s", c.Name)
			for j, l := range c.Levels {
				if !l.Null && j < len(mm) {
					fmt.Fprintf(&b, " %s %.4f;", l.Label, mm[j])
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
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
	rep.EqualVotes = opt.EqualVotes
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
// mean of the sessions that estimated it, weighted by their expected
// matches (see TrainOptions.EqualVotes and MinSessionShare).
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
	var out []Session
	var ests [][][]float64 // per session: m per comparison (nil when not estimated)
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
			s.Skipped = fmt.Sprintf("fewer than %.0f pairs", opt.MinSessionPairs)
			out, ests = append(out, s), append(ests, nil)
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
			s.Skipped = "blocks on every comparison"
			out, ests = append(out, s), append(ests, nil)
			continue
		}
		mm, lambda, it, conv := m.em(sel, active, false, -1, opt.MaxIter, opt.Tol)
		s.Lambda, s.Iterations, s.Converged = lambda, it, conv
		s.Expected = lambda * total
		s.M = map[string][]float64{}
		est := make([][]float64, k)
		for i := range active {
			if active[i] {
				est[i] = mm[i]
				s.M[m.Comparisons[i].Name] = append([]float64(nil), mm[i]...)
			}
		}
		out, ests = append(out, s), append(ests, est)
	}
	// The votes.
	maxExp := 0.0
	for _, s := range out {
		maxExp = math.Max(maxExp, s.Expected)
	}
	votes := make([]float64, len(out))
	sumVotes := 0.0
	for i := range out {
		if ests[i] == nil {
			continue
		}
		switch {
		case opt.EqualVotes:
			votes[i] = 1
		case out[i].Expected < opt.MinSessionShare*maxExp:
			out[i].Skipped = fmt.Sprintf("expects %.1f matches, under %.0f%% of the largest session's %.1f", out[i].Expected, 100*opt.MinSessionShare, maxExp)
		default:
			votes[i] = out[i].Expected
		}
		sumVotes += votes[i]
	}
	for i := range out {
		if sumVotes > 0 {
			out[i].Weight = votes[i] / sumVotes
		}
	}
	fl := m.floor()
	for i := range m.Comparisons {
		sum := make([]float64, len(m.Comparisons[i].Levels))
		wsum := 0.0
		for s := range out {
			if votes[s] == 0 || ests[s][i] == nil {
				continue
			}
			wsum += votes[s]
			for j := range sum {
				sum[j] += votes[s] * ests[s][i][j]
			}
		}
		if wsum == 0 {
			continue
		}
		for j := range m.Comparisons[i].Levels {
			l := &m.Comparisons[i].Levels[j]
			if l.Null {
				continue
			}
			l.M = math.Max(sum[j]/wsum, fl)
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
