package holidays_test

import (
	"testing"

	"github.com/crosscheck/crosscheck/holidays"
)

func TestChinaEmbedded(t *testing.T) {
	c := holidays.China()
	if got := c.Years(); len(got) != 3 || got[0] != 2024 || got[2] != 2026 {
		t.Fatalf("years %v", got)
	}
	for _, tc := range []struct {
		date string
		kind holidays.Kind
		name string
	}{
		{"2024-02-04", holidays.Workday, "春节调休上班"}, // a Sunday worked
		{"2025-09-28", holidays.Workday, "国庆节、中秋节调休上班"},
		{"2026-02-14", holidays.Workday, "春节调休上班"}, // a Saturday worked
		{"2024-10-01", holidays.Holiday, "国庆节"},
		{"2025-01-28", holidays.Holiday, "春节"}, // 除夕, a holiday since 2025
	} {
		d, ok := c.Lookup(tc.date)
		if !ok || d.Kind != tc.kind || d.Name != tc.name || d.Source == "" {
			t.Errorf("%s: %+v %v", tc.date, d, ok)
		}
	}
	if _, ok := c.Lookup("2024-06-12"); ok {
		t.Errorf("an ordinary Wednesday is listed")
	}
	if !c.Covers(2025) || c.Covers(2027) {
		t.Errorf("covers")
	}
	if n := len(c.Days(holidays.Workday)); n != 19 {
		t.Errorf("%d make-up workdays, the notices have 19", n)
	}
}

func TestParseRejects(t *testing.T) {
	for name, text := range map[string]string{
		"header":          "d,k\n",
		"bad date":        "date,kind,name,source\n2024-02-30,holiday,x,y\n",
		"bad kind":        "date,kind,name,source\n2024-02-10,off,x,y\n",
		"weekday workday": "date,kind,name,source\n2024-02-05,workday,x,y\n",
		"twice":           "date,kind,name,source\n2024-02-10,holiday,x,y\n2024-02-10,holiday,x,y\n",
	} {
		if _, err := holidays.Parse(text); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
