package dates

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func day(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		formats []Format
		want    time.Time
		reason  string // "" = success; "empty" = ErrEmpty
	}{
		// Auto.
		{"compact", "19890101", nil, day(1989, 1, 1), ""},
		{"dash", "1989-01-01", nil, day(1989, 1, 1), ""},
		{"slash", "1989/1/1", nil, day(1989, 1, 1), ""},
		{"slash padded", "1989/01/01", nil, day(1989, 1, 1), ""},
		{"chinese", "1989年1月1日", nil, day(1989, 1, 1), ""},
		{"chinese padded", "1989年01月01日", nil, day(1989, 1, 1), ""},
		{"chinese hao", "1989年1月1号", nil, day(1989, 1, 1), ""},
		{"chinese no ri", "1989年1月1", nil, day(1989, 1, 1), ""},
		{"chinese spaced", "1989 年 1 月 1 日", nil, day(1989, 1, 1), ""},
		{"chinese full-width", "１９８９年１２月３１日", nil, day(1989, 12, 31), ""},
		{"chinese with time", "1989年1月1日 08:30:00", nil, day(1989, 1, 1), ""},
		{"dash single digits", "1989-1-1", nil, day(1989, 1, 1), ""},
		{"dash mixed digits", "1989-12-3", nil, day(1989, 12, 3), ""},
		{"dot", "1989.1.1", nil, day(1989, 1, 1), ""},
		{"full-width compact", "１９８９０１０１", nil, day(1989, 1, 1), ""},
		{"full-width dash", "１９８９－０１－０１", nil, day(1989, 1, 1), ""},
		{"full-width slash", "１９８９／１／１", nil, day(1989, 1, 1), ""},
		{"with time", "1989-01-01 00:00:00", nil, day(1989, 1, 1), ""},
		{"with T time", "1989-01-01T00:00:00", nil, day(1989, 1, 1), ""},
		{"with T time zone", "1989-01-01T23:59:59+08:00", nil, day(1989, 1, 1), ""},
		{"with T time Z", "1989-01-01T00:00:00.000Z", nil, day(1989, 1, 1), ""},
		{"slash with short time", "1989/1/1 0:00", nil, day(1989, 1, 1), ""},
		{"slash with am pm", "1989/1/1 12:00:00 AM", nil, day(1989, 1, 1), ""},
		{"compact with time", "19890101 00:00:00", nil, day(1989, 1, 1), ""},
		{"surrounding space", "  1989-01-01\u3000", nil, day(1989, 1, 1), ""},
		{"apostrophe", "'19890101", nil, day(1989, 1, 1), ""},
		{"quoted", `"1989-01-01"`, nil, day(1989, 1, 1), ""},
		{"zero width", "1989\u200b-01-01", nil, day(1989, 1, 1), ""},
		{"leap day", "2000-02-29", nil, day(2000, 2, 29), ""},
		{"auto explicit", "1989-01-01", []Format{FormatAuto}, day(1989, 1, 1), ""},
		{"auto year-month dash", "2015-01", nil, day(2015, 1, 1), ""},
		{"auto year-month dash single", "2015-1", nil, day(2015, 1, 1), ""},
		{"auto year-month slash", "2015/01", nil, day(2015, 1, 1), ""},
		{"auto year-month dot", "2015.10", nil, day(2015, 10, 1), ""},
		{"auto year-month chinese", "2015年01月", nil, day(2015, 1, 1), ""},
		{"auto year-month chinese 份", "2015年1月份", nil, day(2015, 1, 1), ""},
		{"auto year-month full width", "２０１５－０１", nil, day(2015, 1, 1), ""},
		{"month slash", "2015/1", []Format{FormatMonthSlash}, day(2015, 1, 1), ""},
		{"month chinese", "2015年12月", []Format{FormatMonthChinese}, day(2015, 12, 1), ""},
		{"auto then yyyymm", "201501", []Format{FormatAuto, FormatMonthCompact}, day(2015, 1, 1), ""},
		{"auto excel 5 digits", "32874", nil, day(1990, 1, 1), ""},
		{"auto refuses 4 digits (a year, not a serial)", "1000", nil, time.Time{}, ReasonUnrecognised},

		// Rejections.
		{"feb 30 compact", "19890230", nil, time.Time{}, ReasonBadCalendar},
		{"feb 29 non-leap", "1900-02-29", nil, time.Time{}, ReasonBadCalendar},
		{"month 13", "1989-13-01", nil, time.Time{}, ReasonBadCalendar},
		{"day 32 chinese", "1989年1月32日", nil, time.Time{}, ReasonBadCalendar},
		{"year zero", "0000-01-01", nil, time.Time{}, ReasonBadCalendar},
		{"zero date", "0000-00-00", nil, time.Time{}, ReasonBadCalendar},
		{"abc", "abc", nil, time.Time{}, ReasonUnrecognised},
		{"two digit year", "89-01-01", nil, time.Time{}, ReasonUnrecognised},
		{"three digit day", "1989-01-001", nil, time.Time{}, ReasonUnrecognised},
		{"mixed separators", "1989-01/01", nil, time.Time{}, ReasonUnrecognised},
		{"trailing garbage", "1989-01-01x", nil, time.Time{}, ReasonUnrecognised},
		{"trailing word", "1989-01-01 noon", nil, time.Time{}, ReasonUnrecognised},
		{"auto excel 6 digits", "123456", nil, time.Time{}, ReasonUnrecognised},
		{"auto excel 3 digits", "999", nil, time.Time{}, ReasonUnrecognised},
		{"auto excel fraction", "32874.5", nil, time.Time{}, ReasonUnrecognised},
		{"auto yyyymm not included", "198901", nil, time.Time{}, ReasonUnrecognised},
		{"auto month 13", "2015-13", nil, time.Time{}, ReasonBadCalendar},
		{"auto month 0 chinese", "2015年0月", nil, time.Time{}, ReasonBadCalendar},
		{"auto three-digit month", "2015-001", nil, time.Time{}, ReasonUnrecognised},
		{"auto year-month with time", "2015-01 00:00", nil, time.Time{}, ReasonUnrecognised},
		{"empty", "", nil, time.Time{}, "empty"},
		{"blank", " \u3000\t", nil, time.Time{}, "empty"},
		{"quotes only", `""`, nil, time.Time{}, "empty"},

		// Excel.
		{"excel 32874", "32874", []Format{FormatExcel}, day(1990, 1, 1), ""},
		{"excel 1", "1", []Format{FormatExcel}, day(1900, 1, 1), ""},
		{"excel 59", "59", []Format{FormatExcel}, day(1900, 2, 28), ""},
		{"excel 60 phantom", "60", []Format{FormatExcel}, time.Time{}, ReasonBadCalendar},
		{"excel 61", "61", []Format{FormatExcel}, day(1900, 3, 1), ""},
		{"excel max", "2958465", []Format{FormatExcel}, day(9999, 12, 31), ""},
		{"excel over max", "2958466", []Format{FormatExcel}, time.Time{}, ReasonOutOfRange},
		{"excel zero", "0", []Format{FormatExcel}, time.Time{}, ReasonOutOfRange},
		{"excel huge", "99999999999999999999", []Format{FormatExcel}, time.Time{}, ReasonOutOfRange},
		{"excel fraction", "32874.75", []Format{FormatExcel}, day(1990, 1, 1), ""},
		{"excel trailing dot", "32874.", []Format{FormatExcel}, day(1990, 1, 1), ""},
		{"excel leading zeros", "0032874", []Format{FormatExcel}, day(1990, 1, 1), ""},
		{"excel negative", "-5", []Format{FormatExcel}, time.Time{}, ReasonUnrecognised},
		{"excel full-width", "３２８７４", []Format{FormatExcel}, day(1990, 1, 1), ""},
		{"excel not date", "1989-01-01", []Format{FormatExcel}, time.Time{}, ReasonUnrecognised},

		// Explicit formats and order.
		{"compact only rejects dash", "1989-01-01", []Format{FormatCompact}, time.Time{}, ReasonUnrecognised},
		{"dash only", "1989-1-1", []Format{FormatDash}, day(1989, 1, 1), ""},
		{"slash only rejects dash", "1989-1-1", []Format{FormatSlash}, time.Time{}, ReasonUnrecognised},
		{"chinese only", "1989年1月1日", []Format{FormatChinese}, day(1989, 1, 1), ""},
		{"dot only", "1989.01.01", []Format{FormatDot}, day(1989, 1, 1), ""},
		{"month compact", "198901", []Format{FormatMonthCompact}, day(1989, 1, 1), ""},
		{"month compact bad", "198913", []Format{FormatMonthCompact}, time.Time{}, ReasonBadCalendar},
		{"month dash", "1989-01", []Format{FormatMonthDash}, day(1989, 1, 1), ""},
		{"month dash single", "1989-1", []Format{FormatMonthDash}, day(1989, 1, 1), ""},
		{"month dash bad", "1989-00", []Format{FormatMonthDash}, time.Time{}, ReasonBadCalendar},
		{"excel then compact", "19890101", []Format{FormatExcel, FormatCompact}, day(1989, 1, 1), ""},
		{"compact then excel", "32874", []Format{FormatCompact, FormatExcel}, day(1990, 1, 1), ""},
		{"bad calendar wins over unrecognised", "19890230", []Format{FormatDash, FormatCompact}, time.Time{}, ReasonBadCalendar},

		// Go layouts.
		{"go layout dmy", "31/12/1989", []Format{"02/01/2006"}, day(1989, 12, 31), ""},
		{"go layout with time", "1989-12-31 23:59", []Format{"2006-01-02 15:04"}, day(1989, 12, 31), ""},
		{"go layout zone keeps written date", "1989-12-31T23:00:00-05:00", []Format{time.RFC3339}, day(1989, 12, 31), ""},
		{"go layout bad day", "30/02/1989", []Format{"02/01/2006"}, time.Time{}, ReasonBadCalendar},
		{"go layout mismatch", "1989-12-31", []Format{"02/01/2006"}, time.Time{}, ReasonUnrecognised},
		{"go layout year zero", "0000-01-01", []Format{"2006-01-02"}, time.Time{}, ReasonBadCalendar},

		// Unknown formats.
		{"unknown format", "1989-01-01", []Format{"dd/mm/yyyy"}, time.Time{}, ReasonUnknownFormat},
		{"unknown format after good", "1989-01-01", []Format{FormatDash, "nonsense"}, time.Time{}, ReasonUnknownFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in, tt.formats)
			switch tt.reason {
			case "":
				if err != nil {
					t.Fatalf("Parse(%q, %v) error %v", tt.in, tt.formats, err)
				}
				if !got.Equal(tt.want) || got.Location() != time.UTC {
					t.Errorf("Parse(%q, %v) = %v, want %v", tt.in, tt.formats, got, tt.want)
				}
			case "empty":
				if !errors.Is(err, ErrEmpty) {
					t.Errorf("Parse(%q) error = %v, want ErrEmpty", tt.in, err)
				}
			default:
				var pe *Error
				if !errors.As(err, &pe) {
					t.Fatalf("Parse(%q, %v) = %v, %v; want *Error %s", tt.in, tt.formats, got, err, tt.reason)
				}
				if pe.Reason != tt.reason || pe.Value != tt.in {
					t.Errorf("Parse(%q, %v) error = %+v, want reason %s", tt.in, tt.formats, pe, tt.reason)
				}
				if !got.IsZero() {
					t.Errorf("Parse(%q) returned non-zero time %v with error", tt.in, got)
				}
			}
		})
	}
}

