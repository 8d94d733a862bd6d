// Package parquet is the connector for Apache Parquet files. Values of any
// Parquet type are read as the text a department would see (dates as
// YYYY-MM-DD, numbers in full), then mapped like every other source.
package parquet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/crosscheck/crosscheck/connectors"
)

func init() {
	connectors.Default.Register(connectors.Spec{
		Name:    "parquet",
		Doc:     "Apache Parquet files; the path may be a glob. Columns are read by name; a schema naming a column twice is an error. A file that is cut or damaged stops the run naming the file (and the row, when the damage is in a row group).",
		Example: "connector: parquet\npath: data/社保卡.parquet",
		Options: []connectors.Option{
			{Name: "batch_rows", Kind: "int", Default: 65536, Doc: "rows read per batch (memory use grows with it)"},
		},
		New: New,
	})
}

// Source reads Parquet files.
type Source struct {
	name    string
	pattern string
	batch   int
}

var _ connectors.Source = (*Source)(nil)

// New builds a Parquet source.
func New(cfg connectors.Config) (connectors.Source, error) {
	b := cfg.Options.Int("batch_rows")
	if b < 1 {
		return nil, fmt.Errorf("source %s: option batch_rows: must be 1 or more", cfg.Source)
	}
	return &Source{name: cfg.Source, pattern: cfg.Path, batch: b}, nil
}

func (s *Source) files() ([]string, error) { return connectors.Files(s.name, s.pattern) }

type openFile struct {
	pf     *file.Reader
	fr     *pqarrow.FileReader
	header *connectors.Header
}

func (s *Source) open(path string) (*openFile, error) {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, fmt.Errorf("source %s: file %s: not a readable Parquet file: %w", s.name, path, err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(s.batch)}, memory.DefaultAllocator)
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("source %s: file %s: %w", s.name, path, err)
	}
	sc, err := fr.Schema()
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("source %s: file %s: schema: %w", s.name, path, err)
	}
	names := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		names[i] = f.Name
	}
	if err := connectors.CheckNames(names); err != nil {
		pf.Close()
		return nil, fmt.Errorf("source %s: file %s: schema: %w", s.name, path, err)
	}
	return &openFile{pf: pf, fr: fr, header: &connectors.Header{Input: filepath.Base(path), Path: path, Names: names}}, nil
}

// Headers reads the schema of every file.
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
		of, err := s.open(f)
		if err != nil {
			return nil, connectors.Fatal(err)
		}
		out = append(out, *of.header)
		of.pf.Close()
	}
	return out, nil
}

// Open starts reading.
func (s *Source) Open(ctx context.Context) (connectors.Reader, error) {
	files, err := s.files()
	if err != nil {
		return nil, err
	}
	return &reader{src: s, ctx: ctx, files: files}, nil
}

type reader struct {
	src    *Source
	ctx    context.Context
	files  []string
	next   int
	cur    *openFile
	rr     pqarrow.RecordReader
	batch  arrow.RecordBatch
	pos    int
	row    int64
	inputs []connectors.Input
}

func (r *reader) Next() (connectors.Record, error) {
	rec, err := r.read()
	return rec, connectors.Fatal(err)
}

