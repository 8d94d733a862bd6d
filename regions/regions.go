// Package regions owns the names of China's administrative divisions: the
// GB/T 2260 county-level-and-above codes with their history since 1981,
// the NBS county-level statistical units and Henan's townships, embedded
// from the tables in this folder (see NOTES.md for sources and licences).
// Pages and reports show 杞县 where data carry 410221.
package regions

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

var (
	//go:embed gbt2260_history_1981_2024.csv
	gbtCSV string
	//go:embed china_counties_nbs2023.csv
	nbsCountiesCSV string
	//go:embed henan_townships_nbs2023.csv
	townshipsCSV string
)

// Level is the level of a division.
type Level string

// The levels of divisions.
const (
	Province   Level = "province"
	Prefecture Level = "prefecture"
	County     Level = "county"
	Township   Level = "township"
)

// Region is one division.
type Region struct {
	Code  string // 6 digits (9 for a township)
	Name  string // 杞县
	Level Level
	// Province and Prefecture are the names of the divisions above
	// (Prefecture is "" for a division directly under its province).
	Province, Prefecture string
	// Active is false for an abolished code (its name is the last it had).
	Active bool
	// Start and End are the years the code was in use (End 0 while in
	// use; End is exclusive).
	Start, End int
}

// FullName is the name with the divisions above: 河南省开封市杞县.
func (r Region) FullName() string {
	var b strings.Builder
	if r.Level != Province {
		b.WriteString(r.Province)
	}
	if r.Level != Province && r.Level != Prefecture && r.Prefecture != "" && r.Prefecture != r.Province {
		b.WriteString(r.Prefecture)
	}
	b.WriteString(r.Name)
	return b.String()
}

type table struct {
	byCode map[string]Region
}

var (
	once sync.Once
	tab  *table
	err0 error
)

func load() *table {
	once.Do(func() { tab, err0 = parse() })
	if err0 != nil {
		panic(err0) // the embedded tables are checked by the tests
	}
	return tab
}

func readCSV(name, text string, header string) ([][]string, error) {
	recs, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("regions: %s: %w", name, err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != header {
		return nil, fmt.Errorf("regions: %s: header is not %s", name, header)
	}
	return recs[1:], nil
}

func parse() (*table, error) {
	t := &table{byCode: map[string]Region{}}
	recs, err := readCSV("gbt2260", gbtCSV, "code6,name,level,status,start_year,end_year_exclusive,successor_codes,province_name,prefecture_name")
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		start, _ := strconv.Atoi(r[4])
		end, _ := strconv.Atoi(r[5])
		reg := Region{Code: r[0], Name: r[1], Level: Level(r[2]), Active: r[3] == "active", Start: start, End: end,
			Province: r[7], Prefecture: r[8]}
		if reg.Prefecture == "直辖" {
			reg.Prefecture = ""
		}
		// A code reused over time: the row in use wins, else the latest.
		if old, ok := t.byCode[reg.Code]; ok {
			if old.Active || (!reg.Active && old.Start > reg.Start) {
				continue
			}
		}
		t.byCode[reg.Code] = reg
	}
	recs, err = readCSV("nbs counties", nbsCountiesCSV, "county_code6,name,prefecture_code4,prefecture_name,province_code2,province_name,note")
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if _, ok := t.byCode[r[0]]; ok {
			continue
		}
		pref := r[3]
		if pref == "市辖区" || pref == "县" || pref == "省直辖县级行政区划" || pref == "自治区直辖县级行政区划" {
			pref = ""
		}
		t.byCode[r[0]] = Region{Code: r[0], Name: r[1], Level: County, Province: r[5], Prefecture: pref, Active: true, Start: 2023}
	}
	recs, err = readCSV("townships", townshipsCSV, "township_code9,name,county_code6,county_name,prefecture_code4,province_code2")
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		county := t.byCode[r[2]]
		pref := county.Prefecture
		if county.Level == Prefecture {
			pref = county.Name
		}
		t.byCode[r[0]] = Region{Code: r[0], Name: r[1], Level: Township, Province: county.Province, Prefecture: pref, Active: true, Start: 2023}
	}
	return t, nil
}

// Lookup returns the division of a code: 2, 4 or 6 digits (padded with
// zeros to 6) or 9 digits for a township. Longer codes (villages, 12
// digits) are not resolved; use County or Township for their parts.
func Lookup(code string) (Region, bool) {
	code = strings.TrimSpace(code)
	switch len(code) {
	case 2:
		code += "0000"
	case 4:
		code += "00"
	}
	r, ok := load().byCode[code]
	return r, ok
}

// Name returns the name of a code, or "" when it is unknown.
func Name(code string) string {
	r, _ := Lookup(code)
	return r.Name
}

// CountyName returns the name of the county-level division a region code
// (6, 9 or 12 digits) lies in: 杞县 for 410221102201. Unknown codes give "".
func CountyName(code string) string {
	code = strings.TrimSpace(code)
	if len(code) < 6 {
		return ""
	}
	return Name(code[:6])
}

// Label returns "NAME" for a known code and the code itself otherwise, so
// that a page never shows an empty cell.
func Label(code string) string {
	if n := Name(code); n != "" {
		return n
	}
	return code
}

// Describe names a region code at every level it has: 开封市杞县葛岗镇
// for 410221102, 许昌市长葛市 for 411082; the code itself when unknown.
func Describe(code string) string {
	code = strings.TrimSpace(code)
	if len(code) >= 9 {
		if r, ok := Lookup(code[:9]); ok {
			return r.Prefecture + CountyName(code) + r.Name
		}
	}
	if len(code) >= 6 {
		if r, ok := Lookup(code[:6]); ok {
			return r.FullName()[len(r.Province):]
		}
	}
	return code
}
