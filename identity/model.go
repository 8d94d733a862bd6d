package identity

import (
	"fmt"
	"strings"

	"github.com/crosscheck/crosscheck/identity/linkage"
)

// Names of PersonModel's comparisons.
const (
	CmpName   = "name"
	CmpBirth  = "birth_date"
	CmpGender = "gender"
	CmpRegion = "region"
	CmpID     = "id_number"
)

// Labels of the name levels on which a record may be linked (see
// Config.AllowNameMismatch). The other levels (one character different,
// same given name under another surname, different, missing) still weigh
// in the match weight but cannot link: twins and siblings share birth
// date and address and differ in exactly such ways.
const (
	LabelNameExact       = "exact"
	LabelNamePinyin      = "same pinyin"
	LabelNameFolded      = "same folded pinyin"
	LabelNameGivenJW     = "same surname, given name JW ≥ 0.92"
	LabelNameMissingChar = "one character missing"
)

var linkableNameLabels = map[string]bool{LabelNameExact: true, LabelNamePinyin: true, LabelNameFolded: true,
	LabelNameGivenJW: true, LabelNameMissingChar: true}

// LinkableNameSQL is an SQL condition over a pairs table (column g_name)
// that holds when the pair's name level may link: for PersonModel the
// levels listed above; for another model every level of its name
// comparison but the null and the last. It is "true" when the model has no
// name comparison.
func LinkableNameSQL(m *linkage.Model) string {
	for _, c := range m.Comparisons {
		if c.Name != CmpName {
			continue
		}
		var ok []string
		known := false
		for _, l := range c.Levels {
			known = known || linkableNameLabels[l.Label]
		}
		for j, l := range c.Levels {
			if known && linkableNameLabels[l.Label] && !l.Null || !known && !l.Null && j != len(c.Levels)-1 {
				ok = append(ok, fmt.Sprint(j))
			}
		}
		if len(ok) == 0 {
			return "false"
		}
		return fmt.Sprintf("coalesce(%s IN (%s), false)", linkage.Ident(linkage.GammaColumn(c.Name)), strings.Join(ok, ", "))
	}
	return "true"
}

