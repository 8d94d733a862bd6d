package configdoc

import (
	"flag"
	"os"
	"testing"

	"github.com/crosscheck/crosscheck/connectors"
	_ "github.com/crosscheck/crosscheck/connectors/all"
)

var update = flag.Bool("update", false, "rewrite docs/config.md")

// docs/config.md must be what the code generates.
func TestConfigDocUpToDate(t *testing.T) {
	const path = "../docs/config.md"
	got := Markdown(connectors.Default)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./configdoc -update)", err)
	}
	if string(want) != got {
		t.Errorf("docs/config.md is out of date; run: go test ./configdoc -update")
	}
}
