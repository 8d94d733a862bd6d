package names

import (
	"encoding/csv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// Traditional to simplified.
		{"zhang wei", "張偉", "张伟"},
		{"xiao hong", "蕭紅", "萧红"},
		{"yan xishan", "閻錫山", "阎锡山"},
		{"zhong aihua", "鍾愛華", "钟爱华"},
		{"yan 閆", "閆偉", "闫伟"},
		{"zhou jielun", "週杰倫", "周杰伦"},
		{"ye", "葉", "叶"},
		{"chain 薴", "薴", "苎"},
		{"simplified unchanged", "王秀英", "王秀英"},

		// Protected characters stay as typed.
		{"yu dan", "於丹", "於丹"},
		{"yu dan simplified", "于丹", "于丹"},
		{"xiao 萧", "萧红", "萧红"},
		{"xiao 肖", "肖红", "肖红"},
		{"yan 阎", "阎锡山", "阎锡山"},
		{"yan 闫", "闫锡山", "闫锡山"},
		{"zhong 锺", "锺爱华", "锺爱华"},
		{"zhong 钟", "钟爱华", "钟爱华"},
		{"tu 塗", "塗明", "塗明"},
		{"shen 瀋", "瀋明", "瀋明"},
		{"qian 乾", "张乾", "张乾"},
		{"sheng 昇", "李昇", "李昇"},
		{"sheng 陞", "李陞", "李陞"},
		{"fan 氾", "氾勝", "氾胜"},

		// Whitespace and invisible characters.
		{"space", "王 伟", "王伟"},
		{"ideographic space", "王\u3000伟", "王伟"},
		{"nbsp", "王\u00a0伟", "王伟"},
		{"tabs and newlines", "\t王伟\r\n", "王伟"},
		{"zero width", "王\u200b伟\u200d", "王伟"},
		{"bom", "\ufeff王伟", "王伟"},
		{"soft hyphen", "王\u00ad伟", "王伟"},
		{"control", "王\x00伟\x7f", "王伟"},
		{"variation selector", "葛\U000E0100优", "葛优"},

		// Width and compatibility forms.
		{"full-width latin", "ＪＯＨＮ　ＳＭＩＴＨ", "JOHNSMITH"},
		{"latin upper", "John Smith", "JOHNSMITH"},
		{"latin accents", "josé", "JOSÉ"},
		{"compat ideograph", "\uf900", "岂"}, // U+F900 → 豈 → 岂
		{"digits full-width", "王１", "王1"},

		// Minority-name separators.
		{"middle dot", "买买提·艾力", "买买提·艾力"},
		{"bullet traditional", "買買提•艾力", "买买提·艾力"},
		{"full-width full stop", "买买提．艾力", "买买提·艾力"},
		{"hyphenation point", "买买提‧艾力", "买买提·艾力"},
		{"katakana middle dot", "买买提・艾力", "买买提·艾力"},
		{"halfwidth katakana middle dot", "买买提･艾力", "买买提·艾力"},
		{"greek ano teleia", "买买提\u0387艾力", "买买提·艾力"},
		{"bullet operator", "买买提∙艾力", "买买提·艾力"},
		{"dot operator", "买买提⋅艾力", "买买提·艾力"},
		{"word separator middle dot", "买买提⸱艾力", "买买提·艾力"},
		{"ascii dot between han", "买买提.艾力", "买买提·艾力"},
		{"ideographic full stop", "买买提。艾力", "买买提·艾力"},
		{"hyphen between han", "买买提-艾力", "买买提·艾力"},
		{"full-width hyphen", "买买提－艾力", "买买提·艾力"},
		{"em dash", "买买提—艾力", "买买提·艾力"},
		{"black circle", "买买提●艾力", "买买提·艾力"},
		{"hangul araea", "买买提ㆍ艾力", "买买提·艾力"},
		{"spaced separator", "买买提 · 艾力", "买买提·艾力"},
		{"spaced dot", "买买提 . 艾力", "买买提·艾力"},
		{"doubled separator", "买买提··艾力", "买买提·艾力"},
		{"mixed run", "买买提•.·艾力", "买买提·艾力"},
		{"three parts", "阿依古丽•买买提•艾力", "阿依古丽·买买提·艾力"},
		{"leading separator", "·买买提", "买买提"},
		{"trailing separator", "买买提·", "买买提"},
		{"only separators", "··", ""},
		{"dot in latin kept", "J. Smith", "J.SMITH"},
		{"hyphen in latin kept", "Jean-Paul", "JEAN-PAUL"},
		{"strong separator in latin", "JEAN•PAUL", "JEAN·PAUL"},
		{"dot after han before latin kept", "王.A", "王.A"},
		{"trailing dot kept", "王伟.", "王伟."},
		{"leading mixed run", "·.王", "·.王"},
		{"mixed run outside han", "··.", "·."},
		{"mixed run in latin", "A•・-·B", "A·-·B"},

		// Other.
		{"empty", "", ""},
		{"blank", " \u3000 ", ""},
		{"ling zero kept", "王〇", "王〇"},
		{"invalid utf8", "王\xff伟", "王\ufffd伟"},
		{"question mark kept", "王?伟", "王?伟"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Normalize(tt.in)
			if got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if again := Normalize(got); again != got {
				t.Errorf("Normalize not idempotent: %q -> %q -> %q", tt.in, got, again)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"張偉", "张伟", true},
		{"王 伟", "王伟", true},
		{"王　伟", "王伟", true},
		{"買買提•艾力", "买买提．艾力", true},
		{"买买提·艾力", "买买提 · 艾力", true},
		{"蕭紅", "萧红", true},
		{"閻錫山", "阎锡山", true},
		{"john", "JOHN", true},
		{"於丹", "于丹", false},
		{"萧红", "肖红", false},
		{"阎锡山", "闫锡山", false},
		{"锺爱华", "钟爱华", false},
		{"鍾愛華", "锺爱华", false},
		{"张乾", "张干", false},
		{"买买提·艾力", "买买提艾力", false},
		{"王伟", "王玮", false},
	}
	for _, tt := range tests {
		if got := Equal(tt.a, tt.b); got != tt.want {
			t.Errorf("Equal(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestCompact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"买买提·艾力", "买买提艾力"},
		{"買買提•艾力", "买买提艾力"},
		{"阿依古丽 买买提", "阿依古丽买买提"},
		{"王伟", "王伟"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Compact(tt.in); got != tt.want {
			t.Errorf("Compact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFoldRune(t *testing.T) {
	tests := []struct {
		in, want rune
	}{
		{'張', '张'}, {'蕭', '萧'}, {'閻', '阎'}, {'閆', '闫'}, {'鍾', '钟'}, {'鐘', '钟'},
		{'於', '於'}, {'塗', '塗'}, {'瀋', '瀋'}, {'乾', '乾'}, {'昇', '昇'}, {'沈', '沈'},
		{'萧', '萧'}, {'阎', '阎'}, {'锺', '锺'}, {'于', '于'}, {'a', 'a'}, {'·', '·'},
		{'𣵦', '𣵦'}, {'😀', '😀'}, {'𩠴', '𩠠'}, {0, 0}, {utf8.RuneError, utf8.RuneError},
	}
	for _, tt := range tests {
		if got := FoldRune(tt.in); got != tt.want {
			t.Errorf("FoldRune(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSurnamePairsProtected checks the promise of the package: no pair of
// surname_confusion_pairs.csv is merged by Normalize, and neither side is
// changed at all.
func TestSurnamePairsProtected(t *testing.T) {
	r := csv.NewReader(strings.NewReader(surnamePairsCSV))
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("embedded surname_confusion_pairs.csv: %v", err)
	}
	if len(recs) < 20 || recs[0][0] != "surname_a" || recs[0][1] != "surname_b" {
		t.Fatalf("unexpected surname_confusion_pairs.csv header or size: %v", recs[0])
	}
	for _, rec := range recs[1:] {
		a, b := rec[0], rec[1]
		if Equal(a, b) {
			t.Errorf("surnames %s and %s merged", a, b)
		}
		for _, s := range []string{a, b} {
			if got := Normalize(s); got != s {
				t.Errorf("surname %s normalised to %s", s, got)
			}
			for _, c := range s {
				if !Protected(c) {
					t.Errorf("%c not protected", c)
				}
			}
		}
	}
}

// TestSelfListedProtected pins the 19 OpenCC entries that list the key among
// its own values.
func TestSelfListedProtected(t *testing.T) {
	_, self := parseTSCharacters(tsCharacters)
	want := "乾剋劄吒夥徵扞於昇氾祕脩蒐薹袷谿釐陞麽"
	if len(self) != utf8.RuneCountInString(want) {
		t.Errorf("self-listed entries = %d, want %d", len(self), utf8.RuneCountInString(want))
	}
	for _, c := range want {
		if !self[c] {
			t.Errorf("%c not self-listed", c)
		}
		if FoldRune(c) != c {
			t.Errorf("FoldRune(%c) = %c, want unchanged", c, FoldRune(c))
		}
	}
}

func TestTable(t *testing.T) {
	load()
	if len(fold) < 3000 {
		t.Fatalf("fold table has %d entries, want > 3000", len(fold))
	}
	for k, v := range fold {
		if k == v {
			t.Errorf("identity entry %c", k)
		}
		if protected[k] {
			t.Errorf("protected %c folds to %c", k, v)
		}
		if w := FoldRune(v); w != v {
			t.Errorf("fold not idempotent: %c -> %c -> %c", k, v, w)
		}
		if !unicode.Is(unicode.Han, k) || !unicode.Is(unicode.Han, v) {
			t.Errorf("non-Han entry %c -> %c", k, v)
		}
		if !norm.NFKC.IsNormalString(string(v)) {
			t.Errorf("fold target %c not NFKC", v)
		}
	}
}

func TestParseTSCharacters(t *testing.T) {
	data := "# comment\n\n張\t张\n乾\t干 乾\nbad line\n多字\t多\n鍾\t钟 锺\r\n空\t\n"
	first, self := parseTSCharacters(data)
	if len(first) != 3 || first['張'] != '张' || first['乾'] != '干' || first['鍾'] != '钟' {
		t.Errorf("first = %v", first)
	}
	if len(self) != 1 || !self['乾'] {
		t.Errorf("self = %v", self)
	}
}

func TestNormalizeNoAllocWhenClean(t *testing.T) {
	for _, s := range []string{"王秀英", "买买提·艾力", "JOHNSMITH", ""} {
		if n := testing.AllocsPerRun(100, func() { Normalize(s) }); n != 0 {
			t.Errorf("Normalize(%q) allocated %v times", s, n)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"", "張偉", "蕭紅", "閻錫山", "於丹", "王 伟", "買買提•艾力", "买买提．艾力", "ＪＯＨＮ", "·.王",
		"王\xff伟", "e\u200b\u0301", "买买提 - 艾力", "薴", "\uf900", "ǰ", "ß", "Ǆ", "葛\U000E0100优", "··.", "A•・-·B",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if !utf8.ValidString(n) {
			t.Fatalf("Normalize(%q) = %q: invalid UTF-8", s, n)
		}
		if again := Normalize(n); again != n {
			t.Fatalf("Normalize not idempotent: %q -> %q -> %q", s, n, again)
		}
		if !norm.NFKC.IsNormalString(n) {
			t.Fatalf("Normalize(%q) = %q is not NFKC", s, n)
		}
		for _, r := range n {
			if dropped(r) {
				t.Fatalf("Normalize(%q) = %q keeps %U", s, n, r)
			}
		}
		if strings.HasPrefix(n, Separator+Separator) || strings.Contains(n, Separator+Separator) {
			t.Fatalf("Normalize(%q) = %q has doubled separator", s, n)
		}
		if !Equal(s, n) {
			t.Fatalf("Equal(%q, Normalize) false", s)
		}
		if c := Compact(s); strings.Contains(c, Separator) {
			t.Fatalf("Compact(%q) = %q keeps a separator", s, c)
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	cases := []struct{ name, in string }{
		{"clean", "王秀英"},
		{"traditional", "閻錫山"},
		{"minority", "買買提•艾力"},
		{"spaced", " 王　伟 "},
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

// TestIsNormalizedCJKRanges: for every code point of the CJK ranges that
// isNormalized passes without NFKC's quick check, alone and between other
// characters, NFKC leaves the string as it is and Normalize returns it.
func TestIsNormalizedCJKRanges(t *testing.T) {
	load()
	n := 0
	for _, rg := range [][2]rune{{0x3400, 0xa000}, {0x20000, 0x40000}} {
		for r := rg[0]; r < rg[1]; r++ {
			for _, s := range []string{string(r), "张" + string(r), string(r) + "A1", "王" + string(r) + "明"} {
				if !isNormalized(s) {
					continue
				}
				n++
				if norm.NFKC.String(s) != s {
					t.Fatalf("isNormalized(%q) (U+%04X) but NFKC gives %q", s, r, norm.NFKC.String(s))
				}
			}
		}
	}
	if n < 100000 {
		t.Errorf("only %d strings passed isNormalized", n)
	}
}
