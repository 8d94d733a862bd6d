package engine

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/rules"
)

// BenchmarkRuleStage runs the rule stage alone, rule by rule, on the data
// of a finished run: the tables of the DuckDB file that "crosscheck bench
// --database FILE" left, copied into an in-memory database as a run holds
// them, under CROSSCHECK_RULES_MEM (engine.memory_limit; the job's when
// empty). It reports per rule the seconds, the hits, the peak size of the
// spill folder and the peak RSS while the rule ran; with
// CROSSCHECK_RULES_EXPLAIN=DIR it also writes each rule's EXPLAIN ANALYZE
// there; with CROSSCHECK_RULES_FILE=1 the tables are copied into a
// database file (compressed storage) instead of memory. It is skipped
// unless CROSSCHECK_RULES_DB and CROSSCHECK_RULES_JOB (the province's
// job.yaml) are set:
//
//	crosscheck bench --persons 1000000 --dir /tmp/p1m --reuse --database /tmp/p1m.duckdb
//	CROSSCHECK_RULES_DB=/tmp/p1m.duckdb CROSSCHECK_RULES_JOB=/tmp/p1m/job.yaml CROSSCHECK_RULES_MEM=800MB \
//	  go test -run '^$' -bench RuleStage -benchtime 1x ./engine/
func BenchmarkRuleStage(b *testing.B) {
	dbFile, jobFile := os.Getenv("CROSSCHECK_RULES_DB"), os.Getenv("CROSSCHECK_RULES_JOB")
	if dbFile == "" || jobFile == "" {
		b.Skip("CROSSCHECK_RULES_DB and CROSSCHECK_RULES_JOB are not set")
	}
	ctx := context.Background()
	j, err := job.Load(jobFile)
	if err != nil {
		b.Fatal(err)
	}
	if m := os.Getenv("CROSSCHECK_RULES_MEM"); m != "" {
		j.Engine.MemoryLimit = m
	}
	spill := b.TempDir()
	j.Engine.Database, j.Engine.TempDirectory = ":memory:", spill
	if os.Getenv("CROSSCHECK_RULES_FILE") != "" {
		// The tables in a database file (compressed, buffer-managed)
		// instead of memory.
		j.Engine.Database = filepath.Join(b.TempDir(), "rules.duckdb")
	}
	comp, err := compileRules(ctx, j)
	if err != nil {
		b.Fatal(err)
	}
	explain := os.Getenv("CROSSCHECK_RULES_EXPLAIN")
	for i := 0; i < b.N; i++ {
		s, err := Open(ctx, j.Engine)
		if err != nil {
			b.Fatal(err)
		}
		if err := copyTables(ctx, s, dbFile); err != nil {
			b.Fatal(err)
		}
		if err := s.prepareRules(ctx, j); err != nil {
			b.Fatal(err)
		}
		if err := logOrigSizes(ctx, b, s); err != nil {
			b.Fatal(err)
		}
		if explain != "" {
			if err := explainRules(ctx, s, comp, explain); err != nil {
				b.Fatal(err)
			}
		}
		var mem, tmp int64
		if err := s.DB.QueryRowContext(ctx, "SELECT sum(memory_usage_bytes), sum(temporary_storage_bytes) FROM duckdb_memory()").Scan(&mem, &tmp); err != nil {
			b.Fatal(err)
		}
		b.Logf("before the rules: DuckDB holds %d MiB in memory, %d MiB in temporary storage", mem>>20, tmp>>20)
		w := newRuleWatch(spill)
		b.ResetTimer()
		t0 := time.Now()
		err = s.runRulesLimited(ctx, comp, "rule_hits", 0, slog.New(w))
		total := time.Since(t0)
		b.StopTimer()
		w.stop()
		if err != nil {
			b.Fatal(err)
		}
		counts := map[string]int64{}
		rows, err := s.DB.QueryContext(ctx, "SELECT rule_id, count(*) FROM rule_hits GROUP BY ALL")
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var id string
			var n int64
			if err := rows.Scan(&id, &n); err != nil {
				b.Fatal(err)
			}
			counts[id] = n
		}
		rows.Close()
		var sb strings.Builder
		fmt.Fprintf(&sb, "rule stage %.1fs, memory_limit %s\n| step | seconds | hits | spill MiB | peak RSS MiB |\n|---|---:|---:|---:|---:|\n", total.Seconds(), s.MemoryLimit)
		for _, r := range w.steps {
			fmt.Fprintf(&sb, "| %s | %.2f | %d | %d | %d |\n", r.name, r.seconds, counts[r.name], r.spill>>20, r.rss>>20)
		}
		b.Log("\n" + sb.String())
		s.Close()
	}
}

