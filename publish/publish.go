// Package publish builds the publication pack for the public column
// (补贴信息公开专栏, "谁主管、谁公开"): the policy list (一张清单), the rule
// catalogue in plain Chinese and the aggregate results by county, program
// and month, as HTML, CSV and xlsx. It reads only what a run wrote for it
// (aggregates.csv, catalogue.json, manifest.json): counts, never a person.
//
// Small cells are suppressed (see Suppress): a figure that rests on fewer
// than MinPersons persons is not published, and neither is a second figure
// of the same column whenever the total would otherwise give it away.
package publish

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/crosscheck/crosscheck/schema"
)

// DefaultMinPersons is the smallest number of persons a published figure
// may rest on.
const DefaultMinPersons = 5

// Row is one line of aggregates.csv.
type Row struct {
	County, Program, ProgramName, Period string
	Persons, Payments                    int64
	Amount                               float64
	CasePersons, Cases                   int64
	AmountAtRisk                         float64
	// From the case store (AddOutcomes): confirmed cases, the persons
	// they concern and the amount recovered.
	ConfirmedPersons, Confirmed int64
	Recovered                   float64
}

// Program is one entry of the policy list (catalogue.json).
type Program struct {
	Code              string   `json:"code"`
	Name              string   `json:"name"`
	Department        string   `json:"department"`
	Frequency         string   `json:"frequency"`
	MinAge            *int     `json:"min_age"`
	MaxAge            *int     `json:"max_age"`
	ExclusiveWith     []string `json:"exclusive_with"`
	ExclusiveRosters  []string `json:"exclusive_rosters"`
	Requires          string   `json:"requires"`
	SSCRequired       bool     `json:"ssc_required"`
	PayableAfterDeath bool     `json:"payable_after_death"`
	StandardAmount    *float64 `json:"standard_amount"`
	StandardText      string   `json:"standard_text"`
	LegalBasis        string   `json:"legal_basis"`
}

// RuleInForce is a rule of the run with its parameters (manifest.json).
type RuleInForce struct {
	ID       string         `json:"id"`
	Category string         `json:"category"`
	Version  string         `json:"version"`
	Params   map[string]any `json:"params"`
}

// Run is what publish reads from a run folder.
type Run struct {
	RunID    string
	Periods  []string
	Rows     []Row
	Programs []Program
	Rules    []RuleInForce
	// Outcomes is true once AddOutcomes added a case store's outcomes.
	Outcomes bool
}

