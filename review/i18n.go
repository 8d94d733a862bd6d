package review

import (
	"net/http"
	"net/url"
	"strings"
)

// messages: key → [Chinese, English].
var messages = map[string][2]string{
	"app":                 {"惠民惠农补贴疑点核查", "Subsidy case review"},
	"login":               {"登录", "Sign in"},
	"logout":              {"退出", "Sign out"},
	"username":            {"用户名", "Username"},
	"password":            {"密码", "Password"},
	"queue":               {"疑点案件", "Cases"},
	"dashboard":           {"规则看板", "Rule dashboard"},
	"exceptions":          {"例外登记", "Exception register"},
	"params":              {"参数", "Parameters"},
	"audit":               {"审计日志", "Audit log"},
	"filter":              {"筛选", "Filter"},
	"export":              {"导出Excel", "Export .xlsx"},
	"all":                 {"全部", "All"},
	"open":                {"未办结", "Open"},
	"program":             {"项目", "Program"},
	"rule":                {"规则", "Rule"},
	"county":              {"县区", "County"},
	"status":              {"状态", "Status"},
	"priority":            {"优先级", "Priority"},
	"due":                 {"期限", "Deadline"},
	"case":                {"案件", "Case"},
	"name":                {"姓名", "Name"},
	"id_number":           {"身份证号码", "ID number"},
	"department":          {"主管部门", "Department"},
	"period":              {"期间", "Period"},
	"amount":              {"疑点金额", "Amount"},
	"assignee":            {"承办人", "Assignee"},
	"severity":            {"严重程度", "Severity"},
	"total":               {"共", "Total"},
	"page":                {"页", "Page"},
	"prev":                {"上一页", "Previous"},
	"next":                {"下一页", "Next"},
	"none":                {"无", "None"},
	"explanation":         {"疑点说明", "Explanation"},
	"evidence":            {"比对证据", "Evidence"},
	"hits":                {"疑点", "Hits"},
	"history":             {"办理记录", "History"},
	"actions":             {"办理", "Actions"},
	"link_score":          {"关联概率", "Link probability"},
	"priority_parts":      {"优先级构成", "Priority parts"},
	"part":                {"因素", "Part"},
	"input":               {"取值", "Value"},
	"points":              {"得分", "Points"},
	"weight":              {"权重", "Weight"},
	"sources":             {"佐证数据源", "Agreeing sources"},
	"money":               {"每月涉及金额", "Money at risk per month"},
	"precision":           {"规则历史准确率", "Rule precision in past reviews"},
	"assign":              {"分派", "Assign"},
	"assign_me":           {"分派给我", "Assign to me"},
	"verify":              {"村级核查完成，转乡镇审核", "Village check done: township review"},
	"confirm":             {"确认属实", "Confirm"},
	"dismiss":             {"排除疑点", "Dismiss"},
	"outcome":             {"更新处理结果", "Update outcome"},
	"close":               {"办结", "Close"},
	"reopen":              {"重新打开", "Reopen"},
	"note":                {"备注", "Note"},
	"add_note":            {"添加备注", "Add note"},
	"reason":              {"理由", "Reason"},
	"text":                {"说明", "Text"},
	"payment_stopped":     {"已停发", "Payment stopped"},
	"to_recover":          {"应追缴金额", "Amount to recover"},
	"recovered":           {"已追缴金额", "Amount recovered"},
	"referred":            {"移送纪检监察机关", "Referred to discipline body"},
	"death_withdrawn":     {"死亡记录已撤销：后续比对不再显示该死亡记录，请核实并恢复发放", "Death record withdrawn: a later run no longer sees the death; check and reinstate"},
	"evidence_changed":    {"证据已变化", "Evidence changed"},
	"overdue":             {"已超期", "Overdue"},
	"due_soon":            {"即将到期", "Due soon"},
	"on_time":             {"期限内", "On time"},
	"escalated":           {"已超期上报市级", "Escalated to prefecture"},
	"township":            {"乡镇", "Township"},
	"prefecture":          {"市", "Prefecture"},
	"show_raw":            {"显示完整证件号（记入审计）", "Show full ID numbers (audited)"},
	"masked":              {"已脱敏", "masked"},
	"cases":               {"案件数", "Cases"},
	"confirmed_n":         {"属实", "Confirmed"},
	"dismissed_n":         {"排除", "Dismissed"},
	"open_n":              {"在办", "Open"},
	"overdue_n":           {"超期", "Overdue"},
	"precision_pct":       {"准确率", "Precision"},
	"dismiss_reasons":     {"排除原因", "Dismissal reasons"},
	"person":              {"身份证号码", "ID number"},
	"owner":               {"责任人", "Owner"},
	"expires":             {"有效期至", "Expires"},
	"add":                 {"登记", "Add"},
	"revoke":              {"撤销", "Revoke"},
	"revoked":             {"已撤销", "Revoked"},
	"save":                {"保存", "Save"},
	"when":                {"时间", "When"},
	"who":                 {"操作人", "Who"},
	"what":                {"操作", "What"},
	"why":                 {"原因", "Why"},
	"detail":              {"详情", "Detail"},
	"suppressed":          {"已抑制", "Suppressed"},
	"version":             {"版本", "Version"},
	"run":                 {"批次", "Run"},
	"row":                 {"行", "row"},
	"file":                {"文件", "file"},
	"not_found":           {"案件不存在或不在您的权限范围内", "No such case in your scope"},
	"bad_login":           {"用户名或密码错误", "Wrong username or password"},
	"locked":              {"登录失败次数过多，请稍后再试", "Too many failed sign-ins; try again later"},
	"done":                {"已保存", "Saved"},
	"lang_switch":         {"English", "中文"},
	"stop_list":           {"停发名单", "Stop list"},
	"reopened":            {"重新打开", "Reopened"},
	"route":               {"承办单位", "Routed to"},
	"stage_started":       {"本阶段开始", "Stage started"},
	"decision":            {"结论", "Decision"},
	"yes":                 {"是", "yes"},
	"no":                  {"否", "no"},
	"params_json":         {"参数（JSON）", "Parameters (JSON)"},
	"params_history":      {"参数变更记录", "Parameter history"},
	"new":                 {"新发现", "New"},
	"assigned":            {"已分派（村级核查）", "Assigned (village check)"},
	"verifying":           {"核实中（乡镇审核）", "Verifying (township review)"},
	"confirmed":           {"已确认属实", "Confirmed"},
	"dismissed":           {"已排除", "Dismissed"},
	"closed":              {"已办结", "Closed"},
	"high":                {"高", "High"},
	"medium":              {"中", "Medium"},
	"low":                 {"低", "Low"},
	"source_data_error":   {"源数据错误", "Source data error"},
	"eligible":            {"经核实符合条件", "Eligible after all"},
	"registered_guardian": {"登记的监护人代领", "Registered guardian"},
	"exempt_asset":        {"属豁免财产", "Exempt asset"},
	"already_handled":     {"此前已处理", "Already handled"},
	"other":               {"其他（须说明）", "Other (explain)"},
	"created":             {"生成案件", "Case raised"},
	"hits_added":          {"新增疑点", "Hits added"},
	"reopened_ev":         {"重新打开", "Reopened"},
	"region_code":         {"区划代码", "division code"},
	"region":              {"所在地", "Place"},
	"yuan":                {"元", "yuan"},
	"payments_unit":       {"笔", "payments"},
	"death_date":          {"死亡日期", "Date of death"},
	"death_source":        {"死亡信息来源", "Death recorded by"},
	"rosters":             {"佐证名单", "Matched with"},
	"serials":             {"发放记录号", "Payment serials"},
	"print_sheet":         {"打印核查通知单", "Print check notice"},
	"print_sheets":        {"打印核查通知单（按村）", "Print check notices (by village)"},
	"sheet_title":         {"惠民惠农补贴疑点核查通知单", "Subsidy check notice"},
	"sheet_hint":          {"每件一页，按村（社区）排列；用浏览器“打印”输出纸质或PDF", "one case a page, by village; print or save as PDF from the browser"},
	"sheet_unit":          {"件", "cases"},
	"sheet_no":            {"编号", "No."},
	"sheet_printed":       {"打印日期", "printed"},
	"sheet_to":            {"致", "To the checker of"},
	"sheet_to_tail":       {"村（社区）核查人员：经数据比对，发现以下补贴发放疑点，请入户核实并于期限前反馈。", ": data matching raised the case below; please verify it on the spot and report back before the deadline."},
	"sheet_result":        {"核查结果（由核查人员填写）", "Result (filled in by the checker)"},
	"sheet_found":         {"核查结论", "Finding"},
	"sheet_true":          {"属实", "true"},
	"sheet_false":         {"不属实", "not true"},
	"sheet_partly":        {"部分属实", "partly true"},
	"sheet_facts":         {"核实情况", "What was found"},
	"sheet_village":       {"村（社区）意见", "Village"},
	"sheet_township":      {"乡镇审核意见", "Township review"},
	"sheet_sign":          {"签字：　　　　　　日期：　　年　　月　　日", "Signature:              Date:"},
	"category":            {"疑点类别", "Category"},
	"admin":               {"管理员", "admin"},
	"reviewer":            {"核查人员", "reviewer"},
	"analyst":             {"分析人员", "analyst"},
	"platform":            {"平台运维", "platform"},
	"check":               {"申请时核验", "Applicant check"},
	"check_hint":          {"受理补贴申请时，按身份证号码、姓名、项目和期间与参照库比对；每次核验均记入审计日志。", "When taking an application, check the applicant's ID number, name, program and period against the reference store; every check is audited."},
	"check_submit":        {"核验", "Check"},
	"check_unavailable":   {"申请时核验不可用：服务未配置参照库，或您的角色无此权限", "Applicant check unavailable: no reference store, or your role may not check"},
	"check_too_many":      {"核验过于频繁，请稍后再试", "Too many checks: try again shortly"},
	"check_failed":        {"核验失败，请稍后再试或联系管理员", "The check failed: try again or ask the administrator"},
	"check_clear":         {"未发现问题", "No problems found"},
	"check_clear_hint":    {"按现有参照数据，该申请人申请此项目未触发任何比对规则。", "With the reference data held, this applicant raises no rule for this program."},
	"check_found":         {"发现疑点，请核实后再受理", "Problems found: check them before accepting the application"},
	"check_known":         {"在户籍登记中", "In the registry"},
	"check_unknown":       {"不在户籍登记中", "Not in the registry"},
	"id_status":           {"证件号状态", "ID status"},
	"choose":              {"请选择", "Choose"},
	"period_hint":         {"年-月，如2024-05", "YYYY-MM, e.g. 2024-05"},
}

// T translates a message key.
func T(lang, key string) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	if lang == "en" {
		return m[1]
	}
	return m[0]
}

func langOf(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && c.Value == "en" {
		return "en"
	}
	return "zh"
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// safeNext keeps redirects on this site.
// safeNext keeps a redirect target on this site: a path starting with one
// "/", without backslashes or control characters (browsers drop tabs and
// newlines and read "\\" as "/", so "/\t/evil.com" is "//evil.com" to them).
func safeNext(next string) string {
	if next == "" || next[0] != '/' || (len(next) > 1 && (next[1] == '/' || next[1] == '\\')) ||
		strings.ContainsFunc(next, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) {
		return "/cases"
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/cases"
	}
	return next
}

func (s *Server) setLang(w http.ResponseWriter, r *http.Request) {
	l := r.URL.Query().Get("to")
	if l != "en" {
		l = "zh"
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600, HttpOnly: true,
		Secure: s.cfg.CookieSecure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, safeNext(r.URL.Query().Get("back")), http.StatusSeeOther)
}
