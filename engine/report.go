package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/regions"
	"github.com/crosscheck/crosscheck/report"
	"github.com/crosscheck/crosscheck/rules"
	"github.com/crosscheck/crosscheck/schema"
)

// ReportFile is the run report's file name in the output folder.
const ReportFile = "report.html"

// historyRuns is how many earlier runs the state keeps for the trend.
const historyRuns = 24

// WriteRunReport writes report.html into dir from the run's tables (hits,
// screened) and result: aggregates only, no personal data. history lists
// earlier runs (oldest first) for the trend and may be empty. It returns
// this run's point for the history. It is a separate step so that the
// output stage can call it beside the other writers.
func (s *Session) WriteRunReport(ctx context.Context, j *job.Job, res *Result, comp []rules.Compiled, history []report.Point, dir string) (report.Point, error) {
	d, err := s.reportData(ctx, j, res, comp)
	if err != nil {
		return report.Point{}, fmt.Errorf("run report: %w", err)
	}
	res.AmountAtRisk = d.Amount
	pt := thisRun(j, res, d)
	d.Trend = appendHistory(history, pt)
	return pt, report.Write(filepath.Join(dir, ReportFile), d)
}

func thisRun(j *job.Job, res *Result, d *report.Data) report.Point {
	return report.Point{RunID: res.RunID, Finished: res.Started.Add(res.Elapsed).UTC().Truncate(time.Second), Periods: j.Periods,
		Screened: d.Screened, Hits: res.Hits, Cases: res.Cases, Amount: d.Amount}
}

// appendHistory adds this run to the job's history (replacing an earlier
// entry of the same run id, so a re-run does not count twice) and keeps
// the last historyRuns.
func appendHistory(h []report.Point, p report.Point) []report.Point {
	out := make([]report.Point, 0, len(h)+1)
	for _, x := range h {
		if x.RunID != p.RunID {
			out = append(out, x)
		}
	}
	out = append(out, p)
	if len(out) > historyRuns {
		out = out[len(out)-historyRuns:]
	}
	return out
}

