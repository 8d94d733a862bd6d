package engine

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/mapping"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
	"github.com/crosscheck/crosscheck/rules"
	"github.com/crosscheck/crosscheck/rundir"
	"github.com/crosscheck/crosscheck/schema"
)

// masked columns in CSV exports: ID numbers fully, JSON evidence by digit runs.
var maskID = map[string]bool{"id_number": true, "person_key": true}
var maskRuns = map[string]bool{"explanation": true}

func (s *Session) writeResults(ctx context.Context, j *job.Job, res *Result, out string, raw, rawCells bool) error {
	formats := map[string]bool{}
	for _, f := range j.Output.Formats {
		formats[f] = true
	}
	for _, t := range []struct {
		table, name string
		cols        []string
	}{{schema.Hits, "hits", schema.HitColumns}, {schema.Cases, "cases", schema.CaseColumns}} {
		sel := fmt.Sprintf("SELECT %s FROM %s", strings.Join(t.cols, ", "), t.table)
		if formats["parquet"] {
			p := filepath.Join(out, t.name+".parquet")
			if err := s.Exec(ctx, fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet, COMPRESSION zstd)", sel, Lit(p))); err != nil {
				return fmt.Errorf("write %s: %w", p, err)
			}
			rundir.Step(t.name + ".parquet")
		}
		if formats["csv"] {
			if err := s.writeCSV(ctx, sel, t.cols, filepath.Join(out, t.name+".csv"), raw, rawCells, &csvMask{personalColumns(j), j.Output.MaskNames}); err != nil {
				return err
			}
			rundir.Step(t.name + ".csv")
		}
	}
	if err := s.DB.QueryRowContext(ctx, "SELECT count(*) FROM hits").Scan(&res.Hits); err != nil {
		return err
	}
	if err := s.DB.QueryRowContext(ctx, "SELECT count(*) FROM cases").Scan(&res.Cases); err != nil {
		return err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT category, program_name, count(*), coalesce(sum(amount), 0) FROM hits GROUP BY ALL ORDER BY 1, 2`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var c CategoryCount
		if err := rows.Scan(&c.Category, &c.Program, &c.Hits, &c.Amount); err != nil {
			rows.Close()
			return err
		}
		res.Counts = append(res.Counts, c)
	}
	rows.Close()
	q, err := s.qualityReport(ctx, res)
	if err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(out, "quality.json"), q); err != nil {
		return err
	}
	rundir.Step("quality.json")
	return os.WriteFile(filepath.Join(out, "quality.md"), []byte(q.Markdown()), 0o644)
}

// writeCSV writes a query as UTF-8 CSV with a BOM (so Excel opens it),
// masking ID numbers and the personal values of evidence unless raw, and
// neutralising formula-like cells (safeCell) unless rawCells.
// csvMask is what writeCSV masks beyond ID-number columns.
type csvMask struct {
	personal map[string]map[string]dataset.Personal // source → header → kind
	names    bool                                   // output.mask_names
}

func (s *Session) writeCSV(ctx context.Context, query string, cols []string, path string, raw, rawCells bool, m *csvMask) error {
	if m == nil {
		m = &csvMask{}
	}
	rows, err := s.DB.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	bw.WriteString("\uFEFF")
	w := csv.NewWriter(bw)
	w.Write(cols)
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	rec := make([]string, len(cols))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			f.Close()
			return err
		}
		name := ""
		for i, v := range vals {
			rec[i] = text(v)
			if !raw && maskID[cols[i]] && rec[i] != "" {
				rec[i] = idnumber.Mask(rec[i])
			} else if !raw && cols[i] == "evidence" {
				rec[i] = dataset.MaskEvidence(rec[i], m.personal, m.names)
			} else if !raw && maskRuns[cols[i]] {
				rec[i] = idnumber.MaskDigitRuns(rec[i])
			}
			if cols[i] == "name" {
				name = rec[i]
			}
		}
		if !raw && m.names && name != "" {
			// the name, and the name where the explanation quotes it
			masked := dataset.PersonName.Mask(name)
			for i := range rec {
				if cols[i] == "name" || cols[i] == "explanation" {
					rec[i] = strings.ReplaceAll(rec[i], name, masked)
				}
			}
		}
		if !rawCells {
			for i := range rec {
				rec[i] = safeCell(rec[i])
			}
		}
		w.Write(rec)
	}
	if err := rows.Err(); err != nil {
		f.Close()
		return err
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case float64:
		return strconv.FormatFloat(x, 'f', 2, 64)
	case time.Time:
		return x.Format("2006-01-02")
	}
	return fmt.Sprint(v)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Quality is the quality report of a run.
type Quality struct {
	RunID   string           `json:"run_id"`
	Sources []*mapping.Stats `json:"sources"`
	// UnknownPrograms counts screened payments whose program code is not in the catalogue.
	UnknownPrograms map[string]int64 `json:"unknown_programs"`
	// UnlinkedDeaths counts death records without a usable ID number
	// (they cannot be matched to payments by ID).
	UnlinkedDeaths int64 `json:"unlinked_deaths"`
	// ScreenedPayments is the number of payments in the screened periods.
	ScreenedPayments int64 `json:"screened_payments"`
	// Links counts, per table, how records were resolved to persons:
	// exact, upgraded, repaired, probabilistic, unresolved.
	Links map[string]map[string]int64 `json:"links"`
	// AmbiguousLinks counts unresolved records with two or more candidates
	// above the threshold.
	AmbiguousLinks int64 `json:"ambiguous_links"`
	// CaseRouting counts cases by where their region came from;
	// CasesWithoutCounty those routed to no county (see quality.md).
	CaseRouting        map[string]int64 `json:"case_routing"`
	CasesWithoutCounty int64            `json:"cases_without_county"`
}

func (s *Session) qualityReport(ctx context.Context, res *Result) (*Quality, error) {
	if err := s.caseRouting(ctx, res); err != nil {
		return nil, err
	}
	q := &Quality{RunID: res.RunID, Sources: res.Sources, UnknownPrograms: map[string]int64{},
		CaseRouting: res.CaseRouting, CasesWithoutCounty: res.NoCounty}
	if res.Identity != nil {
		q.Links = res.Identity.ByTable
		q.AmbiguousLinks = res.Identity.Ambiguous
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT program_code, count(*) FROM screened
		WHERE program_code NOT IN (SELECT program_code FROM program_catalogue) GROUP BY 1 ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var c string
		var n int64
		if err := rows.Scan(&c, &n); err != nil {
			rows.Close()
			return nil, err
		}
		q.UnknownPrograms[c] = n
	}
	rows.Close()
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM death WHERE person_key IS NULL`).Scan(&q.UnlinkedDeaths); err != nil {
		return nil, err
	}
	if err := s.DB.QueryRowContext(ctx, `SELECT count(*) FROM screened`).Scan(&q.ScreenedPayments); err != nil {
		return nil, err
	}
	return q, nil
}

