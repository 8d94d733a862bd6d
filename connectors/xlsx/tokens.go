package xlsx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// The parts of a workbook are read by a byte-level tokenizer over a
// sliding window of the decompressed stream: it finds markup by XML's
// rule that '<' only ever starts markup, reads the tag's name and its
// attribute bytes, and hands back the text before the tag undecoded. The
// sheet and shared-string readers decode only the text they keep.

// tokKind is the kind of a piece of markup.
type tokKind uint8

const (
	tokStart tokKind = iota // <name …>
	tokEnd                  // </name>
	tokEmpty                // <name …/>
	tokCDATA                // <![CDATA[…]]>: the text is in name
	tokOther                // comment, processing instruction, declaration
)

// errShort says the window ends inside a piece of markup.
var errShort = errors.New("short")

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// localName drops a namespace prefix: x:row is row.
func localName(b []byte) []byte {
	if i := bytes.LastIndexByte(b, ':'); i >= 0 {
		return b[i+1:]
	}
	return b
}

// token reads the markup that starts at b[i] == '<'. It returns its kind,
// local name, the attribute bytes of a start or empty tag, and the index
// after it; errShort when b ends first.
func token(b []byte, i int) (k tokKind, name, attrs []byte, j int, err error) {
	n := len(b)
	if i+1 >= n {
		return 0, nil, nil, 0, errShort
	}
	switch b[i+1] {
	case '/':
		e := bytes.IndexByte(b[i+2:], '>')
		if e < 0 {
			return 0, nil, nil, 0, errShort
		}
		name = b[i+2 : i+2+e]
		for len(name) > 0 && isSpace(name[len(name)-1]) {
			name = name[:len(name)-1]
		}
		if len(name) == 0 || bytes.IndexByte(name, '<') >= 0 || bytes.IndexAny(name, " \t\r\n") >= 0 {
			return 0, nil, nil, 0, fmt.Errorf("malformed end tag %q", clip(b[i:i+3+e]))
		}
		return tokEnd, localName(name), nil, i + 3 + e, nil
	case '?':
		e := bytes.Index(b[i+2:], []byte("?>"))
		if e < 0 {
			return 0, nil, nil, 0, errShort
		}
		return tokOther, nil, nil, i + 4 + e, nil
	case '!':
		if rest := b[i:]; len(rest) < 4 || (len(rest) < 9 && bytes.HasPrefix([]byte("<![CDATA["), rest)) {
			return 0, nil, nil, 0, errShort // could still be a comment or a CDATA section
		}
		switch {
		case bytes.HasPrefix(b[i:], []byte("<!--")):
			e := bytes.Index(b[i+4:], []byte("-->"))
			if e < 0 {
				return 0, nil, nil, 0, errShort
			}
			return tokOther, nil, nil, i + 7 + e, nil
		case bytes.HasPrefix(b[i:], []byte("<![CDATA[")):
			e := bytes.Index(b[i+9:], []byte("]]>"))
			if e < 0 {
				return 0, nil, nil, 0, errShort
			}
			return tokCDATA, b[i+9 : i+9+e], nil, i + 12 + e, nil
		}
		e := bytes.IndexByte(b[i+2:], '>')
		if e < 0 {
			return 0, nil, nil, 0, errShort
		}
		return tokOther, nil, nil, i + 3 + e, nil
	}
	j = i + 1
	for j < n {
		c := b[j]
		if isSpace(c) || c == '>' || c == '/' {
			break
		}
		if c == '<' || c == '"' || c == '\'' || c == '=' {
			return 0, nil, nil, 0, fmt.Errorf("malformed tag %q", clip(b[i:j+1]))
		}
		j++
	}
	if j >= n {
		return 0, nil, nil, 0, errShort
	}
	if j == i+1 {
		return 0, nil, nil, 0, fmt.Errorf("malformed tag %q", clip(b[i:j+1]))
	}
	name = b[i+1 : j]
	a := j
	var q byte
	for ; j < n; j++ {
		c := b[j]
		if q != 0 {
			if c == q {
				q = 0
			}
			continue
		}
		switch c {
		case '"', '\'':
			q = c
		case '<':
			return 0, nil, nil, 0, fmt.Errorf("malformed tag %q: '<' inside it", clip(b[i:j+1]))
		case '>':
			attrs = b[a:j]
			k = tokStart
			if len(attrs) > 0 && attrs[len(attrs)-1] == '/' {
				k, attrs = tokEmpty, attrs[:len(attrs)-1]
			}
			return k, localName(name), attrs, j + 1, nil
		}
	}
	return 0, nil, nil, 0, errShort
}

