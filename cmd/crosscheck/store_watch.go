package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/screen"
	"github.com/crosscheck/crosscheck/store"
)

// RejectedDir is the folder inside the drop folder where watch moves the
// files of a cycle whose refresh failed.
const RejectedDir = "rejected"

func newStoreWatch() *cobra.Command {
	var cfg, path, dir, cases, out, lang string
	var interval time.Duration
	var verbose bool
	c := &cobra.Command{
		Use:   "watch",
		Short: "Watch the exchange platform's drop folder: refresh the store and screen the changed persons as files arrive",
		Long: `watch polls DIR every --interval. A file is taken when it is complete: its size and
modification time are the same in two polls in a row and no other file of DIR is still
changing (files whose names start with "." or end in .tmp or .part are not looked at: let the
platform write under such a name and rename). A file feeds the job's source whose path (or
glob) it matches; a file that matches none is reported once and left alone.

Each cycle runs store refresh, then, when the store changed, screen --changed --job-rolls into
a new folder under --out (and imports the hits into --cases when given: new cases raised,
withdrawn deaths flagged), and prints one line: the files, the refresh, the rows, the persons
changed, the hits, the new and withdrawn cases (no personal data).

A cycle whose refresh fails (a bad file) is reported and its files are moved to
DIR/rejected/ with FILE.error.txt beside them; the store stays as it was and watch keeps going.
Move a file back after fixing it: it is taken again. SIGINT or SIGTERM stops watch: a cycle
under way is abandoned (the refresh builds STORE.next and renames it only when complete, so
the store is never half written) and watch exits 0.

A systemd timer running store refresh and screen --changed is the alternative (docs/store.md).`,
		Example: `  crosscheck store watch --config job.yaml --store ref.duckdb --dir /srv/exchange/drop --cases cases.duckdb --out out/watch --interval 30s`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			lg, err := engine.SummaryLang(lang)
			if err != nil {
				return fmt.Errorf("--lang: %w", err)
			}
			if interval <= 0 {
				return fmt.Errorf("--interval must be positive, got %s", interval)
			}
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return fmt.Errorf("--dir %s: not a folder", dir)
			}
			if _, err := job.Load(cfg); err != nil {
				return err
			}
			if out == "" {
				out = path + ".changed"
			}
			w := &watcher{cmd: cmd, cfg: cfg, store: path, cases: cases, out: out, lang: lg,
				log: newLogger(cmd.ErrOrStderr(), !verbose), folder: newDropFolder(dir)}
			return w.run(cmd.Context(), interval)
		},
	}
	c.Flags().StringVarP(&cfg, "config", "c", "", "job file (YAML); its source paths say which files of --dir feed which source")
	c.Flags().StringVar(&path, "store", "", "the store file (created by the first refresh)")
	c.Flags().StringVar(&dir, "dir", "", "the folder the exchange platform drops files into")
	c.Flags().StringVar(&cases, "cases", "", "import each cycle's hits into this case store")
	c.Flags().StringVarP(&out, "out", "o", "", "folder for each cycle's screening (default STORE.changed)")
	c.Flags().DurationVar(&interval, "interval", 30*time.Second, "time between two polls of --dir")
	c.Flags().StringVar(&lang, "lang", "", "language of the cycle lines: zh or en (default: CROSSCHECK_LANG, else zh)")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every stage (INFO lines on stderr)")
	_ = c.MarkFlagRequired("config")
	_ = c.MarkFlagRequired("store")
	_ = c.MarkFlagRequired("dir")
	return c
}

// fileState is what a poll sees of a file.
type fileState struct {
	size  int64
	mtime time.Time
}

// dropFolder tracks the files of the drop folder between polls.
type dropFolder struct {
	dir string
	// last is what the previous poll saw; taken the state of each file
	// when a cycle took it (or set it aside).
	last, taken map[string]fileState
}

func newDropFolder(dir string) *dropFolder {
	return &dropFolder{dir: dir, last: map[string]fileState{}, taken: map[string]fileState{}}
}

// ignoredName: files being written under a temporary name.
func ignoredName(n string) bool {
	return strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".tmp") || strings.HasSuffix(n, ".part")
}

// poll lists the folder and returns the files to take: those new,
// changed or removed since taken, once nothing in the folder changed since
// the previous poll (nil while a file is still being written).
func (d *dropFolder) poll() ([]string, error) {
	ents, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, err
	}
	now := map[string]fileState{}
	for _, e := range ents {
		if !e.Type().IsRegular() || ignoredName(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		now[filepath.Join(d.dir, e.Name())] = fileState{fi.Size(), fi.ModTime()}
	}
	stable := len(now) == len(d.last)
	for p, s := range now {
		if l, ok := d.last[p]; !ok || l != s {
			stable = false
		}
	}
	d.last = now
	if !stable {
		return nil, nil
	}
	var out []string
	for p, s := range now {
		if t, ok := d.taken[p]; !ok || t != s {
			out = append(out, p)
		}
	}
	for p := range d.taken {
		if _, ok := now[p]; !ok {
			out = append(out, p) // removed: its rows leave the store
		}
	}
	sort.Strings(out)
	return out, nil
}

