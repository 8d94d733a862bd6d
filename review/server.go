package review

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/crosscheck/crosscheck/casestore"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures a Server.
type Config struct {
	Store *casestore.Store
	Users *Users
	// Registry receives the server's metrics and is served on /metrics.
	// nil makes a fresh one.
	Registry *prometheus.Registry
	Log      *slog.Logger
	// CookieSecure marks cookies Secure (set it when served over HTTPS,
	// directly or behind a proxy).
	CookieSecure bool
	// RefreshEvery recomputes priorities and deadlines on a timer (0: hourly; <0: never).
	RefreshEvery time.Duration
	// ExportLimit caps rows in an export (default 200000).
	ExportLimit int
	// MaxUpload caps an uploaded hits file (default 1 GiB).
	MaxUpload int64
	// TempDir holds uploaded hits files while they are imported, and rolls
	// while they are screened.
	TempDir string
	// Screener answers POST /api/v1/check, POST /api/v1/screen and the
	// /check form (nil: those answer 404). serve opens it on --ref-store.
	Screener Screener
	// Programs are the catalogue's programs: the form's choice, and the
	// check refuses others (empty: the screener decides).
	Programs []ProgramOption
	// ScreenDir keeps the run folder of each roll screened through the API
	// ("" : a temporary folder, removed after the answer).
	ScreenDir string
}

// Server is the review web server.
type Server struct {
	cfg   Config
	store *casestore.Store
	users *Users
	log   *slog.Logger
	tmpl  map[string]*template.Template
	mux   *http.ServeMux
	m     *metrics

	facetCache facetCache
	limits     checkLimiters
	checkSlots chan struct{}

	mu       sync.Mutex
	sessions map[string]*session
	failures map[string]*failure

	stopRefresh chan struct{}
	refreshWG   sync.WaitGroup
}

type session struct {
	id      string
	user    *User
	csrf    string
	expires time.Time
}

type failure struct {
	n     int
	first time.Time
}

// Login lockout: this many failures within the window lock the username for the window.
const (
	maxFailures   = 5
	failureWindow = 15 * time.Minute
)

// New builds a server; call Close to stop its background work.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Users == nil {
		return nil, errors.New("review: store and users are required")
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ExportLimit <= 0 {
		cfg.ExportLimit = 200000
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = 1 << 30
	}
	tuneGC(cfg.Log)
	s := &Server{cfg: cfg, store: cfg.Store, users: cfg.Users, log: cfg.Log, mux: http.NewServeMux(),
		sessions: map[string]*session{}, failures: map[string]*failure{}, stopRefresh: make(chan struct{}),
		limits: checkLimiters{m: map[string]*rate.Limiter{}}, checkSlots: make(chan struct{}, max(1, cfg.Users.CheckConcurrency))}
	var err error
	if s.tmpl, err = parseTemplates(); err != nil {
		return nil, err
	}
	if s.m, err = newMetrics(cfg.Registry, cfg.Store); err != nil {
		return nil, err
	}
	cfg.Store.SetAssigneeCheck(func(name string, c *casestore.Case) bool { return s.users.Get(name).CanBeAssigned(c) })
	s.routes()
	every := cfg.RefreshEvery
	if every == 0 {
		every = time.Hour
	}
	if every > 0 {
		s.refreshWG.Add(1)
		go s.refreshLoop(every)
	}
	return s, nil
}

// Close stops background work (the store stays open).
func (s *Server) Close() {
	select {
	case <-s.stopRefresh:
	default:
		close(s.stopRefresh)
	}
	s.refreshWG.Wait()
}

func (s *Server) refreshLoop(every time.Duration) {
	defer s.refreshWG.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stopRefresh:
			return
		case <-t.C:
			if err := s.store.Refresh(context.Background()); err != nil {
				s.log.Error("refresh priorities", "err", err)
			}
		}
	}
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.instrument(s.mux) }

