package xlsx

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/crosscheck/crosscheck/connectors/conformance"
)

// writeParts writes a workbook package from its parts.
func writeParts(t *testing.T, p string, parts map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
		"xl/styles.xml", "xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"} {
		body, ok := parts[name]
		if !ok {
			continue
		}
		w, _ := zw.Create(name)
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

const (
	mainNS = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"`
	relNS  = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
)

func basicParts(sst, sheet string) map[string]string {
	return map[string]string{
		"[Content_Types].xml": `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
			`<Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
			`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>` +
			`<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>` +
			`</Types>`,
		"_rels/.rels": `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="` + relNS + `/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml": `<?xml version="1.0"?><workbook ` + mainNS + ` xmlns:r="` + relNS + `"><sheets>` +
			`<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels": `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="` + relNS + `/worksheet" Target="worksheets/sheet1.xml"/>` +
			`<Relationship Id="rId2" Type="` + relNS + `/sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
		"xl/sharedStrings.xml":     `<?xml version="1.0"?><sst ` + mainNS + `>` + sst + `</sst>`,
		"xl/worksheets/sheet1.xml": `<?xml version="1.0"?><worksheet ` + mainNS + `><sheetData>` + sheet + `</sheetData></worksheet>`,
	}
}

// Text cells of every kind Excel and other tools write, read by the
// connector and by excelize (the oracle): rich text, phonetic runs,
// _xHHHH_ escapes, entities and character references, CDATA, line ends,
// formula results, errors, inline strings.
func TestTextAgreesWithExcelize(t *testing.T) {
	sst := `<si><t>甲</t></si><si><t>乙</t></si><si><t>丙</t></si><si><t>丁</t></si><si><t>戊</t></si>` +
		`<si><r><rPr><b/></rPr><t>粗</t></r><r><t xml:space="preserve"> 体 </t></r></si>` +
		`<si><t>张三</t><rPh sb="0" eb="2"><t>ZhangSan</t></rPh><phoneticPr fontId="1"/></si>` +
		`<si><t>a_x000D_b_x005F_x0041_ _x00e9_ _xD800_</t></si>` +
		`<si><t>&lt;&amp;&#x4E2D;&#22269;&quot;&apos;&gt;</t></si>` +
		"<si><t><![CDATA[<raw> & \r\n]]></t></si>" +
		`<si><t>line1&#13;&#10;line2</t></si>` +
		"<si><t>x\r\ny\rz</t></si>" +
		`<si/>` +
		`<si><t></t></si>`
	sheet := `<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c><c r="D1" t="s"><v>3</v></c><c r="E1" t="s"><v>4</v></c></row>` +
		`<row r="2"><c r="A2" t="s"><v>5</v></c><c r="B2" t="s"><v>6</v></c><c r="C2" t="s"><v>7</v></c><c r="D2" t="s"><v> 8 </v></c><c r="E2" t="s"><v>9</v></c></row>` +
		`<row r="3"><c r="A3" t="s"><v>10</v></c><c r="B3" t="s"><v>11</v></c><c r="C3" t="s"><v>12</v></c>` +
		`<c r="D3" t="str"><f>A1&amp;"&amp;"</f><v>公式&amp;值</v></c><c r="E3" t="e"><f>NA()</f><v>#N/A</v></c></row>` +
		`<row r="4"><c r="A4" t="inlineStr"><is><r><t>内</t></r><r><t>联</t></r><rPh><t>no</t></rPh></is></c>` +
		`<c r="B4" t="inlineStr"><is><t>_x0009_tab</t></is></c><c r="C4" t="s"><v>13</v></c>` +
		`<c r="E4" t="inlineStr"><is><t xml:space="preserve">  两端空格  </t></is></c></row>` +
		`<row r="5"><c r="B5" t="s"><v>0</v></c><c r="C5" t="s"><v>1</v></c><c r="A5" t="s"><v>2</v></c></row>`
	p := filepath.Join(t.TempDir(), "text.xlsx")
	writeParts(t, p, basicParts(sst, sheet))

	f, err := excelize.OpenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := f.GetRows("Sheet1", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, build(t, p, nil))
	if len(recs) != len(want)-1 {
		t.Fatalf("got %d records, excelize %d rows", len(recs), len(want)-1)
	}
	for i, rec := range recs[:3] {
		w := append(want[i+1], make([]string, 5)...)[:5]
		if strings.Join(rec.Values, "\x00") != strings.Join(w, "\x00") {
			t.Errorf("row %d:\n got %q\nwant %q", rec.Row, rec.Values, w)
		}
	}
	// What excelize gives, spelled out for the tricky ones.
	if v := recs[0].Values[2]; v != "a\rb_x0041_ é " {
		t.Errorf("escapes: %q", v)
	}
	if v := recs[1].Values[1]; v != "x\ny\nz" {
		t.Errorf("line ends: %q", v)
	}
	// Cells out of column order (B5, C5, A5): excelize puts A5's value
	// after C5's; the connector puts every value in its own column.
	if v := recs[3].Values; strings.Join(v, ",") != "丙,甲,乙,," {
		t.Errorf("row 5: %q", v)
	}
}

// Dates in the 1904 date system (old Mac workbooks: workbookPr
// date1904), a numeric formula's cached value, a date formula, and a
// shared string index past the table's end (an error naming the row).
func TestDate1904FormulasAndBadIndex(t *testing.T) {
	styles := `<?xml version="1.0"?><styleSheet ` + mainNS + `><numFmts count="1"><numFmt numFmtId="180" formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/></numFmts>` +
		`<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/><xf numFmtId="180" applyNumberFormat="1"/></cellXfs></styleSheet>`
	sheet := `<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c></row>` +
		`<row r="2"><c r="A2" s="1"><v>43951</v></c><c r="B2"><f>1+2</f><v>3</v></c><c r="C2" s="2"><f>A2</f><v>43951</v></c></row>`
	// The same serial is 1462 days later in the 1904 system.
	day1900 := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 43951).Format("2006-01-02")
	day1904 := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 43951+1462).Format("2006-01-02")
	for _, c := range []struct {
		name, pr, want string
	}{
		{"1900", ``, day1900},
		{"1904", `<workbookPr date1904="1"/>`, day1904},
	} {
		t.Run(c.name, func(t *testing.T) {
			parts := basicParts(`<si><t>日期</t></si><si><t>合计</t></si><si><t>公式日期</t></si>`, sheet)
			parts["xl/workbook.xml"] = strings.Replace(parts["xl/workbook.xml"], "<sheets>", c.pr+"<sheets>", 1)
			parts["xl/styles.xml"] = styles
			parts["xl/_rels/workbook.xml.rels"] = strings.Replace(parts["xl/_rels/workbook.xml.rels"], "</Relationships>",
				`<Relationship Id="rId3" Type="`+relNS+`/styles" Target="styles.xml"/></Relationships>`, 1)
			p := filepath.Join(t.TempDir(), "d.xlsx")
			writeParts(t, p, parts)
			recs := readAll(t, build(t, p, nil))
			if len(recs) != 1 || strings.Join(recs[0].Values, ",") != c.want+",3,"+c.want {
				t.Fatalf("got %+v", recs)
			}
			// excelize's date conversion, the oracle, agrees.
			d, err := excelize.ExcelDateToTime(43951, c.pr != "")
			if err != nil || d.Format("2006-01-02") != c.want {
				t.Errorf("excelize: %v %v", d, err)
			}
		})
	}
	bad := filepath.Join(t.TempDir(), "bad.xlsx")
	writeParts(t, bad, basicParts(`<si><t>姓名</t></si>`,
		`<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>5</v></c></row>`))
	conformance.StopsNaming(t, build(t, bad, nil), "source 低保", "bad.xlsx", `sheet "Sheet1"`, "row 2", "shared string index 5")
}