// take marks the files as handled in their current state.
func (d *dropFolder) take(files []string) {
	for _, p := range files {
		if s, ok := d.last[p]; ok {
			d.taken[p] = s
		} else {
			delete(d.taken, p)
		}
	}
}

type watcher struct {
	cmd                          *cobra.Command
	cfg, store, cases, out, lang string
	log                          *slog.Logger
	folder                       *dropFolder
	cycle                        int
	// pending: the last cycle's screening failed; it is retried at each
	// poll until it succeeds.
	pending bool
}

func (w *watcher) say(en, zh string, args ...any) {
	f := zh
	if w.lang == "en" {
		f = en
	}
	fmt.Fprintf(w.cmd.OutOrStdout(), "%s "+f+"\n", append([]any{time.Now().Format("2006-01-02 15:04:05")}, args...)...)
}

func (w *watcher) run(ctx context.Context, interval time.Duration) error {
	w.say("watching %s every %s (store %s)", "开始监视 %s，每 %s 检查一次（参照库 %s）", w.folder.dir, interval, w.store)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		files, err := w.folder.poll()
		if err != nil {
			w.say("cannot read the drop folder: %v", "无法读取接收目录：%v", err)
		} else if len(files) > 0 {
			w.runCycle(ctx, files)
		} else if w.pending {
			w.retryScreen(ctx)
		}
		if ctx.Err() != nil {
			w.say("stopped", "已停止")
			return nil
		}
		select {
		case <-ctx.Done():
			w.say("stopped", "已停止")
			return nil
		case <-tick.C:
		}
	}
}

// sourcesOf maps each file to the names of the job's sources whose path
// or glob it matches.
func sourcesOf(j *job.Job, files []string) (matched map[string][]string, none []string) {
	matched = map[string][]string{}
	for _, f := range files {
		abs, _ := filepath.Abs(f)
		for _, s := range j.Sources {
			if s.Path == "" {
				continue
			}
			pat, _ := filepath.Abs(j.Resolve(s.Path))
			if ok, _ := filepath.Match(pat, abs); ok {
				matched[f] = append(matched[f], s.Name)
			}
		}
		if len(matched[f]) == 0 {
			none = append(none, f)
		}
	}
	return matched, none
}

func (w *watcher) runCycle(ctx context.Context, files []string) {
	j, err := job.Load(w.cfg)
	if err != nil {
		w.say("job %s: %v (will try again)", "作业文件 %s：%v（稍后重试）", w.cfg, err)
		return
	}
	matched, none := sourcesOf(j, files)
	for _, f := range none {
		if _, err := os.Stat(f); err == nil {
			w.say("ignored %s: it matches no source path of the job", "忽略 %s：不属于作业的任何数据源路径", filepath.Base(f))
		}
	}
	w.folder.take(none)
	var names []string
	for _, f := range files {
		if src := matched[f]; len(src) > 0 {
			names = append(names, fmt.Sprintf("%s (%s)", filepath.Base(f), strings.Join(src, ",")))
		}
	}
	if len(names) == 0 {
		return
	}
	w.cycle++
	t0 := time.Now()
	var mine []string
	for _, f := range files {
		if len(matched[f]) > 0 {
			mine = append(mine, f)
		}
	}
	res, err := store.Refresh(ctx, j, w.store, store.Options{Log: w.log})
	if ctx.Err() != nil {
		w.say("cycle %d abandoned (stopping): files %s; the store is as before", "第 %d 轮已放弃（正在停止）：文件 %s；参照库保持原状", w.cycle, strings.Join(names, ", "))
		return
	}
	if err != nil {
		moved := w.reject(mine, err)
		w.say("cycle %d FAILED: files %s: %v; the store is as before; set aside in %s: %s",
			"第 %d 轮失败：文件 %s：%v；参照库保持原状；已移至 %s：%s",
			w.cycle, strings.Join(names, ", "), err, filepath.Join(w.folder.dir, RejectedDir), strings.Join(moved, ", "))
		return
	}
	w.folder.take(mine)
	var rows int64
	for _, s := range res.Sources {
		rows += s.RowsAccepted
	}
	changed := fmt.Sprint(res.ChangedPersons)
	switch {
	case res.Unchanged:
		changed = "0"
	case res.ChangedPersons < 0:
		changed = map[string]string{"en": "all (first refresh)", "zh": "全部（首次建库）"}[w.lang]
	}
	screened, err := w.screenChanged(ctx)
	if ctx.Err() != nil {
		w.say("cycle %d: refresh %d done, screening abandoned (stopping); the next start screens it", "第 %d 轮：参照库第 %d 次更新完成，比对已放弃（正在停止），下次启动时补做", w.cycle, res.Seq)
		return
	}
	if err != nil {
		w.pending = true
		w.say("cycle %d: files %s; refresh %d: %d rows loaded, persons changed %s; screening FAILED: %v (retried at each poll)",
			"第 %d 轮：文件 %s；参照库第 %d 次更新：载入 %d 行，变化人员 %s；比对失败：%v（每次检查时重试）",
			w.cycle, strings.Join(names, ", "), res.Seq, rows, changed, err)
		return
	}
	w.pending = false
	w.say("cycle %d: files %s; refresh %d: %d rows loaded, persons changed %s; %s (%.1f s)",
		"第 %d 轮：文件 %s；参照库第 %d 次更新：载入 %d 行，变化人员 %s；%s（用时 %.1f 秒）",
		w.cycle, strings.Join(names, ", "), res.Seq, rows, changed, screened, time.Since(t0).Seconds())
}

