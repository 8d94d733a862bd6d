// Package xlsx is the connector for Excel workbooks (.xlsx, .xlsm): one
// sheet per source, streamed row by row, one file or a glob of files read
// as one source.
//
// Values come back as the text a department sees, with three rules that
// keep the mapping honest:
//
//   - Text cells are returned exactly as stored.
//   - Numeric cells are rendered as plain numbers rounded to Excel's 15
//     significant digits ("300", "1234.5"); number formats that only change
//     the look (thousands separators, currency, decimals shown) are not
//     applied. A numeric cell of 10^15 or more (an 18-digit ID number or a
//     bank card typed as a number) has already lost its last digits inside
//     Excel, so it comes back in Excel's scientific notation with 15
//     significant digits ("4.11082199001011E+17") — never a "repaired"
//     value — and the mapping classifies it as excel_damaged. 15-digit
//     numbers survive a double exactly and come back in full.
//   - Numeric cells with a date or time format (built-in or custom, the
//     Chinese 年月日 formats included) are Excel date serials; they come back
//     as ISO text: "2024-05-01", "2024-05-01 08:30:00" or "08:30:00".
//     Without a date format the serial itself comes back as a number.
//
// The header is header_row (default 1). A header cell inside a merged range
// takes the range's value (the value Excel stores in its top-left cell).
// With header_rows above 1 the header spans several rows and each column's
// name joins the distinct non-empty values from top to bottom with "/":
// a two-row header with "户主信息" merged over B1:C1 above "姓名" and
// "身份证号" gives "户主信息/姓名" and "户主信息/身份证号", while "序号" merged
// over A1:A2 gives "序号".
//
// Merged cells below the header are not filled in: Excel keeps the value
// in the top-left cell only, and so does the record.
//
// Two header columns with the same name (two columns called 姓名) are an
// error naming both cells: which one a mapping means cannot be told.
//
// Rows whose cells are all empty are skipped. A row with non-empty cells to
// the right of the last header column is returned with Problem
// "ragged_row"; shorter rows are padded with "".
//
// The worksheet part is read in one pass by a byte-level streaming parser
// (tokens.go, sheet.go), inflated by klauspost/compress in a goroutine of
// its own a chunk ahead of the parser; the shared string table is read as far as
// the cells ask, alongside the sheet, and the number formats of the cell
// styles once. excelize's Rows iterator (with a second pass for the cell
// types and styles) read 7–15k rows per CPU second, thedatashed's
// xlsxreader 26k; this parser reads 120–160k (docs/benchmarks.md). Merged
// ranges are listed after the rows, so finding those of the header costs
// one more inflating of the sheet, searched rather than parsed; Open reuses
// what Headers found for the same file. Damaged XML, a part cut short and a
// zip checksum mismatch are errors, never a short read.
package xlsx

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	kflate "github.com/klauspost/compress/flate"
	"github.com/xuri/excelize/v2"

	"github.com/crosscheck/crosscheck/connectors"
)

func init() {
	connectors.Default.Register(connectors.Spec{
		Name: "xlsx",
		Doc: "Excel workbooks (.xlsx, .xlsm), one sheet per source; the path may be a glob. Text cells come back as stored, " +
			"numbers as plain numbers (numbers of 16 or more digits in Excel's scientific notation, so damaged ID numbers are seen), " +
			"date-formatted cells as YYYY-MM-DD. A header naming a column twice is an error naming both cells; " +
			"a workbook that is cut or damaged stops the run naming the file, sheet and row.",
		Example: "connector: xlsx\npath: data/低保名册*.xlsx\noptions: {sheet: 发放名册, header_row: 2}",
		Options: []connectors.Option{
			{Name: "sheet", Kind: "string", Default: "", Doc: "sheet name, or its 1-based position in the workbook; empty for the first sheet"},
			{Name: "header_row", Kind: "int", Default: 1, Doc: "sheet row of the header; rows above it are skipped"},
			{Name: "header_rows", Kind: "int", Default: 1,
				Doc: "number of header rows from header_row down; names of a multi-row header join the values of each column with \"/\""},
		},
		New: New,
	})
}

