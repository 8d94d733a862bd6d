// Package idnumber cleans, validates and repairs Chinese citizen identity
// numbers (公民身份号码, GB 11643-1999) and their 15-digit predecessors
// (GB 11643-1989).
//
// The package owns the canonical 18-character form used as a join key across
// all departmental extracts. It never panics on bad input: every string,
// however malformed, yields a Result with a Status and a machine Reason.
package idnumber

import (
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Status classifies the outcome of Normalize.
type Status string

// Status values. StatusRepaired is never produced by Normalize; the engine
// sets it after a registry-confirmed repair (see RepairCandidates).
const (
	StatusValid        Status = "valid"         // 18 chars, check char and embedded date OK
	StatusUpgraded     Status = "upgraded"      // was a valid 15-digit legacy number, upgraded to 18
	StatusRepaired     Status = "repaired"      // set by the engine after registry-confirmed repair (not by Normalize)
	StatusInvalid      Status = "invalid"       // anything else that is non-empty
	StatusExcelDamaged Status = "excel_damaged" // spreadsheet lost precision: scientific notation, trailing zeros, float value
	StatusMissing      Status = "missing"       // empty after cleaning
)

// Reason values reported in Result.Reason.
const (
	ReasonBadLength          = "bad_length"          // not 15 or 18 characters
	ReasonBadChars           = "bad_chars"           // characters other than digits (and a final X)
	ReasonBadCheckChar       = "bad_check_char"      // MOD 11-2 check character does not match
	ReasonBadDate            = "bad_date"            // embedded birth date is not a calendar date
	ReasonBirthOutOfRange    = "birth_out_of_range"  // birth date before 1880-01-01 or in the future
	ReasonBadProvince        = "bad_province"        // first two digits are not a province code
	ReasonScientificNotation = "scientific_notation" // e.g. 4.11502E+17
	ReasonTrailingZeros      = "trailing_zeros"      // Excel kept 15 significant digits and padded with 0
	ReasonFloatValue         = "float_value"         // e.g. 411502198001011234.0: went through a float, digits unreliable
)

// MinBirthYear is the earliest birth year accepted as plausible.
const MinBirthYear = 1880

// Result is the outcome of Normalize.
type Result struct {
	Canonical string // 18-char canonical form for valid/upgraded; the cleaned string otherwise ("" for missing)
	Status    Status
	Reason    string // short English machine reason for invalid/excel_damaged; "" when valid or upgraded
}

// OK reports whether r carries a usable canonical 18-character ID
// (valid, upgraded or repaired).
func (r Result) OK() bool {
	return r.Status == StatusValid || r.Status == StatusUpgraded || r.Status == StatusRepaired
}

var weights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const checkTable = "10X98765432"

// china is the zone used to decide whether a birth date lies in the future.
var china = time.FixedZone("CST", 8*3600)

// now is replaceable in tests.
var now = time.Now

// CheckChar returns the ISO 7064 MOD 11-2 check character ('0'-'9' or 'X')
// for the first 17 characters of an ID. body17 must be exactly 17 ASCII
// digits; otherwise CheckChar returns 0.
func CheckChar(body17 string) byte {
	if len(body17) != 17 {
		return 0
	}
	s := 0
	for i := 0; i < 17; i++ {
		c := body17[i]
		if c < '0' || c > '9' {
			return 0
		}
		s += int(c-'0') * weights[i]
	}
	return checkTable[s%11]
}

// Clean removes the typing and spreadsheet artefacts that surround ID numbers
// in government extracts, without judging validity: it applies NFKC (folding
// full-width digits and letters), removes all whitespace (including NBSP and
// U+3000), Unicode format characters (zero-width, BOM), ASCII and CJK quotes
// and apostrophes, leading "=" (Excel ="..." wrappers), upper-cases ASCII
// letters, and maps a look-alike X (× U+00D7, Cyrillic Х/х, Greek Χ/χ) in
// the last position to X. Already clean input is returned without
// allocating. Clean is idempotent.
func Clean(raw string) string {
	if isCleanASCII(raw) {
		return raw
	}
	// Fold full-width ASCII by hand and drop junk first: typical dirty input
	// is then plain ASCII and skips the comparatively slow NFKC.
	s := strings.Map(foldWidthDropJunk, raw)
	if !isASCII(s) {
		s = strings.Map(dropJunk, norm.NFKC.String(s))
		if !norm.NFKC.IsNormalString(s) {
			// Removing format characters can bring a base and a combining
			// mark together; normalise again so that Clean stays idempotent.
			s = strings.Map(dropJunk, norm.NFKC.String(s))
		}
	}
	s = strings.TrimLeft(s, "=")
	s = upperASCII(s)
	if r, size := utf8.DecodeLastRuneInString(s); size > 0 && isLookAlikeX(r) {
		s = s[:len(s)-size] + "X"
	}
	return s
}

// isCleanASCII reports whether s consists only of digits and upper-case X,
// which Clean returns unchanged.
func isCleanASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && c != 'X' {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			return strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' {
					return r - 'a' + 'A'
				}
				return r
			}, s)
		}
	}
	return s
}

