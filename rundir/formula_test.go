package rundir_test

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// injected are roll names that Excel would evaluate as formulas, by
// payment id of rows that give hits in the sample.
var injected = map[string]string{
	"CG2405-0801": `=HYPERLINK("http://x","y")`,
	"CG2405-0802": `+1+2`,
	"CG2405-0831": `-2+3`,
	"CG2405-0832": `@SUM(A1)`,
}

// injectNames rewrites the 长葛 roll (GBK) of a sample copy with the
// injected names, and a negative amount on CG2405-0831.
func injectNames(t *testing.T, jobFile string) {
	t.Helper()
	p := filepath.Join(filepath.Dir(jobFile), "data", "长葛市一卡通发放名单202405.csv")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	text, err := simplifiedchinese.GBK.NewDecoder().Bytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(text)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if name, ok := injected[r[0]]; ok {
			r[4], r[6] = name, name // 姓名, 账户名称
			n++
		}
		if r[0] == "CG2405-0831" {
			r[9] = "-100.00" // 发放金额
		}
	}
	if n != len(injected) {
		t.Fatalf("found %d of the %d payments to change", n, len(injected))
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.WriteAll(rows)
	out, err := simplifiedchinese.GBK.NewEncoder().Bytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readCSV reads a CSV crosscheck wrote (UTF-8 with BOM) as maps by header.
func readCSV(t *testing.T, p string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\uFEFF")) {
		t.Errorf("%s has no BOM", p)
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// TestCSVFormulaInjection: names that start with = + - @ are written to
// hits.csv and cases.csv with a leading ' (OWASP), negative amounts stay
// numbers, no cell of either file starts with a formula character unless
// it is a plain number, and --raw-cells writes the names verbatim.
func TestCSVFormulaInjection(t *testing.T) {
	t.Parallel()
	jobFile := sample(t)
	injectNames(t, jobFile)
	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, "run", "--config", jobFile, "--out", out, "-q")
	hits := readCSV(t, filepath.Join(out, "hits.csv"))
	found := map[string]bool{}
	for _, h := range hits {
		if name, ok := injected[h["payment_id"]]; ok {
			found[h["payment_id"]] = true
			if h["name"] != "'"+name {
				t.Errorf("hits.csv %s: name %q, want %q", h["payment_id"], h["name"], "'"+name)
			}
		}
		if h["payment_id"] == "CG2405-0831" && h["amount"] != "-100.00" {
			t.Errorf("hits.csv CG2405-0831: amount %q, want the number -100.00", h["amount"])
		}
	}
	if len(found) != len(injected) {
		t.Fatalf("hits.csv has hits for %d of the %d changed payments: %v", len(found), len(injected), found)
	}
	cases := readCSV(t, filepath.Join(out, "cases.csv"))
	for _, f := range []struct {
		name string
		rows []map[string]string
	}{{"hits.csv", hits}, {"cases.csv", cases}} {
		for _, r := range f.rows {
			for col, v := range r {
				if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) && !isNumber(v) {
					t.Errorf("%s: column %s starts a formula: %q", f.name, col, v)
				}
			}
		}
	}
	names := map[string]bool{}
	for _, c := range cases {
		names[c["name"]] = true
	}
	for _, name := range injected {
		if !names["'"+name] {
			t.Errorf("cases.csv has no case named %q", "'"+name)
		}
	}

	raw := filepath.Join(t.TempDir(), "raw")
	mustRun(t, "run", "--config", jobFile, "--out", raw, "--raw-cells", "-q")
	for _, h := range readCSV(t, filepath.Join(raw, "hits.csv")) {
		if name, ok := injected[h["payment_id"]]; ok && h["name"] != name {
			t.Errorf("--raw-cells hits.csv %s: name %q, want %q", h["payment_id"], h["name"], name)
		}
	}
}

func isNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	dot := false
	for _, r := range s {
		switch {
		case r == '.' && !dot:
			dot = true
		case r < '0' || r > '9':
			return false
		}
	}
	return true
}
