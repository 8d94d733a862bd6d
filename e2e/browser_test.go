package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crosscheck/crosscheck/regions"
)

// newBrowser starts one headless Chromium for the test; session opens a
// browser context in it with its own cookies (one user each).
func newBrowser(t *testing.T, exe string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatal(err)
	}
	return ctx
}

// session is a new browser context (own cookies) in the browser.
func session(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	ctx, tcancel := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { tcancel(); cancel() })
	return ctx
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// login signs in through the sign-in form and waits for the queue.
func login(user, base string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		clickAndLoad(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("queue")),
	)
}

// clickAndLoad clicks an element that submits a form or follows a link
// and waits until the new document has replaced the old one.
func clickAndLoad[S chromedp.Selectable](sel S) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := chromedp.Evaluate[chromedp.Void](`window.__ccOldPage = true`)(ctx, tg); err != nil {
			return err
		}
		if _, err := chromedp.Click(sel)(ctx, tg); err != nil {
			return err
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			loaded, err := chromedp.Evaluate[bool](`window.__ccOldPage === undefined && document.readyState === "complete"`)(ctx, tg)
			if err == nil && loaded {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("page did not load after the click (last error: %v)", err)
			}
			time.Sleep(30 * time.Millisecond)
		}
	})
}

// text is the visible text of the first element matching the CSS selector.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// queueIDs are the case ids of the queue page shown.
func queueIDs(t *testing.T, ctx context.Context) []string {
	t.Helper()
	return eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#queue tr[data-case]')).map(r => r.dataset.case)`)
}

// visibleQueue checks the reviewer's queue as shown: the total and every
// row in the reviewer's county.
func visibleQueue(t *testing.T, ctx context.Context, county string, want int) {
	t.Helper()
	if total := text(t, ctx, "#total"); total != fmt.Sprint(want) {
		t.Errorf("queue shows %s cases, the county has %d", total, want)
	}
	counties := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#queue tr[data-case]')).map(r => r.children[5].innerText.trim())`)
	if len(counties) != want {
		t.Errorf("queue lists %d rows, want %d", len(counties), want)
	}
	name := regions.CountyName(county) // the queue shows the county by name
	for _, c := range counties {
		if c != name {
			t.Errorf("queue of the %s reviewer shows a case of county %q", county, c)
		}
	}
}

// checkConfirmed checks the case page shown: confirmed, payment stopped,
// 300.00 to recover, 120.00 recovered.
func checkConfirmed(t *testing.T, ctx context.Context) {
	t.Helper()
	st := eval[string](t, ctx, `document.getElementById('status').dataset.status`)
	out := text(t, ctx, "#outcome")
	if st != "confirmed" || !strings.Contains(out, "300.00") || !strings.Contains(out, "120.00") {
		t.Errorf("confirmed case shows status %q, outcome %q", st, out)
	}
}

// checkDismissed checks the case page shown: dismissed with its reason.
func checkDismissed(t *testing.T, ctx context.Context) {
	t.Helper()
	st := eval[string](t, ctx, `document.getElementById('status').dataset.status`)
	reason := text(t, ctx, "#dismiss-reason")
	if st != "dismissed" || !strings.Contains(reason, "经核实符合条件") || !strings.Contains(reason, "村委会核实其符合条件") {
		t.Errorf("dismissed case shows status %q, reason %q", st, reason)
	}
}

// checkPrecision reads the dashboard's rule table and checks, for every
// rule of the confirmed and of the dismissed case, the confirmed and
// dismissed counts and the precision shown.
func checkPrecision(t *testing.T, ctx context.Context, base string, confirmedRules, dismissedRules []string) {
	t.Helper()
	do(t, ctx, chromedp.Navigate(base+"/dashboard"), chromedp.WaitVisible(chromedp.ID("rule-stats")))
	want := map[string][2]int{}
	for _, r := range confirmedRules {
		w := want[r]
		w[0]++
		want[r] = w
	}
	for _, r := range dismissedRules {
		w := want[r]
		w[1]++
		want[r] = w
	}
	for r, w := range want {
		cells := eval[[]string](t, ctx, fmt.Sprintf(`Array.from(document.querySelector('#rule-stats tr[data-rule="%s"]')?.children || []).map(c => c.innerText.trim())`, r))
		if len(cells) < 6 {
			t.Errorf("dashboard has no row for rule %s", r)
			continue
		}
		prec := fmt.Sprintf("%.1f%%", 100*float64(w[0])/float64(w[0]+w[1]))
		if cells[3] != fmt.Sprint(w[0]) || cells[4] != fmt.Sprint(w[1]) || cells[5] != prec {
			t.Errorf("dashboard, rule %s: confirmed %s dismissed %s precision %s; want %d, %d, %s", r, cells[3], cells[4], cells[5], w[0], w[1], prec)
		}
	}
}

// auditRows are the rows of the audit page at url, each as its cells.
func auditRows(t *testing.T, ctx context.Context, url string) [][]string {
	t.Helper()
	do(t, ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("audit")))
	// Each row: the entry's action code (the row's data-action; the page
	// shows it as a sentence), then the cells as shown.
	rows := eval[[][]string](t, ctx, `Array.from(document.querySelectorAll('#audit tr[data-action]')).map(r => [r.dataset.action].concat(Array.from(r.children).map(c => c.innerText.trim())))`)
	return rows
}

// auditActions counts the audit page's actions on a case by a user.
func auditActions(t *testing.T, ctx context.Context, base, caseID, user string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range auditRows(t, ctx, base+"/audit?object="+caseID+"&actor="+user) {
		if len(r) > 4 && r[4] != "" { // the page filtered by actor; the sentence is shown
			out[r[0]]++
		}
	}
	return out
}
