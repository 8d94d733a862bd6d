package harness

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // database/sql driver "duckdb"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"

	"github.com/crosscheck/crosscheck/benchmarks/baselines"
	"github.com/crosscheck/crosscheck/benchmarks/gen"
	"github.com/crosscheck/crosscheck/job"
)

// gbkSources lists the files of the job's GBK sources (relative paths).
func gbkSources(dir string) ([]string, error) {
	j, err := job.Load(filepath.Join(dir, gen.JobFile))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range j.Sources {
		if enc, _ := s.Options["encoding"].(string); enc == "gbk" || enc == "gb18030" {
			m, _ := filepath.Glob(filepath.Join(dir, filepath.FromSlash(s.Path)))
			for _, f := range m {
				rel, _ := filepath.Rel(dir, f)
				out = append(out, rel)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// concatCSV writes the files one after the other as one UTF-8 CSV with the
// first file's header; BOMs are dropped and GBK decoded.
func concatCSV(dst string, srcs []string, gbk bool) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(out, 1<<20)
	for k, src := range srcs {
		f, err := os.Open(src)
		if err != nil {
			out.Close()
			return err
		}
		var r io.Reader = f
		if gbk {
			r = transform.NewReader(f, simplifiedchinese.GB18030.NewDecoder())
		}
		br := bufio.NewReaderSize(r, 1<<20)
		if b, _ := br.Peek(3); bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
			br.Discard(3)
		}
		if k > 0 {
			if _, err := br.ReadString('\n'); err != nil && err != io.EOF {
				f.Close()
				out.Close()
				return err
			}
		}
		if _, err := io.Copy(w, br); err != nil {
			f.Close()
			out.Close()
			return err
		}
		f.Close()
	}
	if err := w.Flush(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func substitute(script string, vars map[string]string) string {
	for k, v := range vars {
		script = strings.ReplaceAll(script, "${"+k+"}", v)
	}
	return script
}

// statements splits a script at semicolons that end a line, dropping
// comment lines.
func statements(script string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(script, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || t == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}

func sqlPath(p string) string {
	a, _ := filepath.Abs(p)
	return strings.ReplaceAll(filepath.ToSlash(a), "'", "''")
}

func runDuckDB(ctx context.Context, o *Options, benchDir string) (Baseline, []Hit) {
	bl := Baseline{Name: "naive_duckdb", Note: "GBK extracts converted to UTF-8 copies by the harness first (prepare time, not counted)"}
	fail := func(err error) (Baseline, []Hit) {
		bl.Error = err.Error()
		o.logf("baseline duckdb: %v", err)
		return bl, nil
	}
	o.logf("baseline duckdb: converting GBK extracts")
	t0 := time.Now()
	utf := filepath.Join(benchDir, "naive_utf8")
	os.RemoveAll(utf)
	files, err := gbkSources(o.Dir)
	if err != nil {
		return fail(err)
	}
	for _, rel := range files {
		if err := concatCSV(filepath.Join(utf, rel), []string{filepath.Join(o.Dir, rel)}, true); err != nil {
			return fail(err)
		}
	}
	bl.Prepare = time.Since(t0).Seconds()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	script := substitute(baselines.DuckDB, map[string]string{"DATA": sqlPath(o.Dir), "UTF8": sqlPath(utf)})
	o.logf("baseline duckdb: running naive_duckdb.sql")
	t0 = time.Now()
	for _, st := range statements(script) {
		if _, err := db.ExecContext(ctx, st); err != nil {
			return fail(fmt.Errorf("%w\nin: %s", err, firstLine(st)))
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT payment_id, category, rule_family FROM naive_hits`)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	var hits []Hit
	for rows.Next() {
		var h Hit
		var pid sql.NullString
		if err := rows.Scan(&pid, &h.Category, &h.Rule); err != nil {
			return fail(err)
		}
		h.PaymentID = pid.String
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	bl.Seconds = time.Since(t0).Seconds()
	o.logf("baseline duckdb: %d hits in %.1fs", len(hits), bl.Seconds)
	return bl, hits
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

func runPostgres(ctx context.Context, o *Options, benchDir string) (Baseline, []Hit) {
	bl := Baseline{Name: "naive_postgres", Note: "one UTF-8 CSV per table prepared by the harness (GBK decoded, Parquet exported with DuckDB; prepare time not counted); load with COPY counted"}
	fail := func(err error) (Baseline, []Hit) {
		bl.Error = err.Error()
		o.logf("baseline postgres: %v", err)
		return bl, nil
	}
	psql, err := exec.LookPath("psql")
	if err != nil {
		return fail(fmt.Errorf("psql not found: %w", err))
	}
	conn := o.Postgres
	if conn == "" {
		conn = "host=127.0.0.1 port=5432 dbname=test"
	}
	o.logf("baseline postgres: preparing CSV files")
	t0 := time.Now()
	dir := filepath.Join(benchDir, "naive_pg")
	os.RemoveAll(dir)
	glob := func(p string) []string {
		m, _ := filepath.Glob(filepath.Join(o.Dir, filepath.FromSlash(p)))
		sort.Strings(m)
		return m
	}
	for _, c := range []struct {
		name, pattern string
		gbk           bool
	}{{"huji", "gongan/huji_*.csv", true}, {"huohua", "minzheng/huohua_jilu.csv", false},
		{"yanglao", "renshe/yanglao_daiyu.csv", true}, {"mz", "caizheng/yikatong_minzheng_*.csv", true},
		{"gd", "nongye/gengdi_butie_2024.csv", false}} {
		if err := concatCSV(filepath.Join(dir, c.name+".csv"), glob(c.pattern), c.gbk); err != nil {
			return fail(err)
		}
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return fail(err)
	}
	for _, c := range []struct{ name, pattern string }{{"siwang", "weijian/siwang_yixue_zhengming.parquet"},
		{"rs", "renshe/cxjm_daiyu_*.parquet"}} {
		q := fmt.Sprintf(`COPY (SELECT * FROM read_parquet('%s')) TO '%s' (HEADER, DELIMITER ',')`,
			sqlPath(filepath.Join(o.Dir, filepath.FromSlash(c.pattern))), sqlPath(filepath.Join(dir, c.name+".csv")))
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			return fail(err)
		}
	}
	db.Close()
	bl.Prepare = time.Since(t0).Seconds()

	schema := fmt.Sprintf("crosscheck_bench_%d", os.Getpid())
	hitsFile := filepath.Join(dir, "hits.csv")
	run := func(script string) error {
		cmd := exec.CommandContext(ctx, psql, conn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Stdout = io.Discard
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("psql: %v: %s", err, strings.TrimSpace(stderr.String()))
		}
		return nil
	}
	if err := run(fmt.Sprintf("DROP SCHEMA IF EXISTS %[1]s CASCADE; CREATE SCHEMA %[1]s;", schema)); err != nil {
		return fail(err)
	}
	defer run(fmt.Sprintf("DROP SCHEMA IF EXISTS %s CASCADE;", schema))
	script := substitute(baselines.Postgres, map[string]string{"CSV": filepath.ToSlash(mustAbs(dir)), "SCHEMA": schema,
		"OUT": filepath.ToSlash(mustAbs(hitsFile))})
	o.logf("baseline postgres: running naive_postgres.sql (schema %s)", schema)
	t0 = time.Now()
	if err := run(script); err != nil {
		return fail(err)
	}
	bl.Seconds = time.Since(t0).Seconds()
	hits, err := ReadHits(hitsFile)
	if err != nil {
		return fail(err)
	}
	o.logf("baseline postgres: %d hits in %.1fs", len(hits), bl.Seconds)
	return bl, hits
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
