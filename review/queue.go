package review

import (
	"bytes"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// The queue page (GET /cases) is the busiest page: it is written by hand
// below instead of by html/template, which spent most of the page's CPU on
// reflection. templates/queue.html stays the reference: writeQueueBody
// must produce exactly what that template produces for the same data
// (TestQueueWriterMatchesTemplate checks it), with html/template's
// escaping: escHTML for text and quoted attributes, escURL for the href
// attributes. Change both together.

// bufPool recycles page buffers.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		bufPool.Put(b)
	}
}

// escHTML writes s escaped as html/template does in text and in quoted
// attribute values (its htmlEscaper/attrEscaper): NUL, ", &, ', +, < and >.
// Only ASCII bytes are replaced, so a byte loop is exact for any input.
func escHTML(b *bytes.Buffer, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var repl string
		switch s[i] {
		case 0:
			repl = "\uFFFD"
		case '"':
			repl = "&#34;"
		case '&':
			repl = "&amp;"
		case '\'':
			repl = "&#39;"
		case '+':
			repl = "&#43;"
		case '<':
			repl = "&lt;"
		case '>':
			repl = "&gt;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(repl)
		last = i + 1
	}
	b.WriteString(s[last:])
}

// escURL writes s as html/template writes a value in a quoted URL
// attribute: normalized (bytes outside RFC 3986's unreserved and reserved
// sets percent-encoded, valid escapes kept) and then attribute-escaped.
// The values given are same-site paths ("/…"), which html/template's URL
// filter lets through unchanged.
func escURL(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			b.WriteByte(c)
			continue
		}
		switch c {
		case '!', '#', '$', '*', ',', '/', ':', ';', '=', '?', '@', '[', ']', '-', '.', '_', '~':
			b.WriteByte(c)
		case '&':
			b.WriteString("&amp;")
		case '+':
			b.WriteString("&#43;")
		case '%':
			if i+2 < len(s) && isHexByte(s[i+1]) && isHexByte(s[i+2]) {
				b.WriteByte('%')
				continue
			}
			fallthrough
		default:
			const hex = "0123456789abcdef"
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
}

