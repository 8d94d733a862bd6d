package review_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"
)

// chromium finds (or, as root with apt, installs) headless Chromium.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped under -short")
	}
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if os.Geteuid() == 0 && os.Getenv("CROSSCHECK_NO_APT") == "" {
		if _, err := exec.LookPath("apt-get"); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Skipf("chromium absent and could not be installed: %v\n%s", err, out)
			}
			if _, err := os.Stat("/usr/bin/chromium"); err == nil {
				return "/usr/bin/chromium"
			}
		}
	}
	t.Skip("chromium absent and cannot be installed")
	return ""
}

func newBrowser(t *testing.T, exe string) (context.Context, context.CancelFunc) {
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
	ctx, tcancel := context.WithTimeout(ctx, 2*time.Minute)
	return ctx, func() { tcancel(); cancel(); acancel() }
}

func browserLogin(user string, base string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		clickAndLoad(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("queue")),
	)
}

func shot(ctx context.Context, t *testing.T, name string) {
	dir := os.Getenv("CROSSCHECK_SCREENSHOTS")
	if dir == "" {
		return
	}
	if b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		_ = os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// clickAndLoad clicks an element that submits a form or follows a link,
// and waits until the new document replaced the old one. Without it a
// WaitVisible after the click can match the old page's element, and the
// next step then queries a node that is gone ("No node with given id").
// While the page navigates, evaluations fail ("target navigated"); those
// are retried until the new document answers.
func clickAndLoad(sel chromedp.ID) chromedp.Action[chromedp.Void] {
	return clickThenLoad(chromedp.Click(sel))
}

func clickCSSAndLoad(sel chromedp.CSS) chromedp.Action[chromedp.Void] {
	return clickThenLoad(chromedp.Click(sel))
}

func clickThenLoad(click chromedp.Action[chromedp.Void]) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := chromedp.Evaluate[chromedp.Void](`window.__ccOldPage = true`)(ctx, tg); err != nil {
			return err
		}
		if _, err := click(ctx, tg); err != nil {
			return err
		}
		deadline := time.Now().Add(20 * time.Second)
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

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func TestBrowserReview(t *testing.T) {
	exe := chromium(t)
	e := serve(t, buildStore(t, t.TempDir()))
	ctx, cancel := newBrowser(t, exe)
	defer cancel()

	do(t, ctx, browserLogin("mz_zhongyuan", e.URL))
	if total, who := text(t, ctx, "#total"), text(t, ctx, "#who"); total != "2" || !strings.Contains(who, "中原区民政局") {
		t.Fatalf("queue total %q, user %q", total, who)
	}
	shot(ctx, t, "queue")
	if q := text(t, ctx, "#queue"); !strings.Contains(q, "中原区") {
		t.Errorf("queue county column without the county's name: %q", q)
	}

	// Filter by rule.
	do(t, ctx,
		chromedp.SetValue(chromedp.ID("f-rule"), "deceased_after_death"),
		clickAndLoad(chromedp.ID("f-submit")),
		chromedp.WaitVisible(chromedp.ID("queue")))
	if total := text(t, ctx, "#total"); total != "1" {
		t.Fatalf("filtered total %q", total)
	}

	// Open the case, assign it to me, record the village check, confirm with an outcome.
	do(t, ctx,
		clickCSSAndLoad(chromedp.CSS("a.case-link")),
		chromedp.WaitVisible(chromedp.ID("facts")))
	caseURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	evidence := text(t, ctx, ".evidence")
	do(t, ctx,
		clickAndLoad(chromedp.ID("btn-assign")),
		chromedp.WaitVisible(chromedp.ID("flash")),
		clickAndLoad(chromedp.ID("btn-verify")),
		chromedp.WaitVisible(chromedp.ID("form-confirm")),
		chromedp.Click(chromedp.ID("payment-stopped")),
		chromedp.SendKeys(chromedp.ID("to-recover"), "2800"),
		chromedp.SendKeys(chromedp.ID("recovered"), "0"),
		clickAndLoad(chromedp.ID("btn-confirm")),
		chromedp.WaitVisible(chromedp.ID("outcome")))
	st, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("status"), "data-status"))
	if err != nil {
		t.Fatal(err)
	}
	if outcome := text(t, ctx, "#outcome"); st.Value != "confirmed" || !strings.Contains(outcome, "2800.00") {
		t.Fatalf("after confirm: status %q outcome %q", st.Value, outcome)
	}
	if !strings.Contains(evidence, "公安户籍") || !strings.Contains(evidence, "注销日期") || strings.Contains(evidence, "194003051237") {
		t.Errorf("evidence side by side, masked: %q", evidence)
	}
	shot(ctx, t, "case")
	if h := text(t, ctx, "#history"); !strings.Contains(h, "中原区民政局 将案件分派给 中原区民政局") || !strings.Contains(h, "确认疑点属实：已停发；应追缴 2800.00 元") || strings.Contains(h, "{") {
		t.Errorf("history not in sentences: %q", h)
	}
	if r := text(t, ctx, "#route"); !strings.HasPrefix(r, "中原区") {
		t.Errorf("route %q", r)
	}

	// Export the current filter.
	dl := t.TempDir()
	yes := true
	done := make(chan string, 1)
	if err := chromedp.ListenBrowser(ctx, func(ev any) {
		if p, ok := ev.(*browser.EventDownloadProgress); ok && p.State == browser.DownloadProgressStateCompleted {
			select {
			case done <- p.GUID:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dl, EventsEnabled: &yes}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx,
		chromedp.Navigate(e.URL+"/cases?status="),
		chromedp.WaitVisible(chromedp.ID("export")),
		chromedp.Click(chromedp.ID("export")))
	var guid string
	select {
	case guid = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("export did not download")
	}
	x, err := excelize.OpenFile(filepath.Join(dl, guid))
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := x.GetRows("案件")
	x.Close()
	if len(rows) != 3 || rows[0][1] != "姓名" || !strings.Contains(rows[1][2]+rows[2][2], "********") {
		t.Fatalf("export: %v", rows)
	}

	// A reviewer of another county cannot see the case.
	ctx2, cancel2 := newBrowser(t, exe)
	defer cancel2()
	do(t, ctx2, browserLogin("mz_jinshui", e.URL))
	total := text(t, ctx2, "#total")
	do(t, ctx2, chromedp.Navigate(caseURL), chromedp.WaitVisible(chromedp.CSS("main")))
	if body := text(t, ctx2, "main"); total != "1" || !strings.Contains(body, "不在您的权限范围内") || strings.Contains(body, "张三") {
		t.Fatalf("other county: total %q body %q", total, body)
	}

	// The English switch.
	do(t, ctx2, clickAndLoad(chromedp.ID("lang")), chromedp.WaitVisible(chromedp.CSS("main")),
		chromedp.Navigate(e.URL+"/cases"), chromedp.WaitVisible(chromedp.ID("nav-queue")))
	if h := text(t, ctx2, "#nav-queue"); h != "Cases" {
		t.Errorf("English nav %q", h)
	}
}
