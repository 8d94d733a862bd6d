// Package csv is the connector for delimited text files in UTF-8 (with or
// without BOM), GBK or GB18030, optionally gzip-compressed, one file or a
// glob of files read as one source.
//
// Every line after the header ends up in exactly one record, accepted or
// with a Problem (see scanner). A bad quote is quarantined and reading goes
// on (resync) rather than stopping the run: one mistyped name in a roll of
// a million rows must not block the month's screening, the quarantine and
// quality report show it with file, line, column and reason, and the
// engine's quarantine guards decide when too many rows are bad. Stopping is
// kept for damage that leaves no line to resynchronise at: a stream that
// breaks (a .gz file cut short) is an error naming the file and the last
// line read.
package csv

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/text/transform"

	"github.com/crosscheck/crosscheck/connectors"
)

func init() {
	connectors.Default.Register(connectors.Spec{
		Name: "csv",
		Doc: "Delimited text files (UTF-8 with or without BOM, GBK, GB18030; .gz compressed files too). The path may be a glob; all files must share the mapped columns. " +
			"Quoted values may hold delimiters, doubled quotes and line breaks. A quote that is not closed (or closes on a later line into a record without the header's number of fields) " +
			"does not take the rest of the file: the line where it opened is quarantined as bad_quoting, naming the column and the line, and reading goes on with the next line. " +
			"A header that names a column twice is an error naming the file and both positions; a .gz file cut short stops the run naming the file and the last line read.",
		Example: "connector: csv\npath: data/户籍*.csv\noptions: {encoding: gbk, delimiter: \",\", header_row: 1}",
		Options: []connectors.Option{
			{Name: "encoding", Kind: "string", Default: "auto", Allowed: []string{"auto", "utf-8", "gbk", "gb18030"},
				Doc: "text encoding; auto picks UTF-8 when the first 64 KiB are valid UTF-8 (or start with a BOM), GB18030 otherwise"},
			{Name: "delimiter", Kind: "string", Default: ",", Doc: "field separator, one character (\\t for tab)"},
			{Name: "header_row", Kind: "int", Default: 1, Doc: "line number of the header; lines before it are skipped"},
			{Name: "max_record_lines", Kind: "int", Default: 1000,
				Doc: "most lines one record may span through quoted values with line breaks; a quote still open after this many lines is taken as unclosed"},
		},
		New: New,
	})
}

// Source reads CSV files.
type Source struct {
	name      string
	pattern   string
	encoding  string
	delimiter rune
	headerRow int
	maxLines  int
}

var _ connectors.Source = (*Source)(nil)

// New builds a CSV source from validated options.
func New(cfg connectors.Config) (connectors.Source, error) {
	d := cfg.Options.String("delimiter")
	if d == `\t` || d == "tab" {
		d = "\t"
	}
	if utf8.RuneCountInString(d) != 1 {
		return nil, fmt.Errorf("source %s: option delimiter: want one character, got %q", cfg.Source, d)
	}
	hr := cfg.Options.Int("header_row")
	if hr < 1 {
		return nil, fmt.Errorf("source %s: option header_row: must be 1 or more, got %d", cfg.Source, hr)
	}
	r, _ := utf8.DecodeRuneInString(d)
	if r == '"' || r == '\r' || r == '\n' || r == utf8.RuneError {
		return nil, fmt.Errorf("source %s: option delimiter: %q cannot separate fields", cfg.Source, d)
	}
	ml := cfg.Options.Int("max_record_lines")
	if ml < 1 {
		return nil, fmt.Errorf("source %s: option max_record_lines: must be 1 or more, got %d", cfg.Source, ml)
	}
	return &Source{name: cfg.Source, pattern: cfg.Path, encoding: cfg.Options.String("encoding"), delimiter: r, headerRow: hr, maxLines: ml}, nil
}

func (s *Source) files() ([]string, error) { return connectors.Files(s.name, s.pattern) }

// Headers reads the header line of every file.
func (s *Source) Headers(ctx context.Context) ([]connectors.Header, error) {
	files, err := s.files()
	if err != nil {
		return nil, err
	}
	var out []connectors.Header
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fr, err := s.openFile(f)
		if err != nil {
			return nil, connectors.Fatal(err)
		}
		h := fr.header
		fr.close()
		out = append(out, *h)
	}
	return out, nil
}

