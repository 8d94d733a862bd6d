package review

// people.go turns what the case store keeps (region codes, source ids,
// rule ids, event and audit JSON) into what a reviewer reads: 杞县,
// 公安户籍人口, the rule's title in the page's language, and one sentence
// per history or audit entry.

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/regions"
	"github.com/crosscheck/crosscheck/rules"
)

// ruleTitles are the built-in rules' titles: id → [Chinese, English].
var ruleTitles = func() map[string][2]string {
	m := map[string][2]string{}
	set, err := rules.LoadBuiltin()
	if err != nil {
		return m
	}
	for _, r := range set.Rules {
		m[r.ID] = [2]string{r.Title, r.TitleEn}
	}
	return m
}()

// ruleTitleOf returns a rule's title in lang; an unknown rule (or one
// without an English title) shows its id.
func ruleTitleOf(lang, id string) string {
	t, ok := ruleTitles[id]
	if !ok {
		return id
	}
	if lang == "en" {
		if t[1] != "" {
			return t[1]
		}
		return id
	}
	return t[0]
}

// regionName names a region code for a reviewer: 杞县 for 410221,
// 葛岗镇 for 410221102; the code itself when the table does not know it.
func regionName(code string) string {
	code = strings.TrimSpace(code)
	if code == "" {
		return ""
	}
	if len(code) > 9 {
		if n := regions.Name(code[:9]); n != "" {
			return regions.CountyName(code) + n
		}
		if n := regions.CountyName(code); n != "" {
			return n
		}
	}
	return regions.Label(code)
}

// regionFull names a code with the divisions above it (开封市杞县葛岗镇).
func regionFull(code string) string {
	code = strings.TrimSpace(code)
	if len(code) > 9 {
		code = code[:9]
	}
	return regions.Describe(code)
}

// sourceTitles maps the source ids of a case's evidence to their titles
// (each evidence row carries the title the job gave its source).
func sourceTitles(hits []casestore.Hit) map[string]string {
	out := map[string]string{}
	for _, h := range hits {
		var items []struct {
			Source string `json:"source"`
			Title  string `json:"title"`
		}
		if json.Unmarshal([]byte(h.Evidence), &items) != nil {
			continue
		}
		for _, it := range items {
			if it.Title != "" && it.Source != "" {
				out[it.Source] = it.Title
			}
		}
	}
	return out
}

// sourceLabels returns the titles of sources, in order, ids where no
// title is known.
func sourceLabels(ids []string, titles map[string]string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if t := titles[id]; t != "" {
			out[i] = t
		} else {
			out[i] = id
		}
	}
	return out
}

// categoryLabels names hit categories (deceased → 死亡后仍发放).
func categoryLabels(lang string, cats []string) []string {
	out := make([]string, len(cats))
	for i, c := range cats {
		out[i] = rules.CategoryName(c, lang)
	}
	return out
}

