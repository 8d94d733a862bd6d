package review_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// The reference fixture of the screening tests: a batch run of the sample
// (raw IDs, so the test can pick a person) and a reference store refreshed
// from the same job, both made by the built binary, once per test run.
var (
	refOnce  sync.Once
	refDir   string
	refStore string
	refRun   string
	refErr   error
)

func sampleJob(t testing.TB) string {
	p, err := filepath.Abs("../examples/henan-sample/job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func refFixture(t testing.TB) (store, runDir string) {
	t.Helper()
	bin := crosscheckBin(t)
	refOnce.Do(func() {
		if refDir, refErr = os.MkdirTemp("", "crosscheck-review-ref-"); refErr != nil {
			return
		}
		refStore, refRun = filepath.Join(refDir, "ref.duckdb"), filepath.Join(refDir, "run")
		for _, args := range [][]string{
			{"run", "--config", sampleJob(t), "--out", refRun, "--raw-ids", "-q"},
			{"store", "refresh", "--config", sampleJob(t), "--store", refStore, "-q"},
		} {
			cmd := exec.Command(bin, args...)
			if out, err := cmd.CombinedOutput(); err != nil {
				refErr = fmt.Errorf("crosscheck %s: %v\n%s", strings.Join(args, " "), err, out)
				return
			}
		}
	})
	if refErr != nil {
		t.Fatal(refErr)
	}
	return refStore, refRun
}

// readCSVFile reads a CSV (with or without a BOM) into maps by header.
func readCSVFile(t testing.TB, path string) []map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF")))).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("%s: %v", path, err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// runPayment is a payment of the batch run with its hits.
type runPayment struct {
	id, name, program, period string
	rules, categories         map[string]bool
}

// deceasedPayment picks the first payment (by serial) of the batch run that
// has a deceased_after_death hit and hits of the deceased category only:
// rules that read the payee's death, which a check of the person, program
// and period must raise alike.
func deceasedPayment(t testing.TB, runDir string) (string, *runPayment) {
	t.Helper()
	pays := map[string]*runPayment{}
	for _, h := range readCSVFile(t, filepath.Join(runDir, "hits.csv")) {
		p := pays[h["payment_id"]]
		if p == nil {
			p = &runPayment{id: h["id_number"], name: h["name"], program: h["program_code"], period: h["period"],
				rules: map[string]bool{}, categories: map[string]bool{}}
			pays[h["payment_id"]] = p
		}
		p.rules[h["rule_id"]], p.categories[h["category"]] = true, true
	}
	var serials []string
	for k := range pays {
		serials = append(serials, k)
	}
	sort.Strings(serials)
	for _, k := range serials {
		p := pays[k]
		if p.rules["deceased_after_death"] && len(p.categories) == 1 && len(p.id) == 18 {
			return k, p
		}
	}
	t.Fatal("the batch run has no payment with deceased hits only")
	return "", nil
}

func setKeys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// checkUsers adds a clerk with a tight check limit and raises the
// platform's limit above the default.
const checkUsers = `  - username: clerk
    name: 窗口受理员
    role: reviewer
    department: 民政局
    region: '4110'
    password_hash: '%s'
    check_rate: 0.01
    check_burst: 2
check_rate: 100
check_burst: 100
`

type checkAnswer struct {
	PersonKey string `json:"person_key"`
	Known     bool   `json:"known"`
	IDStatus  string `json:"id_status"`
	Hits      []struct {
		RuleID      string          `json:"rule_id"`
		Category    string          `json:"category"`
		Severity    string          `json:"severity"`
		Title       string          `json:"title"`
		Explanation string          `json:"explanation"`
		Evidence    json.RawMessage `json:"evidence"`
	} `json:"hits"`
}

// TestCheckAPIBinary drives `crosscheck serve --ref-store` built from the
// sample: the check of a deceased payee raises the batch run's rules for
// that payment, bad input is refused with 400, the clerk's burst ends in
// 429, and every check that answered is in the audit log, ID masked.
func TestCheckAPIBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a reference store with the binary")
	}
	store, runDir := refFixture(t)
	dir := t.TempDir()
	users := writeUsersFile(t, dir, fmt.Sprintf(checkUsers, hash(password)))
	p := spawn(t, "serve", "--store", filepath.Join(dir, "cases.duckdb"), "--users", users, "--ref-store", store,
		"--addr", "127.0.0.1:0", "--refresh-every", "-1s", "-q")
	base, err := p.waitURL(2 * time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	serial, pay := deceasedPayment(t, runDir)
	plat := bearer(t, base, platformToken)

	var got checkAnswer
	body := map[string]string{"id_number": pay.id, "name": pay.name, "program": pay.program, "period": pay.period}
	if code, b := plat.raw("POST", "/api/v1/check", body); code != 200 {
		t.Fatalf("check: %d %s", code, b)
	} else if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	} else if bytes.Contains(b, []byte(pay.id)) {
		t.Errorf("the answer holds the ID number unmasked: %s", b)
	}
	rules := map[string]bool{}
	for _, h := range got.Hits {
		rules[h.RuleID] = true
		if h.Explanation == "" || h.Title == "" || len(h.Evidence) < 3 {
			t.Errorf("hit %s without title, explanation or evidence", h.RuleID)
		}
	}
	if g, w := setKeys(rules), setKeys(pay.rules); g != w {
		t.Errorf("check of the payee of %s (%s %s): rules [%s], the batch run [%s]", serial, pay.program, pay.period, g, w)
	}
	if !got.Known || got.IDStatus != "valid" || !strings.Contains(got.PersonKey, "*") || got.PersonKey[:6] != pay.id[:6] {
		t.Errorf("person_key %q known %v id_status %q: want the masked key of a known person with a valid ID", got.PersonKey, got.Known, got.IDStatus)
	}
	answered := 1

	// Input validation: 400 with the field, messages in both languages.
	for _, c := range []struct {
		field string
		body  map[string]string
	}{
		{"id_number", map[string]string{"name": pay.name, "program": pay.program, "period": pay.period}},
		{"id_number", map[string]string{"id_number": "41108219690303", "name": pay.name, "program": pay.program, "period": pay.period}},
		{"name", map[string]string{"id_number": pay.id, "program": pay.program, "period": pay.period}},
		{"program", map[string]string{"id_number": pay.id, "name": pay.name, "program": "no_such_program", "period": pay.period}},
		{"period", map[string]string{"id_number": pay.id, "name": pay.name, "program": pay.program, "period": "2024-13"}},
		{"period", map[string]string{"id_number": pay.id, "name": pay.name, "program": pay.program}},
	} {
		code, b := plat.raw("POST", "/api/v1/check", c.body)
		var e struct{ Error, Field string }
		_ = json.Unmarshal(b, &e)
		if code != 400 || e.Field != c.field || !strings.Contains(e.Error, " / ") {
			t.Errorf("%v: %d %s, want 400 on field %s with a zh-CN / English message", c.body, code, b, c.field)
		}
	}
	if code, b := plat.raw("POST", "/api/v1/check", []byte(`{"id_number": 5`)); code != 400 {
		t.Errorf("broken JSON: %d %s", code, b)
	}

	// Roles: an analyst may not check; a reviewer (the clerk) may.
	if code, b := login(t, base, "analyst").raw("POST", "/api/v1/check", body); code != 403 {
		t.Errorf("analyst check: %d %s, want 403", code, b)
	}
	// The navigation links the form for roles that may check, not for analysts.
	for user, want := range map[string]bool{"mz_zhongyuan": true, "analyst": false} {
		c, _ := formLogin(t, base, user, password)
		_, page := c.page("/cases")
		code, _ := c.page("/check")
		if strings.Contains(page, `id="nav-check"`) != want || (code == 200) != want {
			t.Errorf("%s: link to /check %v, GET /check %d; want link and 200 %v", user, !want, code, want)
		}
	}
	// The clerk's bucket holds 2 and refills once in 100 s: the third is 429.
	clerk := login(t, base, "clerk")
	for i := 0; i < 2; i++ {
		if code, b := clerk.raw("POST", "/api/v1/check", body); code != 200 {
			t.Fatalf("clerk check %d: %d %s", i+1, code, b)
		}
		answered++
	}
	req, _ := http.NewRequest("POST", base+"/api/v1/check", strings.NewReader(`{}`))
	req.Header.Set("X-CSRF-Token", clerk.csrf)
	resp, err := clerk.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != 429 || ra < 1 {
		t.Errorf("clerk's third check: %d Retry-After %q, want 429 with Retry-After ≥ 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The limit is per user: the platform goes on.
	if code, b := plat.raw("POST", "/api/v1/check", body); code != 200 {
		t.Errorf("platform after the clerk's 429: %d %s", code, b)
	}
	answered++

	// Audit: one entry per answered check, masked ID, program, period, hits.
	var audit struct {
		Entries []struct {
			Actor    string `json:"actor"`
			Action   string `json:"action"`
			ObjectID string `json:"object_id"`
			Detail   string `json:"detail"`
		} `json:"entries"`
	}
	admin := login(t, base, "admin")
	if code := admin.do("GET", "/api/v1/audit?action=check&limit=100", nil, &audit); code != 200 {
		t.Fatalf("audit: %d", code)
	}
	if len(audit.Entries) != answered {
		t.Errorf("%d check entries in the audit log, want %d (the checks answered)", len(audit.Entries), answered)
	}
	actors := map[string]int{}
	for _, e := range audit.Entries {
		actors[e.Actor]++
		var d struct {
			Program, Period string
			Hits            int
		}
		_ = json.Unmarshal([]byte(e.Detail), &d)
		if e.Action != "check" || e.ObjectID == pay.id || !strings.Contains(e.ObjectID, "*") || strings.Contains(e.Detail, pay.id) ||
			d.Program != pay.program || d.Period != pay.period || d.Hits != len(got.Hits) {
			t.Errorf("audit entry %+v: want action check, the masked ID, program %s, period %s, %d hits", e, pay.program, pay.period, len(got.Hits))
		}
	}
	if actors["yikatong"] != 2 || actors["clerk"] != 2 {
		t.Errorf("audit actors %v, want yikatong 2 and clerk 2", actors)
	}

	// The load generator, bounded by count: applicants from a file, then
	// from the store's registry.
	ids := filepath.Join(dir, "ids.csv")
	if err := os.WriteFile(ids, []byte(pay.id+","+pay.name+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, src := range [][]string{{"--ids", ids}, {"--ref-store", store, "--sample", "3"}} {
		args := append([]string{"bench", "check", "--url", base, "--token", platformToken, "--program", pay.program, "--period", pay.period,
			"--clients", "2", "--requests", "4", "--duration", "5m", "--timeout", "2m", "--json"}, src...)
		code, so, se := run(t, args...)
		var res struct {
			Requests, OK, Errors, Hits int
			P50                        int64 `json:"p50_ns"`
			Max                        int64 `json:"max_ns"`
		}
		if code != 0 || json.Unmarshal([]byte(so), &res) != nil {
			t.Fatalf("bench check %v: %d\n%s\n%s", src, code, so, se)
		}
		if res.Requests != 4 || res.OK != 4 || res.Errors != 0 || res.P50 <= 0 || res.P50 > res.Max {
			t.Errorf("bench check %v: %+v, want 4 answered, no error, 0 < p50 ≤ max", src, res)
		}
		if src[0] == "--ids" && res.Hits != 4*len(got.Hits) {
			t.Errorf("bench check of the deceased payee 4 times: %d hits, want %d", res.Hits, 4*len(got.Hits))
		}
	}
}

// TestScreenAPIBinary: the stop-list POST /api/v1/screen answers for a
// roll of the sample is the stop-list.csv `crosscheck screen` writes for
// it, as JSON (multipart upload) and as .xlsx (raw body); a file that is
// not a roll is refused with 400.
func TestScreenAPIBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a reference store with the binary")
	}
	store, _ := refFixture(t)
	dir := t.TempDir()
	roll, err := filepath.Abs("../examples/henan-sample/data/长葛市一卡通发放名单202405.csv")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "screen")
	if code, so, se := run(t, "screen", "--store", store, "--roll", roll, "--out", out, "--raw-ids"); code != 0 {
		t.Fatalf("crosscheck screen: %d\n%s\n%s", code, so, se)
	}
	var want []string
	for _, r := range readCSVFile(t, filepath.Join(out, "stop-list.csv")) {
		sev := strings.Fields(r["严重程度 severity"])
		want = append(want, strings.Join([]string{r["发放流水号 payment_id"], r["账号 account"], r["身份证号 id_number"],
			r["金额 amount"], sev[len(sev)-1], r["原因 reason"], r["规则 rule_ids"]}, "|"))
	}
	if len(want) == 0 {
		t.Fatal("crosscheck screen stops nothing in the roll: nothing to compare")
	}

	users := writeUsersFile(t, dir, "max_roll_mb: 1\n")
	p := spawn(t, "serve", "--store", filepath.Join(dir, "cases.duckdb"), "--users", users, "--ref-store", store,
		"--addr", "127.0.0.1:0", "--refresh-every", "-1s", "-q")
	base, err := p.waitURL(2 * time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(roll)
	if err != nil {
		t.Fatal(err)
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("file", filepath.Base(roll))
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", base+"/api/v1/screen", &mp)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+platformToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("screen: %d %s", resp.StatusCode, b)
	}
	var res struct {
		Payments int64 `json:"payments"`
		Stops    []struct {
			PaymentID string   `json:"payment_id"`
			Account   string   `json:"account"`
			IDNumber  string   `json:"id_number"`
			Amount    float64  `json:"amount"`
			Severity  string   `json:"severity"`
			Reason    string   `json:"reason"`
			RuleIDs   []string `json:"rule_ids"`
		} `json:"stops"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range res.Stops {
		got = append(got, strings.Join([]string{s.PaymentID, s.Account, s.IDNumber, fmt.Sprintf("%.2f", s.Amount), s.Severity,
			s.Reason, strings.Join(s.RuleIDs, ",")}, "|"))
	}
	if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
		t.Errorf("API stop-list:\n%s\ncrosscheck screen's stop-list.csv:\n%s", g, w)
	}

	// The same roll as a raw body, answered as .xlsx: the serials in order.
	req, _ = http.NewRequest("POST", base+"/api/v1/screen?filename="+filepath.Base(roll)+"&format=xlsx", bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+platformToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.openxmlformats") {
		t.Fatalf("screen as xlsx: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	x, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := x.GetRows(x.GetSheetName(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want)+1 {
		t.Fatalf("xlsx has %d rows, want a header and %d stops", len(rows), len(want))
	}
	for i, s := range res.Stops {
		if rows[i+1][0] != s.PaymentID {
			t.Errorf("xlsx row %d: serial %s, want %s", i+2, rows[i+1][0], s.PaymentID)
		}
	}

	// Not a roll: a text file named .xlsx, a file with another extension,
	// a CSV whose header no payment source of the job fits.
	for name, body := range map[string]string{"roll.xlsx": "not a workbook", "roll.pdf": "%PDF-1.4", "roll.csv": "a,b,c\n1,2,3\n"} {
		req, _ = http.NewRequest("POST", base+"/api/v1/screen?filename="+name, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+platformToken)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d %s, want 400", name, resp.StatusCode, b)
		}
	}
	// Beyond max_roll_mb (1 MiB here): 413.
	big := bytes.Repeat([]byte("CG2405-9999,dibao,202405,411082196903031596,x,1,x,x,x,1.00,411082100003,20240522\n"), (1<<20)/80+100)
	req, _ = http.NewRequest("POST", base+"/api/v1/screen?filename=big.csv", bytes.NewReader(big))
	req.Header.Set("Authorization", "Bearer "+platformToken)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a roll of %d bytes with max_roll_mb 1: %d, want 413", len(big), resp.StatusCode)
	}
	// A reviewer may not screen rolls.
	if code, b := login(t, base, "mz_zhongyuan").raw("POST", "/api/v1/screen?filename=r.csv", data); code != 403 {
		t.Errorf("reviewer screen: %d %s, want 403", code, b)
	}
	// Audited: two screens, by the platform.
	var audit struct {
		Entries []struct {
			Actor  string `json:"actor"`
			Action string `json:"action"`
		} `json:"entries"`
	}
	if code := login(t, base, "admin").do("GET", "/api/v1/audit?action=screen.roll", nil, &audit); code != 200 || len(audit.Entries) != 2 {
		t.Errorf("audit of screens: %d %+v, want 2 entries", code, audit.Entries)
	}
}
