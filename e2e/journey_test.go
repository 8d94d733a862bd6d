package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crosscheck/crosscheck/casestore"
)

const (
	password = "journey-pass-1"
	// reviewer is the county reviewer of 民政局 the journey signs in as.
	reviewer = "mz_county"
	dept     = "民政局"
)

var (
	runRe     = regexp.MustCompile(`(?m)^run ([0-9a-f]{16}): (\d+) hits in (\d+) cases`)
	importRe  = regexp.MustCompile(`(?m)^run ([0-9a-f]{16}): (\d+) hits in (\d+) run cases`)
	storeRe   = regexp.MustCompile(`- (\d+) matched to the exception register \((\d+) hits\) - (\d+) merged across periods .*= (\d+) store cases`)
	newRe     = regexp.MustCompile(`(\d+) new, (\d+) already in the store gained hits \((\d+) of them dismissed with the same evidence: (\d+) hits suppressed, case unchanged; (\d+) reopened\)`)
	inStoreRe = regexp.MustCompile(`(?m)^(\d+) cases in store`)
	atoi      = func(s string) int { n, _ := strconv.Atoi(s); return n }
)

func match(t *testing.T, re *regexp.Regexp, s string) []string {
	t.Helper()
	m := re.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("output does not match %s:\n%s", re, s)
	}
	return m
}

