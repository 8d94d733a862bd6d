package dataset

import (
	"strings"
	"testing"
)

// Evidence masks the declared personal values and nothing else; evidence
// without declarations (written before them) falls back to digit runs.
func TestMaskEvidence(t *testing.T) {
	ev := `[{"source":"pay","title":"发放名单","file":"a.csv","row":2,` +
		`"values":{"流水号":"CG2405-0831","身份证号":"411082194501030012","银行账号":"6228480012345678901","村代码":"411082102201","户号":"4110820012345","姓名":"张三"},` +
		`"personal":{"身份证号":"id","银行账号":"account","姓名":"name"}}]`
	got := MaskEvidence(ev, nil, false)
	for _, hidden := range []string{"411082194501030012", "6228480012345678901"} {
		if strings.Contains(got, hidden) {
			t.Errorf("%s not masked: %s", hidden, got)
		}
	}
	for _, shown := range []string{"CG2405-0831", "411082102201", "4110820012345", "张三", `"title":"发放名单"`} {
		if !strings.Contains(got, shown) {
			t.Errorf("%s masked or lost: %s", shown, got)
		}
	}
	if named := MaskEvidence(ev, nil, true); strings.Contains(named, "张三") {
		t.Errorf("name not masked with maskNames: %s", named)
	}
	// The job's declaration for a source counts where the row has none.
	legacy := `[{"source":"pay","file":"a.csv","row":2,"values":{"流水号":"CG2405-0831","身份证号":"411082194501030012","村代码":"411082102201"}}]`
	got = MaskEvidence(legacy, map[string]map[string]Personal{"pay": {"身份证号": PersonalID}}, false)
	if strings.Contains(got, "411082194501030012") || !strings.Contains(got, "411082102201") {
		t.Errorf("job declaration not applied: %s", got)
	}
	// Neither: every run of 12+ digits is masked.
	got = MaskEvidence(legacy, nil, false)
	if strings.Contains(got, "411082194501030012") || strings.Contains(got, "411082102201") || !strings.Contains(got, "CG2405-0831") {
		t.Errorf("legacy evidence not masked by digit runs: %s", got)
	}
	if got := MaskEvidence("not json 411082194501030012", nil, false); strings.Contains(got, "411082194501030012") {
		t.Errorf("unparsable evidence not masked: %s", got)
	}
}
