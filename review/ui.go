package review

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

var beijing = time.FixedZone("CST", 8*3600)

func parseTemplates() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, lang := range []string{"zh", "en"} {
		lang := lang
		funcs := template.FuncMap{
			"t":    func(k string) string { return T(lang, k) },
			"mask": idnumber.Mask,
			"money": func(x float64) string {
				return strconv.FormatFloat(x, 'f', 2, 64)
			},
			"pct":        func(x float64) string { return strconv.FormatFloat(100*x, 'f', 1, 64) + "%" },
			"f1":         func(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) },
			"band":       casestore.Band,
			"ruleTitle":  func(id string) string { return ruleTitleOf(lang, id) },
			"region":     regionName,
			"sheetsURL":  sheetsURL,
			"regionFull": regionFull,
			"categories": func(c []string) string { return strings.Join(categoryLabels(lang, c), "、") },
			"time": func(t any) string {
				switch x := t.(type) {
				case time.Time:
					return x.In(beijing).Format("2006-01-02 15:04")
				case *time.Time:
					if x == nil {
						return ""
					}
					return x.In(beijing).Format("2006-01-02 15:04")
				}
				return ""
			},
			"date": func(t *time.Time) string {
				if t == nil {
					return ""
				}
				// deadlines are midnight: show the last day allowed
				return t.In(beijing).Add(-time.Second).Format("2006-01-02")
			},
			"join": strings.Join,
			"add":  func(a, b int) int { return a + b },
			"eq2":  func(a, b string) bool { return a == b },
		}
		t := template.New(lang).Funcs(funcs)
		var err error
		if t, err = t.ParseFS(templateFS, "templates/*.html"); err != nil {
			return nil, err
		}
		out[lang] = t
	}
	return out, nil
}

// page is what every template gets.
type page struct {
	Lang    string
	User    *User
	CSRF    string
	Path    string
	Error   string
	Flash   string
	IsAdmin bool
	// CanCheck shows the link to the applicant check (/check).
	CanCheck bool
	D        any
}