func (s *Server) routes() {
	static, _ := fs.Sub(staticFS, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.FS(static))))
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.Handle("GET /metrics", s.metricsGate(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{Registry: s.cfg.Registry})))
	s.mux.HandleFunc("GET /lang", s.setLang)

	// UI
	s.mux.HandleFunc("GET /login", s.loginPage)
	s.mux.HandleFunc("POST /login", s.loginSubmit)
	s.mux.HandleFunc("POST /logout", s.uiFor(s.logout, true))
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/cases", http.StatusSeeOther) })
	s.mux.HandleFunc("GET /cases", s.ui(s.queuePage))
	s.mux.HandleFunc("GET /cases/{id}", s.ui(s.casePage))
	s.mux.HandleFunc("GET /cases/{id}/sheet", s.ui(s.caseSheet))
	s.mux.HandleFunc("GET /sheets", s.ui(s.filterSheets))
	s.mux.HandleFunc("POST /cases/{id}/{action}", s.ui(s.caseAction))
	s.mux.HandleFunc("GET /dashboard", s.ui(s.dashboardPage))
	s.mux.HandleFunc("GET /export.xlsx", s.ui(s.export))
	s.mux.HandleFunc("GET /exceptions", s.ui(s.exceptionsPage))
	s.mux.HandleFunc("POST /exceptions", s.ui(s.exceptionAdd))
	s.mux.HandleFunc("POST /exceptions/{id}/revoke", s.ui(s.exceptionRevoke))
	s.mux.HandleFunc("GET /params", s.ui(s.paramsPage))
	s.mux.HandleFunc("POST /params", s.ui(s.paramsSubmit))
	s.mux.HandleFunc("GET /audit", s.ui(s.auditPage))
	s.mux.HandleFunc("GET /check", s.ui(s.checkPage))
	s.mux.HandleFunc("POST /check", s.ui(s.checkPage))

	// JSON API
	s.mux.HandleFunc("POST /api/v1/session", s.apiLogin)
	// The platform role reaches only what docs/api.md grants it: itself,
	// the stop-list, outcomes, rule statistics and parameters.
	s.mux.HandleFunc("DELETE /api/v1/session", s.apiFor(s.apiLogout, true))
	s.mux.HandleFunc("GET /api/v1/me", s.apiFor(s.apiMe, true))
	s.mux.HandleFunc("GET /api/v1/cases", s.api(s.apiCases))
	s.mux.HandleFunc("GET /api/v1/cases/{id}", s.api(s.apiCase))
	s.mux.HandleFunc("POST /api/v1/cases/{id}/actions", s.api(s.apiAction))
	s.mux.HandleFunc("GET /api/v1/stoplist", s.apiFor(s.apiStopList, true))
	s.mux.HandleFunc("POST /api/v1/outcomes", s.apiFor(s.apiOutcomes, true))
	s.mux.HandleFunc("GET /api/v1/rules/stats", s.apiFor(s.apiRuleStats, true))
	s.mux.HandleFunc("GET /api/v1/export.xlsx", s.api(s.export))
	s.mux.HandleFunc("GET /api/v1/exceptions", s.api(s.apiExceptions))
	s.mux.HandleFunc("POST /api/v1/exceptions", s.api(s.apiExceptionAdd))
	s.mux.HandleFunc("POST /api/v1/exceptions/{id}/revoke", s.api(s.apiExceptionRevoke))
	s.mux.HandleFunc("GET /api/v1/params", s.apiFor(s.apiParams, true))
	s.mux.HandleFunc("PUT /api/v1/params", s.api(s.apiParamsPut))
	s.mux.HandleFunc("GET /api/v1/audit", s.api(s.apiAudit))
	s.mux.HandleFunc("GET /api/v1/runs", s.api(s.apiRuns))
	s.mux.HandleFunc("POST /api/v1/runs", s.api(s.apiImport))
	// Screening against the reference store (--ref-store): the platform,
	// reviewers and admins check applicants; the platform and admins screen rolls.
	s.mux.HandleFunc("POST /api/v1/check", s.apiFor(s.apiCheck, true))
	s.mux.HandleFunc("POST /api/v1/screen", s.apiFor(s.apiScreen, true))
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.DB().PingContext(ctx); err != nil {
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "ok %d cases\n", s.store.Count())
}

// ---- sessions and authentication ----

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

const (
	sessionCookie = "cc_session"
	preCookie     = "cc_pre"
	langCookie    = "cc_lang"
)

func (s *Server) newSession(u *User) *session {
	ss := &session{id: randomToken(), user: u, csrf: randomToken(), expires: time.Now().Add(s.users.SessionTTL)}
	s.mu.Lock()
	now := time.Now()
	for id, x := range s.sessions { // drop expired sessions
		if now.After(x.expires) {
			delete(s.sessions, id)
		}
	}
	s.sessions[ss.id] = ss
	s.mu.Unlock()
	return ss
}

func (s *Server) setSessionCookie(w http.ResponseWriter, ss *session) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: ss.id, Path: "/", HttpOnly: true, Secure: s.cfg.CookieSecure,
		SameSite: http.SameSiteStrictMode})
}

