package csv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// scanner splits CSV text into records (RFC 4180 quoting: a field that
// starts with a quote runs to the next quote that is not doubled, and may
// hold delimiters and line breaks). It differs from encoding/csv in what it
// does with a bad quote: encoding/csv lets an unclosed quote take the rest
// of the file as one field, so every record after it is lost without a
// trace. The scanner instead accepts a record that spans several lines only
// when its quotes close cleanly within maxLines lines and it has the
// header's number of fields; otherwise the record's first line alone is
// returned as a bad_quoting record and reading resumes at the next line
// (the lines already looked at are read again). So every line of the file
// ends up in exactly one record, accepted or bad.
type scanner struct {
	br       *bufio.Reader
	comma    []byte
	maxLines int
	// want is the header's number of fields (0 while reading the header).
	want int

	// line is the number of the last line taken from br.
	line    int
	eof     bool
	readErr error
	// replay holds lines to read again (oldest first) after a resync.
	replay []physLine
	// long collects a line longer than br's buffer.
	long []byte

	// The record being built: its text and each field's [start, end) in buf.
	buf    []byte
	bounds []int
	fields []string
	str    string // the fields' text
	// pending holds copies of the lines of a record that spans several
	// lines, for reading them again if the record turns out to be bad.
	pending []physLine
}

type physLine struct {
	no int
	b  []byte
}

// scanned is one record: fields (valid until the next call), the line it
// starts on and, for a bad record, the problem.
type scanned struct {
	fields []string
	// plain is the record's text when it is one line without quotes: its
	// fields are pieces of it between delimiters.
	plain string
	line  int
	// bad is set for a quoting problem; col is the 0-based field where it
	// is, detail says what it is.
	bad    bool
	col    int
	detail string
}

func newScanner(r io.Reader, comma rune, maxLines int) *scanner {
	return &scanner{br: bufio.NewReaderSize(r, 1<<16), comma: []byte(string(comma)), maxLines: maxLines}
}

// nextLine returns the next line without its line end ("\n" or "\r\n")
// and its number. The bytes are valid until the next call. io.EOF after
// the last line; another error when the stream broke.
func (s *scanner) nextLine() ([]byte, int, error) {
	if len(s.replay) > 0 {
		l := s.replay[0]
		s.replay = s.replay[1:]
		return l.b, l.no, nil
	}
	if s.eof {
		return nil, s.line, io.EOF
	}
	if s.readErr != nil {
		return nil, s.line, s.readErr
	}
	b, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		s.long = append(s.long[:0], b...)
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = s.br.ReadSlice('\n')
			s.long = append(s.long, b...)
		}
		b = s.long
	}
	if err != nil {
		if !errors.Is(err, io.EOF) {
			// The stream broke; what came before the break is not a line.
			s.readErr = err
			return nil, s.line, err
		}
		s.eof = true
		if len(b) == 0 {
			return nil, s.line, io.EOF
		}
	}
	s.line++
	n := len(b)
	if n > 0 && b[n-1] == '\n' {
		n--
	}
	if n > 0 && b[n-1] == '\r' {
		n--
	}
	return b[:n], s.line, nil
}

// skipLines drops the lines before line n (title rows above the header).
func (s *scanner) skipLines(n int) error {
	for s.line < n-1 {
		if _, _, err := s.nextLine(); err != nil {
			return err
		}
	}
	return nil
}

// next returns the next record; blank lines are skipped. io.EOF after the
// last record.
func (s *scanner) next() (scanned, error) {
	var line []byte
	var no int
	for {
		var err error
		line, no, err = s.nextLine()
		if err != nil {
			return scanned{line: no}, err
		}
		if len(line) > 0 {
			break
		}
	}
	s.buf = s.buf[:0]
	s.bounds = s.bounds[:0]
	if bytes.IndexByte(line, '"') < 0 {
		// Fast path: no quote, the fields are the pieces between delimiters.
		s.buf = append(s.buf, line...)
		s.splitPlain(0, len(s.buf))
		f := s.strings()
		return scanned{fields: f, plain: s.str, line: no}, nil
	}
	return s.quoted(line, no)
}

// splitPlain records the fields of buf[from:to], which holds no quote.
func (s *scanner) splitPlain(from, to int) {
	for {
		i := bytes.Index(s.buf[from:to], s.comma)
		if i < 0 {
			s.bounds = append(s.bounds, from, to)
			return
		}
		s.bounds = append(s.bounds, from, from+i)
		from += i + len(s.comma)
	}
}

// strings turns the fields into strings sharing one allocation.
func (s *scanner) strings() []string {
	str := string(s.buf)
	s.str = str
	n := len(s.bounds) / 2
	if cap(s.fields) < n {
		s.fields = make([]string, n)
	}
	s.fields = s.fields[:n]
	for i := range n {
		s.fields[i] = str[s.bounds[2*i]:s.bounds[2*i+1]]
	}
	return s.fields
}

