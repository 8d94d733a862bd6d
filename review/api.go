package review

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %v", casestore.ErrInvalid, err)
	}
	return nil
}

func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	u, err := s.login(r, in.Username, in.Password)
	if err != nil {
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	ss := s.newSession(u)
	s.setSessionCookie(w, ss)
	writeJSON(w, http.StatusOK, map[string]any{"user": userJSON(u), "csrf_token": ss.csrf})
}

func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if rc.sess != nil {
		s.endSession(rc.sess)
		s.clearCookie(w, sessionCookie)
	}
	w.WriteHeader(http.StatusNoContent)
}

func userJSON(u *User) map[string]any {
	return map[string]any{"username": u.Username, "name": u.Name, "role": u.Role, "department": u.Department, "region": u.Region}
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	out := userJSON(rc.user)
	if rc.sess != nil {
		out["csrf_token"] = rc.sess.csrf
	}
	writeJSON(w, http.StatusOK, out)
}

// caseJSON is a case as the API returns it: the ID number masked unless raw.
type caseJSON struct {
	*casestore.Case
	IDNumber  string `json:"id_number"`
	DueState  string `json:"due_state"`
	Escalated bool   `json:"escalated"`
	Band      string `json:"priority_band"`
	Route     string `json:"route"`
}

func (s *Server) toJSON(c *casestore.Case, ck casestore.Clock, p casestore.Params, raw bool) caseJSON {
	id := c.IDNumber
	if !raw {
		id = idnumber.Mask(id)
	}
	return caseJSON{Case: c, IDNumber: id, DueState: ck.DueState(c), Escalated: ck.Escalated(c), Band: casestore.Band(c.Priority.Score), Route: c.Route(p)}
}

func wantRaw(r *http.Request, rc *reqCtx) bool {
	return r.URL.Query().Get("raw") == "1" && rc.user.Role != casestore.RolePlatform
}

func (s *Server) apiCases(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	p, _, _, err := s.queue(r, rc, false)
	if err != nil {
		s.fail(w, err)
		return
	}
	ck, prm := s.store.Clock(), s.store.Params()
	out := make([]caseJSON, len(p.Cases))
	for i, c := range p.Cases {
		out[i] = s.toJSON(c, ck, prm, false)
	}
	writeJSON(w, http.StatusOK, map[string]any{"total": p.Total, "page": p.Page, "page_size": p.PageSize, "cases": out})
}

type hitJSON struct {
	casestore.Hit
	IDNumber string          `json:"id_number"`
	Evidence json.RawMessage `json:"evidence"`
}

func (s *Server) apiCase(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	raw := wantRaw(r, rc)
	id := r.PathValue("id")
	d, err := s.store.Detail(r.Context(), rc.actor.Scope, id)
	if err != nil {
		s.fail(w, err)
		return
	}
	kind := "view.case"
	if raw {
		kind = "view.case.raw"
	}
	if err := s.view(r, rc, kind, "case", id, map[string]any{"api": true}, ""); err != nil {
		s.fail(w, err)
		return
	}
	hits := make([]hitJSON, len(d.HitList))
	for i, h := range d.HitList {
		ev, idn := h.Evidence, h.IDNumber
		if !raw {
			ev, idn = dataset.MaskEvidence(ev, nil, false), idnumber.Mask(idn)
		}
		hits[i] = hitJSON{Hit: h, IDNumber: idn, Evidence: json.RawMessage(ev)}
		if !json.Valid(hits[i].Evidence) {
			hits[i].Evidence = json.RawMessage("null")
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"case": s.toJSON(d.Case, s.store.Clock(), s.store.Params(), raw), "hits": hits, "events": d.Events})
}

func (s *Server) apiAction(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var a casestore.Action
	if err := decodeJSON(w, r, &a); err != nil {
		s.fail(w, err)
		return
	}
	c, err := s.store.Act(r.Context(), rc.actor, r.PathValue("id"), a)
	if err != nil {
		s.fail(w, err)
		return
	}
	s.m.actions.WithLabelValues(a.Kind).Inc()
	writeJSON(w, http.StatusOK, map[string]any{"case": s.toJSON(c, s.store.Clock(), s.store.Params(), false)})
}

