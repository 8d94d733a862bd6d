// Package jsonl is the connector for JSON Lines files: one JSON object per
// line, UTF-8, optionally gzip-compressed (.gz), one file or a glob of files
// read as one source.
//
// The header of a file is the union of the keys of its first sample_lines
// lines, in the order they are first seen. Values come back as text: strings
// as they are, numbers exactly as written ("300.50" stays "300.50", an ID
// number written as a number stays all its digits), true/false as written,
// null as "", nested objects and arrays as compact JSON text.
//
// Bad lines are records with a Problem, not errors: a line that is not
// valid JSON or not an object is "bad_json" (Values holds the line), a line
// with bytes that are not UTF-8 is "bad_encoding", and a line with a key
// that is not in the header (it first appears after the sample) is
// "unknown_key" — raise sample_lines when that is expected. An object that
// writes a key twice ({"姓名":"张三","姓名":"李四"}) is "duplicate_key":
// which value is meant cannot be told, so neither is taken. Blank lines are
// skipped; Row is the line number. A line cut short (a file cut in the
// middle) is bad_json; a gzip stream cut short stops the source with an
// error naming the file and the line.
package jsonl

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/crosscheck/crosscheck/connectors"
)

func init() {
	connectors.Default.Register(connectors.Spec{
		Name:    "jsonl",
		Doc:     "JSON Lines files (one object per line, UTF-8, .gz compressed files too); the path may be a glob. Keys are the column names. A line that is not a JSON object (or is cut short) is quarantined as bad_json, an object that writes a key twice as duplicate_key; a .gz file cut short stops the run naming the file and line.",
		Example: "connector: jsonl\npath: data/残联_*.jsonl.gz\noptions: {sample_lines: 5000}",
		Options: []connectors.Option{
			{Name: "sample_lines", Kind: "int", Default: 1000,
				Doc: "the header is the union of the keys of this many first lines; a later line with another key is quarantined as unknown_key"},
		},
		New: New,
	})
}

// Source reads JSON Lines files.
type Source struct {
	name    string
	pattern string
	sample  int
}

var _ connectors.Source = (*Source)(nil)

// New builds a JSON Lines source from validated options.
func New(cfg connectors.Config) (connectors.Source, error) {
	n := cfg.Options.Int("sample_lines")
	if n < 1 {
		return nil, fmt.Errorf("source %s: option sample_lines: must be 1 or more, got %d", cfg.Source, n)
	}
	return &Source{name: cfg.Source, pattern: cfg.Path, sample: n}, nil
}

func (s *Source) files() ([]string, error) { return connectors.Files(s.name, s.pattern) }

// Headers samples the first lines of every file.
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
		h, err := s.header(f)
		if err != nil {
			return nil, connectors.Fatal(err)
		}
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
	return &reader{src: s, ctx: ctx, files: files}, nil
}

type countingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// lineFile is one open file, read line by line.
type lineFile struct {
	path    string
	f       *os.File
	gz      *gzip.Reader
	counter *countingReader
	br      *bufio.Reader
	line    int
	buf     []byte
}

func (s *Source) open(path string) (*lineFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("source %s: file %s: %w", s.name, path, err)
	}
	cr := &countingReader{r: f, h: sha256.New()}
	lf := &lineFile{path: path, f: f, counter: cr}
	var r io.Reader = bufio.NewReaderSize(cr, 1<<20)
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("source %s: file %s: gzip: %w", s.name, path, err)
		}
		lf.gz = gz
		r = gz
	}
	lf.br = bufio.NewReaderSize(r, 1<<16)
	if bom, _ := lf.br.Peek(3); bytes.Equal(bom, []byte("\xEF\xBB\xBF")) {
		lf.br.Discard(3)
	}
	return lf, nil
}

func (lf *lineFile) close() {
	if lf.gz != nil {
		lf.gz.Close()
		lf.gz = nil
	}
	if lf.f != nil {
		lf.f.Close()
		lf.f = nil
	}
}

// next returns the next non-blank line (without its line end) and its
// number; io.EOF after the last.
func (lf *lineFile) next() ([]byte, int, error) {
	for {
		lf.buf = lf.buf[:0]
		for {
			chunk, err := lf.br.ReadSlice('\n')
			lf.buf = append(lf.buf, chunk...)
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, lf.line + 1, err
			}
			if len(lf.buf) == 0 && errors.Is(err, io.EOF) {
				return nil, lf.line, io.EOF
			}
			break
		}
		lf.line++
		line := bytes.TrimRight(lf.buf, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		return line, lf.line, nil
	}
}

// header reads the first sample lines of a file for its keys.
func (s *Source) header(path string) (*connectors.Header, error) {
	lf, err := s.open(path)
	if err != nil {
		return nil, err
	}
	defer lf.close()
	var names []string
	seen := map[string]bool{}
	for lf.line < s.sample {
		line, n, err := lf.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("source %s: file %s: line %d: %w", s.name, path, n, err)
		}
		if n > s.sample {
			break
		}
		obj, err := parseObject(line)
		if err != nil {
			continue
		}
		for _, kv := range obj {
			if !seen[kv.key] {
				seen[kv.key] = true
				names = append(names, kv.key)
			}
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("source %s: file %s: no JSON object with keys in the first %d lines", s.name, path, s.sample)
	}
	return &connectors.Header{Input: filepath.Base(path), Path: path, Names: names}, nil
}

