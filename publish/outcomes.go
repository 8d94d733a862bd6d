package publish

import (
	"github.com/crosscheck/crosscheck/casestore"
)

// AddOutcomes adds the review outcomes of a case store to the run's rows:
// per county, program and first period of a case among the run's periods,
// the confirmed cases, the persons they concern and the amount recovered.
// A key the run has no payments for gets a row of its own.
func (r *Run) AddOutcomes(s *casestore.Store) error {
	cases, err := s.Select(casestore.Scope{All: true}, casestore.Filter{}, 0)
	if err != nil {
		return err
	}
	periods := map[string]bool{}
	for _, p := range r.Periods {
		periods[p] = true
	}
	type key struct{ county, program, period string }
	idx := map[key]int{}
	for i, row := range r.Rows {
		idx[key{row.County, row.Program, row.Period}] = i
	}
	persons := map[key]map[string]bool{}
	for _, c := range cases {
		if c.Decision != casestore.StatusConfirmed || (len(periods) > 0 && !periods[c.FirstPeriod]) {
			continue
		}
		k := key{c.CountyCode, c.ProgramCode, c.FirstPeriod}
		i, ok := idx[k]
		if !ok {
			r.Rows = append(r.Rows, Row{County: k.county, Program: k.program, ProgramName: c.ProgramName, Period: k.period})
			i = len(r.Rows) - 1
			idx[k] = i
		}
		row := &r.Rows[i]
		row.Confirmed++
		if c.Outcome != nil {
			row.Recovered += c.Outcome.Recovered
		}
		if persons[k] == nil {
			persons[k] = map[string]bool{}
		}
		persons[k][c.PersonKey] = true
		row.ConfirmedPersons = int64(len(persons[k]))
	}
	r.Outcomes = true
	return nil
}
