package rules

import (
	"fmt"
	"io"
	"strings"

	"github.com/crosscheck/crosscheck/textwidth"
)

// paramsInForce returns a rule's parameter values under c: the job's
// where valid, the defaults otherwise.
func (r *Rule) paramsInForce(c Context) map[string]any {
	vals, _, _ := resolveParams(r.Params, c.RuleParams[r.ID])
	for k := range vals {
		if _, ok := c.RuleParams[r.ID][k]; !ok {
			continue
		}
		p := r.param(k)
		if x, err := p.coerce(c.RuleParams[r.ID][k]); err != nil || p.check(x) != nil {
			vals[k] = p.Default
		}
	}
	return vals
}

func (r *Rule) param(name string) *Param {
	for i := range r.Params {
		if r.Params[i].Name == name {
			return &r.Params[i]
		}
	}
	return nil
}

func (r *Rule) appliesTo(c Context) AppliesTo {
	if codes, ok := c.AppliesTo[r.ID]; ok {
		return AppliesTo{Programs: codes}
	}
	return r.AppliesTo
}

func disabledSet(c Context) map[string]bool {
	d := map[string]bool{}
	for _, id := range c.Disabled {
		d[id] = true
	}
	return d
}

// WriteTable prints the catalogue as a table: id, title, category,
// severity, programs and the parameters in force under c (options left
// empty are not shown).
func WriteTable(w io.Writer, set *Set, c Context) error {
	rows := [][]string{{"id", "title", "category", "severity", "programs", "parameters"}}
	dis := disabledSet(c)
	for _, r := range set.Rules {
		ps := shownParams(r, c, "%s=%s")
		id := r.ID
		if dis[r.ID] {
			id += " (disabled)"
		}
		rows = append(rows, []string{id, r.Title, r.Category, r.Severity, r.appliesTo(c).String(), strings.Join(ps, " ")})
	}
	return writeAligned(w, rows)
}

// writeAligned prints rows as columns padded to their display width (a
// Chinese character takes two columns).
func writeAligned(w io.Writer, rows [][]string) error {
	widths := map[int]int{}
	for _, r := range rows {
		for i, c := range r {
			if n := textwidth.Of(c); n > widths[i] {
				widths[i] = n
			}
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-textwidth.Of(c)+2))
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// shownParams renders the parameters in force for a catalogue line,
// leaving out options that are empty or qualify an empty column option.
func shownParams(r *Rule, c Context, format string) []string {
	vals := r.paramsInForce(c)
	var ps []string
	for _, p := range r.Params {
		v := vals[p.Name]
		if s, ok := v.(string); ok && s == "" {
			continue
		}
		if l, ok := v.([]string); ok && len(l) == 0 {
			continue
		}
		if p.dependsOn != "" && vals[p.dependsOn] == "" {
			continue
		}
		ps = append(ps, fmt.Sprintf(format, p.Name, FormatValue(v)))
	}
	if len(ps) == 0 {
		ps = []string{"—"}
	}
	return ps
}

func mdEsc(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

var categoryTitle = map[string]string{
	Deceased: "死亡 deceased", Duplicate: "重复 duplicate", Ineligible: "不符合条件 ineligible",
	OneCard: "一卡通发放 one_card", DataQuality: "数据质量 data_quality",
}

// WriteMarkdown prints the catalogue as a Markdown page fit for
// publishing: a summary table, then one section per rule with its
// description, programs, parameters (type, value in force, default,
// range), explanation template and tests.
func WriteMarkdown(w io.Writer, set *Set, c Context) error {
	var b strings.Builder
	b.WriteString("# 筛查规则目录 Screening rules\n\n")
	fmt.Fprintf(&b, "%d rules (rule set %s, from %s). Every rule screens the payments of the screened periods and returns at most one hit per payment; ", len(set.Rules), set.Version, strings.Join(set.Origins, ", "))
	b.WriteString("each hit carries a severity, a one-sentence explanation and the source rows as evidence. A hit is a lead for review, not a verdict.\n\n")
	b.WriteString("| rule | 名称 | category | severity | programs | parameters | 依据 basis |\n|---|---|---|---|---|---|---|\n")
	dis := disabledSet(c)
	for _, r := range set.Rules {
		ps := shownParams(r, c, "`%s`=%s")
		id := "[`" + r.ID + "`](#" + r.ID + ")"
		if dis[r.ID] {
			id += " (disabled)"
		}
		basis := strings.TrimSpace(r.Basis)
		if basis == "" {
			basis = "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", id, mdEsc(r.Title), r.Category, r.Severity, mdEsc(r.appliesTo(c).String()), mdEsc(strings.Join(ps, ", ")), mdEsc(basis))
	}
	for _, cat := range Categories {
		first := true
		for _, r := range set.Rules {
			if r.Category != cat {
				continue
			}
			if first {
				fmt.Fprintf(&b, "\n## %s\n", categoryTitle[cat])
				first = false
			}
			writeRuleMarkdown(&b, r, c)
		}
	}
	b.WriteString("\n## 规则族 Rule families\n\nA rule file picks one of these templates (or writes a SELECT) and sets its parameters.\n\n| template | what it finds | evidence fields |\n|---|---|---|\n")
	for _, t := range Templates() {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", t.Name, mdEsc(t.Doc), strings.Join(t.Fields, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeRuleMarkdown(b *strings.Builder, r *Rule, c Context) {
	fmt.Fprintf(b, "\n### %s\n\n<a id=\"%s\"></a>`%s` · %s · severity %s · version %s · owner %s\n\n", r.Title, r.ID, r.ID, r.Category, r.Severity, r.Version, r.Owner)
	if r.Description != "" {
		fmt.Fprintf(b, "%s\n\n", strings.TrimSpace(r.Description))
	}
	if r.Basis != "" {
		fmt.Fprintf(b, "- Basis 依据: %s\n", strings.TrimSpace(r.Basis))
	}
	fmt.Fprintf(b, "- Programs: %s\n", r.appliesTo(c))
	if r.Template != "" {
		fmt.Fprintf(b, "- Family: `%s`\n", r.Template)
	} else {
		b.WriteString("- Family: SQL rule\n")
	}
	fmt.Fprintf(b, "- Explanation: `%s`\n", r.Explain)
	fmt.Fprintf(b, "- Tests: %d (`crosscheck rules test`)\n- File: `%s`\n", len(r.Tests), r.File)
	if len(r.Params) > 0 {
		vals := r.paramsInForce(c)
		b.WriteString("\n| parameter | type | value | default | range | meaning |\n|---|---|---|---|---|---|\n")
		for _, p := range r.Params {
			rng := ""
			if p.Min != nil || p.Max != nil {
				rng = p.rangeText()
			}
			if len(p.Allowed) > 0 {
				rng = strings.Join(p.Allowed, ", ")
			}
			fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s | %s |\n", p.Name, p.Type, mdEsc(FormatValue(vals[p.Name])), mdEsc(FormatValue(p.Default)), mdEsc(rng), mdEsc(p.Doc))
		}
	}
}
