package xlsx

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/normalize/idnumber"
	kflate "github.com/klauspost/compress/flate"
)

// rollHeader is the 13-column payment roll of a county, as the province's
// rolls have it.
var rollHeader = []string{"发放流水号", "项目代码", "发放期间", "行政区划代码", "户编号", "姓名", "身份证号",
	"持卡人", "银行账号", "账户类型", "开户银行", "发放金额", "发放日期"}

// writeRoll writes a workbook the way Excel saves one: text cells as
// shared strings (IDs and accounts as text), region codes and amounts as
// numbers, payment dates as date serials with the built-in date format 14,
// everything deflated. Values are random (seeded) so that the file
// compresses like a real roll. Row r's values come from rollRow(rng, r).
func writeRoll(path string, rows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := zip.NewWriter(bw)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	put := func(name, body string) error {
		w, err := zw.Create(name)
		if err == nil {
			_, err = io.WriteString(w, body)
		}
		return err
	}
	const ns = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"`
	const rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
	parts := [][2]string{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
			`<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
			`<Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
			`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>` +
			`<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>` +
			`<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>` +
			`</Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="` + rel + `/officeDocument" Target="xl/workbook.xml"/></Relationships>`},
		{"xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook ` + ns + ` xmlns:r="` + rel + `">` +
			`<workbookPr/><sheets><sheet name="发放名册" sheetId="1" r:id="rId1"/></sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="` + rel + `/worksheet" Target="worksheets/sheet1.xml"/>` +
			`<Relationship Id="rId2" Type="` + rel + `/styles" Target="styles.xml"/>` +
			`<Relationship Id="rId3" Type="` + rel + `/sharedStrings" Target="sharedStrings.xml"/></Relationships>`},
		{"xl/styles.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><styleSheet ` + ns + `>` +
			`<numFmts count="1"><numFmt numFmtId="176" formatCode="#,##0.00"/></numFmts>` +
			`<fonts count="1"><font><sz val="11"/><name val="宋体"/></font></fonts>` +
			`<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/><xf numFmtId="176" applyNumberFormat="1"/></cellXfs></styleSheet>`},
	}
	for _, p := range parts {
		if err := put(p[0], p[1]); err != nil {
			return err
		}
	}
	// The sheet first, collecting the shared strings in order of first use.
	sst := map[string]int{}
	var list []string
	idx := func(s string) int {
		if i, ok := sst[s]; ok {
			return i
		}
		sst[s] = len(list)
		list = append(list, s)
		return len(list) - 1
	}
	w, err := zw.Create("xl/worksheets/sheet1.xml")
	if err != nil {
		return err
	}
	sw := bufio.NewWriterSize(w, 1<<20)
	fmt.Fprintf(sw, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`+"\n"+`<worksheet %s xmlns:r="%s"><dimension ref="A1:M%d"/><sheetData>`, ns, rel, rows+1)
	row := make([]string, len(rollHeader))
	rng := rand.New(rand.NewPCG(18, 13))
	for r := 1; r <= rows+1; r++ {
		fmt.Fprintf(sw, `<row r="%d" spans="1:13">`, r)
		if r == 1 {
			copy(row, rollHeader)
		} else {
			rollRow(rng, r, row)
		}
		for c, v := range row {
			ref := string(rune('A'+c)) + strconv.Itoa(r)
			switch {
			case r > 1 && (c == 3 || c == 11): // region code and amount: numbers
				s := ""
				if c == 11 {
					s = ` s="2"`
				}
				fmt.Fprintf(sw, `<c r="%s"%s><v>%s</v></c>`, ref, s, v)
			case r > 1 && c == 12: // date serial, date style
				fmt.Fprintf(sw, `<c r="%s" s="1"><v>%s</v></c>`, ref, v)
			default:
				fmt.Fprintf(sw, `<c r="%s" t="s"><v>%d</v></c>`, ref, idx(v))
			}
		}
		sw.WriteString("</row>")
	}
	sw.WriteString(`</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>`)
	if err := sw.Flush(); err != nil {
		return err
	}
	w, err = zw.Create("xl/sharedStrings.xml")
	if err != nil {
		return err
	}
	sw = bufio.NewWriterSize(w, 1<<20)
	fmt.Fprintf(sw, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`+"\n"+`<sst %s count="%d" uniqueCount="%d">`, ns, len(list), len(list))
	for _, s := range list {
		sw.WriteString("<si><t>")
		xmlEscape(sw, s)
		sw.WriteString("</t></si>")
	}
	sw.WriteString("</sst>")
	if err := sw.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

func xmlEscape(w *bufio.Writer, s string) {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	r.WriteString(w, s)
}

var (
	rollSurnames = []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马", "罗"}
	rollGiven    = []string{"伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英"}
	rollPrograms = []string{"DB01", "TK02", "GL03", "CJ04", "GD05"}
	rollBanks    = []string{"河南省农村信用社", "中国农业银行", "中国邮政储蓄银行", "中国工商银行", "中国建设银行"}
	rollKinds    = []string{"社保卡", "一卡通存折", "银行卡"}
)

