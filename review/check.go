package review

// check.go serves the screening of one applicant (POST /api/v1/check and
// the clerk's /check form) and of one payment roll (POST /api/v1/screen)
// against the reference store that `crosscheck serve --ref-store` opened.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
	"github.com/crosscheck/crosscheck/rules"
	"github.com/crosscheck/crosscheck/rundir"
	"github.com/crosscheck/crosscheck/screen"
)

// Screener is what the server needs of a screen.Screener: the check of one
// applicant and the screen of one roll. Both must be safe for concurrent use.
type Screener interface {
	Check(ctx context.Context, a screen.Applicant) (*screen.CheckResult, error)
	Roll(ctx context.Context, in screen.RollInput, outDir string) (*screen.RollResult, error)
}

// ProgramOption is a program the clerk form offers and the check accepts.
type ProgramOption struct {
	Code, Name string
}

// checkLimiters holds one token bucket per user (a token is its user's).
type checkLimiters struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// allowCheck takes a token from the user's bucket; when it is empty it
// returns how long until the next token.
func (s *Server) allowCheck(u *User) (bool, time.Duration) {
	r, b := s.users.CheckRate, s.users.CheckBurst
	if u.CheckRate > 0 {
		r = u.CheckRate
	}
	if u.CheckBurst > 0 {
		b = u.CheckBurst
	}
	s.limits.mu.Lock()
	l := s.limits.m[u.Username]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(r), b)
		s.limits.m[u.Username] = l
	}
	s.limits.mu.Unlock()
	res := l.Reserve()
	if !res.OK() {
		return false, time.Second
	}
	if d := res.Delay(); d > 0 {
		res.Cancel()
		return false, d
	}
	return true, 0
}

// tooMany answers 429 with Retry-After in whole seconds (at least 1).
func tooMany(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Max(1, math.Ceil(wait.Seconds())))))
	writeError(w, http.StatusTooManyRequests, "核验过于频繁，请稍后再试 / too many checks: try again after Retry-After seconds")
}

// checkInput is an applicant as the API and the form take it.
type checkInput struct {
	IDNumber string `json:"id_number"`
	Name     string `json:"name"`
	Program  string `json:"program"`
	Period   string `json:"period"`
}

// inputError is a refused input: the field and a message in both languages.
type inputError struct{ Field, ZH, EN string }

func (e *inputError) Error() string { return e.ZH + " / " + e.EN }
func (e *inputError) in(lang string) string {
	return map[bool]string{true: e.EN, false: e.ZH}[lang == "en"]
}

var periodRE = regexp.MustCompile(`^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$`)

// validate trims the input and refuses what no check can answer: a missing
// or ill-formed ID number (not 15 or 18 digits, the last of 18 may be X —
// a wrong check digit is left to the screener, which repairs IDs against
// the registry as a batch run does), a missing name, a program the
// catalogue does not hold, a period that is not YYYY-MM.
func (s *Server) validate(in *checkInput) *inputError {
	in.IDNumber = idnumber.Clean(in.IDNumber)
	in.Name = strings.TrimSpace(in.Name)
	in.Program = strings.TrimSpace(in.Program)
	in.Period = strings.TrimSpace(in.Period)
	switch {
	case in.IDNumber == "":
		return &inputError{"id_number", "请填写身份证号码", "id_number is missing"}
	case !idShape(in.IDNumber):
		return &inputError{"id_number", "身份证号码格式不正确：应为18位（末位可为X）或15位数字",
			"id_number is ill-formed: want 18 characters (17 digits and a digit or X) or 15 digits"}
	case in.Name == "":
		return &inputError{"name", "请填写姓名", "name is missing"}
	case utf8.RuneCountInString(in.Name) > 64:
		return &inputError{"name", "姓名过长（最多64个字）", "name is longer than 64 characters"}
	case in.Program == "":
		return &inputError{"program", "请选择补贴项目", "program is missing"}
	case len(s.cfg.Programs) > 0 && s.programName(in.Program) == "":
		return &inputError{"program", "补贴项目 " + in.Program + " 不在项目目录中", "program " + in.Program + " is not in the catalogue"}
	case in.Period == "":
		return &inputError{"period", "请填写发放期间（年-月，如2024-05）", "period is missing (YYYY-MM, e.g. 2024-05)"}
	case !periodRE.MatchString(in.Period):
		return &inputError{"period", "发放期间 " + in.Period + " 格式不正确：应为年-月，如2024-05",
			"period " + in.Period + " is not YYYY-MM, e.g. 2024-05"}
	}
	return nil
}

