package publish

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Pack is a publication ready to write.
type Pack struct {
	Title      string // e.g. 惠民惠农财政补贴资金比对结果公开
	RunID      string
	Periods    []string
	MinPersons int64
	Policies   []PolicyLine
	Rules      []RuleLine
	Tables     []Table
}

// PolicyLine is a line of the policy list.
type PolicyLine struct {
	Code, Name, Department, Frequency, Standard, Basis, Conditions string
}

// RuleLine is a rule in plain Chinese.
type RuleLine struct {
	ID, Title, Category, What, Params string
}

// Files lists the files Write creates, in the order written.
var Files = []string{"index.html", "policy_list.csv", "rules.csv", "results_by_county.csv", "results_by_program.csv",
	"results_by_month.csv", "publication.xlsx"}

// SuppressedMark stands in a table for a suppressed figure.
const SuppressedMark = "*"

// Write writes the pack into dir (created if needed): index.html, one CSV
// per table (UTF-8 with BOM) and publication.xlsx with one sheet each.
func Write(dir string, p *Pack) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	put := func(name string, b []byte) error {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(dir, name))
	}
	var page bytes.Buffer
	if err := pageTmpl.Execute(&page, p); err != nil {
		return fmt.Errorf("index.html: %w", err)
	}
	if err := put("index.html", page.Bytes()); err != nil {
		return err
	}
	sheets := []struct {
		file, sheet string
		rows        [][]string
	}{
		{"policy_list.csv", "补贴政策清单", p.policyRows()},
		{"rules.csv", "比对规则", p.ruleRows()},
	}
	for _, t := range p.Tables {
		sheets = append(sheets, struct {
			file, sheet string
			rows        [][]string
		}{"results_by_" + t.ID + ".csv", "结果" + t.Title, t.rows()})
	}
	for _, s := range sheets {
		var b bytes.Buffer
		b.WriteString("\uFEFF")
		w := csv.NewWriter(&b)
		if err := w.WriteAll(s.rows); err != nil {
			return err
		}
		if err := put(s.file, b.Bytes()); err != nil {
			return err
		}
	}
	x := excelize.NewFile()
	defer x.Close()
	for i, s := range sheets {
		if i == 0 {
			x.SetSheetName("Sheet1", s.sheet)
		} else if _, err := x.NewSheet(s.sheet); err != nil {
			return err
		}
		for r, row := range s.rows {
			cell, _ := excelize.CoordinatesToCellName(1, r+1)
			vals := make([]any, len(row))
			for k, v := range row {
				vals[k] = v
			}
			if err := x.SetSheetRow(s.sheet, cell, &vals); err != nil {
				return err
			}
		}
		_ = x.SetColWidth(s.sheet, "A", "H", 18)
	}
	note := "说明"
	if _, err := x.NewSheet(note); err != nil {
		return err
	}
	for r, line := range p.notes() {
		cell, _ := excelize.CoordinatesToCellName(1, r+1)
		_ = x.SetCellValue(note, cell, line)
	}
	var xb bytes.Buffer
	if err := x.Write(&xb); err != nil {
		return err
	}
	return put("publication.xlsx", xb.Bytes())
}

func (p *Pack) policyRows() [][]string {
	rows := [][]string{{"项目代码", "补贴项目", "主管部门", "发放频次", "补贴标准", "政策依据", "享受条件（比对参数）"}}
	for _, l := range p.Policies {
		rows = append(rows, []string{l.Code, l.Name, l.Department, l.Frequency, l.Standard, l.Basis, l.Conditions})
	}
	return rows
}

func (p *Pack) ruleRows() [][]string {
	rows := [][]string{{"规则", "名称", "疑点类别", "比对内容", "参数"}}
	for _, r := range p.Rules {
		rows = append(rows, []string{r.ID, r.Title, r.Category, r.What, r.Params})
	}
	return rows
}

