package report_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/crosscheck/crosscheck/casestore"
)

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(b), "\uFEFF"))).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

// TestPublish runs the sample and publishes it through the binary, then
// checks the pack as a reader of the public column would get it: every
// file there, no personal data, and no published number that can be
// traced to fewer than 5 persons, directly or by subtracting the published
// lines from the total.
func TestPublish(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sample")
	}
	jobFile := sample(t)
	dir := filepath.Dir(jobFile)
	mustRun(t, dir, nil, "run", "--config", "job.yaml", "--out", "run", "--raw-ids")
	r := mustRun(t, dir, nil, "publish", "--config", "job.yaml", "--run", "run", "--out", "pub")
	if !strings.Contains(r.stdout, "公开资料已写入") {
		t.Errorf("stdout: %s", r.stdout)
	}
	pub := filepath.Join(dir, "pub")

	// Personal data of the run (raw hits): none of it in any file.
	hits := readCSV(t, filepath.Join(dir, "run", "hits.csv"))
	col := map[string]int{}
	for i, h := range hits[0] {
		col[h] = i
	}
	var personal []string
	for _, h := range hits[1:] {
		personal = append(personal, h[col["id_number"]], h[col["name"]])
	}
	longDigits := regexp.MustCompile(`\d{15,}`)
	for _, f := range []string{"index.html", "policy_list.csv", "rules.csv", "results_by_county.csv", "results_by_program.csv", "results_by_month.csv"} {
		b, err := os.ReadFile(filepath.Join(pub, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range personal {
			if p != "" && strings.Contains(string(b), p) {
				t.Errorf("%s contains personal data %q", f, p)
			}
		}
		if m := longDigits.FindString(string(b)); m != "" {
			t.Errorf("%s contains a long digit run %q", f, m)
		}
	}

	// The lower bound of distinct persons per published line, recomputed
	// here from the run's aggregates (largest count of one county ×
	// program × month row), and the values themselves.
	agg := readCSV(t, filepath.Join(dir, "run", "aggregates.csv"))
	type bound struct{ paid, flagged int64 }
	bounds := map[string]map[string]*bound{"county": {}, "program": {}, "month": {}}
	progName := map[string]string{}
	for _, a := range agg[1:] {
		persons, _ := strconv.ParseInt(a[4], 10, 64)
		casePersons, _ := strconv.ParseInt(a[7], 10, 64)
		progName[a[1]] = a[2]
		county := map[string]string{"411082": "长葛市", "411024": "鄢陵县"}[a[0]]
		if county == "" {
			t.Fatalf("unexpected county %q", a[0])
		}
		for dim, key := range map[string]string{"county": county, "program": a[2], "month": a[3]} {
			b := bounds[dim][key]
			if b == nil {
				b = &bound{}
				bounds[dim][key] = b
			}
			b.paid, b.flagged = max(b.paid, persons), max(b.flagged, casePersons)
		}
	}
	suppressedSeen := 0
	for _, dim := range []string{"county", "program", "month"} {
		rows := readCSV(t, filepath.Join(pub, "results_by_"+dim+".csv"))
		if rows[len(rows)-1][0] != "合计" {
			t.Fatalf("%s: no total line", dim)
		}
		for c := 1; c < len(rows[0]); c++ {
			flagged := c >= 4
			var hiddenPersons int64
			hidden := 0
			for _, row := range rows[1 : len(rows)-1] {
				b := bounds[dim][row[0]]
				if b == nil {
					t.Fatalf("%s: line %q is neither a county name, a program name nor a month", dim, row[0])
				}
				p := b.paid
				if flagged {
					p = b.flagged
				}
				if row[c] == "*" {
					hidden++
					hiddenPersons += p
					suppressedSeen++
					continue
				}
				if p > 0 && p < 5 {
					t.Errorf("%s / %s / %s = %s rests on %d persons", dim, row[0], rows[0][c], row[c], p)
				}
			}
			if total := rows[len(rows)-1][c]; total != "*" && hidden > 0 && (hidden == 1 || hiddenPersons < 5) {
				t.Errorf("%s / %s: %d hidden cells on %d persons can be recovered from the total %s", dim, rows[0][c], hidden, hiddenPersons, total)
			}
		}
	}
	if suppressedSeen == 0 {
		t.Errorf("nothing suppressed: the sample has programs with 1 to 4 persons (特困, 丧葬), so the check above proved nothing")
	}
	county := readCSV(t, filepath.Join(pub, "results_by_county.csv"))
	if county[1][0] != "鄢陵县" || county[2][0] != "长葛市" {
		t.Errorf("counties by name: %v", county)
	}

	// The workbook holds the same tables.
	x, err := excelize.OpenFile(filepath.Join(pub, "publication.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	sheets := x.GetSheetList()
	if strings.Join(sheets, ",") != "补贴政策清单,比对规则,结果按县区,结果按补贴项目,结果按月份,说明" {
		t.Errorf("sheets %v", sheets)
	}
	xr, _ := x.GetRows("结果按县区")
	if strings.Join(xr[len(xr)-1], ",") != strings.Join(county[len(county)-1], ",") {
		t.Errorf("xlsx total %v, csv %v", xr[len(xr)-1], county[len(county)-1])
	}
	policy := readCSV(t, filepath.Join(pub, "policy_list.csv"))
	var gaoling []string
	for _, p := range policy {
		if p[0] == "gaoling" {
			gaoling = p
		}
	}
	if gaoling == nil || gaoling[2] != "民政局" || gaoling[5] != "县级高龄津贴发放办法" || !strings.Contains(gaoling[6], "年满80周岁") {
		t.Errorf("policy line of 高龄津贴: %v", gaoling)
	}
	html, _ := os.ReadFile(filepath.Join(pub, "index.html"))
	for _, want := range []string{"补贴政策清单", "比对规则", "死亡后仍发放", "长葛市", "不予公开"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	publishWithStore(t, dir)
	if r := run(t, dir, nil, "publish", "--config", "job.yaml", "--run", "run", "--out", "pub", "--min-persons", "1"); r.code == 0 {
		t.Errorf("--min-persons 1 accepted")
	}
	if r := run(t, dir, nil, "publish", "--config", "job.yaml", "--run", "nowhere", "--out", "pub2"); r.code == 0 || !strings.Contains(r.stderr, "nowhere") {
		t.Errorf("missing run folder: %d %s", r.code, r.stderr)
	}
}

// publishWithStore imports the run into a case store, confirms six of
// 长葛市's cases of 高龄津贴 (8 raised) with amounts recovered, confirms one
// case elsewhere, and publishes with --store: the confirmed figures appear
// where they rest on enough persons and are suppressed where not.
func publishWithStore(t *testing.T, dir string) {
	t.Helper()
	store := filepath.Join(dir, "cases.duckdb")
	ctx := context.Background()
	st, err := casestore.Open(ctx, store, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The store's own import (the review side, not under test here).
	if _, err := st.Import(ctx, filepath.Join(dir, "run", "hits.parquet"), casestore.ImportOptions{NoManifest: true, Periods: []string{"2024-05"}}); err != nil {
		t.Fatal(err)
	}
	admin := casestore.Actor{User: "admin", Role: casestore.RoleAdmin, Scope: casestore.Scope{All: true}}
	confirm := func(c *casestore.Case, recovered float64) {
		t.Helper()
		steps := []casestore.Action{{Kind: casestore.ActAssign, Assignee: "checker"}, {Kind: casestore.ActVerify},
			{Kind: casestore.ActConfirm, Outcome: &casestore.Outcome{PaymentStopped: true, ToRecover: recovered, Recovered: recovered}}}
		for _, a := range steps {
			a.Version = c.Version
			if c, err = st.Act(ctx, admin, c.ID, a); err != nil {
				t.Fatalf("%s: %v", a.Kind, err)
			}
		}
	}
	gaoling, err := st.Select(casestore.Scope{All: true}, casestore.Filter{Program: "gaoling", County: "411082"}, 0)
	if err != nil || len(gaoling) < 6 {
		t.Fatalf("cases of 高龄津贴 in 长葛市: %d %v", len(gaoling), err)
	}
	for _, c := range gaoling[:6] {
		confirm(c, 100)
	}
	st.Close()
	outcomes := func(out string) (map[string][]string, []string) {
		t.Helper()
		mustRun(t, dir, nil, "publish", "--config", "job.yaml", "--run", "run", "--out", out, "--store", store)
		rows := readCSV(t, filepath.Join(dir, out, "results_by_program.csv"))
		if got := strings.Join(rows[0][len(rows[0])-2:], ","); got != "核实确认案件数,追回金额（元）" {
			t.Fatalf("header %v", rows[0])
		}
		byName := map[string][]string{}
		for _, r := range rows[1 : len(rows)-1] {
			byName[r[0]] = r[len(r)-2:]
		}
		return byName, rows[len(rows)-1][len(rows[0])-2:]
	}
	// 6 confirmed cases of 高龄津贴 in one county, ¥600 recovered: published.
	got, total := outcomes("pub-store")
	if g := got["高龄津贴"]; g[0] != "6" || g[1] != "600.00" || total[0] != "6" || total[1] != "600.00" {
		t.Errorf("高龄津贴 outcomes %v, total %v", g, total)
	}
	// One more confirmed case, of 城乡低保: it is hidden, and so is 高龄津贴
	// (else the total minus 6 would give it away); the total stays.
	if st, err = casestore.Open(ctx, store, casestore.Options{}); err != nil {
		t.Fatal(err)
	}
	other, _ := st.Select(casestore.Scope{All: true}, casestore.Filter{Program: "dibao", County: "411024"}, 1)
	confirm(other[0], 50)
	st.Close()
	got, total = outcomes("pub-store2")
	if got["城乡居民最低生活保障金"][0] != "*" || got["高龄津贴"][0] != "*" || got["高龄津贴"][1] != "*" || total[0] != "7" || total[1] != "650.00" {
		t.Errorf("after one more: %v, total %v", got, total)
	}
}
