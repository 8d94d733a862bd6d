package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// The henan-sample job with 鄢陵县's payment roll kept in Excel instead of
// CSV, as a county sends it: text cells in the shared string table, the
// amounts and village codes as numbers, the payment dates as date cells.
// The binary gives exactly the hits of expected_hits.csv, and every hit
// says the same (amount, region, ID, name, explanation, sheet row) as the
// hit of the CSV run; only the file and the evidence's original text differ.
func TestHenanSampleXLSXRoll(t *testing.T) {
	src := filepath.Join("..", "..", "examples", "henan-sample")
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	const roll = "鄢陵县一卡通发放名单202405"
	b, err := os.ReadFile(filepath.Join(dir, "data", roll+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	f := excelize.NewFile()
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	numbers := 0
	for r, row := range rows {
		for c, v := range row {
			cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
			var val any = v
			if r > 0 {
				switch c {
				case col["金额（元）"], col["村（社区）代码"], col["序号"]:
					if x, err := strconv.ParseFloat(v, 64); err == nil {
						val = x
						numbers++
					}
				case col["发放时间"]:
					if d, err := time.Parse("2006/1/2", v); err == nil {
						val = d
						numbers++
					}
				}
			}
			if err := f.SetCellValue("Sheet1", cell, val); err != nil {
				t.Fatal(err)
			}
			if _, ok := val.(time.Time); ok {
				f.SetCellStyle("Sheet1", cell, cell, dateStyle)
			}
		}
	}
	if numbers < 4*(len(rows)-1) {
		t.Fatalf("only %d numeric cells in %d rows", numbers, len(rows)-1)
	}
	if err := f.SaveAs(filepath.Join(dir, "data", roll+".xlsx")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.Remove(filepath.Join(dir, "data", roll+".csv"))

	job, err := os.ReadFile(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	old := "connector: csv\n    path: data/" + roll + ".csv\n    options: {encoding: utf-8}\n"
	if !strings.Contains(string(job), old) {
		t.Fatalf("job.yaml has no %q", old)
	}
	job = []byte(strings.Replace(string(job), old, "connector: xlsx\n    path: data/"+roll+".xlsx\n", 1))
	if err := os.WriteFile(filepath.Join(dir, "job.yaml"), job, 0o644); err != nil {
		t.Fatal(err)
	}

	out, csvOut := t.TempDir(), t.TempDir()
	runBin(t, "run", "--config", filepath.Join(dir, "job.yaml"), "--out", out, "-q")
	runBin(t, "run", "--config", "examples/henan-sample/job.yaml", "--out", csvOut, "-q")
	want, _ := readHitKeys(t, filepath.Join(src, "expected_hits.csv"), false)
	got, rows := readHitKeys(t, filepath.Join(out, "hits.csv"), true)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("hits.csv differs from expected_hits.csv:\ngot\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	_, csvRows := readHitKeys(t, filepath.Join(csvOut, "hits.csv"), true)
	said := func(rows [][]string) map[string]string {
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		m := map[string]string{}
		for _, r := range rows[1:] {
			var parts []string
			for _, c := range []string{"amount", "region_code", "id_number", "name", "period", "explanation", "payment_source", "payment_row"} {
				parts = append(parts, c+"="+r[col[c]])
			}
			m[r[col["rule_id"]]+","+r[col["payment_id"]]] = strings.Join(parts, " | ")
		}
		return m
	}
	x, c := said(rows), said(csvRows)
	yl := 0
	for k, v := range c {
		if x[k] != v {
			t.Errorf("hit %s:\nxlsx %s\n csv %s", k, x[k], v)
		}
		if strings.Contains(v, "payment_source=pay_yanling") {
			yl++
		}
	}
	if yl == 0 {
		t.Error("no hit on the Excel roll's payments")
	}
}
