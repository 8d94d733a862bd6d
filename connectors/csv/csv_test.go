package csv

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/connectors/conformance"
)

func write(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if strings.HasSuffix(name, ".gz") {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
		data = b.Bytes()
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gbk(t testing.TB, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func build(t testing.TB, path string, opts map[string]any) connectors.Source {
	t.Helper()
	src, err := connectors.Default.Clone().Build("csv", "户籍", path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func readAll(t testing.TB, src connectors.Source) []connectors.Record {
	t.Helper()
	recs, _ := conformance.ReadAll(t, src, context.Background())
	return recs
}

// openErr returns the first error of Headers, or of reading the source.
func openErr(src connectors.Source) (error, error) {
	_, herr := src.Headers(context.Background())
	rd, err := src.Open(context.Background())
	if err != nil {
		return herr, err
	}
	defer rd.Close()
	for {
		_, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return herr, nil
			}
			return herr, err
		}
	}
}

func contains(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

// A UTF-8 file with BOM, CRLF line ends, a quoted field with an embedded
// line break (the record's row is the line where it starts) and a blank
// line.
const household = "\uFEFF姓名,身份证号,地址\r\n" +
	"张三,410102198001010012,西平县\r\n" +
	"李四,\"41108219900101123X\",\"驻马店市\r\n西平县 一组\"\r\n" +
	"\r\n" +
	"\"王 \"\"五\"\"\",,\r\n"

var householdWant = [][]string{
	{"张三", "410102198001010012", "西平县"},
	{"李四", "41108219900101123X", "驻马店市\n西平县 一组"}, // encoding/csv turns \r\n in a quoted field into \n
	{"王 \"五\"", "", ""},
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "户籍.csv", []byte(household))
	conformance.Run(t, func(t *testing.T) connectors.Source { return build(t, p, nil) }, householdWant,
		conformance.WithRows(2, 3, 6), conformance.WithInputs(1))
	hdrs, err := build(t, p, nil).Headers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"姓名", "身份证号", "地址"}; !reflect.DeepEqual(hdrs[0].Names, want) {
		t.Errorf("header %q (BOM must be stripped), want %q", hdrs[0].Names, want)
	}
}

// A glob of files, one of them gzip-compressed and one in GBK, read as one
// source in name order.
func TestConformanceGlob(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "户籍_01.csv", []byte("姓名,身份证号\n张三,410102198001010012\n"))
	write(t, dir, "户籍_02.csv.gz", []byte("姓名,身份证号\n李四,41108219900101123X\n王五,\n"))
	write(t, dir, "户籍_03.csv", gbk(t, "姓名,身份证号\n赵六,410102198001010012\n"))
	write(t, dir, "other.txt", []byte("not part of the glob"))
	conformance.Run(t, func(t *testing.T) connectors.Source { return build(t, filepath.Join(dir, "户籍_*.csv*"), nil) },
		[][]string{{"张三", "410102198001010012"}, {"李四", "41108219900101123X"}, {"王五", ""}, {"赵六", "410102198001010012"}},
		conformance.WithRows(2, 2, 3, 2), conformance.WithInputs(3))
}

func TestOptions(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "tab.tsv", gbk(t, "2024年5月 低保发放名册\n制表单位：西平县民政局\n姓名\t金额\n张三\t300\n"))
	recs := readAll(t, build(t, p, map[string]any{"delimiter": `\t`, "header_row": 3, "encoding": "gbk"}))
	if len(recs) != 1 || recs[0].Row != 4 || !reflect.DeepEqual(recs[0].Values, []string{"张三", "300"}) ||
		!reflect.DeepEqual(recs[0].Header.Names, []string{"姓名", "金额"}) {
		t.Errorf("got %+v", recs)
	}
	reg := connectors.Default.Clone()
	for _, opts := range []map[string]any{{"delimiter": ",,"}, {"header_row": 0}, {"encoding": "big5"}, {"quote": "'"}} {
		if _, err := reg.Build("csv", "户籍", p, opts); err == nil {
			t.Errorf("options %v accepted", opts)
		}
	}
}

