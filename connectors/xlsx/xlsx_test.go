package xlsx

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/connectors/conformance"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// book writes a workbook built by fill into dir and returns its path.
func book(t testing.TB, dir, name string, fill func(f *excelize.File)) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	fill(f)
	p := filepath.Join(dir, name)
	if err := f.SaveAs(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func set(t testing.TB, f *excelize.File, sheet, cell string, v any) {
	t.Helper()
	if err := f.SetCellValue(sheet, cell, v); err != nil {
		t.Fatal(err)
	}
}

func style(t testing.TB, f *excelize.File, st *excelize.Style) int {
	t.Helper()
	id, err := f.NewStyle(st)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func build(t testing.TB, path string, opts map[string]any) connectors.Source {
	t.Helper()
	reg := connectors.Default.Clone()
	src, err := reg.Build("xlsx", "低保", path, opts)
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

func payroll(t testing.TB, dir string) string {
	return book(t, dir, "低保名册.xlsx", func(f *excelize.File) {
		date := style(t, f, &excelize.Style{NumFmt: 14})
		for i, h := range []string{"姓名", "身份证号", "发放金额", "发放日期"} {
			cell, _ := excelize.CoordinatesToCellName(i+1, 1)
			set(t, f, "Sheet1", cell, h)
		}
		set(t, f, "Sheet1", "A2", "张三")
		set(t, f, "Sheet1", "B2", "410102198001010012")
		set(t, f, "Sheet1", "C2", 300)
		set(t, f, "Sheet1", "D2", 45413) // 2024-05-01
		f.SetCellStyle("Sheet1", "D2", "D2", date)
		set(t, f, "Sheet1", "A3", "李四")
		set(t, f, "Sheet1", "C3", 512.5)
		set(t, f, "Sheet1", "D3", "2024年5月")
		// Row 4 empty: skipped. Row 5 after the gap.
		set(t, f, "Sheet1", "A5", "王五")
		set(t, f, "Sheet1", "B5", "41108219900101123X")
		set(t, f, "Sheet1", "C5", 0.1+0.2)
	})
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	p := payroll(t, dir)
	conformance.Run(t, func(t *testing.T) connectors.Source { return build(t, p, nil) },
		[][]string{
			{"张三", "410102198001010012", "300", "2024-05-01"},
			{"李四", "", "512.5", "2024年5月"},
			{"王五", "41108219900101123X", "0.3", ""},
		},
		conformance.WithRows(2, 3, 5), conformance.WithInputs(1))
}

func TestConformanceGlob(t *testing.T) {
	dir := t.TempDir()
	for i, name := range []string{"a.xlsx", "b.xlsx"} {
		book(t, dir, name, func(f *excelize.File) {
			set(t, f, "Sheet1", "A1", "姓名")
			set(t, f, "Sheet1", "B1", "序号")
			set(t, f, "Sheet1", "A2", []string{"甲", "乙"}[i])
			set(t, f, "Sheet1", "B2", i+1)
		})
	}
	conformance.Run(t, func(t *testing.T) connectors.Source { return build(t, filepath.Join(dir, "*.xlsx"), nil) },
		[][]string{{"甲", "1"}, {"乙", "2"}}, conformance.WithRows(2, 2), conformance.WithInputs(2))
}

// ID numbers typed into Excel as numbers have lost their last digits; the
// connector must show them as Excel does, never as a repaired number.
func TestNumericIDNumbers(t *testing.T) {
	dir := t.TempDir()
	p := book(t, dir, "ids.xlsx", func(f *excelize.File) {
		zero := style(t, f, &excelize.Style{NumFmt: 1}) // "0": shows all digits
		set(t, f, "Sheet1", "A1", "身份证号")
		set(t, f, "Sheet1", "B1", "说明")
		set(t, f, "Sheet1", "A2", "411082199001011234") // text: intact
		set(t, f, "Sheet1", "A3", 411082199001011234)   // int written in full by a tool
		set(t, f, "Sheet1", "A4", float64(411082199001011234))
		set(t, f, "Sheet1", "A5", 411082199001011234)
		f.SetCellStyle("Sheet1", "A5", "A5", zero)
		set(t, f, "Sheet1", "A6", 411082900101101) // 15 digits survive a double
		set(t, f, "Sheet1", "A7", "4.11082E+17")   // text that was already damaged
		for r := 2; r <= 7; r++ {
			cell, _ := excelize.CoordinatesToCellName(2, r)
			set(t, f, "Sheet1", cell, r)
		}
		// Excel itself writes 17 significant digits in the XML.
		f.SetCellDefault("Sheet1", "A8", "4.1108219900101101E+17")
		set(t, f, "Sheet1", "B8", 8)
	})
	recs := readAll(t, build(t, p, nil))
	want := []struct {
		val    string
		status idnumber.Status
	}{
		{"411082199001011234", ""},
		{"4.11082199001011E+17", idnumber.StatusExcelDamaged},
		{"4.11082199001011E+17", idnumber.StatusExcelDamaged},
		{"4.11082199001011E+17", idnumber.StatusExcelDamaged},
		{"411082900101101", ""},
		{"4.11082E+17", idnumber.StatusExcelDamaged},
		{"4.11082199001011E+17", idnumber.StatusExcelDamaged},
	}
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d", len(recs), len(want))
	}
	for i, w := range want {
		got := recs[i].Values[0]
		if got != w.val {
			t.Errorf("row %d: %q, want %q", recs[i].Row, got, w.val)
		}
		if w.status != "" {
			if st := idnumber.Normalize(got).Status; st != w.status {
				t.Errorf("row %d: %q classifies as %s, want %s", recs[i].Row, got, st, w.status)
			}
		}
	}
}

func TestDatesAndNumbers(t *testing.T) {
	dir := t.TempDir()
	serial := 45413.0 // 2024-05-01
	p := book(t, dir, "dates.xlsx", func(f *excelize.File) {
		cn := "yyyy\"年\"m\"月\"d\"日\""
		iso := "yyyy-mm-dd"
		dt := "yyyy/m/d h:mm:ss"
		money := "#,##0.00\"元\""
		sci := "0.00E+00"
		cases := []struct {
			v   any
			st  *excelize.Style
			row int
		}{
			{serial, &excelize.Style{NumFmt: 14}, 2},
			{serial, &excelize.Style{CustomNumFmt: &cn}, 3},
			{serial, &excelize.Style{CustomNumFmt: &iso}, 4},
			{serial + 0.354166666667, &excelize.Style{CustomNumFmt: &dt}, 5},
			{serial + 0.354166666667, &excelize.Style{NumFmt: 22}, 6},
			{0.354166666667, &excelize.Style{NumFmt: 20}, 7},
			{serial, nil, 8},                         // no date format: the serial itself
			{serial, &excelize.Style{NumFmt: 31}, 9}, // 年月日, built-in (Chinese)
			{1234.5, &excelize.Style{CustomNumFmt: &money}, 10},
			{1234.5, &excelize.Style{CustomNumFmt: &sci}, 11},
			{true, nil, 12},
			{-42, nil, 13},
			{time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), nil, 14}, // excelize writes a serial with a date style
		}
		set(t, f, "Sheet1", "A1", "值")
		for _, c := range cases {
			cell, _ := excelize.CoordinatesToCellName(1, c.row)
			set(t, f, "Sheet1", cell, c.v)
			if c.st != nil {
				f.SetCellStyle("Sheet1", cell, cell, style(t, f, c.st))
			}
		}
	})
	recs := readAll(t, build(t, p, nil))
	want := []string{"2024-05-01", "2024-05-01", "2024-05-01", "2024-05-01 08:30:00", "2024-05-01 08:30:00",
		"08:30:00", "45413", "2024-05-01", "1234.5", "1234.5", "TRUE", "-42", "2024-05-01"}
	var got []string
	for _, r := range recs {
		got = append(got, r.Values[0])
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("values\n got %q\nwant %q", got, want)
	}
}

// A two-row header: 序号 merged down A1:A2, 户主信息 merged across B1:C1
// above 姓名 and 身份证号, 金额 merged down D1:D2.
func mergedHeader(t testing.TB, dir string) string {
	return book(t, dir, "merged.xlsx", func(f *excelize.File) {
		set(t, f, "Sheet1", "A1", "序号")
		set(t, f, "Sheet1", "B1", "户主信息")
		set(t, f, "Sheet1", "B2", "姓名")
		set(t, f, "Sheet1", "C2", "身份证号")
		set(t, f, "Sheet1", "D1", "金额")
		for _, m := range [][2]string{{"A1", "A2"}, {"B1", "C1"}, {"D1", "D2"}} {
			if err := f.MergeCell("Sheet1", m[0], m[1]); err != nil {
				t.Fatal(err)
			}
		}
		set(t, f, "Sheet1", "A3", 1)
		set(t, f, "Sheet1", "B3", "张三")
		set(t, f, "Sheet1", "C3", "410102198001010012")
		set(t, f, "Sheet1", "D3", 300)
	})
}

func TestMergedHeader(t *testing.T) {
	dir := t.TempDir()
	p := mergedHeader(t, dir)
	cases := []struct {
		opts map[string]any
		want []string
	}{
		{map[string]any{"header_row": 2}, []string{"序号", "姓名", "身份证号", "金额"}},
		{map[string]any{"header_rows": 2}, []string{"序号", "户主信息/姓名", "户主信息/身份证号", "金额"}},
	}
	// Without header_rows the merged 户主信息 names two columns: an error
	// that says what to set.
	_, err := build(t, p, nil).Headers(context.Background())
	checkErr(t, err, []string{"merged.xlsx", "cells B and C", `both called "户主信息"`, "set header_rows: 2"})
	for _, c := range cases {
		hdrs, err := build(t, p, c.opts).Headers(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(hdrs[0].Names, c.want) {
			t.Errorf("options %v: header %q, want %q", c.opts, hdrs[0].Names, c.want)
		}
	}
	conformance.Run(t, func(t *testing.T) connectors.Source { return build(t, p, map[string]any{"header_rows": 2}) },
		[][]string{{"1", "张三", "410102198001010012", "300"}}, conformance.WithRows(3))
}

func TestSheetOption(t *testing.T) {
	dir := t.TempDir()
	p := book(t, dir, "two.xlsx", func(f *excelize.File) {
		set(t, f, "Sheet1", "A1", "说明")
		set(t, f, "Sheet1", "A2", "封面")
		if _, err := f.NewSheet("发放名册"); err != nil {
			t.Fatal(err)
		}
		set(t, f, "发放名册", "A1", "姓名")
		set(t, f, "发放名册", "A2", "张三")
	})
	for _, sheet := range []string{"发放名册", "2"} {
		recs := readAll(t, build(t, p, map[string]any{"sheet": sheet}))
		if len(recs) != 1 || recs[0].Values[0] != "张三" || recs[0].Header.Names[0] != "姓名" {
			t.Errorf("sheet %q: %+v", sheet, recs)
		}
	}
	if recs := readAll(t, build(t, p, nil)); len(recs) != 1 || recs[0].Values[0] != "封面" {
		t.Errorf("default sheet: %+v", recs)
	}
	_, err := build(t, p, map[string]any{"sheet": "名册"}).Headers(context.Background())
	if err == nil || !strings.Contains(err.Error(), `sheet "名册" not found`) || !strings.Contains(err.Error(), "发放名册") ||
		!strings.Contains(err.Error(), "source 低保") || !strings.Contains(err.Error(), "two.xlsx") {
		t.Errorf("missing sheet: %v", err)
	}
	_, err = build(t, p, map[string]any{"sheet": 3}).Open(context.Background())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
}

func TestRaggedAndEmptyRows(t *testing.T) {
	dir := t.TempDir()
	p := book(t, dir, "ragged.xlsx", func(f *excelize.File) {
		set(t, f, "Sheet1", "A1", "姓名")
		set(t, f, "Sheet1", "B1", "金额")
		set(t, f, "Sheet1", "A2", "张三")
		set(t, f, "Sheet1", "A3", "李四")
		set(t, f, "Sheet1", "B3", 10)
		set(t, f, "Sheet1", "D3", "多余")
		set(t, f, "Sheet1", "A5", "")
		set(t, f, "Sheet1", "A6", "王五")
		set(t, f, "Sheet1", "B6", 20)
		f.SetRowHeight("Sheet1", 9, 30) // formatted but empty row at the end
	})
	recs := readAll(t, build(t, p, nil))
	if len(recs) != 3 {
		t.Fatalf("got %d records: %+v", len(recs), recs)
	}
	if r := recs[0]; r.Row != 2 || !reflect.DeepEqual(r.Values, []string{"张三", ""}) || r.Problem != "" {
		t.Errorf("short row: %+v", r)
	}
	if r := recs[1]; r.Row != 3 || r.Problem != "ragged_row" || !reflect.DeepEqual(r.Values, []string{"李四", "10", "", "多余"}) ||
		!strings.Contains(r.Detail, "column D") {
		t.Errorf("ragged row: %+v", r)
	}
	if r := recs[2]; r.Row != 6 || r.Problem != "" {
		t.Errorf("row after gap: %+v", r)
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := payroll(t, dir)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	notBook := filepath.Join(dir, "名册.xlsx")
	os.WriteFile(notBook, []byte("姓名,身份证号\n张三,1\n"), 0o644)
	truncated := filepath.Join(dir, "truncated.xlsx")
	os.WriteFile(truncated, data[:len(data)/2], 0o644)
	empty := book(t, dir, "empty.xlsx", func(f *excelize.File) {})

	cases := []struct {
		name, path string
		want       []string
	}{
		{"missing", filepath.Join(dir, "nope.xlsx"), []string{"source 低保", "nope.xlsx", "does not exist"}},
		{"not a workbook", notBook, []string{"source 低保", "名册.xlsx", "not a readable .xlsx workbook"}},
		{"truncated", truncated, []string{"source 低保", "truncated.xlsx", "not a readable .xlsx workbook"}},
		{"no header", empty, []string{"source 低保", "empty.xlsx", "no header at row 1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := build(t, c.path, nil)
			_, err := src.Headers(context.Background())
			checkErr(t, err, c.want)
			rd, err := src.Open(context.Background())
			if err == nil {
				_, err = rd.Next()
				rd.Close()
			}
			checkErr(t, err, c.want)
		})
	}
}

func checkErr(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want an error", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

// rezip copies a workbook, replacing one part's content.
func rezip(t *testing.T, src, dst, part string, edit func([]byte) []byte) {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if f.Name == part {
			b = edit(b)
		}
		w, _ := zw.Create(f.Name)
		w.Write(b)
	}
	zw.Close()
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// excelize stops quietly on worksheet XML it cannot parse; the connector
// must report the damage instead of returning a short sheet.
func TestDamagedWorksheetXML(t *testing.T) {
	dir := t.TempDir()
	good := payroll(t, dir)
	bad := filepath.Join(dir, "damaged.xlsx")
	rezip(t, good, bad, "xl/worksheets/sheet1.xml", func(b []byte) []byte {
		i := bytes.Index(b, []byte(`<row r="3"`))
		if i < 0 {
			t.Fatalf("no row 3 in %s", b)
		}
		// Break the XML inside row 3 but keep the rest of the sheet.
		return append(append(b[:i+10:i+10], []byte(` <<<broken`)...), b[i+10:]...)
	})
	rd, err := build(t, bad, nil).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var n int
	for {
		_, err = rd.Next()
		if err != nil {
			break
		}
		n++
	}
	if errors.Is(err, io.EOF) {
		t.Fatalf("damaged sheet read as %d records without error", n)
	}
	checkErr(t, err, []string{"source 低保", "damaged.xlsx", "damaged worksheet", "Sheet1"})
}

// A minimal workbook as other tools write it: namespace prefixes, no r
// attributes on rows and cells, inline strings, a comment.
func TestHandWrittenWorkbook(t *testing.T) {
	parts := map[string]string{
		"[Content_Types].xml": `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
			`<Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
			`<Override PartName="/xl/worksheets/data.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>` +
			`</Types>`,
		"_rels/.rels": `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml": `<?xml version="1.0"?><x:workbook xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ` +
			`xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><x:sheets>` +
			`<x:sheet name="名册" sheetId="1" r:id="rId7"/></x:sheets></x:workbook>`,
		"xl/_rels/workbook.xml.rels": `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId7" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="/xl/worksheets/data.xml"/></Relationships>`,
		"xl/worksheets/data.xml": `<?xml version="1.0"?><x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>` +
			`<x:row><x:c t="inlineStr"><x:is><x:t>姓名</x:t></x:is></x:c><x:c t="inlineStr"><x:is><x:t>身份证号</x:t></x:is></x:c></x:row>` +
			`<!-- <x:row><x:c><x:v>1</x:v></x:c></x:row> -->` +
			`<x:row><x:c t="inlineStr"><x:is><x:t>张三 &lt;户主&gt;</x:t></x:is></x:c><x:c><x:v>411082199001011234</x:v></x:c></x:row>` +
			`</x:sheetData></x:worksheet>`,
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/worksheets/data.xml"} {
		w, _ := zw.Create(name)
		w.Write([]byte(parts[name]))
	}
	zw.Close()
	p := filepath.Join(t.TempDir(), "hand.xlsx")
	os.WriteFile(p, buf.Bytes(), 0o644)
	recs := readAll(t, build(t, p, map[string]any{"sheet": "名册"}))
	if len(recs) != 1 {
		t.Fatalf("got %+v", recs)
	}
	if !reflect.DeepEqual(recs[0].Header.Names, []string{"姓名", "身份证号"}) || recs[0].Row != 2 ||
		!reflect.DeepEqual(recs[0].Values, []string{"张三 <户主>", "4.11082199001011E+17"}) {
		t.Errorf("got header %q row %d values %q", recs[0].Header.Names, recs[0].Row, recs[0].Values)
	}
}

func TestClassifyFormat(t *testing.T) {
	cases := map[string]numKind{
		"General":                  kindNumber,
		"0":                        kindNumber,
		"#,##0.00":                 kindNumber,
		"0.00E+00":                 kindNumber,
		`#,##0.00"元"`:              kindNumber,
		"[$¥-804]#,##0.00":         kindNumber,
		"0.00_);[Red](0.00)":       kindNumber,
		"@":                        kindNumber,
		"yyyy-mm-dd":               kindDate,
		`yyyy"年"m"月"d"日"`:          kindDate,
		"[$-804]yyyy年m月d日":         kindDate,
		"mmm-yy":                   kindDate,
		"yyyy/m/d h:mm":            kindDateTime,
		"h:mm:ss":                  kindTime,
		"[h]:mm":                   kindTime,
		`上午/下午h"时"mm"分"`:           kindTime,
		"hh:mm AM/PM":              kindTime,
		`"截至"yyyy"年"`:              kindDate,
		`\d0`:                      kindNumber,
		"yyyy-mm-dd;@":             kindDate,
		`[Red][<=100]0;[Blue]0.00`: kindNumber,
	}
	for code, want := range cases {
		if got := classifyFormat(code); got != want {
			t.Errorf("classifyFormat(%q) = %d, want %d", code, got, want)
		}
	}
}

func TestNumber(t *testing.T) {
	cases := map[float64]string{
		300: "300", 512.5: "512.5", 0.1 + 0.2: "0.3", -42: "-42", 0: "0",
		411082900101101:     "411082900101101",
		999999999999999:     "999999999999999",
		1e15:                "1E+15",
		411082199001011234:  "4.11082199001011E+17",
		6222021234567890123: "6.22202123456789E+18",
		1e-7:                "0.0000001",
	}
	for x, want := range cases {
		if got := number(x); got != want {
			t.Errorf("number(%v) = %q, want %q", x, got, want)
		}
	}
}

// A sheet big enough to exercise streaming over many buffer refills.
func TestManyRows(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dir := t.TempDir()
	const n = 20000
	p := filepath.Join(dir, "big.xlsx")
	f := excelize.NewFile()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	sw.SetRow("A1", []any{"序号", "姓名", "身份证号", "金额"})
	for i := 1; i <= n; i++ {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		sw.SetRow(cell, []any{i, "张三", "410102198001010012", float64(i) / 4})
	}
	sw.Flush()
	if err := f.SaveAs(p); err != nil {
		t.Fatal(err)
	}
	f.Close()
	recs := readAll(t, build(t, p, nil))
	if len(recs) != n {
		t.Fatalf("got %d records, want %d", len(recs), n)
	}
	last := recs[n-1]
	if last.Row != n+1 || !reflect.DeepEqual(last.Values, []string{"20000", "张三", "410102198001010012", "5000"}) {
		t.Errorf("last record %+v", last)
	}
}

func BenchmarkXLSXRead(b *testing.B) {
	dir := b.TempDir()
	const n = 50000
	p := filepath.Join(dir, "bench.xlsx")
	f := excelize.NewFile()
	sw, _ := f.NewStreamWriter("Sheet1")
	sw.SetRow("A1", []any{"序号", "姓名", "身份证号", "金额", "发放日期", "备注"})
	for i := 1; i <= n; i++ {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		sw.SetRow(cell, []any{i, "张三丰", "410102198001010012", 300.5, "2024-05-01", "低保金"})
	}
	sw.Flush()
	f.SaveAs(p)
	f.Close()
	src := build(b, p, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		recs, _ := conformance.ReadAll(b, src, context.Background())
		if len(recs) != n {
			b.Fatalf("read %d", len(recs))
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// FuzzSheet feeds arbitrary worksheet XML to the sheet reader and the
// merged-range reader: they must not panic or loop, rows must come in
// increasing order with their cells sorted, and every value must be a
// shared string, text taken from the input, or a rendered number.
func FuzzSheet(f *testing.F) {
	f.Add([]byte(`<worksheet><sheetData><row r="1"><c r="A1" t="s" s="3"><v>0</v></c><c r="C1"><v>4.1E+17</v></c></row>` +
		`<row r="3"/><!-- <row r="9"> --><x:row><x:c t='n'><x:v>1</x:v></x:c></x:row></sheetData>` +
		`<mergeCells><mergeCell ref="A1:B2"/></mergeCells></worksheet>`))
	f.Add([]byte(`<row r="x"><c r="ZZZZZ1">`))
	f.Add([]byte(`<![CDATA[<row>]]><?pi <row> ?><c a=">" r="B2"/>`))
	f.Add([]byte(`<sheetData><row><c t="inlineStr"><is><r><t>a&amp;b</t></r><rPh><t>x</t></rPh><t xml:space="preserve"> _x000D_</t></is></c>` +
		`<c s="1"><f>A1</f><v>45413.5</v></c><c t="b"><v>1</v></c><c t="str"><v><![CDATA[<x>]]></v></c></row></sheetData>`))
	f.Add([]byte(`<sheetData><row r="2"><c r="B2" t="s"><v>7</v></c><c r="A2"><v>-0.0</v></c></row><row r="1"></row></sheetData>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := &fileReader{src: &Source{name: "fuzz"}, path: "fuzz.xlsx", sheet: "Sheet1", sst: &sharedStrings{strs: [][]string{{"甲", "", "乙"}}, n: 3, done: true},
			kinds: []numKind{kindNumber, kindDate, kindDateTime, kindTime}, dates: map[dateKey]string{}}
		fr.sr = newSheetReader(bytes.NewReader(data))
		last := 0
		for n := 0; n < 10000; n++ {
			vals, ok, err := fr.readRow()
			if err != nil || !ok {
				break
			}
			if fr.rowNum <= last {
				t.Fatalf("row %d after row %d", fr.rowNum, last)
			}
			last = fr.rowNum
			for i := 1; i < len(fr.sr.cells); i++ {
				if fr.sr.cells[i].col < fr.sr.cells[i-1].col {
					t.Fatalf("cells out of order: %+v", fr.sr.cells)
				}
			}
			if len(vals) > 16384 {
				t.Fatalf("%d values", len(vals))
			}
		}
		ms, _ := mergeCells(newWindow(bytes.NewReader(data), 16))
		for _, r := range ms {
			if r.r1 > r.r2 || r.c1 > r.c2 {
				t.Fatalf("bad range %+v", r)
			}
		}
		// Without comments or CDATA sections the quick search finds the
		// same ranges as reading tag by tag.
		fm, ferr := findMerges(bytes.NewReader(data))
		_, merr := mergeCells(newWindow(bytes.NewReader(data), 16))
		if !bytes.Contains(data, []byte("<!")) && ferr == nil && merr == nil && !reflect.DeepEqual(fm, ms) {
			t.Fatalf("findMerges found %v, the tag-by-tag reading %v", fm, ms)
		}
	})
}