// Source reads one sheet of one or more workbooks.
type Source struct {
	name       string
	pattern    string
	sheet      string
	headerRow  int
	headerRows int

	mu     sync.Mutex
	merges map[mergeKey][]mergeRange // merged ranges of the files read, by content
}

var _ connectors.Source = (*Source)(nil)

// New builds an xlsx source from validated options.
func New(cfg connectors.Config) (connectors.Source, error) {
	hr := cfg.Options.Int("header_row")
	if hr < 1 {
		return nil, fmt.Errorf("source %s: option header_row: must be 1 or more, got %d", cfg.Source, hr)
	}
	hn := cfg.Options.Int("header_rows")
	if hn < 1 {
		return nil, fmt.Errorf("source %s: option header_rows: must be 1 or more, got %d", cfg.Source, hn)
	}
	return &Source{name: cfg.Source, pattern: cfg.Path, sheet: strings.TrimSpace(cfg.Options.String("sheet")), headerRow: hr, headerRows: hn}, nil
}

func (s *Source) files() ([]string, error) { return connectors.Files(s.name, s.pattern) }

// Headers reads the header rows of the sheet of every file.
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
		out = append(out, *fr.header)
		fr.close()
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

// numKind says how a numeric cell's style shows it.
type numKind uint8

const (
	kindNumber numKind = iota
	kindDate
	kindTime
	kindDateTime
)

// fileReader is one open workbook positioned after its header.
type fileReader struct {
	src      *Source
	path     string
	sheet    string
	zr       *zip.ReadCloser
	part     string // worksheet part in the package, e.g. xl/worksheets/sheet1.xml
	date1904 bool
	kinds    []numKind // by cell style (cellXfs index)
	sst      *sharedStrings
	rc       io.ReadCloser
	sr       *sheetReader
	header   *connectors.Header
	input    connectors.Input
	rowNum   int  // sheet row of the last row read
	pending  bool // the sheet reader holds a row not yet returned
	done     bool
	out      []byte             // rendered text of the current row
	spans    []int              // per value: start in out, or -1-i for sst[i]
	dates    map[dateKey]string // rendered date serials
}

type dateKey struct {
	kind numKind
	raw  string
}

func (fr *fileReader) close() {
	if fr.sst != nil {
		fr.sst.close()
	}
	if fr.rc != nil {
		fr.rc.Close()
		fr.rc = nil
	}
	if fr.zr != nil {
		fr.zr.Close()
		fr.zr = nil
	}
}

func (s *Source) errf(path, format string, args ...any) error {
	return fmt.Errorf("source %s: file %s: "+format, append([]any{s.name, path}, args...)...)
}

// mergeKey identifies a file's content by path, size and modification
// time, for reusing the merged ranges found by Headers in Open.
type mergeKey struct {
	path  string
	size  int64
	mtime int64
}

