// Package dates parses the calendar dates and payment periods found in
// departmental extracts: compact and separated numeric dates, Chinese
// 年月日 dates, Excel serial numbers and caller-supplied Go layouts.
//
// Every result is a UTC midnight time.Time; time-of-day parts are accepted
// and dropped. Parsing never panics; failures are *Error values (or ErrEmpty)
// with a machine-readable reason.
package dates

import (
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Format names one accepted date format. Besides the constants below, any Go
// time layout containing "2006" is a Format (e.g. "02/01/2006").
type Format string

// Known formats. Separated formats accept one- or two-digit months and days.
const (
	FormatAuto         Format = "auto"       // see Auto: every full-date format, year-months with a separator or 年月, 5-digit Excel serials
	FormatCompact      Format = "yyyymmdd"   // 19890101
	FormatDash         Format = "yyyy-mm-dd" // 1989-01-01, 1989-1-1
	FormatSlash        Format = "yyyy/m/d"   // 1989/1/1, 1989/01/01
	FormatDot          Format = "yyyy.m.d"   // 1989.1.1, 1989.01.01
	FormatChinese      Format = "yyyy年m月d日"  // 1989年1月1日, 1989年01月01日, 1989年1月1号
	FormatMonthCompact Format = "yyyymm"     // 198901 -> 1989-01-01; not in auto (six digits may be yymmdd)
	FormatMonthDash    Format = "yyyy-mm"    // 1989-01, 1989-1 -> 1989-01-01
	FormatMonthSlash   Format = "yyyy/m"     // 1989/1, 1989/01 -> 1989-01-01
	FormatMonthDot     Format = "yyyy.m"     // 1989.1, 1989.01 -> 1989-01-01
	FormatMonthChinese Format = "yyyy年m月"    // 1989年1月, 1989年01月, 1989年1月份 -> 1989-01-01
	FormatExcel        Format = "excel"      // serial day number, 1900 date system
)

// FormatDoc describes a named format for the documentation and for hints.
type FormatDoc struct {
	Format  Format
	Example string
	// Auto reports whether FormatAuto tries the format.
	Auto bool
}

// Formats lists the named formats with an example each, in the order
// FormatAuto tries them (formats outside auto last). docs/config.md is
// generated from it.
var Formats = []FormatDoc{
	{FormatCompact, "19890101", true},
	{FormatDash, "1989-01-01, 1989-1-1", true},
	{FormatSlash, "1989/1/1, 1989/01/01", true},
	{FormatDot, "1989.1.1", true},
	{FormatChinese, "1989年1月1日, 1989年01月01号", true},
	{FormatMonthDash, "1989-01, 1989-1 (the first day of the month)", true},
	{FormatMonthSlash, "1989/01, 1989/1 (the first day of the month)", true},
	{FormatMonthDot, "1989.01 (the first day of the month)", true},
	{FormatMonthChinese, "1989年1月, 1989年01月份 (the first day of the month)", true},
	{FormatExcel, "32509 (Excel serial day number); auto reads only 5-digit serials (1927-05-18 onwards)", true},
	{FormatMonthCompact, "198901 (the first day of the month); not in auto: six digits may also be yymmdd (891231) or a cut yyyymmdd", false},
}

// Reasons reported in Error.Reason.
const (
	ReasonUnrecognised  = "unrecognised_format" // no format matched the shape of the value
	ReasonBadCalendar   = "bad_calendar_date"   // the shape matched but the date does not exist (Feb 30, month 13, year 0)
	ReasonOutOfRange    = "out_of_range"        // Excel serial outside 1..2958465
	ReasonUnknownFormat = "unknown_format"      // a Format that ValidFormat rejects was requested
)

// MaxExcelSerial is the Excel serial number of 9999-12-31.
const MaxExcelSerial = 2958465

// ErrEmpty is returned for a value that is empty after trimming.
var ErrEmpty = errors.New("dates: empty value")

// Error describes a value that could not be parsed. Its message names the
// reason only: the value (often a birth date) is personal data and is kept
// in the Value field for callers that may show it.
type Error struct {
	Value  string // the input as given
	Reason string // one of the Reason constants
}

// Error implements error.
func (e *Error) Error() string {
	return "dates: " + e.Reason
}

// ValidFormat reports whether f is a known Format or a Go layout containing
// "2006".
func ValidFormat(f Format) bool {
	switch f {
	case FormatAuto, FormatCompact, FormatDash, FormatSlash, FormatDot, FormatChinese,
		FormatMonthCompact, FormatMonthDash, FormatMonthSlash, FormatMonthDot, FormatMonthChinese, FormatExcel:
		return true
	}
	return strings.Contains(string(f), "2006")
}

// autoFormats is what FormatAuto tries, in order. Year-months with a
// separator or 年月 are unambiguous and common in 人社 and 民政 extracts
// (待遇开始年月 2015-01): they mean the first day of the month. Six bare
// digits (198901) are left out: they may as well be a yymmdd date or a
// yyyymmdd cut short, so a source lists "yyyymm" when it means it.
var autoFormats = []Format{FormatCompact, FormatDash, FormatSlash, FormatDot, FormatChinese,
	FormatMonthDash, FormatMonthSlash, FormatMonthDot, FormatMonthChinese, formatAutoExcel}

// formatAutoExcel is the restricted Excel parser used by FormatAuto: 5
// digits, no fraction. Four digits are refused because "1989" is far more
// likely a bare year than the serial of 1905-06-11; list "excel"
// explicitly to read older serials.
const formatAutoExcel Format = "excel-auto"

// Parse parses s as a date, trying formats in order; nil, empty or
// FormatAuto mean the auto list (see FormatAuto). The value is cleaned
// first: surrounding whitespace, quotes and a leading apostrophe are
// removed, Unicode format characters are dropped, and NFKC folds full-width
// digits and punctuation. A trailing time part ("1989-01-01 00:00:00",
// "1989-01-01T00:00:00Z") is accepted and dropped.
//
// Excel serials use the 1900 date system including Lotus's phantom
// 1900-02-29: 1 is 1900-01-01, 59 is 1900-02-28, 60 is rejected, 61 is
// 1900-03-01. They are accepted only when FormatExcel is listed (1 up to
// 2958465, optional fraction) or, in auto mode, when the value has 5
// digits.
//
// The result is UTC midnight. Errors are ErrEmpty or *Error.
func Parse(s string, formats []Format) (time.Time, error) {
	v := clean(s)
	if v == "" {
		return time.Time{}, ErrEmpty
	}
	if len(formats) == 0 {
		formats = []Format{FormatAuto}
	}
	for _, f := range formats {
		if !ValidFormat(f) {
			return time.Time{}, &Error{Value: s, Reason: ReasonUnknownFormat}
		}
	}
	reason := ReasonUnrecognised
	try := func(f Format) (time.Time, bool) {
		t, r := parseOne(v, f)
		if r == "" {
			return t, true
		}
		if r != ReasonUnrecognised && reason == ReasonUnrecognised {
			reason = r
		}
		return time.Time{}, false
	}
	for _, f := range formats {
		if f == FormatAuto {
			for _, af := range autoFormats {
				if t, ok := try(af); ok {
					return t, nil
				}
			}
			continue
		}
		if t, ok := try(f); ok {
			return t, nil
		}
	}
	return time.Time{}, &Error{Value: s, Reason: reason}
}

// ParsePeriod parses a payment period and returns the first day of its month
// (UTC): "202405", "2024-05", "2024/5", "2024.5", "2024年5月", "2024年5月份",
// or any full date Parse accepts in auto mode except Excel serials
// ("2024-05-01", "20240517").
func ParsePeriod(s string) (time.Time, error) {
	v := clean(s)
	if v == "" {
		return time.Time{}, ErrEmpty
	}
	reason := ReasonUnrecognised
	if y, m, ok, r := parsePeriod(v); ok {
		if t, ok := makeDate(y, m, 1); ok {
			return t, nil
		}
		reason = ReasonBadCalendar
	} else if r != "" {
		reason = r
	}
	if reason == ReasonUnrecognised {
		for _, f := range autoFormats[:len(autoFormats)-1] {
			t, r := parseOne(v, f)
			if r == "" {
				return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC), nil
			}
			if r != ReasonUnrecognised {
				reason = r
				break
			}
		}
	}
	return time.Time{}, &Error{Value: s, Reason: reason}
}