// PersonModel returns the Fellegi-Sunter model for Chinese person records
// prepared by Prepare, with starting m and u values that are used as they
// are when there is too little data to train on. Comparisons and levels,
// most similar first:
//
//	name        exact (after folding; term-frequency adjusted) · same pinyin
//	            (张伟/章炜, term-frequency adjusted on the pinyin) · same
//	            dialect-folded pinyin (刘宁/牛玲) · same surname reading and
//	            Jaro-Winkler ≥ 0.92 on the given name's pinyin · one
//	            character missing · one character different · same given
//	            name under another surname · different
//	birth_date  exact · day and month transposed · one of year, month, day
//	            different · within 60 days (lunar/solar calendar) · different
//	gender      same · different
//	region      same village · township · county · prefecture · different
//	id_number   exact · within 2 edits · same first 14 digits (division and
//	            birth date; what survives spreadsheet damage) · different
//
// Blocking rules (a pair is compared when one holds):
//
//	same county and birth date
//	same folded pinyin and birth year
//	same folded pinyin and county
//	same pinyin initials and birth date
//	same pinyin initials and township
//	same first 14 ID digits
//
// Each rule is also an EM session that estimates the comparisons it does
// not block on. prior is λ, the probability that two random records match.
func PersonModel(prior float64) *linkage.Model {
	name := linkage.Comparison{
		Name:    CmpName,
		Columns: []string{"name_key", "py_key", "py_folded", "py_initials", "py_surname", "py_given"},
		Levels: []linkage.Level{
			{Label: "missing", When: "l.name_key IS NULL OR r.name_key IS NULL", Null: true},
			{Label: LabelNameExact, When: "l.name_key = r.name_key", TF: "name_key", M: 0.85, U: 0.0005},
			{Label: LabelNamePinyin, When: "l.py_key = r.py_key", TF: "py_key", M: 0.05, U: 0.0003},
			{Label: LabelNameFolded, When: "l.py_folded = r.py_folded", M: 0.01, U: 0.0005},
			{Label: LabelNameGivenJW, When: "l.py_surname = r.py_surname AND jaro_winkler_similarity(l.py_given, r.py_given) >= 0.92", M: 0.02, U: 0.001},
			{Label: LabelNameMissingChar, When: "l.py_surname = r.py_surname AND abs(length(l.name_key) - length(r.name_key)) = 1 AND levenshtein(l.name_key, r.name_key) <= 3", M: 0.02, U: 0.002},
			{Label: "one character different", When: "l.py_surname = r.py_surname AND length(l.name_key) = length(r.name_key) AND " +
				"len(list_filter(range(1, length(l.name_key) + 1), i -> substr(l.name_key, i, 1) <> substr(r.name_key, i, 1))) = 1", M: 0.02, U: 0.01},
			{Label: "same given name, other surname", When: "l.py_given = r.py_given AND l.py_surname <> r.py_surname", M: 0.005, U: 0.005},
			{Label: "different", M: 0.025, U: 0.9812},
		},
	}
	birth := linkage.Comparison{
		Name:    CmpBirth,
		Columns: []string{"birth_year"},
		Levels: []linkage.Level{
			{Label: "missing", When: "l.birth_date IS NULL OR r.birth_date IS NULL", Null: true},
			{Label: "exact", When: "l.birth_date = r.birth_date", M: 0.90, U: 0.00004},
			{Label: "day and month transposed", When: "year(l.birth_date) = year(r.birth_date) AND month(l.birth_date) = day(r.birth_date) AND day(l.birth_date) = month(r.birth_date)", M: 0.005, U: 0.000001},
			{Label: "one of year, month, day different", When: "(year(l.birth_date) = year(r.birth_date))::INT + (month(l.birth_date) = month(r.birth_date))::INT + (day(l.birth_date) = day(r.birth_date))::INT = 2", M: 0.05, U: 0.0025},
			{Label: "within 60 days", When: "abs(date_diff('day', l.birth_date, r.birth_date)) <= 60", M: 0.01, U: 0.004},
			{Label: "different", M: 0.035, U: 0.993459},
		},
	}
	gender := linkage.Comparison{
		Name: CmpGender,
		Levels: []linkage.Level{
			{Label: "missing", When: "l.gender IS NULL OR r.gender IS NULL", Null: true},
			{Label: "same", When: "l.gender = r.gender", M: 0.98, U: 0.5},
			{Label: "different", M: 0.02, U: 0.5},
		},
	}
	region := linkage.Comparison{
		Name:    CmpRegion,
		Columns: []string{"region4", "region6", "region9", "region12"},
		Levels: []linkage.Level{
			{Label: "missing", When: "l.region4 IS NULL OR r.region4 IS NULL", Null: true},
			{Label: "same village", When: "l.region12 = r.region12", M: 0.5, U: 0.0005},
			{Label: "same township", When: "l.region9 = r.region9", M: 0.2, U: 0.003},
			{Label: "same county", When: "l.region6 = r.region6", M: 0.2, U: 0.02},
			{Label: "same prefecture", When: "l.region4 = r.region4", M: 0.05, U: 0.1},
			{Label: "different", M: 0.05, U: 0.8765},
		},
	}
	id := linkage.Comparison{
		Name:    CmpID,
		Columns: []string{"id_full", "id_prefix"},
		Levels:  idLevels(),
	}
	return &linkage.Model{
		Comparisons: []linkage.Comparison{name, birth, gender, region, id},
		Blocking: []string{
			"l.region6 = r.region6 AND l.birth_date = r.birth_date",
			"l.py_folded = r.py_folded AND l.birth_year = r.birth_year",
			"l.py_folded = r.py_folded AND l.region6 = r.region6",
			"l.py_initials = r.py_initials AND l.birth_date = r.birth_date",
			"l.py_initials = r.py_initials AND l.region9 = r.region9",
			"l.id_prefix = r.id_prefix",
		},
		Prior: prior,
	}
}

// idLevels are the levels of the ID comparison with their fixed m values:
// the comparison only ever sees a damaged ID on one side (a usable ID
// links exactly), so m is the distribution of damage, not something the
// training pairs (whose IDs are intact) can show. u is estimated.
func idLevels() []linkage.Level {
	return []linkage.Level{
		{Label: "missing", When: "(l.id_full IS NULL AND l.id_prefix IS NULL) OR (r.id_full IS NULL AND r.id_prefix IS NULL)", Null: true},
		{Label: "exact", When: "l.id_full = r.id_full", M: 0.01, U: 1e-9},
		{Label: "within 2 edits", When: "levenshtein(l.id_full, r.id_full) <= 2", M: 0.6, U: 1e-7},
		{Label: "same first 14 digits", When: "l.id_prefix = r.id_prefix", M: 0.3, U: 3e-5},
		{Label: "different", M: 0.09, U: 0.99997},
	}
}