// openFile opens a workbook, finds the sheet and reads the header.
func (s *Source) openFile(p string) (*fileReader, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("source %s: file %s: %w", s.name, p, err)
	}
	zr, err := zip.OpenReader(p)
	if err != nil {
		return nil, s.errf(p, "not a readable .xlsx workbook (an old .xls must be saved as .xlsx first): %w", err)
	}
	// klauspost/compress inflates 1.4 times faster than compress/flate
	// (BenchmarkInflate); decompression is the floor under this reader.
	zr.RegisterDecompressor(zip.Deflate, kflate.NewReader)
	fr := &fileReader{src: s, path: p, zr: zr, input: connectors.Input{Path: p}, dates: map[dateKey]string{}}
	fail := func(err error) (*fileReader, error) {
		fr.close()
		return nil, err
	}
	sheets, wbPart, err := workbookSheets(&zr.Reader)
	if err != nil {
		return fail(s.errf(p, "not a readable .xlsx workbook: %w", err))
	}
	fr.date1904, _ = wbDate1904(&zr.Reader, wbPart)
	sh, err := pickSheet(sheets, s.sheet)
	if err != nil {
		return fail(s.errf(p, "%w", err))
	}
	fr.sheet, fr.part = sh.name, sh.part
	if !sh.worksheet {
		return fail(s.errf(p, "sheet %q is a %s, not a worksheet with rows", sh.name, sh.kind))
	}
	if fr.kinds, err = styleKinds(&zr.Reader, wbPart); err != nil {
		return fail(s.errf(p, "not a readable .xlsx workbook: %w", err))
	}

	// Merged ranges are listed after the rows; find those that touch the
	// header before reading it (once per file content: Open reuses what
	// Headers found).
	lastHeader := s.headerRow + s.headerRows - 1
	key := mergeKey{path: p, size: st.Size(), mtime: st.ModTime().UnixNano()}
	s.mu.Lock()
	all, ok := s.merges[key]
	s.mu.Unlock()
	if !ok {
		if all, err = fr.readMerges(); err != nil {
			return fail(err)
		}
		s.mu.Lock()
		if s.merges == nil {
			s.merges = map[mergeKey][]mergeRange{}
		}
		s.merges[key] = all
		s.mu.Unlock()
	}
	var merges []mergeRange
	for _, m := range all {
		if m.r1 <= lastHeader && m.r2 >= s.headerRow {
			merges = append(merges, m)
		}
	}
	if fr.sst, err = openSharedStrings(&zr.Reader, wbPart); err != nil {
		return fail(s.errf(p, "not a readable .xlsx workbook: %w", err))
	}
	rc, err := openPart(&zr.Reader, fr.part)
	if err != nil {
		return fail(s.errf(p, "sheet %q: %w", fr.sheet, err))
	}
	fr.rc = newPipe(rc)
	fr.sr = newSheetReader(fr.rc)
	// Keep the header rows, and above them only the top-left cells of
	// merged ranges that reach into the header.
	keep := map[[2]int]string{}
	anchors := map[[2]int]bool{}
	for _, m := range merges {
		anchors[[2]int{m.r1, m.c1}] = true
	}
	headerVals := make([][]string, s.headerRows)
	for {
		vals, ok, err := fr.readRow()
		if err != nil {
			return fail(err)
		}
		if !ok {
			if fr.rowNum < lastHeader {
				return fail(s.errf(p, "sheet %q: no header at row %d (the sheet has %d rows)", sh.name, lastHeader, fr.rowNum))
			}
			break
		}
		if fr.rowNum > lastHeader {
			fr.pending = true // the first data row
			break
		}
		for c, v := range vals {
			if anchors[[2]int{fr.rowNum, c + 1}] {
				keep[[2]int{fr.rowNum, c + 1}] = v
			}
		}
		if fr.rowNum >= s.headerRow {
			headerVals[fr.rowNum-s.headerRow] = vals
		}
		if fr.rowNum == lastHeader {
			break
		}
	}
	width := 0
	for _, v := range headerVals {
		width = max(width, len(v))
	}
	for _, m := range merges {
		width = max(width, m.c2)
	}
	names := make([]string, width)
	for c := 1; c <= width; c++ {
		var parts []string
		for i, row := range headerVals {
			r := s.headerRow + i
			v := ""
			if c <= len(row) {
				v = row[c-1]
			}
			for _, m := range merges {
				if m.contains(r, c) {
					v = keep[[2]int{m.r1, m.c1}]
					break
				}
			}
			// A line break typed in a header cell (Alt+Enter) is not part
			// of the name: "身份\n证号" is 身份证号.
			v = strings.TrimSpace(strings.NewReplacer("\r", "", "\n", "").Replace(v))
			if v != "" && (len(parts) == 0 || parts[len(parts)-1] != v) {
				parts = append(parts, v)
			}
		}
		names[c-1] = strings.Join(parts, "/")
	}
	for len(names) > 0 && names[len(names)-1] == "" {
		names = names[:len(names)-1]
	}
	if len(names) == 0 {
		return fail(s.errf(p, "sheet %q: header row %d is empty", sh.name, s.headerRow))
	}
	if err := connectors.CheckNames(names); err != nil {
		var d *connectors.DuplicateColumnError
		errors.As(err, &d)
		hint := ""
		for _, m := range merges {
			if m.r1 <= lastHeader && m.r2 >= s.headerRow && m.c1 <= d.First && d.Second <= m.c2 {
				hint = fmt.Sprintf(" (one merged cell spans both; if the names are in the row below it, set header_rows: %d)", s.headerRows+1)
			}
		}
		return fail(s.errf(p, "sheet %q: header row %d: cells %s and %s: %w%s", sh.name, s.headerRow, colName(d.First), colName(d.Second), err, hint))
	}
	fr.header = &connectors.Header{Input: filepath.Base(p), Path: p, Names: names}
	return fr, nil
}