// parsePeriod recognises the month-only shapes. ok reports success; on
// failure reason is "" when the shape did not match and ReasonBadCalendar
// when it matched with an impossible month.
func parsePeriod(v string) (y, m int, ok bool, reason string) {
	var ys, ms string
	switch {
	case len(v) == 6 && allDigits(v):
		ys, ms = v[:4], v[4:]
	case len(v) >= 6 && (v[4] == '-' || v[4] == '/' || v[4] == '.'):
		ys, ms = v[:4], v[5:]
	default:
		var found bool
		ys, ms, found = strings.Cut(v, "年")
		if !found {
			return 0, 0, false, ""
		}
		ms, found = strings.CutSuffix(strings.TrimSuffix(ms, "份"), "月")
		if !found {
			return 0, 0, false, ""
		}
		ys, ms = strings.TrimSpace(ys), strings.TrimSpace(ms)
	}
	if len(ys) != 4 || !allDigits(ys) || !shortNumber(ms) {
		return 0, 0, false, ""
	}
	y, m = atoi(ys), atoi(ms)
	if y < 1 || m < 1 || m > 12 {
		return 0, 0, false, ReasonBadCalendar
	}
	return y, m, true, ""
}

// clean trims and folds a raw value.
func clean(s string) string {
	if !isASCII(s) {
		s = strings.Map(func(r rune) rune {
			if unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
				return -1
			}
			return r
		}, s)
		s = norm.NFKC.String(s)
	}
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "'")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	return strings.TrimSpace(s)
}

