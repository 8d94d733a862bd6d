package xlsx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
)

// cellInfo is what the scanner learns about one cell: its column, type
// (the t attribute: "" or "n" number, "s" shared string, "str" formula
// text, "inlineStr", "b" boolean, "e" error, "d" ISO date) and style index.
type cellInfo struct {
	col int
	t   string
	s   int
}

// mergeRange is a merged cell range, 1-based and inclusive.
type mergeRange struct{ r1, c1, r2, c2 int }

func (m mergeRange) contains(r, c int) bool {
	return r >= m.r1 && r <= m.r2 && c >= m.c1 && c <= m.c2
}

// scanner reads a worksheet part at the byte level: element tags and their
// attributes, never text. It relies on XML's rule that '<' only starts
// markup, which makes it fast enough to run beside excelize's decoder.
type scanner struct {
	rc       io.ReadCloser
	br       *bufio.Reader
	buf      []byte
	cells    []cellInfo
	lastRow  int  // number of the last row tag seen
	pendRow  int  // row tag read but not consumed (0: none)
	pendSelf bool // that row tag was empty (<row …/>)
	dataDone bool // </sheetData> seen
}

func newScanner(rc io.ReadCloser) *scanner {
	return &scanner{rc: rc, br: bufio.NewReaderSize(rc, 256<<10)}
}

func (s *scanner) close() {
	if s.rc != nil {
		s.rc.Close()
		s.rc = nil
	}
}

// unexpected turns an early end of the part into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// skipTo consumes input up to and including the next '<'.
func (s *scanner) skipTo() error {
	for {
		_, err := s.br.ReadSlice('<')
		if err == nil {
			return nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// skipPast consumes input up to and including seq.
func (s *scanner) skipPast(seq string) error {
	last := seq[len(seq)-1]
	var tail []byte
	for {
		chunk, err := s.br.ReadSlice(last)
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return unexpected(err)
		}
		tail = append(tail, chunk...)
		if err == nil && bytes.HasSuffix(tail, []byte(seq)) {
			return nil
		}
		if len(tail) > len(seq) {
			tail = append(tail[:0], tail[len(tail)-len(seq):]...)
		}
	}
}

// next reads the next element tag, skipping text, comments, CDATA and
// processing instructions. It returns the local name (without prefix),
// whether it is an end tag or an empty element, and the tag's bytes (valid
// until the next call). io.EOF means the part ended between tags.
func (s *scanner) next() (local []byte, end, empty bool, tag []byte, err error) {
	for {
		if err := s.skipTo(); err != nil {
			return nil, false, false, nil, err
		}
		p, err := s.br.Peek(1)
		if err != nil {
			return nil, false, false, nil, unexpected(err)
		}
		switch p[0] {
		case '?':
			if err := s.skipPast("?>"); err != nil {
				return nil, false, false, nil, err
			}
			continue
		case '!':
			if p, _ := s.br.Peek(3); string(p) == "!--" {
				err = s.skipPast("-->")
			} else if p, _ := s.br.Peek(8); string(p) == "![CDATA[" {
				err = s.skipPast("]]>")
			} else {
				err = s.skipPast(">")
			}
			if err != nil {
				return nil, false, false, nil, err
			}
			continue
		}
		// Read to the '>' that is not inside a quoted attribute value.
		s.buf = s.buf[:0]
		var quote byte
		for done := false; !done; {
			chunk, err := s.br.ReadSlice('>')
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				return nil, false, false, nil, unexpected(err)
			}
			for _, b := range chunk {
				switch {
				case quote != 0:
					if b == quote {
						quote = 0
					}
				case b == '"' || b == '\'':
					quote = b
				}
			}
			s.buf = append(s.buf, chunk...)
			done = err == nil && quote == 0
		}
		tag = s.buf[:len(s.buf)-1]
		if len(tag) > 0 && tag[0] == '/' {
			end = true
			tag = tag[1:]
		}
		if n := len(tag); n > 0 && tag[n-1] == '/' {
			empty = true
			tag = tag[:n-1]
		}
		name := tag
		if i := bytes.IndexAny(name, " \t\r\n"); i >= 0 {
			name = name[:i]
		}
		if i := bytes.LastIndexByte(name, ':'); i >= 0 {
			name = name[i+1:]
		}
		return name, end, empty, tag, nil
	}
}

// attr returns the value of the attribute key (unprefixed name) in a tag.
func attr(tag []byte, key string) ([]byte, bool) {
	i := bytes.IndexAny(tag, " \t\r\n")
	if i < 0 {
		return nil, false
	}
	rest := tag[i:]
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		eq := bytes.IndexByte(rest, '=')
		if eq < 0 {
			return nil, false
		}
		name := bytes.TrimRight(rest[:eq], " \t\r\n")
		rest = bytes.TrimLeft(rest[eq+1:], " \t\r\n")
		if len(rest) == 0 || (rest[0] != '"' && rest[0] != '\'') {
			return nil, false
		}
		q := rest[0]
		j := bytes.IndexByte(rest[1:], q)
		if j < 0 {
			return nil, false
		}
		val := rest[1 : 1+j]
		if string(name) == key {
			return val, true
		}
		rest = rest[2+j:]
	}
}

