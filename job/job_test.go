package job

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const minimal = `
name: t
periods: ["202405"]
sources:
  - name: pay
    role: payment
    connector: csv
    path: pay.csv
    options: {encoding: gbk}
    columns:
      payment_id: 记录号
      program_code: {column: 项目, map: {高龄津贴: gaoling}}
      period: 期间
      id_number: 身份证号
      name: 姓名
      amount: 金额
      region_code: {constant: "411082"}
`

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadMinimal(t *testing.T) {
	j, err := Load(write(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	if j.Periods[0] != "2024-05" {
		t.Errorf("period not normalised: %v", j.Periods)
	}
	s := j.Sources[0]
	if s.Columns["payment_id"].Column != "记录号" {
		t.Errorf("plain string mapping: %+v", s.Columns["payment_id"])
	}
	if s.Columns["region_code"].Constant == nil || *s.Columns["region_code"].Constant != "411082" {
		t.Errorf("constant mapping: %+v", s.Columns["region_code"])
	}
	if s.Columns["program_code"].Map["高龄津贴"] != "gaoling" {
		t.Errorf("value map: %+v", s.Columns["program_code"].Map)
	}
	if j.Engine.MemoryLimit != DefaultMemoryLimit || j.Engine.Database != DefaultDatabase || j.Output.Dir != DefaultOutputDir || j.Rules.Set != DefaultRuleSet {
		t.Errorf("defaults not applied: %+v %+v", j.Engine, j.Output)
	}
	if !filepath.IsAbs(j.Resolve(s.Path)) {
		t.Errorf("paths resolve against the job folder")
	}
	if s.Title != "pay" {
		t.Errorf("title defaults to the name, got %q", s.Title)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"unknown top-level key", minimal + "\nengin: {threads: 2}\n", "engin"},
		{"unknown source key", strings.Replace(minimal, "connector: csv", "connector: csv\n    encodng: gbk", 1), "encodng"},
		{"required column not mapped", strings.Replace(minimal, "      amount: 金额\n", "", 1), "amount is required for role payment"},
		{"unknown canonical column", strings.Replace(minimal, "      amount: 金额\n", "      amount: 金额\n      colour: 颜色\n", 1), "colour is not a column of role payment"},
		{"bad period", strings.Replace(minimal, `["202405"]`, `["May"]`, 1), "periods[0]"},
		{"unknown role", strings.Replace(minimal, "role: payment", "role: paymnt", 1), `role "paymnt" is not built in`},
		{"column and constant", strings.Replace(minimal, `{constant: "411082"}`, `{column: x, constant: "411082"}`, 1), "either column or constant"},
		{"bad date format", strings.Replace(minimal, "      amount: 金额\n", "      amount: 金额\n      paid_date: {column: 日期, formats: [dd.mm.yy]}\n", 1), "unknown date format"},
		{"no payment source", strings.Replace(minimal, "role: payment", "role: death", 1), "no source has role payment"},
		{"bad source name", strings.Replace(minimal, "name: pay", "name: Pay-Roll", 1), "name \"Pay-Roll\""},
		{"not yaml", "sources: [", "not valid YAML"},
		{"bad identity threshold", minimal + "\nidentity: {threshold: 1.5}\n", "identity.threshold"},
		{"identity threshold word", minimal + "\nidentity: {threshold: high}\n", "identity.threshold"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(write(t, c.body))
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestIdentityThreshold(t *testing.T) {
	for body, want := range map[string]float64{"": 0, "\nidentity: {threshold: auto}\n": 0, "\nidentity: {threshold: 0.95}\n": 0.95, "\nidentity:\n  threshold: \"0.8\"\n": 0.8} {
		j, err := Load(write(t, minimal+body))
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if j.Identity.ThresholdValue != want {
			t.Errorf("%q: threshold %v, want %v", body, j.Identity.ThresholdValue, want)
		}
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	t.Setenv("CROSSCHECK_ENGINE_MEMORY_LIMIT", "3GiB")
	t.Setenv("CROSSCHECK_ENGINE_THREADS", "1")
	j, err := Load(write(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	if j.Engine.MemoryLimit != "3GiB" || j.Engine.Threads != 1 {
		t.Errorf("env not applied: %+v", j.Engine)
	}
}

// The guard keys: defaults when absent, the engine's ratio unless a source
// has its own, durations parsed, env overrides, bad values refused.
func TestGuardKeys(t *testing.T) {
	j, err := Load(write(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	if j.Engine.RuleLimit != DefaultRuleTimeout || j.QuarantineRatio(j.Sources[0]) != DefaultMaxQuarantineRatio {
		t.Errorf("defaults: rule limit %v, ratio %v", j.Engine.RuleLimit, j.QuarantineRatio(j.Sources[0]))
	}
	body := strings.Replace(minimal, "name: t\n", "name: t\nengine: {rule_timeout: 90s, max_quarantine_ratio: 0.2}\n", 1)
	body = strings.Replace(body, "    connector: csv\n", "    connector: csv\n    max_quarantine_ratio: 1\n", 1)
	j, err = Load(write(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if j.Engine.RuleLimit.Seconds() != 90 || *j.Engine.MaxQuarantineRatio != 0.2 || j.QuarantineRatio(j.Sources[0]) != 1 {
		t.Errorf("set: rule limit %v, engine ratio %v, source ratio %v", j.Engine.RuleLimit, *j.Engine.MaxQuarantineRatio, j.QuarantineRatio(j.Sources[0]))
	}
	j, err = Load(write(t, strings.Replace(minimal, "name: t\n", "name: t\nengine: {rule_timeout: 0}\n", 1)))
	if err != nil || j.Engine.RuleLimit != 0 {
		t.Errorf("rule_timeout 0: %v, %v", err, j)
	}
	t.Setenv("CROSSCHECK_ENGINE_RULE_TIMEOUT", "2m")
	t.Setenv("CROSSCHECK_ENGINE_MAX_QUARANTINE_RATIO", "0.01")
	j, err = Load(write(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	if j.Engine.RuleLimit.Minutes() != 2 || j.QuarantineRatio(j.Sources[0]) != 0.01 {
		t.Errorf("env: rule limit %v, ratio %v", j.Engine.RuleLimit, j.QuarantineRatio(j.Sources[0]))
	}
	t.Setenv("CROSSCHECK_ENGINE_RULE_TIMEOUT", "")
	t.Setenv("CROSSCHECK_ENGINE_MAX_QUARANTINE_RATIO", "")
	for _, bad := range []struct{ body, want string }{
		{strings.Replace(minimal, "name: t\n", "name: t\nengine: {rule_timeout: -1m}\n", 1), "engine.rule_timeout"},
		{strings.Replace(minimal, "name: t\n", "name: t\nengine: {max_quarantine_ratio: 1.5}\n", 1), "engine.max_quarantine_ratio"},
		{strings.Replace(minimal, "    connector: csv\n", "    connector: csv\n    max_quarantine_ratio: -0.1\n", 1), "max_quarantine_ratio"},
	} {
		if _, err := Load(write(t, bad.body)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: error %v, want one naming %s", bad.want, err, bad.want)
		}
	}
}
