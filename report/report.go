// Package report writes the run report: report.html, one self-contained
// page (inline CSS, inline SVG charts, no script or font from elsewhere)
// in Chinese with an English switch, for the analysts who read a run's
// results. The engine fills Data; this package only renders it.
package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/crosscheck/crosscheck/rules"
)

// Data is everything the run report shows.
type Data struct {
	RunID   string
	Job     string
	Started time.Time
	Periods []string
	// Screened is the number of payments in the screened periods and
	// ScreenedAmount their sum.
	Screened       int64
	ScreenedAmount float64
	Hits, Cases    int64
	// Payments is the number of distinct payments flagged, Amount their
	// sum (the amount at risk: a payment hit by two rules counts once).
	Payments int64
	Amount   float64
	// Groups of hits; each lists hits, distinct payments and their amount.
	ByCategory, ByRule, ByProgram, ByCounty, BySeverity []Group
	Sources                                             []Source
	Identity                                            []LinkTable
	Ambiguous                                           int64
	Timings                                             []Timing
	Seconds                                             float64
	PeakRSS                                             int64
	Rules                                               []Rule
	// Trend lists earlier runs of the job and this one, oldest first.
	Trend []Point
}

// Group is one row of a breakdown.
type Group struct {
	Key      string // code: category, rule id, program code, county code
	Label    string // name in Chinese
	LabelEN  string // name in English ("" when the same)
	Hits     int64
	Payments int64
	Amount   float64
}

// Name returns the group's label in lang.
func (g Group) Name(lang string) string {
	if lang == "en" && g.LabelEN != "" {
		return g.LabelEN
	}
	if g.Label != "" {
		return g.Label
	}
	return g.Key
}

// Source is the data-quality picture of one source.
type Source struct {
	Name, Title, Department, Role      string
	Read, Accepted, Quarantined, Dupes int64
	Reasons                            []Count // quarantined rows by reason
	IDStatus                           []Count // ID values by status (id_number column)
}

// Count is a named number.
type Count struct {
	Key string
	N   int64
}

// LinkTable is how one table's records were resolved to persons.
type LinkTable struct {
	Table                                                string
	Exact, Upgraded, Repaired, Probabilistic, Unresolved int64
}

// Timing is the wall time of one stage.
type Timing struct {
	Stage   string
	Seconds float64
}

// Rule is one rule in force.
type Rule struct {
	ID, Title, Category, Severity, Version string
	Params                                 []Count2
}

// Count2 is a parameter and its value as text.
type Count2 struct {
	Key, Value string
}

// Point is one run in the trend.
type Point struct {
	RunID    string    `json:"run_id"`
	Finished time.Time `json:"finished"`
	Periods  []string  `json:"periods"`
	Screened int64     `json:"screened"`
	Hits     int64     `json:"hits"`
	Cases    int64     `json:"cases"`
	Amount   float64   `json:"amount"`
}

// beijing is the time zone of the dates shown (the report is read in China
// whatever the server's zone).
var beijing = time.FixedZone("CST", 8*3600)

//go:embed report.html.tmpl
var pageTmpl string

var tmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"tr":       tr,
	"num":      num,
	"money":    money,
	"mib":      func(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) },
	"pct":      pct,
	"secs":     func(s float64) string { return fmt.Sprintf("%.2f", s) },
	"chart":    chartFor,
	"amtChart": amountChartFor,
	"sevChart": severityChart,
	"srcChart": sourceChart,
	"trend":    trendChart,
	"reason":   reasonName,
	"idstatus": idStatusName,
	"stage":    stageName,
	"method":   tableName,
	"join":     strings.Join,
	"bjtime":   func(t time.Time) string { return t.In(beijing).Format("2006-01-02 15:04") },
	"langs":    func() []string { return []string{"zh", "en"} },
	"groupTables": func(d *Data) []groupTable {
		return []groupTable{
			{"county", "按县区", "By county", "县区", "County", d.ByCounty},
			{"program", "按补贴项目", "By program", "补贴项目", "Program", d.ByProgram},
			{"rule", "按比对规则", "By rule", "规则", "Rule", d.ByRule},
		}
	},
	"cat": func(lang, c string) string { return rules.CategoryName(c, lang) },
	"sev": func(lang, c string) string { return rules.SeverityName(c, lang) },
}).Parse(pageTmpl))

