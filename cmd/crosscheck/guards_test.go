package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// cliBin is the crosscheck binary built once for the tests of this package
// that drive it as a user does.
var cliBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "crosscheck-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cliBin = filepath.Join(dir, "crosscheck")
	build := exec.Command("go", "build", "-tags", "duckdb_arrow", "-buildvcs=false", "-o", cliBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building crosscheck:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cliResult is what one command printed and its exit code.
type cliResult struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

// runCLI runs the built binary with args in dir; a command still running
// after limit is killed and fails the test.
func runCLI(t *testing.T, dir string, limit time.Duration, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBin, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err := cmd.Run()
	r := cliResult{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(t0)}
	if ctx.Err() != nil {
		t.Fatalf("crosscheck %s still running after %s (killed)\nstderr:\n%s", strings.Join(args, " "), limit, tail(r.stderr, 20))
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// validID returns a valid 18-character ID number for a county, birth date
// and 3-digit sequence.
func validID(t *testing.T, county, birth, seq string) string {
	t.Helper()
	body := county + birth + seq
	c := idnumber.CheckChar(body)
	if c == 0 {
		t.Fatalf("bad ID body %q", body)
	}
	return body + string(c)
}

// id000 returns valid ID numbers ending in 000 (check character 0,
// sequence x00) of the county, born in 1945.
func id000(t *testing.T, county string, n int) []string {
	t.Helper()
	var out []string
	for d := 1; d <= 28 && len(out) < n; d++ {
		for s := 1; s <= 9 && len(out) < n; s++ {
			body := fmt.Sprintf("%s194501%02d%d00", county, d, s)
			if idnumber.CheckChar(body) == '0' {
				out = append(out, body+"0")
			}
		}
	}
	if len(out) < n {
		t.Fatalf("only %d IDs ending in 000", len(out))
	}
	return out
}

func writeCSV(t *testing.T, path string, rows [][]string) {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.WriteAll(rows)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// qualitySource is a source's line of quality.json.
type qualitySource struct {
	Source          string           `json:"source"`
	RowsRead        int64            `json:"rows_read"`
	RowsAccepted    int64            `json:"rows_accepted"`
	RowsQuarantined int64            `json:"rows_quarantined"`
	Quarantined     map[string]int64 `json:"quarantined_by_reason"`
}

func readQuality(t *testing.T, out string) map[string]qualitySource {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "quality.json"))
	if err != nil {
		t.Fatal(err)
	}
	var q struct {
		Sources []qualitySource `json:"sources"`
	}
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatalf("quality.json: %v", err)
	}
	m := map[string]qualitySource{}
	for _, s := range q.Sources {
		m[s.Source] = s
	}
	return m
}

// hitRules counts hits.csv rows per rule and payment.
func hitRules(t *testing.T, out string) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(out, "hits.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[strings.TrimPrefix(h, "\uFEFF")] = i
	}
	m := map[string][]string{}
	for _, r := range rows[1:] {
		m[r[col["rule_id"]]] = append(m[r[col["rule_id"]]], r[col["payment_id"]])
	}
	return m
}

