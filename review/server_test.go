package review_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/crosscheck/crosscheck/casestore"
)

func TestAccessControl(t *testing.T) {
	e := serve(t, buildStore(t, t.TempDir()))
	mine := caseOf(t, e.URL, "gaoling&rule=deceased_after_death", "410102") // 民政局 中原区 (one of two)
	jinshui := caseOf(t, e.URL, "dibao", "410105")                          // 民政局 金水区
	canlian := caseOf(t, e.URL, "canji", "410102")                          // 残联 中原区
	rv := login(t, e.URL, "mz_zhongyuan")

	t.Run("queue is scoped", func(t *testing.T) {
		cl := rv.cases("status=")
		if cl.Total != 2 {
			t.Fatalf("reviewer sees %d cases, want 2", cl.Total)
		}
		for _, c := range cl.Cases {
			if c.Dept != "民政局" || !strings.HasPrefix(c.Region, "410102") {
				t.Errorf("out of scope: %+v", c)
			}
			if strings.Contains(c.IDNumber, "19400305") || !strings.Contains(c.IDNumber, "*") {
				t.Errorf("ID number not masked: %s", c.IDNumber)
			}
		}
		if slices.Contains(ids(cl), jinshui) || slices.Contains(ids(cl), canlian) {
			t.Error("other department or region listed")
		}
		// A filter cannot widen the scope.
		if cl := rv.cases("status=&county=410105"); cl.Total != 0 {
			t.Errorf("county filter widened scope: %d", cl.Total)
		}
	})

	t.Run("guessing another case's id", func(t *testing.T) {
		for _, id := range []string{jinshui, canlian, "0000000000000000"} {
			code, body := rv.raw("GET", "/api/v1/cases/"+id, nil)
			if code != http.StatusNotFound || strings.Contains(string(body), "赵六") {
				t.Errorf("API GET %s: %d %s", id, code, body)
			}
			code, _ = rv.raw("POST", "/api/v1/cases/"+id+"/actions", map[string]any{"action": "note", "text": "x"})
			if code != http.StatusNotFound {
				t.Errorf("API action on %s: %d", id, code)
			}
		}
		ui, code := formLogin(t, e.URL, "mz_zhongyuan", password)
		if code != http.StatusSeeOther {
			t.Fatalf("form login: %d", code)
		}
		code, body := ui.page("/cases/" + jinshui)
		if code != http.StatusNotFound || strings.Contains(body, "赵六") {
			t.Errorf("UI GET other case: %d", code)
		}
		_, _ = ui.page("/cases/" + mine)
		resp, err := ui.hc.PostForm(e.URL+"/cases/"+jinshui+"/assign", url.Values{"csrf": {ui.csrf}})
		if err != nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("UI action on other case: %v %d", err, resp.StatusCode)
		}
		resp.Body.Close()
		code, _ = rv.raw("GET", "/api/v1/cases/"+mine, nil)
		if code != http.StatusOK {
			t.Errorf("own case: %d", code)
		}
	})

	t.Run("export is scoped and masked", func(t *testing.T) {
		code, body := rv.raw("GET", "/api/v1/export.xlsx?status=", nil)
		if code != 200 {
			t.Fatalf("export: %d %s", code, body)
		}
		x, err := excelize.OpenReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := x.GetRows("案件")
		if len(rows) != 3 || rows[0][0] != "案件编号" || rows[0][2] != "身份证号码" {
			t.Fatalf("export rows %v", rows)
		}
		for _, r := range rows[1:] {
			if r[5] != "民政局" || !strings.HasPrefix(r[8], "410102") || !strings.Contains(r[2], "********") {
				t.Errorf("export row %v", r)
			}
		}
		if code, _ := rv.raw("GET", "/api/v1/export.xlsx?raw=1&reason=x", nil); code != http.StatusForbidden {
			t.Errorf("reviewer raw export: %d", code)
		}
	})

	t.Run("stop list and dashboard are scoped", func(t *testing.T) {
		adm := login(t, e.URL, "admin")
		for _, id := range []string{jinshui, mine} {
			var cur struct {
				Case struct{ Version int } `json:"case"`
			}
			adm.do("GET", "/api/v1/cases/"+id, nil, &cur)
			v := cur.Case.Version
			for _, a := range []map[string]any{{"action": "assign", "assignee": "admin"}, {"action": "confirm",
				"outcome": map[string]any{"payment_stopped": true, "amount_to_recover": 2400}}} {
				a["version"] = v
				var out struct {
					Case struct{ Version int } `json:"case"`
				}
				if code := adm.do("POST", "/api/v1/cases/"+id+"/actions", a, &out); code != 200 {
					t.Fatalf("%v: %d", a, code)
				}
				v = out.Case.Version
			}
		}
		var sl struct {
			Entries []struct {
				CaseID   string `json:"case_id"`
				IDNumber string `json:"id_number"`
			} `json:"entries"`
		}
		rv.do("GET", "/api/v1/stoplist", nil, &sl)
		if len(sl.Entries) != 1 || sl.Entries[0].CaseID != mine || !strings.Contains(sl.Entries[0].IDNumber, "*") {
			t.Errorf("reviewer stop list %+v", sl)
		}
		pf := bearer(t, e.URL, platformToken)
		pf.do("GET", "/api/v1/stoplist", nil, &sl)
		if len(sl.Entries) != 2 || strings.Contains(sl.Entries[0].IDNumber, "*") {
			t.Errorf("platform stop list %+v", sl)
		}
		var st struct {
			Rules []casestore.RuleStat `json:"rules"`
		}
		rv.do("GET", "/api/v1/rules/stats", nil, &st)
		n := 0
		for _, r := range st.Rules {
			n += r.Cases
		}
		if n != 2 {
			t.Errorf("reviewer dashboard counts %d cases", n)
		}
	})

	t.Run("roles", func(t *testing.T) {
		an := login(t, e.URL, "analyst")
		if code, _ := an.raw("POST", "/api/v1/cases/"+mine+"/actions", map[string]any{"action": "assign", "assignee": "mz_zhongyuan"}); code != http.StatusForbidden {
			t.Errorf("analyst assigns: %d", code)
		}
		if code, _ := an.raw("POST", "/api/v1/cases/"+mine+"/actions", map[string]any{"action": "note", "text": "查看"}); code != 200 {
			t.Errorf("analyst note: %d", code)
		}
		if code, _ := rv.raw("GET", "/api/v1/audit", nil); code != http.StatusForbidden {
			t.Errorf("reviewer reads audit: %d", code)
		}
		if code, _ := rv.raw("PUT", "/api/v1/params", map[string]any{"params": casestore.DefaultParams(), "reason": "x"}); code != http.StatusForbidden {
			t.Errorf("reviewer sets params: %d", code)
		}
		if code, _ := rv.raw("POST", "/api/v1/runs", []byte("x")); code != http.StatusForbidden {
			t.Errorf("reviewer imports: %d", code)
		}
		// Assigning a case to a reviewer of another county is refused.
		var cur struct {
			Case struct{ Version int } `json:"case"`
		}
		age := caseOf(t, e.URL, "gaoling&rule=age_range", "410102")
		rv.do("GET", "/api/v1/cases/"+age, nil, &cur)
		if code, _ := rv.raw("POST", "/api/v1/cases/"+age+"/actions", map[string]any{"action": "assign", "assignee": "mz_jinshui", "version": cur.Case.Version}); code != http.StatusBadRequest {
			t.Errorf("assign out of scope: %d", code)
		}
		pf := bearer(t, e.URL, platformToken)
		if code, _ := pf.raw("POST", "/api/v1/cases/"+mine+"/actions", map[string]any{"action": "dismiss", "reason": "eligible"}); code != http.StatusForbidden {
			t.Errorf("platform dismisses: %d", code)
		}
		if code, _ := bearer(t, e.URL, "wrong").raw("GET", "/api/v1/cases", nil); code != http.StatusUnauthorized {
			t.Errorf("bad token: %d", code)
		}
	})

	t.Run("CSRF and cookies", func(t *testing.T) {
		c := login(t, e.URL, "mz_zhongyuan")
		tok := c.csrf
		c.csrf = ""
		if code, _ := c.raw("POST", "/api/v1/cases/"+mine+"/actions", map[string]any{"action": "note", "text": "x"}); code != http.StatusForbidden {
			t.Errorf("no CSRF header: %d", code)
		}
		c.csrf = "forged"
		if code, _ := c.raw("POST", "/api/v1/cases/"+mine+"/actions", map[string]any{"action": "note", "text": "x"}); code != http.StatusForbidden {
			t.Errorf("wrong CSRF header: %d", code)
		}
		c.csrf = tok
		ui, _ := formLogin(t, e.URL, "mz_zhongyuan", password)
		resp, _ := ui.hc.PostForm(e.URL+"/cases/"+mine+"/note", url.Values{"text": {"x"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("form without CSRF: %d", resp.StatusCode)
		}
		resp.Body.Close()
		// Cookie attributes.
		resp, _ = http.Post(e.URL+"/api/v1/session", "application/json", strings.NewReader(`{"username":"admin","password":"`+password+`"}`))
		resp.Body.Close()
		var found bool
		for _, ck := range resp.Cookies() {
			if ck.Name == "cc_session" {
				found = true
				if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
					t.Errorf("session cookie %+v", ck)
				}
			}
		}
		if !found {
			t.Error("no session cookie")
		}
		if code, _ := newClient(t, e.URL).raw("GET", "/api/v1/cases", nil); code != http.StatusUnauthorized {
			t.Errorf("anonymous API: %d", code)
		}
		resp, _ = newClient(t, e.URL).hc.Get(e.URL + "/cases")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Errorf("anonymous page: %d", resp.StatusCode)
		}
		resp.Body.Close()
	})

	t.Run("login lockout", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			if _, code := formLogin(t, e.URL, "analyst", "wrong"); code != http.StatusUnauthorized {
				t.Fatalf("bad password: %d", code)
			}
		}
		if _, code := formLogin(t, e.URL, "analyst", password); code != http.StatusUnauthorized {
			t.Errorf("locked user signed in: %d", code)
		}
	})

	t.Run("audit, metrics and health", func(t *testing.T) {
		adm := login(t, e.URL, "admin")
		var au struct {
			Entries []casestore.AuditEntry `json:"entries"`
		}
		adm.do("GET", "/api/v1/audit?actor=mz_zhongyuan&limit=1000", nil, &au)
		kinds := map[string]int{}
		for _, x := range au.Entries {
			kinds[x.Action]++
		}
		for _, k := range []string{"view.queue", "view.case", "export.xlsx", "view.stoplist", "login"} {
			if kinds[k] == 0 {
				t.Errorf("no %s in the audit log: %v", k, kinds)
			}
		}
		if v := metricValue(t, e, "crosscheck_review_actions_total", "action", "confirm"); v != 2 {
			t.Errorf("confirm actions metric %v", v)
		}
		code, body := newClient(t, e.URL).raw("GET", "/metrics", nil)
		if code != 200 || !strings.Contains(string(body), `crosscheck_review_cases{age="0-3d",department="民政局",status="new"}`) ||
			!strings.Contains(string(body), "crosscheck_review_http_request_duration_seconds_bucket") {
			t.Errorf("metrics: %d\n%s", code, body)
		}
		if code, body := newClient(t, e.URL).raw("GET", "/healthz", nil); code != 200 || !strings.HasPrefix(string(body), "ok") {
			t.Errorf("healthz: %d %s", code, body)
		}
	})
}

