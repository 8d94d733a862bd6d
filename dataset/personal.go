package dataset

import (
	"strings"
	"unicode/utf8"

	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// Personal says which kind of personal identifier a canonical column
// holds. It is declared here, once per canonical column, and decides what
// is masked in exports, evidence and the review pages: personal
// identifiers only, so that payment serials (流水号), region codes and
// household numbers (户号) stay readable for the reviewer.
type Personal string

// The kinds of personal identifiers.
const (
	NotPersonal Personal = ""
	PersonalID  Personal = "id"      // citizen ID number, certificate numbers built on it
	Account     Personal = "account" // bank account, card number
	Phone       Personal = "phone"   // telephone number
	// PersonName is a person's name: masked only where the job's
	// output.mask_names says so.
	PersonName Personal = "name"
)

// ValidPersonal reports whether p is a known kind ("" included).
func ValidPersonal(p Personal) bool {
	switch p {
	case NotPersonal, PersonalID, Account, Phone, PersonName:
		return true
	}
	return false
}

// PersonalKind returns what kind of personal identifier the column holds:
// its declared Personal, else PersonalID for an ID column and PersonName
// for a name column.
func (c Column) PersonalKind() Personal {
	if c.Personal != NotPersonal {
		return c.Personal
	}
	switch c.Kind {
	case ID:
		return PersonalID
	case Name:
		return PersonName
	}
	return NotPersonal
}

// Masked reports whether values of kind p are masked; names only when
// maskNames is set.
func (p Personal) Masked(maskNames bool) bool {
	switch p {
	case PersonalID, Account, Phone:
		return true
	case PersonName:
		return maskNames
	}
	return false
}

// Mask hides a personal value of kind p for display: ID numbers and
// accounts keep their first 6 and last 4 characters (410102********1234),
// phone numbers their first 3 and last 4 (138****5678), names their first
// character (张*). Other values are returned as they are.
func (p Personal) Mask(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return v
	}
	switch p {
	case PersonalID, Account:
		return idnumber.Mask(v)
	case Phone:
		n := utf8.RuneCountInString(v)
		if n < 8 {
			return idnumber.Mask(v)
		}
		r := []rune(v)
		for i := 3; i < n-4; i++ {
			r[i] = '*'
		}
		return string(r)
	case PersonName:
		r := []rune(v)
		for i := 1; i < len(r); i++ {
			r[i] = '*'
		}
		return string(r)
	}
	return v
}
