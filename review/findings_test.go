package review_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/casestore/casetest"
	"github.com/crosscheck/crosscheck/review"
)

// Findings of the review-server probe in issue 14, each tested here.

// The platform's bearer token reaches what docs/api.md grants the platform
// (me, stop-list, outcomes, rule statistics, parameters) and nothing else:
// not the case list, a case, actions, exports or case pages.
func TestPlatformTokenReachesOnlyItsGrant(t *testing.T) {
	dir := t.TempDir()
	pwPlatform := &review.User{Username: "yikatong_pw", Role: casestore.RolePlatform, PasswordHash: hash(password)}
	e, stop, err := startServer(buildStore(t, dir), t.TempDir(), pwPlatform)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	id := caseOf(t, e.URL, "gaoling&rule=deceased_after_death", "410102")
	pf := bearer(t, e.URL, platformToken)
	for _, x := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/me", nil},
		{"GET", "/api/v1/stoplist", nil},
		{"POST", "/api/v1/outcomes", map[string]any{"outcomes": []any{}}},
		{"GET", "/api/v1/rules/stats", nil},
		{"GET", "/api/v1/params", nil},
	} {
		if code, b := pf.raw(x.method, x.path, x.body); code != http.StatusOK {
			t.Errorf("platform %s %s: %d %s (granted by docs/api.md)", x.method, x.path, code, b)
		}
	}
	for _, x := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/cases", nil},
		{"GET", "/api/v1/cases?status=", nil},
		{"GET", "/api/v1/cases/" + id, nil},
		{"GET", "/api/v1/cases/" + id + "?raw=1", nil},
		{"POST", "/api/v1/cases/" + id + "/actions", map[string]any{"action": "note", "text": "x"}},
		{"GET", "/api/v1/export.xlsx", nil},
		{"GET", "/api/v1/export.xlsx?raw=1&reason=x", nil},
		{"GET", "/api/v1/exceptions", nil},
		{"GET", "/api/v1/audit", nil},
		{"GET", "/api/v1/runs", nil},
	} {
		code, b := pf.raw(x.method, x.path, x.body)
		if code != http.StatusForbidden || strings.Contains(string(b), "张三") {
			t.Errorf("platform %s %s: %d %.200s, want 403", x.method, x.path, code, b)
		}
	}
	// Pages: a bearer token is no session, and a platform account with a
	// password gets no page either.
	pw, code := formLogin(t, e.URL, "yikatong_pw", password)
	if code != http.StatusSeeOther {
		t.Fatalf("platform form login: %d", code)
	}
	for _, p := range []string{"/cases", "/cases/" + id, "/export.xlsx", "/dashboard", "/exceptions"} {
		if code, b := pf.raw("GET", p, nil); code == http.StatusOK || strings.Contains(string(b), "张三") {
			t.Errorf("platform token GET %s: %d", p, code)
		}
		if code, body := pw.page(p); code != http.StatusForbidden || strings.Contains(body, "张三") {
			t.Errorf("platform session GET %s: %d", p, code)
		}
	}
}

// next and back never send the browser to another site.
func TestRedirectsStayOnSite(t *testing.T) {
	e := serve(t, buildStore(t, t.TempDir()))
	bad := []string{"/\t/evil.com", "/\n/evil.com", "/\r//evil.com", "//evil.com", "/\\evil.com", "\\/evil.com", "https://evil.com",
		"http:/evil.com", "/\\/evil.com", "\t//evil.com", " //evil.com", "javascript:alert(1)", "/%5C%5Cevil.com"}
	pre := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	for _, next := range bad {
		// The sign-in form.
		c := newClient(t, e.URL)
		_, body := c.page("/login?next=" + url.QueryEscape(next))
		m := pre.FindStringSubmatch(body)
		if m == nil {
			t.Fatal("no csrf on the login page")
		}
		resp, err := c.hc.PostForm(e.URL+"/login", url.Values{"csrf": {m[1]}, "username": {"admin"}, "password": {password}, "next": {next}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !onSite(loc) {
			t.Errorf("login next=%q: %d Location %q", next, resp.StatusCode, loc)
		}
		// Signed in, /login?next= redirects at once.
		resp, err = c.hc.Get(e.URL + "/login?next=" + url.QueryEscape(next))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); !onSite(loc) {
			t.Errorf("signed-in login next=%q: Location %q", next, loc)
		}
		// The language switch.
		resp, err = c.hc.Get(e.URL + "/lang?to=en&back=" + url.QueryEscape(next))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); !onSite(loc) {
			t.Errorf("lang back=%q: Location %q", next, loc)
		}
	}
	// A page of the site is kept.
	c := newClient(t, e.URL)
	resp, err := c.hc.Get(e.URL + "/lang?to=zh&back=" + url.QueryEscape("/cases?status=new&page=2"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "/cases?status=new&page=2" {
		t.Errorf("on-site back: %q", loc)
	}
}

// onSite: what a browser does with the Location stays on this origin.
func onSite(loc string) bool {
	// Browsers drop tabs and newlines from URLs and read \ as /.
	clean := strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		if r == '\\' {
			return '/'
		}
		return r
	}, strings.TrimLeft(loc, " \x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"))
	u, err := url.Parse(clean)
	return err == nil && strings.HasPrefix(clean, "/") && !strings.HasPrefix(clean, "//") && u.Host == "" && u.Scheme == ""
}

