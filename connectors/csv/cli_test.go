package csv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildCLI builds the crosscheck binary into dir.
func buildCLI(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "crosscheck")
	cmd := exec.Command("go", "build", "-tags", "duckdb_arrow", "-o", bin, "../../cmd/crosscheck")
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// sampleWith copies the henan sample's job and data into a new folder with
// the 鄢陵县 roll replaced by roll, and returns the job file.
func sampleWith(t *testing.T, roll []byte) string {
	t.Helper()
	dir := t.TempDir()
	const sample = "../../examples/henan-sample"
	if err := os.CopyFS(dir, os.DirFS(sample)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", filepath.Base(yanlingRoll)), roll, 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "job.yaml")
}

// Issue 15 through the built binary: the sample run with an unclosed quote
// in line 11's name of the 148-row 鄢陵县 roll read only 10 rows of it
// (10 = 9 + 1), lost its hits and said "column 165". Now all 148 rows are
// read, line 11 alone is quarantined under 姓名, and the run gives the
// sample's expected hits. A header naming 姓名 twice stops the run.
func TestCLIQuotingAndDuplicateHeader(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildCLI(t, t.TempDir())

	t.Run("unclosed quote", func(t *testing.T) {
		cfg := sampleWith(t, unclosedQuoteRoll(t))
		out := filepath.Join(t.TempDir(), "out")
		if b, err := exec.Command(bin, "run", "--config", cfg, "--out", out).CombinedOutput(); err != nil {
			t.Fatalf("run: %v\n%s", err, b)
		}
		var q struct {
			Sources []struct {
				Source          string           `json:"source"`
				RowsRead        int64            `json:"rows_read"`
				RowsAccepted    int64            `json:"rows_accepted"`
				RowsQuarantined int64            `json:"rows_quarantined"`
				Quarantined     map[string]int64 `json:"quarantined_by_reason"`
			} `json:"sources"`
		}
		b, err := os.ReadFile(filepath.Join(out, "quality.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &q); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range q.Sources {
			if s.Source != "pay_yanling" {
				continue
			}
			found = true
			if n := int64(yanlingRows(t)); s.RowsRead != n || s.RowsAccepted != n-1 || s.RowsQuarantined != 1 || s.Quarantined["bad_quoting"] != 1 {
				t.Errorf("pay_yanling: read %d, accepted %d, quarantined %d %v; want %d = %d + 1 bad_quoting",
					s.RowsRead, s.RowsAccepted, s.RowsQuarantined, s.Quarantined, n, n-1)
			}
		}
		if !found {
			t.Fatalf("quality.json has no pay_yanling: %s", b)
		}
		rows := readCSVFile(t, filepath.Join(out, "quarantine", "pay_yanling.csv"))
		if len(rows) != 2 {
			t.Fatalf("quarantine: %q", rows)
		}
		r := rows[1] // file, row, column, reason, detail, original
		if r[1] != "11" || r[2] != "姓名" || r[3] != "bad_quoting" || !strings.Contains(r[4], "column 姓名 (6)") || !strings.Contains(r[4], "line 11") {
			t.Errorf("quarantine row %q, want line 11, column 姓名, bad_quoting, a detail naming 姓名 (6) and line 11", r)
		}
		// Every hit the sample expects on the 鄢陵县 roll is found (line 11,
		// YL2405-0008, is not one of them).
		want := map[string]bool{}
		for _, h := range readCSVFile(t, "../../examples/henan-sample/expected_hits.csv")[1:] {
			if strings.HasPrefix(h[3], "YL") {
				want[h[0]+" "+h[3]] = true
			}
		}
		hits := readCSVFile(t, filepath.Join(out, "hits.csv"))
		col := map[string]int{}
		for i, n := range hits[0] {
			col[n] = i
		}
		got := map[string]bool{}
		for _, h := range hits[1:] {
			if strings.HasPrefix(h[col["payment_id"]], "YL") {
				got[h[col["rule_id"]]+" "+h[col["payment_id"]]] = true
			}
		}
		if len(want) < 10 {
			t.Fatalf("expected_hits.csv has %d 鄢陵县 hits", len(want))
		}
		for k := range want {
			if !got[k] {
				t.Errorf("hit %s missing", k)
			}
		}
	})

	t.Run("duplicate header", func(t *testing.T) {
		data, err := os.ReadFile(yanlingRoll)
		if err != nil {
			t.Fatal(err)
		}
		// 序号 (column 1, not mapped) renamed 姓名: two columns called 姓名,
		// and the first one holds sequence numbers.
		data = []byte(strings.Replace(string(data), "序号,", "姓名,", 1))
		cfg := sampleWith(t, data)
		out := filepath.Join(t.TempDir(), "out")
		b, err := exec.Command(bin, "run", "--config", cfg, "--out", out).CombinedOutput()
		if err == nil {
			t.Fatalf("run with a duplicate header succeeded:\n%s", b)
		}
		for _, w := range []string{"pay_yanling", "鄢陵县一卡通发放名单202405.csv", "columns 1 and 6", "姓名"} {
			if !strings.Contains(string(b), w) {
				t.Errorf("output does not name %q:\n%s", w, b)
			}
		}
		if _, err := os.Stat(filepath.Join(out, "hits.csv")); err == nil {
			t.Errorf("hits.csv written by a run that failed")
		}
	})
}

func readCSVFile(t *testing.T, path string) [][]string {
	t.Helper()
	src := build(t, path, map[string]any{"encoding": "utf-8"})
	recs := readAll(t, src)
	hdrs, err := src.Headers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := [][]string{hdrs[0].Names}
	for _, r := range recs {
		if r.Problem != "" {
			t.Fatalf("%s line %d: %s %s", path, r.Row, r.Problem, r.Detail)
		}
		out = append(out, append([]string(nil), r.Values...))
	}
	return out
}