func (t Table) rows() [][]string {
	head := []string{t.KeyTitle}
	for _, m := range t.Measures {
		head = append(head, m.Title)
	}
	rows := [][]string{head}
	for _, l := range append(append([]Line(nil), t.Lines...), t.Total) {
		row := []string{l.Label}
		for j, c := range l.Cells {
			row = append(row, c.Text(t.Measures[j].Money))
		}
		rows = append(rows, row)
	}
	return rows
}

// Text is the cell as published: the figure, or SuppressedMark.
func (c Cell) Text(money bool) string {
	if c.Suppressed {
		return SuppressedMark
	}
	if money {
		return fmt.Sprintf("%.2f", c.Value)
	}
	return fmt.Sprintf("%.0f", c.Value)
}

func (p *Pack) notes() []string {
	return []string{
		p.Title,
		"比对期间：" + strings.Join(p.Periods, "、") + "；比对批次：" + p.RunID,
		fmt.Sprintf("“%s”表示该数字涉及人数少于%d人，或可由合计减去其他数字推算出这类数字，依规不予公开。", SuppressedMark, p.MinPersons),
		"疑点为数据比对发现的线索，须经主管部门核实，不等同于违规事实。",
		"本资料不含任何个人信息。",
	}
}

var pageTmpl = template.Must(template.New("pub").Funcs(template.FuncMap{
	"cell": func(t Table, c Cell, j int) string { return c.Text(t.Measures[j].Money) },
}).Parse(`<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: "Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 2px solid #1f3b63; padding-bottom: 4px; }
table { border-collapse: collapse; font-size: 14px; } th, td { border: 1px solid #ccd; padding: 4px 8px; vertical-align: top; }
th { background: #eef1f6; } td.n { text-align: right; font-variant-numeric: tabular-nums; } tr.total td { font-weight: 600; }
.note { color: #555; font-size: 13px; }
</style></head><body>
<h1>{{.Title}}</h1>
<p class="note">比对期间：{{range $i, $p := .Periods}}{{if $i}}、{{end}}{{$p}}{{end}}；比对批次 {{.RunID}}。数据文件：policy_list.csv、rules.csv、results_by_county.csv、results_by_program.csv、results_by_month.csv、publication.xlsx。</p>
<h2 id="policy">一、补贴政策清单</h2>
<table><tr><th>补贴项目</th><th>主管部门</th><th>发放频次</th><th>补贴标准</th><th>政策依据</th><th>享受条件（比对参数）</th></tr>
{{range .Policies}}<tr><td>{{.Name}}</td><td>{{.Department}}</td><td>{{.Frequency}}</td><td>{{.Standard}}</td><td>{{.Basis}}</td><td>{{.Conditions}}</td></tr>
{{end}}</table>
<h2 id="rules">二、比对规则</h2>
<table><tr><th>名称</th><th>疑点类别</th><th>比对内容</th><th>参数</th></tr>
{{range .Rules}}<tr><td>{{.Title}}</td><td>{{.Category}}</td><td>{{.What}}</td><td>{{.Params}}</td></tr>
{{end}}</table>
<h2 id="results">三、比对结果</h2>
{{range .Tables}}<h3>{{.Title}}</h3>
{{$t := .}}<table id="results-{{.ID}}"><tr><th>{{.KeyTitle}}</th>{{range .Measures}}<th>{{.Title}}</th>{{end}}</tr>
{{range .Lines}}<tr><td>{{.Label}}</td>{{range $j, $c := .Cells}}<td class="n">{{cell $t $c $j}}</td>{{end}}</tr>
{{end}}<tr class="total"><td>{{.Total.Label}}</td>{{range $j, $c := .Total.Cells}}<td class="n">{{cell $t $c $j}}</td>{{end}}</tr></table>
{{end}}
<p class="note">“*”表示该数字涉及人数少于{{.MinPersons}}人，或可由合计减去其他数字推算出这类数字，依规不予公开。疑点为数据比对发现的线索，须经主管部门核实，不等同于违规事实。本页不含任何个人信息。</p>
</body></html>
`))

// sortedParams renders parameters as "name=value" in name order.
func sortedParams(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if s := fmt.Sprint(v); s != "" && s != "[]" && s != "<nil>" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, m[k])
	}
	return strings.Join(parts, "；")
}