// metricValue reads one labelled sample from the registry the server was given.
func metricValue(t *testing.T, e *env, name, label, value string) float64 {
	t.Helper()
	mfs, err := e.Reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

func TestWorkflowThroughAPI(t *testing.T) {
	e := serve(t, buildStore(t, t.TempDir()))
	rv := login(t, e.URL, "mz_zhongyuan")
	cl := rv.cases("rule=deceased_after_death")
	if cl.Total != 1 {
		t.Fatalf("cases %d", cl.Total)
	}
	id, v := cl.Cases[0].ID, cl.Cases[0].Version
	step := func(a map[string]any, want int) int {
		t.Helper()
		a["version"] = v
		var out struct {
			Case struct {
				Version int    `json:"version"`
				Status  string `json:"status"`
			} `json:"case"`
		}
		code := rv.do("POST", "/api/v1/cases/"+id+"/actions", a, &out)
		if code != want {
			t.Fatalf("%v: %d, want %d", a, code, want)
		}
		if code == 200 {
			v = out.Case.Version
		}
		return code
	}
	step(map[string]any{"action": "assign"}, 400) // no assignee
	step(map[string]any{"action": "assign", "assignee": "mz_zhongyuan"}, 200)
	step(map[string]any{"action": "confirm"}, 400) // no outcome
	step(map[string]any{"action": "verify", "text": "村委会入户核实：本人已于2023年3月去世"}, 200)
	stale := v - 1
	if code, _ := rv.raw("POST", "/api/v1/cases/"+id+"/actions", map[string]any{"action": "dismiss", "reason": "eligible", "version": stale}); code != http.StatusConflict {
		t.Errorf("stale version: %d", code)
	}
	step(map[string]any{"action": "confirm", "outcome": map[string]any{"payment_stopped": true, "amount_to_recover": 2800, "referred_to_discipline": true}}, 200)
	pf := bearer(t, e.URL, platformToken)
	var res struct {
		Results []struct {
			CaseID string `json:"case_id"`
			Status int    `json:"status"`
		} `json:"results"`
	}
	pf.do("POST", "/api/v1/outcomes", map[string]any{"outcomes": []map[string]any{
		{"case_id": id, "outcome": map[string]any{"payment_stopped": true, "amount_to_recover": 2800, "amount_recovered": 2800, "referred_to_discipline": true}},
		{"case_id": "nonexistent", "outcome": map[string]any{}}}}, &res)
	if len(res.Results) != 2 || res.Results[0].Status != 200 || res.Results[1].Status != 404 {
		t.Fatalf("outcomes %+v", res)
	}
	var d struct {
		Case struct {
			Version int                `json:"version"`
			Outcome *casestore.Outcome `json:"outcome"`
			Parts   casestore.Priority `json:"priority"`
		} `json:"case"`
		Hits []struct {
			Evidence []map[string]any `json:"evidence"`
		} `json:"hits"`
		Events []casestore.Event `json:"events"`
	}
	rv.do("GET", "/api/v1/cases/"+id, nil, &d)
	if d.Case.Outcome == nil || d.Case.Outcome.Recovered != 2800 || len(d.Events) != 5 || len(d.Hits) != 1 || len(d.Hits[0].Evidence) != 2 {
		t.Fatalf("detail %+v", d)
	}
	if b, _ := json.Marshal(d.Hits[0].Evidence); strings.Contains(string(b), "194003051237") {
		t.Errorf("evidence not masked: %s", b)
	}
	v = d.Case.Version
	step(map[string]any{"action": "close"}, 200)
	step(map[string]any{"action": "reopen"}, 400)
}
