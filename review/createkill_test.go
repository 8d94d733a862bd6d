package review_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/casestore/casetest"
)

// TestKillTheMomentTheStoreFileAppears: each command that creates a new
// case store (cases import, cases info, serve) is killed with SIGKILL the
// moment a file of the store appears beside it (the store itself or its
// temporary creation file); the next command must open the store, and no
// creation file may be left behind once it has. A store that DuckDB was
// killed in the middle of creating once stayed unreadable for good
// ("exists, but it is not a valid DuckDB database file").
func TestKillTheMomentTheStoreFileAppears(t *testing.T) {
	rounds := 6
	if testing.Short() {
		rounds = 2
	}
	dir := t.TempDir()
	users := writeUsersFile(t, dir)
	hits := filepath.Join(dir, "hits.parquet")
	if err := casetest.Synthetic(context.Background(), hits, crashRun, "2024-05", 5); err != nil {
		t.Fatal(err)
	}
	crosscheckBin(t)
	for _, creator := range []string{"import", "info", "serve"} {
		for r := 0; r < rounds; r++ {
			sub := filepath.Join(dir, creator+"-"+string(rune('a'+r)))
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			store := filepath.Join(sub, "cases.duckdb")
			var p *proc
			switch creator {
			case "import":
				p = spawn(t, "cases", "import", "--hits", hits, "--periods", "2024-05", "--store", store, "-q")
			case "info":
				p = spawn(t, "cases", "info", "--store", store)
			case "serve":
				p = spawnServe(t, store, users)
			}
			seen := waitForFile(p, sub, 60*time.Second)
			p.kill()
			if seen == "" {
				t.Fatalf("%s round %d: no store file appeared (exit %v): %s", creator, r, p.err, p.stderr.String())
			}
			t.Logf("%s round %d: killed when %s appeared", creator, r, seen)
			code, out, errs := run(t, "cases", "info", "--store", store)
			if code != 0 || !strings.Contains(out, "schema_version") {
				t.Fatalf("%s killed when %s appeared (round %d): next cases info exits %d\n%s\n%s",
					creator, seen, r, code, out, errs)
			}
			left, _ := filepath.Glob(filepath.Join(sub, "*.creating-*"))
			if len(left) > 0 {
				t.Errorf("%s round %d: creation files left after the next open: %v", creator, r, left)
			}
		}
	}
}

// waitForFile polls dir as fast as it can until a file appears in it or
// the process ends; it returns the file's name ("" if none appeared).
func waitForFile(p *proc, dir string, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		f, err := os.Open(dir)
		if err == nil {
			names, _ := f.Readdirnames(-1)
			f.Close()
			if len(names) > 0 {
				return names[0]
			}
		}
		select {
		case <-p.done:
			return ""
		default:
		}
	}
	return ""
}