// A page number (or page size) that overflows answers 400, not a panic.
func TestQueuePageOverflow(t *testing.T) {
	e := serve(t, buildStore(t, t.TempDir()))
	adm := login(t, e.URL, "admin")
	ui, code := formLogin(t, e.URL, "admin", password)
	if code != http.StatusSeeOther {
		t.Fatal(code)
	}
	for _, q := range []string{"page=9223372036854775807", "page=4611686018427387904", "page=99999999999999999999",
		"page=-9223372036854775808", "page=abc", "page_size=99999999999999999999", "page=2147483648&page_size=500"} {
		if code, b := adm.raw("GET", "/api/v1/cases?"+q, nil); code != http.StatusBadRequest {
			t.Errorf("API %s: %d %s", q, code, b)
		}
		if code, _ := ui.page("/cases?" + q); code != http.StatusBadRequest {
			t.Errorf("page %s: %d", q, code)
		}
	}
	// Paging past the end is an empty page, not an error.
	if cl := adm.cases("status=&page=1000"); len(cl.Cases) != 0 || cl.Total != 4 {
		t.Errorf("page past the end: %+v", cl)
	}
}

// POST /api/v1/runs with a body that is not Parquet answers 400.
func TestImportBodyNotParquet(t *testing.T) {
	dir := t.TempDir()
	e := serve(t, buildStore(t, dir))
	adm := login(t, e.URL, "admin")
	real := filepath.Join(dir, "run2.parquet")
	if err := casetest.Synthetic(context.Background(), real, "run2", "2024-06", 10); err != nil {
		t.Fatal(err)
	}
	pq, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{
		"text":          []byte("run_id,hit_id\nrun2,h1\n"),
		"empty":         {},
		"json":          []byte(`{"hits": []}`),
		"truncated":     pq[:len(pq)/2],
		"magic only":    []byte("PAR1PAR1"),
		"header intact": append([]byte("PAR1"), make([]byte, 64)...),
	} {
		code, b := adm.raw("POST", "/api/v1/runs?periods=2024-06", body)
		if code != http.StatusBadRequest || !strings.Contains(string(b), "Parquet") {
			t.Errorf("%s body: %d %s", name, code, b)
		}
	}
	// The store is unchanged and a real file still imports.
	if code, b := adm.raw("POST", "/api/v1/runs?periods=2024-06", pq); code != http.StatusOK {
		t.Errorf("real hits file: %d %s", code, b)
	}
}

// /metrics is open by default; metrics_access: signed_in in the users file
// asks for a session or a bearer token. Through the built binary.
func TestMetricsAccessThroughBinary(t *testing.T) {
	dir := t.TempDir()
	users := writeUsersFile(t, dir)
	store := filepath.Join(dir, "cases.duckdb")
	get := func(base, path, token string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if path == "/metrics" && resp.StatusCode == http.StatusOK && !strings.Contains(string(b), "crosscheck_review_") {
			t.Errorf("%s: no metrics in the answer", path)
		}
		return resp.StatusCode
	}
	start := func(usersFile string) string {
		p := spawnServe(t, store, usersFile)
		u, err := p.waitURL(60 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.stop(t) })
		return u
	}
	// Default: open.
	base := start(users)
	if code := get(base, "/metrics", ""); code != http.StatusOK {
		t.Errorf("default /metrics: %d", code)
	}
	// signed_in: 401 without credentials, 200 with a token or a session.
	b, _ := os.ReadFile(users)
	signed := filepath.Join(dir, "users-signed.yaml")
	if err := os.WriteFile(signed, append([]byte("metrics_access: signed_in\n"), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	store = filepath.Join(dir, "cases2.duckdb")
	base = start(signed)
	if code := get(base, "/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("signed_in /metrics without credentials: %d", code)
	}
	if code := get(base, "/metrics", "wrong-token"); code != http.StatusUnauthorized {
		t.Errorf("signed_in /metrics with a wrong token: %d", code)
	}
	if code := get(base, "/metrics", platformToken); code != http.StatusOK {
		t.Errorf("signed_in /metrics with a token: %d", code)
	}
	c := login(t, base, "analyst")
	if code, _ := c.raw("GET", "/metrics", nil); code != http.StatusOK {
		t.Errorf("signed_in /metrics with a session: %d", code)
	}
	if code := get(base, "/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	// A value that is neither is refused at start, naming the key.
	bad := filepath.Join(dir, "users-bad.yaml")
	os.WriteFile(bad, append([]byte("metrics_access: everyone\n"), b...), 0o600)
	code, _, errs := run(t, "serve", "--store", filepath.Join(dir, "cases3.duckdb"), "--users", bad, "--addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errs, "metrics_access") {
		t.Errorf("bad metrics_access: exit %d %s", code, errs)
	}
}