// copyTables copies every table of the DuckDB file into s.
func copyTables(ctx context.Context, s *Session, file string) error {
	if _, err := s.DB.ExecContext(ctx, fmt.Sprintf("ATTACH '%s' AS src (READ_ONLY)", strings.ReplaceAll(file, "'", "''"))); err != nil {
		return err
	}
	rows, err := s.DB.QueryContext(ctx, "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src' AND schema_name = 'main'")
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		names = append(names, n)
	}
	rows.Close()
	for _, n := range names {
		if err := s.Exec(ctx, fmt.Sprintf("CREATE OR REPLACE TABLE %s AS SELECT * FROM src.%s", Ident(n), Ident(n))); err != nil {
			return err
		}
	}
	_, err = s.DB.ExecContext(ctx, "DETACH src")
	return err
}

// logOrigSizes logs, per table or view with an _orig column (the source
// row as JSON, read for evidence), its rows and the bytes of _orig. The
// screened view repeats payment's.
func logOrigSizes(ctx context.Context, b *testing.B, s *Session) error {
	rows, err := s.DB.QueryContext(ctx, `SELECT table_name FROM duckdb_columns() WHERE column_name = '_orig'
		AND database_name = current_database() AND schema_name = 'main' ORDER BY table_name`)
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		names = append(names, n)
	}
	rows.Close()
	var sb strings.Builder
	var all int64
	for _, n := range names {
		var cnt, bytes int64
		if err := s.DB.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*), coalesce(sum(strlen(_orig::VARCHAR)), 0) FROM %s", Ident(n))).Scan(&cnt, &bytes); err != nil {
			return err
		}
		all += bytes
		fmt.Fprintf(&sb, "%s %d rows, _orig %d MiB; ", n, cnt, bytes>>20)
	}
	b.Logf("_orig: %d MiB in all: %s", all>>20, sb.String())
	return nil
}

// explainRules writes each rule's EXPLAIN ANALYZE into dir (the shared
// tables built first, as in a run).
func explainRules(ctx context.Context, s *Session, comp []rules.Compiled, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	create, drop := rules.RulePrelude(comp)
	if err := s.Exec(ctx, create...); err != nil {
		return err
	}
	defer s.Exec(ctx, drop...) //nolint:errcheck
	for _, c := range comp {
		q := c.SQL
		if len(c.Shared) > 0 {
			q = c.SharedSQL
		}
		var kind, plan string
		if err := s.DB.QueryRowContext(ctx, "EXPLAIN ANALYZE "+q).Scan(&kind, &plan); err != nil && err != sql.ErrNoRows {
			return fmt.Errorf("%s: %w", c.ID, err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.ID+".txt"), []byte(q+"\n\n"+plan), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ruleWatch is a slog handler that, at each "rule" or "rule prelude"
// record of runRulesLimited, notes the step's seconds and the peak spill
// size and RSS since the previous record.
type ruleWatch struct {
	dir   string
	mu    sync.Mutex
	spill int64
	steps []ruleStep
	done  chan struct{}
	wg    sync.WaitGroup
}

type ruleStep struct {
	name       string
	seconds    float64
	spill, rss int64
}

func newRuleWatch(dir string) *ruleWatch {
	w := &ruleWatch{dir: dir, done: make(chan struct{})}
	resetHWM()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			n := folderSize(dir)
			w.mu.Lock()
			w.spill = max(w.spill, n)
			w.mu.Unlock()
			select {
			case <-w.done:
				return
			case <-tk.C:
			}
		}
	}()
	return w
}

func (w *ruleWatch) stop() { close(w.done); w.wg.Wait() }

func (w *ruleWatch) Enabled(context.Context, slog.Level) bool { return true }
func (w *ruleWatch) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *ruleWatch) WithGroup(string) slog.Handler            { return w }
func (w *ruleWatch) Handle(_ context.Context, r slog.Record) error {
	step := ruleStep{name: r.Message}
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "id":
			step.name = a.Value.String()
		case "seconds":
			step.seconds = a.Value.Float64()
		}
		return true
	})
	if r.Message != "rule" && r.Message != "rule prelude" {
		return nil
	}
	w.mu.Lock()
	step.spill = max(w.spill, folderSize(w.dir))
	w.spill = 0
	w.mu.Unlock()
	step.rss = PeakRSS()
	resetHWM()
	w.steps = append(w.steps, step)
	return nil
}

func resetHWM() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0o644) }

func folderSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error { //nolint:errcheck
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
