package xlsx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/connectors/conformance"
)

// Issue 15: a header naming 姓名 twice is an error naming the file, the
// sheet and both cells.
func TestDuplicateHeader(t *testing.T) {
	dir := t.TempDir()
	p := book(t, dir, "低保名册.xlsx", func(f *excelize.File) {
		for i, v := range []string{"序号", "姓名", "身份证号", "姓名"} {
			cell, _ := excelize.CoordinatesToCellName(i+1, 1)
			set(t, f, "Sheet1", cell, v)
		}
		set(t, f, "Sheet1", "A2", 1)
		set(t, f, "Sheet1", "B2", "张三")
	})
	err, _ := conformance.StopsNaming(t, build(t, p, nil), "source 低保", "低保名册.xlsx", `sheet "Sheet1"`, "header row 1", "cells B and D", "columns 2 and 4", `"姓名"`)
	if !errors.Is(err, connectors.ErrDuplicateColumn) {
		t.Errorf("%v is not ErrDuplicateColumn", err)
	}
	// Unnamed columns between named ones are not duplicates.
	q := book(t, dir, "gaps.xlsx", func(f *excelize.File) {
		set(t, f, "Sheet1", "A1", "姓名")
		set(t, f, "Sheet1", "D1", "金额")
		set(t, f, "Sheet1", "A2", "张三")
	})
	if recs := readAll(t, build(t, q, nil)); len(recs) != 1 {
		t.Errorf("got %+v", recs)
	}
}

// A workbook cut or damaged in the middle of its sheet stops the source
// with an error naming the file, the sheet and the row reached; the rows
// before the damage are not passed off as the whole sheet.
func TestCutSheet(t *testing.T) {
	dir := t.TempDir()
	good := book(t, dir, "名册.xlsx", func(f *excelize.File) {
		set(t, f, "Sheet1", "A1", "序号")
		set(t, f, "Sheet1", "B1", "姓名")
		for r := 2; r <= 2001; r++ {
			set(t, f, "Sheet1", fmt.Sprintf("A%d", r), r-1)
			set(t, f, "Sheet1", fmt.Sprintf("B%d", r), fmt.Sprintf("张%d", r-1))
		}
	})
	conformance.CoversAll(t, build(t, good, nil), 2000)

	// The sheet XML ends in the middle of row 1000, as when the program
	// writing it died.
	cut := filepath.Join(dir, "cut.xlsx")
	rezip(t, good, cut, "xl/worksheets/sheet1.xml", func(b []byte) []byte {
		i := bytes.Index(b, []byte(`<row r="1000"`))
		if i < 0 {
			t.Fatal("no row 1000")
		}
		return b[:i+40]
	})
	err, n := conformance.StopsNaming(t, build(t, cut, nil), "source 低保", "cut.xlsx", `sheet "Sheet1"`, "after row 1000")
	if n >= 999 {
		t.Errorf("read %d records before the error %v", n, err)
	}

	// The workbook file itself cut in half: refused before any row.
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(dir, "half.xlsx")
	os.WriteFile(half, data[:len(data)/2], 0o644)
	conformance.StopsNaming(t, build(t, half, nil), "source 低保", "half.xlsx")
}