// Markdown renders the quality report for people.
func (q *Quality) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# 数据质量报告 / Data quality report\n\nRun `%s`.\n\n", q.RunID)
	b.WriteString("| 数据源 source | 部门 department | 角色 role | 读入 read | 接收 accepted | 隔离 quarantined | 来源内重复 duplicates |\n|---|---|---|---:|---:|---:|---:|\n")
	for _, s := range q.Sources {
		fmt.Fprintf(&b, "| %s (%s) | %s | %s | %d | %d | %d | %d |\n", s.Title, s.Source, s.Department, s.Role,
			s.RowsRead, s.RowsAccepted, s.RowsQuarantined, s.Duplicates)
	}
	b.WriteString("\nrows read = rows accepted + rows quarantined for every source.\n")
	for _, w := range quarantineWarnings(q.Sources) {
		b.WriteString("\n" + w + "\n")
	}
	b.WriteString("\n## 隔离原因 / Quarantine reasons\n\n")
	any := false
	for _, s := range q.Sources {
		for _, k := range sortedKeys(s.Quarantined) {
			if !any {
				b.WriteString("| source | reason | rows |\n|---|---|---:|\n")
				any = true
			}
			fmt.Fprintf(&b, "| %s | %s | %d |\n", s.Source, k, s.Quarantined[k])
		}
	}
	if !any {
		b.WriteString("No row was quarantined.\n")
	}
	b.WriteString("\nEach quarantined row is listed with its file, row, column and reason in `quarantine/SOURCE.csv`.\n")
	b.WriteString("\n## 身份证号码 / ID numbers\n\n| source | column | valid | upgraded (15→18) | repaired | invalid | excel_damaged | missing |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range q.Sources {
		for _, c := range sortedKeys(s.IDStatus) {
			m := s.IDStatus[c]
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %d |\n", s.Source, c, m["valid"], m["upgraded"], m["repaired"],
				m["invalid"], m["excel_damaged"], m["missing"])
		}
	}
	if len(q.Links) > 0 {
		b.WriteString("\n## 人员匹配 / Person resolution\n\n| table | exact | upgraded | repaired | probabilistic | unresolved |\n|---|---:|---:|---:|---:|---:|\n")
		for _, t := range sortedKeys(q.Links) {
			m := q.Links[t]
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d |\n", t, m["exact"], m["upgraded"], m["repaired"], m["probabilistic"], m["unresolved"])
		}
		fmt.Fprintf(&b, "\nUnresolved records with two or more candidates above the threshold (ambiguous): %d. Probabilistic links apply to departmental records (e.g. cremation records without ID number), never to payments.\n", q.AmbiguousLinks)
	}
	b.WriteString("\n## 日期解析失败 / Dates that failed to parse\n\n")
	any = false
	for _, s := range q.Sources {
		for _, c := range sortedKeys(s.DateFailures) {
			fmt.Fprintf(&b, "- %s.%s: %d rows (quarantined)\n", s.Source, c, s.DateFailures[c])
			any = true
		}
	}
	if !any {
		b.WriteString("None.\n")
	}
	b.WriteString("\n## 其他 / Other\n\n")
	fmt.Fprintf(&b, "- payments in the screened periods: %d\n", q.ScreenedPayments)
	fmt.Fprintf(&b, "- death records linked to no person (no usable ID and no probabilistic link): %d\n", q.UnlinkedDeaths)
	for _, c := range sortedKeys(q.UnknownPrograms) {
		fmt.Fprintf(&b, "- payments with program code %s not in the catalogue: %d\n", c, q.UnknownPrograms[c])
	}
	routingMarkdown(&b, q.CaseRouting, q.CasesWithoutCounty)
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Manifest records what a run read, did and wrote.
type Manifest struct {
	// FormatVersion is rundir.FormatVersion (2); absent in older manifests (1).
	FormatVersion int              `json:"format_version"`
	RunID         string           `json:"run_id"`
	EngineVersion string           `json:"engine_version"`
	Job           *job.Job         `json:"job"`
	JobFile       string           `json:"job_file"`
	Started       time.Time        `json:"started"`
	Seconds       float64          `json:"seconds"`
	RuleSet       string           `json:"rule_set_version"`
	Rules         []ManifestRule   `json:"rules"`
	Sources       []ManifestSource `json:"sources"`
	Hits          int64            `json:"hits"`
	Cases         int64            `json:"cases"`
	Timings       []Timing         `json:"timings"`
	PeakRSSBytes  int64            `json:"peak_rss_bytes"`
	// Watermarks: per incremental source, [before, after] this run.
	Watermarks map[string][2]string `json:"watermarks,omitempty"`
	// Outputs lists every file the run wrote besides manifest.json, with
	// size and SHA-256: rundir.Verify checks them.
	Outputs []rundir.Output `json:"outputs"`
}