// clip shortens markup quoted in an error message.
func clip(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

// nextAttr parses the first attribute of a: its local name and raw
// value, and the rest; name is nil when a holds no more attributes.
func nextAttr(a []byte) (name, val, rest []byte, err error) {
	i := 0
	for i < len(a) && isSpace(a[i]) {
		i++
	}
	if i == len(a) {
		return nil, nil, nil, nil
	}
	s := i
	for i < len(a) && a[i] != '=' && !isSpace(a[i]) {
		i++
	}
	name = a[s:i]
	for i < len(a) && isSpace(a[i]) {
		i++
	}
	if len(name) == 0 || i >= len(a) || a[i] != '=' {
		return nil, nil, nil, fmt.Errorf("malformed attributes %q", clip(a))
	}
	i++
	for i < len(a) && isSpace(a[i]) {
		i++
	}
	if i >= len(a) || (a[i] != '"' && a[i] != '\'') {
		return nil, nil, nil, fmt.Errorf("malformed attributes %q", clip(a))
	}
	e := bytes.IndexByte(a[i+1:], a[i])
	if e < 0 {
		return nil, nil, nil, fmt.Errorf("malformed attributes %q", clip(a))
	}
	val = a[i+1 : i+1+e]
	rest = a[i+2+e:]
	if len(rest) > 0 && !isSpace(rest[0]) {
		return nil, nil, nil, fmt.Errorf("malformed attributes %q", clip(a))
	}
	return localName(name), val, rest, nil
}

// window is a sliding buffer over a decompressed part.
type window struct {
	r   io.Reader
	buf []byte
	pos int // start of the unread data
	end int
	eof bool
	err error // a read error other than io.EOF (e.g. zip.ErrChecksum)
}

func newWindow(r io.Reader, size int) *window { return &window{r: r, buf: make([]byte, size)} }

// more reads more of the stream, keeping buf[pos:end]; false at its end.
func (w *window) more() bool {
	if w.eof {
		return false
	}
	if w.pos > 0 {
		w.end = copy(w.buf, w.buf[w.pos:w.end])
		w.pos = 0
	}
	if w.end == len(w.buf) {
		nb := make([]byte, 2*len(w.buf))
		copy(nb, w.buf[:w.end])
		w.buf = nb
	}
	for {
		n, err := w.r.Read(w.buf[w.end:])
		w.end += n
		if err != nil {
			w.eof = true
			if !errors.Is(err, io.EOF) {
				w.err = err
			}
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
}

// next returns the raw text up to the next piece of markup and that
// markup. The slices are valid until the next call. At the end of the
// stream it returns io.EOF (after whole markup) or io.ErrUnexpectedEOF
// (inside it), or the stream's own error.
func (w *window) next() (text []byte, k tokKind, name, attrs []byte, err error) {
	for {
		b := w.buf[w.pos:w.end]
		lt := bytes.IndexByte(b, '<')
		if lt >= 0 {
			var j int
			k, name, attrs, j, err = token(b, lt)
			if err == nil {
				w.pos += j
				return b[:lt], k, name, attrs, nil
			}
			if err != errShort {
				return nil, 0, nil, nil, err
			}
		}
		if !w.more() {
			if w.err != nil {
				return nil, 0, nil, nil, w.err
			}
			if lt < 0 {
				w.pos = w.end
				return b, tokOther, nil, nil, io.EOF
			}
			return nil, 0, nil, nil, io.ErrUnexpectedEOF
		}
	}
}

// appendText appends XML character data with its entity and character
// references decoded and line ends normalised to \n, as encoding/xml does.
func appendText(dst, raw []byte) ([]byte, error) {
	if bytes.IndexByte(raw, '&') < 0 && bytes.IndexByte(raw, '\r') < 0 {
		return append(dst, raw...), nil
	}
	for i := 0; i < len(raw); {
		c := raw[i]
		switch c {
		case '\r':
			dst = append(dst, '\n')
			i++
			if i < len(raw) && raw[i] == '\n' {
				i++
			}
			continue
		case '&':
			e := bytes.IndexByte(raw[i:], ';')
			if e < 0 || e > 12 {
				return dst, fmt.Errorf("unterminated entity in %q", clip(raw[i:]))
			}
			ent := raw[i+1 : i+e]
			switch string(ent) {
			case "lt":
				dst = append(dst, '<')
			case "gt":
				dst = append(dst, '>')
			case "amp":
				dst = append(dst, '&')
			case "quot":
				dst = append(dst, '"')
			case "apos":
				dst = append(dst, '\'')
			default:
				if len(ent) < 2 || ent[0] != '#' {
					return dst, fmt.Errorf("unknown entity &%s;", ent)
				}
				var v uint64
				var perr error
				if ent[1] == 'x' {
					v, perr = strconv.ParseUint(string(ent[2:]), 16, 32)
				} else {
					v, perr = strconv.ParseUint(string(ent[1:]), 10, 32)
				}
				if perr != nil || !utf8.ValidRune(rune(v)) {
					return dst, fmt.Errorf("bad character reference &%s;", ent)
				}
				dst = utf8.AppendRune(dst, rune(v))
			}
			i += e + 1
			continue
		}
		dst = append(dst, c)
		i++
	}
	return dst, nil
}

// appendCDATA appends a CDATA section's text with line ends normalised.
func appendCDATA(dst, raw []byte) []byte {
	if bytes.IndexByte(raw, '\r') < 0 {
		return append(dst, raw...)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\r' {
			dst = append(dst, '\n')
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
			continue
		}
		dst = append(dst, raw[i])
	}
	return dst
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendBstr appends a string cell's text with Excel's _xHHHH_ escapes
// (characters XML cannot hold, such as _x000D_, and _x005F_ for a literal
// underscore) decoded, matching excelize: an escape of a UTF-16 surrogate
// is dropped.
func appendBstr(dst, s []byte) []byte {
	if bytes.Index(s, []byte("_x")) < 0 {
		return append(dst, s...)
	}
	for i := 0; i < len(s); {
		if s[i] == '_' && i+7 <= len(s) && s[i+1] == 'x' && s[i+6] == '_' {
			var r rune
			ok := true
			for _, c := range s[i+2 : i+6] {
				h, hok := unhex(c)
				ok = ok && hok
				r = r<<4 | rune(h)
			}
			if ok {
				if utf8.ValidRune(r) {
					dst = utf8.AppendRune(dst, r)
				}
				i += 7
				continue
			}
		}
		dst = append(dst, s[i])
		i++
	}
	return dst
}

// atoiBytes parses a non-negative decimal number, spaces around allowed.
func atoiBytes(b []byte) (int, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
