package csv

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// smallReader hands out at most n bytes a Read, to cut characters at
// buffer ends.
type smallReader struct {
	r io.Reader
	n int
}

func (s smallReader) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), s.n)]) }

// TestGBDecoderMatchesXText decodes random byte strings (ASCII, GBK and
// GB18030 text, invalid bytes, characters cut at the end) with the fast
// decoder and with x/text's, through readers of many buffer sizes, and
// wants the same text.
func TestGBDecoderMatchesXText(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	enc := simplifiedchinese.GB18030.NewEncoder()
	pieces := [][]byte{}
	for _, s := range []string{"张三,410102198001010012,西平县\n", "𠀀明", "€", "abc", "鑫龑", "·", "\r\n", "　", "Ω", "é"} {
		b, err := enc.Bytes([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		pieces = append(pieces, b)
	}
	for i := 0; i < 3000; i++ {
		var in []byte
		for k := r.IntN(40); k > 0; k-- {
			switch r.IntN(4) {
			case 0:
				in = append(in, byte(r.IntN(256))) // any byte, valid or not
			case 1:
				in = append(in, byte(0x81+r.IntN(126)), byte(r.IntN(256))) // a lead byte and any byte
			default:
				in = append(in, pieces[r.IntN(len(pieces))]...)
			}
		}
		want, _ := io.ReadAll(transform.NewReader(bytes.NewReader(in), simplifiedchinese.GB18030.NewDecoder()))
		for _, n := range []int{1, 2, 3, 5, 4096} {
			got, err := io.ReadAll(transform.NewReader(smallReader{bytes.NewReader(in), n}, newGBDecoder()))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("input % x, reads of %d bytes: got %q (%v), want %q", in, n, got, err, want)
			}
		}
		// Small destination buffers too.
		got := make([]byte, 0, len(want))
		dec := newGBDecoder()
		src := in
		for len(src) > 0 {
			dst := make([]byte, 1+r.IntN(6))
			nd, ns, err := dec.Transform(dst, src, true)
			got = append(got, dst[:nd]...)
			src = src[ns:]
			if err != nil && err != transform.ErrShortDst {
				t.Fatalf("input % x: %v", in, err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("input % x, small destinations: got %q, want %q", in, got, want)
		}
	}
}

// TestGBTableCoversGBK: every two-byte GBK character of the common range
// takes the fast path.
func TestGBTableCoversGBK(t *testing.T) {
	newGBDecoder()
	n := 0
	for _, c := range gbTable {
		if c.n != 0 {
			n++
		}
	}
	if n < 21000 {
		t.Errorf("%d two-byte characters in the table, want the ~21,900 of GBK", n)
	}
}
