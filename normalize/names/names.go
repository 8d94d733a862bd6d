// Package names builds comparison keys for Chinese personal names.
//
// Normalize folds the differences that typing, spreadsheets, OCR and
// legacy character sets introduce into a name without changing who the name
// denotes: Unicode compatibility forms, stray whitespace and invisible
// characters, the many look-alikes of the minority-name separator "·", and
// traditional characters. The folded value is a key for comparison only;
// callers keep the original string for display and never write the key back.
//
// Traditional-to-simplified folding is character by character, using
// OpenCC's TSCharacters table (Apache-2.0, embedded from data/; see
// data/LICENSE-NOTICE). It deliberately does not fold characters that are
// themselves distinct registered surnames or standard characters; see
// FoldRune for the exact rule.
package names

import (
	"bufio"
	_ "embed"
	"encoding/csv"
	"io"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Separator is the canonical minority-name separator, U+00B7 MIDDLE DOT, as
// in 买买提·艾力.
const Separator = "·"

const sepRune = '\u00b7'

//go:embed data/TSCharacters.txt
var tsCharacters string

//go:embed data/surname_confusion_pairs.csv
var surnamePairsCSV string

var (
	loadOnce sync.Once
	// fold maps a traditional character to its simplified form, already
	// resolved transitively (薴→苧→苎 becomes 薴→苎) and with the protected
	// characters removed. Characters absent from the map are kept.
	fold map[rune]rune
	// foldBMP marks the BMP keys of fold, so that the common case (a
	// character that does not fold) costs one bit test instead of a map
	// lookup.
	foldBMP [0x10000 / 64]uint64
	// protected holds the characters that are never folded.
	protected map[rune]bool
)

// lookupFold returns the fold target of r, if any.
func lookupFold(r rune) (rune, bool) {
	if r < 0x10000 && foldBMP[r>>6]&(1<<(uint(r)&63)) == 0 {
		return r, false
	}
	if v, ok := fold[r]; ok {
		return v, true
	}
	return r, false
}

func load() {
	loadOnce.Do(func() {
		protected = parseSurnamePairs(surnamePairsCSV)
		raw, selfListed := parseTSCharacters(tsCharacters)
		for r := range selfListed {
			protected[r] = true
		}
		fold = resolve(raw, protected)
		for k := range fold {
			if k < 0x10000 {
				foldBMP[k>>6] |= 1 << (uint(k) & 63)
			}
		}
	})
}

// parseSurnamePairs returns every character of the surname_a and surname_b
// columns of surname_confusion_pairs.csv.
func parseSurnamePairs(data string) map[rune]bool {
	out := make(map[rune]bool)
	r := csv.NewReader(strings.NewReader(data))
	r.FieldsPerRecord = -1
	header := true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// The file is embedded and checked by tests; a parse error
			// would show up there. Keep what was read so far.
			break
		}
		if header {
			header = false
			continue
		}
		for _, f := range rec[:min(2, len(rec))] {
			for _, c := range strings.TrimSpace(f) {
				out[c] = true
			}
		}
	}
	return out
}

// parseTSCharacters reads OpenCC's "key<TAB>value value…" format, skipping
// blank and comment lines, and keeps the first value of each key. It also
// returns the keys whose value list contains the key itself (乾 → 干 乾,
// 於 → 于 於): OpenCC marks them as standard simplified characters in
// their own right.
func parseTSCharacters(data string) (first map[rune]rune, selfListed map[rune]bool) {
	first = make(map[rune]rune, 4200)
	selfListed = make(map[rune]bool)
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		key, vals, ok := strings.Cut(line, "\t")
		k, n := utf8.DecodeRuneInString(key)
		if !ok || n != len(key) || k == utf8.RuneError {
			continue
		}
		fields := strings.Fields(vals)
		if len(fields) == 0 {
			continue
		}
		v, n := utf8.DecodeRuneInString(fields[0])
		if n != len(fields[0]) || v == utf8.RuneError {
			continue
		}
		first[k] = v
		for _, f := range fields[1:] {
			if f == key && v != k {
				selfListed[k] = true
			}
		}
	}
	return first, selfListed
}

// resolve drops identity and protected entries and follows chains so that
// folding is idempotent.
func resolve(raw map[rune]rune, protected map[rune]bool) map[rune]rune {
	out := make(map[rune]rune, len(raw))
	for k, v := range raw {
		if protected[k] {
			continue
		}
		for i := 0; i < 8; i++ {
			next, ok := raw[v]
			if !ok || next == v || protected[v] {
				break
			}
			v = next
		}
		if v != k {
			out[k] = v
		}
	}
	return out
}