func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.CookieSecure,
		SameSite: http.SameSiteStrictMode})
}

// sessionOf returns the request's valid session, sliding its expiry.
func (s *Server) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[c.Value]
	if ss == nil {
		return nil
	}
	if time.Now().After(ss.expires) || ss.user.Disabled {
		delete(s.sessions, c.Value)
		return nil
	}
	ss.expires = time.Now().Add(s.users.SessionTTL)
	return ss
}

func (s *Server) endSession(ss *session) {
	s.mu.Lock()
	delete(s.sessions, ss.id)
	s.mu.Unlock()
}

// locked reports whether a username is locked out after failures.
func (s *Server) locked(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.failures[name]
	if f == nil {
		return false
	}
	if time.Since(f.first) > failureWindow {
		delete(s.failures, name)
		return false
	}
	return f.n >= maxFailures
}

func (s *Server) recordLogin(name string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		delete(s.failures, name)
		return
	}
	f := s.failures[name]
	if f == nil || time.Since(f.first) > failureWindow {
		f = &failure{first: time.Now()}
		s.failures[name] = f
	}
	f.n++
}

// login checks credentials with lockout and audit.
func (s *Server) login(r *http.Request, name, password string) (*User, error) {
	if s.locked(name) {
		s.m.logins.WithLabelValues("locked").Inc()
		s.auditSystem(r, name, "login.locked")
		return nil, errLocked
	}
	u, ok := s.users.Authenticate(name, password)
	s.recordLogin(name, ok)
	if !ok {
		s.m.logins.WithLabelValues("failed").Inc()
		s.auditSystem(r, name, "login.failed")
		return nil, errBadLogin
	}
	s.m.logins.WithLabelValues("ok").Inc()
	_ = s.store.LogView(r.Context(), actorOf(u, r), "login", "user", u.Username, nil, "")
	return u, nil
}

var (
	errBadLogin = errors.New("wrong username or password")
	errLocked   = errors.New("too many failed sign-ins: try again later")
)

func (s *Server) auditSystem(r *http.Request, name, action string) {
	_ = s.store.LogView(r.Context(), casestore.Actor{User: name, Remote: remote(r)}, action, "user", name, nil, "")
}

func remote(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

func actorOf(u *User, r *http.Request) casestore.Actor {
	return casestore.Actor{User: u.Username, Role: u.Role, Scope: u.Scope(), Remote: remote(r)}
}

// reqCtx is an authenticated request.
type reqCtx struct {
	user    *User
	sess    *session // nil for bearer tokens
	actor   casestore.Actor
	lang    string
	bearer  bool
	started time.Time
}

type handler func(w http.ResponseWriter, r *http.Request, rc *reqCtx)

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

func (s *Server) checkCSRF(r *http.Request, ss *session) bool {
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostFormValue("csrf")
	}
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(ss.csrf)) == 1
}

// errPlatform answers the platform role outside its grant.
const errPlatform = "the platform role reaches only /api/v1/me, /api/v1/stoplist, /api/v1/outcomes, /api/v1/rules/stats, /api/v1/params, /api/v1/check and /api/v1/screen"

// ui wraps a page handler: a session is required (else redirect to login)
// and unsafe methods need the session's CSRF token. The platform role has
// no pages.
func (s *Server) ui(h handler) http.HandlerFunc { return s.uiFor(h, false) }

func (s *Server) uiFor(h handler, platform bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss := s.sessionOf(r)
		if ss == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "not signed in", http.StatusUnauthorized)
			return
		}
		if unsafeMethod(r.Method) && !s.checkCSRF(r, ss) {
			http.Error(w, "invalid CSRF token: reload the page", http.StatusForbidden)
			return
		}
		if ss.user.Role == casestore.RolePlatform && !platform {
			http.Error(w, errPlatform, http.StatusForbidden)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r, &reqCtx{user: ss.user, sess: ss, actor: actorOf(ss.user, r), lang: langOf(r), started: time.Now()})
	}
}

// api wraps a JSON handler: a bearer token or a session (with the CSRF
// header on unsafe methods). The platform role is refused (apiFor grants it).
func (s *Server) api(h handler) http.HandlerFunc { return s.apiFor(h, false) }