// readRow reads the next row present in the sheet (fr.rowNum is its
// number) and renders its values. ok is false after the last row.
func (fr *fileReader) readRow() ([]string, bool, error) {
	if fr.done {
		return nil, false, nil
	}
	if fr.pending {
		fr.pending = false
	} else {
		ok, err := fr.sr.next()
		if err != nil {
			return nil, false, fr.damaged(err)
		}
		if !ok {
			fr.done = true
			// The rest of the part must read to its end, and the zip
			// entry must check out.
			if err := fr.sr.finish(); err != nil {
				return nil, false, fr.damaged(err)
			}
			return nil, false, nil
		}
		fr.rowNum = fr.sr.row
	}
	vals, err := fr.render()
	if err != nil {
		return nil, false, fr.src.errf(fr.path, "sheet %q: row %d: %w", fr.sheet, fr.rowNum, err)
	}
	return vals, true, nil
}

// damaged words an error of the sheet XML or of the zip entry.
func (fr *fileReader) damaged(err error) error {
	return fr.src.errf(fr.path, "sheet %q: after row %d: damaged worksheet: %w", fr.sheet, max(fr.rowNum, fr.sr.row), err)
}

// render turns the cells of the sheet reader's current row into the text
// a user sees, one string per column up to the last non-empty one. The
// text of a row shares one allocation; shared strings are not copied.
func (fr *fileReader) render() ([]string, error) {
	sr := fr.sr
	fr.out, fr.spans = fr.out[:0], fr.spans[:0]
	width := 0
	for i := range sr.cells {
		c := &sr.cells[i]
		var raw []byte
		if c.typ == typInline {
			if c.is0 >= 0 {
				raw = sr.val[c.is0:c.is1]
			} else if c.v0 >= 0 {
				raw = sr.val[c.v0:c.v1]
			}
		} else if c.v0 >= 0 {
			raw = sr.val[c.v0:c.v1]
		}
		start := len(fr.out)
		span := start
		switch c.typ {
		case typShared:
			if len(raw) == 0 {
				continue
			}
			n, ok := atoiBytes(raw)
			if !ok {
				return nil, fmt.Errorf("column %s: invalid shared string index %q", colName(c.col), raw)
			}
			v, err := fr.sst.get(n)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", colName(c.col), err)
			}
			if v == "" {
				continue
			}
			span = -1 - n
		case typInline:
			fr.out = appendBstr(fr.out, raw)
		case typBool:
			switch string(raw) {
			case "1":
				fr.out = append(fr.out, "TRUE"...)
			case "0":
				fr.out = append(fr.out, "FALSE"...)
			default:
				fr.out = append(fr.out, raw...)
			}
		case typNumber:
			fr.out = fr.appendNumber(fr.out, raw, c.style)
		default: // str (formula text), e (error such as #N/A), d (ISO date), unknown
			fr.out = append(fr.out, raw...)
		}
		if span >= 0 && len(fr.out) == start {
			continue
		}
		for len(fr.spans) < 2*(c.col-1) {
			fr.spans = append(fr.spans, 0, 0)
		}
		if len(fr.spans) > 2*(c.col-1) { // a second cell for the same column: the last one counts
			fr.spans = fr.spans[:2*(c.col-1)]
		}
		fr.spans = append(fr.spans, span, len(fr.out))
		width = c.col
	}
	vals := make([]string, width)
	all := string(fr.out)
	for i := 0; i < width; i++ {
		a, b := fr.spans[2*i], fr.spans[2*i+1]
		switch {
		case a < 0:
			vals[i] = fr.sst.at(-1 - a)
		case b > a:
			vals[i] = all[a:b]
		}
	}
	return vals, nil
}

