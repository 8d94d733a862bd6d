package mapping

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/width"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/job"
)

type sink struct{ rows []QuarantineRow }

func (s *sink) Quarantine(r QuarantineRow) error { s.rows = append(s.rows, r); return nil }

func strp(s string) *string { return &s }

func paymentSource() job.Source {
	return job.Source{Name: "pay", Role: "payment", Columns: map[string]job.Mapping{
		"payment_id":   {Column: "记录号"},
		"program_code": {Column: "项目", Map: map[string]string{"高龄津贴": "gaoling", "低保": "dibao"}},
		"period":       {Column: "期间"},
		"id_number":    {Column: "身份证号"},
		"name":         {Column: "姓名"},
		"amount":       {Column: "金额"},
		"paid_date":    {Column: "发放日期", Formats: []string{"yyyymmdd"}},
		"account_type": {Column: "卡类型", Map: map[string]string{"社会保障卡": "ssc"}, Default: strp("other")},
		"region_code":  {Constant: strp("411082")},
	}}
}

var header = &connectors.Header{Input: "pay.csv", Names: []string{"记录号", "项目", "期间", "身份证号", "姓名", "金额", "发放日期", "卡类型"}}

func TestQuarantineReasons(t *testing.T) {
	role, _ := dataset.Lookup("payment")
	good := []string{"P1", "高龄津贴", "202405", "11010519491231002X", "张三", "200.00", "20240510", "社会保障卡"}
	cases := []struct {
		name   string
		rec    connectors.Record
		reason string
		column string
	}{
		{"ragged row from the connector", connectors.Record{Values: good[:3], Problem: "ragged_row", Detail: "expected 8 fields, got 3"}, "ragged_row", ""},
		{"bad encoding from the connector", connectors.Record{Values: good, Problem: "bad_encoding"}, "bad_encoding", ""},
		{"missing payment id", connectors.Record{Values: with(good, 0, " ")}, ReasonMissingValue, "记录号"},
		{"unparseable date", connectors.Record{Values: with(good, 6, "2024-13-45")}, ReasonBadDate, "发放日期"},
		{"date in a format the source does not use", connectors.Record{Values: with(good, 6, "2024-05-10")}, ReasonBadDate, "发放日期"},
		{"bad period", connectors.Record{Values: with(good, 2, "五月")}, ReasonBadPeriod, "期间"},
		{"bad amount", connectors.Record{Values: with(good, 5, "二百")}, ReasonBadNumber, "金额"},
		{"value outside a strict value map", connectors.Record{Values: with(good, 1, "未知项目")}, ReasonUnmappedValue, "项目"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &sink{}
			m, err := New(role, paymentSource(), s, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Release()
			c.rec.Header = header
			c.rec.Row = 7
			if err := m.Add(c.rec); err != nil {
				t.Fatal(err)
			}
			if len(s.rows) != 1 {
				t.Fatalf("quarantined %d rows, want 1", len(s.rows))
			}
			q := s.rows[0]
			if q.Reason != c.reason || q.Column != c.column || q.Row != 7 || q.File != "pay.csv" {
				t.Errorf("got reason %q column %q row %d file %q, want %q %q 7 pay.csv", q.Reason, q.Column, q.Row, q.File, c.reason, c.column)
			}
			if m.Stats.RowsRead != 1 || m.Stats.RowsQuarantined != 1 || m.Stats.RowsAccepted != 0 || m.Stats.Quarantined[c.reason] != 1 {
				t.Errorf("stats do not reconcile: %+v", m.Stats)
			}
		})
	}
}

func with(v []string, i int, s string) []string {
	out := append([]string(nil), v...)
	out[i] = s
	return out
}