func TestBadRows(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "bad.csv", []byte("姓名,身份证号,金额\n"+
		"张三,410102198001010012,300\n"+ // 2 good
		"李四,41108219900101123X\n"+ // 3 ragged (short)
		"王五,410102198001010012,300,多余\n"+ // 4 ragged (long)
		"赵\"六,410102198001010012,300\n"+ // 5 bare quote in the first field
		"钱七,\"4101\"02,300\n"+ // 6 text after a closing quote
		"孙八,410102198001010012,\"300\n"+ // 7 unterminated quote: quarantined alone
		"周九,1,2\n")) // 8 read again after the bad line
	recs := readAll(t, build(t, p, nil))
	want := []struct {
		row     int64
		problem string
		detail  string
	}{
		{2, "", ""},
		{3, "ragged_row", "expected 3 fields, got 2"},
		{4, "ragged_row", "expected 3 fields, got 4"},
		{5, "bad_quoting", "column 姓名 (1): a quote inside an unquoted value"},
		{6, "bad_quoting", "column 身份证号 (2): text after the closing quote"},
		{7, "bad_quoting", "column 金额 (3): the quote opened on line 7 is never closed"},
		{8, "", ""},
	}
	if len(recs) != len(want) {
		t.Fatalf("got %d records: %+v", len(recs), recs)
	}
	for i, w := range want {
		r := recs[i]
		if r.Row != w.row || r.Problem != w.problem || !strings.Contains(r.Detail, w.detail) {
			t.Errorf("record %d: row %d %q %q, want row %d %q containing %q", i, r.Row, r.Problem, r.Detail, w.row, w.problem, w.detail)
		}
	}
}

func TestEncodings(t *testing.T) {
	dir := t.TempDir()
	rows := "姓名,身份证号,地址\n张三,410102198001010012,西平县\n李四,41108219900101123X,驻马店\n"
	gbkFile := write(t, dir, "gbk.csv", gbk(t, rows))
	gb18030File := write(t, dir, "gb18030.csv", func() []byte {
		b, _ := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte("姓名,地址\n𠀀明,西平县\n"))
		return b
	}())
	asciiHeader := write(t, dir, "ascii-header.csv", gbk(t, "name,id_number\n张三,410102198001010012\nLi Si,41108219900101123X\n"))

	t.Run("auto detects GBK", func(t *testing.T) {
		recs := readAll(t, build(t, gbkFile, nil))
		if len(recs) != 2 || recs[0].Values[0] != "张三" || recs[1].Values[2] != "驻马店" || recs[0].Problem != "" {
			t.Errorf("got %+v", recs)
		}
	})
	t.Run("gb18030 four-byte characters", func(t *testing.T) {
		recs := readAll(t, build(t, gb18030File, map[string]any{"encoding": "gb18030"}))
		if len(recs) != 1 || recs[0].Values[0] != "𠀀明" {
			t.Errorf("got %+v", recs)
		}
	})
	t.Run("GBK read as utf-8: header is an error", func(t *testing.T) {
		herr, err := openErr(build(t, gbkFile, map[string]any{"encoding": "utf-8"}))
		contains(t, herr, "source 户籍", "gbk.csv", "line 1", "not valid utf-8 text", "encoding option")
		contains(t, err, "source 户籍", "gbk.csv", "not valid utf-8 text")
	})
	t.Run("GBK read as utf-8: rows are bad_encoding", func(t *testing.T) {
		recs := readAll(t, build(t, asciiHeader, map[string]any{"encoding": "utf-8"}))
		if len(recs) != 2 {
			t.Fatalf("got %+v", recs)
		}
		if r := recs[0]; r.Problem != "bad_encoding" || r.Row != 2 || !strings.Contains(r.Detail, "column name") || !strings.Contains(r.Values[0], "\uFFFD") {
			t.Errorf("row 2: %+v", r)
		}
		if r := recs[1]; r.Problem != "" || r.Values[0] != "Li Si" {
			t.Errorf("row 3: %+v", r)
		}
	})
	t.Run("bad GBK bytes name their column, quoted or not", func(t *testing.T) {
		var b []byte
		b = append(b, gbk(t, "姓名,身份证号,地址\n张三,410102198001010012,")...)
		b = append(b, 0x81, 0x20) // a lead byte without its trail byte
		b = append(b, gbk(t, "西平县\n李四,\"41108219900101123X\",")...)
		b = append(b, 0xff)
		b = append(b, gbk(t, "\n王五,410102198001010012,驻马店\n")...)
		f := write(t, dir, "bad-gbk.csv", b)
		recs := readAll(t, build(t, f, map[string]any{"encoding": "gbk"}))
		if len(recs) != 3 {
			t.Fatalf("got %+v", recs)
		}
		for i, r := range recs[:2] {
			if r.Problem != "bad_encoding" || r.Column != "地址" || r.Row != int64(i+2) {
				t.Errorf("row %d: %+v", i+2, r)
			}
		}
		if r := recs[2]; r.Problem != "" || r.Values[2] != "驻马店" {
			t.Errorf("row 4: %+v", r)
		}
	})
}