// appendNumber renders the <v> of a numeric cell: a date, time or both
// for a date style, otherwise the number as Excel keeps it.
func (fr *fileReader) appendNumber(dst, raw []byte, style int) []byte {
	if len(raw) == 0 {
		return dst
	}
	k := kindNumber
	if style >= 0 && style < len(fr.kinds) {
		k = fr.kinds[style]
	}
	if k == kindNumber && plainNumber(raw) {
		return append(dst, raw...)
	}
	if k != kindNumber {
		if v, ok := fr.dates[dateKey{k, string(raw)}]; ok {
			return append(dst, v...)
		}
	}
	x, err := strconv.ParseFloat(strings.TrimSpace(string(raw)), 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return append(dst, raw...)
	}
	if k != kindNumber {
		if t, err := excelize.ExcelDateToTime(x, fr.date1904); err == nil {
			var v string
			switch k {
			case kindDate:
				v = t.Format("2006-01-02")
			case kindTime:
				v = t.Format("15:04:05")
			default:
				v = t.Format("2006-01-02 15:04:05")
			}
			if len(fr.dates) < 4096 {
				fr.dates[dateKey{k, string(raw)}] = v
			}
			return append(dst, v...)
		}
	}
	return append(dst, number(x)...)
}

// plainNumber reports whether number() would return raw unchanged: an
// optional minus, an integer part without leading zeros, an optional
// fraction not ending in 0, 15 significant digits at most.
func plainNumber(raw []byte) bool {
	s := raw
	if s[0] == '-' {
		s = s[1:]
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || (i > 1 && s[0] == '0') {
		return false
	}
	digits := i
	if s[0] == '0' { // "0" or "0.…"
		if i == len(s) {
			return len(s) == len(raw) // "0", not "-0"
		}
		digits = 0
	}
	if i < len(s) {
		if s[i] != '.' || i == len(s)-1 || s[len(s)-1] == '0' {
			return false
		}
		for _, c := range s[i+1:] {
			if c < '0' || c > '9' {
				return false
			}
			digits++
		}
	}
	return digits <= 15
}

// number renders a cell's double as Excel keeps it: 15 significant digits,
// in scientific notation from 10^15 on (where the digits after the 15th are
// already gone).
func number(x float64) string {
	if math.Abs(x) >= 1e15 {
		return strconv.FormatFloat(x, 'G', 15, 64)
	}
	y, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 15, 64), 64)
	if y == 0 {
		return "0"
	}
	return strconv.FormatFloat(y, 'f', -1, 64)
}

// builtinKind classifies Excel's built-in number formats, including the
// East Asian ones (27-36, 50-58) that Chinese Excel uses for 年月日 dates.
func builtinKind(id int) numKind {
	switch {
	case id >= 14 && id <= 17, id >= 27 && id <= 31, id == 36, id >= 50 && id <= 54, id == 57, id == 58:
		return kindDate
	case id == 22:
		return kindDateTime
	case id >= 18 && id <= 21, id >= 32 && id <= 35, id >= 45 && id <= 47, id == 55, id == 56:
		return kindTime
	}
	return kindNumber
}