func idShape(id string) bool {
	switch len(id) {
	case 15:
		return isDigits(id)
	case 18:
		return isDigits(id[:17]) && (id[17] == 'X' || (id[17] >= '0' && id[17] <= '9'))
	}
	return false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// programName names a catalogue program ("" when the catalogue lacks it).
func (s *Server) programName(code string) string {
	for _, p := range s.cfg.Programs {
		if p.Code == code {
			if p.Name == "" {
				return p.Code
			}
			return p.Name
		}
	}
	return ""
}

// checkHitJSON is one hit of a check as the API answers it.
type checkHitJSON struct {
	RuleID       string          `json:"rule_id"`
	Category     string          `json:"category"`
	CategoryName string          `json:"category_name"`
	Severity     string          `json:"severity"`
	Title        string          `json:"title"`
	TitleEN      string          `json:"title_en,omitempty"`
	Explanation  string          `json:"explanation"`
	Evidence     json.RawMessage `json:"evidence"`
}

// checkJSON is the API's answer to a check.
type checkJSON struct {
	PersonKey string         `json:"person_key"`
	Known     bool           `json:"known"`
	IDStatus  string         `json:"id_status"`
	Program   string         `json:"program"`
	Period    string         `json:"period"`
	Hits      []checkHitJSON `json:"hits"`
}

// runCheck checks an applicant and audits it: the answer is given only
// once its audit entry is durable. raw keeps ID numbers and accounts whole.
func (s *Server) runCheck(r *http.Request, rc *reqCtx, in checkInput, raw bool, via string) (*screen.CheckResult, error) {
	// At most check_concurrency checks at once: the screener screens the
	// checks waiting together in batches, one batch per CPU at a time
	// (engine/check_batch.go); this bounds the requests held open.
	select {
	case s.checkSlots <- struct{}{}:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	res, err := s.runCheckSlot(r, in, raw)
	<-s.checkSlots
	if err != nil {
		return nil, err
	}
	return s.auditCheck(r, rc, in, res, raw, via)
}

func (s *Server) runCheckSlot(r *http.Request, in checkInput, raw bool) (*screen.CheckResult, error) {
	return s.cfg.Screener.Check(r.Context(), screen.Applicant{IDNumber: in.IDNumber, Name: in.Name, Program: in.Program,
		Period: in.Period, RawEvidence: raw})
}

// auditCheck records an answered check; the answer is sent only after.
func (s *Server) auditCheck(r *http.Request, rc *reqCtx, in checkInput, res *screen.CheckResult, raw bool, via string) (*screen.CheckResult, error) {
	ids := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		ids[i] = h.RuleID
	}
	obj := idnumber.Mask(in.IDNumber)
	if s.users.AuditRawIDs {
		obj = in.IDNumber
	}
	kind := "check"
	if raw {
		kind = "check.raw"
	}
	detail := map[string]any{"program": in.Program, "period": in.Period, "hits": len(res.Hits), "rules": ids,
		"id_status": res.IDStatus, "known": res.Known, "via": via}
	s.m.checks.WithLabelValues(via).Inc()
	if err := s.view(r, rc, kind, "person", obj, detail, ""); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *Server) apiCheck(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Screener == nil {
		writeError(w, http.StatusNotFound, "未配置参照库（crosscheck serve --ref-store）/ no reference store: start the server with --ref-store")
		return
	}
	if !rc.user.CanCheck() {
		writeError(w, http.StatusForbidden, "the "+string(rc.user.Role)+" role may not check applicants (admin, reviewer and platform may)")
		return
	}
	if ok, wait := s.allowCheck(rc.user); !ok {
		tooMany(w, wait)
		return
	}
	var in checkInput
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, http.StatusBadRequest, "请求体应为JSON：{id_number, name, program, period} / "+err.Error())
		return
	}
	if ie := s.validate(&in); ie != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": ie.Error(), "field": ie.Field})
		return
	}
	raw := wantRaw(r, rc)
	res, err := s.runCheck(r, rc, in, raw, "api")
	if err != nil {
		s.failCheck(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toCheckJSON(in, res, raw))
}