// sentences are the templates of history and audit sentences: key →
// [Chinese, English]; %[1]s is the actor.
var sentences = map[string][2]string{
	"created":           {"导入比对批次 %[2]s，生成案件（%[3]s 条疑点）", "Case raised by run %[2]s (%[3]s hits)"},
	"hits_added":        {"比对批次 %[2]s 新增 %[3]s 条疑点", "Run %[2]s added %[3]s hits"},
	"hits_added_sup":    {"比对批次 %[2]s 新增 %[3]s 条疑点（其中 %[4]s 条因已排除而抑制）", "Run %[2]s added %[3]s hits (%[4]s suppressed as already dismissed)"},
	"hits_added_ev":     {"；证据有变化", "; the evidence changed"},
	"reopened_death":    {"比对批次 %[2]s 不再显示所依据的死亡记录，案件重新打开", "Run %[2]s no longer shows the death record the case rests on: reopened"},
	"reopened_evidence": {"比对批次 %[2]s 的证据有变化，案件重新打开", "The evidence of run %[2]s changed: reopened"},
	"assign":            {"%[1]s 将案件分派给 %[2]s", "%[1]s assigned the case to %[2]s"},
	"reassign":          {"%[1]s 将案件由 %[3]s 改派给 %[2]s", "%[1]s reassigned the case from %[3]s to %[2]s"},
	"verify":            {"%[1]s 完成村级核查，转乡镇审核", "%[1]s finished the village check; township review"},
	"confirm":           {"%[1]s 确认疑点属实%[2]s", "%[1]s confirmed the case%[2]s"},
	"dismiss":           {"%[1]s 排除疑点，原因：%[2]s", "%[1]s dismissed the case: %[2]s"},
	"outcome":           {"%[1]s 更新处理结果%[2]s", "%[1]s updated the outcome%[2]s"},
	"close":             {"%[1]s 办结案件", "%[1]s closed the case"},
	"reopen":            {"%[1]s 重新打开案件%[2]s", "%[1]s reopened the case%[2]s"},
	"reopen_prior":      {"（此前结论：%s）", " (earlier decision: %s)"},
	"note":              {"%[1]s 添加备注", "%[1]s added a note"},
	"outcome_text":      {"：%s；应追缴 %s 元，已追缴 %s 元；%s", ": %s; %s yuan to recover, %s recovered; %s"},
	"stopped":           {"已停发", "payment stopped"},
	"not_stopped":       {"未停发", "payment not stopped"},
	"referred_yes":      {"已移送纪检监察机关", "referred to the discipline body"},
	"referred_no":       {"未移送纪检监察机关", "not referred"},
	"login":             {"%[1]s 登录", "%[1]s signed in"},
	"logout":            {"%[1]s 退出", "%[1]s signed out"},
	"view.case":         {"%[1]s 查看案件 %[2]s", "%[1]s viewed case %[2]s"},
	"view.case.raw":     {"%[1]s 查看案件 %[2]s 的完整证件号", "%[1]s viewed the full ID numbers of case %[2]s"},
	"view.queue":        {"%[1]s 查看疑点案件列表（%[3]s 件）", "%[1]s viewed the case list (%[3]s cases)"},
	"view.exceptions":   {"%[1]s 查看例外登记", "%[1]s viewed the exception register"},
	"view.stoplist":     {"%[1]s 查看停发名单", "%[1]s viewed the stop list"},
	"view.sheet":        {"%[1]s 打印核查通知单（%[3]s 件）", "%[1]s printed check notices (%[3]s cases)"},
	"export.xlsx":       {"%[1]s 导出Excel（%[3]s 件）", "%[1]s exported .xlsx (%[3]s cases)"},
	"export.xlsx.raw":   {"%[1]s 导出含完整证件号的Excel（%[3]s 件）", "%[1]s exported .xlsx with full ID numbers (%[3]s cases)"},
	"run.import":        {"%[1]s 导入比对批次 %[2]s：%[3]s 条疑点，新案件 %[4]s 件，合并 %[5]s 件", "%[1]s imported run %[2]s: %[3]s hits, %[4]s new cases, %[5]s merged"},
	"params.change":     {"%[1]s 修改案件参数", "%[1]s changed the case parameters"},
	"rules.change":      {"%[1]s 启用规则集 %[2]s", "%[1]s brought rule set %[2]s into use"},
	"exception.add":     {"%[1]s 登记例外 #%[2]s", "%[1]s registered exception #%[2]s"},
	"exception.revoke":  {"%[1]s 撤销例外 #%[2]s", "%[1]s revoked exception #%[2]s"},
	"check":             {"%[1]s 核验申请人 %[2]s：项目 %[3]s，期间 %[4]s，疑点 %[5]s 条", "%[1]s checked applicant %[2]s: program %[3]s, period %[4]s, %[5]s hits"},
	"check.raw":         {"%[1]s 核验申请人 %[2]s 并查看完整证件号：项目 %[3]s，期间 %[4]s，疑点 %[5]s 条", "%[1]s checked applicant %[2]s with full ID numbers: program %[3]s, period %[4]s, %[5]s hits"},
	"screen.roll":       {"%[1]s 比对发放名册 %[2]s：%[3]s 笔发放，停发 %[4]s 笔", "%[1]s screened roll %[2]s: %[3]s payments, %[4]s to stop"},
	"generic":           {"%[1]s：%[2]s %[3]s", "%[1]s: %[2]s %[3]s"},
}

func sentence(lang, key string, args ...any) string {
	s, ok := sentences[key]
	if !ok {
		return key
	}
	f := s[0]
	if lang == "en" {
		f = s[1]
	}
	return fmt.Sprintf(f, args...)
}

// people names users: username → display name.
type people func(username string) string

func (s *Server) personName(username string) string {
	if username == "" {
		return ""
	}
	if s.users != nil {
		if u := s.users.Get(username); u != nil && u.Name != "" {
			return u.Name
		}
	}
	return username
}

func num(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return "0"
	case string:
		return x
	}
	return fmt.Sprint(v)
}

