package review

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/normalize/dates"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// exportHeaders are the Chinese column headers of an export.
var exportHeaders = []string{"案件编号", "姓名", "身份证号码", "项目代码", "项目名称", "主管部门", "县区", "乡镇", "县区代码", "乡镇代码", "行政区划代码",
	"起始期间", "截止期间", "严重程度", "疑点类别", "规则", "疑点说明", "死亡日期", "死亡信息来源", "佐证名单", "发放记录号",
	"疑点数", "发放笔数", "疑点金额(元)", "每月金额(元)", "佐证数据源数",
	"优先级", "状态", "承办人", "办理期限", "期限状态", "结论", "排除原因", "应追缴(元)", "已追缴(元)", "已停发", "移送纪检",
	"死亡记录已撤销", "生成时间"}

// export writes the cases of the current filter as .xlsx (ID numbers
// masked unless an admin asks for raw=1 with a reason).
func (s *Server) export(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q := r.URL.Query()
	f := filterOf(q)
	raw := q.Get("raw") == "1"
	if raw && (rc.user.Role != casestore.RoleAdmin || strings.TrimSpace(q.Get("reason")) == "") {
		s.failAny(w, r, rc, fmt.Errorf("%w: unmasked export needs the admin role and a reason", casestore.ErrForbidden))
		return
	}
	cases, err := s.store.Select(rc.actor.Scope, f, s.cfg.ExportLimit)
	if err != nil {
		s.failAny(w, r, rc, err)
		return
	}
	ids := make([]string, len(cases))
	for i, c := range cases {
		ids[i] = c.ID
	}
	if err := s.view(r, rc, "export.xlsx", "queue", "", map[string]any{"filter": f, "rows": len(cases), "raw": raw, "cases": ids}, q.Get("reason")); err != nil {
		s.failAny(w, r, rc, err)
		return
	}
	hits, err := s.store.HitsOf(r.Context(), rc.actor.Scope, ids)
	if err != nil {
		s.failAny(w, r, rc, err)
		return
	}
	x := excelize.NewFile()
	defer x.Close()
	sheet := "案件"
	x.SetSheetName("Sheet1", sheet)
	sw, err := x.NewStreamWriter(sheet)
	if err != nil {
		s.failAny(w, r, rc, err)
		return
	}
	head := make([]any, len(exportHeaders))
	for i, h := range exportHeaders {
		head[i] = h
	}
	_ = sw.SetColWidth(1, 3, 20)
	_ = sw.SetColWidth(17, 17, 60) // 疑点说明
	if err := sw.SetRow("A1", head); err != nil {
		s.failAny(w, r, rc, err)
		return
	}
	ck := s.store.Clock()
	for i, c := range cases {
		id := c.IDNumber
		if !raw {
			id = idnumber.Mask(id)
		}
		due := ""
		if c.DueAt != nil {
			due = c.DueAt.In(beijing).Add(-time.Second).Format("2006-01-02")
		}
		var toRec, rec float64
		var stopped, referred string
		if c.Outcome != nil {
			toRec, rec = c.Outcome.ToRecover, c.Outcome.Recovered
			stopped, referred = yesNo(c.Outcome.PaymentStopped), yesNo(c.Outcome.Referred)
		}
		k := keyEvidence(hits[c.ID], !raw)
		row := []any{c.ID, c.Name, id, c.ProgramCode, c.ProgramName, c.Department, regionName(c.CountyCode), regionName(c.TownshipCode),
			c.CountyCode, c.TownshipCode, c.RegionCode,
			c.FirstPeriod, c.LastPeriod, T("zh", c.Severity), strings.Join(categoryLabels("zh", c.Categories), "、"), ruleNames(c.RuleIDs),
			k.Explanation, k.DeathDate, k.DeathSource, strings.Join(k.Rosters, "、"), strings.Join(k.Payments, "、"), c.Hits, c.Payments,
			c.Amount, c.AmountPerMonth, c.Sources, c.Priority.Score, T("zh", c.Status), c.Assignee, due, T("zh", ck.DueState(c)),
			T("zh", c.Decision), T("zh", c.DismissReason), toRec, rec, stopped, referred, yesNo(c.DeathWithdrawn),
			c.CreatedAt.In(beijing).Format("2006-01-02 15:04")}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, row); err != nil {
			s.failAny(w, r, rc, err)
			return
		}
	}
	if err := sw.Flush(); err != nil {
		s.failAny(w, r, rc, err)
		return
	}
	if err := writeEvidenceSheet(x, cases, hits, !raw); err != nil {
		s.failAny(w, r, rc, err)
		return
	}
	name := "cases-" + time.Now().In(beijing).Format("20060102-1504") + ".xlsx"
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	if _, err := x.WriteTo(w); err != nil {
		s.log.Warn("export write", "err", err)
	}
}

