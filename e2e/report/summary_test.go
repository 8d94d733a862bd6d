package report_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/text/width"
)

func cols(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}

// summaryTable returns the lines of the summary's table: from its header
// to the total row.
func summaryTable(t *testing.T, out, head, total string) []string {
	t.Helper()
	var rows []string
	in := false
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, head) {
			in = true
		}
		if in {
			rows = append(rows, l)
			if strings.HasPrefix(l, total) {
				return rows
			}
		}
	}
	t.Fatalf("no table from %q to %q in:\n%s", head, total, out)
	return nil
}

// Issue 16: the terminal summary printed category codes, its Chinese
// column broke the alignment, the total row had no amount and about 35
// INFO lines came first.
func TestRunSummary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sample three times")
	}
	jobFile := sample(t)
	dir := strings.TrimSuffix(jobFile, "/job.yaml")
	r := mustRun(t, dir, nil, "run", "--config", "job.yaml", "--out", "out")
	if strings.Contains(r.stderr, "level=INFO") {
		t.Errorf("INFO lines without -v:\n%s", r.stderr)
	}
	rows := summaryTable(t, r.stdout, "疑点类别", "合计")
	if len(rows) < 5 {
		t.Fatalf("table %q", rows)
	}
	for _, code := range []string{"deceased", "data_quality", "duplicate", "ineligible"} {
		if strings.Contains(r.stdout, code) {
			t.Errorf("category code %q in the summary", code)
		}
	}
	if !strings.Contains(r.stdout, "死亡后仍发放") {
		t.Errorf("no category name:\n%s", r.stdout)
	}
	// Every row ends its hits and amount columns at the same display column.
	amount := regexp.MustCompile(`\s(\d[\d,]*\.\d\d)$`)
	end := -1
	for _, l := range rows {
		if l == rows[0] {
			continue
		}
		if !amount.MatchString(l) {
			t.Errorf("row without amount: %q", l)
			continue
		}
		if end == -1 {
			end = cols(l)
		} else if cols(l) != end {
			t.Errorf("row %q ends at column %d, others at %d", l, cols(l), end)
		}
	}
	if cols(rows[0]) != end {
		t.Errorf("header %q ends at column %d, rows at %d", rows[0], cols(rows[0]), end)
	}
	total := rows[len(rows)-1]
	want, _ := expectedHits(t)
	if !regexp.MustCompile(fmt.Sprintf(`^合计\s+%d\s+[1-9][\d,]*\.\d\d$`, want)).MatchString(total) {
		t.Errorf("total row %q", total)
	}
	if !strings.Contains(r.stdout, "运行报告：") || !strings.Contains(r.stdout, "report.html") {
		t.Errorf("no report path:\n%s", r.stdout)
	}

	r = mustRun(t, dir, []string{"CROSSCHECK_LANG=en"}, "run", "--config", "job.yaml", "--out", "out", "-v")
	if !strings.Contains(r.stderr, "level=INFO") {
		t.Errorf("no INFO lines with -v:\n%s", r.stderr)
	}
	rows = summaryTable(t, r.stdout, "category", "total")
	if !strings.Contains(r.stdout, "Paid after death") || strings.Contains(r.stdout, "疑点类别") {
		t.Errorf("English summary:\n%s", r.stdout)
	}
	if !regexp.MustCompile(fmt.Sprintf(`^total\s+%d\s+[1-9][\d,]*\.\d\d$`, want)).MatchString(rows[len(rows)-1]) {
		t.Errorf("total row %q", rows[len(rows)-1])
	}
	// --lang wins over the environment; a wrong value is refused.
	r = mustRun(t, dir, []string{"CROSSCHECK_LANG=en"}, "run", "--config", "job.yaml", "--out", "out", "--lang", "zh")
	if !strings.Contains(r.stdout, "疑点类别") {
		t.Errorf("--lang zh:\n%s", r.stdout)
	}
	if r := run(t, dir, nil, "run", "--config", "job.yaml", "--out", "out", "--lang", "fr"); r.code == 0 || !strings.Contains(r.stderr, "--lang") {
		t.Errorf("--lang fr: exit %d %s", r.code, r.stderr)
	}
}
