package jsonl

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/connectors/conformance"
)

// Issue 15: an object that writes 姓名 twice took the last value silently.
func TestDuplicateKey(t *testing.T) {
	p := write(t, t.TempDir(), "dup.jsonl", `{"序号":1,"姓名":"张三"}
{"序号":2,"姓名":"李四","姓名":"王五"}
{"序号":3,"姓名":"赵六"}
`)
	recs := conformance.CoversAll(t, build(t, p, nil), 3)
	r := recs[1]
	if r.Row != 2 || r.Problem != "duplicate_key" || r.Column != "姓名" || !strings.Contains(r.Detail, `key "姓名" is written twice in the object (keys 2 and 3)`) {
		t.Errorf("line 2: %+v", r)
	}
	if !reflect.DeepEqual(r.Values, []string{`{"序号":2,"姓名":"李四","姓名":"王五"}`}) {
		t.Errorf("line 2 values %q, want the line as written", r.Values)
	}
	if recs[0].Problem != "" || recs[2].Problem != "" || recs[2].Values[1] != "赵六" {
		t.Errorf("good lines: %+v %+v", recs[0], recs[2])
	}
}

// A file cut or corrupted in the middle: every line is read, the damaged
// ones as bad records; a gzip stream cut in the middle stops the source
// naming the file and the line.
func TestCutFileCoversEveryLine(t *testing.T) {
	var b bytes.Buffer
	for i := 1; i <= 3000; i++ {
		fmt.Fprintf(&b, `{"序号":%d,"姓名":"张%d","金额":"%d.00"}`+"\n", i, i, i)
	}
	data := b.Bytes()
	dir := t.TempDir()

	// Corrupt line 1000 (a byte of garbage in the middle of the object) and
	// cut the file in the middle of line 2000.
	cut := append([]byte(nil), data[:bytes.Index(data, []byte(`{"序号":2000,`))+len(`{"序号":2000,"姓`)]...)
	i := bytes.Index(cut, []byte(`{"序号":1000,`))
	cut[i+len(`{"序号":1000,`)] = 0x01
	recs := conformance.CoversAll(t, build(t, write(t, dir, "cut.jsonl", string(cut)), nil), 2000)
	var bad []int64
	for _, r := range recs {
		if r.Problem != "" {
			if r.Problem != "bad_json" {
				t.Errorf("line %d: %s %s", r.Row, r.Problem, r.Detail)
			}
			bad = append(bad, r.Row)
		}
	}
	if !reflect.DeepEqual(bad, []int64{1000, 2000}) {
		t.Errorf("bad lines %v, want [1000 2000]", bad)
	}

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	p := filepath.Join(dir, "cut.jsonl.gz")
	if err := os.WriteFile(p, gz.Bytes()[:gz.Len()/2], 0o644); err != nil {
		t.Fatal(err)
	}
	err, n := conformance.StopsNaming(t, build(t, p, nil), "source 残联", "cut.jsonl.gz", "line")
	if !strings.Contains(fmt.Sprint(err), fmt.Sprintf("line %d:", n+1)) {
		t.Errorf("error %v after %d records, want it to name line %d", err, n, n+1)
	}
}