func TestFatalErrors(t *testing.T) {
	dir := t.TempDir()
	var rows bytes.Buffer
	rows.WriteString("姓名,身份证号\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&rows, "张三%d,410102198001010012\n", i)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(rows.Bytes())
	zw.Close()
	broken := filepath.Join(dir, "broken.csv.gz")
	os.WriteFile(broken, gz.Bytes()[:gz.Len()/2], 0o644)
	corrupt := filepath.Join(dir, "corrupt.csv.gz")
	c := append([]byte(nil), gz.Bytes()...)
	c[len(c)-6] ^= 0xff // damage the CRC32 in the trailer
	os.WriteFile(corrupt, c, 0o644)
	notGzip := write(t, dir, "plain.csv.gz", nil)
	os.WriteFile(notGzip, []byte("姓名\n张三\n"), 0o644)
	empty := write(t, dir, "empty.csv", nil)
	short := write(t, dir, "short.csv", []byte("标题\n"))

	t.Run("missing file", func(t *testing.T) {
		herr, err := openErr(build(t, filepath.Join(dir, "nope.csv"), nil))
		contains(t, herr, "source 户籍", "nope.csv", "does not exist")
		contains(t, err, "source 户籍", "nope.csv", "does not exist")
	})
	t.Run("missing glob", func(t *testing.T) {
		_, err := openErr(build(t, filepath.Join(dir, "nope*.csv"), nil))
		contains(t, err, "source 户籍", "nope*.csv", "does not exist")
	})
	t.Run("truncated gzip", func(t *testing.T) {
		_, err := openErr(build(t, broken, nil))
		contains(t, err, "source 户籍", "broken.csv.gz", "after line", "unexpected EOF")
	})
	t.Run("gzip checksum", func(t *testing.T) {
		_, err := openErr(build(t, corrupt, nil))
		contains(t, err, "source 户籍", "corrupt.csv.gz", "checksum")
	})
	t.Run("not gzip", func(t *testing.T) {
		herr, _ := openErr(build(t, notGzip, nil))
		contains(t, herr, "source 户籍", "plain.csv.gz", "gzip")
	})
	t.Run("empty file", func(t *testing.T) {
		herr, _ := openErr(build(t, empty, nil))
		contains(t, herr, "source 户籍", "empty.csv", "no header")
	})
	t.Run("header row past the end", func(t *testing.T) {
		herr, _ := openErr(build(t, short, map[string]any{"header_row": 3}))
		contains(t, herr, "source 户籍", "short.csv", "no header at line 3")
	})
}

func TestInputs(t *testing.T) {
	dir := t.TempDir()
	data := []byte(household)
	p := write(t, dir, "户籍.csv", data)
	_, inputs := conformance.ReadAll(t, build(t, p, nil), context.Background())
	if len(inputs) != 1 || inputs[0].Bytes != int64(len(data)) || inputs[0].Rows != 3 || inputs[0].Path != p || len(inputs[0].SHA256) != 64 {
		t.Errorf("inputs %+v", inputs)
	}
}

// benchFile writes a ~50 MB payment roll (UTF-8) and the same rows in GBK.
func benchFiles(b *testing.B) (utf8Path, gbkPath string) {
	dir := b.TempDir()
	utf8Path = filepath.Join(dir, "roll-utf8.csv")
	gbkPath = filepath.Join(dir, "roll-gbk.csv")
	fu, err := os.Create(utf8Path)
	if err != nil {
		b.Fatal(err)
	}
	fg, _ := os.Create(gbkPath)
	wu := bufio.NewWriter(fu)
	wg := bufio.NewWriter(fg)
	enc := simplifiedchinese.GBK.NewEncoder()
	line := func(s string) {
		wu.WriteString(s)
		g, _ := enc.String(s)
		wg.WriteString(g)
	}
	line("序号,姓名,身份证号,性别,出生日期,户籍地址,发放项目,发放金额,发放月份,银行账号,备注\n")
	surnames := []string{"张", "王", "李", "赵", "刘", "陈", "杨", "黄"}
	given := []string{"伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军"}
	for i := 1; wu.Buffered()+int(mustSize(fu)) < 50<<20; i++ {
		line(fmt.Sprintf("%d,%s%s,41172119%02d%02d%02d%04d,%s,19%02d-%02d-%02d,河南省驻马店市西平县%s乡%d村,城乡低保,%d.%02d,2024-05,62170025%011d,\"%s\"\n",
			i, surnames[i%8], given[i%10], 50+i%40, 1+i%12, 1+i%28, i%10000, []string{"男", "女"}[i%2],
			50+i%40, 1+i%12, 1+i%28, []string{"出山", "人和", "权寨"}[i%3], i%30, 200+i%300, i%100, i, "季度补发, 含\"\"临时救助\"\""))
	}
	wu.Flush()
	wg.Flush()
	fu.Close()
	fg.Close()
	return utf8Path, gbkPath
}

func mustSize(f *os.File) int64 {
	st, _ := f.Stat()
	return st.Size()
}

// BenchmarkCSVRead measures the csv connector alone (MB/s of file read) on
// a generated ~50 MB payment roll, in UTF-8 and in GBK.
func BenchmarkCSVRead(b *testing.B) {
	utf8Path, gbkPath := benchFiles(b)
	for _, c := range []struct{ name, path, enc string }{
		{"utf-8", utf8Path, "auto"},
		{"gbk", gbkPath, "auto"},
	} {
		b.Run(c.name, func(b *testing.B) {
			st, err := os.Stat(c.path)
			if err != nil {
				b.Fatal(err)
			}
			src := build(b, c.path, map[string]any{"encoding": c.enc})
			b.SetBytes(st.Size())
			b.ReportAllocs()
			b.ResetTimer()
			var rows int
			for i := 0; i < b.N; i++ {
				rd, err := src.Open(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				rows = 0
				for {
					rec, err := rd.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					if rec.Problem != "" {
						b.Fatalf("row %d: %s %s", rec.Row, rec.Problem, rec.Detail)
					}
					rows++
				}
				rd.Close()
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// An empty .gz file makes gzip.NewReader return io.EOF itself; that must
// not reach the caller as the clean end of the data.
func TestEmptyGzipIsNotEOF(t *testing.T) {
	p := filepath.Join(t.TempDir(), "empty.csv.gz")
	os.WriteFile(p, nil, 0o644)
	src := build(t, p, nil)
	_, herr := src.Headers(context.Background())
	rd, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	_, err = rd.Next()
	for _, e := range []error{herr, err} {
		if e == nil || errors.Is(e, io.EOF) {
			t.Errorf("err = %v, want an error that is not io.EOF", e)
		}
		if !errors.Is(e, io.ErrUnexpectedEOF) || !strings.Contains(e.Error(), "empty.csv.gz") {
			t.Errorf("err = %v, want io.ErrUnexpectedEOF naming the file", e)
		}
	}
}
