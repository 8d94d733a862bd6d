package mapping

import (
	"errors"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/dataset"
)

// Issue 15: a header naming 姓名 twice was read with the first column
// winning; it is an error naming the file and both positions, whatever
// connector produced the header.
func TestDuplicateColumnIsAnError(t *testing.T) {
	role, _ := dataset.Lookup("payment")
	m, err := New(role, paymentSource(), &sink{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	h := &connectors.Header{Input: "pay.csv", Names: []string{"记录号", "项目", "期间", "身份证号", "姓名", "金额", "发放日期", "卡类型", "姓名"}}
	good := []string{"P1", "高龄津贴", "202405", "11010519491231002X", "张三", "200.00", "20240510", "社会保障卡", "李四"}
	err = m.Add(connectors.Record{Header: h, Row: 2, Values: good})
	if !errors.Is(err, connectors.ErrDuplicateColumn) {
		t.Fatalf("Add = %v, want ErrDuplicateColumn", err)
	}
	for _, w := range []string{"source pay", "pay.csv", "columns 5 and 9", `"姓名"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if m.Stats.RowsAccepted != 0 {
		t.Errorf("a row was accepted: %+v", m.Stats)
	}
	// Unnamed columns (a header's trailing empty cells) are not duplicates.
	h2 := &connectors.Header{Input: "pay.csv", Names: append(append([]string(nil), h.Names[:8]...), "", "")}
	if err := m.Add(connectors.Record{Header: h2, Row: 2, Values: append(good[:8:8], "", "")}); err != nil {
		t.Errorf("header with two unnamed columns: %v", err)
	}
}

// A connector's problem in one column is quarantined under that column.
func TestConnectorProblemColumn(t *testing.T) {
	role, _ := dataset.Lookup("payment")
	s := &sink{}
	m, err := New(role, paymentSource(), s, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	rec := connectors.Record{Header: header, Row: 11, Values: []string{"P1", `"张三`}, Problem: "bad_quoting", Column: "姓名",
		Detail: "column 姓名 (5): the quote opened on line 11 is never closed"}
	if err := m.Add(rec); err != nil {
		t.Fatal(err)
	}
	if len(s.rows) != 1 || s.rows[0].Column != "姓名" || s.rows[0].Reason != "bad_quoting" || s.rows[0].Row != 11 {
		t.Errorf("quarantined %+v", s.rows)
	}
}