type keyValue struct {
	key, val string
}

// parseObject parses one line as a JSON object, keeping key order and
// rendering every value as text.
func parseObject(line []byte) ([]keyValue, error) {
	obj, err := parse(line)
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("the line ends inside the object: %w", io.ErrUnexpectedEOF)
	}
	return obj, err
}

func parse(line []byte) ([]keyValue, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not a JSON object (starts with %s)", describe(tok))
	}
	var out []keyValue
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("object key is %s", describe(tok))
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("value of %q: %w", key, err)
		}
		val, err := render(raw)
		if err != nil {
			return nil, fmt.Errorf("value of %q: %w", key, err)
		}
		out = append(out, keyValue{key, val})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one JSON value on the line")
	}
	return out, nil
}

func describe(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(t))
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

// render turns one JSON value into text: strings unquoted, null empty,
// everything else as its compact JSON text (numbers exactly as written).
func render(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return "", nil
	case raw[0] == '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case string(raw) == "null":
		return "", nil
	case raw[0] == '{' || raw[0] == '[':
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	return string(raw), nil
}

type reader struct {
	src    *Source
	ctx    context.Context
	files  []string
	next   int
	cur    *lineFile
	header *connectors.Header
	index  map[string]int
	seen   []int
	input  connectors.Input
	inputs []connectors.Input
}

func (r *reader) Next() (connectors.Record, error) {
	rec, err := r.read()
	return rec, connectors.Fatal(err)
}

func (r *reader) read() (connectors.Record, error) {
	for {
		if r.cur == nil && r.next >= len(r.files) {
			return connectors.Record{}, io.EOF
		}
		if err := r.ctx.Err(); err != nil {
			return connectors.Record{}, err
		}
		if r.cur == nil {
			path := r.files[r.next]
			h, err := r.src.header(path)
			if err != nil {
				return connectors.Record{}, err
			}
			lf, err := r.src.open(path)
			if err != nil {
				return connectors.Record{}, err
			}
			r.next++
			r.cur, r.header, r.input = lf, h, connectors.Input{Path: path}
			r.index = make(map[string]int, len(h.Names))
			for i, n := range h.Names {
				r.index[n] = i
			}
		}
		line, n, err := r.cur.next()
		if errors.Is(err, io.EOF) {
			if err := r.finishFile(); err != nil {
				return connectors.Record{}, err
			}
			continue
		}
		if err != nil {
			return connectors.Record{}, fmt.Errorf("source %s: file %s: line %d: %w", r.src.name, r.header.Input, n, err)
		}
		r.input.Rows++
		return r.record(line, n), nil
	}
}

// record turns one line into a record, with a Problem when it is bad.
func (r *reader) record(line []byte, n int) connectors.Record {
	rec := connectors.Record{Header: r.header, Row: int64(n)}
	if !utf8.Valid(line) {
		rec.Values = []string{strings.ToValidUTF8(string(line), "\uFFFD")}
		rec.Problem, rec.Detail = "bad_encoding", "bytes that are not valid UTF-8 (JSON Lines files must be UTF-8)"
		return rec
	}
	obj, err := parseObject(line)
	if err != nil {
		rec.Values = []string{string(line)}
		rec.Problem, rec.Detail = "bad_json", err.Error()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			rec.Detail = fmt.Sprintf("%v (at byte %d of the line)", err, se.Offset)
		}
		return rec
	}
	rec.Values = make([]string, len(r.header.Names))
	var unknown []string
	// seen[i] is the 1-based position in the object of header column i's
	// key, for telling a key written twice.
	if len(r.seen) != len(r.header.Names) {
		r.seen = make([]int, len(r.header.Names))
	}
	clear(r.seen)
	for k, kv := range obj {
		i, ok := r.index[kv.key]
		if !ok {
			unknown = append(unknown, kv.key)
			continue
		}
		if r.seen[i] > 0 {
			// Which of the two values is meant cannot be told.
			rec.Values = []string{string(line)}
			rec.Problem, rec.Column = "duplicate_key", kv.key
			rec.Detail = fmt.Sprintf("key %q is written twice in the object (keys %d and %d)", kv.key, r.seen[i], k+1)
			return rec
		}
		r.seen[i] = k + 1
		rec.Values[i] = kv.val
	}
	if len(unknown) > 0 {
		rec.Problem = "unknown_key"
		rec.Detail = fmt.Sprintf("key %s is not in the header (the keys of the first %d lines); raise sample_lines to include it",
			strings.Join(quote(unknown), ", "), r.src.sample)
	}
	return rec
}

func quote(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func (r *reader) finishFile() error {
	lf := r.cur
	r.cur = nil
	defer lf.close()
	// Drain so the hash covers the whole file even after the last line.
	if _, err := io.Copy(io.Discard, lf.counter); err != nil {
		return fmt.Errorf("source %s: file %s: %w", r.src.name, r.header.Input, err)
	}
	r.input.Bytes = lf.counter.n
	r.input.SHA256 = hex.EncodeToString(lf.counter.h.Sum(nil))
	r.inputs = append(r.inputs, r.input)
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