func TestAcceptedRowValues(t *testing.T) {
	role, _ := dataset.Lookup("payment")
	m, err := New(role, paymentSource(), &sink{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	rows := [][]string{
		{"P1", "高龄津贴", "2024-05", " 610104620927690 ", "張 偉", "1,200.50", "20240510", "社会保障卡"},
		{"P2", "低保", "2024年5月", "4.11082E+17", "李四", "300", "", "银行卡"},
	}
	for i, r := range rows {
		if err := m.Add(connectors.Record{Header: header, Row: int64(i + 2), Values: r}); err != nil {
			t.Fatal(err)
		}
	}
	rec := m.Flush()
	if rec == nil || rec.NumRows() != 2 {
		t.Fatalf("want 2 rows")
	}
	defer rec.Release()
	col := func(name string) arrow.Array {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("no column %s", name)
		}
		return rec.Column(idx[0])
	}
	str := func(name string, i int) string { return col(name).(*array.String).Value(i) }
	if got := str("id_number", 0); got != "610104196209276908" {
		t.Errorf("id_number = %q, want the 18-digit upgrade", got)
	}
	if got := str("id_number_status", 0); got != "upgraded" {
		t.Errorf("status = %q", got)
	}
	if got := str("id_number_status", 1); got != "excel_damaged" {
		t.Errorf("status = %q", got)
	}
	if got := str("name_norm", 0); got != "张伟" {
		t.Errorf("name_norm = %q", got)
	}
	if got := str("name", 0); got != "張 偉" {
		t.Errorf("name keeps the value as sent, got %q", got)
	}
	if got := col("amount").(*array.Float64).Value(0); got != 1200.5 {
		t.Errorf("amount = %v", got)
	}
	if got := str("program_code", 1); got != "dibao" {
		t.Errorf("program_code = %q", got)
	}
	if got := str("account_type", 1); got != "other" {
		t.Errorf("account_type default = %q", got)
	}
	if got := str("period", 1); got != "2024-05" {
		t.Errorf("period = %q", got)
	}
	if !col("paid_date").IsNull(1) {
		t.Errorf("empty date must be NULL")
	}
	if got := str("region_code", 0); got != "411082" {
		t.Errorf("constant region_code = %q", got)
	}
	if got := col("_rid").(*array.Int64).Value(1); got != 102 {
		t.Errorf("_rid = %d, want 102", got)
	}
	orig := str("_orig", 0)
	if !strings.Contains(orig, `"身份证号":" 610104620927690 "`) || !strings.HasPrefix(orig, `{"记录号":"P1"`) {
		t.Errorf("_orig must keep the original values in header order: %s", orig)
	}
}

func TestMissingColumns(t *testing.T) {
	role, _ := dataset.Lookup("payment")
	m, _ := New(role, paymentSource(), nil, 0)
	defer m.Release()
	h := &connectors.Header{Input: "x.csv", Names: []string{"记录号", "项目", "期间", "身份证号", "姓名"}}
	got := m.MissingColumns(h)
	want := []string{"卡类型", "发放日期", "金额"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("missing = %v, want %v", got, want)
	}
}

func TestAppendJSONString(t *testing.T) {
	got := string(AppendJSONString(nil, "a\"b\\c\n\x01中"))
	if got != `"a\"b\\c\n\u0001中"` {
		t.Errorf("got %s", got)
	}
}

// AppendJSONString gives what encoding/json decodes back to the input, for
// every control character, quote and backslash at every position.
func TestAppendJSONStringRoundTrip(t *testing.T) {
	for c := 0; c < 0x80; c++ {
		for _, s := range []string{string(rune(c)), "前" + string(rune(c)), string(rune(c)) + "后", "a" + string(rune(c)) + "b" + string(rune(c))} {
			var got string
			if err := json.Unmarshal(AppendJSONString(nil, s), &got); err != nil || got != s {
				t.Fatalf("%q: decoded %q, %v", s, got, err)
			}
		}
	}
}

// TestFastPathsMatchSlowPaths checks clean's and parseNumber's shortcuts
// against the full trims and the width folding on values built from the
// characters they treat specially.
func TestFastPathsMatchSlowPaths(t *testing.T) {
	parts := []string{"", " ", "\t", "\u3000", "\u00a0", "\u200b", "\ufeff", "\u0085", "\u2028", "a", "王", "1", "-", ".", ",", "元", "１", "\xff", "\x7f"}
	slowClean := func(s string) string { return strings.Trim(strings.TrimSpace(s), "\u200b\ufeff\u3000\u00a0") }
	n := 0
	for _, a := range parts {
		for _, b := range parts {
			for _, c := range parts {
				s := a + b + c
				if got, want := clean(s), slowClean(s); got != want {
					t.Errorf("clean(%q) = %q, want %q", s, got, want)
				}
				f, err := parseNumber(s)
				wf, werr := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSuffix(strings.TrimSpace(width.Narrow.String(s)), "元"), ",", ""), 64)
				if (err == nil) != (werr == nil) || (err == nil && f != wf) {
					t.Errorf("parseNumber(%q) = %v, %v; want %v, %v", s, f, err, wf, werr)
				}
				n++
			}
		}
	}
	if n != len(parts)*len(parts)*len(parts) {
		t.Fatal("not every value was checked")
	}
}