func outcomeText(lang string, o map[string]any) string {
	if o == nil {
		return ""
	}
	money := func(k string) string {
		f, _ := o[k].(float64)
		return strconv.FormatFloat(f, 'f', 2, 64)
	}
	st, rf := "not_stopped", "referred_no"
	if b, _ := o["payment_stopped"].(bool); b {
		st = "stopped"
	}
	if b, _ := o["referred_to_discipline"].(bool); b {
		rf = "referred_yes"
	}
	return sentence(lang, "outcome_text", sentence(lang, st), money("amount_to_recover"), money("amount_recovered"), sentence(lang, rf))
}

// eventSentence describes one case history entry.
func eventSentence(lang string, e casestore.Event, name people) string {
	var d map[string]any
	_ = json.Unmarshal([]byte(e.Detail), &d)
	return actionSentence(lang, e.Action, name(e.Actor), e.RunID, d, name)
}

// actionSentence describes a case action (case history) by its kind.
func actionSentence(lang, action, actor, runID string, d map[string]any, name people) string {
	str := func(k string) string { s, _ := d[k].(string); return s }
	obj := func(k string) map[string]any { m, _ := d[k].(map[string]any); return m }
	switch action {
	case "created":
		return sentence(lang, "created", actor, runID, num(d["hits"]))
	case "hits_added":
		out := sentence(lang, "hits_added", actor, runID, num(d["hits"]))
		if n := num(d["suppressed"]); n != "0" {
			out = sentence(lang, "hits_added_sup", actor, runID, num(d["hits"]), n)
		}
		if b, _ := d["evidence_changed"].(bool); b {
			out += sentence(lang, "hits_added_ev")
		}
		return out
	case "reopened":
		if str("cause") == "death_withdrawn" {
			return sentence(lang, "reopened_death", actor, runID)
		}
		return sentence(lang, "reopened_evidence", actor, runID)
	case casestore.ActAssign:
		if from := str("from"); from != "" && from != str("to") {
			return sentence(lang, "reassign", actor, name(str("to")), name(from))
		}
		return sentence(lang, "assign", actor, name(str("to")))
	case casestore.ActVerify, casestore.ActClose, casestore.ActNote:
		return sentence(lang, action, actor)
	case casestore.ActConfirm:
		return sentence(lang, "confirm", actor, outcomeText(lang, obj("outcome")))
	case casestore.ActDismiss:
		return sentence(lang, "dismiss", actor, T(lang, str("reason")))
	case casestore.ActOutcome:
		return sentence(lang, "outcome", actor, outcomeText(lang, obj("after")))
	case casestore.ActReopen:
		prior := ""
		if dec := str("decision"); dec != "" {
			prior = sentence(lang, "reopen_prior", T(lang, dec))
		}
		return sentence(lang, "reopen", actor, prior)
	}
	return sentence(lang, "generic", actor, T(lang, action), "")
}

// auditSentence describes one audit log entry.
func auditSentence(lang string, a casestore.AuditEntry, name people) string {
	var d map[string]any
	_ = json.Unmarshal([]byte(a.Detail), &d)
	actor := name(a.Actor)
	if kind, ok := strings.CutPrefix(a.Action, "case."); ok {
		return actionSentence(lang, kind, actor, "", d, name) + " · " + T(lang, "case") + " " + a.ObjectID
	}
	key := a.Action
	switch a.Action {
	case "export.xlsx":
		if b, _ := d["raw"].(bool); b {
			key = "export.xlsx.raw"
		}
		return sentence(lang, key, actor, a.ObjectID, num(d["rows"]))
	case "view.queue", "view.sheet":
		return sentence(lang, key, actor, a.ObjectID, num(d["total"]))
	case "check", "check.raw":
		return sentence(lang, key, actor, a.ObjectID, fmt.Sprint(d["program"]), fmt.Sprint(d["period"]), num(d["hits"]))
	case "screen.roll":
		return sentence(lang, key, actor, a.ObjectID, num(d["payments"]), num(d["stops"]))
	case "run.import":
		return sentence(lang, key, actor, a.ObjectID, num(d["hits"]), num(d["new_cases"]), num(d["merged_cases"]))
	}
	if _, ok := sentences[key]; ok {
		return sentence(lang, key, actor, a.ObjectID)
	}
	// an action this page does not know: say what it is, with its detail
	// keys in order so nothing is hidden
	var keys []string
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+fmt.Sprint(d[k]))
	}
	return sentence(lang, "generic", actor, a.Action+" "+a.ObjectType+" "+a.ObjectID, strings.Join(parts, ", "))
}
