package report_test

import (
	"bytes"
	"context"
	"flag"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

var updateShots = flag.Bool("update-screenshots", false, "write the screenshots shown in the README (docs/img/)")

// chromium returns the headless Chromium to drive, or skips.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped under -short")
	}
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if p != "" {
			if _, err := exec.LookPath(p); err == nil {
				return p
			}
		}
	}
	t.Skip("no chromium")
	return ""
}

// page is a browser tab that records console errors and blocks (and
// records) every request that leaves the local files.
type page struct {
	ctx      context.Context
	mu       sync.Mutex
	errors   []string
	external []string
}

func openPage(t *testing.T, width, height int) *page {
	exe := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, tcancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { tcancel(); cancel(); acancel() })
	p := &page{ctx: ctx}
	paused := make(chan *fetch.EventRequestPaused, 64)
	if err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == "error" || e.Type == "warning" {
				p.add(&p.errors, "console."+string(e.Type))
			}
		case *runtime.EventExceptionThrown:
			p.add(&p.errors, "exception: "+e.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError {
				p.add(&p.errors, "log: "+e.Entry.Text+" "+e.Entry.URL)
			}
		case *fetch.EventRequestPaused:
			select {
			case paused <- e:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-paused:
				u := e.Request.URL
				if strings.HasPrefix(u, "file:") || strings.HasPrefix(u, "data:") {
					chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: e.RequestID})
					continue
				}
				p.add(&p.external, u)
				chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: e.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
			}
		}
	}()
	return p
}

func (p *page) add(list *[]string, s string) {
	p.mu.Lock()
	*list = append(*list, s)
	p.mu.Unlock()
}

func (p *page) snapshot() (errs, ext []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errors...), append([]string(nil), p.external...)
}

