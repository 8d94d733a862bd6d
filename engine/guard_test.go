package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/crosscheck/crosscheck/connectors/all"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// guardJob writes a job with a 20-row payment roll of which bad rows have
// an amount that is not a number, and returns its path. engineKeys and
// sourceKeys are added to the engine map and the roll's source.
func guardJob(t *testing.T, bad int, engineKeys, sourceKeys string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("pid,prog,period,id,name,amount\n")
	for i := 0; i < 20; i++ {
		body := fmt.Sprintf("41108219540101%03d", i+1)
		amount := "100"
		if i < bad {
			amount = "一百"
		}
		fmt.Fprintf(&b, "P%02d,gaoling,2024-05,%s%c,张%d,%s\n", i, body, idnumber.CheckChar(body), i, amount)
	}
	if err := os.WriteFile(filepath.Join(dir, "pay.csv"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	jobYAML := fmt.Sprintf(`periods: ["2024-05"]
engine: {threads: 2%s}
programs: [{code: gaoling}]
sources:
  - name: pay
    role: payment
    connector: csv
    path: pay.csv
    columns: {payment_id: pid, program_code: prog, period: period, id_number: id, name: name, amount: amount}
%s`, engineKeys, sourceKeys)
	p := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(p, []byte(jobYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The guard stops a run only above the ratio in force: the engine's
// default 0.05, the engine key, or the source's own key.
func TestQuarantineGuardRatio(t *testing.T) {
	tests := []struct {
		name       string
		bad        int
		engineKeys string
		sourceKeys string
		stop       bool
	}{
		{"none quarantined", 0, "", "", false},
		{"at the default ratio (1 of 20 = 0.05)", 1, "", "", false},
		{"above the default ratio (2 of 20)", 2, "", "", true},
		{"engine ratio 0 stops on one row", 1, ", max_quarantine_ratio: 0", "", true},
		{"engine ratio raised", 2, ", max_quarantine_ratio: 0.1", "", false},
		{"source ratio overrides the engine's", 2, ", max_quarantine_ratio: 0.5", "    max_quarantine_ratio: 0.05\n", true},
		{"source accepts the loss", 20, "", "    max_quarantine_ratio: 1\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := job.Load(guardJob(t, tt.bad, tt.engineKeys, tt.sourceKeys))
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			res, err := engine.Run(context.Background(), j, engine.Options{OutDir: out})
			if !tt.stop {
				if err != nil {
					t.Fatalf("run stopped: %v", err)
				}
				if got := res.Sources[0].RowsQuarantined; got != int64(tt.bad) {
					t.Errorf("quarantined %d, want %d", got, tt.bad)
				}
				md, _ := os.ReadFile(filepath.Join(out, "quality.md"))
				if warned := strings.Contains(string(md), "⚠ 数据源 pay"); warned != (tt.bad > 0) {
					t.Errorf("quality.md warning present = %v with %d quarantined rows", warned, tt.bad)
				}
				return
			}
			if !errors.Is(err, engine.ErrQuarantineRatio) {
				t.Fatalf("err = %v, want ErrQuarantineRatio", err)
			}
			for _, want := range []string{"source pay", fmt.Sprintf("%d of 20 rows", tt.bad), "bad_number", `"一百"`, "quarantine/pay.csv"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			if _, err := os.Stat(filepath.Join(out, "hits.parquet")); err == nil {
				t.Error("hits written although the run stopped")
			}
		})
	}
}

// An example value from an ID column is masked in the guard's message.
func TestQuarantineGuardMasksIDs(t *testing.T) {
	p := guardJob(t, 0, "", "")
	b, _ := os.ReadFile(p)
	// Map the ID column as the amount too: every row fails bad_number on
	// a value that is an ID number.
	s := strings.Replace(string(b), "amount: amount}", "amount: id}", 1)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := job.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = engine.Run(context.Background(), j, engine.Options{OutDir: t.TempDir()})
	if !errors.Is(err, engine.ErrQuarantineRatio) {
		t.Fatalf("err = %v, want ErrQuarantineRatio", err)
	}
	if strings.Contains(err.Error(), "411082195401010") || !strings.Contains(err.Error(), "411082") {
		t.Errorf("the example ID is not masked (or missing):\n%v", err)
	}
}