// groupTable is a breakdown listed in full under the charts.
type groupTable struct {
	ID, ZH, EN, KeyZH, KeyEN string
	Groups                   []Group
}

// Render returns the page.
func Render(d *Data) ([]byte, error) {
	var b bytes.Buffer
	if err := tmpl.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("run report: %w", err)
	}
	return b.Bytes(), nil
}

// Write renders the page to path (written to a temporary file beside it
// and renamed, so the page is complete or absent).
func Write(path string, d *Data) error {
	b, err := Render(d)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*.html")
	if err != nil {
		return fmt.Errorf("run report: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("run report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("run report: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// tr shows zh or en text depending on the page's language switch.
func tr(zh, en string) template.HTML {
	return template.HTML(`<span lang="zh">` + template.HTMLEscapeString(zh) + `</span><span lang="en">` +
		template.HTMLEscapeString(en) + `</span>`)
}

// num formats a whole number with thousands separators.
func num(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// money formats yuan with thousands separators and two decimals.
func money(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	whole, frac, _ := strings.Cut(s, ".")
	var n int64
	fmt.Sscan(whole, &n)
	return num(n) + "." + frac
}

func pct(part, whole int64) string {
	if whole == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}

var dims = map[string][2]string{
	"category": {"疑点类别", "category"}, "county": {"县区", "county"}, "program": {"补贴项目", "program"}, "rule": {"规则", "rule"},
}

func chartTitle(lang, dim, what string) string {
	d := dims[dim]
	if lang == "en" {
		return map[string]string{"hits": "Hits by ", "amount": "Amount at risk by "}[what] + d[1]
	}
	return "按" + d[0] + map[string]string{"hits": "的疑点数", "amount": "的涉及金额（元）"}[what]
}

// maxBars is the most bars a ranked chart draws; the rest are summed in
// one last bar (the tables below the charts list every line).
const maxBars = 25

// top keeps the first maxBars-1 groups and sums the others into one.
func top(lang string, gs []Group) []Group {
	if len(gs) <= maxBars {
		return gs
	}
	out := append([]Group(nil), gs[:maxBars-1]...)
	rest := Group{Key: "other", Label: fmt.Sprintf("其他 %d 项", len(gs)-maxBars+1), LabelEN: fmt.Sprintf("%d others", len(gs)-maxBars+1)}
	for _, g := range gs[maxBars-1:] {
		rest.Hits += g.Hits
		rest.Payments += g.Payments
		rest.Amount += g.Amount
	}
	return append(out, rest)
}

func chartFor(lang, dim string, gs []Group) template.HTML {
	gs = top(lang, gs)
	title := chartTitle(lang, dim, "hits")
	bars := make([]Bar, len(gs))
	for i, g := range gs {
		bars[i] = Bar{Label: g.Name(lang), Value: float64(g.Hits), Text: num(g.Hits)}
	}
	return HBars(title, bars)
}

func amountChartFor(lang, dim string, gs []Group) template.HTML {
	title := chartTitle(lang, dim, "amount")
	s := append([]Group(nil), gs...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Amount > s[j].Amount })
	s = top(lang, s)
	bars := make([]Bar, len(s))
	for i, g := range s {
		bars[i] = Bar{Label: g.Name(lang), Value: g.Amount, Text: "¥" + money(g.Amount), Color: "#c0504d"}
	}
	return HBars(title, bars)
}

var severityColor = map[string]string{"high": "#c0392b", "medium": "#e67e22", "low": "#7f8c8d"}

func severityChart(lang string, gs []Group) template.HTML {
	title := "疑点等级分布"
	if lang == "en" {
		title = "Hits by severity"
	}
	segs := make([]Segment, len(gs))
	for i, g := range gs {
		segs[i] = Segment{Label: g.Name(lang), Value: float64(g.Hits), Color: severityColor[g.Key]}
	}
	return Stacked(title, segs)
}

func sourceChart(lang string, srcs []Source) template.HTML {
	bars := make([]Bar, 0, 2*len(srcs))
	acc, quar := "接收", "隔离"
	if lang == "en" {
		acc, quar = "accepted", "quarantined"
	}
	for _, s := range srcs {
		bars = append(bars, Bar{Label: s.Title + " " + acc, Value: float64(s.Accepted), Text: num(s.Accepted), Color: "#4a9a5b"})
		if s.Quarantined > 0 {
			bars = append(bars, Bar{Label: s.Title + " " + quar, Value: float64(s.Quarantined), Text: num(s.Quarantined), Color: "#c0504d"})
		}
	}
	t := "各数据源读入行数：接收与隔离"
	if lang == "en" {
		t = "Rows read per source: accepted and quarantined"
	}
	return HBars(t, bars)
}

func trendChart(lang string, pts []Point) template.HTML {
	bars := make([]Bar, len(pts))
	for i, p := range pts {
		l := strings.Join(p.Periods, ",")
		if l == "" {
			l = p.Finished.Format("2006-01-02")
		}
		bars[i] = Bar{Label: l, Sub: p.Finished.In(beijing).Format("01-02 15:04"), Value: float64(p.Hits), Text: num(p.Hits)}
	}
	t := "历次运行的疑点数"
	if lang == "en" {
		t = "Hits per run"
	}
	return Columns(t, bars)
}

var reasons = map[string][2]string{
	"missing_value":  {"必填项缺失", "required value missing"},
	"bad_date":       {"日期无法解析", "date not parseable"},
	"bad_period":     {"期间无法解析", "period not parseable"},
	"bad_number":     {"数字无法解析", "number not parseable"},
	"bad_bool":       {"是否值无法解析", "yes/no value not parseable"},
	"unmapped_value": {"代码值未映射", "code value not mapped"},
	"ragged_row":     {"列数不符", "wrong number of columns"},
}

func reasonName(lang, k string) string {
	if n, ok := reasons[k]; ok {
		if lang == "en" {
			return n[1]
		}
		return n[0]
	}
	return k
}

var idStatuses = map[string][2]string{
	"valid": {"有效", "valid"}, "upgraded": {"15位升18位", "upgraded 15→18"}, "repaired": {"已修复", "repaired"},
	"invalid": {"无效", "invalid"}, "excel_damaged": {"被Excel损坏", "damaged by Excel"}, "missing": {"缺失", "missing"},
}

func idStatusName(lang, k string) string {
	if n, ok := idStatuses[k]; ok {
		if lang == "en" {
			return n[1]
		}
		return n[0]
	}
	return k
}

var stages = map[string][2]string{
	"check": {"检查", "check"}, "load": {"加载", "load"}, "identity": {"身份匹配", "identity"},
	"rules": {"规则", "rules"}, "cases": {"案件", "cases"}, "write": {"写出", "write"},
}

func stageName(lang, k string) string {
	if n, ok := stages[k]; ok {
		if lang == "en" {
			return n[1]
		}
		return n[0]
	}
	return k
}

var tables = map[string][2]string{
	"person": {"户籍人员", "persons"}, "death": {"死亡记录", "deaths"}, "payment": {"发放记录", "payments"},
	"pension": {"养老金", "pensions"}, "ssc": {"社保卡", "social security cards"}, "assistance": {"救助名册", "assistance rosters"},
}

func tableName(lang, k string) string {
	if n, ok := tables[k]; ok {
		if lang == "en" {
			return n[1]
		}
		return n[0]
	}
	return k
}