func (s *Server) pageOf(r *http.Request, rc *reqCtx, d any, errMsg string) page {
	p := page{Lang: langOf(r), Path: r.URL.RequestURI(), D: d, Error: errMsg}
	if rc != nil {
		p.User, p.IsAdmin = rc.user, rc.user.Role == casestore.RoleAdmin
		p.CanCheck = s.cfg.Screener != nil && rc.user.CanCheck()
		if rc.sess != nil {
			p.CSRF = rc.sess.csrf
		}
	}
	if r.URL.Query().Get("done") != "" {
		p.Flash = T(p.Lang, "done")
	}
	return p
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, rc *reqCtx, code int, name string, d any, errMsg string) {
	p := s.pageOf(r, rc, d, errMsg)
	var buf bytes.Buffer
	if err := s.tmpl[p.Lang].ExecuteTemplate(&buf, name, p); err != nil {
		s.log.Error("render", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// ---- login ----

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.sessionOf(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, code int, msg string) {
	pre := randomToken()
	http.SetCookie(w, &http.Cookie{Name: preCookie, Value: pre, Path: "/login", HttpOnly: true, Secure: s.cfg.CookieSecure,
		SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	p := page{Lang: langOf(r), CSRF: pre, Path: r.URL.RequestURI(), Error: msg, D: map[string]string{"Next": safeNext(r.FormValue("next"))}}
	var buf bytes.Buffer
	if err := s.tmpl[p.Lang].ExecuteTemplate(&buf, "login.html", p); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
	c, err := r.Cookie(preCookie)
	if err != nil || r.PostFormValue("csrf") == "" || r.PostFormValue("csrf") != c.Value {
		http.Error(w, "invalid CSRF token: reload the sign-in page", http.StatusForbidden)
		return
	}
	lang := langOf(r)
	u, err := s.login(r, r.PostFormValue("username"), r.PostFormValue("password"))
	if err != nil {
		msg := T(lang, "bad_login")
		if errors.Is(err, errLocked) {
			msg = T(lang, "locked")
		}
		s.renderLogin(w, r, http.StatusUnauthorized, msg)
		return
	}
	if old := s.sessionOf(r); old != nil {
		s.endSession(old)
	}
	s.setSessionCookie(w, s.newSession(u))
	s.clearCookie(w, preCookie)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.endSession(rc.sess)
	s.clearCookie(w, sessionCookie)
	_ = s.store.LogView(r.Context(), rc.actor, "logout", "user", rc.user.Username, nil, "")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// ---- queue ----

func filterOf(q url.Values) casestore.Filter {
	f := casestore.Filter{Program: q.Get("program"), Rule: q.Get("rule"), County: q.Get("county"), Status: q.Get("status"),
		Priority: q.Get("priority"), Due: q.Get("due"), Assignee: q.Get("assignee"), Flag: q.Get("flag")}
	if !q.Has("status") {
		f.Status = "open"
	}
	return f
}

func filterQuery(f casestore.Filter) url.Values {
	v := url.Values{}
	for k, x := range map[string]string{"program": f.Program, "rule": f.Rule, "county": f.County, "priority": f.Priority,
		"due": f.Due, "assignee": f.Assignee, "flag": f.Flag} {
		if x != "" {
			v.Set(k, x)
		}
	}
	v.Set("status", f.Status)
	return v
}

// queueData is the data of the queue page (templates/queue.html, written
// by writeQueueBody).
type queueData struct {
	F         casestore.Filter
	Facets    casestore.Facets
	Programs  []kv
	Rows      []*casestore.Case
	Total     int
	Page      int
	Pages     int
	PrevURL   string
	NextURL   string
	ExportURL string
	Statuses  []string
}

type kv struct{ K, V string }

// queue reads the requested page of the queue and records the view; with
// facets, it also returns the scope's filter choices.
func (s *Server) queue(r *http.Request, rc *reqCtx, facets bool) (*casestore.Page, casestore.Filter, *scopeFacets, error) {
	q := r.URL.Query()
	f := filterOf(q)
	pg, size, err := pageParams(q)
	if err != nil {
		return nil, f, nil, err
	}
	var p *casestore.Page
	var fc *scopeFacets
	if facets {
		p, fc, err = s.queueFacets(rc.actor.Scope, f, pg, size)
	} else {
		p, err = s.store.Queue(rc.actor.Scope, f, pg, size)
	}
	if err != nil {
		return nil, f, nil, err
	}
	ids := make([]string, len(p.Cases))
	for i, c := range p.Cases {
		ids[i] = c.ID
	}
	if err := s.view(r, rc, "view.queue", "queue", "", map[string]any{"filter": f, "page": p.Page, "total": p.Total, "cases": ids}, ""); err != nil {
		return nil, f, nil, err
	}
	return p, f, fc, nil
}

func (s *Server) queuePage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	p, f, fc, err := s.queue(r, rc, true)
	ck := s.store.Clock()
	if err != nil {
		s.renderQueue(w, r, rc, statusOf(err), &queueData{F: f, Statuses: casestore.Statuses}, ck, err.Error())
		return
	}
	d := &queueData{F: f, Facets: fc.facets, Programs: fc.programs, Rows: p.Cases, Total: p.Total, Page: p.Page, Statuses: casestore.Statuses}
	d.Pages = (p.Total + p.PageSize - 1) / p.PageSize
	v := filterQuery(f)
	if p.Page > 1 {
		v.Set("page", strconv.Itoa(p.Page-1))
		d.PrevURL = "/cases?" + v.Encode()
	}
	if p.Page < d.Pages {
		v.Set("page", strconv.Itoa(p.Page+1))
		d.NextURL = "/cases?" + v.Encode()
	}
	v.Del("page")
	d.ExportURL = "/export.xlsx?" + v.Encode()
	s.renderQueue(w, r, rc, http.StatusOK, d, ck, "")
}

// ---- case detail ----

// evRow is one evidence row with its values in the order sent.
type evRow struct {
	Source, Title, File string
	Row                 int64
	Values              []evKV
	Payment             bool
}

// evKV is one evidence value; Note names a region code (长葛市坡胡镇).
type evKV struct{ K, V, Note string }

// regionNote names the division of a value that is a region code (6, 9
// or 12 digits under a header naming a code or division); "" otherwise.
func regionNote(header, v string) string {
	if !(strings.Contains(header, "区划") || strings.Contains(header, "代码") || strings.Contains(header, "户籍所在地")) {
		return ""
	}
	if n := len(v); n != 6 && n != 9 && n != 12 {
		return ""
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return ""
		}
	}
	if full := regionFull(v); full != v[:min(len(v), 9)] && full != v {
		return full
	}
	return ""
}

// parseEvidence reads the evidence JSON keeping the order of values.
// Unless raw, it masks the personal identifiers each evidence row declares
// ("personal": header → kind, from the canonical columns' declaration in
// package dataset), so payment serials, region codes and 户号 stay
// readable; rows from runs before that declaration are masked by digit
// runs. Names stay readable: the reviewer checks them.
func parseEvidence(s string, paySource string, mask bool) []evRow {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil
	}
	var out []evRow
	for _, m := range raw {
		var e struct {
			Source   string                      `json:"source"`
			Title    string                      `json:"title"`
			File     string                      `json:"file"`
			Row      int64                       `json:"row"`
			Values   json.RawMessage             `json:"values"`
			Personal map[string]dataset.Personal `json:"personal"`
		}
		if json.Unmarshal(m, &e) != nil {
			continue
		}
		row := evRow{Source: e.Source, Title: e.Title, File: e.File, Row: e.Row, Payment: e.Source == paySource}
		dec := json.NewDecoder(bytes.NewReader(e.Values))
		if tok, err := dec.Token(); err == nil && tok == json.Delim('{') {
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					break
				}
				var v any
				if dec.Decode(&v) != nil {
					break
				}
				key, val := fmt.Sprint(kt), ""
				if v != nil {
					val = fmt.Sprint(v)
				}
				if mask {
					if e.Personal == nil {
						val = idnumber.MaskDigitRuns(val)
					} else if p := e.Personal[key]; p.Masked(false) {
						val = p.Mask(val)
					}
				}
				row.Values = append(row.Values, evKV{key, val, regionNote(key, val)})
			}
		}
		out = append(out, row)
	}
	return out
}

type hitView struct {
	casestore.Hit
	Evidence []evRow
}

// historyRow is a case history entry with its sentence.
type historyRow struct {
	casestore.Event
	ActorName, Sentence string
}

// auditRow is an audit entry with its sentence.
type auditRow struct {
	casestore.AuditEntry
	ActorName, Sentence string
}

type caseData struct {
	C         *casestore.Detail
	History   []historyRow
	Sources   []string // titles of the case's agreeing sources
	Hits      []hitView
	Due       string
	Escalated bool
	Raw       bool
	CanRaw    bool
	Route     string
	Assignees []*User
	Reasons   []string
	W         casestore.Weights
	CanDecide bool
	CanNote   bool
	IsMine    bool
	Parts     []part
}

type part struct {
	Key, Input string
	Points     float64
	Weight     float64
}

func (s *Server) caseDetail(r *http.Request, rc *reqCtx, id string, raw bool) (*caseData, error) {
	d, err := s.store.Detail(r.Context(), rc.actor.Scope, id)
	if err != nil {
		return nil, err
	}
	kind := "view.case"
	if raw {
		kind = "view.case.raw"
	}
	if err := s.view(r, rc, kind, "case", id, nil, ""); err != nil {
		return nil, err
	}
	ck := s.store.Clock()
	p := s.store.Params()
	cd := &caseData{C: d, Due: ck.DueState(d.Case), Escalated: ck.Escalated(d.Case), Raw: raw, CanRaw: rc.user.Role != casestore.RolePlatform,
		Route: d.Route(p), Reasons: casestore.DismissReasons, W: p.Weights, CanDecide: rc.user.Role.CanDecide(),
		CanNote: rc.user.Role.CanNote(), IsMine: d.Assignee == rc.user.Username}
	for _, h := range d.HitList {
		cd.Hits = append(cd.Hits, hitView{Hit: h, Evidence: parseEvidence(h.Evidence, h.PaymentSource, !raw)})
	}
	titles := sourceTitles(d.HitList)
	cd.Sources = sourceLabels(d.SourceList, titles)
	for _, e := range d.Events {
		cd.History = append(cd.History, historyRow{Event: e, ActorName: s.personName(e.Actor), Sentence: eventSentence(rc.lang, e, s.personName)})
	}
	for _, u := range s.users.Users {
		if u.Role == casestore.RoleReviewer && u.CanBeAssigned(d.Case) {
			cd.Assignees = append(cd.Assignees, u)
		}
	}
	c := d.Case
	cd.Parts = []part{
		{"severity", T(rc.lang, c.Severity), c.Priority.Severity, p.Weights.Severity},
		{"sources", fmt.Sprintf("%d（%s）", c.Sources, strings.Join(cd.Sources, "、")), c.Priority.Sources, p.Weights.Sources},
		{"link_score", strconv.FormatFloat(c.LinkProbability, 'f', 2, 64), c.Priority.Link, p.Weights.Link},
		{"money", strconv.FormatFloat(c.AmountPerMonth, 'f', 2, 64), c.Priority.Money, p.Weights.Money},
		{"precision", strconv.FormatFloat(100*c.RulePrecision, 'f', 1, 64) + "%", c.Priority.Precision, p.Weights.Precision},
	}
	return cd, nil
}

func (s *Server) casePage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	raw := r.URL.Query().Get("raw") == "1" && rc.user.Role != casestore.RolePlatform
	cd, err := s.caseDetail(r, rc, r.PathValue("id"), raw)
	if err != nil {
		s.failAny(w, r, rc, err)
		return
	}
	s.render(w, r, rc, http.StatusOK, "case.html", cd, "")
}