// TestCacheKeepsResults maps rows with repeating dates, periods, amounts
// and codes through one mapper (values come from its cache after the
// first time) and each row through a new mapper (always parsed), and
// requires the same batches and the same quarantine.
func TestCacheKeepsResults(t *testing.T) {
	role, _ := dataset.Lookup("payment")
	periods := []string{"202405", "2024-05", " 2024年5月 ", "五月", "2024-05"}
	amounts := []string{"200", "1,200.50", "二百", "200", "３００元"}
	dates := []string{"20240510", "", "2024-05-10", "20240510", "20240230"}
	programs := []string{"高龄津贴", "低保", "未知", "高龄津贴", " 低保"}
	types := []string{"社会保障卡", "银行卡", "社会保障卡", "", "银行卡"}
	var rows [][]string
	for i := 0; i < 200; i++ {
		rows = append(rows, []string{fmt.Sprintf("P%d", i), programs[i%5], periods[(i/5)%5], "11010519491231002X", "张三",
			amounts[(i/25)%5], dates[(i/3)%5], types[(i/7)%5]})
	}
	run := func(fresh bool) (string, []QuarantineRow) {
		s := &sink{}
		var out []string
		m, _ := New(role, paymentSource(), s, 0)
		for i, r := range rows {
			if fresh {
				if b := m.Flush(); b != nil {
					out = append(out, batchJSON(t, b))
				}
				m.Release()
				m, _ = New(role, paymentSource(), s, int64(len(out)))
			}
			if err := m.Add(connectors.Record{Header: header, Row: int64(i + 2), Values: r}); err != nil {
				t.Fatal(err)
			}
		}
		if b := m.Flush(); b != nil {
			out = append(out, batchJSON(t, b))
		}
		m.Release()
		return strings.Join(out, ""), s.rows
	}
	cached, cq := run(false)
	fresh, fq := run(true)
	if len(cq) == 0 || len(cq) == len(rows) {
		t.Fatalf("the rows must mix accepted and quarantined values, got %d quarantined of %d", len(cq), len(rows))
	}
	if len(cq) != len(fq) {
		t.Fatalf("quarantined %d rows with the cache, %d without", len(cq), len(fq))
	}
	for i := range cq {
		if cq[i].Row != fq[i].Row || cq[i].Reason != fq[i].Reason || cq[i].Column != fq[i].Column {
			t.Errorf("quarantine row %d: %+v with the cache, %+v without", i, cq[i], fq[i])
		}
	}
	// Records ids differ by design (one base per fresh mapper); compare
	// the rows without them.
	strip := regexp.MustCompile(`"_rid":[0-9]+`)
	if strip.ReplaceAllString(cached, "") != strip.ReplaceAllString(fresh, "") {
		t.Errorf("mapped values differ with the cache:\n%s\n%s", cached[:min(len(cached), 2000)], fresh[:min(len(fresh), 2000)])
	}
}