// failCheck answers a screener error: an unknown program is the caller's
// mistake (400), the rest is the server's.
func (s *Server) failCheck(w http.ResponseWriter, err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if errors.Is(err, screen.ErrUnknownProgram) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "补贴项目不在项目目录中 / " + err.Error(), "field": "program"})
		return
	}
	s.fail(w, err)
}

func toCheckJSON(in checkInput, res *screen.CheckResult, raw bool) checkJSON {
	out := checkJSON{PersonKey: res.PersonKey, Known: res.Known, IDStatus: res.IDStatus, Program: in.Program, Period: in.Period,
		Hits: make([]checkHitJSON, len(res.Hits))}
	if !raw {
		out.PersonKey = idnumber.Mask(res.PersonKey)
	}
	for i, h := range res.Hits {
		ev := h.Evidence // masked by the screener unless raw (screen.Applicant.RawEvidence)
		if !raw && len(ev) > 0 {
			// Again here: the screener's row of the applicant's synthetic
			// payment declares no personal columns; masking is idempotent.
			ev = json.RawMessage(dataset.MaskEvidence(string(ev), nil, false))
		}
		if len(ev) == 0 || !json.Valid(ev) {
			ev = json.RawMessage("null")
		}
		out.Hits[i] = checkHitJSON{RuleID: h.RuleID, Category: h.Category, CategoryName: rules.CategoryName(h.Category, "zh"),
			Severity: h.Severity, Title: h.Title, TitleEN: h.TitleEN, Explanation: h.Explanation, Evidence: ev}
	}
	return out
}

// ---- the clerk form ----

// checkView is what check.html shows.
type checkView struct {
	In       checkInput
	Programs []ProgramOption
	Done     bool // a check ran
	Result   *screen.CheckResult
	Hits     []checkHitView
	Masked   string
}

type checkHitView struct {
	screen.CheckHit
	TitleIn  string
	Category string
	Evidence []evRow
}

func (s *Server) checkPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Screener == nil || !rc.user.CanCheck() {
		s.render(w, r, rc, http.StatusNotFound, "error.html", nil, T(rc.lang, "check_unavailable"))
		return
	}
	v := checkView{Programs: s.cfg.Programs}
	if r.Method != http.MethodPost {
		s.render(w, r, rc, http.StatusOK, "check.html", v, "")
		return
	}
	v.In = checkInput{IDNumber: r.PostFormValue("id_number"), Name: r.PostFormValue("name"),
		Program: r.PostFormValue("program"), Period: r.PostFormValue("period")}
	if ok, wait := s.allowCheck(rc.user); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Max(1, math.Ceil(wait.Seconds())))))
		s.render(w, r, rc, http.StatusTooManyRequests, "check.html", v, T(rc.lang, "check_too_many"))
		return
	}
	if ie := s.validate(&v.In); ie != nil {
		s.render(w, r, rc, http.StatusBadRequest, "check.html", v, ie.in(rc.lang))
		return
	}
	res, err := s.runCheck(r, rc, v.In, false, "form")
	if err != nil {
		code, msg := http.StatusInternalServerError, T(rc.lang, "check_failed")
		if errors.Is(err, screen.ErrUnknownProgram) {
			code, msg = http.StatusBadRequest, (&inputError{"program", "补贴项目 " + v.In.Program + " 不在项目目录中",
				"program " + v.In.Program + " is not in the catalogue"}).in(rc.lang)
		} else {
			s.log.Error("check", "err", err)
		}
		s.render(w, r, rc, code, "check.html", v, msg)
		return
	}
	v.Done, v.Result, v.Masked = true, res, idnumber.Mask(v.In.IDNumber)
	for _, h := range res.Hits {
		h.Evidence = json.RawMessage(dataset.MaskEvidence(string(h.Evidence), nil, false))
		t := h.Title
		if rc.lang == "en" && h.TitleEN != "" {
			t = h.TitleEN
		}
		v.Hits = append(v.Hits, checkHitView{CheckHit: h, TitleIn: t, Category: rules.CategoryName(h.Category, rc.lang),
			Evidence: parseEvidence(string(h.Evidence), "", false)}) // the screener masked it
	}
	s.render(w, r, rc, http.StatusOK, "check.html", v, "")
}