func isHexByte(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// qw writes the queue page of one language.
type qw struct {
	b    *bytes.Buffer
	lang string
	num  [64]byte
}

func (w *qw) s(x string)   { w.b.WriteString(x) }
func (w *qw) esc(x string) { escHTML(w.b, x) }
func (w *qw) t(key string) { escHTML(w.b, T(w.lang, key)) }
func (w *qw) int(n int)    { w.b.Write(strconv.AppendInt(w.num[:0], int64(n), 10)) }
func (w *qw) float(x float64, prec int) {
	w.b.Write(strconv.AppendFloat(w.num[:0], x, 'f', prec, 64))
}

func (w *qw) selected(a, b string) {
	if a == b {
		w.s("selected")
	}
}

// option writes <option value="v" [selected]>label</option> with the label
// a message key.
func (w *qw) option(v, cur, key string) {
	w.s(`<option value="`)
	w.esc(v)
	w.s(`" `)
	w.selected(v, cur)
	w.s(`>`)
	w.t(key)
	w.s(`</option>`)
}

// writeQueueBody writes what templates/queue.html writes between the
// "head" and "foot" templates.
func writeQueueBody(b *bytes.Buffer, lang string, d *queueData, ck casestore.Clock) {
	w := &qw{b: b, lang: lang}
	f := &d.F
	w.s("\n\n<form method=\"get\" action=\"/cases\" class=\"filters\" id=\"filters\">\n  <label>")
	w.t("program")
	w.s(` <select name="program" id="f-program"><option value="">`)
	w.t("all")
	w.s("</option>\n    ")
	for _, p := range d.Programs {
		w.s(`<option value="`)
		w.esc(p.K)
		w.s(`" `)
		w.selected(p.K, f.Program)
		w.s(`>`)
		w.esc(p.V)
		w.s(`</option>`)
	}
	w.s("</select></label>\n  <label>")
	w.t("rule")
	w.s(` <select name="rule" id="f-rule"><option value="">`)
	w.t("all")
	w.s("</option>\n    ")
	for _, r := range d.Facets.Rules {
		w.s(`<option value="`)
		w.esc(r)
		w.s(`" `)
		w.selected(r, f.Rule)
		w.s(`>`)
		w.esc(ruleTitleOf(lang, r))
		w.s(`</option>`)
	}
	w.s("</select></label>\n  <label>")
	w.t("county")
	w.s(` <select name="county" id="f-county"><option value="">`)
	w.t("all")
	w.s("</option>\n    ")
	for _, c := range d.Facets.Counties {
		w.s(`<option value="`)
		w.esc(c)
		w.s(`" `)
		w.selected(c, f.County)
		w.s(`>`)
		w.esc(regionName(c))
		w.s(`</option>`)
	}
	w.s("</select></label>\n  <label>")
	w.t("status")
	w.s(" <select name=\"status\" id=\"f-status\">\n    ")
	w.option("open", f.Status, "open")
	w.s("\n    ")
	w.option("", f.Status, "all")
	w.s("\n    ")
	for _, st := range d.Statuses {
		w.option(st, f.Status, st)
	}
	w.s("</select></label>\n  <label>")
	w.t("priority")
	w.s(` <select name="priority" id="f-priority"><option value="">`)
	w.t("all")
	w.s("</option>\n    <option value=\"high\" ")
	w.selected(f.Priority, "high")
	w.s(">")
	w.t("high")
	w.s(" ≥70</option>\n    <option value=\"medium\" ")
	w.selected(f.Priority, "medium")
	w.s(">")
	w.t("medium")
	w.s(" 40–70</option>\n    <option value=\"low\" ")
	w.selected(f.Priority, "low")
	w.s(">")
	w.t("low")
	w.s(" &lt;40</option></select></label>\n  <label>")
	w.t("due")
	w.s(` <select name="due" id="f-due"><option value="">`)
	w.t("all")
	w.s("</option>")
	for _, due := range [...]string{"overdue", "due_soon", "on_time", "escalated"} {
		w.s("\n    ")
		w.option(due, f.Due, due)
	}
	w.s("</select></label>\n  <button type=\"submit\" id=\"f-submit\">")
	w.t("filter")
	w.s("</button>\n  <a class=\"button\" id=\"export\" href=\"")
	escURL(b, d.ExportURL)
	w.s(`">`)
	w.t("export")
	w.s("</a>\n  <a class=\"button\" id=\"print-sheets\" href=\"")
	escURL(b, d.SheetsURL())
	w.s(`">`)
	w.t("print_sheets")
	w.s("</a>\n</form>\n<p class=\"count\" id=\"count\">")
	w.t("total")
	w.s(` <b id="total">`)
	w.int(d.Total)
	w.s(`</b> · `)
	w.int(d.Page)
	w.s(`/`)
	w.int(d.Pages)
	w.s(` `)
	w.t("page")
	w.s("</p>\n<table class=\"queue\" id=\"queue\">\n<thead><tr><th>")
	w.t("priority")
	w.s(`</th><th>`)
	w.t("case")
	w.s(`</th><th>`)
	w.t("name")
	w.s(`</th><th>`)
	w.t("id_number")
	w.s(`</th><th>`)
	w.t("program")
	w.s("</th>\n<th>")
	w.t("county")
	w.s(`</th><th>`)
	w.t("period")
	w.s(`</th><th>`)
	w.t("rule")
	w.s(`</th><th class="num">`)
	w.t("amount")
	w.s(`</th><th>`)
	w.t("status")
	w.s("</th>\n<th>")
	w.t("assignee")
	w.s(`</th><th>`)
	w.t("due")
	w.s("</th></tr></thead>\n<tbody>\n")
	for _, c := range d.Rows {
		w.row(c, ck)
	}
	if len(d.Rows) == 0 {
		w.s(`<tr><td colspan="12">`)
		w.t("none")
		w.s(`</td></tr>`)
	}
	w.s("\n</tbody></table>\n<p class=\"paging\">")
	if d.PrevURL != "" {
		w.s(`<a id="prev" href="`)
		escURL(b, d.PrevURL)
		w.s(`">`)
		w.t("prev")
		w.s(`</a>`)
	}
	w.s(" ")
	if d.NextURL != "" {
		w.s(`<a id="next" href="`)
		escURL(b, d.NextURL)
		w.s(`">`)
		w.t("next")
		w.s(`</a>`)
	}
	w.s("</p>\n")
}

// row writes one queue row (the body of {{range $d.Rows}}).
func (w *qw) row(c *casestore.Case, ck casestore.Clock) {
	due, escalated := ck.DueState(c), ck.Escalated(c)
	w.s("\n<tr class=\"due-")
	w.esc(due)
	w.s(`" data-case="`)
	w.esc(c.ID)
	w.s("\">\n  <td><span class=\"prio prio-")
	w.esc(casestore.Band(c.Priority.Score))
	w.s(`">`)
	w.float(c.Priority.Score, 1)
	w.s("</span></td>\n  <td><a class=\"case-link\" href=\"/cases/")
	escURL(w.b, c.ID)
	w.s(`">`)
	w.esc(c.ID)
	w.s(`</a>`)
	if c.DeathWithdrawn {
		w.s(` <span class="flag">⚠</span>`)
	}
	w.s("</td>\n  <td>")
	w.esc(c.Name)
	w.s(`</td><td class="mono">`)
	w.esc(idnumber.Mask(c.IDNumber))
	w.s(`</td><td>`)
	w.esc(c.ProgramName)
	w.s(`</td><td>`)
	w.esc(regionName(c.CountyCode))
	w.s("</td>\n  <td>")
	w.esc(c.FirstPeriod)
	if c.FirstPeriod != c.LastPeriod {
		w.s("–")
		w.esc(c.LastPeriod)
	}
	w.s("</td>\n  <td>")
	for i, r := range c.RuleIDs {
		if i > 0 {
			w.s("、")
		}
		w.esc(ruleTitleOf(w.lang, r))
	}
	w.s("</td>\n  <td class=\"num\">")
	w.float(c.Amount, 2)
	w.s(`</td><td>`)
	w.t(c.Status)
	w.s(`</td><td>`)
	w.esc(c.Assignee)
	w.s("</td>\n  <td class=\"due\">")
	if c.DueAt != nil {
		// deadlines are midnight: show the last day allowed
		w.b.Write(c.DueAt.In(beijing).Add(-time.Second).AppendFormat(w.num[:0], "2006-01-02"))
	}
	if due != "" {
		w.s(` <span class="badge badge-`)
		w.esc(due)
		w.s(`">`)
		w.t(due)
		w.s(`</span>`)
	}
	if escalated {
		w.s(` <span class="badge badge-overdue">`)
		w.t("escalated")
		w.s(`</span>`)
	}
	w.s("</td>\n</tr>\n")
}

// renderQueue writes the queue page.
func (s *Server) renderQueue(w http.ResponseWriter, r *http.Request, rc *reqCtx, code int, d *queueData, ck casestore.Clock, errMsg string) {
	p := s.pageOf(r, rc, d, errMsg)
	buf := getBuf()
	defer putBuf(buf)
	if err := writeQueuePage(buf, s.tmpl[p.Lang], p, d, ck); err != nil {
		s.log.Error("render", "template", "queue", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// writeQueuePage writes what t's "queue.html" writes for p (whose D is d):
// the layout's head and foot by html/template, the body by writeQueueBody.
func writeQueuePage(b *bytes.Buffer, t *template.Template, p page, d *queueData, ck casestore.Clock) error {
	if err := t.ExecuteTemplate(b, "head", p); err != nil {
		return err
	}
	writeQueueBody(b, p.Lang, d, ck)
	if err := t.ExecuteTemplate(b, "foot", p); err != nil {
		return err
	}
	b.WriteByte('\n')
	return nil
}

// facetCache keeps the filter choices (programs, rules, counties) of each
// scope, valid while the store's index version is unchanged (any import,
// reload or action changes it).
type facetCache struct {
	mu sync.Mutex
	m  map[casestore.Scope]*scopeFacets
}

type scopeFacets struct {
	version  uint64
	facets   casestore.Facets
	programs []kv // facets.Programs sorted by code
}

// maxCachedScopes bounds the cache (scopes are per user, so few).
const maxCachedScopes = 4096

// queueFacets returns a page of the queue and the scope's facets (shared,
// read-only): from the cache if fresh, else computed in the same pass over
// the scope as the page.
func (s *Server) queueFacets(sc casestore.Scope, f casestore.Filter, page, size int) (*casestore.Page, *scopeFacets, error) {
	v := s.store.IndexVersion()
	c := &s.facetCache
	c.mu.Lock()
	fc := c.m[sc]
	c.mu.Unlock()
	if fc != nil && fc.version == v {
		p, err := s.store.Queue(sc, f, page, size)
		return p, fc, err
	}
	p, facets, err := s.store.QueueFacets(sc, f, page, size)
	if err != nil {
		return nil, nil, err
	}
	fc = &scopeFacets{version: v, facets: facets, programs: make([]kv, 0, len(facets.Programs))}
	for code, name := range facets.Programs {
		fc.programs = append(fc.programs, kv{code, name})
	}
	sort.Slice(fc.programs, func(i, j int) bool { return fc.programs[i].K < fc.programs[j].K })
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedScopes {
		c.m = map[casestore.Scope]*scopeFacets{}
	}
	if old := c.m[sc]; old == nil || old.version <= v {
		c.m[sc] = fc
	}
	c.mu.Unlock()
	return p, fc, nil
}