func parseMoney(s string) (float64, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, ",", ""))
	if s == "" {
		return 0, nil
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not an amount", casestore.ErrInvalid, s)
	}
	return x, nil
}

func actionFromForm(r *http.Request, kind string, rc *reqCtx) (casestore.Action, error) {
	a := casestore.Action{Kind: kind, Reason: r.PostFormValue("reason"), Text: r.PostFormValue("text"), Assignee: r.PostFormValue("assignee")}
	a.Version, _ = strconv.Atoi(r.PostFormValue("version"))
	if kind == casestore.ActAssign && a.Assignee == "" {
		a.Assignee = rc.user.Username
	}
	if kind == casestore.ActConfirm || kind == casestore.ActOutcome {
		o := &casestore.Outcome{PaymentStopped: r.PostFormValue("payment_stopped") != "", Referred: r.PostFormValue("referred") != ""}
		var err error
		if o.ToRecover, err = parseMoney(r.PostFormValue("to_recover")); err != nil {
			return a, err
		}
		if o.Recovered, err = parseMoney(r.PostFormValue("recovered")); err != nil {
			return a, err
		}
		a.Outcome = o
	}
	return a, nil
}

func (s *Server) caseAction(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	id, kind := r.PathValue("id"), r.PathValue("action")
	r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
	a, err := actionFromForm(r, kind, rc)
	if err == nil {
		_, err = s.store.Act(r.Context(), rc.actor, id, a)
	}
	if err != nil {
		code := statusOf(err)
		if code == http.StatusNotFound {
			s.render(w, r, rc, code, "error.html", nil, T(rc.lang, "not_found"))
			return
		}
		cd, derr := s.caseDetail(r, rc, id, false)
		if derr != nil {
			s.render(w, r, rc, statusOf(derr), "error.html", nil, derr.Error())
			return
		}
		s.render(w, r, rc, code, "case.html", cd, err.Error())
		return
	}
	s.m.actions.WithLabelValues(kind).Inc()
	http.Redirect(w, r, "/cases/"+url.PathEscape(id)+"?done="+kind, http.StatusSeeOther)
}