func (p *page) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func (p *page) visibleText(t *testing.T) string {
	t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (p *page) count(t *testing.T, css string) int {
	t.Helper()
	n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll(`+jsString(css)+`)).filter(e => e.getClientRects().length > 0).length`))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func jsString(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// nonWhite is the share of pixels of a PNG that are not (almost) white.
func nonWhite(t *testing.T, b []byte) (float64, image.Rectangle) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	r := img.Bounds()
	n, all := 0, 0
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			all++
			if cr < 0xf000 || cg < 0xf000 || cb < 0xf000 {
				n++
			}
		}
	}
	return float64(n) / float64(all), r
}

// TestRunReport runs the sample twice through the binary (the second time
// with a changed parameter, so there is a trend) and opens report.html in
// headless Chromium: no console error, no request outside the file,
// names instead of codes in both languages, every section drawn, and a
// screenshot that is not blank.
func TestRunReport(t *testing.T) {
	chromium(t)
	jobFile := sample(t)
	dir := filepath.Dir(jobFile)
	out1, out2 := filepath.Join(dir, "out1"), filepath.Join(dir, "out2")
	r := mustRun(t, dir, nil, "run", "--config", "job.yaml", "--out", out1)
	if !strings.Contains(r.stdout, filepath.Join(out1, "report.html")) {
		t.Errorf("the summary does not name report.html:\n%s", r.stdout)
	}
	editJob(t, jobFile, "deceased_after_death: {grace_months: 0}", "deceased_after_death: {grace_months: 1}")
	mustRun(t, dir, nil, "run", "--config", "job.yaml", "--out", out2)
	html, err := os.ReadFile(filepath.Join(out2, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	// Self-contained: no reference to anything outside the page.
	for _, bad := range []string{"http://", "https://", "<link", "src=", "@import", "url("} {
		if bytes.Contains(bytes.ReplaceAll(html, []byte(`xmlns="http://www.w3.org/2000/svg"`), nil), []byte(bad)) {
			t.Errorf("report.html contains %q", bad)
		}
	}
	// No personal data: the sample's ID numbers and names stay out.
	for _, pd := range []string{"41108219", "张", "王秀"} {
		if bytes.Contains(html, []byte(pd)) {
			t.Errorf("report.html contains personal data %q", pd)
		}
	}

	p := openPage(t, 1400, 1000)
	p.do(t, chromedp.Navigate("file://"+filepath.Join(out2, "report.html")), chromedp.WaitVisible(chromedp.ID("kpis")))
	zh := p.visibleText(t)
	for _, want := range []string{"惠民惠农补贴资金比对运行报告", "长葛市", "鄢陵县", "死亡后仍发放", "重复发放", "高龄津贴",
		"公安户籍", "历次运行趋势", "在用规则及参数", "grace_months", "身份匹配", "内存峰值"} {
		if !strings.Contains(zh, want) {
			t.Errorf("zh page lacks %q", want)
		}
	}
	for _, code := range []string{"411082", "411024", "one_card", "data_quality"} {
		if strings.Contains(zh, code) {
			t.Errorf("zh page shows the code %q where a name belongs", code)
		}
	}
	if strings.Contains(zh, "Paid after death") {
		t.Errorf("English text visible in the Chinese page")
	}
	// Charts: the county chart has one bar per county, the trend one per run.
	if n := p.count(t, "#by-county-zh svg.chart:first-of-type rect"); n != 2 {
		t.Errorf("%d county bars, want 2", n)
	}
	if n := p.count(t, "#trend-zh rect"); n != 2 {
		t.Errorf("%d trend columns, want 2 runs", n)
	}
	shotZH, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}

	p.do(t, chromedp.Click(chromedp.ID("lang")), chromedp.WaitVisible(chromedp.ID("by-category-en")))
	en := p.visibleText(t)
	for _, want := range []string{"Subsidy screening run report", "Paid after death", "Duplicate payment", "By county", "Not in the household registry",
		"Trend over runs", "长葛市", "Data quality per source"} {
		if !strings.Contains(en, want) {
			t.Errorf("en page lacks %q", want)
		}
	}
	// (Rule titles exist in Chinese only: 死亡后仍发放 stays in the rule table.)
	if strings.Contains(en, "按疑点类别") || strings.Contains(en, "疑点数") || strings.Contains(en, "数据质量") {
		t.Errorf("Chinese labels visible in the English page")
	}
	shotEN, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if share, _ := nonWhite(t, shotEN); share < 0.05 {
		t.Errorf("English screenshot almost blank (%.1f%%)", 100*share)
	}
	if *updateShots {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "img", "report-en.png"), shotEN, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The interceptor works: a request the page makes to the network is
	// caught (so the empty list below means something).
	p.do(t, chromedp.Evaluate[chromedp.Void](`new Image().src = 'http://203.0.113.1/probe.png'`))
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, ext := p.snapshot()
		if len(ext) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	errs, ext := p.snapshot()
	if len(ext) != 1 || !strings.Contains(ext[0], "probe.png") {
		t.Errorf("requests outside the file: %v (want only the probe)", ext)
	}
	for _, e := range errs {
		if !strings.Contains(e, "probe.png") && !strings.Contains(e, "203.0.113.1") {
			t.Errorf("console: %s", e)
		}
	}

	share, bounds := nonWhite(t, shotZH)
	if bounds.Dy() < 1500 || share < 0.05 {
		t.Errorf("screenshot %v with %.1f%% non-white pixels: an empty page?", bounds, 100*share)
	}
	png := filepath.Join(t.TempDir(), "report.png")
	if *updateShots {
		png = filepath.Join("..", "..", "docs", "img", "report.png")
		os.MkdirAll(filepath.Dir(png), 0o755)
	}
	if err := os.WriteFile(png, shotZH, 0o644); err != nil {
		t.Fatal(err)
	}
	// The screenshot the README shows is there and not blank either.
	if b, err := os.ReadFile(filepath.Join("..", "..", "docs", "img", "report.png")); err != nil {
		t.Errorf("docs/img/report.png: %v (go test ./e2e/report -run TestRunReport -update-screenshots)", err)
	} else if s, _ := nonWhite(t, b); s < 0.05 {
		t.Errorf("docs/img/report.png is almost blank (%.1f%%)", 100*s)
	}
}