func (s *Server) apiStopList(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q := r.URL.Query()
	var since time.Time
	if x := q.Get("since"); x != "" {
		t, err := time.Parse(time.RFC3339, x)
		if err != nil {
			writeError(w, http.StatusBadRequest, "since: want RFC 3339, e.g. 2024-06-01T00:00:00+08:00")
			return
		}
		since = t
	}
	list := s.store.StopList(rc.actor.Scope, q.Get("program"), since)
	// The platform needs the ID numbers to stop payments; others see them
	// masked unless they ask for raw.
	raw := rc.user.Role == casestore.RolePlatform || q.Get("raw") == "1"
	if !raw {
		for i := range list {
			list[i].IDNumber = idnumber.Mask(list[i].IDNumber)
		}
	}
	ids := make([]string, len(list))
	for i, e := range list {
		ids[i] = e.CaseID
	}
	if err := s.view(r, rc, "view.stoplist", "stoplist", q.Get("program"), map[string]any{"raw": raw, "cases": ids}, ""); err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"generated_at": time.Now().UTC(), "entries": list})
}

// apiOutcomes takes a batch of outcomes from the platform.
func (s *Server) apiOutcomes(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var in struct {
		Outcomes []struct {
			CaseID  string             `json:"case_id"`
			Outcome *casestore.Outcome `json:"outcome"`
			Note    string             `json:"note"`
		} `json:"outcomes"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		s.fail(w, err)
		return
	}
	if len(in.Outcomes) > 1000 {
		writeError(w, http.StatusBadRequest, "at most 1000 outcomes per request")
		return
	}
	type result struct {
		CaseID  string `json:"case_id"`
		Status  int    `json:"status"`
		Error   string `json:"error,omitempty"`
		Version int    `json:"version,omitempty"`
	}
	out := make([]result, 0, len(in.Outcomes))
	for _, o := range in.Outcomes {
		c, err := s.store.Act(r.Context(), rc.actor, o.CaseID, casestore.Action{Kind: casestore.ActOutcome, Outcome: o.Outcome, Text: o.Note})
		if err != nil {
			out = append(out, result{CaseID: o.CaseID, Status: statusOf(err), Error: err.Error()})
			continue
		}
		s.m.actions.WithLabelValues(casestore.ActOutcome).Inc()
		out = append(out, result{CaseID: o.CaseID, Status: http.StatusOK, Version: c.Version})
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
}

func (s *Server) apiRuleStats(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	writeJSON(w, http.StatusOK, map[string]any{"rules": s.store.RuleStats(rc.actor.Scope)})
}

func (s *Server) apiExceptions(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	list, err := s.store.Exceptions(r.Context(), rc.actor)
	if err != nil {
		s.fail(w, err)
		return
	}
	if err := s.view(r, rc, "view.exceptions", "exceptions", "", map[string]int{"entries": len(list)}, ""); err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"exceptions": list})
}

func (s *Server) apiExceptionAdd(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var in struct {
		Person      string `json:"person"`
		Name        string `json:"name"`
		RuleID      string `json:"rule_id"`
		ProgramCode string `json:"program_code"`
		Reason      string `json:"reason"`
		Owner       string `json:"owner"`
		Expires     string `json:"expires"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		s.fail(w, err)
		return
	}
	e := casestore.Exception{PersonKey: in.Person, Name: in.Name, RuleID: in.RuleID, ProgramCode: in.ProgramCode, Reason: in.Reason, Owner: in.Owner}
	if in.Expires != "" {
		t, err := time.ParseInLocation("2006-01-02", in.Expires, beijing)
		if err != nil {
			writeError(w, http.StatusBadRequest, "expires: want YYYY-MM-DD")
			return
		}
		e.Expires = &t
	}
	out, err := s.store.AddException(r.Context(), rc.actor, e)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) apiExceptionRevoke(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		s.fail(w, err)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad id")
		return
	}
	if err := s.store.RevokeException(r.Context(), rc.actor, id, in.Reason); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiParams(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	hist, err := s.store.ParamsHistory(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"params": s.store.Params(), "history": hist})
}