// classifyFormat tells date and time format codes from number formats:
// date parts y, d (and m with them), time parts h, s, AM/PM, 上午/下午 and
// elapsed [h] [m] [s], outside quoted text, escapes and [colour]/[$-locale]
// brackets. Only the first section counts.
func classifyFormat(code string) numKind {
	if strings.EqualFold(strings.TrimSpace(code), "general") || code == "@" {
		return kindNumber
	}
	var date, tm, month bool
	for i := 0; i < len(code); i++ {
		ch := code[i]
		switch ch {
		case ';':
			i = len(code)
			continue
		case '"':
			j := strings.IndexByte(code[i+1:], '"')
			if j < 0 {
				i = len(code)
			} else {
				i += j + 1
			}
			continue
		case '\\', '_', '*':
			i++
			continue
		case '[':
			j := strings.IndexByte(code[i+1:], ']')
			if j < 0 {
				i = len(code)
				continue
			}
			in := strings.ToLower(code[i+1 : i+1+j])
			if in != "" && strings.Trim(in, "hms") == "" {
				tm = true
			}
			i += j + 1
			continue
		}
		switch ch | 0x20 { // ASCII lower case
		case 'y', 'd':
			date = true
		case 'h', 's':
			tm = true
		case 'm':
			month = true
		case 'a':
			if strings.HasPrefix(strings.ToLower(code[i:]), "am/pm") || strings.HasPrefix(strings.ToLower(code[i:]), "a/p") {
				tm = true
			}
		}
	}
	if strings.Contains(code, "上午/下午") {
		tm = true
	}
	if month && !tm {
		date = true
	}
	switch {
	case date && tm:
		return kindDateTime
	case date:
		return kindDate
	case tm:
		return kindTime
	}
	return kindNumber
}

// sheetInfo is one entry of the workbook's sheet list.
type sheetInfo struct {
	name      string
	part      string
	kind      string
	worksheet bool
}

type xmlRels struct {
	Rels []struct {
		ID     string `xml:"Id,attr"`
		Type   string `xml:"Type,attr"`
		Target string `xml:"Target,attr"`
	} `xml:"Relationship"`
}

type xmlWorkbook struct {
	Pr *struct {
		Date1904 string `xml:"date1904,attr"`
	} `xml:"workbookPr"`
	Sheets []struct {
		Name string     `xml:"name,attr"`
		Attr []xml.Attr `xml:",any,attr"`
	} `xml:"sheets>sheet"`
}

func zipFile(zr *zip.Reader, name string) *zip.File {
	name = strings.TrimPrefix(name, "/")
	for _, f := range zr.File {
		if strings.EqualFold(f.Name, name) {
			return f
		}
	}
	return nil
}

func decodePart(zr *zip.Reader, name string, v any) error {
	zf := zipFile(zr, name)
	if zf == nil {
		return fmt.Errorf("workbook part %s is missing", name)
	}
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("workbook part %s: %w", name, err)
	}
	defer rc.Close()
	if err := xml.NewDecoder(rc).Decode(v); err != nil {
		return fmt.Errorf("workbook part %s: %w", name, err)
	}
	return nil
}

// resolve turns a relationship target into a part name.
func resolve(base, target string) string {
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(target, "/")
	}
	return path.Clean(path.Join(path.Dir(base), target))
}

// workbookSheets lists the sheets in workbook order with their parts.
func workbookSheets(zr *zip.Reader) ([]sheetInfo, string, error) {
	wbPart := "xl/workbook.xml"
	var root xmlRels
	if err := decodePart(zr, "_rels/.rels", &root); err == nil {
		for _, r := range root.Rels {
			if strings.HasSuffix(r.Type, "/officeDocument") {
				wbPart = resolve("", r.Target)
			}
		}
	}
	var wb xmlWorkbook
	if err := decodePart(zr, wbPart, &wb); err != nil {
		return nil, "", err
	}
	var rels xmlRels
	relsPart := path.Join(path.Dir(wbPart), "_rels", path.Base(wbPart)+".rels")
	if err := decodePart(zr, relsPart, &rels); err != nil {
		return nil, "", err
	}
	var out []sheetInfo
	for _, sh := range wb.Sheets {
		id := ""
		for _, a := range sh.Attr {
			if a.Name.Local == "id" {
				id = a.Value
			}
		}
		si := sheetInfo{name: sh.Name, kind: "sheet"}
		for _, r := range rels.Rels {
			if r.ID == id {
				si.part = resolve(wbPart, r.Target)
				si.kind = r.Type[strings.LastIndexByte(r.Type, '/')+1:]
				si.worksheet = si.kind == "worksheet"
			}
		}
		out = append(out, si)
	}
	if len(out) == 0 {
		return nil, "", errors.New("the workbook has no sheets")
	}
	return out, wbPart, nil
}