// pensionJob is a small province: a registry of n persons aged 70, each
// paid the resident pension (jumin_yanglao) in 2024-05, and a pension
// roster with every one of them on the employee scheme since startMonth.
// Every payment is then exclusive with the roster: n hits when the roster
// loads. extra is appended to the job file.
func pensionJob(t *testing.T, dir string, n int, startMonth, extra string) {
	t.Helper()
	person := [][]string{{"公民身份号码", "姓名", "出生日期"}}
	pension := [][]string{{"社会保障号码", "姓名", "险种类型", "待遇开始年月"}}
	pay := [][]string{{"发放记录号", "项目代码", "发放年月", "身份证号码", "姓名", "发放金额"}}
	for i := 0; i < n; i++ {
		id := validID(t, "411082", "19540101", fmt.Sprintf("%03d", i+1))
		name := fmt.Sprintf("张%s", string(rune('一'+i)))
		person = append(person, []string{id, name, "1954-01-01"})
		pension = append(pension, []string{id, name, "企业职工基本养老保险", startMonth})
		pay = append(pay, []string{fmt.Sprintf("P%04d", i+1), "jumin_yanglao", "2024-05", id, name, "150.00"})
	}
	writeCSV(t, filepath.Join(dir, "huji.csv"), person)
	writeCSV(t, filepath.Join(dir, "yanglao.csv"), pension)
	writeCSV(t, filepath.Join(dir, "pay.csv"), pay)
	writeFile(t, filepath.Join(dir, "job.yaml"), `periods: ["2024-05"]
engine: {threads: 2}
programs:
  - code: jumin_yanglao
    name: 城乡居民基本养老保险
    exclusive_rosters:
      - {role: pension, column: scheme, values: [employee], label: "在%s中领取企业职工基本养老金"}
sources:
  - name: huji
    role: person
    title: 公安户籍
    connector: csv
    path: huji.csv
    columns: {id_number: 公民身份号码, name: 姓名, birth_date: 出生日期}
  - name: yanglao
    role: pension
    title: 人社养老保险待遇名单
    connector: csv
    path: yanglao.csv
    columns:
      id_number: 社会保障号码
      name: 姓名
      scheme: {column: 险种类型, map: {企业职工基本养老保险: employee}, default: other}
      start_date: 待遇开始年月
  - name: pay
    role: payment
    connector: csv
    path: pay.csv
    columns: {payment_id: 发放记录号, program_code: 项目代码, period: 发放年月, id_number: 身份证号码, name: 姓名, amount: 发放金额}
`+extra)
}

// TestCLIYearMonthDates: a pension roster whose start months are written
// 2015-01, 2015年01月 or 2015/1 (as docs/config.md says auto mode accepts)
// loads, and its exclusion hits are found. Before: every roster row was
// quarantined bad_date, the run exited 0 and the hits were lost.
func TestCLIYearMonthDates(t *testing.T) {
	dir := t.TempDir()
	pensionJob(t, dir, 12, "2015-01", "")
	// One roster, the three ways departments write a month.
	b, err := os.ReadFile(filepath.Join(dir, "yanglao.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i := range lines[1:] {
		switch i % 3 {
		case 1:
			lines[i+1] = strings.Replace(lines[i+1], "2015-01", "2015年01月", 1)
		case 2:
			lines[i+1] = strings.Replace(lines[i+1], "2015-01", "2015/1", 1)
		}
	}
	writeFile(t, filepath.Join(dir, "yanglao.csv"), strings.Join(lines, "\n")+"\n")
	r := runCLI(t, dir, 3*time.Minute, "run", "--config", "job.yaml", "--out", "out")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	q := readQuality(t, filepath.Join(dir, "out"))["yanglao"]
	if q.RowsRead != 12 || q.RowsAccepted != 12 || q.RowsQuarantined != 0 {
		t.Errorf("yanglao: read %d accepted %d quarantined %d %v, want 12 = 12 + 0", q.RowsRead, q.RowsAccepted, q.RowsQuarantined, q.Quarantined)
	}
	if got := len(hitRules(t, filepath.Join(dir, "out"))["exclusive_programs"]); got != 12 {
		t.Errorf("exclusive_programs hits = %d, want 12", got)
	}
	if strings.Contains(r.stderr, "⚠") {
		t.Errorf("a quarantine warning although nothing was quarantined:\n%s", tail(r.stderr, 5))
	}
}

// TestCLIQuarantineGuard: a roster whose months are written 201501 (kept
// out of auto: six digits may be yymmdd) is quarantined as a whole; the
// run stops before the rules, naming the source, the reason with its
// count, an example value and the fix. Before: exit 0 with the rows lost.
func TestCLIQuarantineGuard(t *testing.T) {
	dir := t.TempDir()
	pensionJob(t, dir, 12, "201501", "")
	r := runCLI(t, dir, 3*time.Minute, "run", "--config", "job.yaml", "--out", "out")
	if r.code == 0 {
		t.Fatalf("run exited 0 with every roster row quarantined\nstdout:\n%s\nstderr:\n%s", r.stdout, tail(r.stderr, 20))
	}
	for _, want := range []string{"yanglao", "人社养老保险待遇名单", "bad_date", "12", `"201501"`, "formats: [auto, yyyymm]", "max_quarantine_ratio"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, tail(r.stderr, 20))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "hits.csv")); err == nil {
		t.Error("hits.csv written although the run stopped before the rules")
	}
	// The output folder keeps no part of the stopped run; its quarantine
	// is kept aside, and the message says where.
	rejected := filepath.Join(dir, "out", engine.RejectedDir, "quarantine", "yanglao.csv")
	if _, err := os.Stat(rejected); err != nil {
		t.Errorf("the quarantine file that shows the rows is missing: %v", err)
	}
	if !strings.Contains(r.stderr, filepath.Join(engine.RejectedDir, "quarantine")) {
		t.Errorf("stderr does not say where the quarantined rows are:\n%s", tail(r.stderr, 20))
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "quarantine")); err == nil {
		t.Error("a stopped run left quarantine/ in the output folder")
	}

	// The hint works as written.
	b, _ := os.ReadFile(filepath.Join(dir, "job.yaml"))
	fixed := strings.Replace(string(b), "start_date: 待遇开始年月", "start_date: {column: 待遇开始年月, formats: [auto, yyyymm]}", 1)
	writeFile(t, filepath.Join(dir, "job.yaml"), fixed)
	r = runCLI(t, dir, 3*time.Minute, "run", "--config", "job.yaml", "--out", "out")
	if r.code != 0 {
		t.Fatalf("after the fix: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	if _, err := os.Stat(rejected); err == nil {
		t.Error("a successful run left the rejected run's quarantine")
	}
	if got := len(hitRules(t, filepath.Join(dir, "out"))["exclusive_programs"]); got != 12 {
		t.Errorf("after the fix: exclusive_programs hits = %d, want 12", got)
	}
}