func TestParsePeriod(t *testing.T) {
	tests := []struct {
		in     string
		want   time.Time
		reason string
	}{
		{"202405", day(2024, 5, 1), ""},
		{"2024-05", day(2024, 5, 1), ""},
		{"2024-5", day(2024, 5, 1), ""},
		{"2024/5", day(2024, 5, 1), ""},
		{"2024/05", day(2024, 5, 1), ""},
		{"2024.5", day(2024, 5, 1), ""},
		{"2024年5月", day(2024, 5, 1), ""},
		{"2024年05月", day(2024, 5, 1), ""},
		{"2024年5月份", day(2024, 5, 1), ""},
		{"２０２４年５月", day(2024, 5, 1), ""},
		{" 2024 年 5 月 ", day(2024, 5, 1), ""},
		{"2024-05-01", day(2024, 5, 1), ""},
		{"2024-05-17", day(2024, 5, 1), ""},
		{"20240517", day(2024, 5, 1), ""},
		{"2024年5月17日", day(2024, 5, 1), ""},
		{"2024-05-01 00:00:00", day(2024, 5, 1), ""},
		{"202413", time.Time{}, ReasonBadCalendar},
		{"2024-00", time.Time{}, ReasonBadCalendar},
		{"2024年13月", time.Time{}, ReasonBadCalendar},
		{"2024-02-30", time.Time{}, ReasonBadCalendar},
		{"2024", time.Time{}, ReasonUnrecognised},
		{"45413", time.Time{}, ReasonUnrecognised},
		{"May 2024", time.Time{}, ReasonUnrecognised},
		{"2024-", time.Time{}, ReasonUnrecognised},
		{"2024-123", time.Time{}, ReasonUnrecognised},
		{"2024年", time.Time{}, ReasonUnrecognised},
		{"年5月", time.Time{}, ReasonUnrecognised},
		{"", time.Time{}, "empty"},
	}
	for _, tt := range tests {
		got, err := ParsePeriod(tt.in)
		switch tt.reason {
		case "":
			if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("ParsePeriod(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
			}
		case "empty":
			if !errors.Is(err, ErrEmpty) {
				t.Errorf("ParsePeriod(%q) error = %v, want ErrEmpty", tt.in, err)
			}
		default:
			var pe *Error
			if !errors.As(err, &pe) || pe.Reason != tt.reason {
				t.Errorf("ParsePeriod(%q) = %v, %v, want reason %s", tt.in, got, err, tt.reason)
			}
		}
	}
}