// rollRow fills row with the values of sheet row r of the generated roll,
// as the text the connector must give back (numbers as Excel renders them,
// the date serial as stored: the caller turns it into a date).
func rollRow(rng *rand.Rand, r int, row []string) {
	body := fmt.Sprintf("4110%02d%04d%02d%02d%03d", 1+rng.IntN(30), 1930+rng.IntN(75), 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(1000))
	id := body + string(idnumber.CheckChar(body))
	name := rollSurnames[rng.IntN(len(rollSurnames))] + rollGiven[rng.IntN(len(rollGiven))]
	holder := name
	if rng.IntN(20) == 0 {
		holder = rollSurnames[rng.IntN(len(rollSurnames))] + rollGiven[rng.IntN(len(rollGiven))]
	}
	row[0] = fmt.Sprintf("ZF202405%010d", r-1)
	row[1] = rollPrograms[rng.IntN(len(rollPrograms))]
	row[2] = "2024-05"
	row[3] = strconv.Itoa(411082100000 + rng.IntN(300)*1000 + rng.IntN(40))
	row[4] = fmt.Sprintf("HH4110%08d", (r-1)/3)
	row[5] = name
	row[6] = id
	row[7] = holder
	row[8] = fmt.Sprintf("6230%015d", rng.Int64N(1e15))
	row[9] = rollKinds[rng.IntN(len(rollKinds))]
	row[10] = rollBanks[rng.IntN(len(rollBanks))]
	row[11] = strconv.FormatFloat(float64(50+rng.IntN(2000))+float64(rng.IntN(100))/100, 'f', -1, 64)
	row[12] = strconv.Itoa(45413 + rng.IntN(28)) // 2024-05-01 … 28
}

// benchRoll returns the path of a generated roll of n data rows, made once
// into CROSSCHECK_BENCH_DIR (default: a folder in the system's temp dir)
// and reused by later runs.
func benchRoll(b *testing.B, n int) string {
	b.Helper()
	dir := os.Getenv("CROSSCHECK_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "crosscheck-bench-xlsx")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(dir, fmt.Sprintf("roll13-%d-v1.xlsx", n))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	tmp := p + ".tmp"
	if err := writeRoll(tmp, n); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		b.Fatal(err)
	}
	return p
}

// peakRSS returns VmHWM in MiB; resetPeakRSS starts a new peak (Linux).
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(l, "VmHWM:"), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// BenchmarkRoll reads the generated 13-column roll through the connector
// as a run does (Headers, then Open and every record; no DuckDB) and
// reports rows/s, CPU time and the process's peak RSS while reading. The full sheet (1,048,575 data rows) is skipped with
// -short.
//
//	go test -run '^$' -bench Roll -benchtime 1x ./connectors/xlsx/
func BenchmarkRoll(b *testing.B) {
	for _, n := range []int{100_000, 1<<20 - 1} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			if n > 100_000 && testing.Short() {
				b.Skip("short")
			}
			p := benchRoll(b, n)
			resetPeakRSS()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				src := build(b, p, nil)
				if _, err := src.Headers(context.Background()); err != nil {
					b.Fatal(err)
				}
				rd, err := src.Open(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				for {
					rec, err := rd.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					if rec.Problem != "" || len(rec.Values) != 13 {
						b.Fatalf("row %d: %+v", rec.Row, rec)
					}
					got++
				}
				rd.Close()
				if got != n {
					b.Fatalf("read %d rows, want %d", got, n)
				}
			}
			b.StopTimer()
			cpu := (cpuTime() - cpu0).Seconds()
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			// CPU time tells more than the wall clock on a shared machine.
			b.ReportMetric(cpu/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(n)*float64(b.N)/cpu, "rows/cpu-s")
			b.ReportMetric(peakRSS(), "peakRSS-MiB")
		})
	}
}

// The generated roll read back: every value equals the one generated,
// numbers as written, the date serials as the dates they stand for.
func TestRollValues(t *testing.T) {
	const n = 3000
	p := filepath.Join(t.TempDir(), "roll.xlsx")
	if err := writeRoll(p, n); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, build(t, p, nil))
	if len(recs) != n {
		t.Fatalf("read %d records, want %d", len(recs), n)
	}
	if !reflect.DeepEqual(recs[0].Header.Names, rollHeader) {
		t.Fatalf("header %q", recs[0].Header.Names)
	}
	rng := rand.New(rand.NewPCG(18, 13))
	row := make([]string, len(rollHeader))
	for i, rec := range recs {
		rollRow(rng, i+2, row)
		serial, _ := strconv.Atoi(row[12])
		row[12] = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, serial).Format("2006-01-02")
		if rec.Row != int64(i+2) || !reflect.DeepEqual(rec.Values, row) {
			t.Fatalf("row %d: got %q\nwant %q", rec.Row, rec.Values, row)
		}
	}
}

// BenchmarkInflate measures the floor under the reader: decompressing the
// roll's sheet and shared-string parts alone, with the standard library's
// flate and with klauspost/compress's.
//
//	go test -run '^$' -bench Inflate -benchtime 3x ./connectors/xlsx/
func BenchmarkInflate(b *testing.B) {
	p := benchRoll(b, 100_000)
	for _, lib := range []string{"stdlib", "klauspost"} {
		b.Run(lib, func(b *testing.B) {
			zr, err := zip.OpenReader(p)
			if err != nil {
				b.Fatal(err)
			}
			defer zr.Close()
			if lib == "klauspost" {
				zr.RegisterDecompressor(zip.Deflate, kflate.NewReader)
			}
			var out int64
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, part := range []string{"xl/worksheets/sheet1.xml", "xl/sharedStrings.xml"} {
					rc, err := openPart(&zr.Reader, part)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, rc)
					rc.Close()
					if err != nil {
						b.Fatal(err)
					}
					out += n
				}
			}
			b.StopTimer()
			cpu := (cpuTime() - cpu0).Seconds()
			b.ReportMetric(float64(out)/1e6/b.Elapsed().Seconds(), "MB/s")
			b.ReportMetric(float64(out)/1e6/cpu, "MB/cpu-s")
		})
	}
}
