package jsonl

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/connectors/conformance"
)

func write(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	data := []byte(content)
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

func build(t testing.TB, path string, opts map[string]any) connectors.Source {
	t.Helper()
	src, err := connectors.Default.Clone().Build("jsonl", "残联", path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

const people = `{"姓名":"张三","身份证号":"410102198001010012","金额":300.50,"残疾等级":null}
{"姓名":"李四","身份证号":411082199001011234,"金额":1e3,"在册":true}

{"金额":-0,"姓名":"王五","地址":{"县":"西平县","村":["一组","二组"]}}
`

var peopleWant = [][]string{
	{"张三", "410102198001010012", "300.50", "", "", ""},
	{"李四", "411082199001011234", "1e3", "", "true", ""},
	{"王五", "", "-0", "", "", `{"县":"西平县","村":["一组","二组"]}`},
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "残联.jsonl", people)
	conformance.Run(t, func(t *testing.T) connectors.Source { return build(t, p, nil) }, peopleWant,
		conformance.WithRows(1, 2, 4), conformance.WithInputs(1))
	hdrs, err := build(t, p, nil).Headers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"姓名", "身份证号", "金额", "残疾等级", "在册", "地址"}; !reflect.DeepEqual(hdrs[0].Names, want) {
		t.Errorf("header %q, want %q", hdrs[0].Names, want)
	}
}

func TestConformanceGzipGlob(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.jsonl.gz", "\uFEFF{\"姓名\":\"张三\",\"序号\":1}\r\n")
	write(t, dir, "b.jsonl", "{\"序号\":2,\"姓名\":\"李四\"}")
	conformance.Run(t, func(t *testing.T) connectors.Source { return build(t, filepath.Join(dir, "*.jsonl*"), nil) },
		[][]string{{"张三", "1"}, {"2", "李四"}}, conformance.WithRows(1, 1), conformance.WithInputs(2))
}

func TestBadLines(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "bad.jsonl", `{"姓名":"张三","金额":1}
{"姓名":"李四","金额":2,"备注":"后来的键"}
{"姓名":"王五",
["not","an","object"]
"张三"
{"姓名":"赵六"} {"姓名":"钱七"}
{"姓名":"`+"\xd5\xc5\xc8\xfd"+`"}
{"姓名":"孙八","金额":3}
`)
	recs, inputs := conformance.ReadAll(t, build(t, p, map[string]any{"sample_lines": 1}), context.Background())
	want := []struct {
		row     int64
		problem string
		detail  string
	}{
		{1, "", ""},
		{2, "unknown_key", `"备注"`},
		{3, "bad_json", "unexpected EOF"},
		{4, "bad_json", "not a JSON object"},
		{5, "bad_json", "not a JSON object"},
		{6, "bad_json", "more than one JSON value"},
		{7, "bad_encoding", "UTF-8"},
		{8, "", ""},
	}
	if len(recs) != len(want) {
		t.Fatalf("got %d records: %+v", len(recs), recs)
	}
	for i, w := range want {
		r := recs[i]
		if r.Row != w.row || r.Problem != w.problem || !strings.Contains(r.Detail, w.detail) {
			t.Errorf("record %d: row %d problem %q detail %q, want row %d %q containing %q", i, r.Row, r.Problem, r.Detail, w.row, w.problem, w.detail)
		}
	}
	if got := recs[1].Values; !reflect.DeepEqual(got, []string{"李四", "2"}) {
		t.Errorf("unknown_key values %q", got)
	}
	if got := recs[3].Values; !reflect.DeepEqual(got, []string{`["not","an","object"]`}) {
		t.Errorf("bad_json values %q", got)
	}
	if inputs[0].Rows != 8 || inputs[0].Bytes == 0 || len(inputs[0].SHA256) != 64 {
		t.Errorf("inputs %+v", inputs)
	}
}

func TestFatalErrors(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	for i := 0; i < 2000; i++ {
		zw.Write([]byte(`{"姓名":"张三","身份证号":"410102198001010012","序号":` + strings.Repeat("7", i%9+1) + "}\n"))
	}
	zw.Close()
	broken := filepath.Join(dir, "broken.jsonl.gz")
	os.WriteFile(broken, b.Bytes()[:b.Len()*2/3], 0o644)
	notGzip := write(t, dir, "plain.jsonl.gz", "")
	os.WriteFile(notGzip, []byte(`{"a":1}`+"\n"), 0o644)
	empty := write(t, dir, "empty.jsonl", "\n\n")
	garbage := write(t, dir, "garbage.jsonl", "姓名,金额\n张三,1\n")

	cases := []struct {
		name, path string
		want       []string
	}{
		{"missing", filepath.Join(dir, "nope.jsonl"), []string{"source 残联", "nope.jsonl", "does not exist"}},
		{"broken gzip", broken, []string{"source 残联", "broken.jsonl.gz", "line", "unexpected EOF"}},
		{"not gzip", notGzip, []string{"source 残联", "plain.jsonl.gz", "gzip"}},
		{"empty", empty, []string{"source 残联", "empty.jsonl", "no JSON object"}},
		{"not json", garbage, []string{"source 残联", "garbage.jsonl", "no JSON object"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rd, err := build(t, c.path, nil).Open(context.Background())
			if err == nil {
				defer rd.Close()
				for err == nil {
					_, err = rd.Next()
				}
			}
			if err == nil || errors.Is(err, io.EOF) {
				t.Fatalf("err = %v, want an error", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLongLine(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("长", 100000) // 300 KB, longer than the read buffer
	p := write(t, dir, "long.jsonl", `{"备注":"`+long+`","序号":1}`+"\n"+`{"序号":2}`+"\n")
	recs, _ := conformance.ReadAll(t, build(t, p, nil), context.Background())
	if len(recs) != 2 || recs[0].Values[0] != long || recs[1].Row != 2 || recs[1].Values[1] != "2" {
		t.Errorf("got %d records", len(recs))
	}
}

func FuzzParseObject(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":"x","c":null,"d":[1,{"e":2}]}`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte(`{"a":`))
	f.Fuzz(func(t *testing.T, line []byte) {
		obj, err := parseObject(line)
		if err != nil {
			return
		}
		for _, kv := range obj {
			if !utf8Valid(kv.key) {
				t.Errorf("key %q", kv.key)
			}
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestEmptyGzipIsNotEOF(t *testing.T) {
	p := filepath.Join(t.TempDir(), "empty.jsonl.gz")
	os.WriteFile(p, nil, 0o644)
	rd, err := build(t, p, nil).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if _, err := rd.Next(); err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "empty.jsonl.gz") {
		t.Errorf("err = %v, want a fatal error that is not io.EOF", err)
	}
}
