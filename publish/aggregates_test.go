package publish

import (
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/schema"
)

// readAggregates takes aggregates.csv with the run's header
// (schema.AggregateColumns, the one list) and reads each value by its
// column's name; another header is refused.
func TestReadAggregatesByColumn(t *testing.T) {
	want := Row{County: "411082", Program: "gaoling", ProgramName: "高龄津贴", Period: "2024-05", Persons: 20, Payments: 21,
		Amount: 2000.5, CasePersons: 6, Cases: 7, AmountAtRisk: 600.25}
	vals := map[string]string{"county_code": want.County, "program_code": want.Program, "program_name": want.ProgramName,
		"period": want.Period, "persons": "20", "payments": "21", "amount": "2000.5", "case_persons": "6", "cases": "7",
		"amount_at_risk": "600.25"}
	rec := make([]string, len(schema.AggregateColumns))
	for i, c := range schema.AggregateColumns {
		v, ok := vals[c]
		if !ok {
			t.Fatalf("schema.AggregateColumns has %s, which this test does not know", c)
		}
		rec[i] = v
	}
	csv := "\uFEFF" + strings.Join(schema.AggregateColumns, ",") + "\n" + strings.Join(rec, ",") + "\n"
	rows, err := readAggregates(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0] != want {
		t.Errorf("got %+v, want %+v", rows, want)
	}
	bad := strings.Join(schema.AggregateColumns[1:], ",") + ",county_code\n" + strings.Join(rec, ",") + "\n"
	if _, err := readAggregates(strings.NewReader(bad)); err == nil {
		t.Error("a header in another order was accepted")
	}
}
