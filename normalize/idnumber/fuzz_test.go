package idnumber

import (
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	"", " ", "11010519491231002X", "11010519491231002x", "610104620927690", "610104620932690",
	"440308199901101513", "44030819990110", "810000199408230021", "１１０１０５１９４９１２３１００２Ｘ",
	"'410102198001010012", `="410102198001010012"`, "4.11502E+17", "4.11502e17", "411502198001011000",
	"411502198001011000.0", "411502198001011200.0", "610104620927690.0", "11010519491231002×",
	"e\u200b\u0301", "=\u0338", "\xff\xfe", "王伟", "1101051949123100X2",
}

func FuzzNormalize(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c := Clean(raw)
		if again := Clean(c); again != c {
			t.Fatalf("Clean not idempotent: %q -> %q -> %q", raw, c, again)
		}
		if !utf8.ValidString(c) {
			t.Fatalf("Clean(%q) = %q is not valid UTF-8", raw, c)
		}
		r := Normalize(raw)
		switch r.Status {
		case StatusValid, StatusUpgraded:
			if len(r.Canonical) != 18 || !Valid(r.Canonical) {
				t.Fatalf("Normalize(%q) = %+v: canonical not valid", raw, r)
			}
			if CheckChar(r.Canonical[:17]) != r.Canonical[17] {
				t.Fatalf("Normalize(%q) = %+v: check char fails", raw, r)
			}
			if _, ok := BirthDate(r.Canonical); !ok {
				t.Fatalf("Normalize(%q) = %+v: no birth date", raw, r)
			}
			if _, ok := Male(r.Canonical); !ok {
				t.Fatalf("Normalize(%q) = %+v: no sex", raw, r)
			}
			if r.Reason != "" {
				t.Fatalf("Normalize(%q) = %+v: reason on success", raw, r)
			}
			if again := Normalize(r.Canonical); again != (Result{Canonical: r.Canonical, Status: StatusValid}) {
				t.Fatalf("Normalize(canonical %q) = %+v, want valid", r.Canonical, again)
			}
			if RepairCandidates(r.Canonical) != nil {
				t.Fatalf("RepairCandidates of valid %q not empty", r.Canonical)
			}
		case StatusMissing:
			if r.Canonical != "" || r.Reason != "" || c != "" {
				t.Fatalf("Normalize(%q) = %+v: bad missing result", raw, r)
			}
		case StatusInvalid, StatusExcelDamaged:
			if r.Reason == "" || r.Canonical != c || c == "" {
				t.Fatalf("Normalize(%q) = %+v: bad failure result (clean %q)", raw, r, c)
			}
			if again := Normalize(r.Canonical); again != r {
				t.Fatalf("Normalize not stable: %q -> %+v -> %+v", raw, r, again)
			}
		default:
			t.Fatalf("Normalize(%q) = %+v: unexpected status", raw, r)
		}
	})
}

func FuzzRepairCandidates(f *testing.F) {
	for _, s := range repairSeeds {
		f.Add(s)
		b := []byte(s)
		b[7], b[8] = b[8], b[7]
		f.Add(string(b))
		f.Add(s[:10] + "5" + s[11:])
	}
	f.Add("440308199901101513")
	f.Add("XXXXXXXXXXXXXXXXXX")
	f.Add("000000000000000000")
	f.Fuzz(func(t *testing.T, id string) {
		cands := RepairCandidates(id)
		if len(cands) > 0 && (len(id) != 18 || Valid(id)) {
			t.Fatalf("RepairCandidates(%q) = %v for non-repairable input", id, cands)
		}
		checkCandidates(t, id, cands)
	})
}

func FuzzMaskDigitRuns(f *testing.F) {
	for _, s := range []string{"", "410102198001011234", `{"id":"11010519491231002x"}`, "1234567890123456789012345", "x王410102198001011234\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := MaskDigitRuns(s)
		if len(got) != len(s) {
			t.Fatalf("MaskDigitRuns changed length: %q -> %q", s, got)
		}
		if longestRun(got) >= MinMaskRun {
			t.Fatalf("MaskDigitRuns(%q) = %q leaves a long run", s, got)
		}
		if again := MaskDigitRuns(got); again != got {
			t.Fatalf("MaskDigitRuns not idempotent: %q -> %q", got, again)
		}
		if strings.Count(got, "*") < strings.Count(s, "*") {
			t.Fatalf("MaskDigitRuns removed stars: %q -> %q", s, got)
		}
		m := Mask(s)
		if utf8.ValidString(s) && utf8.RuneCountInString(m) != utf8.RuneCountInString(s) {
			t.Fatalf("Mask changed rune count: %q -> %q", s, m)
		}
	})
}