// retryScreen retries a failed screening (e.g. the case store was held by
// the review server); it says so only when it succeeds.
func (w *watcher) retryScreen(ctx context.Context) {
	t0 := time.Now()
	screened, err := w.screenChanged(ctx)
	if err != nil || ctx.Err() != nil {
		return
	}
	w.pending = false
	w.say("cycle %d: screening retried: %s (%.1f s)", "第 %d 轮：比对重试成功：%s（用时 %.1f 秒）", w.cycle, screened, time.Since(t0).Seconds())
}

// reject moves the files of a failed cycle to DIR/rejected with the
// error beside each; it returns their names.
func (w *watcher) reject(files []string, cause error) []string {
	rd := filepath.Join(w.folder.dir, RejectedDir)
	var moved []string
	if err := os.MkdirAll(rd, 0o755); err != nil {
		w.folder.take(files)
		return nil
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			continue
		}
		to := filepath.Join(rd, filepath.Base(f))
		if err := os.Rename(f, to); err != nil {
			continue
		}
		_ = os.WriteFile(to+".error.txt", []byte(cause.Error()+"\n"), 0o644)
		moved = append(moved, filepath.Base(f))
	}
	// A file that could not be moved is not taken again until it changes.
	w.folder.last = map[string]fileState{}
	if _, err := w.folder.poll(); err == nil {
		w.folder.take(files)
	}
	return moved
}

// screenChanged screens the persons changed since the last --changed
// screening (as screen --changed --job-rolls) and imports the hits into
// the case store; it says what it did in a few words.
func (w *watcher) screenChanged(ctx context.Context) (string, error) {
	st, err := readScreened(w.store)
	if err != nil {
		return "", err
	}
	s, err := screen.Open(ctx, w.store, screen.Options{Log: w.log})
	if err != nil {
		return "", err
	}
	defer s.Close()
	if st.Seq >= s.Seq() {
		return map[string]string{"en": "nothing to screen", "zh": "无需比对"}[w.lang], nil
	}
	out := filepath.Join(w.out, fmt.Sprintf("%s-refresh%d", time.Now().Format("20060102-150405"), s.Seq()))
	rr, err := s.Roll(ctx, screen.RollInput{JobRolls: true, Changed: true, Since: st.Seq}, out)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf(map[string]string{"en": "screened %d payments: %d hits, %d to stop", "zh": "比对 %d 笔发放：命中 %d 条，建议停发 %d 笔"}[w.lang],
		rr.Payments, rr.Hits, len(rr.Stops))
	if w.cases != "" {
		cs, err := casestore.Open(ctx, w.cases, casestore.Options{})
		if err != nil {
			return "", fmt.Errorf("case store %s: %w", w.cases, err)
		}
		ir, err := cs.ImportRun(ctx, rr.OutDir, casestore.ImportOptions{Persons: rr.Persons})
		cs.Close()
		if err != nil && !errors.Is(err, casestore.ErrAlreadyImported) {
			return "", fmt.Errorf("case store %s: %w", w.cases, err)
		}
		if ir != nil {
			msg += fmt.Sprintf(map[string]string{"en": "; cases: %d new, %d withdrawn", "zh": "；案件：新增 %d 件，死亡记录撤销 %d 件"}[w.lang], ir.NewCases, ir.WithdrawnDeaths)
		}
	}
	if err := writeScreened(w.store, screenedState{Seq: rr.Seq}); err != nil {
		return "", err
	}
	return msg + map[string]string{"en": "; folder ", "zh": "；结果目录 "}[w.lang] + rr.OutDir, nil
}