func TestValidFormat(t *testing.T) {
	tests := []struct {
		f    Format
		want bool
	}{
		{FormatAuto, true}, {FormatCompact, true}, {FormatDash, true}, {FormatSlash, true},
		{FormatDot, true}, {FormatChinese, true}, {FormatMonthCompact, true}, {FormatMonthDash, true},
		{FormatMonthSlash, true}, {FormatMonthDot, true}, {FormatMonthChinese, true},
		{FormatExcel, true}, {"2006-01-02", true}, {"02.01.2006", true}, {time.RFC3339, true},
		{"", false}, {"dd/mm/yyyy", false}, {"excel-auto", false}, {"YYYYMMDD", false},
	}
	for _, tt := range tests {
		if got := ValidFormat(tt.f); got != tt.want {
			t.Errorf("ValidFormat(%q) = %v, want %v", tt.f, got, tt.want)
		}
	}
}

func TestExcelSerial(t *testing.T) {
	tests := []struct {
		t    time.Time
		want int
	}{
		{day(1900, 1, 1), 1},
		{day(1900, 2, 28), 59},
		{day(1900, 3, 1), 61},
		{day(1990, 1, 1), 32874},
		{day(9999, 12, 31), MaxExcelSerial},
		{day(1899, 12, 31), 0},
		{time.Date(1990, 1, 1, 18, 0, 0, 0, time.UTC), 32874},
	}
	for _, tt := range tests {
		if got := ExcelSerial(tt.t); got != tt.want {
			t.Errorf("ExcelSerial(%v) = %d, want %d", tt.t, got, tt.want)
		}
	}
	// Round trip over every serial.
	for n := 1; n <= MaxExcelSerial; n += 7 {
		if n == 60 {
			continue
		}
		d, err := Parse(itoa(n), []Format{FormatExcel})
		if err != nil {
			t.Fatalf("Parse(%d, excel): %v", n, err)
		}
		if got := ExcelSerial(d); got != n {
			t.Fatalf("ExcelSerial(Parse(%d)) = %d", n, got)
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}

func TestErrorMessage(t *testing.T) {
	_, err := Parse("19890230", nil)
	if err == nil || err.Error() != "dates: bad_calendar_date" {
		t.Errorf("error message = %v", err)
	}
}

var fuzzFormats = [][]Format{
	nil,
	{FormatExcel},
	{FormatCompact, FormatDash},
	{FormatChinese},
	{FormatMonthCompact, FormatMonthDash},
	{"02/01/2006"},
	{time.RFC3339, FormatAuto},
	{FormatSlash, FormatDot, FormatExcel},
}

func FuzzParse(f *testing.F) {
	for i, s := range []string{
		"", "19890101", "1989-01-01", "1989/1/1", "1989年1月1日", "1989-1-1", "32874", "19890230", "abc",
		"1989-01-01 00:00:00", "1989-01-01T00:00:00", "１９８９年１月１日", "60", "2958465", "202405",
		"31/12/1989", "0000-01-01", "9999-12-31", "1989年1月1号 08:00", "'19890101", "\"\"",
	} {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, s string, which uint8) {
		formats := fuzzFormats[int(which)%len(fuzzFormats)]
		got, err := Parse(s, formats)
		if err != nil {
			var pe *Error
			if !errors.Is(err, ErrEmpty) && (!errors.As(err, &pe) || pe.Reason == "" || pe.Value != s) {
				t.Fatalf("Parse(%q, %v) returned unexpected error %#v", s, formats, err)
			}
			if !got.IsZero() {
				t.Fatalf("Parse(%q) returned %v with error", s, got)
			}
		} else {
			assertDate(t, s, got)
		}
		if p, err := ParsePeriod(s); err == nil {
			assertDate(t, s, p)
			if p.Day() != 1 {
				t.Fatalf("ParsePeriod(%q) = %v, not the first of a month", s, p)
			}
		}
	})
}

// assertDate checks that got is a UTC midnight that survives a round trip
// through yyyy-mm-dd.
func assertDate(t *testing.T, s string, got time.Time) {
	t.Helper()
	if got.Location() != time.UTC || got.Hour() != 0 || got.Minute() != 0 || got.Second() != 0 || got.Nanosecond() != 0 {
		t.Fatalf("Parse(%q) = %v, not UTC midnight", s, got)
	}
	iso := got.Format("2006-01-02")
	back, err := Parse(iso, nil)
	if err != nil || !back.Equal(got) {
		t.Fatalf("Parse(%q) = %v; re-parse of %q = %v, %v", s, got, iso, back, err)
	}
	back, err = Parse(got.Format("20060102"), []Format{FormatCompact})
	if err != nil || !back.Equal(got) {
		t.Fatalf("compact round trip of %v = %v, %v", got, back, err)
	}
}

func BenchmarkParse(b *testing.B) {
	cases := []struct{ name, in string }{
		{"compact", "19890101"},
		{"dash", "1989-01-01"},
		{"chinese", "1989年1月1日"},
		{"excel", "32874"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.in)))
			for b.Loop() {
				_, _ = Parse(c.in, nil)
			}
		})
	}
}