// group is a breakdown query: key and label columns over hits.
func (s *Session) reportGroups(ctx context.Context, key string) ([]report.Group, error) {
	q := fmt.Sprintf(`WITH h AS (SELECT %[1]s AS k, * FROM hits),
		p AS (SELECT DISTINCT k, payment_source, payment_file, payment_row, amount FROM h),
		a AS (SELECT k, count(*) AS payments, coalesce(sum(amount), 0) AS amount FROM p GROUP BY k)
		SELECT coalesce(h.k, ''), count(*) AS hits, any_value(a.payments), any_value(a.amount)
		FROM h JOIN a ON h.k IS NOT DISTINCT FROM a.k GROUP BY h.k ORDER BY hits DESC, 1`, key)
	rows, err := s.DB.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []report.Group
	for rows.Next() {
		var g report.Group
		if err := rows.Scan(&g.Key, &g.Hits, &g.Payments, &g.Amount); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func (s *Session) reportData(ctx context.Context, j *job.Job, res *Result, comp []rules.Compiled) (*report.Data, error) {
	d := &report.Data{RunID: res.RunID, Job: j.Name, Started: res.Started, Periods: j.Periods, Hits: res.Hits, Cases: res.Cases,
		Seconds: time.Since(res.Started).Seconds(), PeakRSS: PeakRSS()}
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(amount), 0) FROM screened`).Scan(&d.Screened, &d.ScreenedAmount); err != nil {
		return nil, err
	}
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(amount), 0) FROM
		(SELECT DISTINCT payment_source, payment_file, payment_row, amount FROM hits)`).Scan(&d.Payments, &d.Amount); err != nil {
		return nil, err
	}
	var err error
	if d.ByCategory, err = s.reportGroups(ctx, "category"); err != nil {
		return nil, err
	}
	for i := range d.ByCategory {
		g := &d.ByCategory[i]
		g.Label, g.LabelEN = rules.CategoryName(g.Key, "zh"), rules.CategoryName(g.Key, "en")
	}
	if d.BySeverity, err = s.reportGroups(ctx, "severity"); err != nil {
		return nil, err
	}
	rank := map[string]int{"high": 0, "medium": 1, "low": 2}
	sort.SliceStable(d.BySeverity, func(a, b int) bool { return rank[d.BySeverity[a].Key] < rank[d.BySeverity[b].Key] })
	for i := range d.BySeverity {
		g := &d.BySeverity[i]
		g.Label, g.LabelEN = rules.SeverityName(g.Key, "zh"), rules.SeverityName(g.Key, "en")
	}
	if d.ByRule, err = s.reportGroups(ctx, "rule_id"); err != nil {
		return nil, err
	}
	titles, titlesEN := map[string]string{}, map[string]string{}
	for _, c := range comp {
		titles[c.ID] = c.Title
		if c.Rule != nil && c.Rule.TitleEn != "" {
			titlesEN[c.ID] = c.Rule.TitleEn
		}
	}
	for i := range d.ByRule {
		g := &d.ByRule[i]
		g.Label = titles[g.Key]
		g.LabelEN = g.Key // the rule id where the rule has no English title
		if t, ok := titlesEN[g.Key]; ok {
			g.LabelEN = t
		}
	}
	if d.ByProgram, err = s.reportGroups(ctx, "program_name"); err != nil {
		return nil, err
	}
	if d.ByCounty, err = s.reportGroups(ctx, "left(region_code, 6)"); err != nil {
		return nil, err
	}
	for i := range d.ByCounty {
		g := &d.ByCounty[i]
		g.Label = regions.Label(g.Key)
		if g.Key == "" {
			g.Label, g.LabelEN = "（无区划代码）", "(no region code)"
		}
	}
	for _, st := range res.Sources {
		src := report.Source{Name: st.Source, Title: st.Title, Department: st.Department, Role: st.Role, Read: st.RowsRead,
			Accepted: st.RowsAccepted, Quarantined: st.RowsQuarantined, Dupes: st.Duplicates}
		if src.Title == "" {
			src.Title = st.Source
		}
		for _, k := range sortedKeys(st.Quarantined) {
			src.Reasons = append(src.Reasons, report.Count{Key: k, N: st.Quarantined[k]})
		}
		for _, k := range []string{"valid", "upgraded", "repaired", "invalid", "excel_damaged", "missing"} {
			if n := st.IDStatus["id_number"][k]; n > 0 {
				src.IDStatus = append(src.IDStatus, report.Count{Key: k, N: n})
			}
		}
		d.Sources = append(d.Sources, src)
	}
	if res.Identity != nil {
		for _, t := range sortedKeys(res.Identity.ByTable) {
			m := res.Identity.ByTable[t]
			d.Identity = append(d.Identity, report.LinkTable{Table: t, Exact: m["exact"], Upgraded: m["upgraded"], Repaired: m["repaired"],
				Probabilistic: m["probabilistic"], Unresolved: m["unresolved"]})
		}
		d.Ambiguous = res.Identity.Ambiguous
	}
	for _, t := range res.Timings {
		d.Timings = append(d.Timings, report.Timing{Stage: t.Stage, Seconds: t.Seconds})
	}
	for _, c := range comp {
		r := report.Rule{ID: c.ID, Title: c.Title, Category: c.Category, Severity: c.Severity, Version: c.Version}
		for _, k := range sortedKeys(c.Params) {
			if v := paramText(c.Params[k]); v != "" {
				r.Params = append(r.Params, report.Count2{Key: k, Value: v})
			}
		}
		d.Rules = append(d.Rules, r)
	}
	return d, nil
}