// ReadRun reads a run folder written by `crosscheck run`.
func ReadRun(dir string) (*Run, error) {
	r := &Run{}
	var m struct {
		RunID string `json:"run_id"`
		Job   struct {
			Periods []string `json:"Periods"`
		} `json:"job"`
		Rules []RuleInForce `json:"rules"`
	}
	if err := readJSON(filepath.Join(dir, "manifest.json"), &m); err != nil {
		return nil, err
	}
	r.RunID, r.Periods, r.Rules = m.RunID, m.Job.Periods, m.Rules
	if err := readJSON(filepath.Join(dir, "catalogue.json"), &r.Programs); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, "aggregates.csv"))
	if err != nil {
		return nil, fmt.Errorf("%w (a run of this version writes it; run the job again)", err)
	}
	defer f.Close()
	rows, err := readAggregates(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	r.Rows = rows
	return r, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w (is it a run folder of crosscheck run?)", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// readAggregates reads aggregates.csv as a run writes it: its header is
// schema.AggregateColumns, and each value is taken by its column's name.
func readAggregates(r io.Reader) ([]Row, error) {
	cr := csv.NewReader(r)
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, err
	}
	header := strings.Join(schema.AggregateColumns, ",")
	if len(recs) == 0 || strings.TrimPrefix(strings.Join(recs[0], ","), "\uFEFF") != header {
		return nil, fmt.Errorf("header is not %s", header)
	}
	at := func(rec []string, col string) string { return rec[slices.Index(schema.AggregateColumns, col)] }
	var out []Row
	for i, rec := range recs[1:] {
		row := Row{County: at(rec, "county_code"), Program: at(rec, "program_code"), ProgramName: at(rec, "program_name"),
			Period: at(rec, "period")}
		for _, f := range []struct {
			col string
			p   *int64
		}{{"persons", &row.Persons}, {"payments", &row.Payments}, {"case_persons", &row.CasePersons}, {"cases", &row.Cases}} {
			if *f.p, err = strconv.ParseInt(at(rec, f.col), 10, 64); err != nil {
				return nil, fmt.Errorf("row %d: %s: %w", i+2, f.col, err)
			}
		}
		for _, f := range []struct {
			col string
			p   *float64
		}{{"amount", &row.Amount}, {"amount_at_risk", &row.AmountAtRisk}} {
			if *f.p, err = strconv.ParseFloat(at(rec, f.col), 64); err != nil {
				return nil, fmt.Errorf("row %d: %s: %w", i+2, f.col, err)
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// Cell is one published figure: its value, the persons it rests on, and
// whether it is suppressed.
type Cell struct {
	Value      float64
	Persons    int64
	Suppressed bool
	// Primary is true when the cell itself rests on too few persons;
	// false for a complementary suppression.
	Primary bool
}

// Line is one line of a results table: a key (county, program or month)
// and its figures in Measures order.
type Line struct {
	Key, Label string
	Cells      []Cell
}

// Table is one results table with its total line.
type Table struct {
	ID, Title, KeyTitle string
	Measures            []Measure
	Lines               []Line
	Total               Line
}

// Measure is a column of the results tables.
type Measure struct {
	ID, Title string
	Money     bool
	// Group names the persons the figure rests on: the figures of one
	// group are suppressed together.
	Group   string
	value   func(Row) float64
	persons func(Row) int64
}

func paidPersons(r Row) int64      { return r.Persons }
func flaggedPersons(r Row) int64   { return r.CasePersons }
func confirmedPersons(r Row) int64 { return r.ConfirmedPersons }

// Measures are the published columns. 人次 counts a person once per
// program and month.
var Measures = []Measure{
	{"persons", "发放人次", false, "paid", func(r Row) float64 { return float64(r.Persons) }, paidPersons},
	{"payments", "发放笔数", false, "paid", func(r Row) float64 { return float64(r.Payments) }, paidPersons},
	{"amount", "发放金额（元）", true, "paid", func(r Row) float64 { return r.Amount }, paidPersons},
	{"case_persons", "疑点涉及人次", false, "flagged", func(r Row) float64 { return float64(r.CasePersons) }, flaggedPersons},
	{"cases", "疑点案件数", false, "flagged", func(r Row) float64 { return float64(r.Cases) }, flaggedPersons},
	{"amount_at_risk", "疑点涉及金额（元）", true, "flagged", func(r Row) float64 { return r.AmountAtRisk }, flaggedPersons},
}

// OutcomeMeasures are added when a case store gives the review outcomes.
var OutcomeMeasures = []Measure{
	{"confirmed", "核实确认案件数", false, "confirmed", func(r Row) float64 { return float64(r.Confirmed) }, confirmedPersons},
	{"recovered", "追回金额（元）", true, "confirmed", func(r Row) float64 { return r.Recovered }, confirmedPersons},
}

// cells sums the rows into one line. A cell's Persons is a lower bound of
// the distinct persons it rests on: the largest count of one row (a row's
// persons are distinct; across programs or months one person may count
// more than once, so the sum would overstate it).
func cells(rows []Row, ms []Measure) []Cell {
	c := make([]Cell, len(ms))
	for _, r := range rows {
		for j, m := range ms {
			c[j].Value += m.value(r)
			c[j].Persons = max(c[j].Persons, m.persons(r))
		}
	}
	return c
}

// Tables groups the rows by county, program and month, with totals, and
// applies Suppress with minPersons.
func Tables(rows []Row, ms []Measure, label func(dim, key string) string, minPersons int64) []Table {
	dims := []struct{ id, title, key string }{
		{"county", "按县区", "县区"}, {"program", "按补贴项目", "补贴项目"}, {"month", "按月份", "月份"},
	}
	var out []Table
	for _, d := range dims {
		groups := map[string][]Row{}
		for _, r := range rows {
			k := map[string]string{"county": r.County, "program": r.Program, "month": r.Period}[d.id]
			groups[k] = append(groups[k], r)
		}
		t := Table{ID: d.id, Title: d.title, KeyTitle: d.key, Measures: ms, Total: Line{Key: "total", Label: "合计", Cells: cells(rows, ms)}}
		keys := make([]string, 0, len(groups))
		for k := range groups {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.Lines = append(t.Lines, Line{Key: k, Label: label(d.id, k), Cells: cells(groups[k], ms)})
		}
		Suppress(&t, minPersons)
		out = append(out, t)
	}
	return out
}

// Suppress hides the figures that could identify fewer than minPersons
// persons, column by column:
//
//  1. primary: a cell that rests on 1 to minPersons-1 persons (a cell of
//     nobody, 0, is published: it identifies no one);
//  2. complementary: while a column has one suppressed line, or suppressed
//     lines that together rest on fewer than minPersons persons, the total
//     minus the published lines would give them away, so the non-zero line
//     with the fewest persons among the others is suppressed too (when
//     there is none left, the total is suppressed instead);
//  3. the total itself is suppressed when it rests on too few persons.
//
// The tables are one-way (county, program or month against the same
// total), so a suppressed cell cannot be recovered from another table's
// lines either: each table is protected against its own total, and the
// tables share no line.
func Suppress(t *Table, minPersons int64) {
	small := func(c Cell) bool { return c.Persons > 0 && c.Persons < minPersons }
	for j := range t.Measures {
		var hidden int
		for i := range t.Lines {
			c := &t.Lines[i].Cells[j]
			if small(*c) {
				c.Suppressed, c.Primary = true, true
				hidden++
			}
		}
		if small(t.Total.Cells[j]) {
			t.Total.Cells[j].Suppressed, t.Total.Cells[j].Primary = true, true
		}
		// Complementary suppression: while the hidden cells of the column
		// could be told from the total (one alone, or together resting on
		// fewer than minPersons persons), hide the smallest published cell
		// that is not zero (a zero beside a hidden cell would give it away).
		for hidden > 0 && !t.Total.Cells[j].Suppressed {
			var sum int64
			for i := range t.Lines {
				if c := t.Lines[i].Cells[j]; c.Suppressed {
					sum += c.Persons
				}
			}
			if hidden >= 2 && sum >= minPersons {
				break
			}
			best := -1
			for i := range t.Lines {
				c := t.Lines[i].Cells[j]
				if c.Suppressed || c.Persons == 0 {
					continue
				}
				if best == -1 || c.Persons < t.Lines[best].Cells[j].Persons {
					best = i
				}
			}
			if best < 0 {
				t.Total.Cells[j].Suppressed = true
				break
			}
			t.Lines[best].Cells[j].Suppressed = true
			hidden++
		}
	}
	// The figures of one line rest on the same persons: payments and amount
	// go with persons paid, cases and amount at risk with the persons with
	// cases. Suppress them together so one cannot stand for the other.
	all := append(append([]Line(nil), t.Lines...), t.Total)
	for i := range all {
		l := &all[i]
		hide := map[string]bool{}
		for j, m := range t.Measures {
			hide[m.Group] = hide[m.Group] || l.Cells[j].Suppressed
		}
		for j, m := range t.Measures {
			l.Cells[j].Suppressed = hide[m.Group]
		}
	}
	copy(t.Lines, all[:len(t.Lines)])
	t.Total = all[len(all)-1]
}