func (s *Server) apiFor(h handler, platform bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		var rc *reqCtx
		if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
			u := s.users.ByToken(strings.TrimPrefix(auth, "Bearer "))
			if u == nil {
				writeError(w, http.StatusUnauthorized, "invalid token")
				return
			}
			rc = &reqCtx{user: u, actor: actorOf(u, r), lang: langOf(r), bearer: true, started: time.Now()}
		} else {
			ss := s.sessionOf(r)
			if ss == nil {
				writeError(w, http.StatusUnauthorized, "sign in first (POST /api/v1/session) or send a bearer token")
				return
			}
			if unsafeMethod(r.Method) && !s.checkCSRF(r, ss) {
				writeError(w, http.StatusForbidden, "missing or wrong X-CSRF-Token header")
				return
			}
			rc = &reqCtx{user: ss.user, sess: ss, actor: actorOf(ss.user, r), lang: langOf(r), started: time.Now()}
		}
		if rc.user.Role == casestore.RolePlatform && !platform {
			writeError(w, http.StatusForbidden, errPlatform)
			return
		}
		h(w, r, rc)
	}
}

// metricsGate lets /metrics through as the users file's metrics_access
// says: to anyone, or to a session or a valid bearer token.
func (s *Server) metricsGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.users.MetricsAccess == MetricsSignedIn {
			ok := false
			if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
				ok = s.users.ByToken(strings.TrimPrefix(auth, "Bearer ")) != nil
			} else {
				ok = s.sessionOf(r) != nil
			}
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="crosscheck"`)
				http.Error(w, "metrics_access is signed_in: send a bearer token or sign in", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// statusOf maps store errors to HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, casestore.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, casestore.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, casestore.ErrConflict), errors.Is(err, casestore.ErrAlreadyImported):
		return http.StatusConflict
	case errors.Is(err, casestore.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	code := statusOf(err)
	msg := err.Error()
	if code == http.StatusInternalServerError {
		s.log.Error("request failed", "err", err)
		msg = "internal error"
	}
	writeError(w, code, msg)
}

// ---- instrumentation and security headers ----

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (sw *statusWriter) WriteHeader(c int) {
	if sw.code == 0 {
		sw.code = c
	}
	sw.ResponseWriter.WriteHeader(c)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.code == 0 {
		sw.code = http.StatusOK
	}
	return sw.ResponseWriter.Write(b)
}

func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		s.m.latency.WithLabelValues(route, strconv.Itoa(sw.code)).Observe(time.Since(t0).Seconds())
	})
}

// ---- metrics ----

type metrics struct {
	latency *prometheus.HistogramVec
	actions *prometheus.CounterVec
	views   *prometheus.CounterVec
	logins  *prometheus.CounterVec
	imports prometheus.Counter
	checks  *prometheus.CounterVec
}

// caseCollector reports cases by status, department and age on scrape.
type caseCollector struct {
	store *casestore.Store
	desc  *prometheus.Desc
}

func (c caseCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c caseCollector) Collect(ch chan<- prometheus.Metric) {
	for _, x := range c.store.CountByStatus() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(x.N), x.Status, x.Department, x.Age)
	}
}

func newMetrics(reg prometheus.Registerer, st *casestore.Store) (*metrics, error) {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crosscheck_review_http_request_duration_seconds",
			Help:    "Latency of review HTTP requests by route and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}}, []string{"route", "code"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crosscheck_review_actions_total",
			Help: "Review actions applied, by action (assign, verify, confirm, dismiss, outcome, close, reopen, note)."}, []string{"action"}),
		views: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crosscheck_review_views_total",
			Help: "Audited views of personal data, by kind."}, []string{"kind"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crosscheck_review_logins_total",
			Help: "Sign-in attempts by result (ok, failed, locked)."}, []string{"result"}),
		imports: prometheus.NewCounter(prometheus.CounterOpts{Name: "crosscheck_review_imports_total",
			Help: "Runs imported through the API."}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crosscheck_review_checks_total",
			Help: "Applicants checked against the reference store, by way (api, form)."}, []string{"via"}),
	}
	cc := caseCollector{store: st, desc: prometheus.NewDesc("crosscheck_review_cases",
		"Cases by status, department and age since raised (0-3d, 4-10d, 11-30d, 31d+).", []string{"status", "department", "age"}, nil)}
	for _, c := range []prometheus.Collector{m.latency, m.actions, m.views, m.logins, m.imports, m.checks, cc} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// view records an audited view; the data is shown only if it is recorded.
func (s *Server) view(r *http.Request, rc *reqCtx, kind, objType, objID string, detail any, reason string) error {
	s.m.views.WithLabelValues(kind).Inc()
	return s.store.LogView(r.Context(), rc.actor, kind, objType, objID, detail, reason)
}
