package review

// sheet.go prints 核查通知单: one page per case, for the village checker
// who verifies it on the spot, grouped by village. HTML with print CSS
// (static/sheet.css); the browser's print dialog makes the PDF. No Go
// library renders HTML with CJK text to PDF offline, so none is used.

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

type sheetItem struct {
	C        *casestore.Case
	K        keyFacts
	ID       string // ID number, masked
	Region   string // 许昌市长葛市石固镇
	Village  string // the village the notice is sent to
	Evidence []evRow
}

type villageGroup struct {
	Code   string
	Sheets []*sheetItem
}

type sheetData struct {
	Back     string
	Printed  string
	Sheets   []*sheetItem
	Villages []villageGroup
}

// villageLabel names the village (村/社区) level of a region code: the
// township's full name and the village code (the embedded tables stop at
// townships).
func villageLabel(code string) string {
	code = strings.TrimSpace(code)
	if len(code) < 9 {
		return regionFull(code)
	}
	name := regionFull(code[:9])
	if len(code) > 9 {
		name += " " + code
	}
	return name
}

// sheets renders the notices of cases, grouped by village (region code).
func (s *Server) sheets(w http.ResponseWriter, r *http.Request, rc *reqCtx, cases []*casestore.Case, back string) {
	ids := make([]string, len(cases))
	for i, c := range cases {
		ids[i] = c.ID
	}
	if err := s.view(r, rc, "view.sheet", "queue", "", map[string]any{"total": len(cases), "cases": ids}, ""); err != nil {
		s.failAny(w, r, rc, err)
		return
	}
	hits, err := s.store.HitsOf(r.Context(), rc.actor.Scope, ids)
	if err != nil {
		s.failAny(w, r, rc, err)
		return
	}
	d := &sheetData{Back: back, Printed: time.Now().In(beijing).Format("2006-01-02")}
	byVillage := map[string]*villageGroup{}
	var codes []string
	for _, c := range cases {
		var ev []evRow
		for _, h := range hits[c.ID] {
			if h.Suppressed == "" {
				ev = append(ev, parseEvidence(h.Evidence, h.PaymentSource, true)...)
			}
		}
		it := &sheetItem{C: c, K: keyEvidence(hits[c.ID], true), ID: idnumber.Mask(c.IDNumber),
			Region: regionFull(c.RegionCode), Village: villageLabel(c.RegionCode), Evidence: dedupeEvidence(ev)}
		d.Sheets = append(d.Sheets, it)
		g := byVillage[c.RegionCode]
		if g == nil {
			g = &villageGroup{Code: c.RegionCode}
			byVillage[c.RegionCode] = g
			codes = append(codes, c.RegionCode)
		}
		g.Sheets = append(g.Sheets, it)
	}
	sort.Strings(codes)
	for _, code := range codes {
		d.Villages = append(d.Villages, *byVillage[code])
	}
	s.render(w, r, rc, http.StatusOK, "sheet.html", d, "")
}

// dedupeEvidence drops evidence rows repeated across a case's hits (the
// same death record supports every month paid after it).
func dedupeEvidence(ev []evRow) []evRow {
	seen := map[string]bool{}
	var out []evRow
	for _, e := range ev {
		k := e.Source + "\x00" + e.File + "\x00" + strconv.FormatInt(e.Row, 10)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, e)
	}
	return out
}

// caseSheet prints the notice of one case: GET /cases/{id}/sheet.
func (s *Server) caseSheet(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	c, err := s.store.Get(rc.actor.Scope, r.PathValue("id"))
	if err != nil {
		s.failAny(w, r, rc, err)
		return
	}
	s.sheets(w, r, rc, []*casestore.Case{c}, "/cases/"+c.ID)
}

// filterSheets prints the notices of the queue's filter, village by
// village: GET /sheets?county=…&status=….
func (s *Server) filterSheets(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	f := filterOf(r.URL.Query())
	cases, err := s.store.Select(rc.actor.Scope, f, s.cfg.ExportLimit)
	if err != nil {
		s.failAny(w, r, rc, err)
		return
	}
	s.sheets(w, r, rc, cases, "/cases?"+filterQuery(f).Encode())
}

// SheetsURL prints the notices of the queue's filter.
func (d *queueData) SheetsURL() string { return sheetsURL(d.ExportURL) }

// sheetsURL turns the queue's export link into its notices link.
func sheetsURL(exportURL string) string {
	return "/sheets" + strings.TrimPrefix(exportURL, "/export.xlsx")
}
