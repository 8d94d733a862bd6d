package xlsx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
)

// Cell types, from the t attribute.
const (
	typNumber  byte = iota // t absent or "n"
	typShared              // "s": index into the shared strings
	typInline              // "inlineStr": text in <is>
	typFormula             // "str": formula text result
	typBool                // "b"
	typError               // "e": #N/A and the like
	typDate                // "d": ISO 8601 text
	typUnknown             // any other t: the value as stored
)

func cellType(t []byte) byte {
	switch string(t) {
	case "", "n":
		return typNumber
	case "s":
		return typShared
	case "inlineStr":
		return typInline
	case "str":
		return typFormula
	case "b":
		return typBool
	case "e":
		return typError
	case "d":
		return typDate
	}
	return typUnknown
}

// cell is one <c> of a row: column, type, style, and where its <v> text
// and its inline string text are in the row's value buffer (-1: absent).
type cell struct {
	col          int
	typ          byte
	style        int
	v0, v1       int
	is0, is1     int
	formula, has bool
}

// sheetReader streams the rows of a worksheet part.
type sheetReader struct {
	w      *window
	inData bool
	done   bool // </sheetData> seen
	row    int  // number of the last row read
	cells  []cell
	val    []byte // decoded <v> and <is> text of the current row
}

func newSheetReader(r io.Reader) *sheetReader {
	return &sheetReader{w: newWindow(r, 1<<20)}
}

// next reads the next <row> of the sheet data; false after </sheetData>.
// Errors name what is wrong; the caller adds the row.
func (s *sheetReader) next() (bool, error) {
	s.cells, s.val = s.cells[:0], s.val[:0]
	if s.done {
		return false, nil
	}
	for {
		_, k, name, attrs, err := s.w.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return false, err
		}
		if k == tokCDATA || k == tokOther {
			continue
		}
		switch string(name) {
		case "sheetData":
			if k != tokStart {
				s.done = true
				return false, nil
			}
			s.inData = true
		case "row":
			if !s.inData || k == tokEnd {
				if k == tokEnd {
					return false, errors.New("a row ends that did not start")
				}
				continue
			}
			n := s.row + 1
			for a := attrs; ; {
				an, av, rest, err := nextAttr(a)
				if err != nil {
					return false, err
				}
				if an == nil {
					break
				}
				if string(an) == "r" {
					v, ok := atoiBytes(av)
					if !ok || v < 1 || v > 1<<20 {
						return false, fmt.Errorf("bad row number %q", av)
					}
					n = v
				}
				a = rest
			}
			if n <= s.row {
				return false, fmt.Errorf("row %d comes after row %d", n, s.row)
			}
			s.row = n
			if k == tokEmpty {
				return true, nil
			}
			return true, s.body()
		}
	}
}

// body reads the cells of the current row up to </row>.
func (s *sheetReader) body() error {
	col, sorted := 0, true
	var cur *cell
	capture := false // inside <v> or an <is> <t> outside phonetic runs
	inIS, inRPh := false, false
	for {
		text, k, name, attrs, err := s.w.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if capture && len(text) > 0 {
			if s.val, err = appendText(s.val, text); err != nil {
				return err
			}
		}
		switch k {
		case tokCDATA:
			if capture {
				s.val = appendCDATA(s.val, name)
			}
			continue
		case tokOther:
			continue
		}
		switch string(name) {
		case "c":
			if k == tokEnd {
				if cur == nil {
					return errors.New("a cell ends that did not start")
				}
				cur, capture, inIS, inRPh = nil, false, false, false
				continue
			}
			if cur != nil {
				return errors.New("a cell inside a cell")
			}
			c := cell{col: col + 1, v0: -1, v1: -1, is0: -1, is1: -1}
			for a := attrs; ; {
				an, av, rest, err := nextAttr(a)
				if err != nil {
					return err
				}
				if an == nil {
					break
				}
				switch string(an) {
				case "r":
					cc, _, err := cellRef(av)
					if err != nil {
						return err
					}
					c.col = cc
				case "t":
					c.typ = cellType(av)
				case "s":
					c.style, _ = atoiBytes(av)
				}
				a = rest
			}
			if c.col <= col {
				sorted = false
			}
			col = c.col
			s.cells = append(s.cells, c)
			if k == tokStart {
				cur = &s.cells[len(s.cells)-1]
				// Most cells are <v>text</v></c> exactly: read that
				// without three more tokens. Anything else (a prefix, a
				// formula, CDATA, an inline string) takes the general way.
				b := s.w.buf[s.w.pos:s.w.end]
				if len(b) > 3 && b[0] == '<' && b[1] == 'v' && b[2] == '>' {
					if e := bytes.IndexByte(b[3:], '<'); e >= 0 && bytes.HasPrefix(b[3+e:], []byte("</v></c>")) {
						cur.v0 = len(s.val)
						if s.val, err = appendText(s.val, b[3:3+e]); err != nil {
							return err
						}
						cur.v1 = len(s.val)
						s.w.pos += 3 + e + len("</v></c>")
						cur = nil
					}
				}
			}
		case "v":
			if cur == nil || inIS {
				continue
			}
			switch k {
			case tokStart:
				capture, cur.v0, cur.v1 = true, len(s.val), len(s.val)
			case tokEmpty:
				cur.v0, cur.v1 = len(s.val), len(s.val)
			case tokEnd:
				if capture {
					capture, cur.v1 = false, len(s.val)
				}
			}
		case "is":
			if cur == nil {
				continue
			}
			switch k {
			case tokStart:
				inIS, cur.is0, cur.is1 = true, len(s.val), len(s.val)
			case tokEmpty:
				cur.is0, cur.is1 = len(s.val), len(s.val)
			case tokEnd:
				inIS, capture, cur.is1 = false, false, len(s.val)
			}
		case "t":
			if inIS && !inRPh {
				capture = k == tokStart
			}
		case "rPh":
			if inIS {
				inRPh = k == tokStart
			}
		case "f":
			if cur != nil && k != tokEnd {
				cur.formula = true
			}
		case "row":
			if k != tokEnd {
				return errors.New("a row inside a row")
			}
			if cur != nil {
				return errors.New("the row ends inside a cell")
			}
			if !sorted {
				sort.SliceStable(s.cells, func(i, j int) bool { return s.cells[i].col < s.cells[j].col })
			}
			return nil
		case "sheetData":
			return errors.New("the sheet data ends inside a row")
		}
	}
}

// finish reads the rest of the part after the sheet data, so that the zip
// entry's checksum is checked.
func (s *sheetReader) finish() error {
	for {
		_, _, _, _, err := s.w.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// cellRef parses a cell reference such as "AB12" into column and row (0
// when the reference has no row).
func cellRef(ref []byte) (col, row int, err error) {
	ref = bytes.TrimSpace(ref)
	i := 0
	for i < len(ref) {
		b := ref[i] | 0x20
		if b < 'a' || b > 'z' {
			break
		}
		col = col*26 + int(b-'a'+1)
		i++
		if col > 16384 {
			break
		}
	}
	if i == 0 || col > 16384 {
		return 0, 0, fmt.Errorf("bad cell reference %q", clip(ref))
	}
	if i < len(ref) {
		r, ok := atoiBytes(ref[i:])
		if !ok || r < 1 {
			return 0, 0, fmt.Errorf("bad cell reference %q", clip(ref))
		}
		row = r
	}
	return col, row, nil
}