// parseOne parses v with one format. It returns "" on success, otherwise a
// reason.
func parseOne(v string, f Format) (time.Time, string) {
	switch f {
	case FormatCompact:
		d, ok := cutTime(v)
		if !ok || len(d) != 8 || !allDigits(d) {
			return time.Time{}, ReasonUnrecognised
		}
		return ymd(atoi(d[:4]), atoi(d[4:6]), atoi(d[6:]))
	case FormatDash:
		return parseSeparated(v, '-')
	case FormatSlash:
		return parseSeparated(v, '/')
	case FormatDot:
		return parseSeparated(v, '.')
	case FormatChinese:
		return parseChinese(v)
	case FormatMonthCompact:
		if len(v) != 6 || !allDigits(v) {
			return time.Time{}, ReasonUnrecognised
		}
		return ymd(atoi(v[:4]), atoi(v[4:]), 1)
	case FormatMonthDash:
		return parseYearMonth(v, '-')
	case FormatMonthSlash:
		return parseYearMonth(v, '/')
	case FormatMonthDot:
		return parseYearMonth(v, '.')
	case FormatMonthChinese:
		ys, ms, ok := strings.Cut(v, "年")
		if !ok {
			return time.Time{}, ReasonUnrecognised
		}
		ms, ok = strings.CutSuffix(strings.TrimSuffix(ms, "份"), "月")
		ys, ms = strings.TrimSpace(ys), strings.TrimSpace(ms)
		if !ok || len(ys) != 4 || !allDigits(ys) || !shortNumber(ms) {
			return time.Time{}, ReasonUnrecognised
		}
		return ymd(atoi(ys), atoi(ms), 1)
	case FormatExcel:
		return parseExcel(v, false)
	case formatAutoExcel:
		return parseExcel(v, true)
	}
	// A Go layout (ValidFormat was checked by the caller).
	t, err := time.ParseInLocation(string(f), v, time.UTC)
	if err != nil {
		var pe *time.ParseError
		if errors.As(err, &pe) && strings.Contains(pe.Message, "out of range") {
			return time.Time{}, ReasonBadCalendar
		}
		return time.Time{}, ReasonUnrecognised
	}
	y, m, d := t.Date()
	return ymd(y, int(m), d)
}

// parseYearMonth parses yyyy<sep>m with a one- or two-digit month.
func parseYearMonth(v string, sep byte) (time.Time, string) {
	y, rest, ok := cutYear(v, sep)
	if !ok || !shortNumber(rest) {
		return time.Time{}, ReasonUnrecognised
	}
	return ymd(y, atoi(rest), 1)
}

// cutTime removes a trailing time of day introduced by a space or "T":
// "00:00:00", "0:00", "00:00:00.000", "00:00:00Z", "00:00:00+08:00",
// "12:00 PM". ok is false if something else follows the date.
func cutTime(v string) (string, bool) {
	i := strings.IndexAny(v, " T")
	if i < 0 {
		return v, true
	}
	return v[:i], isTimeOfDay(strings.TrimSpace(v[i+1:]))
}

func isTimeOfDay(t string) bool {
	if t == "" || t[0] < '0' || t[0] > '9' || !strings.Contains(t, ":") {
		return false
	}
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c >= '0' && c <= '9', c == ':', c == '.', c == '+', c == '-', c == 'Z', c == ' ',
			c == 'A', c == 'P', c == 'M', c == 'a', c == 'p', c == 'm':
		default:
			return false
		}
	}
	return true
}

// cutYear splits "yyyy<sep>rest".
func cutYear(v string, sep byte) (int, string, bool) {
	if len(v) < 5 || !allDigits(v[:4]) || v[4] != sep {
		return 0, "", false
	}
	return atoi(v[:4]), v[5:], true
}

// parseSeparated parses yyyy<sep>m<sep>d with one- or two-digit month and
// day and an optional time of day.
func parseSeparated(v string, sep byte) (time.Time, string) {
	d, ok := cutTime(v)
	if !ok {
		return time.Time{}, ReasonUnrecognised
	}
	y, rest, ok := cutYear(d, sep)
	if !ok {
		return time.Time{}, ReasonUnrecognised
	}
	ms, ds, ok := strings.Cut(rest, string(sep))
	if !ok || !shortNumber(ms) || !shortNumber(ds) {
		return time.Time{}, ReasonUnrecognised
	}
	return ymd(y, atoi(ms), atoi(ds))
}

