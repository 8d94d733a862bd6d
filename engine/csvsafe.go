package engine

import "regexp"

// plainNumber is a decimal number as crosscheck writes amounts: a negative
// amount such as -12.50 is a number to Excel, not a formula.
var plainNumber = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// safeCell neutralises a CSV cell that Excel or LibreOffice would read as
// a formula, following OWASP's CSV-injection guidance: a cell starting
// with =, +, -, @, tab or carriage return gets a leading single quote, so
// `=HYPERLINK("http://x","y")` shows as text. Plain decimal numbers
// (negative amounts) stay numbers. Parquet files keep the raw values, and
// `crosscheck run --raw-cells` writes CSV cells verbatim.
func safeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
	default:
		return s
	}
	if plainNumber.MatchString(s) {
		return s
	}
	return "'" + s
}

// safeRecord applies safeCell to every cell of a record in place.
func safeRecord(rec []string) []string {
	for i, v := range rec {
		rec[i] = safeCell(v)
	}
	return rec
}
