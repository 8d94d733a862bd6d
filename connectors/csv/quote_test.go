package csv

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/connectors/conformance"
)

// yanlingRoll is the sample's 鄢陵县 payment roll: a header and one row a
// line (148 rows when issue 15 was reported), UTF-8, no quote anywhere.
const yanlingRoll = "../../examples/henan-sample/data/鄢陵县一卡通发放名单202405.csv"

// yanlingRows counts the roll's data rows (its lines after the header),
// so that the tests follow the sample as it grows.
func yanlingRows(t testing.TB) int {
	t.Helper()
	data, err := os.ReadFile(yanlingRoll)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(strings.TrimRight(string(data), "\n"), "\n")
}

// unclosedQuoteRoll returns the roll with an unclosed quote opening the
// name (姓名, column 6) on line 11, as in issue 15.
func unclosedQuoteRoll(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(yanlingRoll)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) < 12 || strings.Contains(string(data), `"`) {
		t.Fatalf("%s: want more than 11 lines without quotes", yanlingRoll)
	}
	f := strings.Split(lines[10], ",")
	f[5] = `"` + f[5]
	lines[10] = strings.Join(f, ",")
	return []byte(strings.Join(lines, ""))
}

// Issue 15: one unclosed quote in row 11's name swallowed rows 12–149, and
// the quarantine detail gave a byte offset ("column 165") for a column.
func TestUnclosedQuoteDoesNotSwallowTheFile(t *testing.T) {
	p := write(t, t.TempDir(), "鄢陵县一卡通发放名单202405.csv", unclosedQuoteRoll(t))
	recs, inputs := conformance.ReadAll(t, build(t, p, nil), context.Background())
	n := yanlingRows(t)
	if len(recs) != n {
		t.Fatalf("read %d records, want %d (lines 2–%d)", len(recs), n, n+1)
	}
	if len(inputs) != 1 || inputs[0].Rows != int64(n) {
		t.Errorf("inputs %+v, want %d rows", inputs, n)
	}
	for i, r := range recs {
		if r.Row != int64(i+2) {
			t.Fatalf("record %d is line %d, want %d", i, r.Row, i+2)
		}
		if r.Row == 11 {
			continue
		}
		if r.Problem != "" || len(r.Values) != 12 {
			t.Errorf("line %d: %s %s %q", r.Row, r.Problem, r.Detail, r.Values)
		}
	}
	bad := recs[9]
	if bad.Problem != "bad_quoting" || bad.Column != "姓名" {
		t.Errorf("line 11: problem %q column %q, want bad_quoting in 姓名", bad.Problem, bad.Column)
	}
	for _, w := range []string{"column 姓名 (6)", "line 11", "never closed"} {
		if !strings.Contains(bad.Detail, w) {
			t.Errorf("line 11 detail %q does not contain %q", bad.Detail, w)
		}
	}
	if !reflect.DeepEqual(bad.Values[4:6], []string{"411024194404216366", `"赵淑林`}) {
		t.Errorf("line 11 values %q, want the line as the file has it", bad.Values)
	}
	if last := recs[n-1]; last.Row != int64(n+1) {
		t.Errorf("last record %+v", last)
	}
}

