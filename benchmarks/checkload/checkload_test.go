package checkload

import (
	"strings"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	// nearest rank: the ceil(p/100*n)-th smallest
	for _, c := range []struct {
		p    float64
		rank int
	}{{50, 100}, {95, 190}, {99, 198}, {100, 200}, {0.1, 1}} {
		if got := Percentile(d, c.p); got != d[c.rank-1] {
			t.Errorf("p%v of 1..200 ms = %v, want %v", c.p, got, d[c.rank-1])
		}
	}
	if Percentile(nil, 99) != 0 {
		t.Error("empty input")
	}
}

func TestReadApplicants(t *testing.T) {
	in := "id_number,name\n411024193505150012,王秀英\n41102419350515001X,,dibao,2024-06\n\n"
	got, err := ReadApplicants(strings.NewReader(in), "gaoling", "2024-05")
	if err != nil {
		t.Fatal(err)
	}
	want := []Applicant{{"411024193505150012", "王秀英", "gaoling", "2024-05"}, {"41102419350515001X", "申请人", "dibao", "2024-06"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, err := ReadApplicants(strings.NewReader("411024193505150012\n"), "", ""); err == nil {
		t.Error("a line without program and period must be refused")
	}
}