// TestCLIQuarantineGuardEncoding: a GBK roll with an ASCII header declared
// utf-8 has every row quarantined; the run stops and says encoding: gbk.
// With the source's own max_quarantine_ratio raised the run goes on and
// warns on stderr and in quality.md.
func TestCLIQuarantineGuardEncoding(t *testing.T) {
	dir := t.TempDir()
	pensionJob(t, dir, 12, "2015-01", "")
	// The payment roll again, in GBK with an ASCII header.
	var b strings.Builder
	b.WriteString("pid,prog,period,id,name,amount\n")
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&b, "Q%04d,jumin_yanglao,2024-05,%s,%s,150.00\n", i+1, validID(t, "411082", "19540101", fmt.Sprintf("%03d", i+1)), "张"+string(rune('一'+i)))
	}
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(b.String())
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "pay_gbk.csv"), gbk)
	jb, _ := os.ReadFile(filepath.Join(dir, "job.yaml"))
	src := `  - name: pay_gbk
    role: payment
    title: 长葛市发放名单
    connector: csv
    path: pay_gbk.csv
    options: {encoding: utf-8}
    columns: {payment_id: pid, program_code: prog, period: period, id_number: id, name: name, amount: amount}
`
	writeFile(t, filepath.Join(dir, "job.yaml"), string(jb)+src)
	r := runCLI(t, dir, 3*time.Minute, "run", "--config", "job.yaml", "--out", "out")
	if r.code == 0 {
		t.Fatalf("run exited 0 with every row of pay_gbk quarantined\nstderr:\n%s", tail(r.stderr, 20))
	}
	for _, want := range []string{"pay_gbk", "bad_encoding", "encoding: gbk"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, tail(r.stderr, 20))
		}
	}
	if strings.Contains(r.stderr, validID(t, "411082", "19540101", "001")) {
		t.Error("stderr shows an ID number unmasked")
	}

	// Accepting the loss explicitly lets the run go on, with a warning.
	writeFile(t, filepath.Join(dir, "job.yaml"), string(jb)+src+"    max_quarantine_ratio: 1\n")
	r = runCLI(t, dir, 3*time.Minute, "run", "--config", "job.yaml", "--out", "out")
	if r.code != 0 {
		t.Fatalf("with max_quarantine_ratio 1: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	if !strings.Contains(r.stderr, "pay_gbk") || !strings.Contains(r.stderr, "12") {
		t.Errorf("no quarantine warning on stderr:\n%s", tail(r.stderr, 20))
	}
	md, err := os.ReadFile(filepath.Join(dir, "out", "quality.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "⚠") || !strings.Contains(string(md), "pay_gbk") {
		t.Errorf("quality.md has no warning for pay_gbk:\n%s", md)
	}
}

// TestCLIIDEnding000: valid ID numbers ending in 000 (check character 0)
// arrive as Excel renders a number (4.11082194501039E+17, …000.0). When
// the registry holds the number they are valid and not flagged; when it
// does not, they stay suspected Excel damage (invalid_id). Before: all
// were flagged invalid_id as Excel damage.
func TestCLIIDEnding000(t *testing.T) {
	dir := t.TempDir()
	ids := id000(t, "411082", 4)
	sci := func(id string) string { // 15 significant digits, as Excel shows them
		return id[:1] + "." + strings.TrimRight(id[1:15], "0") + "E+17"
	}
	writeCSV(t, filepath.Join(dir, "huji.csv"), [][]string{{"id", "name", "birth"},
		{ids[0], "张三", "1945-01-01"}, {ids[1], "李四", "1945-01-03"}, {ids[2], "王五", "1945-01-04"}})
	writeCSV(t, filepath.Join(dir, "pay.csv"), [][]string{{"pid", "prog", "period", "id", "name", "amount"},
		{"P1", "gaoling", "2024-05", ids[0], "张三", "100"},        // plain text, registered
		{"P2", "gaoling", "2024-05", sci(ids[1]), "李四", "100"},   // scientific, registered
		{"P3", "gaoling", "2024-05", ids[2] + ".0", "王五", "100"}, // float text, registered
		{"P4", "gaoling", "2024-05", sci(ids[3]), "赵六", "100"},   // scientific, not registered
	})
	writeFile(t, filepath.Join(dir, "job.yaml"), `periods: ["2024-05"]
engine: {threads: 2}
programs: [{code: gaoling, name: 高龄津贴}]
sources:
  - {name: huji, role: person, connector: csv, path: huji.csv, columns: {id_number: id, name: name, birth_date: birth}}
  - name: pay
    role: payment
    connector: csv
    path: pay.csv
    columns: {payment_id: pid, program_code: prog, period: period, id_number: id, name: name, amount: amount}
`)
	r := runCLI(t, dir, 3*time.Minute, "run", "--config", "job.yaml", "--out", "out")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	hits := hitRules(t, filepath.Join(dir, "out"))
	if got := strings.Join(hits["invalid_id"], ","); got != "P4" {
		t.Errorf("invalid_id hits on %q, want only P4 (the unregistered one)", got)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "out", "quality.md"))
	if !strings.Contains(string(md), "| pay | id_number | 3 |") {
		t.Errorf("quality.md does not count the 3 registered IDs as valid:\n%s", md)
	}
}

