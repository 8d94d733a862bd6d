// Package holidays owns China's official calendar of public holidays and
// make-up workdays (调休上班), from the State Council General Office's
// yearly notices (国务院办公厅关于部分节假日安排的通知), embedded in the binary.
// See NOTES.md beside this file for the source and the years covered.
package holidays

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

//go:embed cn_public_holidays.csv
var chinaCSV string

// Kind says whether a listed day is a day off or a weekend day worked.
type Kind string

const (
	// Holiday is a day off in a holiday period (weekends inside it included).
	Holiday Kind = "holiday"
	// Workday is a Saturday or Sunday worked in exchange (调休上班).
	Workday Kind = "workday"
)

// Day is one listed date.
type Day struct {
	Date   string // YYYY-MM-DD
	Kind   Kind
	Name   string // 春节, 春节调休上班 …
	Source string // the notice it comes from
}

// Table is a calendar of listed days; dates not listed follow the ordinary
// week (Monday to Friday working).
type Table struct {
	days  map[string]Day
	years []int
}

var (
	chinaOnce  sync.Once
	chinaTable *Table
	chinaErr   error
)

// China returns the embedded official calendar. It panics only if the
// embedded file is broken, which a test rules out.
func China() *Table {
	chinaOnce.Do(func() { chinaTable, chinaErr = Parse(chinaCSV) })
	if chinaErr != nil {
		panic(chinaErr)
	}
	return chinaTable
}

// Parse reads a calendar in the embedded file's format: a header
// date,kind,name,source and one row per date.
func Parse(text string) (*Table, error) {
	r := csv.NewReader(strings.NewReader(text))
	recs, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("holidays: %w", err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != "date,kind,name,source" {
		return nil, fmt.Errorf("holidays: header must be date,kind,name,source")
	}
	t := &Table{days: map[string]Day{}}
	seen := map[int]bool{}
	for i, rec := range recs[1:] {
		d, err := time.Parse("2006-01-02", rec[0])
		if err != nil {
			return nil, fmt.Errorf("holidays: row %d: date %q: %w", i+2, rec[0], err)
		}
		k := Kind(rec[1])
		if k != Holiday && k != Workday {
			return nil, fmt.Errorf("holidays: row %d: kind %q is not holiday or workday", i+2, rec[1])
		}
		if k == Workday && d.Weekday() != time.Saturday && d.Weekday() != time.Sunday {
			return nil, fmt.Errorf("holidays: row %d: %s is a make-up workday but not a weekend day", i+2, rec[0])
		}
		if _, dup := t.days[rec[0]]; dup {
			return nil, fmt.Errorf("holidays: row %d: %s listed twice", i+2, rec[0])
		}
		t.days[rec[0]] = Day{Date: rec[0], Kind: k, Name: rec[2], Source: rec[3]}
		if !seen[d.Year()] {
			seen[d.Year()] = true
			t.years = append(t.years, d.Year())
		}
	}
	sort.Ints(t.years)
	return t, nil
}

// Years lists the years the table covers.
func (t *Table) Years() []int { return append([]int(nil), t.years...) }

// Covers reports whether the table has the official notice of year y.
func (t *Table) Covers(y int) bool {
	i := sort.SearchInts(t.years, y)
	return i < len(t.years) && t.years[i] == y
}

// Lookup returns the listed day of date (YYYY-MM-DD), if any.
func (t *Table) Lookup(date string) (Day, bool) {
	d, ok := t.days[date]
	return d, ok
}

// Days lists every listed day of kind k, in date order.
func (t *Table) Days(k Kind) []string {
	var out []string
	for d, v := range t.days {
		if v.Kind == k {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}
