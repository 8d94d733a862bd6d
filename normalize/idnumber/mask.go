package idnumber

import (
	"strings"
	"unicode/utf8"
)

// Mask hides the middle of an identifier for display and logs. Strings of 11
// or more characters keep their first 6 and last 4 characters
// (410102********1234 for an 18-character ID); shorter strings keep only
// their last 2 characters. Characters are counted as runes; invalid UTF-8
// bytes count as one character each.
func Mask(s string) string {
	n := utf8.RuneCountInString(s)
	keepHead, keepTail := 6, 4
	if n < 11 {
		keepHead, keepTail = 0, 2
	}
	if n <= keepHead+keepTail {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	i := 0
	for _, r := range s {
		switch {
		case i < keepHead || i >= n-keepTail:
			if r == utf8.RuneError {
				// Keep invalid bytes visible as U+FFFD rather than
				// re-emitting raw bytes.
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteRune(r)
			}
		default:
			b.WriteByte('*')
		}
		i++
	}
	return b.String()
}

// MinMaskRun is the shortest run of [0-9Xx] that MaskDigitRuns masks.
const MinMaskRun = 12

// MaskDigitRuns masks, inside arbitrary text such as a log line or a JSON
// document, every run of MinMaskRun or more consecutive characters from
// [0-9Xx] (ID numbers, bank accounts) with Mask. Other text is unchanged.
// Text without such runs is returned without allocating.
func MaskDigitRuns(s string) string {
	var b *strings.Builder
	last := 0 // end of the part of s already copied to b
	for i := 0; i < len(s); {
		if !isRunByte(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isRunByte(s[j]) {
			j++
		}
		if j-i >= MinMaskRun {
			if b == nil {
				b = new(strings.Builder)
				b.Grow(len(s))
			}
			b.WriteString(s[last:i])
			b.WriteString(Mask(s[i:j]))
			last = j
		}
		i = j
	}
	if b == nil {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isRunByte(c byte) bool {
	return c >= '0' && c <= '9' || c == 'X' || c == 'x'
}