// foldWidthDropJunk maps full-width ASCII (U+FF01-U+FF5E) to ASCII, as NFKC
// would, and then applies dropJunk.
func foldWidthDropJunk(r rune) rune {
	if r >= 0xff01 && r <= 0xff5e {
		r -= 0xff01 - '!'
	}
	return dropJunk(r)
}

// dropJunk is a strings.Map function removing whitespace, format characters
// and quotes.
func dropJunk(r rune) rune {
	switch r {
	case '"', '\'', '`', '\u00b4', // ASCII quotes, backtick, acute accent
		'\u2018', '\u2019', '\u201a', '\u201b', // ‘ ’ ‚ ‛
		'\u201c', '\u201d', '\u201e', '\u201f', // “ ” „ ‟
		'\u2032', '\u2033', // ′ ″
		'\u300c', '\u300d', '\u300e', '\u300f', // 「 」 『 』
		'\u00ab', '\u00bb', '\u2039', '\u203a', // « » ‹ ›
		utf8.RuneError:
		return -1
	}
	if unicode.IsSpace(r) || unicode.Is(unicode.Zs, r) || unicode.Is(unicode.Cf, r) {
		return -1
	}
	return r
}

func isLookAlikeX(r rune) bool {
	switch r {
	case '\u00d7', // × MULTIPLICATION SIGN
		'\u0425', '\u0445', // Cyrillic Х х
		'\u03a7', '\u03c7', // Greek Χ χ
		'\u2573': // ╳ BOX DRAWINGS LIGHT DIAGONAL CROSS
		return true
	}
	return false
}

// Normalize cleans raw (see Clean) and classifies it. 18-character numbers
// must have 17 digits, a matching MOD 11-2 check character, a real birth
// date between 1880-01-01 and today (China time), and a known province code
// (11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71, 81-83, or a leading 9 for
// the 2023 foreigner permanent-residence format). 15-digit legacy numbers
// with a real 19YYMMDD date and a known province are upgraded to 18.
// Spreadsheet damage (scientific notation, a failing 18-digit number ending
// in "000", a float rendering such as "411502198001011000.0") is reported as
// StatusExcelDamaged rather than StatusInvalid.
//
// For valid and upgraded results Canonical is the 18-character ID; otherwise
// it is the cleaned input.
func Normalize(raw string) Result {
	c := Clean(raw)
	if c == "" {
		return Result{Status: StatusMissing}
	}
	n := len(c)
	digits, xs := 0, 0
	for i := 0; i < n; i++ {
		switch b := c[i]; {
		case b >= '0' && b <= '9':
			digits++
		case b == 'X':
			xs++
		}
	}
	if digits+xs != n {
		return classifyOther(c)
	}
	switch n {
	case 18:
		if digits < 17 || !isDigits(c[:17]) {
			return invalid(c, ReasonBadChars)
		}
		reason := validate18(c)
		switch {
		case reason == "":
			return Result{Canonical: c, Status: StatusValid}
		case reason == ReasonBadCheckChar && strings.HasSuffix(c, "000"):
			return Result{Canonical: c, Status: StatusExcelDamaged, Reason: ReasonTrailingZeros}
		}
		return invalid(c, reason)
	case 15:
		if xs != 0 {
			return invalid(c, ReasonBadChars)
		}
		up, ok := Upgrade15(c)
		if !ok {
			return invalid(c, ReasonBadDate)
		}
		if !validProvince(c) {
			return invalid(c, ReasonBadProvince)
		}
		return Result{Canonical: up, Status: StatusUpgraded}
	}
	return invalid(c, ReasonBadLength)
}

