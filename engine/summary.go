package engine

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/crosscheck/crosscheck/textwidth"
)

// Languages of the terminal summary.
const (
	LangZH = "zh"
	LangEN = "en"
)

// SummaryLang returns the summary language: flag when set, else the
// CROSSCHECK_LANG environment variable, else Chinese. It accepts zh, en
// and locale-like values (en_US.UTF-8, zh-CN).
func SummaryLang(flag string) (string, error) {
	v := flag
	if v == "" {
		v = os.Getenv("CROSSCHECK_LANG")
	}
	v = strings.ToLower(strings.TrimSpace(v))
	switch {
	case v == "":
		return LangZH, nil
	case strings.HasPrefix(v, "zh"):
		return LangZH, nil
	case strings.HasPrefix(v, "en"):
		return LangEN, nil
	}
	return "", fmt.Errorf("language %q: want zh or en", v)
}

// writeAligned writes rows as columns padded to their display width, two
// spaces apart; columns flagged in right are right-aligned (numbers).
func writeAligned(w io.Writer, rows [][]string, right []bool) {
	widths := map[int]int{}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], textwidth.Of(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-textwidth.Of(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < len(right) && right[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// yuan formats an amount with thousands separators and two decimals.
func yuan(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String() + "." + frac
	if neg {
		out = "-" + out
	}
	return out
}

var summaryStages = map[string]string{"check": "检查", "load": "加载", "identity": "身份匹配", "store": "建库", "load_rolls": "加载发放名单",
	"rules": "规则", "cases": "案件", "write": "写出"}

// summaryText holds the summary's words in one language.
type summaryText struct {
	head                                   string
	category, program, hits, amount, total string
	rows                                   string
	time                                   string
	stage                                  func(string) string
	report                                 string
	amountNote                             string
	casesNote                              string
	noCounty                               string
}

func summaryWords(lang string) summaryText {
	if lang == LangEN {
		return summaryText{
			head:     "run %s: %d hits in %d cases; output in %s",
			category: "category", program: "program", hits: "hits", amount: "amount (yuan)", total: "total",
			rows:       "rows read %d = accepted %d + quarantined %d (see quality.md)",
			time:       "time %.2fs (%s); peak memory %.1f MiB",
			stage:      func(s string) string { return s },
			report:     "report: %s",
			amountNote: "a payment hit by several rules counts once in the total amount",
			casesNote:  "cases: one per person, program and period (cases.csv); the case store merges the periods of a person and program into one case (crosscheck cases import says how)",
			noCounty:   "cases with no county: %d, in their department's prefecture or province queue: %d, with no region: %d (see quality.md)",
		}
	}
	return summaryText{
		head:     "运行 %s：%d 条疑点，%d 个案件；输出目录 %s",
		category: "疑点类别", program: "补贴项目", hits: "疑点数", amount: "金额（元）", total: "合计",
		rows: "读入 %d 行 = 接收 %d + 隔离 %d（详见 quality.md）",
		time: "耗时 %.2f 秒（%s）；内存峰值 %.1f MiB",
		stage: func(s string) string {
			if z, ok := summaryStages[s]; ok {
				return z
			}
			return s
		},
		report:     "运行报告：%s",
		amountNote: "一笔发放命中多条规则时，合计金额只计一次",
		casesNote:  "案件按人员、项目和期次各计一件（cases.csv）；案件库把同一人同一项目的各期合并为一件（crosscheck cases import 会说明合并情况）",
		noCounty:   "无县区归属的案件 %d 件：其中 %d 件进入部门的市级或省级队列，%d 件无任何区划（详见 quality.md）",
	}
}