// TestCLIRuleTimeout: a custom rule whose WITH RECURSIVE never ends is
// stopped by engine.rule_timeout; the error names the rule and the limit.
// Before: the run went on until killed.
func TestCLIRuleTimeout(t *testing.T) {
	dir := t.TempDir()
	pensionJob(t, dir, 3, "2015-01", "rules: {dirs: [myrules]}\n")
	jb, _ := os.ReadFile(filepath.Join(dir, "job.yaml"))
	writeFile(t, filepath.Join(dir, "job.yaml"), strings.Replace(string(jb), "engine: {threads: 2}", "engine: {threads: 2, rule_timeout: 3s}", 1))
	writeFile(t, filepath.Join(dir, "myrules", "runaway.yaml"), `id: runaway
title: 永不结束的规则
category: data_quality
severity: low
version: "1"
owner: test
sql: |
  WITH RECURSIVE t(rid, n) AS (
    SELECT _rid, 1 FROM screened
    UNION ALL
    SELECT rid, n + 1 FROM t
  )
  SELECT rid AS _rid, n FROM t WHERE n < 0
explain: "第{n}次"
tests:
  - name: 无数据
    data: {payment: []}
    expect: []
`)
	r := runCLI(t, dir, 2*time.Minute, "run", "--config", "job.yaml", "--out", "out")
	if r.code == 0 {
		t.Fatalf("runaway rule: exit 0\n%s", tail(r.stderr, 20))
	}
	for _, want := range []string{"runaway", "engine.rule_timeout", "3s"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, tail(r.stderr, 10))
		}
	}
	if strings.Contains(r.stderr, "memory") {
		t.Errorf("a timeout reported as a memory problem:\n%s", tail(r.stderr, 10))
	}
	if r.elapsed > time.Minute {
		t.Errorf("the run took %s to stop", r.elapsed)
	}
}

