package review

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/casestore"
)

// tmplQueueData is queueData as templates/queue.html reads it.
type tmplQueueData struct {
	F         casestore.Filter
	Facets    casestore.Facets
	Programs  []kv
	Rows      []tmplQueueRow
	Total     int
	Page      int
	Pages     int
	PrevURL   string
	NextURL   string
	ExportURL string
	Statuses  []string
}

type tmplQueueRow struct {
	*casestore.Case
	Due       string
	Escalated bool
}

// TestQueueWriterMatchesTemplate renders random queue pages, with values
// full of characters that need escaping, both by the hand-written writer
// and by the reference template, and wants the same bytes.
func TestQueueWriterMatchesTemplate(t *testing.T) {
	tmpl, err := parseTemplates()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 6, 12, 10, 0, 0, 0, beijing)
	st, err := casestore.Open(context.Background(), filepath.Join(t.TempDir(), "c.duckdb"), casestore.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ck := st.Clock()

	r := rand.New(rand.NewPCG(1, 2))
	nasty := []string{"", "a", "<script>alert(\"x\")</script>", "O'Brien & Co", "1+1=2", "名字", "x\x00y", "\xff\xfe",
		"a%41b%zz%", "/cases?a=1&b=2 3#f", "javascript:alert(1)", "\ufdd0\uffff", ">'\"&+<", "deceased_after_death", "age_range",
		"new", "closed", "on_time", "%", "%4", "é ü", "\t\n"}
	pick := func() string { return nasty[r.IntN(len(nasty))] }
	pickOf := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	for iter := 0; iter < 300; iter++ {
		f := casestore.Filter{Program: pick(), Rule: pick(), County: pick(), Status: pickOf("", "open", "new", "closed", pick()),
			Priority: pickOf("", "high", "medium", "low", pick()), Due: pickOf("", "overdue", "due_soon", "on_time", "escalated", pick())}
		d := &queueData{F: f, Total: r.IntN(100000), Page: r.IntN(30), Pages: r.IntN(30), Statuses: casestore.Statuses,
			Facets: casestore.Facets{Programs: map[string]string{}}}
		for range r.IntN(4) {
			k := pick()
			d.Facets.Programs[k] = pick()
			d.Programs = append(d.Programs, kv{k, pick()})
		}
		for range r.IntN(4) {
			d.Facets.Rules = append(d.Facets.Rules, pickOf(pick(), f.Rule))
		}
		for range r.IntN(4) {
			d.Facets.Counties = append(d.Facets.Counties, pickOf(pick(), f.County))
		}
		if r.IntN(2) == 0 {
			v := url.Values{"status": {pick()}, "program": {pick()}, "page": {"2"}}
			d.PrevURL = "/cases?" + v.Encode()
		}
		if r.IntN(2) == 0 {
			d.NextURL = "/cases?" + pick()
		}
		if r.IntN(5) > 0 {
			d.ExportURL = "/export.xlsx?" + url.Values{"program": {pick()}, "status": {f.Status}}.Encode()
		}
		td := &tmplQueueData{F: d.F, Facets: d.Facets, Programs: d.Programs, Total: d.Total, Page: d.Page, Pages: d.Pages,
			PrevURL: d.PrevURL, NextURL: d.NextURL, ExportURL: d.ExportURL, Statuses: d.Statuses}
		for range r.IntN(8) {
			c := &casestore.Case{ID: pickOf(fmt.Sprintf("%016x", r.Uint64()), pick()), Name: pick(), IDNumber: pickOf("410102194003051237", pick()),
				ProgramName: pick(), CountyCode: pick(), FirstPeriod: pickOf("2024-05", pick()), LastPeriod: pickOf("2024-05", pick()),
				Amount: r.Float64() * 10000, Status: pickOf(casestore.Statuses[r.IntN(len(casestore.Statuses))], pick()), Assignee: pick(),
				DeathWithdrawn: r.IntN(3) == 0}
			c.Priority.Score = r.Float64() * 100
			for range r.IntN(3) {
				c.RuleIDs = append(c.RuleIDs, pick())
			}
			if r.IntN(4) > 0 {
				due := now.Add(time.Duration(r.IntN(40*24)-20*24) * time.Hour).Truncate(24 * time.Hour)
				c.DueAt = &due
			}
			d.Rows = append(d.Rows, c)
			td.Rows = append(td.Rows, tmplQueueRow{Case: c, Due: ck.DueState(c), Escalated: ck.Escalated(c)})
		}
		for _, lang := range []string{"zh", "en"} {
			p := page{Lang: lang, CSRF: pick(), Path: "/cases?" + pick(), Error: pickOf("", pick()), Flash: pickOf("", "已保存"),
				User: &User{Username: "u", Name: pick(), Role: casestore.RoleReviewer, Department: pick(), Region: pick()}}
			var want, got bytes.Buffer
			p.D = td
			if err := tmpl[lang].ExecuteTemplate(&want, "queue.html", p); err != nil {
				t.Fatal(err)
			}
			p.D = d
			if err := writeQueuePage(&got, tmpl[lang], p, d, ck); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				w, g := want.String(), got.String()
				i := 0
				for i < len(w) && i < len(g) && w[i] == g[i] {
					i++
				}
				t.Fatalf("iteration %d (%s): writer and template differ at byte %d:\ntemplate: %q\nwriter:   %q", iter, lang, i,
					w[max(0, i-80):min(len(w), i+80)], g[max(0, i-80):min(len(g), i+80)])
			}
		}
	}
	// Sanity: the page did contain rows, escalations and escaping.
	var b bytes.Buffer
	due := now.Add(-30 * 24 * time.Hour)
	c := &casestore.Case{ID: "abc", Name: `<script>"x"</script>`, Status: "new", DueAt: &due}
	writeQueueBody(&b, "en", &queueData{Rows: []*casestore.Case{c}}, ck)
	for _, s := range []string{`badge-overdue">Escalated to prefecture`, `&lt;script&gt;&#34;x&#34;&lt;/script&gt;`} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("queue body lacks %q", s)
		}
	}
}
