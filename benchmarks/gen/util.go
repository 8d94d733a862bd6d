package gen

import (
	"strconv"
	"unicode/utf8"
)

// day is a calendar date as days since 1970-01-01 plus dayOffset, so
// that 0 never is a date and means "none".
type day int32

const dayOffset = 1 << 20

// date32 is the Arrow date (days since 1970-01-01).
func (t day) date32() int32 { return int32(t) - dayOffset }

// mkday returns the day of a Gregorian date.
func mkday(y, m, d int) day {
	// Howard Hinnant's days_from_civil.
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return day(era*146097 + doe - 719468 + dayOffset)
}

// ymd returns the Gregorian date of a day.
func (t day) ymd() (y, m, d int) {
	z := int(t) - dayOffset + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return
}

func (t day) year() int { y, _, _ := t.ymd(); return y }

// monthStart returns the first day of t's month.
func (t day) monthStart() day {
	y, m, _ := t.ymd()
	return mkday(y, m, 1)
}

// addMonths returns the first day of the month n months after t's month.
func (t day) addMonths(n int) day {
	y, m, _ := t.ymd()
	m += n
	for m > 12 {
		m -= 12
		y++
	}
	for m < 1 {
		m += 12
		y--
	}
	return mkday(y, m, 1)
}

// ageAt is the age in whole years on ref, as the engine computes it.
func ageAt(birth, ref day) int {
	by, bm, bd := birth.ymd()
	ry, rm, rd := ref.ymd()
	a := ry - by
	if rm < bm || (rm == bm && rd < bd) {
		a--
	}
	return a
}

// Date styles of the departmental extracts.
const (
	styleCompact = iota // 19890101
	styleDash           // 1989-01-01
	styleSlash          // 1989/1/1
	styleChinese        // 1989年1月1日
	styleDot            // 1989.1.1
	styleMonth          // 198901
)

func appendInt(b []byte, n, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], int64(n), 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendDate writes t in a style; nothing for day 0.
func appendDate(b []byte, t day, style int) []byte {
	if t == 0 {
		return b
	}
	y, m, d := t.ymd()
	switch style {
	case styleCompact:
		b = appendInt(b, y, 4)
		b = appendInt(b, m, 2)
		return appendInt(b, d, 2)
	case styleDash:
		b = appendInt(b, y, 4)
		b = append(b, '-')
		b = appendInt(b, m, 2)
		b = append(b, '-')
		return appendInt(b, d, 2)
	case styleSlash:
		b = appendInt(b, y, 4)
		b = append(b, '/')
		b = appendInt(b, m, 1)
		b = append(b, '/')
		return appendInt(b, d, 1)
	case styleChinese:
		b = appendInt(b, y, 4)
		b = append(b, "年"...)
		b = appendInt(b, m, 1)
		b = append(b, "月"...)
		b = appendInt(b, d, 1)
		return append(b, "日"...)
	case styleDot:
		b = appendInt(b, y, 4)
		b = append(b, '.')
		b = appendInt(b, m, 1)
		b = append(b, '.')
		return appendInt(b, d, 1)
	case styleMonth:
		b = appendInt(b, y, 4)
		return appendInt(b, m, 2)
	}
	return b
}

func dateString(t day, style int) string { return string(appendDate(nil, t, style)) }

// appendMoney writes x with two decimals.
func appendMoney(b []byte, x float64) []byte {
	return strconv.AppendFloat(b, x, 'f', 2, 64)
}

// csvRow accumulates one CSV line with RFC 4180 quoting.
type csvRow struct {
	b     []byte
	first bool
}

func (r *csvRow) start(b []byte) { r.b = b; r.first = true }

func needsQuote(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '"', '\n', '\r':
			return true
		}
	}
	return len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[len(s)-1] == ' ' || s[len(s)-1] == '\t')
}

func (r *csvRow) sep() {
	if !r.first {
		r.b = append(r.b, ',')
	}
	r.first = false
}

func (r *csvRow) str(s string) {
	r.sep()
	if !needsQuote(s) {
		r.b = append(r.b, s...)
		return
	}
	r.b = append(r.b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			r.b = append(r.b, '"')
		}
		r.b = append(r.b, s[i])
	}
	r.b = append(r.b, '"')
}

func (r *csvRow) date(t day, style int) { r.sep(); r.b = appendDate(r.b, t, style) }
func (r *csvRow) money(x float64)       { r.sep(); r.b = appendMoney(r.b, x) }
func (r *csvRow) int(n int)             { r.sep(); r.b = strconv.AppendInt(r.b, int64(n), 10) }
func (r *csvRow) end() []byte           { return append(r.b, '\n') }

func runeCount(s string) int { return utf8.RuneCountInString(s) }