// keyFacts is what a checker needs to act on a case, read from its hits.
type keyFacts struct {
	Explanation string   // the hits' explanations, one a line
	DeathDate   string   // the earliest death (or cancellation) date in the evidence
	DeathSource string   // the title of the source that gives it
	Rosters     []string // titles of the agreeing sources (rosters, registries)
	Payments    []string // payment serials (流水号) of the hits
}

// deathHeaders are the headers that give a date of death in evidence,
// most specific first.
var deathHeaders = []string{"死亡日期", "死亡时间", "注销日期"}

func keyEvidence(hits []casestore.Hit, mask bool) keyFacts {
	var k keyFacts
	seenExp, seenRoster, seenPay := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var exps []string
	best := len(deathHeaders)
	for _, h := range hits {
		if h.Suppressed != "" {
			continue
		}
		if !seenExp[h.Explanation] && h.Explanation != "" {
			seenExp[h.Explanation] = true
			exps = append(exps, h.Explanation)
		}
		if !seenPay[h.PaymentID] && h.PaymentID != "" {
			seenPay[h.PaymentID] = true
			k.Payments = append(k.Payments, h.PaymentID)
		}
		for _, ev := range parseEvidence(h.Evidence, h.PaymentSource, mask) {
			if ev.Payment {
				continue
			}
			title := ev.Title
			if title == "" {
				title = ev.Source
			}
			if !seenRoster[title] {
				seenRoster[title] = true
				k.Rosters = append(k.Rosters, title)
			}
			if h.Category != "deceased" {
				continue
			}
			for rank, dh := range deathHeaders {
				for _, v := range ev.Values {
					if v.K != dh || v.V == "" {
						continue
					}
					val := v.V
					if d, err := dates.Parse(v.V, nil); err == nil {
						val = d.Format("2006-01-02")
					}
					if k.DeathDate == "" || rank < best || (rank == best && val < k.DeathDate) {
						k.DeathDate, k.DeathSource, best = val, title, rank
					}
				}
			}
		}
	}
	k.Explanation = strings.Join(exps, "\n")
	return k
}

// writeEvidenceSheet adds the sheet 证据: one row per evidence row of each
// case (the payment and the records it was matched with), personal
// identifiers masked unless raw.
func writeEvidenceSheet(x *excelize.File, cases []*casestore.Case, hits map[string][]casestore.Hit, mask bool) error {
	const sheet = "证据"
	if _, err := x.NewSheet(sheet); err != nil {
		return err
	}
	sw, err := x.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	_ = sw.SetColWidth(7, 7, 100)
	if err := sw.SetRow("A1", []any{"案件编号", "姓名", "规则", "期间", "数据来源", "文件及行号", "记录内容"}); err != nil {
		return err
	}
	n := 2
	for _, c := range cases {
		for _, h := range hits[c.ID] {
			for _, ev := range parseEvidence(h.Evidence, h.PaymentSource, mask) {
				parts := make([]string, len(ev.Values))
				for i, v := range ev.Values {
					parts[i] = v.K + "：" + v.V
					if v.Note != "" {
						parts[i] += "（" + v.Note + "）"
					}
				}
				title := ev.Title
				if title == "" {
					title = ev.Source
				}
				cell, _ := excelize.CoordinatesToCellName(1, n)
				if err := sw.SetRow(cell, []any{c.ID, c.Name, ruleTitleOf("zh", h.RuleID), h.Period, title,
					fmt.Sprintf("%s 第%d行", ev.File, ev.Row), strings.Join(parts, "；")}); err != nil {
					return err
				}
				n++
			}
		}
	}
	return sw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "是"
	}
	return "否"
}

func ruleNames(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = ruleTitleOf("zh", id)
	}
	return strings.Join(out, "、")
}

// failAny answers with a JSON error for API paths and an error page
// otherwise (a case that is absent or out of scope: "not found" in the
// user's language).
func (s *Server) failAny(w http.ResponseWriter, r *http.Request, rc *reqCtx, err error) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		s.fail(w, err)
		return
	}
	code, msg := statusOf(err), err.Error()
	if code == http.StatusNotFound {
		msg = T(rc.lang, "not_found") // a case outside the user's scope looks absent
	}
	s.render(w, r, rc, code, "error.html", nil, msg)
}
