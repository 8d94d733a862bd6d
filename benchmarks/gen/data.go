package gen

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/crosscheck/crosscheck/normalize/names"
)

// Reference data, embedded so that the generator works offline. See
// data/NOTES.md for sources, transformations and licences.
var (
	//go:embed data/villages.csv
	villagesCSV string
	//go:embed data/townships.csv
	townshipsCSV string
	//go:embed data/counties.csv
	countiesCSV string
	//go:embed data/historic_codes.csv
	historicCSV string
	//go:embed data/surnames.csv
	surnamesCSV string
	//go:embed data/given_chars.csv
	givenCSV string
)

// village is a rural village (村委会) with its NBS 12-digit code.
type village struct {
	code string // 12 digits
	name string // short name, without 村民委员会/村委会
}

// county is a county-level unit with its rural villages.
type county struct {
	code       string // GB/T 2260, 6 digits
	name       string
	prefecture string
	villages   []village
	// oldCode is an abolished predecessor code still found in the IDs of
	// people born before oldEnd ("" if none).
	oldCode string
	oldEnd  int
}

// refData is the parsed reference data.
type refData struct {
	counties  []county
	townships map[string]string // code9 → name
	surnames  sampler
	surname   []string
	given     [2]sampler // 0 female, 1 male
	givenChar []string
	// trad maps a simplified character to a traditional form that the
	// engine's name normalisation folds back to it.
	trad map[rune]rune
}

var (
	refOnce sync.Once
	ref     *refData
	refErr  error
)

func loadRef() (*refData, error) {
	refOnce.Do(func() { ref, refErr = parseRef() })
	return ref, refErr
}

func readCSV(name, data string) ([][]string, error) {
	r := csv.NewReader(strings.NewReader(data))
	recs, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("embedded %s: %w", name, err)
	}
	if len(recs) < 2 {
		return nil, fmt.Errorf("embedded %s: no rows", name)
	}
	return recs[1:], nil
}

// Compound surnames not among the 400 most common (only 欧阳 is), with
// approximate shares in parts per million; project-own approximations.
var extraCompound = []struct {
	s   string
	ppm int
}{{"上官", 30}, {"司马", 25}, {"诸葛", 20}, {"东方", 10}, {"皇甫", 12}, {"尉迟", 5}, {"公孙", 5},
	{"令狐", 8}, {"慕容", 5}, {"司徒", 15}, {"夏侯", 10}, {"端木", 5}, {"长孙", 3}}

func parseRef() (*refData, error) {
	d := &refData{townships: map[string]string{}}
	rows, err := readCSV("counties.csv", countiesCSV)
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	for _, r := range rows {
		idx[r[0]] = len(d.counties)
		d.counties = append(d.counties, county{code: r[0], name: r[1], prefecture: r[2]})
	}
	rows, err = readCSV("villages.csv", villagesCSV)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		i, ok := idx[r[0][:6]]
		if !ok {
			return nil, fmt.Errorf("embedded villages.csv: county of %s unknown", r[0])
		}
		d.counties[i].villages = append(d.counties[i].villages, village{code: r[0], name: r[1]})
	}
	rows, err = readCSV("townships.csv", townshipsCSV)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		d.townships[r[0]] = r[1]
	}
	rows, err = readCSV("historic_codes.csv", historicCSV)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		end, _ := strconv.Atoi(r[4])
		// Codes abolished before the first identity cards (1985) are not on IDs.
		if i, ok := idx[r[0]]; ok && end >= 1986 {
			d.counties[i].oldCode, d.counties[i].oldEnd = r[1], end
		}
	}
	var kept []county
	for _, c := range d.counties {
		if len(c.villages) > 0 {
			kept = append(kept, c)
		}
	}
	d.counties = kept
	sort.Slice(d.counties, func(a, b int) bool { return d.counties[a].code < d.counties[b].code })

	rows, err = readCSV("surnames.csv", surnamesCSV)
	if err != nil {
		return nil, err
	}
	var sw []float64
	for _, r := range rows {
		w, _ := strconv.ParseFloat(r[2], 64)
		d.surname = append(d.surname, r[0])
		sw = append(sw, w)
	}
	for _, e := range extraCompound {
		d.surname = append(d.surname, e.s)
		sw = append(sw, float64(e.ppm))
	}
	d.surnames = newSampler(sw)
	rows, err = readCSV("given_chars.csv", givenCSV)
	if err != nil {
		return nil, err
	}
	var fw, mw []float64
	for _, r := range rows {
		ms, _ := strconv.ParseFloat(r[1], 64)
		w, _ := strconv.ParseFloat(r[2], 64)
		d.givenChar = append(d.givenChar, r[0])
		fw = append(fw, w*(1-ms)+1)
		mw = append(mw, w*ms+1)
	}
	d.given[0], d.given[1] = newSampler(fw), newSampler(mw)

	// Reverse the engine's own traditional→simplified folding, so that a
	// traditional spelling generated here folds back exactly.
	d.trad = map[rune]rune{}
	for r := rune(0x4E00); r <= 0x9FA5; r++ {
		if s := names.FoldRune(r); s != r {
			if old, ok := d.trad[s]; !ok || r < old {
				d.trad[s] = r
			}
		}
	}
	return d, nil
}

// sampler draws an index with probability proportional to its weight
// (cumulative table and binary search: deterministic for a given stream).
type sampler struct {
	cum   []float64
	total float64
}

func newSampler(w []float64) sampler {
	s := sampler{cum: make([]float64, len(w))}
	t := 0.0
	for i, x := range w {
		t += x
		s.cum[i] = t
	}
	s.total = t
	return s
}

func (s sampler) draw(u float64) int {
	x := u * s.total
	i := sort.SearchFloat64s(s.cum, x)
	if i >= len(s.cum) {
		i = len(s.cum) - 1
	}
	return i
}