// ---- dashboard ----

type dashData struct {
	Stats  []casestore.RuleStat
	Totals map[string]int
	Runs   []map[string]any
}

func (s *Server) dashboardPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d := &dashData{Stats: s.store.RuleStats(rc.actor.Scope), Totals: map[string]int{}}
	for _, st := range d.Stats {
		d.Totals["cases"] += st.Cases
	}
	if rc.user.Role == casestore.RoleAdmin || rc.user.Role == casestore.RoleAnalyst {
		d.Runs, _ = s.store.Runs(r.Context())
	}
	s.render(w, r, rc, http.StatusOK, "dashboard.html", d, "")
}

// ---- exception register ----

func (s *Server) exceptionsPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.renderExceptions(w, r, rc, http.StatusOK, "")
}

func (s *Server) renderExceptions(w http.ResponseWriter, r *http.Request, rc *reqCtx, code int, msg string) {
	list, err := s.store.Exceptions(r.Context(), rc.actor)
	if err != nil {
		s.render(w, r, rc, statusOf(err), "error.html", nil, err.Error())
		return
	}
	if err := s.view(r, rc, "view.exceptions", "exceptions", "", map[string]int{"entries": len(list)}, ""); err != nil {
		s.render(w, r, rc, statusOf(err), "error.html", nil, err.Error())
		return
	}
	s.render(w, r, rc, code, "exceptions.html", map[string]any{"List": list, "CanEdit": rc.user.Role.CanExceptions(), "Now": time.Now()}, msg)
}