// ManifestRule is a rule as run.
type ManifestRule struct {
	ID       string         `json:"id"`
	Category string         `json:"category"`
	Version  string         `json:"version"`
	File     string         `json:"file"`
	Params   map[string]any `json:"params"`
}

// ManifestSource is a source as read.
type ManifestSource struct {
	Name            string `json:"name"`
	Role            string `json:"role"`
	RowsRead        int64  `json:"rows_read"`
	RowsAccepted    int64  `json:"rows_accepted"`
	RowsQuarantined int64  `json:"rows_quarantined"`
	Inputs          any    `json:"inputs"`
}

// writeManifest lists the files in the run's temporary folder, writes the
// manifest and commits the run: the files move into the output folder,
// manifest.json last.
func writeManifest(j *job.Job, res *Result, comp []rules.Compiled, run *rundir.Run) error {
	m := Manifest{FormatVersion: rundir.FormatVersion, RunID: res.RunID, EngineVersion: Version, Job: j, JobFile: j.File, Started: res.Started.UTC(),
		Seconds: res.Elapsed.Seconds(), RuleSet: res.RuleSet, Hits: res.Hits, Cases: res.Cases, Timings: res.Timings,
		PeakRSSBytes: res.PeakRSS, Watermarks: res.Watermarks}
	for _, c := range comp {
		m.Rules = append(m.Rules, ManifestRule{ID: c.ID, Category: c.Category, Version: c.Version, File: c.File, Params: c.Params})
	}
	for _, s := range res.Sources {
		m.Sources = append(m.Sources, ManifestSource{Name: s.Source, Role: s.Role, RowsRead: s.RowsRead,
			RowsAccepted: s.RowsAccepted, RowsQuarantined: s.RowsQuarantined, Inputs: s.Inputs})
	}
	outs, err := rundir.List(run.Tmp)
	if err != nil {
		return err
	}
	m.Outputs = outs
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := run.Commit(outs, append(b, '\n')); err != nil {
		return err
	}
	// A rejected run's quarantine is stale once a run succeeded.
	return os.RemoveAll(filepath.Join(run.Dir, RejectedDir))
}