// Every way a quote can go wrong: each line of the file ends up in
// exactly one record, and the bad ones name a column and a line.
func TestQuoteResync(t *testing.T) {
	const head = "序号,姓名,金额\n"
	type rec struct {
		row     int64
		problem string
		values  []string
		detail  string // substring of Detail
	}
	good := func(row int64, v ...string) rec { return rec{row: row, values: v} }
	for _, c := range []struct {
		name string
		body string
		opts map[string]any
		want []rec
	}{
		{"unclosed at end of file", "1,张三,100\n2,\"李四,200\n3,王五,300\n4,赵六,400\n",
			nil, []rec{good(2, "1", "张三", "100"), {3, "bad_quoting", []string{"2", `"李四`, "200"}, "column 姓名 (2): the quote opened on line 3 is never closed"},
				good(4, "3", "王五", "300"), good(5, "4", "赵六", "400")}},
		{"unclosed, closed by a later quoted value", "1,\"张三,100\n2,李四,200\n3,\"王 五\",300\n",
			nil, []rec{{2, "bad_quoting", []string{"1", `"张三`, "100"}, "column 姓名 (2): the quote opened on line 2 closes on line 4"},
				good(3, "2", "李四", "200"), good(4, "3", "王 五", "300")}},
		{"unclosed in the last column", "1,张三,\"100\n2,李四,200\n",
			nil, []rec{{2, "bad_quoting", []string{"1", "张三", `"100`}, "column 金额 (3)"}, good(3, "2", "李四", "200")}},
		{"closes cleanly but with the wrong field count", "1,\"张三,100\n2,李四\"\n3,王五,300\n",
			nil, []rec{{2, "bad_quoting", []string{"1", `"张三`, "100"}, "column 姓名 (2): a quoted value from line 2 to line 3 gives a record of 2 fields, not 3"},
				{3, "bad_quoting", []string{"2", `李四"`}, "column 姓名 (2): a quote inside an unquoted value"}, good(4, "3", "王五", "300")}},
		{"a legitimate line break in a quoted value", "1,\"张\r\n三\",100\r\n\r\n2,李四,200\r\n",
			nil, []rec{good(2, "1", "张\n三", "100"), good(5, "2", "李四", "200")}},
		{"bare quote", "1,赵\"六,100\n2,李四,200\n",
			nil, []rec{{2, "bad_quoting", []string{"1", `赵"六`, "100"}, "column 姓名 (2): a quote inside an unquoted value"}, good(3, "2", "李四", "200")}},
		{"text after the closing quote", "1,\"钱\"七,100\n2,李四,200\n",
			nil, []rec{{2, "bad_quoting", []string{"1", `"钱"七`, "100"}, "column 姓名 (2): text after the closing quote on line 2"}, good(3, "2", "李四", "200")}},
		{"quote open past max_record_lines", "1,\"张三,100\n2,李四,200\n3,王五,300\n4,\"赵六\",400\n",
			map[string]any{"max_record_lines": 2}, []rec{{2, "bad_quoting", []string{"1", `"张三`, "100"}, "not closed within 2 lines (max_record_lines)"},
				good(3, "2", "李四", "200"), good(4, "3", "王五", "300"), good(5, "4", "赵六", "400")}},
		{"a cut file: the last line ends inside a quote", "1,张三,100\n2,\"李",
			nil, []rec{good(2, "1", "张三", "100"), {3, "bad_quoting", []string{"2", `"李`}, "never closed"}}},
		{"a cut file: the last line is short", "1,张三,100\n2,李",
			nil, []rec{good(2, "1", "张三", "100"), {3, "ragged_row", []string{"2", "李"}, "expected 3 fields, got 2"}}},
		{"doubled quotes and delimiters inside quotes", "1,\"王 \"\"五\"\", 二\",\"1,000\"\n2,,\n",
			nil, []rec{good(2, "1", `王 "五", 二`, "1,000"), good(3, "2", "", "")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, t.TempDir(), "roll.csv", []byte(head+c.body))
			recs := readAll(t, build(t, p, c.opts))
			if len(recs) != len(c.want) {
				t.Fatalf("got %d records, want %d: %+v", len(recs), len(c.want), recs)
			}
			for i, w := range c.want {
				r := recs[i]
				if r.Row != w.row || r.Problem != w.problem || !reflect.DeepEqual(r.Values, w.values) || !strings.Contains(r.Detail, w.detail) {
					t.Errorf("record %d: row %d %q %q %q\n                want row %d %q %q containing %q", i, r.Row, r.Problem, r.Values, r.Detail, w.row, w.problem, w.values, w.detail)
				}
			}
		})
	}
}

// A file cut or corrupted in the middle: every line is read; a gzip file
// cut in the middle stops the source with an error naming the file and
// the last line read.
func TestCutFileCoversEveryLine(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("序号,姓名,金额\n")
	for i := 1; i <= 2000; i++ {
		fmt.Fprintf(&b, "%d,\"张%d\",%d\n", i, i, i)
	}
	data := b.Bytes()
	// Cut in the middle of a quoted value, and corrupt a quote in line 500.
	end := bytes.Index(data, []byte("\n1000,\"张1")) + len("\n1000,\"张1")
	cut := append([]byte(nil), data[:end]...)
	i := bytes.Index(cut, []byte("\n500,\"张500\""))
	cut[i+len("\n500,\"张500")] = ' '        // drop the closing quote: 500,"张500 ,500
	lines := bytes.Count(cut, []byte("\n")) // the header's line end, and the cut line has none
	dir := t.TempDir()
	recs := conformance.CoversAll(t, build(t, write(t, dir, "cut.csv", cut), nil), lines)
	var bad []int64
	for _, r := range recs {
		if r.Problem != "" {
			bad = append(bad, r.Row)
		}
	}
	if len(bad) != 2 || bad[0] != 501 || bad[1] != int64(lines+1) {
		t.Errorf("bad rows %v, want 501 (the corrupted quote) and %d (the cut line)", bad, lines+1)
	}

	// The same rows gzip-compressed and the compressed file cut in the
	// middle: the source stops, naming the file and the last line read.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	p := filepath.Join(dir, "cut.csv.gz")
	if err := os.WriteFile(p, gz.Bytes()[:gz.Len()/2], 0o644); err != nil {
		t.Fatal(err)
	}
	err, n := conformance.StopsNaming(t, build(t, p, nil), "source 户籍", "cut.csv.gz", "after line")
	if !strings.Contains(fmt.Sprint(err), fmt.Sprintf("after line %d:", n+1)) {
		t.Errorf("error %v after %d records, want it to name line %d", err, n, n+1)
	}
}