// cellRef parses a cell reference such as "AB12" into column and row.
func cellRef(ref []byte) (col, row int, err error) {
	i := 0
	for i < len(ref) {
		b := ref[i] | 0x20
		if b < 'a' || b > 'z' {
			break
		}
		col = col*26 + int(b-'a'+1)
		i++
	}
	if i == 0 || col > 16384 {
		return 0, 0, fmt.Errorf("bad cell reference %q", ref)
	}
	if i < len(ref) {
		if row, err = strconv.Atoi(string(ref[i:])); err != nil || row < 1 {
			return 0, 0, fmt.Errorf("bad cell reference %q", ref)
		}
	}
	return col, row, nil
}

// advanceRow reads up to the next row tag and leaves it pending. It
// returns false at the end of the sheet data.
func (s *scanner) advanceRow() (bool, error) {
	if s.dataDone {
		return false, nil
	}
	for {
		name, end, empty, tag, err := s.next()
		if err != nil {
			return false, unexpected(err)
		}
		switch string(name) {
		case "row":
			if end {
				continue
			}
			n := s.lastRow + 1
			if v, ok := attr(tag, "r"); ok {
				if n, err = strconv.Atoi(string(v)); err != nil || n < 1 {
					return false, fmt.Errorf("bad row number %q", v)
				}
			}
			s.lastRow, s.pendRow, s.pendSelf = n, n, empty
			return true, nil
		case "sheetData":
			if end || empty {
				s.dataDone = true
				return false, nil
			}
		}
	}
}

// rowCells reads the cells of the pending row up to its end tag.
func (s *scanner) rowCells() ([]cellInfo, error) {
	s.cells = s.cells[:0]
	self := s.pendSelf
	s.pendRow, s.pendSelf = 0, false
	if self {
		return s.cells, nil
	}
	col, sorted := 0, true
	for {
		name, end, _, tag, err := s.next()
		if err != nil {
			return nil, unexpected(err)
		}
		switch string(name) {
		case "row":
			if end {
				if !sorted {
					sort.SliceStable(s.cells, func(i, j int) bool { return s.cells[i].col < s.cells[j].col })
				}
				return s.cells, nil
			}
			return nil, errors.New("row element inside a row")
		case "c":
			if end {
				continue
			}
			c := col + 1
			if v, ok := attr(tag, "r"); ok {
				if c, _, err = cellRef(v); err != nil {
					return nil, err
				}
			}
			if c <= col {
				sorted = false
			}
			col = c
			ci := cellInfo{col: c}
			if v, ok := attr(tag, "t"); ok {
				ci.t = string(v)
			}
			if v, ok := attr(tag, "s"); ok {
				ci.s, _ = strconv.Atoi(string(v))
			}
			s.cells = append(s.cells, ci)
		case "sheetData":
			return nil, errors.New("sheet data ends inside a row")
		}
	}
}

// cellsOf returns the cells of sheet row n, which must be asked for in
// increasing order; a row that is not in the file has no cells.
func (s *scanner) cellsOf(n int) ([]cellInfo, error) {
	for {
		if s.pendRow == 0 {
			ok, err := s.advanceRow()
			if err != nil || !ok {
				return nil, err
			}
		}
		switch {
		case s.pendRow > n:
			return nil, nil
		case s.pendRow == n:
			return s.rowCells()
		}
		if _, err := s.rowCells(); err != nil { // a row the caller skipped
			return nil, err
		}
	}
}

// finish reads the rest of the part: it returns the highest row number
// still to come (0 if none) and any error of the stream itself, such as a
// zip checksum mismatch.
func (s *scanner) finish() (int, error) {
	last := 0
	if s.pendRow != 0 {
		last = s.pendRow
	}
	for {
		ok, err := s.advanceRow()
		if err != nil {
			return last, err
		}
		if !ok {
			break
		}
		last = s.pendRow
		if _, err := s.rowCells(); err != nil {
			return last, err
		}
	}
	if _, err := io.Copy(io.Discard, s.br); err != nil {
		return last, err
	}
	return last, nil
}

// merges reads the whole part and returns its merged ranges.
func (s *scanner) merges() ([]mergeRange, error) {
	var out []mergeRange
	lastRow := 0 // for saying where a damaged part ends
	for {
		name, end, _, tag, err := s.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			if lastRow > 0 {
				return nil, fmt.Errorf("after row %d: %w", lastRow, err)
			}
			return nil, err
		}
		if !end && string(name) == "row" {
			if v, ok := attr(tag, "r"); ok {
				if n, err := strconv.Atoi(string(v)); err == nil {
					lastRow = n
				}
			}
			continue
		}
		if end || string(name) != "mergeCell" {
			continue
		}
		ref, ok := attr(tag, "ref")
		if !ok {
			continue
		}
		a, b, found := bytes.Cut(ref, []byte(":"))
		if !found {
			b = a
		}
		c1, r1, err1 := cellRef(a)
		c2, r2, err2 := cellRef(b)
		if err1 != nil || err2 != nil || r1 == 0 || r2 == 0 {
			continue
		}
		out = append(out, mergeRange{r1: min(r1, r2), c1: min(c1, c2), r2: max(r1, r2), c2: max(c1, c2)})
	}
}
