// Package pinyin romanises personal names into toneless pinyin keys for
// record linkage: the full reading, its dialect-folded form, the initials,
// and the reading of the surname and of the given name apart.
//
// Readings come from github.com/mozillazg/go-pinyin (character by character,
// first reading), with three corrections that matter for names:
//
//   - The surname is read as a surname. go-pinyin gives the common reading of
//     a polyphonic character, which is wrong for most surnames: 单 dan → shan,
//     解 jie → xie, 曾 ceng → zeng, 仇 chou → qiu, 朴 pu → piao, 查 cha → zha,
//     区 qu → ou, 尉迟 wei chi → yu chi … The table is
//     data/polyphonic_surname_readings.csv (see data/NOTES.md).
//   - Compound surnames (欧阳, 司马, 诸葛 …, see IsCompoundSurname) are split
//     as one surname.
//   - Characters without a reading are kept, not dropped (go-pinyin drops
//     them by default): a rare character outside the dictionary, a digit or
//     a wildcard still takes part in comparisons.
//
// The minority-name separator "·" (and whitespace between Latin words) is
// kept as a word break. Names written in Latin letters ("ZHANG Wei", "Maimaiti
// Aili") give keys comparable with the Han form: letters are lower-cased and
// ü/v/yu spellings are unified in the folded key.
//
// Romanize is safe for concurrent use; readings are cached per character.
package pinyin

import (
	_ "embed"
	"encoding/csv"
	"strings"
	"sync"
	"unicode"

	gopinyin "github.com/mozillazg/go-pinyin"
	"golang.org/x/text/unicode/norm"

	"github.com/crosscheck/crosscheck/normalize/names"
)

//go:embed data/polyphonic_surname_readings.csv
var polyphonicCSV string

// Keys are the romanised comparison keys of one name.
type Keys struct {
	// Words are the name's words (a Han name without separator is one
	// word), each a list of toneless syllables. A character without a
	// reading is its own syllable.
	Words [][]string
	// Full is the reading with syllables run together and words separated
	// by one space: 张伟 "zhangwei", 买买提·艾力 "maimaiti aili".
	Full string
	// Key is Full without spaces, the key for "same pinyin": 张伟 and 章炜
	// are both "zhangwei".
	Key string
	// Folded is Key with the common dialect mergers folded (see Fold):
	// 刘宁 "liuning" and 牛玲 "niuling" are both "liulin".
	Folded string
	// Initials are the first letters of the syllables: 张伟 "zw".
	Initials string
	// Surname and Given are the readings of the surname (one character or
	// a recognised compound surname) and of the rest of a Han name
	// without separator. For a minority name with separator or a Latin
	// name, Surname is empty and Given equals Key.
	Surname, Given string
}

var (
	surnameOnce     sync.Once
	surnameReadings map[string][]string
	runeCache       sync.Map // rune → string
)

// loadSurnames parses the polyphonic surname table: surname → syllables of
// its (first) surname reading, tones dropped.
func loadSurnames() {
	surnameOnce.Do(func() {
		surnameReadings = map[string][]string{}
		r := csv.NewReader(strings.NewReader(polyphonicCSV))
		r.FieldsPerRecord = -1
		recs, err := r.ReadAll()
		if err != nil {
			return // the file is embedded and checked by tests
		}
		for i, rec := range recs {
			if i == 0 || len(rec) < 2 {
				continue
			}
			s := strings.TrimSpace(rec[0])
			first, _, _ := strings.Cut(strings.TrimSpace(rec[1]), "|")
			var syl []string
			for _, f := range strings.Fields(first) {
				syl = append(syl, strings.TrimRight(f, "012345"))
			}
			if s != "" && len(syl) == len([]rune(s)) {
				surnameReadings[s] = syl
			}
		}
	})
}

// SurnameReading returns the toneless surname reading of s (one or two
// characters) from the polyphonic surname table, or nil when s is not in
// it (its default reading is then right).
func SurnameReading(s string) []string {
	loadSurnames()
	return surnameReadings[s]
}

var args = gopinyin.Args{Style: gopinyin.Normal, Fallback: func(r rune, a gopinyin.Args) []string { return nil }}

// Reading returns the toneless default reading of a Han character (ü as
// "v"), or "" when go-pinyin has none.
func Reading(r rune) string {
	if v, ok := runeCache.Load(r); ok {
		return v.(string)
	}
	var s string
	if p := gopinyin.SinglePinyin(r, args); len(p) > 0 {
		s = p[0]
	}
	runeCache.Store(r, s)
	return s
}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) || r == '〇' }