// TestCLIRuleMemoryLimit: a rule that needs more memory than
// engine.memory_limit stops the run with an error naming the rule and the
// memory limit, not the time limit.
func TestCLIRuleMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	pensionJob(t, dir, 3, "2015-01", "rules: {dirs: [myrules]}\n")
	jb, _ := os.ReadFile(filepath.Join(dir, "job.yaml"))
	writeFile(t, filepath.Join(dir, "job.yaml"), strings.Replace(string(jb), "engine: {threads: 2}",
		"engine: {threads: 2, memory_limit: 100MiB, temp_directory: tmp}", 1))
	writeFile(t, filepath.Join(dir, "myrules", "hog.yaml"), `id: memory_hog
title: 占用内存过多的规则
category: data_quality
severity: low
version: "1"
owner: test
sql: |
  SELECT p._rid, len(list(r.x)) AS n FROM screened p, range(20000000) r(x) GROUP BY p._rid
explain: "{n}"
tests:
  - name: 无数据
    data: {payment: []}
    expect: []
`)
	r := runCLI(t, dir, 2*time.Minute, "run", "--config", "job.yaml", "--out", "out")
	if r.code == 0 {
		t.Fatalf("memory hog: exit 0\n%s", tail(r.stderr, 20))
	}
	for _, want := range []string{"memory_hog", "engine.memory_limit", "100MiB", "Out of Memory"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, tail(r.stderr, 10))
		}
	}
	if strings.Contains(r.stderr, "rule_timeout") {
		t.Errorf("a memory problem reported as a timeout:\n%s", tail(r.stderr, 10))
	}
}

// TestCLILimitKeysChecked: a bad rule_timeout or max_quarantine_ratio is
// refused with the key's name.
func TestCLILimitKeysChecked(t *testing.T) {
	dir := t.TempDir()
	pensionJob(t, dir, 3, "2015-01", "")
	jb, _ := os.ReadFile(filepath.Join(dir, "job.yaml"))
	for _, tc := range []struct{ engine, want string }{
		{"engine: {threads: 2, rule_timeout: soon}", "engine.rule_timeout"},
		{"engine: {threads: 2, max_quarantine_ratio: 5}", "engine.max_quarantine_ratio"},
	} {
		writeFile(t, filepath.Join(dir, "job.yaml"), strings.Replace(string(jb), "engine: {threads: 2}", tc.engine, 1))
		r := runCLI(t, dir, time.Minute, "run", "--config", "job.yaml", "--out", "out")
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr:\n%s", tc.engine, r.code, tail(r.stderr, 5))
		}
	}
}