// TestJourney walks the path a bureau walks, through the built binary:
// gen → run → cases import of the run folder → serve → a county reviewer
// of 民政局 signs in in Chromium, sees only their county's cases,
// confirms one with an outcome (停发, amount recovered) and dismisses
// another with a reason → the same run again (imported before: nothing
// changes) → a run of the same data with a parameter pinned to its
// default (a new run id, the same hits) → import: the dismissed case
// takes its hits as suppressed and is not raised again, the confirmed one
// keeps its decision, outcome and history; the rule precision analysts
// see reflects the two decisions, and the audit log holds every view and
// action.
func TestJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("the journey (three screening runs and a browser) is skipped under -short")
	}
	exe := chromium(t)
	work := t.TempDir()
	t0 := time.Now()
	step := func(name string) { t.Logf("%6.1fs %s", time.Since(t0).Seconds(), name) }
	prov := filepath.Join(work, "province")
	store := filepath.Join(work, "cases.duckdb")

	// 1. A small province, screened.
	crosscheck(t, "gen", "--persons", "3000", "--seed", "7", "--rate", "all_cases=4", "--out", prov, "--quiet")
	run1 := filepath.Join(work, "run1")
	sum1 := crosscheck(t, "run", "--config", filepath.Join(prov, "job.yaml"), "--out", run1, "--quiet", "--lang", "en")
	step("run 1")
	m := match(t, runRe, sum1)
	runID, hits, runCases := m[1], atoi(m[2]), atoi(m[3])
	if !strings.Contains(sum1, "the case store merges the periods") {
		t.Errorf("run summary does not say how run cases become store cases:\n%s", sum1)
	}
	// The roll of 耕地地力保护补贴 has no region column: its cases are
	// placed by the registry, none is left without a county here.
	if strings.Contains(sum1, "cases with no county") {
		t.Errorf("cases without county on the generated province:\n%s", sum1)
	}

	// 2. Import the run folder: the counts reconcile.
	imp1 := crosscheck(t, "cases", "import", run1, "--store", store, "--quiet")
	m = match(t, importRe, imp1)
	if m[1] != runID || atoi(m[2]) != hits || atoi(m[3]) != runCases {
		t.Fatalf("import reports run %s, %s hits, %s run cases; the run said %s, %d, %d:\n%s", m[1], m[2], m[3], runID, hits, runCases, imp1)
	}
	step("import 1")
	sm := match(t, storeRe, imp1)
	storeCases := atoi(sm[4])
	if runCases-atoi(sm[1])-atoi(sm[3]) != storeCases || storeCases == 0 || storeCases >= runCases {
		t.Fatalf("run cases %d - excepted %s - merged %s != store cases %d:\n%s", runCases, sm[1], sm[3], storeCases, imp1)
	}
	if n := atoi(match(t, inStoreRe, imp1)[1]); n != storeCases {
		t.Fatalf("%d cases in store, import said %d", n, storeCases)
	}

	// The county with most 民政局 cases; a case of another county.
	county, mine, other, rulesOf := pickCounty(t, store)
	t.Logf("run %s: %d hits, %d run cases, %d store cases; reviewer county %s with %d cases", runID, hits, runCases, storeCases, county, len(mine))

	// 3. Users and the server.
	hash := strings.TrimSpace(crosscheckIn(t, "", strings.NewReader(password+"\n"), "serve", "hash-password", "--cost", "10"))
	users := filepath.Join(work, "users.yaml")
	writeFile(t, users, fmt.Sprintf(`users:
  - username: admin
    name: 市财政局管理员
    role: admin
    password_hash: %q
  - username: analyst
    role: analyst
    password_hash: %q
  - username: %s
    name: 县民政局审核员
    role: reviewer
    department: %s
    region: %q
    password_hash: %q
`, hash, hash, reviewer, dept, county, hash))
	step("serve")
	srv := serve(t, "--store", store, "--users", users, "--quiet")

	br := newBrowser(t, exe)
	ctx := session(t, br)
	do(t, ctx, login(reviewer, srv.URL))
	queueViews := 1
	visibleQueue(t, ctx, county, len(mine))

	// A case of another county answers as if it did not exist.
	do(t, ctx, chromedp.Navigate(srv.URL+"/cases/"+other), chromedp.WaitVisible(chromedp.CSS("main")))
	if body := text(t, ctx, "main"); !strings.Contains(body, "不在您的权限范围内") {
		t.Errorf("a case of another county is shown to the county reviewer: %q", body)
	}

	// Open the first case as a user does, confirm it with an outcome.
	views := map[string]int{}
	do(t, ctx, chromedp.Navigate(srv.URL+"/cases"), chromedp.WaitVisible(chromedp.ID("queue")))
	queueViews++
	ids := queueIDs(t, ctx)
	a, b := ids[0], ids[1]
	do(t, ctx, clickAndLoad(chromedp.CSS(`#queue tr[data-case="`+a+`"] a.case-link`)), chromedp.WaitVisible(chromedp.ID("facts")))
	views[a]++
	do(t, ctx,
		clickAndLoad(chromedp.ID("btn-assign")), chromedp.WaitVisible(chromedp.ID("facts")),
		clickAndLoad(chromedp.ID("btn-verify")), chromedp.WaitVisible(chromedp.ID("form-confirm")),
		chromedp.Click(chromedp.ID("payment-stopped")),
		chromedp.SendKeys(chromedp.ID("to-recover"), "300"),
		chromedp.SendKeys(chromedp.ID("recovered"), "120"),
		clickAndLoad(chromedp.ID("btn-confirm")), chromedp.WaitVisible(chromedp.ID("outcome")))
	views[a] += 3
	checkConfirmed(t, ctx)

	// Dismiss the second with a reason.
	do(t, ctx, chromedp.Navigate(srv.URL+"/cases/"+b), chromedp.WaitVisible(chromedp.ID("facts")))
	views[b]++
	do(t, ctx,
		clickAndLoad(chromedp.ID("btn-assign")), chromedp.WaitVisible(chromedp.ID("form-dismiss")),
		chromedp.SetValue(chromedp.ID("dismiss-select"), "eligible"),
		chromedp.SendKeys(chromedp.CSS(`#form-dismiss input[name="text"]`), "村委会核实其符合条件"),
		clickAndLoad(chromedp.ID("btn-dismiss")), chromedp.WaitVisible(chromedp.ID("dismiss-reason")))
	views[b] += 2
	checkDismissed(t, ctx)

	// What analysts see: the precision of the rules of the two cases.
	actx := session(t, br)
	do(t, actx, login("analyst", srv.URL))
	checkPrecision(t, actx, srv.URL, rulesOf[a], rulesOf[b])
	step("browser: review")
	srv.stop(t)

	// 4. The same run imported again (what a second "run" of the same job
	// on the same data gives: the same run id): nothing changes, exit 0.
	imp2 := crosscheck(t, "cases", "import", run1, "--store", store, "--quiet")
	if want := "run " + runID + " was imported before"; !strings.Contains(imp2, want) || !strings.Contains(imp2, "nothing changed") ||
		!strings.Contains(imp2, fmt.Sprintf("%d cases in store", storeCases)) {
		t.Fatalf("second import of the same run: %s", imp2)
	}
	step("import again")

	// 5. A second run of the same data, with a parameter pinned to its
	// default: a new run id, the same hits.
	job3 := filepath.Join(prov, "job-pinned.yaml")
	jb, err := os.ReadFile(filepath.Join(prov, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pinned := strings.Replace(string(jb), "    business_on_assistance: {above_value: 10}\n",
		"    business_on_assistance: {above_value: 10}\n    deceased_after_death: {grace_months: 0}\n", 1)
	if pinned == string(jb) {
		t.Fatal("job.yaml of gen has no rules.params.business_on_assistance line to pin a parameter beside")
	}
	writeFile(t, job3, pinned)
	run3 := filepath.Join(work, "run2")
	sum3 := crosscheck(t, "run", "--config", job3, "--out", run3, "--quiet", "--lang", "en")
	m = match(t, runRe, sum3)
	if m[1] == runID || atoi(m[2]) != hits {
		t.Fatalf("pinned run: run %s with %s hits (first run %s with %d)", m[1], m[2], runID, hits)
	}
	step("run 2")
	imp3 := crosscheck(t, "cases", "import", run3, "--store", store, "--quiet")
	nm := match(t, newRe, imp3)
	if atoi(nm[1]) != 0 || atoi(nm[2]) != storeCases || atoi(nm[3]) != 1 || atoi(nm[4]) == 0 || atoi(nm[5]) != 0 {
		t.Fatalf("re-import of the same hits: want 0 new, %d gained hits, 1 dismissed case with its hits suppressed, 0 reopened:\n%s", storeCases, imp3)
	}
	if n := atoi(match(t, inStoreRe, imp3)[1]); n != storeCases {
		t.Fatalf("the same hits raised cases: %d in store, was %d", n, storeCases)
	}

	// 6. Back in the browser: nothing raised again, decisions and history kept.
	step("import 2")
	srv2 := serve(t, "--store", store, "--users", users, "--quiet")
	ctx3 := session(t, br)
	do(t, ctx3, login(reviewer, srv2.URL))
	queueViews++
	visibleQueue(t, ctx3, county, len(mine))
	do(t, ctx3, chromedp.Navigate(srv2.URL+"/cases/"+b), chromedp.WaitVisible(chromedp.ID("facts")))
	views[b]++
	checkDismissed(t, ctx3)
	if h := text(t, ctx3, "#history"); !strings.Contains(h, "新增") || !strings.Contains(h, "因已排除而抑制") {
		t.Errorf("dismissed case's history does not show the suppressed hits: %q", h)
	}
	do(t, ctx3, chromedp.Navigate(srv2.URL+"/cases/"+a), chromedp.WaitVisible(chromedp.ID("facts")))
	views[a]++
	checkConfirmed(t, ctx3)
	if h := text(t, ctx3, "#history"); strings.Count(h, "县民政局审核员 ") < 3 || !strings.Contains(h, "已确认属实") {
		t.Errorf("confirmed case lost its history: %q", h)
	}

	step("browser: after")
	actx2 := session(t, br)
	do(t, actx2, login("analyst", srv2.URL))
	checkPrecision(t, actx2, srv2.URL, rulesOf[a], rulesOf[b])

	// 7. The audit log, as the administrator sees it: every view and action.
	adm := session(t, br)
	do(t, adm, login("admin", srv2.URL))
	for id, n := range views {
		got := auditActions(t, adm, srv2.URL, id, reviewer)
		want := map[string]int{"view.case": n, "case.assign": 1}
		if id == a {
			want["case.verify"], want["case.confirm"] = 1, 1
		} else {
			want["case.dismiss"] = 1
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("audit of case %s by %s: %d × %s, want %d (all: %v)", id, reviewer, got[k], k, v, got)
			}
		}
	}
	qv := 0
	for _, r := range auditRows(t, adm, srv2.URL+"/audit?action=view.queue&actor="+reviewer) {
		if r[0] == "view.queue" {
			qv++
		}
	}
	if qv != queueViews {
		t.Errorf("audit holds %d queue views by %s, the reviewer opened the queue %d times", qv, reviewer, queueViews)
	}
	imports := auditRows(t, adm, srv2.URL+"/audit?action=run.import")
	step("audit")
	if len(imports) != 2 {
		t.Errorf("audit holds %d run imports, want 2 (run 1 and the pinned run): %v", len(imports), imports)
	}
}

// pickCounty opens the store (no server holds it yet) and returns the
// county with most cases of 民政局 (at least two), their ids, a case of
// 民政局 in another county, and the rules of every case.
func pickCounty(t *testing.T, path string) (county string, mine []string, other string, rules map[string][]string) {
	t.Helper()
	ctx := context.Background()
	s, err := casestore.Open(ctx, path, casestore.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cs, err := s.Select(casestore.Scope{All: true}, casestore.Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string][]string{}
	rules = map[string][]string{}
	for _, c := range cs {
		rules[c.ID] = c.RuleIDs
		if c.Department == dept && c.CountyCode != "" {
			by[c.CountyCode] = append(by[c.CountyCode], c.ID)
		}
	}
	var counties []string
	for k := range by {
		counties = append(counties, k)
	}
	sort.Slice(counties, func(i, j int) bool {
		if len(by[counties[i]]) != len(by[counties[j]]) {
			return len(by[counties[i]]) > len(by[counties[j]])
		}
		return counties[i] < counties[j]
	})
	if len(counties) < 2 || len(by[counties[0]]) < 2 {
		t.Fatalf("the generated province has no county with two %s cases: %v", dept, by)
	}
	return counties[0], by[counties[0]], by[counties[1]][0], rules
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
