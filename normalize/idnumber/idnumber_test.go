package idnumber

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// withID appends the correct check character to a 17-digit body.
func withID(body17 string) string { return body17 + string(CheckChar(body17)) }

func TestCheckChar(t *testing.T) {
	tests := []struct {
		body string
		want byte
	}{
		{"11010519491231002", 'X'},
		{"61010419620927690", '8'},
		{"44030819990110151", '2'},
		{"81000019940823002", '1'},
		{"34052419800101001", 'X'},
		{"44052418800101001", '4'},
		{"11010119900307867", '0'},
		{"11010119900307803", 'X'},
		{"50015419980410612", '0'},
		{"41108219890101000", '2'},
		{"36232419800101001", '4'},
		{"43030219931219423", '9'},
		{"83000019920130002", '2'},
		{"", 0},
		{"1101051949123100", 0},   // 16
		{"110105194912310021", 0}, // 18
		{"1101051949123100X", 0},  // non-digit
		{"１１０１０５１９４９１２３１００２", 0},
	}
	for _, tt := range tests {
		if got := CheckChar(tt.body); got != tt.want {
			t.Errorf("CheckChar(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"clean", "11010519491231002X", "11010519491231002X"},
		{"lower x", "11010519491231002x", "11010519491231002X"},
		{"spaces", "  1101 0519 4912 3100 2X\t\n", "11010519491231002X"},
		{"nbsp ideographic space", "110105\u00a019491231\u3000002X", "11010519491231002X"},
		{"zero width and bom", "\ufeff1101\u200b0519491231\u200d002X\u2060", "11010519491231002X"},
		{"soft hyphen", "110105\u00ad19491231002X", "11010519491231002X"},
		{"full-width", "１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"},
		{"full-width lower x", "１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"},
		{"apostrophe", "'410102198001010012", "410102198001010012"},
		{"excel wrapper", `="410102198001010012"`, "410102198001010012"},
		{"excel wrapper doubled quotes", `=""410102198001010012""`, "410102198001010012"},
		{"full-width excel wrapper", "＝＂410102198001010012＂", "410102198001010012"},
		{"chinese quotes", "“410102198001010012”", "410102198001010012"},
		{"single chinese quotes", "‘410102198001010012’", "410102198001010012"},
		{"corner brackets", "「410102198001010012」", "410102198001010012"},
		{"multiplication sign last", "11010519491231002×", "11010519491231002X"},
		{"cyrillic upper last", "11010519491231002Х", "11010519491231002X"},
		{"cyrillic lower last", "11010519491231002х", "11010519491231002X"},
		{"greek upper last", "11010519491231002Χ", "11010519491231002X"},
		{"greek lower last", "11010519491231002χ", "11010519491231002X"},
		{"look-alike not last", "1101051949123100×2", "1101051949123100×2"},
		{"look-alike before trailing space", "11010519491231002× ", "11010519491231002X"},
		{"scientific", "4.11502E+17", "4.11502E+17"},
		{"scientific lower", "4.11502e17", "4.11502E17"},
		{"only junk", " \u200b'\"", ""},
		{"letters upper-cased", "abc", "ABC"},
		{"han kept", "王伟", "王伟"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Clean(tt.in)
			if got != tt.want {
				t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again := Clean(got); again != got {
				t.Errorf("Clean not idempotent: Clean(%q) = %q", got, again)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		canonical string
		status    Status
		reason    string
	}{
		// Published vectors (research doc §1.7).
		{"gb example", "11010519491231002X", "11010519491231002X", StatusValid, ""},
		{"gb second example 1880", "440524188001010014", "440524188001010014", StatusValid, ""},
		{"jxlwqq valid", "440308199901101512", "440308199901101512", StatusValid, ""},
		{"wrong check digit", "440308199901101513", "440308199901101513", StatusInvalid, ReasonBadCheckChar},
		{"valid 2", "110101199003078670", "110101199003078670", StatusValid, ""},
		{"wrong check X", "11010119900307867X", "11010119900307867X", StatusInvalid, ReasonBadCheckChar},
		{"check X", "11010119900307803X", "11010119900307803X", StatusValid, ""},
		{"chongqing", "500154199804106120", "500154199804106120", StatusValid, ""},
		{"henan changge", "411082198901010002", "411082198901010002", StatusValid, ""},
		{"abandoned code", "362324198001010014", "362324198001010014", StatusValid, ""},
		{"hunan", "430302199312194239", "430302199312194239", StatusValid, ""},
		{"15 upgraded", "610104620927690", "610104196209276908", StatusUpgraded, ""},
		{"15 bad date", "610104620932690", "610104620932690", StatusInvalid, ReasonBadDate},
		{"bad address (check also wrong)", "111111199901101512", "111111199901101512", StatusInvalid, ReasonBadCheckChar},
		{"bad date (check also wrong)", "440308199902301512", "440308199902301512", StatusInvalid, ReasonBadCheckChar},
		{"bad length 14", "44030819990110", "44030819990110", StatusInvalid, ReasonBadLength},
		{"hong kong", "810000199408230021", "810000199408230021", StatusValid, ""},
		{"taiwan", "830000199201300022", "830000199201300022", StatusValid, ""},
		{"sndnvaps valid", "34052419800101001X", "34052419800101001X", StatusValid, ""},
		{"sndnvaps invalid", "340524198001010013", "340524198001010013", StatusInvalid, ReasonBadCheckChar},

		// Same defects with the check char recomputed, so the intended
		// check is the one that fails.
		{"bad province 20", withID("20111119990110151"), withID("20111119990110151"), StatusInvalid, ReasonBadProvince},
		{"bad province 00", withID("00030819990110151"), withID("00030819990110151"), StatusInvalid, ReasonBadProvince},
		{"feb 30", withID("44030819990230151"), withID("44030819990230151"), StatusInvalid, ReasonBadDate},
		{"feb 29 non-leap", withID("41010219000229001"), withID("41010219000229001"), StatusInvalid, ReasonBadDate},
		{"feb 29 leap", withID("41010220000229001"), withID("41010220000229001"), StatusValid, ""},
		{"month 13", withID("41010219801301001"), withID("41010219801301001"), StatusInvalid, ReasonBadDate},
		{"day 00", withID("41010219800100001"), withID("41010219800100001"), StatusInvalid, ReasonBadDate},
		{"born 1879", withID("41010218791231001"), withID("41010218791231001"), StatusInvalid, ReasonBirthOutOfRange},
		{"born in future", withID("41010229990101001"), withID("41010229990101001"), StatusInvalid, ReasonBirthOutOfRange},
		{"foreigner 2023 format", withID("93310219800101001"), withID("93310219800101001"), StatusValid, ""},
		{"taiwan 71", withID("71000019800101001"), withID("71000019800101001"), StatusValid, ""},
		{"15 bad province", "201111620927690", "201111620927690", StatusInvalid, ReasonBadProvince},
		{"15 feb 29 1900", "410102000229001", "410102000229001", StatusInvalid, ReasonBadDate},

		// Data-entry defects.
		{"lower x", "11010519491231002x", "11010519491231002X", StatusValid, ""},
		{"full-width", "１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X", StatusValid, ""},
		{"spaces and zero-width", " 110105 1949\u200b1231 002X\u3000", "11010519491231002X", StatusValid, ""},
		{"apostrophe", "'440308199901101512", "440308199901101512", StatusValid, ""},
		{"excel wrapper", `="440308199901101512"`, "440308199901101512", StatusValid, ""},
		{"apostrophe 15", "'610104620927690", "610104196209276908", StatusUpgraded, ""},
		{"look-alike X", "11010519491231002×", "11010519491231002X", StatusValid, ""},
		{"X in middle", "1101051949123100X2", "1101051949123100X2", StatusInvalid, ReasonBadChars},
		{"X in 15", "61010462092769X", "61010462092769X", StatusInvalid, ReasonBadChars},
		{"letter O", "41O102198001010012", "41O102198001010012", StatusInvalid, ReasonBadChars},
		{"hyphens", "410102-19800101-0012", "410102-19800101-0012", StatusInvalid, ReasonBadChars},
		{"han", "王伟", "王伟", StatusInvalid, ReasonBadChars},
		{"17 digits", "44030819990110151", "44030819990110151", StatusInvalid, ReasonBadLength},
		{"19 digits", "4403081999011015122", "4403081999011015122", StatusInvalid, ReasonBadLength},

		// Spreadsheet damage.
		{"scientific", "4.11502E+17", "4.11502E+17", StatusExcelDamaged, ReasonScientificNotation},
		{"scientific lower no plus", "4.11502e17", "4.11502E17", StatusExcelDamaged, ReasonScientificNotation},
		{"scientific full-width", "４.１１５０２Ｅ＋１７", "4.11502E+17", StatusExcelDamaged, ReasonScientificNotation},
		{"scientific no fraction", "4E+17", "4E+17", StatusExcelDamaged, ReasonScientificNotation},
		{"trailing zeros", "411502198001011000", "411502198001011000", StatusExcelDamaged, ReasonTrailingZeros},
		{"float trailing zeros", "411502198001011000.0", "411502198001011000.0", StatusExcelDamaged, ReasonTrailingZeros},
		{"float rounded", "411502198001011200.0", "411502198001011200.0", StatusExcelDamaged, ReasonFloatValue},
		{"float 17 digits", "41150219800101120.0", "41150219800101120.0", StatusExcelDamaged, ReasonFloatValue},
		{"float but valid", "440308199901101512.0", "440308199901101512", StatusValid, ""},
		{"float 15 digit exact", "610104620927690.0", "610104196209276908", StatusUpgraded, ""},
		{"float 15 digit bad date", "610104620932690.0", "610104620932690.0", StatusInvalid, ReasonBadDate},
		{"float short", "1234.0", "1234.0", StatusInvalid, ReasonBadChars},
		{"not scientific", "E17", "E17", StatusInvalid, ReasonBadChars},
		{"not scientific 2", "4.1.1E17", "4.1.1E17", StatusInvalid, ReasonBadChars},

		// Missing.
		{"empty", "", "", StatusMissing, ""},
		{"blank", "  \u3000 ", "", StatusMissing, ""},
		{"quotes only", `=""`, "", StatusMissing, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Normalize(tt.in)
			want := Result{Canonical: tt.canonical, Status: tt.status, Reason: tt.reason}
			if got != want {
				t.Errorf("Normalize(%q) = %+v, want %+v", tt.in, got, want)
			}
		})
	}
}

// TestExcelTrailingZerosValid: a number ending in "000" whose check char
// happens to pass (1 in 11) cannot be told apart from a real ID and stays
// valid; only a failing one is reported as Excel damage.
func TestExcelTrailingZerosValid(t *testing.T) {
	found := false
	for county := 10; county < 100; county++ {
		body := "4101" + string(rune('0'+county/10)) + string(rune('0'+county%10)) + "19800101100"
		if CheckChar(body) != '0' {
			continue
		}
		found = true
		id := body + "0"
		if got := Normalize(id); got.Status != StatusValid {
			t.Errorf("Normalize(%q) = %+v, want valid", id, got)
		}
		if got := Normalize(id + ".0"); got.Status != StatusExcelDamaged || got.Reason != ReasonTrailingZeros {
			t.Errorf("Normalize(%q) = %+v, want excel_damaged/trailing_zeros", id+".0", got)
		}
	}
	if !found {
		t.Fatal("no body with check char 0 found")
	}
}

func TestNormalizeToday(t *testing.T) {
	old := now
	t.Cleanup(func() {
		now = old
		todayCache.Store(nil)
	})
	now = func() time.Time { return time.Date(2024, 5, 31, 17, 0, 0, 0, time.UTC) } // 2024-06-01 01:00 in China
	todayCache.Store(nil)
	tests := []struct {
		body   string
		status Status
	}{
		{"41010220240601001", StatusValid},
		{"41010220240602001", StatusInvalid},
		{"41010220240531001", StatusValid},
	}
	for _, tt := range tests {
		id := withID(tt.body)
		if got := Normalize(id); got.Status != tt.status {
			t.Errorf("Normalize(%q) = %+v, want %s", id, got, tt.status)
		}
	}
}

func TestUpgrade15(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"610104620927690", "610104196209276908", true},
		{"610104620932690", "", false},
		{"610104000229690", "", false}, // 1900 is not a leap year
		{"610104960229690", withID("61010419960229690"), true},
		{"61010462092769", "", false},
		{"6101046209276901", "", false},
		{"61010462092769X", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := Upgrade15(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Upgrade15(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBirthDate(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"11010519491231002X", time.Date(1949, 12, 31, 0, 0, 0, 0, time.UTC), true},
		{"610104196209276908", time.Date(1962, 9, 27, 0, 0, 0, 0, time.UTC), true},
		{"440308200002291512", time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC), true},
		{"440308199902301512", time.Time{}, false},
		{"610104620927690", time.Time{}, false},
		{"4403081999O1101512", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := BirthDate(tt.in)
		if !got.Equal(tt.want) || ok != tt.ok {
			t.Errorf("BirthDate(%q) = %v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMale(t *testing.T) {
	tests := []struct {
		in       string
		male, ok bool
	}{
		{"11010519491231002X", false, true},
		{"440308199901101512", true, true},
		{"440524188001010014", true, true},
		{"610104196209276908", false, true},
		{"610104620927690", false, false},
		{"4403081999011015X2", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		male, ok := Male(tt.in)
		if male != tt.male || ok != tt.ok {
			t.Errorf("Male(%q) = %v, %v, want %v, %v", tt.in, male, ok, tt.male, tt.ok)
		}
	}
}

func TestValidProvince(t *testing.T) {
	valid := []string{"11", "15", "21", "23", "31", "37", "41", "46", "50", "54", "61", "65", "71", "81", "82", "83", "90", "99"}
	invalid := []string{"", "1", "10", "16", "20", "24", "30", "38", "40", "47", "49", "55", "60", "66", "70", "72", "80", "84", "00", "X1", "1X"}
	for _, p := range valid {
		if !ValidProvince(p + "0000") {
			t.Errorf("ValidProvince(%q) = false", p)
		}
	}
	for _, p := range invalid {
		if ValidProvince(p) {
			t.Errorf("ValidProvince(%q) = true", p)
		}
	}
}

var repairSeeds = []string{
	"11010519491231002X",
	"440308199901101512",
	"610104196209276908",
	"810000199408230021",
	"34052419800101001X",
	"411082198901010002",
	"440524188001010014",
}

func TestRepairCandidatesSubstitution(t *testing.T) {
	for _, id := range repairSeeds {
		for i := 0; i < 18; i++ {
			alphabet := "0123456789"
			if i == 17 {
				alphabet += "X"
			}
			for _, c := range []byte(alphabet) {
				if c == id[i] {
					continue
				}
				typo := id[:i] + string(c) + id[i+1:]
				if Valid(typo) {
					t.Fatalf("substitution %q of %q passes validation", typo, id)
				}
				cands := RepairCandidates(typo)
				if !contains(cands, id) {
					t.Errorf("RepairCandidates(%q) = %v, missing original %q", typo, cands, id)
				}
				checkCandidates(t, typo, cands)
			}
		}
	}
}

func TestRepairCandidatesTransposition(t *testing.T) {
	for _, id := range repairSeeds {
		for i := 0; i < 17; i++ {
			if id[i] == id[i+1] {
				continue
			}
			b := []byte(id)
			b[i], b[i+1] = b[i+1], b[i]
			typo := string(b)
			cands := RepairCandidates(typo)
			if Valid(typo) {
				t.Fatalf("transposition %q of %q passes validation", typo, id)
			}
			if len(cands) == 0 && strings.IndexByte(typo[:17], 'X') >= 0 {
				t.Errorf("RepairCandidates(%q) empty", typo)
			}
			if !contains(cands, id) {
				t.Errorf("RepairCandidates(%q) = %v, missing original %q", typo, cands, id)
			}
			checkCandidates(t, typo, cands)
		}
	}
}

func TestRepairCandidatesEdge(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"valid input", "440308199901101512", nil},
		{"too short", "44030819990110151", nil},
		{"lower x", "11010519491231002x", nil},
		{"full-width", "４４０３０８１９９９０１１０１５１２", nil},
		{"letter", "44030819990110151A", nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RepairCandidates(tt.in)
			if len(got) != len(tt.want) {
				t.Errorf("RepairCandidates(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
	// The check char is fully determined by the body: a wrong check char is
	// repaired at the last position (among other candidates).
	got := RepairCandidates("440308199901101513")
	if !contains(got, "440308199901101512") {
		t.Errorf("RepairCandidates wrong check char = %v", got)
	}
	checkCandidates(t, "440308199901101513", got)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkCandidates asserts the RepairCandidates contract for typo.
func checkCandidates(t *testing.T, typo string, cands []string) {
	t.Helper()
	for i, c := range cands {
		if !Valid(c) {
			t.Errorf("candidate %q of %q is not valid", c, typo)
		}
		if i > 0 && cands[i-1] >= c {
			t.Errorf("candidates of %q not sorted/unique: %v", typo, cands)
		}
		if !oneEditAway(typo, c) {
			t.Errorf("candidate %q is not one substitution or adjacent swap from %q", c, typo)
		}
	}
}

func oneEditAway(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var diff []int
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] {
			diff = append(diff, i)
		}
	}
	switch len(diff) {
	case 1:
		return true
	case 2:
		i, j := diff[0], diff[1]
		return j == i+1 && a[i] == b[j] && a[j] == b[i]
	}
	return false
}

func TestResultOK(t *testing.T) {
	for s, want := range map[Status]bool{
		StatusValid: true, StatusUpgraded: true, StatusRepaired: true,
		StatusInvalid: false, StatusExcelDamaged: false, StatusMissing: false,
	} {
		if got := (Result{Status: s}).OK(); got != want {
			t.Errorf("Result{Status: %s}.OK() = %v", s, got)
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	cases := []struct{ name, in string }{
		{"clean18", "11010519491231002X"},
		{"legacy15", "610104620927690"},
		{"dirty", " '１１０１０５１９４９１２３１００２ｘ\u200b"},
		{"invalid", "440308199901101513"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.in)))
			for b.Loop() {
				Normalize(c.in)
			}
		})
	}
}

func BenchmarkRepairCandidates(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		RepairCandidates("440308199901101513")
	}
}

// ExcelValue expands a spreadsheet rendering to the ID it may stand for,
// only when that ID is valid: a real ID ending in 000 (check character 0)
// comes back; a rendering whose expansion fails the check does not.
func TestExcelValue(t *testing.T) {
	var id string
	for d := 1; d <= 28 && id == ""; d++ {
		for s := 1; s <= 9; s++ {
			body := fmt.Sprintf("41108219450101%d00", s)
			body = body[:12] + fmt.Sprintf("%02d", d) + body[14:]
			if CheckChar(body) == '0' {
				id = body + "0"
				break
			}
		}
	}
	if id == "" || !Valid(id) {
		t.Fatalf("no valid ID ending in 000 found (%q)", id)
	}
	sci := id[:1] + "." + strings.TrimRight(id[1:15], "0") + "E+17"
	for _, in := range []string{sci, id + ".0", id + ".00", strings.Replace(sci, "E+17", "E17", 1)} {
		if got := Normalize(in); got.Status != StatusExcelDamaged {
			t.Errorf("Normalize(%q) = %+v, want excel_damaged (the registry decides)", in, got)
		}
		c := Normalize(in).Canonical
		if got, ok := ExcelValue(c); !ok || got != id {
			t.Errorf("ExcelValue(%q) = %q, %v; want %q", c, got, ok, id)
		}
	}
	bad := id[:16] + "10" // ends in 10 after damage of another sequence: check fails
	for _, in := range []string{"4.11082E+17", bad + ".0", "4.11082194501011E+16", "1.5E+17", id, "abc"} {
		if got, ok := ExcelValue(in); ok {
			t.Errorf("ExcelValue(%q) = %q, want none", in, got)
		}
	}
}