// Open starts reading all files in name order.
func (s *Source) Open(ctx context.Context) (connectors.Reader, error) {
	files, err := s.files()
	if err != nil {
		return nil, err
	}
	r := &reader{src: s, ctx: ctx, files: files}
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			r.total += st.Size()
		}
	}
	return r, nil
}

type fileReader struct {
	f       *os.File
	gz      *gzip.Reader
	counter *countingReader
	csv     *scanner
	header  *connectors.Header
	input   connectors.Input
	// lastLine is the start line of the last record read, for errors.
	lastLine int
}

func (fr *fileReader) close() {
	if fr.gz != nil {
		fr.gz.Close()
	}
	fr.f.Close()
}

type countingReader struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	read *atomic.Int64 // bytes of the whole source, for Progress
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if c.read != nil {
		c.read.Add(int64(n))
	}
	return n, err
}

func (s *Source) openFile(path string) (*fileReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("source %s: file %s: %w", s.name, path, err)
	}
	cr := &countingReader{r: f, h: sha256.New()}
	fr := &fileReader{f: f, counter: cr, input: connectors.Input{Path: path}}
	var r io.Reader = bufio.NewReaderSize(cr, 1<<20)
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("source %s: file %s: gzip: %w", s.name, path, err)
		}
		fr.gz = gz
		r = gz
	}
	br := bufio.NewReaderSize(r, 1<<16)
	enc := s.encoding
	if enc == "auto" {
		peek, _ := br.Peek(64 << 10)
		enc = detect(peek)
	}
	var text io.Reader = br
	switch enc {
	case "utf-8":
		if bom, _ := br.Peek(3); len(bom) == 3 && bom[0] == 0xEF && bom[1] == 0xBB && bom[2] == 0xBF {
			br.Discard(3)
		}
	case "gbk", "gb18030":
		// GB18030 is a superset of GBK; one decoder serves both.
		text = transform.NewReader(br, newGBDecoder())
	}
	c := newScanner(text, s.delimiter, s.maxLines)
	fr.csv = c
	fail := func(err error) (*fileReader, error) {
		fr.close()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("source %s: file %s: no header at line %d (file has fewer lines)", s.name, path, s.headerRow)
		}
		return nil, fmt.Errorf("source %s: file %s: reading header: %w", s.name, path, err)
	}
	if err := c.skipLines(s.headerRow); err != nil {
		return fail(err)
	}
	rec, err := c.next()
	if err != nil {
		return fail(err)
	}
	l := rec.line
	if rec.bad {
		fr.close()
		return nil, fmt.Errorf("source %s: file %s: line %d: header field %d: %s", s.name, path, l, rec.col+1, rec.detail)
	}
	names := make([]string, len(rec.fields))
	for i, n := range rec.fields {
		n = strings.TrimSpace(strings.TrimPrefix(n, "\uFEFF"))
		if !utf8.ValidString(n) || strings.ContainsRune(n, utf8.RuneError) {
			fr.close()
			return nil, fmt.Errorf("source %s: file %s: line %d: header is not valid %s text; check the encoding option", s.name, path, l, enc)
		}
		names[i] = n
	}
	if err := connectors.CheckNames(names); err != nil {
		fr.close()
		return nil, fmt.Errorf("source %s: file %s: header line %d: %w", s.name, path, l, err)
	}
	c.want = len(names)
	fr.header = &connectors.Header{Input: filepath.Base(path), Path: path, Names: names}
	fr.lastLine = l
	return fr, nil
}

// detect tells UTF-8 from GB18030 on a prefix of the file.
func detect(p []byte) string {
	if len(p) >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF {
		return "utf-8"
	}
	// A prefix may end in the middle of a multi-byte character.
	for i := 0; i < 4 && len(p) > 0; i++ {
		if utf8.Valid(p) {
			return "utf-8"
		}
		p = p[:len(p)-1]
	}
	return "gb18030"
}

type reader struct {
	src    *Source
	ctx    context.Context
	files  []string
	next   int
	cur    *fileReader
	inputs []connectors.Input
	rows   int64
	total  int64
	bytes  atomic.Int64
	// arena holds the field slices of records handed out: each record's
	// Values is a piece of it, so a record costs no allocation of its own.
	arena []string
}

// arenaSize is the number of fields allocated at once for records.
const arenaSize = 1 << 16

// keep copies a record's fields (valid until the csv reader's next Read)
// into the arena and returns the copy.
func (r *reader) keep(rec []string) []string {
	if len(rec) > len(r.arena) {
		r.arena = make([]string, max(arenaSize, len(rec)))
	}
	out := r.arena[:len(rec):len(rec)]
	copy(out, rec)
	r.arena = r.arena[len(rec):]
	return out
}