// FoldRune returns the simplified form of a traditional character, or r
// itself. It follows OpenCC's TSCharacters table (first value of each
// entry) with two kinds of exception, both kept as typed:
//
//  1. Every character of surname_confusion_pairs.csv (both columns). Those
//     pairs are distinct registered surnames that folding or historical
//     simplification would merge: 於 stays 於 (OpenCC would give 于, a
//     different surname with 66 times as many bearers), and 塗 and 瀋
//     stay as typed too (OpenCC: 涂, 沈). Simplified members such as 萧, 阎,
//     锺, 闫 are not table keys anyway and so are never changed; their
//     traditional forms still fold onto them (蕭→萧, 閻→阎, 閆→闫).
//  2. Characters that OpenCC lists among their own simplified values
//     (乾 → "干 乾", 昇 → "升 昇", 於 → "于 於", 陞, 徵, 氾, 釐, 夥, 祕, 脩 …,
//     19 in all): they are standard characters in current use, several of
//     them surnames or given-name characters (乾 qián ≠ 干 gān), so folding
//     them would merge different names.
//
// 鍾 folds to 钟 (OpenCC's first value; the 2013 通用规范汉字表 also gives
// 锺 for the surname). 钟 has 4.66 M bearers born 1930-2008 and 锺 too few to
// be listed, so 钟 is what a traditional 鍾 will find in the 户籍 extract;
// 钟 and 锺 themselves stay distinct. Surname-pair candidates (于/於,
// 钟/锺 …) belong in the comparison layer with a penalty, not in this key.
func FoldRune(r rune) rune {
	load()
	v, _ := lookupFold(r)
	return v
}

// Protected reports whether r is one of the characters FoldRune keeps
// although OpenCC would fold it or it takes part in a surname pair.
func Protected(r rune) bool {
	load()
	return protected[r]
}

// Normalize returns the comparison key of a personal name:
//
//   - Unicode NFKC (full-width letters and digits, compatibility ideographs);
//   - all whitespace (including U+3000 and NBSP), control and format
//     characters (zero-width space and joiners, BOM, soft hyphen) and
//     variation selectors removed, so "王 伟" becomes "王伟";
//   - minority-name separators unified to "·" (U+00B7): the dot-like
//     characters · • ‧ ・ ･ ∙ ⋅ ⸱ ᛫ anywhere, and the ambiguous ones
//     (. ． 。 ﹒ ․ - － ‐ ‑ – — − ● ㆍ) only between two Han characters; a
//     run of separators collapses to one "·", and a run of dot-like
//     separators at the start or end is dropped;
//   - traditional characters folded to simplified with FoldRune;
//   - Latin letters upper-cased.
//
// Invalid UTF-8 bytes become U+FFFD. Normalize is idempotent and does not
// allocate when s is already normalized.
func Normalize(s string) string {
	load()
	if isNormalized(s) {
		return s
	}
	out := normalizeOnce(s)
	// One pass is enough except in rare cases (removing a format character
	// that separated a letter from a combining mark); repeat until stable.
	for i := 0; i < 3 && !isNormalized(out); i++ {
		next := normalizeOnce(out)
		if next == out {
			break
		}
		out = next
	}
	if out == s {
		return s
	}
	return out
}

// Equal reports whether a and b have the same comparison key.
func Equal(a, b string) bool {
	return Normalize(a) == Normalize(b)
}

// Compact returns Normalize(s) without separators, a key for comparing a
// minority name with and without its dot (阿依古丽·买买提 and 阿依古丽买买提).
func Compact(s string) string {
	n := Normalize(s)
	if !strings.Contains(n, Separator) {
		return n
	}
	return strings.ReplaceAll(n, Separator, "")
}

// separatorKind classifies a rune as a minority-name separator.
type separatorKind uint8

const (
	notSeparator    separatorKind = iota
	strongSeparator               // always a separator
	weakSeparator                 // a separator only between two Han characters
)

func classify(r rune) separatorKind {
	switch r {
	case '\u00b7', // · MIDDLE DOT
		'\u2022', // • BULLET
		'\u2027', // ‧ HYPHENATION POINT
		'\u30fb', // ・ KATAKANA MIDDLE DOT (NFKC target of ･ U+FF65)
		'\u2219', // ∙ BULLET OPERATOR
		'\u22c5', // ⋅ DOT OPERATOR
		'\u2e31', // ⸱ WORD SEPARATOR MIDDLE DOT
		'\u16eb', // ᛫ RUNIC SINGLE PUNCTUATION
		'\u0387': // · GREEK ANO TELEIA (NFKC gives U+00B7)
		return strongSeparator
	case '.', // also the NFKC form of ． U+FF0E, ﹒ U+FE52, ․ U+2024
		'\u3002', // 。 IDEOGRAPHIC FULL STOP (NFKC target of ｡ U+FF61)
		'-',      // also the NFKC form of － U+FF0D
		'\u2010', // ‐ HYPHEN (NFKC target of ‑ U+2011)
		'\u2013', // – EN DASH
		'\u2014', // — EM DASH
		'\u2212', // − MINUS SIGN
		'\u25cf', // ● BLACK CIRCLE
		'\u119e': // HANGUL JUNGSEONG ARAEA (NFKC target of ㆍ U+318D)
		return weakSeparator
	}
	return notSeparator
}