// A bare year must not be read as an Excel serial in auto mode.
func TestAutoRejectsBareYear(t *testing.T) {
	if got, err := Parse("1989", nil); err == nil {
		t.Errorf("Parse(1989) = %v, want an error", got)
	}
	if got, err := Parse("1989", []Format{FormatExcel}); err != nil || got.Year() != 1905 {
		t.Errorf("explicit excel: got %v, %v", got, err)
	}
	if got, err := Parse("32874", nil); err != nil || got.Format("2006-01-02") != "1990-01-01" {
		t.Errorf("5-digit serial in auto mode: got %v, %v", got, err)
	}
}

// Suggest names the formats outside auto that would read a refused value,
// for the hint of a quarantine; nothing for values auto reads.
func TestSuggest(t *testing.T) {
	tests := []struct {
		in   string
		want []Format
	}{
		{"201501", []Format{FormatMonthCompact}},
		{"31/12/1989", []Format{"02/01/2006"}},
		{"12/31/1989", []Format{"01/02/2006"}},
		{"1989", []Format{FormatExcel}},
		{"2015-01", nil},
		{"19890101", nil},
		{"abc", nil},
		{"", nil},
	}
	for _, tt := range tests {
		got := Suggest(tt.in)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("Suggest(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// Every format Formats documents is valid, and the ones marked Auto are
// exactly what auto reads: each example's first value parses in auto mode
// when, and only when, the format is marked Auto.
func TestFormatsDocumented(t *testing.T) {
	for _, f := range Formats {
		if !ValidFormat(f.Format) {
			t.Errorf("%s: not a valid format", f.Format)
		}
		ex := strings.Fields(strings.Split(f.Example, ",")[0])[0]
		if _, err := Parse(ex, []Format{f.Format}); err != nil {
			t.Errorf("%s: example %q does not parse: %v", f.Format, ex, err)
		}
		if f.Format == FormatExcel {
			continue // auto reads 5-digit serials only
		}
		_, err := Parse(ex, nil)
		if (err == nil) != f.Auto {
			t.Errorf("%s: example %q in auto mode: err %v, but Auto is %v", f.Format, ex, err, f.Auto)
		}
	}
}