// parseChinese parses yyyy年m月d日 (日 may be 号 or missing), with optional
// spaces around the parts and an optional time of day.
func parseChinese(v string) (time.Time, string) {
	ys, rest, ok := strings.Cut(v, "年")
	if !ok {
		return time.Time{}, ReasonUnrecognised
	}
	ms, rest, ok := strings.Cut(rest, "月")
	if !ok {
		return time.Time{}, ReasonUnrecognised
	}
	ds, tail := rest, ""
	if i := strings.IndexAny(rest, "日号"); i >= 0 {
		ds, tail = rest[:i], rest[i+len("日"):] // 日 and 号 are both 3 bytes
	} else if i := strings.IndexAny(rest, " T"); i >= 0 {
		ds, tail = rest[:i], rest[i+1:]
	}
	ys, ms, ds = strings.TrimSpace(ys), strings.TrimSpace(ms), strings.TrimSpace(ds)
	if tail = strings.TrimSpace(tail); tail != "" && !isTimeOfDay(strings.TrimPrefix(tail, "T")) {
		return time.Time{}, ReasonUnrecognised
	}
	if len(ys) != 4 || !allDigits(ys) || !shortNumber(ms) || !shortNumber(ds) {
		return time.Time{}, ReasonUnrecognised
	}
	return ymd(atoi(ys), atoi(ms), atoi(ds))
}

// parseExcel parses an Excel 1900-system serial number.
func parseExcel(v string, auto bool) (time.Time, string) {
	ip, frac, hasFrac := strings.Cut(v, ".")
	if !allDigits(ip) || (hasFrac && (auto || !allDigitsOrEmpty(frac))) {
		return time.Time{}, ReasonUnrecognised
	}
	if auto && len(ip) != 5 {
		return time.Time{}, ReasonUnrecognised
	}
	ip = strings.TrimLeft(ip, "0")
	if len(ip) > 7 {
		return time.Time{}, ReasonOutOfRange
	}
	n := atoi(ip)
	switch {
	case n < 1 || n > MaxExcelSerial:
		return time.Time{}, ReasonOutOfRange
	case n == 60:
		return time.Time{}, ReasonBadCalendar // Lotus's 1900-02-29
	case n < 60:
		return time.Date(1899, 12, 31+n, 0, 0, 0, 0, time.UTC), ""
	}
	return time.Date(1899, 12, 30+n, 0, 0, 0, 0, time.UTC), ""
}

// ExcelSerial returns the Excel 1900-system serial number of t's date, the
// inverse of the "excel" format (0 for dates outside 1900-01-01..9999-12-31).
func ExcelSerial(t time.Time) int {
	y, m, d := t.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if y < 1900 || y > 9999 {
		return 0
	}
	n := int((day.Unix() - time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).Unix()) / 86400)
	if n < 61 {
		n-- // before the phantom 1900-02-29
	}
	return n
}

// ymd validates a calendar date and returns it as UTC midnight.
func ymd(y, m, d int) (time.Time, string) {
	t, ok := makeDate(y, m, d)
	if !ok {
		return time.Time{}, ReasonBadCalendar
	}
	return t, ""
}

func makeDate(y, m, d int) (time.Time, bool) {
	if y < 1 || y > 9999 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), true
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

func shortNumber(s string) bool { return len(s) >= 1 && len(s) <= 2 && allDigits(s) }

func allDigits(s string) bool { return s != "" && allDigitsOrEmpty(s) }

func allDigitsOrEmpty(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s) && i < 9; i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// suggestLayouts are formats outside auto that Suggest tries: the compact
// year-month, full Excel serials and day- or month-first layouts.
var suggestLayouts = []Format{FormatMonthCompact, FormatExcel, "02/01/2006", "01/02/2006", "02.01.2006", "02-01-2006"}

// Suggest returns the formats, outside auto, that read s: what a source
// should list under formats when auto refuses its values. Empty when none
// does.
func Suggest(s string) []Format {
	v := clean(s)
	if v == "" {
		return nil
	}
	if _, err := Parse(v, nil); err == nil {
		return nil
	}
	var out []Format
	for _, f := range suggestLayouts {
		// A date outside 1880..2100 is not what a department meant.
		if t, r := parseOne(v, f); r == "" && t.Year() >= 1880 && t.Year() <= 2100 {
			out = append(out, f)
		}
	}
	return out
}