func exceptionFromForm(r *http.Request) (casestore.Exception, error) {
	e := casestore.Exception{PersonKey: r.PostFormValue("person"), Name: r.PostFormValue("name"), RuleID: r.PostFormValue("rule_id"),
		ProgramCode: r.PostFormValue("program_code"), Reason: r.PostFormValue("reason"), Owner: r.PostFormValue("owner")}
	if x := r.PostFormValue("expires"); x != "" {
		t, err := time.ParseInLocation("2006-01-02", x, beijing)
		if err != nil {
			return e, fmt.Errorf("%w: expires %q is not YYYY-MM-DD", casestore.ErrInvalid, x)
		}
		e.Expires = &t
	}
	return e, nil
}

func (s *Server) exceptionAdd(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	e, err := exceptionFromForm(r)
	if err == nil {
		_, err = s.store.AddException(r.Context(), rc.actor, e)
	}
	if err != nil {
		s.renderExceptions(w, r, rc, statusOf(err), err.Error())
		return
	}
	http.Redirect(w, r, "/exceptions?done=1", http.StatusSeeOther)
}

func (s *Server) exceptionRevoke(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err := s.store.RevokeException(r.Context(), rc.actor, id, r.PostFormValue("reason")); err != nil {
		s.renderExceptions(w, r, rc, statusOf(err), err.Error())
		return
	}
	http.Redirect(w, r, "/exceptions?done=1", http.StatusSeeOther)
}

// ---- parameters and audit (admin) ----

func (s *Server) paramsPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.renderParams(w, r, rc, http.StatusOK, "", "")
}

func (s *Server) renderParams(w http.ResponseWriter, r *http.Request, rc *reqCtx, code int, text, msg string) {
	if rc.user.Role != casestore.RoleAdmin && rc.user.Role != casestore.RoleAnalyst {
		s.render(w, r, rc, http.StatusForbidden, "error.html", nil, casestore.ErrForbidden.Error())
		return
	}
	if text == "" {
		b, _ := json.MarshalIndent(s.store.Params(), "", "  ")
		text = string(b)
	}
	hist, _ := s.store.ParamsHistory(r.Context())
	s.render(w, r, rc, code, "params.html", map[string]any{"JSON": text, "History": hist, "CanEdit": rc.user.Role.CanAdmin()}, msg)
}

func (s *Server) paramsSubmit(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	text := r.PostFormValue("params")
	p := casestore.DefaultParams()
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	err := dec.Decode(&p)
	if err == nil {
		err = s.store.SetParams(r.Context(), rc.actor, p, r.PostFormValue("reason"))
	} else {
		err = fmt.Errorf("%w: %v", casestore.ErrInvalid, err)
	}
	if err != nil {
		s.renderParams(w, r, rc, statusOf(err), text, err.Error())
		return
	}
	http.Redirect(w, r, "/params?done=1", http.StatusSeeOther)
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q := r.URL.Query()
	list, err := s.store.Audit(r.Context(), rc.actor, casestore.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), ObjectID: q.Get("object"), Limit: 500})
	if err != nil {
		s.render(w, r, rc, statusOf(err), "error.html", nil, err.Error())
		return
	}
	rows := make([]auditRow, len(list))
	for i, a := range list {
		rows[i] = auditRow{AuditEntry: a, Sentence: auditSentence(rc.lang, a, s.personName), ActorName: s.personName(a.Actor)}
	}
	s.render(w, r, rc, http.StatusOK, "audit.html", map[string]any{"List": rows, "Q": map[string]string{
		"actor": q.Get("actor"), "action": q.Get("action"), "object": q.Get("object")}}, "")
}
