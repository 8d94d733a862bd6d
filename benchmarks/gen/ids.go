package gen

import (
	"math/rand/v2"
	"strings"

	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const idCheckTable = "10X98765432"

// checkChar computes the MOD 11-2 check character of 17 digits.
func checkChar(b []byte) byte {
	s := 0
	for i := 0; i < 17; i++ {
		s += int(b[i]-'0') * idWeights[i]
	}
	return idCheckTable[s%11]
}

// makeID builds an 18-character ID: address code, birth date, sequence
// (whose parity is the gender) and check character.
func makeID(addr string, birth day, seq int) string {
	var b [18]byte
	copy(b[:6], addr)
	appendDate(b[6:6], birth, styleCompact)
	b[14] = byte('0' + seq/100)
	b[15] = byte('0' + seq/10%10)
	b[16] = byte('0' + seq%10)
	b[17] = checkChar(b[:])
	return string(b[:])
}

// legacy15 returns the 15-digit GB 11643-1989 form of an ID of someone
// born in the 1900s: address, YYMMDD, sequence; no check character.
func legacy15(id string) string { return id[:6] + id[8:17] }

func validID(s string) bool { return idnumber.Valid(s) }

// typo1 makes one typing error: a wrong digit or two neighbours swapped.
// MOD 11-2 detects both, so the result is never a valid ID. Results that
// end in 000 are avoided: the engine rightly takes those for Excel damage.
func typo1(r *rand.Rand, id string) string {
	for {
		b := []byte(id)
		if r.IntN(4) == 0 {
			i := r.IntN(16)
			if b[i] == b[i+1] {
				continue
			}
			b[i], b[i+1] = b[i+1], b[i]
		} else {
			i := r.IntN(17)
			c := byte('0' + r.IntN(10))
			if c == b[i] {
				continue
			}
			b[i] = c
		}
		if s := string(b); idnumber.Normalize(s).Status == idnumber.StatusInvalid {
			return s
		}
	}
}

// damageID makes an ID unusable beyond single-typo repair: two wrong
// digits, a digit dropped, or an impossible month with a recomputed check
// character. kind selects the damage.
func damageID(r *rand.Rand, id string, kind int) string {
	switch kind {
	case 0: // two wrong digits
		for {
			b := []byte(id)
			i := r.IntN(17)
			j := (i + 1 + r.IntN(16)) % 17
			b[i] = byte('0' + (int(b[i]-'0')+1+r.IntN(9))%10)
			b[j] = byte('0' + (int(b[j]-'0')+1+r.IntN(9))%10)
			if s := string(b); !validID(s) {
				return s
			}
		}
	case 1: // a digit dropped: 17 characters
		i := r.IntN(17)
		return id[:i] + id[i+1:]
	default: // month 13 with a consistent check character
		b := []byte(id)
		b[10], b[11] = '1', '3'
		b[17] = checkChar(b)
		return string(b)
	}
}

// excelDamage renders an ID as a spreadsheet that read it as a number
// shows it: scientific notation, or 15 significant digits padded with 0.
func excelDamage(r *rand.Rand, id string) string {
	if r.IntN(2) == 0 {
		z := id[:15] + "000"
		if idnumber.Normalize(z).Status == idnumber.StatusExcelDamaged {
			return z
		}
	}
	// 4.10102E+17 (Excel's General format in a narrow column)
	return id[:1] + "." + id[1:6] + "E+17"
}

// fullWidth maps ASCII digits and X to their full-width forms.
func fullWidth(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c - '0' + '０')
		case c == 'X':
			b.WriteRune('Ｘ')
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// formatNoise writes a valid ID the way careless typing and spreadsheets
// do without changing it: spaces, full-width digits, lower-case x,
// apostrophes, stray blanks. The engine's cleaning undoes all of them.
func formatNoise(r *rand.Rand, id string) string {
	for {
		var s string
		switch r.IntN(6) {
		case 0:
			s = id[:6] + " " + id[6:14] + " " + id[14:]
		case 1:
			s = fullWidth(id)
		case 2:
			if id[17] != 'X' {
				continue
			}
			s = id[:17] + "x"
		case 3:
			s = "'" + id
		case 4:
			s = id + " "
		default:
			s = id[:10] + "\u3000" + id[10:]
		}
		if res := idnumber.Normalize(s); res.Status == idnumber.StatusValid && res.Canonical == id {
			return s
		}
	}
}

// luhn appends the Luhn check digit to a string of digits.
func luhn(digits []byte) []byte {
	sum := 0
	double := true
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return append(digits, byte('0'+(10-sum%10)%10))
}

// account builds a 19-digit bank card number: a 6-digit BIN, 12 digits
// derived bijectively from serial, and a Luhn digit.
func account(bin string, serial uint64, mult uint64) string {
	const mod = 1_000_000_000_000
	v := (serial*mult + 7_777_777) % mod
	b := make([]byte, 0, 19)
	b = append(b, bin...)
	b = appendInt(b, int(v), 12)
	return string(luhn(b))
}
