package publish

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWritePack(t *testing.T) {
	r := &Run{RunID: "r1", Periods: []string{"2024-05"}, Programs: []Program{{Code: "gaoling", Name: "高龄津贴", Department: "民政局", Frequency: "monthly"}},
		Rows: []Row{{County: "411082", Program: "gaoling", Period: "2024-05", Persons: 20, Payments: 20, Amount: 2000, CasePersons: 6, Cases: 6, AmountAtRisk: 600},
			{County: "411024", Program: "gaoling", Period: "2024-05", Persons: 3, Payments: 3, Amount: 300}}}
	p := Build(r, nil, "公开", 5)
	dir := t.TempDir()
	if err := Write(dir, p); err != nil {
		t.Fatal(err)
	}
	for _, f := range Files {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "results_by_county.csv"))
	// 鄢陵县 rests on 3 persons: hidden, and 长葛市 with it (else total − 长葛市 = 鄢陵县).
	if !strings.Contains(string(b), "鄢陵县,*,*,*,0,0,0.00") || !strings.Contains(string(b), "长葛市,*,*,*,6,6,600.00") {
		t.Errorf("county table:\n%s", b)
	}
	h, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	if !strings.Contains(string(h), "<td>高龄津贴</td><td>民政局</td><td>按月</td>") {
		t.Errorf("policy list in index.html:\n%s", h)
	}
}