func paramText(v any) string {
	switch x := v.(type) {
	case []string:
		return "[" + strings.Join(x, ", ") + "]"
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// AggregatesFile holds the run's counts per county, program and period:
// what a publication is built from, with no personal data.
const AggregatesFile = "aggregates.csv"

// CatalogueFile holds the program catalogue in force (the policy list).
const CatalogueFile = "catalogue.json"

// CatalogueEntry is one program of catalogue.json.
type CatalogueEntry struct {
	Code              string   `json:"code"`
	Name              string   `json:"name"`
	Department        string   `json:"department"`
	Frequency         string   `json:"frequency"`
	MinAge            *int     `json:"min_age,omitempty"`
	MaxAge            *int     `json:"max_age,omitempty"`
	ExclusiveWith     []string `json:"exclusive_with,omitempty"`
	ExclusiveRosters  []string `json:"exclusive_rosters,omitempty"` // their labels
	Requires          string   `json:"requires,omitempty"`
	SSCRequired       bool     `json:"ssc_required"`
	PayableAfterDeath bool     `json:"payable_after_death"`
	StandardAmount    *float64 `json:"standard_amount,omitempty"`
	StandardText      string   `json:"standard_text"`
	LegalBasis        string   `json:"legal_basis"`
}

// WritePublicationBase writes aggregates.csv and catalogue.json into dir,
// the inputs of `crosscheck publish`. A person is the resolved person key
// (a payment without one counts as a person of its own).
func (s *Session) WritePublicationBase(ctx context.Context, cat *Catalogue, dir string) error {
	q := `WITH pay AS (
		SELECT coalesce(left(region_code, 6), '') AS county_code, program_code, any_value(program_name) OVER (PARTITION BY program_code) AS program_name,
			period, coalesce(person_key, 'payment:' || _source || ':' || _file || ':' || _row) AS person, amount FROM screened),
	p AS (SELECT county_code, program_code, any_value(program_name) AS program_name, period, count(DISTINCT person) AS persons,
			count(*) AS payments, round(coalesce(sum(amount), 0), 2) AS amount FROM pay GROUP BY ALL),
	c AS (SELECT coalesce(county_code, '') AS county_code, program_code, period,
			count(DISTINCT coalesce(person_key, case_id)) AS case_persons, count(*) AS cases, round(coalesce(sum(amount), 0), 2) AS amount_at_risk
		FROM cases GROUP BY ALL)
	SELECT p.county_code, p.program_code, p.program_name, p.period, p.persons, p.payments, p.amount,
		coalesce(c.case_persons, 0), coalesce(c.cases, 0), coalesce(c.amount_at_risk, 0)
	FROM p LEFT JOIN c USING (county_code, program_code, period)
	ORDER BY 1, 2, 4`
	if err := s.writeCSV(ctx, q, schema.AggregateColumns, filepath.Join(dir, AggregatesFile), true, false, nil); err != nil {
		return fmt.Errorf("%s: %w", AggregatesFile, err)
	}
	extra := map[string][2]string{}
	rows, err := s.DB.QueryContext(ctx, `SELECT program_code, coalesce(any_value(standard_text), ''), coalesce(any_value(legal_basis), '')
		FROM program GROUP BY 1`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var c, st, lb string
		if err := rows.Scan(&c, &st, &lb); err != nil {
			rows.Close()
			return err
		}
		extra[c] = [2]string{st, lb}
	}
	rows.Close()
	var out []CatalogueEntry
	if cat != nil {
		for _, p := range cat.Programs {
			e := CatalogueEntry{Code: p.Code, Name: p.Name, Department: p.Department, Frequency: p.Frequency, MinAge: p.MinAge,
				MaxAge: p.MaxAge, ExclusiveWith: p.ExclusiveWith, Requires: p.Requires, SSCRequired: p.SSCRequired,
				PayableAfterDeath: p.PayableAfterDeath, StandardAmount: p.StandardAmount, StandardText: extra[p.Code][0],
				LegalBasis: extra[p.Code][1]}
			for _, r := range p.Rosters {
				e.ExclusiveRosters = append(e.ExclusiveRosters, strings.ReplaceAll(r.Label, "%s", r.Role))
			}
			out = append(out, e)
		}
	}
	return writeJSON(filepath.Join(dir, CatalogueFile), out)
}