// ---- screening a roll ----

// rollJSON is the API's answer to a screened roll.
type rollJSON struct {
	RunID     string     `json:"run_id"`
	File      string     `json:"file"`
	Payments  int64      `json:"payments"`
	Hits      int64      `json:"hits"`
	ElapsedMS int64      `json:"elapsed_ms"`
	Stops     []stopJSON `json:"stops"`
}

// stopJSON is one payment to stop, as the stop-list files have it.
type stopJSON struct {
	PaymentID   string   `json:"payment_id"`
	Account     string   `json:"account"`
	IDNumber    string   `json:"id_number"`
	Name        string   `json:"name"`
	ProgramCode string   `json:"program_code"`
	Program     string   `json:"program"`
	Period      string   `json:"period"`
	RegionCode  string   `json:"region_code"`
	Amount      float64  `json:"amount"`
	Reason      string   `json:"reason"`
	Severity    string   `json:"severity"`
	RuleIDs     []string `json:"rule_ids"`
}

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// readRoll saves the roll of a request (a multipart part named "file", or
// the raw body with ?filename=) and returns its path and file name.
func (s *Server) readRoll(w http.ResponseWriter, r *http.Request, dir string) (path, name string, form map[string]string, err error) {
	r.Body = http.MaxBytesReader(w, r.Body, int64(s.users.MaxRollMB)<<20)
	form = map[string]string{}
	save := func(name string, body io.Reader) (string, error) {
		ext := strings.ToLower(filepath.Ext(name))
		if ext != ".xlsx" && ext != ".csv" {
			return "", fmt.Errorf("发放名册应为 .xlsx 或 .csv 文件 / the roll must be an .xlsx or .csv file, not %q", name)
		}
		p := filepath.Join(dir, "roll"+ext)
		f, err := os.Create(p)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(f, body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("upload: %w", err)
		}
		return p, sniffRoll(p, ext)
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		name = filepath.Base(r.URL.Query().Get("filename"))
		if name == "." || name == "/" || name == "" {
			return "", "", nil, errors.New("请用 ?filename= 给出文件名，或以 multipart 字段 file 上传 / give the file name with ?filename=, or send the roll as the multipart field \"file\"")
		}
		path, err = save(name, r.Body)
		return path, name, form, err
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return "", "", nil, err
	}
	for {
		part, perr := mr.NextPart()
		if perr == io.EOF {
			break
		}
		if perr != nil {
			return "", "", nil, perr
		}
		field := part.FormName()
		if field == "file" && path == "" {
			name = filepath.Base(part.FileName())
			if path, err = save(name, part); err != nil {
				return "", "", nil, err
			}
			continue
		}
		if field == "program" || field == "period" || field == "source" {
			b, _ := io.ReadAll(io.LimitReader(part, 256))
			form[field] = strings.TrimSpace(string(b))
		}
	}
	if path == "" {
		return "", "", nil, errors.New("multipart 请求缺少 file 字段 / the multipart request has no \"file\" field")
	}
	return path, name, form, nil
}

// sniffRoll refuses a file whose content is not what its name says: an
// .xlsx is a zip ("PK\x03\x04"), a .csv is text (no NUL bytes in its start).
func sniffRoll(path, ext string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if n == 0 {
		return errors.New("发放名册为空 / the roll is empty")
	}
	if ext == ".xlsx" && !bytes.HasPrefix(head, []byte("PK\x03\x04")) {
		return errors.New("文件不是 .xlsx 工作簿 / the file is not an .xlsx workbook")
	}
	if ext == ".csv" && bytes.IndexByte(head, 0) >= 0 {
		return errors.New("文件不是文本CSV / the file is not a text CSV")
	}
	return nil
}