// dropped reports whether r is removed from names: whitespace, control and
// format characters, and variation selectors (an ideographic variation
// sequence names a glyph, not a different character).
func dropped(r rune) bool {
	if r < utf8.RuneSelf {
		return r <= ' ' || r == 0x7f
	}
	return unicode.IsSpace(r) || unicode.In(r, unicode.Zs, unicode.Cc, unicode.Cf, unicode.Variation_Selector)
}

func isHan(r rune) bool {
	if r < 0x2e80 {
		return false
	}
	return unicode.Is(unicode.Han, r)
}

func isLatinLower(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 'a' && r <= 'z'
	}
	return unicode.IsLower(r) && unicode.Is(unicode.Latin, r)
}

// isNormalized is a conservative check that s is its own key: it may
// report false for a normalized string, never true for one that is not.
func isNormalized(s string) bool {
	if s == "" {
		return true
	}
	// stable: every rune is ASCII or a CJK ideograph that NFKC keeps (its
	// quick check is Yes and it is a starter), so NFKC keeps s as it is.
	stable := true
	var prev rune = -1
	for _, r := range s {
		if r >= 0x3400 && r < 0xa000 || r >= 0x20000 && r < 0x40000 {
			// CJK ideographs: only folding can change them.
			if _, ok := lookupFold(r); ok {
				return false
			}
			if r >= 0x2f800 && r < 0x2fa20 { // CJK Compatibility Ideographs Supplement: NFKC maps them
				stable = false
			}
			prev = r
			continue
		}
		if r >= utf8.RuneSelf {
			stable = false
		}
		switch {
		case r == utf8.RuneError, dropped(r), isLatinLower(r):
			return false
		case r == sepRune:
			if prev == -1 || prev == sepRune {
				return false
			}
		case classify(r) != notSeparator:
			return false
		default:
			if _, ok := lookupFold(r); ok {
				return false
			}
		}
		prev = r
	}
	if prev == sepRune {
		return false
	}
	return stable || norm.NFKC.QuickSpanString(s) == len(s)
}

func dropMap(r rune) rune {
	if dropped(r) {
		return -1
	}
	return r
}

// normalizeOnce applies one pass of the pipeline described at Normalize.
func normalizeOnce(s string) string {
	// strings.Map turns invalid UTF-8 into U+FFFD and does not allocate
	// when nothing is dropped.
	s = strings.Map(dropMap, s)
	if norm.NFKC.QuickSpanString(s) != len(s) {
		s = strings.Map(dropMap, norm.NFKC.String(s))
	}
	var b strings.Builder
	b.Grow(len(s))
	lastWasSep := true // suppresses a leading separator
	pending := false   // a "·" to write before the next non-separator rune
	prev := rune(-1)   // the input rune before position i
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if classify(r) == notSeparator {
			if pending {
				b.WriteRune(sepRune)
				pending = false
			}
			b.WriteRune(transform(r))
			lastWasSep = false
			prev = r
			i += n
			continue
		}
		// A run of separator characters s[i:j].
		j := i
		weak := false
		var next rune = -1
		for j < len(s) {
			c, m := utf8.DecodeRuneInString(s[j:])
			k := classify(c)
			if k == notSeparator {
				next = c
				break
			}
			if k == weakSeparator {
				weak = true
			}
			j += m
		}
		if !weak || (isHan(prev) && isHan(next)) {
			if !lastWasSep {
				pending = true
			}
		} else {
			// Ambiguous punctuation outside Han text: keep as typed, but
			// write the dot-like separators of the run as one "·" each
			// time they occur.
			if pending {
				b.WriteRune(sepRune)
				pending = false
			}
			last := rune(-1)
			for _, c := range s[i:j] {
				if classify(c) == strongSeparator {
					if last == sepRune {
						continue
					}
					c = sepRune
				}
				b.WriteRune(c)
				last = c
			}
			lastWasSep = false
		}
		if j > i {
			prev, _ = utf8.DecodeLastRuneInString(s[i:j])
		}
		i = j
	}
	return b.String()
}

// transform folds one non-separator rune.
func transform(r rune) rune {
	if isLatinLower(r) {
		return unicode.ToUpper(r)
	}
	v, _ := lookupFold(r)
	return v
}