// Open without Headers (the merged ranges not yet known) reads what
// Headers then Open reads.
func TestOpenWithoutHeaders(t *testing.T) {
	p := mergedHeader(t, t.TempDir())
	opts := map[string]any{"header_rows": 2}
	a := readAll(t, build(t, p, opts))
	src := build(t, p, opts)
	rd, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	rec, err := rd.Next()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 1 || strings.Join(rec.Header.Names, ",") != strings.Join(a[0].Header.Names, ",") ||
		strings.Join(rec.Values, ",") != strings.Join(a[0].Values, ",") {
		t.Errorf("Open alone: %q %q; Headers then Open: %+v", rec.Header.Names, rec.Values, a)
	}
}

// The inflating goroutines end with the file: after a whole read, after
// Headers, and after a damaged sheet stops the source (before Close).
func TestNoGoroutineLeft(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "roll.xlsx")
	if err := writeRoll(good, 20000); err != nil {
		t.Fatal(err)
	}
	// Damage a third of the way in: megabytes of the sheet are still to
	// be inflated when the error stops the source.
	cut := filepath.Join(dir, "cut.xlsx")
	rezip(t, good, cut, "xl/worksheets/sheet1.xml", func(b []byte) []byte {
		i := bytes.Index(b[len(b)/3:], []byte("<row ")) + len(b)/3
		return append(append(b[:i+5:i+5], "<<<"...), b[i+5:]...)
	})
	before := runtime.NumGoroutine()
	readAll(t, build(t, good, nil))
	if _, err := build(t, good, nil).Headers(context.Background()); err != nil {
		t.Fatal(err)
	}
	rd, err := build(t, cut, nil).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = rd.Next()
	}
	if errors.Is(err, io.EOF) {
		t.Fatal("the cut sheet read to its end")
	}
	if _, again := rd.Next(); again == nil || again.Error() != err.Error() {
		t.Errorf("Next after the error: %v, want %v", again, err)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines before, %d after", before, n)
	}
	rd.Close()
}
