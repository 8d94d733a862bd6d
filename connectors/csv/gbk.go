package csv

import (
	"sync"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// gbDecoder decodes GB18030 (and so GBK) to UTF-8 as x/text's decoder
// does, faster on what rolls hold: runs of ASCII are copied as they are
// and two-byte characters come from a table made from x/text's decoder.
// Anything else (four-byte sequences, bytes that are not valid text, a
// character cut by the end of the buffer) is handed to x/text's decoder,
// so the output is that decoder's, byte for byte.
type gbDecoder struct {
	transform.NopResetter
	ref transform.Transformer
}

func newGBDecoder() transform.Transformer {
	gbOnce.Do(buildGBTable)
	return gbDecoder{ref: simplifiedchinese.GB18030.NewDecoder()}
}

// gbChar is the UTF-8 encoding of a two-byte character; n is 0 for a pair
// that the fast path leaves to x/text.
type gbChar struct {
	b [3]byte
	n uint8
}

const (
	gbLeadMin, gbLeadMax   = 0x81, 0xfe
	gbTrailMin, gbTrailMax = 0x40, 0xfe
	gbTrails               = gbTrailMax - gbTrailMin + 1
)

var (
	gbOnce  sync.Once
	gbTable []gbChar
)

// buildGBTable decodes every lead and trail byte pair with x/text's
// decoder and keeps those that give one character of the BMP from both
// bytes.
func buildGBTable() {
	gbTable = make([]gbChar, (gbLeadMax-gbLeadMin+1)*gbTrails)
	dec := simplifiedchinese.GB18030.NewDecoder()
	var dst [16]byte
	for lead := gbLeadMin; lead <= gbLeadMax; lead++ {
		for trail := gbTrailMin; trail <= gbTrailMax; trail++ {
			dec.Reset()
			nDst, nSrc, err := dec.Transform(dst[:], []byte{byte(lead), byte(trail)}, true)
			if err != nil || nSrc != 2 || nDst < 2 || nDst > 3 {
				continue
			}
			r, size := utf8.DecodeRune(dst[:nDst])
			if size != nDst || r == utf8.RuneError {
				continue
			}
			c := &gbTable[(lead-gbLeadMin)*gbTrails+trail-gbTrailMin]
			copy(c.b[:], dst[:nDst])
			c.n = uint8(nDst)
		}
	}
}

func (d gbDecoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		c := src[nSrc]
		if c < utf8.RuneSelf {
			// A run of ASCII, copied in one go.
			end := nSrc + 1
			for end < len(src) && src[end] < utf8.RuneSelf {
				end++
			}
			n := copy(dst[nDst:], src[nSrc:end])
			nDst += n
			nSrc += n
			if nSrc < end {
				return nDst, nSrc, transform.ErrShortDst
			}
			continue
		}
		if nSrc+1 < len(src) && c >= gbLeadMin && c <= gbLeadMax {
			if t := src[nSrc+1]; t >= gbTrailMin && t <= gbTrailMax {
				if ch := &gbTable[int(c-gbLeadMin)*gbTrails+int(t-gbTrailMin)]; ch.n != 0 {
					if nDst+int(ch.n) > len(dst) {
						return nDst, nSrc, transform.ErrShortDst
					}
					nDst += copy(dst[nDst:], ch.b[:ch.n])
					nSrc += 2
					continue
				}
			}
		}
		// One character (at most four bytes) for x/text.
		end := min(nSrc+4, len(src))
		nd, ns, e := d.ref.Transform(dst[nDst:], src[nSrc:end], atEOF && end == len(src))
		nDst += nd
		nSrc += ns
		if ns == 0 {
			if e == nil {
				e = transform.ErrShortSrc
			}
			return nDst, nSrc, e
		}
	}
	return nDst, nSrc, nil
}
