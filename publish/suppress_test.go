package publish

import "testing"

func line(key string, persons ...int64) Line {
	l := Line{Key: key, Label: key}
	for i := 0; i < 6; i++ {
		p := persons[0]
		if i >= 3 {
			p = persons[1]
		}
		l.Cells = append(l.Cells, Cell{Value: float64(p), Persons: p})
	}
	return l
}

func hidden(t Table, col int) []string {
	var out []string
	for _, l := range t.Lines {
		if l.Cells[col].Suppressed {
			out = append(out, l.Key)
		}
	}
	if t.Total.Cells[col].Suppressed {
		out = append(out, "total")
	}
	return out
}

func TestSuppress(t *testing.T) {
	for _, tc := range []struct {
		name          string
		lines         []Line
		total         Line
		paid, flagged []string
	}{
		{"nothing small", []Line{line("a", 10, 5), line("b", 20, 0)}, line("total", 30, 5), nil, nil},
		// One small cell: the smallest other non-zero cell goes too, never a zero one.
		{"one small", []Line{line("a", 3, 2), line("b", 20, 0), line("c", 9, 7), line("d", 40, 9)}, line("total", 72, 18),
			[]string{"a", "c"}, []string{"a", "c"}},
		// Two small cells that together rest on fewer than 5 persons: a third.
		{"small pair", []Line{line("a", 1, 5), line("b", 2, 5), line("c", 50, 5), line("d", 6, 5)}, line("total", 59, 20),
			[]string{"a", "b", "d"}, nil},
		// Two small cells resting on 5 or more together: enough.
		{"pair of five", []Line{line("a", 1, 5), line("b", 4, 5), line("c", 50, 5)}, line("total", 55, 15), []string{"a", "b"}, nil},
		// A single line: the total would show it, so the total goes.
		{"single line", []Line{line("a", 3, 0)}, line("total", 3, 0), []string{"a", "total"}, nil},
		// Zero everywhere else: the total is suppressed instead.
		{"zeros", []Line{line("a", 2, 0), line("b", 0, 0)}, line("total", 2, 0), []string{"a", "total"}, nil},
	} {
		tab := Table{Measures: Measures, Lines: tc.lines, Total: tc.total}
		Suppress(&tab, 5)
		for col := 0; col < 6; col++ {
			want := tc.paid
			if col >= 3 {
				want = tc.flagged
			}
			if got := hidden(tab, col); !equal(got, want) {
				t.Errorf("%s: column %d hides %v, want %v", tc.name, col, got, want)
			}
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