func invalid(c, reason string) Result {
	return Result{Canonical: c, Status: StatusInvalid, Reason: reason}
}

// classifyOther handles cleaned strings that contain characters other than
// digits and X: spreadsheet renderings of numbers, or plain garbage.
func classifyOther(c string) Result {
	if isScientific(c) {
		return Result{Canonical: c, Status: StatusExcelDamaged, Reason: ReasonScientificNotation}
	}
	if intPart, ok := floatIntPart(c); ok {
		switch {
		case len(intPart) == 15:
			// 15 digits survive a float64 exactly: treat as the legacy number.
			r := Normalize(intPart)
			if r.OK() {
				return r
			}
			return Result{Canonical: c, Status: r.Status, Reason: r.Reason}
		case len(intPart) >= 16 && len(intPart) <= 18:
			// More than 15 significant digits went through a float: the
			// trailing digits are rounded. Accept only an 18-digit value that
			// validates completely and shows no rounding zeros.
			if len(intPart) == 18 && !strings.HasSuffix(intPart, "00") && validate18(intPart) == "" {
				return Result{Canonical: intPart, Status: StatusValid}
			}
			if strings.HasSuffix(intPart, "000") {
				return Result{Canonical: c, Status: StatusExcelDamaged, Reason: ReasonTrailingZeros}
			}
			return Result{Canonical: c, Status: StatusExcelDamaged, Reason: ReasonFloatValue}
		}
	}
	return invalid(c, ReasonBadChars)
}

// isScientific reports whether c looks like a number in scientific notation
// as Excel or a float formatter renders it: 4.11502E+17, 4.11502E17, 4E+17.
func isScientific(c string) bool {
	e := strings.IndexByte(c, 'E')
	if e <= 0 {
		return false
	}
	mant, exp := c[:e], c[e+1:]
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		if i == 0 || !isDigits(mant[:i]) || !isDigitsOrEmpty(mant[i+1:]) {
			return false
		}
	} else if !isDigits(mant) {
		return false
	}
	if exp != "" && (exp[0] == '+' || exp[0] == '-') {
		exp = exp[1:]
	}
	return isDigits(exp)
}

// ExcelValue returns the 18-digit number a spreadsheet rendering stands
// for, when that number is a valid ID: "4.11082194501039E+17" and
// "411082194501039000.0" give "411082194501039000". Excel keeps 15
// significant digits, so such a value is either a real ID ending in 000
// (check character 0, sequence x00) or another ID whose last digits were
// lost and that happens to pass the check (1 in 11). Normalize cannot tell
// them apart and reports StatusExcelDamaged; a registry that holds the
// number can, which is what the engine does with it. c is a value as
// Normalize's Canonical gives it for StatusExcelDamaged.
func ExcelValue(c string) (string, bool) {
	var digits string
	if isScientific(c) {
		e := strings.IndexByte(c, 'E')
		mant, exp := c[:e], strings.TrimPrefix(c[e+1:], "+")
		if !isDigits(exp) || atoi(exp) != 17 {
			return "", false
		}
		ip, frac, _ := strings.Cut(mant, ".")
		if len(ip) != 1 || len(frac) > 17 {
			return "", false
		}
		digits = ip + frac + strings.Repeat("0", 17-len(frac))
	} else if ip, ok := floatIntPart(c); ok && len(ip) == 18 {
		digits = ip
	}
	if !Valid(digits) {
		return "", false
	}
	return digits, true
}

// floatIntPart returns the digits before a ".0", ".00", … suffix.
func floatIntPart(c string) (string, bool) {
	i := strings.IndexByte(c, '.')
	if i <= 0 || i == len(c)-1 || !isDigits(c[:i]) {
		return "", false
	}
	for j := i + 1; j < len(c); j++ {
		if c[j] != '0' {
			return "", false
		}
	}
	return c[:i], true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	return isDigitsOrEmpty(s)
}

