package schema_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/schema"
)

// docColumns returns the columns the table of section "## name" of a
// Markdown file lists, in order: the backquoted names of each row's
// first cell.
func docColumns(t *testing.T, md, name string) []string {
	t.Helper()
	_, sec, ok := strings.Cut(md, "\n## "+name+"\n")
	if !ok {
		t.Fatalf("no section ## %s", name)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	code := regexp.MustCompile("`([a-z_]+)`")
	var out []string
	for _, line := range strings.Split(sec, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(line, "| `") {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// docs/outputs.md documents the columns of hits and cases as a run writes
// them, in order.
func TestOutputsDocumentsColumns(t *testing.T) {
	b, err := os.ReadFile("../docs/outputs.md")
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	if got := docColumns(t, md, "hits"); !slices.Equal(got, schema.HitColumns) {
		t.Errorf("docs/outputs.md, hits:\n doc  %v\n code %v", got, schema.HitColumns)
	}
	if got := docColumns(t, md, "cases"); !slices.Equal(got, schema.CaseColumns) {
		t.Errorf("docs/outputs.md, cases:\n doc  %v\n code %v", got, schema.CaseColumns)
	}
}
