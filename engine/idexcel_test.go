package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// A payment roll kept in Excel with the ID numbers typed as numbers: a
// valid ID ending in 000 survives Excel's 15 significant digits and comes
// back from the xlsx connector as 4.1108219450101E+17. The registry holds
// two of the three; those are valid, the third stays suspected damage.
func TestExcelNumberIDEnding000(t *testing.T) {
	var ids []string
	for d := 1; d <= 28 && len(ids) < 3; d++ {
		for s := 1; s <= 9 && len(ids) < 3; s++ {
			body := fmt.Sprintf("411082194501%02d%d00", d, s)
			if idnumber.CheckChar(body) == '0' {
				ids = append(ids, body+"0")
			}
		}
	}
	dir := t.TempDir()
	reg := "id,name\n" + ids[0] + ",甲\n" + ids[1] + ",乙\n"
	if err := os.WriteFile(filepath.Join(dir, "huji.csv"), []byte(reg), 0o644); err != nil {
		t.Fatal(err)
	}
	f := excelize.NewFile()
	rows := [][]any{{"pid", "prog", "period", "id", "name", "amount"}}
	for i, id := range ids {
		n, _ := strconv.ParseFloat(id, 64)
		rows = append(rows, []any{fmt.Sprintf("P%d", i+1), "gaoling", "2024-05", n, []string{"甲", "乙", "丙"}[i], 100})
	}
	for r, row := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, r+1)
		if err := f.SetSheetRow("Sheet1", cell, &row); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SaveAs(filepath.Join(dir, "pay.xlsx")); err != nil {
		t.Fatal(err)
	}
	jobYAML := `periods: ["2024-05"]
engine: {threads: 2}
programs: [{code: gaoling}]
sources:
  - {name: huji, role: person, connector: csv, path: huji.csv, columns: {id_number: id, name: name}}
  - name: pay
    role: payment
    connector: xlsx
    path: pay.xlsx
    columns: {payment_id: pid, program_code: prog, period: period, id_number: id, name: name, amount: amount}
`
	if err := os.WriteFile(filepath.Join(dir, "job.yaml"), []byte(jobYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := job.Load(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Prepare(context.Background(), j, engine.Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got := map[string][3]string{}
	rs, err := p.Session.DB.Query(`SELECT payment_id, id_number_raw, id_number_status, coalesce(person_key, '') FROM payment`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var pid, raw, st, key string
		if err := rs.Scan(&pid, &raw, &st, &key); err != nil {
			t.Fatal(err)
		}
		got[pid] = [3]string{raw, st, key}
	}
	rs.Close()
	for i, id := range ids {
		pid := fmt.Sprintf("P%d", i+1)
		g := got[pid]
		if g[0] == id {
			t.Fatalf("%s: the connector gave the ID in full (%s); the test needs Excel's rendering", pid, g[0])
		}
		want := [3]string{g[0], "valid", id}
		if i == 2 {
			want = [3]string{g[0], "excel_damaged", ""}
		}
		if g != want {
			t.Errorf("%s (%s): raw %q status %q person_key %q, want status %q person_key %q", pid, id, g[0], g[1], g[2], want[1], want[2])
		}
	}
	st := p.Result.Sources[1].IDStatus["id_number"]
	if st["valid"] != 2 || st["excel_damaged"] != 1 {
		t.Errorf("ID status counts %v, want valid 2 and excel_damaged 1", st)
	}
}
