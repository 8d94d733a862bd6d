package textwidth

import "testing"

func TestOf(t *testing.T) {
	for _, c := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"total", 5},
		{"合计", 4},
		{"金额（元）", 10},       // full-width brackets
		{"ＡＢ12", 6},         // full-width letters, ASCII digits
		{"死亡后仍发放 high", 17}, // mixed
		{"·", 1},            // ambiguous width counts one
	} {
		if got := Of(c.s); got != c.want {
			t.Errorf("Of(%q) = %d, want %d", c.s, got, c.want)
		}
	}
}