func (s *Server) apiScreen(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if s.cfg.Screener == nil {
		writeError(w, http.StatusNotFound, "未配置参照库（crosscheck serve --ref-store）/ no reference store: start the server with --ref-store")
		return
	}
	if !rc.user.CanScreen() {
		writeError(w, http.StatusForbidden, "the "+string(rc.user.Role)+" role may not screen rolls (admin and platform may)")
		return
	}
	dir, err := os.MkdirTemp(s.cfg.TempDir, "roll-")
	if err != nil {
		s.fail(w, err)
		return
	}
	defer os.RemoveAll(dir)
	path, name, form, err := s.readRoll(w, r, dir)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("发放名册超过 %d MiB / the roll is larger than max_roll_mb (%d MiB)", s.users.MaxRollMB, s.users.MaxRollMB))
			return
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q := r.URL.Query()
	arg := func(k string) string {
		if v := q.Get(k); v != "" {
			return v
		}
		return form[k]
	}
	in := screen.RollInput{Path: path, Source: arg("source"), Program: arg("program"), Period: arg("period")}
	if in.Period != "" && !periodRE.MatchString(in.Period) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "发放期间应为年-月，如2024-05 / period is not YYYY-MM, e.g. 2024-05", "field": "period"})
		return
	}
	// The platform stops payments by account and ID number: it gets them
	// whole, as it sent them; an admin gets them masked unless ?raw=1.
	raw := rc.user.Role == casestore.RolePlatform || q.Get("raw") == "1"
	in.RawIDs = raw
	sum, err := rundir.HashFile(path)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := filepath.Join(dir, "run")
	if s.cfg.ScreenDir != "" {
		out = filepath.Join(s.cfg.ScreenDir, time.Now().UTC().Format("20060102T150405Z")+"-"+rc.user.Username+"-"+sum[:8])
	}
	res, err := s.cfg.Screener.Roll(r.Context(), in, out)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		s.log.Warn("screen roll", "file", name, "err", err)
		writeError(w, http.StatusBadRequest, "无法按参照库的发放数据源读取该名册 / the file is not a roll this store's job can read: "+err.Error())
		return
	}
	stops := make([]stopJSON, len(res.Stops))
	for i, e := range res.Stops {
		stops[i] = stopJSON{PaymentID: e.PaymentID, Account: e.Account, IDNumber: e.IDNumber, Name: e.Name, ProgramCode: e.ProgramCode,
			Program: e.Program, Period: e.Period, RegionCode: e.RegionCode, Amount: e.Amount, Reason: e.Reason, Severity: e.Severity, RuleIDs: e.RuleIDs}
		if !raw {
			stops[i].IDNumber = idnumber.Mask(e.IDNumber)
			stops[i].Account = idnumber.MaskDigitRuns(e.Account)
		}
	}
	detail := map[string]any{"file": name, "sha256": sum, "run_id": res.RunID, "payments": res.Payments, "hits": res.Hits,
		"stops": len(stops), "program": in.Program, "period": in.Period, "source": in.Source, "raw": raw}
	if err := s.view(r, rc, "screen.roll", "roll", name, detail, ""); err != nil {
		s.fail(w, err)
		return
	}
	if q.Get("format") == "xlsx" || strings.Contains(r.Header.Get("Accept"), xlsxType) {
		b, err := os.ReadFile(filepath.Join(res.OutDir, "stop-list.xlsx"))
		if err != nil {
			s.fail(w, err)
			return
		}
		w.Header().Set("Content-Type", xlsxType)
		w.Header().Set("Content-Disposition", `attachment; filename="stop-list.xlsx"`)
		_, _ = w.Write(b)
		return
	}
	writeJSON(w, http.StatusOK, rollJSON{RunID: res.RunID, File: name, Payments: res.Payments, Hits: res.Hits,
		ElapsedMS: res.Elapsed.Milliseconds(), Stops: stops})
}