func (s *Server) apiParamsPut(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	in := struct {
		Params casestore.Params `json:"params"`
		Reason string           `json:"reason"`
	}{Params: casestore.DefaultParams()}
	if err := decodeJSON(w, r, &in); err != nil {
		s.fail(w, err)
		return
	}
	if err := s.store.SetParams(r.Context(), rc.actor, in.Params, in.Reason); err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"params": s.store.Params()})
}

func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q := r.URL.Query()
	n, _ := strconv.Atoi(q.Get("limit"))
	list, err := s.store.Audit(r.Context(), rc.actor, casestore.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), ObjectID: q.Get("object"), Limit: n})
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": list})
}

func (s *Server) apiRuns(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if rc.user.Role != casestore.RoleAdmin && rc.user.Role != casestore.RoleAnalyst {
		s.fail(w, casestore.ErrForbidden)
		return
	}
	runs, err := s.store.Runs(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
}

// apiImport takes a run's hits.parquet as the request body.
func (s *Server) apiImport(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if !rc.user.Role.CanAdmin() {
		s.fail(w, casestore.ErrForbidden)
		return
	}
	f, err := os.CreateTemp(s.cfg.TempDir, "hits-*.parquet")
	if err != nil {
		s.fail(w, err)
		return
	}
	defer os.Remove(f.Name())
	_, err = io.Copy(f, http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "upload: "+err.Error())
		return
	}
	if err := checkParquet(f.Name()); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var periods []string
	if p := r.URL.Query().Get("periods"); p != "" {
		periods = strings.Split(p, ",")
	}
	// A manifest path is not taken from the client; periods may be given.
	res, err := s.store.Import(r.Context(), f.Name(), casestore.ImportOptions{Periods: periods, Actor: &rc.actor, NoManifest: true})
	if err != nil {
		s.fail(w, err)
		return
	}
	s.m.imports.Inc()
	writeJSON(w, http.StatusOK, res)
}

// checkParquet refuses a file that is not a whole Parquet file: one starts
// and ends with the magic "PAR1" around its footer, so a text file, an
// empty body or an upload cut short is told apart before DuckDB reads it.
func checkParquet(path string) error {
	bad := fmt.Errorf("the body is not a Parquet file (send a run's hits.parquet as it is, Content-Type: application/octet-stream)")
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < 12 { // magic, footer length, magic
		return bad
	}
	head, tail := make([]byte, 4), make([]byte, 8)
	if _, err := f.ReadAt(head, 0); err != nil {
		return bad
	}
	if _, err := f.ReadAt(tail, fi.Size()-8); err != nil {
		return bad
	}
	footer := int64(binary.LittleEndian.Uint32(tail[:4]))
	if string(head) != "PAR1" || string(tail[4:]) != "PAR1" || footer <= 0 || footer > fi.Size()-12 {
		return bad
	}
	return nil
}

// pageParams reads page and page_size: absent is the default (0), a value
// that is not a number, negative or beyond casestore.MaxPage is invalid.
func pageParams(q url.Values) (page, size int, err error) {
	for _, x := range []struct {
		name string
		v    *int
		max  int
	}{{"page", &page, casestore.MaxPage}, {"page_size", &size, casestore.MaxPage}} {
		s := q.Get(x.name)
		if s == "" {
			continue
		}
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 0 || n > x.max {
			return 0, 0, fmt.Errorf("%w: %s must be a whole number from 0 to %d", casestore.ErrInvalid, x.name, x.max)
		}
		*x.v = n
	}
	return page, size, nil
}
