package publish

import (
	"fmt"
	"strings"

	"github.com/crosscheck/crosscheck/regions"
	"github.com/crosscheck/crosscheck/rules"
)

var frequencies = map[string]string{"monthly": "按月", "quarterly": "按季", "annual": "按年", "once": "一次性"}

var requirements = map[string]string{"disability": "持有残疾人证", "ssc": "持有社会保障卡"}

// Build makes the pack of a run: the policy list from its catalogue, the
// rules in force described from the rule set, and the results tables
// with small cells suppressed.
func Build(r *Run, set *rules.Set, title string, minPersons int64) *Pack {
	ms := Measures
	if r.Outcomes {
		ms = append(append([]Measure(nil), Measures...), OutcomeMeasures...)
	}
	p := &Pack{Title: title, RunID: r.RunID, Periods: r.Periods, MinPersons: minPersons}
	names := map[string]string{}
	for _, g := range r.Programs {
		names[g.Code] = g.Name
		l := PolicyLine{Code: g.Code, Name: g.Name, Department: g.Department, Frequency: frequencies[g.Frequency],
			Standard: g.StandardText, Basis: g.LegalBasis}
		if l.Frequency == "" {
			l.Frequency = g.Frequency
		}
		if l.Standard == "" && g.StandardAmount != nil {
			l.Standard = fmt.Sprintf("每期%.2f元", *g.StandardAmount)
		}
		var cond []string
		switch {
		case g.MinAge != nil && g.MaxAge != nil:
			cond = append(cond, fmt.Sprintf("年龄%d至%d周岁", *g.MinAge, *g.MaxAge))
		case g.MinAge != nil:
			cond = append(cond, fmt.Sprintf("年满%d周岁", *g.MinAge))
		case g.MaxAge != nil:
			cond = append(cond, fmt.Sprintf("不超过%d周岁", *g.MaxAge))
		}
		if g.Requires != "" {
			c := requirements[g.Requires]
			if c == "" {
				c = "须有" + g.Requires + "记录"
			}
			cond = append(cond, c)
		}
		if g.SSCRequired {
			cond = append(cond, "须发放至本人社会保障卡")
		}
		if g.PayableAfterDeath {
			cond = append(cond, "死亡后可发放")
		}
		p.Policies = append(p.Policies, l)
		p.Policies[len(p.Policies)-1].Conditions = strings.Join(cond, "；")
		// exclusive programs named once every name is known, below
	}
	for i, g := range r.Programs {
		var ex []string
		for _, c := range g.ExclusiveWith {
			if n := names[c]; n != "" {
				ex = append(ex, n)
			} else {
				ex = append(ex, c)
			}
		}
		var cond []string
		if p.Policies[i].Conditions != "" {
			cond = append(cond, p.Policies[i].Conditions)
		}
		if len(ex) > 0 {
			cond = append(cond, "不得同时享受"+strings.Join(ex, "、"))
		}
		for _, l := range g.ExclusiveRosters {
			cond = append(cond, "不得"+l)
		}
		p.Policies[i].Conditions = strings.Join(cond, "；")
		if p.Policies[i].Conditions == "" {
			p.Policies[i].Conditions = "—"
		}
	}
	for _, ri := range r.Rules {
		l := RuleLine{ID: ri.ID, Category: rules.CategoryName(ri.Category, "zh"), Params: sortedParams(ri.Params)}
		if set != nil {
			if rule, ok := set.Lookup(ri.ID); ok {
				l.Title = rule.Title
				l.What = strings.Join(strings.Fields(rule.Description), "")
			}
		}
		if l.Title == "" {
			l.Title = ri.ID
		}
		p.Rules = append(p.Rules, l)
	}
	label := func(dim, key string) string {
		switch dim {
		case "county":
			if key == "" {
				return "（无区划代码）"
			}
			return regions.Label(key)
		case "program":
			if n := names[key]; n != "" {
				return n
			}
		}
		return key
	}
	p.Tables = Tables(r.Rows, ms, label, minPersons)
	return p
}
