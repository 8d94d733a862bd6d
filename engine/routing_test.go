package engine_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// csvMaps reads a run's CSV file as one map per row.
func csvMaps(t *testing.T, path string) []map[string]string {
	t.Helper()
	rows := henanReadCSV(t, path, true)
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func validID(body17 string) string { return body17 + string(idnumber.CheckChar(body17)) }

// badID is a valid ID with its check character changed: invalid, and not
// repairable without a registry person of the same name and birth date.
func badID(body17 string) string {
	c := idnumber.CheckChar(body17)
	if c == '1' {
		return body17 + "2"
	}
	return body17 + "1"
}

const routingJob = `
periods: ["2024-05"]
programs:
  - {code: gengdi, name: 耕地地力保护补贴, department: 农业农村局, min_age: 100}
sources:
  - name: huji
    role: person
    connector: csv
    path: huji.csv
    columns: {id_number: 身份证号, name: 姓名, birth_date: 出生日期, region_code: 地址代码, household_id: 户号}
  - name: gengdi
    role: payment
    connector: csv
    path: gengdi.csv
    columns: {payment_id: 编号, program_code: 项目, period: 期间, id_number: 身份证号, name: 姓名, household_id: 户号, amount: 金额}
  - name: gengdi_other
    role: payment
    connector: csv
    path: gengdi_other.csv
    columns: {payment_id: 编号, program_code: 项目, period: 期间, id_number: 身份证号, name: 姓名, household_id: 户号, amount: 金额}
`

// TestCaseRoutingWithoutRegion: a roll without a region column (耕地地力保护
// 补贴) gets every case an owner. A payment of a registered person goes to
// the county of the person's registered address; one whose ID is unusable
// to the county of the payee's household; one with neither to the
// prefecture every other payment of its roll lies in; one with nothing at
// all has no region. The run's cases.csv, quality.json, quality.md and
// summary count the cases without a county.
func TestCaseRoutingWithoutRegion(t *testing.T) {
	a := validID("41108219500101001") // registered in 411082 (长葛市), household H1
	b := validID("41108119600101002") // registered in 411081 (禹州市), household H2
	dir := writeFiles(t, map[string]string{
		"job.yaml": routingJob,
		"huji.csv": "身份证号,姓名,出生日期,地址代码,户号\n" +
			a + ",张三,1950-01-01,411082100200,H1\n" +
			b + ",李四,1960-01-01,411081100200,H2\n",
		"gengdi.csv": "编号,项目,期间,身份证号,姓名,户号,金额\n" +
			"G1,gengdi,2024-05," + a + ",张三,H1,100\n" + // by the person
			"G2,gengdi,2024-05," + badID("41108119700101003") + ",王五,H2,100\n" + // by the household
			"G3,gengdi,2024-05," + badID("41108119800101004") + ",赵六,H9,100\n", // by the roll's prefecture
		"gengdi_other.csv": "编号,项目,期间,身份证号,姓名,户号,金额\n" +
			"G4,gengdi,2024-05," + badID("41108119900101005") + ",钱七,H8,100\n", // nowhere
	})
	j, err := job.Load(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	res, err := engine.Run(context.Background(), j, engine.Options{OutDir: out, RawIDs: true})
	if err != nil {
		t.Fatal(err)
	}
	cases := csvMaps(t, filepath.Join(out, "cases.csv"))
	got := map[string]string{}
	for _, c := range cases {
		got[c["payment_ids"]] = c["county_code"] + "|" + c["route_region"] + "|" + c["route_from"]
	}
	want := map[string]string{
		"G1": "411082|411082100200|person",
		"G2": "411081|411081100200|household",
		"G3": "|411000|roll_prefecture",
		"G4": "||none",
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("case of payment %s: county|route_region|route_from = %q, want %q", p, got[p], w)
		}
	}
	if len(cases) != len(want) {
		t.Errorf("%d cases, want %d: %v", len(cases), len(want), got)
	}
	if res.NoCounty != 2 || res.CaseRouting["none"] != 1 {
		t.Errorf("result: %d cases without county, routing %v", res.NoCounty, res.CaseRouting)
	}
	var q engine.Quality
	b2, err := os.ReadFile(filepath.Join(out, "quality.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b2, &q); err != nil {
		t.Fatal(err)
	}
	if q.CasesWithoutCounty != 2 || q.CaseRouting["person"] != 1 || q.CaseRouting["household"] != 1 {
		t.Errorf("quality.json: %d without county, routing %v", q.CasesWithoutCounty, q.CaseRouting)
	}
	md, err := os.ReadFile(filepath.Join(out, "quality.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "cases with no county (无县区归属): 2 — in the department's prefecture or province queue: 1, with no region at all (admin and analyst only): 1") {
		t.Errorf("quality.md does not count the cases without county:\n%s", md)
	}
	var sum strings.Builder
	res.PrintSummary(&sum, engine.LangEN)
	if !strings.Contains(sum.String(), "cases with no county: 2, in their department's prefecture or province queue: 1, with no region: 1") {
		t.Errorf("summary does not count the cases without county:\n%s", sum.String())
	}
	// The hits keep the roll's own (empty) region code beside the route.
	hits := csvMaps(t, filepath.Join(out, "hits.csv"))
	for _, h := range hits {
		if h["region_code"] != "" {
			t.Errorf("hit %s: region_code %q, the roll has none", h["payment_id"], h["region_code"])
		}
	}
}