func isDigitsOrEmpty(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validate18 checks an 18-character string whose first 17 characters are
// ASCII digits. It returns "" when the ID is valid, otherwise the reason of
// the first failing check (check char, date, birth range, province).
func validate18(c string) string {
	if len(c) != 18 || !isDigits(c[:17]) {
		return ReasonBadChars
	}
	if CheckChar(c[:17]) != c[17] {
		return ReasonBadCheckChar
	}
	ymd := atoi(c[6:14])
	if !validDate(ymd/10000, ymd/100%100, ymd%100) {
		return ReasonBadDate
	}
	if ymd < MinBirthYear*10000+101 || !notFuture(ymd) {
		return ReasonBirthOutOfRange
	}
	if !validProvince(c) {
		return ReasonBadProvince
	}
	return ""
}

// Valid reports whether id is a canonical, fully valid 18-character ID
// (the checks of Normalize, without cleaning).
func Valid(id string) bool {
	return len(id) == 18 && validate18(id) == ""
}

// notFuture reports whether the date yyyymmdd is not after today in China.
// Dates before the cached day are in the past whatever the clock says now,
// which spares the clock read for almost every ID.
func notFuture(ymd int) bool {
	if e := todayCache.Load(); e != nil && ymd < e.ymd {
		return true
	}
	return ymd <= today()
}

// todayEntry caches today's date in China as yyyymmdd for the Unix-second
// interval [start, end).
type todayEntry struct {
	start, end int64
	ymd        int
}

var todayCache atomic.Pointer[todayEntry]

// today returns the current date in China as yyyymmdd. The date is cached
// per day so that Normalize does not pay for time-zone conversion per call.
func today() int {
	sec := now().Unix()
	if e := todayCache.Load(); e != nil && sec >= e.start && sec < e.end {
		return e.ymd
	}
	t := time.Unix(sec, 0).In(china)
	y, m, d := t.Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, china)
	e := &todayEntry{start: start.Unix(), end: start.AddDate(0, 0, 1).Unix(), ymd: y*10000 + int(m)*100 + d}
	todayCache.Store(e)
	return e.ymd
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func validDate(y, m, d int) bool {
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	return d <= daysIn(y, m)
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// validProvince reports whether the first two digits of id form a province
// code, or the first digit is 9 (2023 foreigner permanent residence card).
func validProvince(id string) bool {
	if len(id) < 2 {
		return false
	}
	a, b := id[0], id[1]
	if a < '0' || a > '9' || b < '0' || b > '9' {
		return false
	}
	if a == '9' {
		return true
	}
	p := int(a-'0')*10 + int(b-'0')
	switch {
	case p >= 11 && p <= 15, p >= 21 && p <= 23, p >= 31 && p <= 37,
		p >= 41 && p <= 46, p >= 50 && p <= 54, p >= 61 && p <= 65,
		p == 71, p >= 81 && p <= 83:
		return true
	}
	return false
}

// ValidProvince reports whether the first two characters of id are a
// province-level code accepted by Normalize.
func ValidProvince(id string) bool { return validProvince(id) }

// Upgrade15 converts a 15-digit GB 11643-1989 number to 18 characters by
// inserting "19" after the 6-digit address code and appending the check
// character. It returns false if id15 is not 15 ASCII digits or its
// 19YYMMDD birth date is not a calendar date.
func Upgrade15(id15 string) (string, bool) {
	if len(id15) != 15 || !isDigits(id15) {
		return "", false
	}
	ymd := atoi(id15[6:12])
	if !validDate(1900+ymd/10000, ymd/100%100, ymd%100) {
		return "", false
	}
	var b [18]byte
	copy(b[:6], id15[:6])
	b[6], b[7] = '1', '9'
	copy(b[8:17], id15[6:])
	b[17] = CheckChar(string(b[:17]))
	return string(b[:]), true
}

// BirthDate returns the birth date (UTC midnight) embedded in a canonical
// 18-character ID. ok is false if id18 is not 18 characters or the date
// digits do not form a calendar date. It does not verify the check char.
func BirthDate(id18 string) (time.Time, bool) {
	if len(id18) != 18 || !isDigits(id18[6:14]) {
		return time.Time{}, false
	}
	ymd := atoi(id18[6:14])
	y, m, d := ymd/10000, ymd/100%100, ymd%100
	if !validDate(y, m, d) {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), true
}

// Male reports the sex encoded in a canonical 18-character ID: the 17th
// digit is odd for men and even for women. ok is false if id18 is not 18
// characters or the 17th character is not a digit.
func Male(id18 string) (male, ok bool) {
	if len(id18) != 18 {
		return false, false
	}
	c := id18[16]
	if c < '0' || c > '9' {
		return false, false
	}
	return (c-'0')%2 == 1, true
}
