package review_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/casestore/casetest"
	"github.com/crosscheck/crosscheck/review"
)

const (
	password      = "correct horse"
	platformToken = "platform-token-for-tests-0123456789abcdef"
	zhong         = "410102003004" // 中原区
	jin           = "410105001002" // 金水区
)

func hash(pw string) string {
	h, _ := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	return string(h)
}

func testUsers() []*review.User {
	h := hash(password)
	sum := sha256.Sum256([]byte(platformToken))
	return []*review.User{
		{Username: "admin", Name: "财政局管理员", Role: casestore.RoleAdmin, PasswordHash: h},
		{Username: "analyst", Name: "分析员", Role: casestore.RoleAnalyst, PasswordHash: h},
		{Username: "mz_zhongyuan", Name: "中原区民政局", Role: casestore.RoleReviewer, Department: "民政局", Region: "410102", PasswordHash: h},
		{Username: "mz_jinshui", Name: "金水区民政局", Role: casestore.RoleReviewer, Department: "民政局", Region: "410105", PasswordHash: h},
		{Username: "cl_zhongyuan", Name: "中原区残联", Role: casestore.RoleReviewer, Department: "残联", Region: "410102", PasswordHash: h},
		{Username: "yikatong", Name: "一卡通平台", Role: casestore.RolePlatform, TokenSHA256: hex.EncodeToString(sum[:])},
	}
}

// fixtureHits: two cases in 中原区 民政局, one in 金水区 民政局, one in 中原区 残联.
func fixtureHits() []casetest.Hit {
	a := casetest.Death("run1", "2024-05", "410102194003051237", "张三", "gaoling", "高龄津贴", "民政局", zhong, 200, 2, "2023-03-05")
	a.Severity = "high"
	return []casetest.Hit{a,
		casetest.Age("run1", "2024-05", "410102195001012343", "李四", "gaoling", "高龄津贴", "民政局", zhong, 200, 3, "1950-01-01"),
		casetest.Death("run1", "2024-05", "410105193001011234", "赵六", "dibao", "城乡低保", "民政局", jin, 300, 4, "2024-01-02"),
		casetest.Death("run1", "2024-05", "410102194003051237", "张三", "canji", "残疾人两项补贴", "残联", zhong, 100, 5, "2023-03-05"),
	}
}

// buildStore creates a store file with the fixture imported.
func buildStore(t testing.TB, dir string) string {
	t.Helper()
	ctx := context.Background()
	hits := filepath.Join(dir, "hits.parquet")
	if err := casetest.WriteHits(ctx, hits, fixtureHits()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cases.duckdb")
	s, err := casestore.Open(ctx, path, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, hits, casestore.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

type env struct {
	URL   string
	Store *casestore.Store
	Reg   *prometheus.Registry
	srv   *http.Server
}

// startServer opens the store and serves it on a loopback port.
func startServer(storePath, tmp string, extra ...*review.User) (*env, func(), error) {
	ctx := context.Background()
	var log *slog.Logger
	if os.Getenv("CROSSCHECK_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	st, err := casestore.Open(ctx, storePath, casestore.Options{Log: log})
	if err != nil {
		return nil, nil, err
	}
	users, err := review.NewUsers(append(testUsers(), extra...), time.Hour)
	if err != nil {
		return nil, nil, err
	}
	reg := prometheus.NewRegistry()
	srv, err := review.New(review.Config{Store: st, Users: users, Registry: reg, RefreshEvery: -1, TempDir: tmp})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	e := &env{URL: "http://" + ln.Addr().String(), Store: st, Reg: reg, srv: hs}
	return e, func() {
		hs.Close()
		srv.Close()
		st.Close()
	}, nil
}

// serve starts a server for the test.
func serve(t testing.TB, storePath string) *env {
	t.Helper()
	e, stop, err := startServer(storePath, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return e
}

// client is a signed-in API client (cookie session + CSRF header).
type client struct {
	t    testing.TB
	base string
	hc   *http.Client
	csrf string
	tok  string
}

// transport keeps connections to the test server open for many clients.
var transport = &http.Transport{MaxIdleConns: 200, MaxIdleConnsPerHost: 200, IdleConnTimeout: time.Minute}

func newClient(t testing.TB, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func login(t testing.TB, base, user string) *client {
	t.Helper()
	c := newClient(t, base)
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	if code := c.do("POST", "/api/v1/session", map[string]string{"username": user, "password": password}, &out); code != 200 {
		t.Fatalf("login %s: %d", user, code)
	}
	c.csrf = out.CSRF
	return c
}

func bearer(t testing.TB, base, token string) *client {
	c := newClient(t, base)
	c.tok = token
	return c
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
func (c *client) do(method, path string, body any, out any) int {
	c.t.Helper()
	code, b := c.raw(method, path, body)
	if out != nil && len(b) > 0 && code < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return code
}

func (c *client) raw(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		if b, ok := body.([]byte); ok {
			rd = bytes.NewReader(b)
		} else {
			j, _ := json.Marshal(body)
			rd = bytes.NewReader(j)
		}
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.tok != "" {
		req.Header.Set("Authorization", "Bearer "+c.tok)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// form signs in through the login page like a browser and returns the client.
func formLogin(t testing.TB, base, user, pw string) (*client, int) {
	c := newClient(t, base)
	resp, err := c.hc.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no csrf on login page")
	}
	resp, err = c.hc.PostForm(base+"/login", url.Values{"csrf": {string(m[1])}, "username": {user}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return c, resp.StatusCode
}

func (c *client) page(path string) (int, string) {
	resp, err := c.hc.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return resp.StatusCode, string(b)
}

type caseList struct {
	Total int `json:"total"`
	Cases []struct {
		ID       string `json:"case_id"`
		IDNumber string `json:"id_number"`
		Program  string `json:"program_code"`
		Dept     string `json:"department"`
		Region   string `json:"region_code"`
		Status   string `json:"status"`
		Version  int    `json:"version"`
	} `json:"cases"`
}

func (c *client) cases(q string) caseList {
	c.t.Helper()
	var out caseList
	if code := c.do("GET", "/api/v1/cases?"+q, nil, &out); code != 200 {
		c.t.Fatalf("cases: %d", code)
	}
	return out
}

func ids(cl caseList) []string {
	var out []string
	for _, c := range cl.Cases {
		out = append(out, c.ID)
	}
	return out
}

func caseOf(t testing.TB, base, program, county string) string {
	t.Helper()
	a := login(t, base, "admin")
	cl := a.cases("status=&program=" + program + "&county=" + county)
	if len(cl.Cases) != 1 {
		t.Fatalf("case of %s %s: %d", program, county, len(cl.Cases))
	}
	return cl.Cases[0].ID
}

func mustEnv(k string) string {
	v := os.Getenv(k)
	if v == "" {
		panic(fmt.Sprintf("%s not set", k))
	}
	return v
}

var _ = strings.Contains

// rawNoFatal is raw without failing the test on a transport error (for
// requests cut off by a crash); it returns code 0 then.
func rawNoFatal(c *client, method, path string, body any) (int, []byte) {
	j, ok := body.([]byte) // a file's bytes as they are
	if !ok {
		j, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(j))
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil
	}
	return resp.StatusCode, b
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