func wbDate1904(zr *zip.Reader, wbPart string) (bool, error) {
	var wb xmlWorkbook
	if err := decodePart(zr, wbPart, &wb); err != nil {
		return false, err
	}
	if wb.Pr == nil {
		return false, nil
	}
	v := strings.ToLower(wb.Pr.Date1904)
	return v == "1" || v == "true", nil
}

// pickSheet finds the sheet named by the option: an exact name, a name in
// another case, or a 1-based position; empty means the first sheet.
func pickSheet(sheets []sheetInfo, want string) (sheetInfo, error) {
	if want == "" {
		return sheets[0], nil
	}
	for _, s := range sheets {
		if s.name == want {
			return s, nil
		}
	}
	for _, s := range sheets {
		if strings.EqualFold(s.name, want) {
			return s, nil
		}
	}
	if n, err := strconv.Atoi(want); err == nil && n >= 1 && n <= len(sheets) {
		return sheets[n-1], nil
	}
	names := make([]string, len(sheets))
	for i, s := range sheets {
		names[i] = strconv.Quote(s.name)
	}
	return sheetInfo{}, fmt.Errorf("sheet %q not found (the workbook has %s)", want, strings.Join(names, ", "))
}

// readMerges reads the worksheet part for its merged ranges.
func (fr *fileReader) readMerges() ([]mergeRange, error) {
	rc, err := openPart(&fr.zr.Reader, fr.part)
	if err != nil {
		return nil, fr.src.errf(fr.path, "sheet %q: %w", fr.sheet, err)
	}
	defer rc.Close()
	all, err := findMerges(rc)
	if err != nil {
		return nil, fr.src.errf(fr.path, "sheet %q: damaged worksheet: %w", fr.sheet, err)
	}
	return all, nil
}

// partOfType finds the part the workbook's relationships give for a type
// (the last segment of the relationship type, e.g. "styles"), or the
// usual name when the relationships name none.
func partOfType(zr *zip.Reader, wbPart, typ, usual string) string {
	var rels xmlRels
	relsPart := path.Join(path.Dir(wbPart), "_rels", path.Base(wbPart)+".rels")
	if err := decodePart(zr, relsPart, &rels); err == nil {
		for _, r := range rels.Rels {
			if strings.HasSuffix(r.Type, "/"+typ) {
				return resolve(wbPart, r.Target)
			}
		}
	}
	return usual
}

type xmlStyles struct {
	NumFmts []struct {
		ID   int    `xml:"numFmtId,attr"`
		Code string `xml:"formatCode,attr"`
	} `xml:"numFmts>numFmt"`
	Xfs []struct {
		NumFmtID *int `xml:"numFmtId,attr"`
	} `xml:"cellXfs>xf"`
}

