package engine_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	_ "github.com/crosscheck/crosscheck/connectors/all"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
)

// henanDir is the hand-checked example: data written by
// examples/henan-sample/gen, expected_hits.csv and expected_quarantine.csv
// written by the generator from what it injected (README.md lists the cases).
const henanDir = "../examples/henan-sample"

// TestHenanSample runs the example end to end and checks the hits, the
// quality counts, the quarantine, the masking of ID numbers and that two
// runs give the same files.
// henanSensitive are the sample's columns holding ID numbers and accounts.
var henanSensitive = map[string]bool{"公民身份号码": true, "身份证号码": true, "社会保障号码": true, "证件号码": true,
	"银行账号": true, "账号": true}

func TestHenanSample(t *testing.T) {
	outs := []string{t.TempDir(), t.TempDir()}
	for _, out := range outs {
		j, err := job.Load(filepath.Join(henanDir, "job.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := engine.Run(context.Background(), j, engine.Options{OutDir: out}); err != nil {
			t.Fatal(err)
		}
	}
	out := outs[0]

	t.Run("hits", func(t *testing.T) {
		key := []string{"rule_id", "category", "severity", "payment_id", "program_code", "period"}
		want := henanRows(t, henanReadCSV(t, filepath.Join(henanDir, "expected_hits.csv"), false), key)
		got := henanRows(t, henanReadCSV(t, filepath.Join(out, "hits.csv"), true), key)
		rules := map[string]bool{}
		for r := range want {
			rules[strings.Split(r, ",")[0]] = true
		}
		if len(rules) != 18 {
			t.Errorf("expected_hits.csv covers %d rules, want all 18", len(rules))
		}
		henanCompare(t, "hits.csv", want, got)
	})

	t.Run("quality", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(out, "quality.json"))
		if err != nil {
			t.Fatal(err)
		}
		var q engine.Quality
		if err := json.Unmarshal(b, &q); err != nil {
			t.Fatal(err)
		}
		if len(q.Sources) != 9 {
			t.Errorf("quality.json has %d sources, want 9", len(q.Sources))
		}
		for _, s := range q.Sources {
			if s.RowsRead == 0 || s.RowsRead != s.RowsAccepted+s.RowsQuarantined {
				t.Errorf("source %s: rows_read %d != rows_accepted %d + rows_quarantined %d",
					s.Source, s.RowsRead, s.RowsAccepted, s.RowsQuarantined)
			}
		}
	})

	t.Run("quarantine", func(t *testing.T) {
		key := []string{"source", "file", "row", "column", "reason"}
		want := henanRows(t, henanReadCSV(t, filepath.Join(henanDir, "expected_quarantine.csv"), false), key)
		files, err := filepath.Glob(filepath.Join(out, "quarantine", "*.csv"))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, f := range files {
			rows := henanReadCSV(t, f, true)
			src := strings.TrimSuffix(filepath.Base(f), ".csv")
			for i := range rows {
				if i > 0 {
					rows[i] = append([]string{src}, rows[i]...)
				}
			}
			rows[0] = append([]string{"source"}, rows[0]...)
			for r := range henanRows(t, rows, key) {
				got[r] = true
			}
		}
		henanCompare(t, "quarantine/*.csv", want, got)
	})

	t.Run("masking", func(t *testing.T) {
		rows := henanReadCSV(t, filepath.Join(out, "hits.csv"), true)
		col := henanIndex(t, rows[0], "id_number", "id_status", "evidence", "explanation")
		masked := regexp.MustCompile(`^\d{6}\*{8}[0-9X]{4}$`)
		long := regexp.MustCompile(`[0-9]{12,}`)
		for _, r := range rows[1:] {
			id, status := r[col[0]], r[col[1]]
			switch status {
			case "valid", "upgraded", "repaired":
				if !masked.MatchString(id) {
					t.Errorf("hits.csv: id_number %q (status %s) is not masked", id, status)
				}
			default:
				if id != "" && !strings.Contains(id, "*") {
					t.Errorf("hits.csv: id_number %q (status %s) is not masked", id, status)
				}
			}
			if m := long.FindString(r[col[3]]); m != "" {
				t.Errorf("hits.csv: explanation holds an unmasked digit run %s", m)
			}
			// Every ID number and account in the evidence is masked,
			// whatever its format (spaces, full-width digits, 15 digits).
			var ev []struct {
				Source string            `json:"source"`
				Values map[string]string `json:"values"`
			}
			if err := json.Unmarshal([]byte(r[col[2]]), &ev); err != nil {
				t.Fatalf("hits.csv: evidence is not JSON: %v", err)
			}
			for _, e := range ev {
				for k, v := range e.Values {
					if henanSensitive[k] && v != "" && !strings.Contains(v, "*") {
						t.Errorf("hits.csv: evidence %s.%s = %q is not masked", e.Source, k, v)
					}
				}
			}
		}
		cases := henanReadCSV(t, filepath.Join(out, "cases.csv"), true)
		ci := henanIndex(t, cases[0], "id_number")[0]
		for _, r := range cases[1:] {
			if r[ci] != "" && !strings.Contains(r[ci], "*") {
				t.Errorf("cases.csv: id_number %q is not masked", r[ci])
			}
		}
	})

	t.Run("determinism", func(t *testing.T) {
		for _, name := range []string{"hits.csv", "cases.csv"} {
			a, err := os.ReadFile(filepath.Join(outs[0], name))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(outs[1], name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("%s differs between two runs of the same job", name)
			}
		}
	})
}

// henanReadCSV reads a CSV file; bom says it must start with a UTF-8 BOM.
func henanReadCSV(t *testing.T, path string, bom bool) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bom {
		if !bytes.HasPrefix(b, []byte("\uFEFF")) {
			t.Errorf("%s does not start with a UTF-8 BOM", path)
		}
		b = bytes.TrimPrefix(b, []byte("\uFEFF"))
	}
	r := csv.NewReader(bytes.NewReader(b))
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no header", path)
	}
	return rows
}

func henanIndex(t *testing.T, header []string, names ...string) []int {
	t.Helper()
	out := make([]int, len(names))
	for i, n := range names {
		out[i] = -1
		for j, h := range header {
			if h == n {
				out[i] = j
			}
		}
		if out[i] < 0 {
			t.Fatalf("column %s missing from header %v", n, header)
		}
	}
	return out
}

// henanRows projects rows (header first) on the key columns, each row as
// one comma-joined string.
func henanRows(t *testing.T, rows [][]string, key []string) map[string]bool {
	t.Helper()
	idx := henanIndex(t, rows[0], key...)
	out := map[string]bool{}
	for _, r := range rows[1:] {
		vals := make([]string, len(idx))
		for i, j := range idx {
			vals[i] = r[j]
		}
		k := strings.Join(vals, ",")
		if out[k] {
			t.Errorf("row %s appears twice", k)
		}
		out[k] = true
	}
	return out
}

func henanCompare(t *testing.T, what string, want, got map[string]bool) {
	t.Helper()
	var missing, unexpected []string
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if !want[k] {
			unexpected = append(unexpected, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(unexpected)
	if len(missing) > 0 {
		t.Errorf("%s: %d expected rows missing:\n%s", what, len(missing), strings.Join(missing, "\n"))
	}
	if len(unexpected) > 0 {
		t.Errorf("%s: %d unexpected rows:\n%s", what, len(unexpected), strings.Join(unexpected, "\n"))
	}
}
