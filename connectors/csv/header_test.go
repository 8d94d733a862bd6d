package csv

import (
	"errors"
	"testing"

	"github.com/crosscheck/crosscheck/connectors"
)

// Issue 15: a header naming 姓名 twice stops the source at Headers and at
// Open, naming the file, the line and both columns.
func TestDuplicateHeader(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "roll.csv", []byte("序号,姓名,身份证号,姓名\n1,张三,410102198001010012,李四\n"))
	herr, err := openErr(build(t, p, nil))
	for _, e := range []error{herr, err} {
		contains(t, e, "source 户籍", "roll.csv", "header line 1", "columns 2 and 4", `"姓名"`)
		if !errors.Is(e, connectors.ErrDuplicateColumn) {
			t.Errorf("%v is not ErrDuplicateColumn", e)
		}
	}
	// Unnamed trailing columns, as spreadsheets export them, are fine.
	p2 := write(t, dir, "trailing.csv", []byte("序号,姓名,,\n1,张三,,\n"))
	if recs := readAll(t, build(t, p2, nil)); len(recs) != 1 || recs[0].Problem != "" {
		t.Errorf("got %+v", recs)
	}
}
