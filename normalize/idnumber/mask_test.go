package idnumber

import (
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"410102198001011234", "410102********1234"},
		{"11010519491231002X", "110105********002X"},
		{"610104620927690", "610104*****7690"},
		{"12345678901", "123456*8901"},
		{"1234567890", "********90"},
		{"123", "*23"},
		{"12", "12"},
		{"1", "1"},
		{"", ""},
		{"王小明", "*小明"},
		{"6222021234567890123", "622202*********0123"},
	}
	for _, tt := range tests {
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskDigitRuns(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"no runs", "hello 12345 world", "hello 12345 world"},
		{"eleven digits kept", "tel 13800138000", "tel 13800138000"},
		{"twelve digits", "acct 123456789012", "acct 123456**9012"},
		{"id in json", `{"id":"410102198001011234","name":"x"}`, `{"id":"410102********1234","name":"x"}`},
		{"id with x", `id=11010519491231002x;`, `id=110105********002x;`},
		{"two runs", "410102198001011234/6222021234567890123", "410102********1234/622202*********0123"},
		{"run at end", "a410102198001011234", "a410102********1234"},
		{"han around", "身份证410102198001011234号", "身份证410102********1234号"},
		{"scientific kept", "4.11502E+17", "4.11502E+17"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MaskDigitRuns(tt.in)
			if got != tt.want {
				t.Errorf("MaskDigitRuns(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if longestRun(got) >= MinMaskRun {
				t.Errorf("MaskDigitRuns(%q) left a run: %q", tt.in, got)
			}
		})
	}
}

func longestRun(s string) int {
	best, cur := 0, 0
	for i := 0; i < len(s); i++ {
		if isRunByte(s[i]) {
			cur++
			best = max(best, cur)
		} else {
			cur = 0
		}
	}
	return best
}

func TestMaskDigitRunsNoAlloc(t *testing.T) {
	s := strings.Repeat("no personal data here 12345 ", 10)
	if n := testing.AllocsPerRun(100, func() { MaskDigitRuns(s) }); n != 0 {
		t.Errorf("MaskDigitRuns allocated %v times on clean text", n)
	}
}