// quoted parses a record whose first line holds a quote.
func (s *scanner) quoted(first []byte, start int) (scanned, error) {
	line, no := first, start
	s.pending = s.pending[:0]
	multi := false
	pos := 0
	for {
		col := len(s.bounds) / 2
		if pos < len(line) && line[pos] == '"' {
			openLine := no
			pos++
			from := len(s.buf)
			for {
				i := bytes.IndexByte(line[pos:], '"')
				if i < 0 {
					// The field goes on on the next line.
					s.buf = append(s.buf, line[pos:]...)
					s.buf = append(s.buf, '\n')
					if !multi {
						multi = true
						s.pending = append(s.pending, physLine{start, bytes.Clone(first)})
					}
					if len(s.pending) >= s.maxLines {
						return s.resync(col, fmt.Sprintf("the quote opened on line %d is not closed within %d lines (max_record_lines)", openLine, s.maxLines))
					}
					var err error
					line, no, err = s.nextLine()
					if errors.Is(err, io.EOF) {
						return s.resync(col, fmt.Sprintf("the quote opened on line %d is never closed (the file ends inside the field)", openLine))
					}
					if err != nil {
						return scanned{line: start}, err
					}
					s.pending = append(s.pending, physLine{no, bytes.Clone(line)})
					pos = 0
					continue
				}
				s.buf = append(s.buf, line[pos:pos+i]...)
				pos += i + 1
				if pos < len(line) && line[pos] == '"' { // a doubled quote
					s.buf = append(s.buf, '"')
					pos++
					continue
				}
				break
			}
			s.bounds = append(s.bounds, from, len(s.buf))
			switch {
			case pos == len(line):
				return s.done(start, multi)
			case bytes.HasPrefix(line[pos:], s.comma):
				pos += len(s.comma)
				if pos == len(line) { // a delimiter ends the line: one more empty field
					s.bounds = append(s.bounds, len(s.buf), len(s.buf))
					return s.done(start, multi)
				}
				continue
			}
			detail := fmt.Sprintf("text after the closing quote on line %d", no)
			if multi {
				return s.resync(col, fmt.Sprintf("the quote opened on line %d closes on line %d and is followed by text", openLine, no))
			}
			return s.bad(first, start, col, detail)
		}
		// An unquoted field runs to the next delimiter; a quote inside it
		// is a bare quote.
		end := len(line)
		if i := bytes.Index(line[pos:], s.comma); i >= 0 {
			end = pos + i
		}
		field := line[pos:end]
		if bytes.IndexByte(field, '"') >= 0 {
			if multi {
				return s.resync(col, fmt.Sprintf("a quote inside an unquoted value on line %d, after a quoted value that spans lines", no))
			}
			return s.bad(first, start, col, "a quote inside an unquoted value (a value with quotes must be enclosed in quotes, its quotes doubled)")
		}
		from := len(s.buf)
		s.buf = append(s.buf, field...)
		s.bounds = append(s.bounds, from, len(s.buf))
		if end == len(line) {
			return s.done(start, multi)
		}
		pos = end + len(s.comma)
	}
}

// done ends a record; one that spans lines must have the header's number
// of fields, or it is taken for an unclosed quote that happened to close
// on a later line.
func (s *scanner) done(start int, multi bool) (scanned, error) {
	if multi && s.want > 0 && len(s.bounds)/2 != s.want {
		return s.resync(-1, fmt.Sprintf("a quoted value from line %d to line %d gives a record of %d fields, not %d: the quote on line %d is probably not closed",
			start, s.pending[len(s.pending)-1].no, len(s.bounds)/2, s.want, start))
	}
	return scanned{fields: s.strings(), line: start}, nil
}

// resync returns the first line of a bad record that spans lines as a
// bad record and puts its other lines back to be read again.
func (s *scanner) resync(col int, detail string) (scanned, error) {
	first := s.pending[0]
	if len(s.pending) > 1 {
		rest := make([]physLine, 0, len(s.pending)-1+len(s.replay))
		rest = append(rest, s.pending[1:]...)
		s.replay = append(rest, s.replay...)
	}
	if col < 0 {
		col = s.firstQuotedField(first.b)
	}
	return s.bad(first.b, first.no, col, detail)
}

// firstQuotedField returns the field of a line whose value opens a quote
// that the line does not close (0 when there is none).
func (s *scanner) firstQuotedField(line []byte) int {
	col, pos := 0, 0
	for pos < len(line) {
		if line[pos] == '"' {
			pos++
			for {
				i := bytes.IndexByte(line[pos:], '"')
				if i < 0 {
					return col
				}
				pos += i + 1
				if pos < len(line) && line[pos] == '"' {
					pos++
					continue
				}
				break
			}
		}
		i := bytes.Index(line[pos:], s.comma)
		if i < 0 {
			break
		}
		pos += i + len(s.comma)
		col++
	}
	return 0
}

// bad returns a line as a bad record: its values are the line's pieces
// between delimiters, quotes and all, so that the quarantine shows what
// the file holds.
func (s *scanner) bad(line []byte, no, col int, detail string) (scanned, error) {
	s.buf = append(s.buf[:0], line...)
	s.bounds = s.bounds[:0]
	s.splitPlain(0, len(s.buf))
	return scanned{fields: s.strings(), line: no, bad: true, col: col, detail: detail}, nil
}