var _ connectors.Progress = (*reader)(nil)

// Progress reports the bytes read (compressed bytes for .gz files) and
// the total size of the files.
func (r *reader) Progress() (done, total int64) { return r.bytes.Load(), r.total }

func (r *reader) Next() (connectors.Record, error) {
	rec, err := r.read()
	return rec, connectors.Fatal(err)
}

func (r *reader) read() (connectors.Record, error) {
	for {
		if r.cur == nil && r.next >= len(r.files) {
			return connectors.Record{}, io.EOF
		}
		// Checked on every record so that cancelling a run stops a large
		// file at once, not at the next file.
		if err := r.ctx.Err(); err != nil {
			return connectors.Record{}, err
		}
		if r.cur == nil {
			fr, err := r.src.openFile(r.files[r.next])
			if err != nil {
				return connectors.Record{}, err
			}
			fr.counter.read = &r.bytes
			r.bytes.Add(fr.counter.n)
			r.next++
			r.cur = fr
		}
		sc, err := r.cur.csv.next()
		if errors.Is(err, io.EOF) {
			if err := r.finishFile(); err != nil {
				return connectors.Record{}, err
			}
			continue
		}
		h := r.cur.header
		if err != nil {
			// The stream itself broke (truncated gzip, read error). The
			// failing record starts after the last good one.
			return connectors.Record{}, fmt.Errorf("source %s: file %s: after line %d: %w", r.src.name, h.Input, r.cur.lastLine, err)
		}
		rec := r.keep(sc.fields)
		line := sc.line
		r.cur.lastLine = line
		r.cur.input.Rows++
		if sc.bad {
			return connectors.Record{Header: h, Row: int64(line), Values: rec, Problem: "bad_quoting", Column: plainName(h, sc.col),
				Detail: fmt.Sprintf("column %s: %s", columnName(h, sc.col), sc.detail)}, nil
		}
		out := connectors.Record{Header: h, Row: int64(line), Values: rec}
		if len(rec) != len(h.Names) {
			out.Problem = "ragged_row"
			out.Detail = fmt.Sprintf("expected %d fields, got %d", len(h.Names), len(rec))
		}
		// A record of one line without quotes is valid text when the line is:
		// its fields are pieces of the line cut at whole delimiters.
		clean := sc.plain != "" && utf8.ValidString(sc.plain) && !strings.Contains(sc.plain, "\uFFFD")
		for i, v := range rec {
			if clean {
				break
			}
			if !utf8.ValidString(v) || strings.Contains(v, "\uFFFD") { // U+FFFD: what the GB18030 decoder puts for bad bytes
				out.Problem = "bad_encoding"
				out.Column = plainName(h, i)
				out.Detail = fmt.Sprintf("column %s: bytes that are not valid text in the file's encoding", columnName(h, i))
				rec[i] = strings.ToValidUTF8(v, "\uFFFD")
				break
			}
		}
		return out, nil
	}
}

// columnName names the 0-based field i for messages: "姓名 (2)", or
// "field 5" past the header.
func columnName(h *connectors.Header, i int) string {
	if i < len(h.Names) && h.Names[i] != "" {
		return fmt.Sprintf("%s (%d)", h.Names[i], i+1)
	}
	return fmt.Sprintf("field %d", i+1)
}

// plainName is the header name of field i, or "field N" past the header.
func plainName(h *connectors.Header, i int) string {
	if i < len(h.Names) && h.Names[i] != "" {
		return h.Names[i]
	}
	return fmt.Sprintf("field %d", i+1)
}

func (r *reader) finishFile() error {
	fr := r.cur
	r.cur = nil
	// Drain so the hash covers the whole file even after a trailing gzip member.
	if _, err := io.Copy(io.Discard, fr.counter); err != nil {
		fr.close()
		return fmt.Errorf("source %s: file %s: %w", r.src.name, fr.header.Input, err)
	}
	fr.close()
	fr.input.Bytes = fr.counter.n
	fr.input.SHA256 = hex.EncodeToString(fr.counter.h.Sum(nil))
	r.inputs = append(r.inputs, fr.input)
	return nil
}

func (r *reader) Inputs() []connectors.Input { return append([]connectors.Input(nil), r.inputs...) }

func (r *reader) Close() error {
	if r.cur != nil {
		r.cur.close()
		r.cur = nil
	}
	return nil
}