// PeakRSS returns the process's peak resident set size in bytes (Linux),
// including DuckDB's memory.
func PeakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}

// PrintSummary writes the short summary shown after a run, in lang (zh or
// en, see SummaryLang): hits and amounts by category and program with the
// total, rows read, stage times and the path of the run report. Columns
// are aligned for East Asian widths.
func (r *Result) PrintSummary(w io.Writer, lang string) {
	t := summaryWords(lang)
	fmt.Fprintf(w, t.head+"\n", r.RunID, r.Hits, r.Cases, r.OutDir)
	fmt.Fprintln(w, t.casesNote)
	if r.NoCounty > 0 {
		fmt.Fprintf(w, t.noCounty+"\n", r.NoCounty, r.NoCounty-r.CaseRouting["none"], r.CaseRouting["none"])
	}
	fmt.Fprintln(w)
	rows := [][]string{{t.category, t.program, t.hits, t.amount}}
	for _, c := range r.Counts {
		rows = append(rows, []string{rules.CategoryName(c.Category, lang), c.Program, fmt.Sprint(c.Hits), yuan(c.Amount)})
	}
	rows = append(rows, []string{t.total, "", fmt.Sprint(r.Hits), yuan(r.AmountAtRisk)})
	writeAligned(w, rows, []bool{false, false, true, true})
	fmt.Fprintf(w, "(%s)\n", t.amountNote)
	var read, acc, quar int64
	for _, s := range r.Sources {
		read += s.RowsRead
		acc += s.RowsAccepted
		quar += s.RowsQuarantined
	}
	fmt.Fprintf(w, "\n"+t.rows+"\n", read, acc, quar)
	var parts []string
	for _, s := range r.Timings {
		parts = append(parts, fmt.Sprintf("%s %.2fs", t.stage(s.Stage), s.Seconds))
	}
	sep := ", "
	if lang != LangEN {
		sep = "，"
	}
	fmt.Fprintf(w, t.time+"\n", r.Elapsed.Seconds(), strings.Join(parts, sep), float64(r.PeakRSS)/(1<<20))
	fmt.Fprintf(w, t.report+"\n", filepath.Join(r.OutDir, ReportFile))
}