// batchJSON renders a batch's rows as JSON lines and releases it.
func batchJSON(t *testing.T, b arrow.RecordBatch) string {
	t.Helper()
	defer b.Release()
	var sb strings.Builder
	for i := 0; i < int(b.NumRows()); i++ {
		row := map[string]any{}
		for c := 0; c < int(b.NumCols()); c++ {
			row[b.ColumnName(c)] = b.Column(c).GetOneForMarshal(i)
		}
		j, err := json.Marshal(row)
		if err != nil {
			t.Fatal(err)
		}
		sb.Write(j)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// A refused date that another format reads says how to list it.
func TestBadDateDetailNamesFormat(t *testing.T) {
	role, _ := dataset.Lookup("payment")
	good := []string{"P1", "高龄津贴", "202405", "11010519491231002X", "张三", "200.00", "20240510", "社会保障卡"}
	for _, c := range []struct{ value, want string }{
		{"202405", "formats: [yyyymmdd, yyyymm]"},
		{"10/05/2024", `formats: [yyyymmdd, 02/01/2006]`},
		{"二〇二四年", ""},
	} {
		s := &sink{}
		m, err := New(role, paymentSource(), s, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Add(connectors.Record{Header: header, Row: 2, Values: with(good, 6, c.value)}); err != nil {
			t.Fatal(err)
		}
		m.Release()
		if len(s.rows) != 1 || s.rows[0].Reason != ReasonBadDate {
			t.Fatalf("%s: quarantined %+v, want one bad_date", c.value, s.rows)
		}
		d := s.rows[0].Detail
		if c.want == "" && strings.Contains(d, "formats:") || c.want != "" && !strings.Contains(d, c.want) {
			t.Errorf("%s: detail %q, want it to say %q", c.value, d, c.want)
		}
	}
}

// appendOrig is the plain way of writing the original values as JSON,
// the oracle of appendOrigKeyed.
func appendOrig(buf []byte, header, values []string) []byte {
	buf = append(buf, '{')
	for i, h := range header {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendJSONString(buf, h)
		buf = append(buf, ':')
		v := ""
		if i < len(values) {
			v = values[i]
		}
		buf = AppendJSONString(buf, v)
	}
	return append(buf, '}')
}

// TestOrigJSON maps records of headers with awkward names (quotes,
// backslashes, control characters) and ragged values, and wants _orig to
// be the JSON object of header and values that encoding/json reads back.
func TestOrigJSON(t *testing.T) {
	role, _ := dataset.Lookup("person")
	src := job.Source{Name: "p", Columns: map[string]job.Mapping{"id_number": {Column: "身份证号"}, "name": {Column: `姓"名\`}}}
	for _, tc := range []struct{ header, values []string }{
		{[]string{"身份证号", `姓"名\`, "备注\t\n", "\x01"}, []string{"410102198001010012", "张三", `a"b\c`, "x\ny"}},
		{[]string{"身份证号", `姓"名\`}, []string{"410102198001010012", ""}},
	} {
		m, err := New(role, src, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		h := &connectors.Header{Input: "f.csv", Names: tc.header}
		for i := 0; i < 3; i++ {
			if err := m.Add(connectors.Record{Header: h, Row: int64(i + 2), Values: tc.values}); err != nil {
				t.Fatal(err)
			}
		}
		rec := m.Flush()
		col := rec.Column(rec.Schema().FieldIndices(dataset.ColOrig)[0]).(*array.String)
		want := string(appendOrig(nil, tc.header, tc.values))
		for i := 0; i < col.Len(); i++ {
			got := col.Value(i)
			if got != want {
				t.Errorf("row %d: _orig %s, want %s", i, got, want)
			}
			var obj map[string]string
			if err := json.Unmarshal([]byte(got), &obj); err != nil || len(obj) != len(tc.header) {
				t.Errorf("row %d: _orig %s: %v", i, got, err)
			}
			for k, h := range tc.header {
				if obj[h] != tc.values[k] {
					t.Errorf("row %d: %q = %q, want %q", i, h, obj[h], tc.values[k])
				}
			}
		}
		rec.Release()
		m.Release()
	}
}
