package review_test

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// cleanPayee is a payee of the 长葛 roll (period 2024-05) with no hit in
// the batch run at all: a check of the person, program and period finds
// nothing.
func cleanPayee(t *testing.T, runDir string) (id, name, program string) {
	t.Helper()
	hit := map[string]bool{}
	for _, h := range readCSVFile(t, filepath.Join(runDir, "hits.csv")) {
		hit[h["payment_id"]], hit[h["id_number"]] = true, true
	}
	b, err := os.ReadFile("../examples/henan-sample/data/长葛市一卡通发放名单202405.csv")
	if err != nil {
		t.Fatal(err)
	}
	u, err := simplifiedchinese.GBK.NewDecoder().Bytes(b)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(u)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rows := recs[1:] // 发放记录号,项目代码,发放年月,身份证号码,姓名,…
	sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
	for _, r := range rows {
		if r[2] == "202405" && len(r[3]) == 18 && !hit[r[0]] && !hit[r[3]] {
			return r[3], r[4], r[1]
		}
	}
	t.Fatal("no payee of the roll without hits")
	return
}

// TestBrowserCheckForm: a reviewer opens 申请时核验 from the navigation,
// checks a deceased payee of the sample (the hits of the batch run's
// payment, explained, ID masked) and a payee without hits (未发现问题).
func TestBrowserCheckForm(t *testing.T) {
	exe := chromium(t)
	store, runDir := refFixture(t)
	serial, pay := deceasedPayment(t, runDir)
	cleanID, cleanName, cleanProgram := cleanPayee(t, runDir)
	dir := t.TempDir()
	users := writeUsersFile(t, dir)
	p := spawn(t, "serve", "--store", filepath.Join(dir, "cases.duckdb"), "--users", users, "--ref-store", store,
		"--addr", "127.0.0.1:0", "--refresh-every", "-1s", "-q")
	base, err := p.waitURL(2 * time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := newBrowser(t, exe)
	defer cancel()
	fill := func(id, name, program, period string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.WaitVisible(chromedp.ID("form-check")),
			chromedp.SetValue(chromedp.ID("check-id"), id),
			chromedp.SetValue(chromedp.ID("check-name"), name),
			chromedp.SetValue(chromedp.ID("check-program"), program),
			chromedp.SetValue(chromedp.ID("check-period"), period),
			clickAndLoad(chromedp.ID("check-submit")),
			chromedp.WaitVisible(chromedp.ID("check-result")))
	}
	do(t, ctx, browserLogin("mz_zhongyuan", base),
		clickAndLoad(chromedp.ID("nav-check")),
		fill(pay.id, pay.name, pay.program, pay.period),
		chromedp.WaitVisible(chromedp.ID("check-found")))
	shot(ctx, t, "check-found")
	rules, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('.check-hit')).map(e => e.dataset.rule).sort().join(',')`))
	if err != nil {
		t.Fatal(err)
	}
	if w := setKeys(pay.rules); rules != w {
		t.Errorf("form shows rules [%s] for the payee of %s, the batch run [%s]", rules, serial, w)
	}
	res := text(t, ctx, "#check-result")
	if !strings.Contains(res, "死亡") || strings.Contains(res, pay.id) || text(t, ctx, "#check-masked") == pay.id {
		t.Errorf("result without the death explanation, or with the ID unmasked: %q", res)
	}

	do(t, ctx, fill(cleanID, cleanName, cleanProgram, "2024-05"), chromedp.WaitVisible(chromedp.ID("check-clear")))
	if c := text(t, ctx, "#check-clear"); !strings.Contains(c, "未发现问题") {
		t.Errorf("clean payee: %q", c)
	}
	shot(ctx, t, "check-clear")

	// A bad period is refused on the page, in the page's language.
	do(t, ctx, chromedp.SetValue(chromedp.ID("check-period"), "2024-5"), clickAndLoad(chromedp.ID("check-submit")),
		chromedp.WaitVisible(chromedp.ID("error")))
	if e := text(t, ctx, "#error"); !strings.Contains(e, "发放期间") {
		t.Errorf("bad period: %q", e)
	}
}