func (r *reader) read() (connectors.Record, error) {
	for {
		// Checked on every record so that cancelling a run stops a large
		// file at once, not at the next file.
		if r.next >= len(r.files) && r.rr == nil && r.batch == nil {
			return connectors.Record{}, io.EOF
		}
		if err := r.ctx.Err(); err != nil {
			return connectors.Record{}, err
		}
		if r.batch != nil && r.pos < int(r.batch.NumRows()) {
			i := r.pos
			r.pos++
			r.row++
			vals := make([]string, r.batch.NumCols())
			rec := connectors.Record{Header: r.cur.header, Row: r.row, Values: vals}
			for c := range vals {
				vals[c] = text(r.batch.Column(c), i)
				if rec.Problem == "" && !utf8.ValidString(vals[c]) {
					rec.Problem = "bad_encoding"
					rec.Detail = fmt.Sprintf("column %s: bytes that are not valid UTF-8", r.cur.header.Names[c])
					vals[c] = strings.ToValidUTF8(vals[c], "\uFFFD")
				}
			}
			return rec, nil
		}
		if r.batch != nil {
			r.batch.Release()
			r.batch = nil
		}
		if r.rr != nil {
			if r.rr.Next() {
				r.batch = r.rr.RecordBatch()
				r.batch.Retain()
				r.pos = 0
				continue
			}
			if err := r.rr.Err(); err != nil && err != io.EOF {
				return connectors.Record{}, fmt.Errorf("source %s: file %s: row %d: %w", r.src.name, r.cur.header.Input, r.row+1, err)
			}
			if err := r.finishFile(); err != nil {
				return connectors.Record{}, err
			}
		}
		if r.next >= len(r.files) {
			return connectors.Record{}, io.EOF
		}
		of, err := r.src.open(r.files[r.next])
		if err != nil {
			return connectors.Record{}, err
		}
		r.next++
		rr, err := of.fr.GetRecordReader(r.ctx, nil, nil)
		if err != nil {
			of.pf.Close()
			return connectors.Record{}, fmt.Errorf("source %s: file %s: %w", r.src.name, of.header.Input, err)
		}
		r.cur, r.rr, r.row = of, rr, 0
	}
}

func (r *reader) finishFile() error {
	r.rr.Release()
	r.rr = nil
	path := r.cur.header.Path
	r.cur.pf.Close()
	r.cur = nil
	in := connectors.Input{Path: path, Rows: r.row}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("source %s: file %s: %w", r.src.name, path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("source %s: file %s: %w", r.src.name, path, err)
	}
	in.Bytes, in.SHA256 = n, hex.EncodeToString(h.Sum(nil))
	r.inputs = append(r.inputs, in)
	return nil
}

// text renders one value as text; NULL becomes "".
func text(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return ""
	}
	switch x := a.(type) {
	case *array.String:
		return x.Value(i)
	case *array.LargeString:
		return x.Value(i)
	case *array.Timestamp:
		unit := x.DataType().(*arrow.TimestampType).Unit
		// Fractional seconds only when there are some.
		return x.Value(i).ToTime(unit).UTC().Format("2006-01-02 15:04:05.999999999")
	case *array.Date32:
		return x.Value(i).FormattedString()
	case *array.Date64:
		return x.Value(i).FormattedString()
	case *array.Float64:
		return float(x.Value(i), 64)
	case *array.Float32:
		return float(float64(x.Value(i)), 32)
	case *array.Binary:
		// Text written without the UTF8 annotation; not base64.
		return string(x.Value(i))
	case *array.LargeBinary:
		return string(x.Value(i))
	}
	return a.ValueStr(i)
}

// float renders a floating-point value in full ("1234567890123", not
// "1.234567890123e+12") while its digits are exact. From 10^15 (10^7 for
// float32) on, the trailing digits of a double are rounding noise: an ID
// number or bank account stored as a double has lost them, so the value
// comes back in scientific notation ("4.1108219900101126E+17"), which the
// mapping reports as damaged instead of taking rounded digits for real.
func float(v float64, bits int) string {
	limit := 1e15
	if bits == 32 {
		limit = 1e7
	}
	if math.Abs(v) >= limit && !math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'E', -1, bits)
	}
	return strconv.FormatFloat(v, 'f', -1, bits)
}

func (r *reader) Inputs() []connectors.Input { return append([]connectors.Input(nil), r.inputs...) }

func (r *reader) Close() error {
	if r.batch != nil {
		r.batch.Release()
		r.batch = nil
	}
	if r.rr != nil {
		r.rr.Release()
		r.rr = nil
	}
	if r.cur != nil {
		r.cur.pf.Close()
		r.cur = nil
	}
	return nil
}