// Romanize returns the keys of a name. The name may be raw or already
// normalised with names.Normalize; Romanize applies NFKC and folds
// traditional characters itself.
func Romanize(name string) Keys {
	loadSurnames()
	name = norm.NFKC.String(name)
	// Split into words. Han characters accumulate into the current word;
	// a separator or whitespace ends a word; Latin letters and digits form
	// words of their own (a switch between Han and Latin ends a word).
	type word struct {
		han   []rune
		latin []rune
	}
	var words []word
	var cur word
	flush := func() {
		if len(cur.han) > 0 || len(cur.latin) > 0 {
			words = append(words, cur)
		}
		cur = word{}
	}
	for _, r := range name {
		switch {
		case isHan(r):
			if len(cur.latin) > 0 {
				flush()
			}
			cur.han = append(cur.han, names.FoldRune(r))
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '?' || r == '*':
			if len(cur.han) > 0 && !(r == '?' || r == '*') {
				flush()
			}
			if len(cur.han) > 0 {
				cur.han = append(cur.han, r) // wildcard inside a Han name
				continue
			}
			cur.latin = append(cur.latin, unicode.ToLower(r))
		case unicode.IsSpace(r):
			// Spaces inside a Han name are typing artefacts; between Latin
			// words they separate words.
			if len(cur.latin) > 0 {
				flush()
			}
		case unicode.IsMark(r):
			// drop combining marks (tone marks typed on Latin pinyin)
		default:
			// "·" and any other punctuation: a word break
			flush()
		}
	}
	flush()

	var k Keys
	hanOnly := len(words) == 1 && len(words[0].han) > 0
	for wi, w := range words {
		var syl []string
		if len(w.han) > 0 {
			syl = make([]string, 0, len(w.han))
			start := 0
			if wi == 0 && hanOnly {
				n := surnameLen(w.han)
				if rd := surnameReadings[string(w.han[:n])]; rd != nil {
					syl = append(syl, rd...)
				} else {
					for _, r := range w.han[:n] {
						syl = append(syl, readingOrSelf(r))
					}
				}
				start = n
			}
			for _, r := range w.han[start:] {
				syl = append(syl, readingOrSelf(r))
			}
			if wi == 0 && hanOnly {
				n := surnameLen(w.han)
				k.Surname = strings.Join(syl[:n], "")
				k.Given = strings.Join(syl[n:], "")
			}
		} else {
			syl = []string{string(w.latin)}
		}
		k.Words = append(k.Words, syl)
	}
	var full, key, folded, ini strings.Builder
	for i, syl := range k.Words {
		if i > 0 {
			full.WriteByte(' ')
		}
		for _, s := range syl {
			full.WriteString(s)
			key.WriteString(s)
			folded.WriteString(Fold(s))
			for _, r := range s {
				ini.WriteRune(r)
				break
			}
		}
	}
	k.Full, k.Key, k.Folded, k.Initials = full.String(), key.String(), folded.String(), ini.String()
	if !hanOnly {
		k.Given = k.Key
	}
	return k
}

// surnameLen is the number of characters of the surname at the start of a
// Han name: 2 for a recognised compound surname followed by a given name,
// else 1 (0 for an empty name).
func surnameLen(han []rune) int {
	if len(han) >= 3 && compoundSet[string(han[:2])] {
		return 2
	}
	return min(1, len(han))
}

func readingOrSelf(r rune) string {
	if s := Reading(r); s != "" {
		return s
	}
	return string(r)
}

// Fold folds one toneless syllable (or a Latin word) for dialect-tolerant
// comparison: zh/ch/sh → z/c/s, initial n → l, ang/eng/ing → an/en/in,
// huang → wang, hu → fu, and ü spellings (v, yu after l/n) → u. The mergers
// are those of Henan and of southern speakers (cn_domain §4.3). Folding can
// merge different names; it is a comparison level below "same pinyin", never
// equality.
func Fold(s string) string {
	if s == "" {
		return s
	}
	if !isASCIILower(s) {
		return s
	}
	switch s {
	case "huang":
		return "wan"
	case "hu":
		return "fu"
	}
	b := []byte(s)
	if len(b) >= 3 && (b[0] == 'l' || b[0] == 'n') && b[1] == 'y' && b[2] == 'u' {
		b = append([]byte{b[0]}, b[2:]...) // lyu, nyu: official spellings of lü, nü
	}
	out := make([]byte, 0, len(b))
	i := 0
	if len(b) >= 2 && (b[0] == 'z' || b[0] == 'c' || b[0] == 's') && b[1] == 'h' {
		out = append(out, b[0])
		i = 2
	} else if b[0] == 'n' && len(b) > 1 && b[1] != 'g' {
		out = append(out, 'l')
		i = 1
	}
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c == 'v':
			out = append(out, 'u')
		case c == 'n' && i+1 < len(b) && b[i+1] == 'g' && i > 0 && (b[i-1] == 'a' || b[i-1] == 'e' || b[i-1] == 'i'):
			out = append(out, 'n')
			i++ // drop g
		default:
			out = append(out, c)
		}
	}
	return string(out)
}

func isASCIILower(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