// styleKinds classifies the number format of every cell style (cellXfs),
// as excelize's GetStyle reads it: a built-in format id (0-4, 9-22,
// 27-81 with the East Asian ones, 37-49) is built in, any other id is
// looked up among the workbook's own formats. No styles part: all numbers.
func styleKinds(zr *zip.Reader, wbPart string) ([]numKind, error) {
	name := partOfType(zr, wbPart, "styles", "xl/styles.xml")
	if zipFile(zr, name) == nil {
		return nil, nil
	}
	var st xmlStyles
	if err := decodePart(zr, name, &st); err != nil {
		return nil, err
	}
	custom := map[int]string{}
	for _, f := range st.NumFmts {
		custom[f.ID] = f.Code
	}
	out := make([]numKind, len(st.Xfs))
	for i, xf := range st.Xfs {
		if xf.NumFmtID == nil {
			continue
		}
		id := *xf.NumFmtID
		switch {
		case id >= 0 && id <= 4, id >= 9 && id <= 22, id >= 27 && id <= 81:
			out[i] = builtinKind(id)
		default:
			if code, ok := custom[id]; ok {
				out[i] = classifyFormat(code)
			}
		}
	}
	return out, nil
}

// openSharedStrings opens the workbook's shared string table (none:
// an empty table).
func openSharedStrings(zr *zip.Reader, wbPart string) (*sharedStrings, error) {
	name := partOfType(zr, wbPart, "sharedStrings", "xl/sharedStrings.xml")
	if zipFile(zr, name) == nil {
		return &sharedStrings{part: name, done: true}, nil
	}
	rc, err := openPart(zr, name)
	if err != nil {
		return nil, err
	}
	p := newPipe(rc)
	return &sharedStrings{part: name, rc: p, w: newWindow(p, 256<<10)}, nil
}

type reader struct {
	src    *Source
	ctx    context.Context
	files  []string
	next   int
	cur    *fileReader
	inputs []connectors.Input
	err    error // the error that stopped the source, returned again
}

func (r *reader) Next() (connectors.Record, error) {
	if r.err != nil {
		return connectors.Record{}, r.err
	}
	rec, err := r.read()
	if err != nil && err != io.EOF {
		// The source stops here: the workbook and its goroutines are
		// released now, not at Close.
		r.err = connectors.Fatal(err)
		if r.cur != nil {
			r.cur.close()
			r.cur = nil
		}
		return connectors.Record{}, r.err
	}
	return rec, err
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
			fr, err := r.src.openFile(r.files[r.next])
			if err != nil {
				return connectors.Record{}, err
			}
			r.next++
			r.cur = fr
		}
		vals, ok, err := r.cur.readRow()
		if err != nil {
			return connectors.Record{}, err
		}
		if !ok {
			if err := r.finishFile(); err != nil {
				return connectors.Record{}, err
			}
			continue
		}
		empty := true
		for _, v := range vals {
			if v != "" {
				empty = false
				break
			}
		}
		if empty {
			continue
		}
		h := r.cur.header
		rec := connectors.Record{Header: h, Row: int64(r.cur.rowNum)}
		n := len(h.Names)
		if len(vals) > n {
			extra := false
			for _, v := range vals[n:] {
				if v != "" {
					extra = true
				}
			}
			if extra {
				rec.Problem = "ragged_row"
				last := len(vals)
				for last > n && vals[last-1] == "" {
					last--
				}
				rec.Detail = fmt.Sprintf("expected %d columns, found values up to column %s", n, colName(last))
				rec.Values = vals[:last]
			} else {
				rec.Values = vals[:n]
			}
		} else {
			rec.Values = append(vals, make([]string, n-len(vals))...)
		}
		r.cur.input.Rows++
		return rec, nil
	}
}

func (r *reader) finishFile() error {
	fr := r.cur
	r.cur = nil
	fr.close()
	in := fr.input
	f, err := os.Open(fr.path)
	if err != nil {
		return fmt.Errorf("source %s: file %s: %w", r.src.name, fr.path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("source %s: file %s: %w", r.src.name, fr.path, err)
	}
	in.Bytes, in.SHA256 = n, hex.EncodeToString(h.Sum(nil))
	r.inputs = append(r.inputs, in)
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

// colName is the column letter of a 1-based column: 1 → A, 28 → AB.
func colName(c int) string {
	s := ""
	for c > 0 {
		c--
		s = string(rune('A'+c%26)) + s
		c /= 26
	}
	return s
}
