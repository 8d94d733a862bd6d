package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
)

// stageProfiler writes a CPU profile per stage of a crosscheck run and,
// at the end of each stage, the cumulative allocation profile (so that
// `go tool pprof -base` of two consecutive ones gives the allocations of
// the stage between them). DuckDB is C++ without Go symbols: its work on
// the calling thread shows as runtime.cgocall under the Go function that
// ran the statement, its worker threads as the binary's name in brackets
// (and libc): the profile says how much of a stage is SQL and which Go
// function sent it, the stage's log lines and EXPLAIN ANALYZE the rest.
type stageProfiler struct {
	dir   string
	n     int
	cur   *os.File
	files []string
	prev  string // previous allocation profile
	err   error
}

func newStageProfiler(dir string) (*stageProfiler, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p := &stageProfiler{dir: dir}
	return p, p.start()
}

func (p *stageProfiler) start() error {
	f, err := os.Create(filepath.Join(p.dir, "cpu.tmp"))
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	p.cur = f
	return nil
}

// done ends the CPU profile of stage and starts the next one.
func (p *stageProfiler) done(stage string) {
	if p.err != nil || p.cur == nil {
		return
	}
	p.n++
	pprof.StopCPUProfile()
	cpu := fmt.Sprintf("cpu-%d-%s.pprof", p.n, stage)
	if err := p.cur.Close(); err != nil {
		p.err = err
		return
	}
	p.cur = nil
	if err := os.Rename(filepath.Join(p.dir, "cpu.tmp"), filepath.Join(p.dir, cpu)); err != nil {
		p.err = err
		return
	}
	alloc := fmt.Sprintf("alloc-%d-%s.pprof", p.n, stage)
	f, err := os.Create(filepath.Join(p.dir, alloc))
	if err != nil {
		p.err = err
		return
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		p.err = err
		return
	}
	if err := f.Close(); err != nil {
		p.err = err
		return
	}
	base := ""
	if p.prev != "" {
		base = " -base " + p.prev
	}
	p.files = append(p.files,
		fmt.Sprintf("go tool pprof -top %s", cpu),
		fmt.Sprintf("go tool pprof -top -sample_index=alloc_space%s %s", base, alloc))
	p.prev = alloc
	p.err = p.start()
}

// close stops the last CPU profile (what followed the last stage: the run
// report and the manifest; it is not kept) and writes README.txt with
// the commands that show each profile's top.
func (p *stageProfiler) close() error {
	if p.cur != nil {
		pprof.StopCPUProfile()
		p.cur.Close()
		os.Remove(p.cur.Name())
		p.cur = nil
	}
	if p.err != nil {
		return p.err
	}
	txt := "Per-stage profiles of one crosscheck run (crosscheck bench --profile), stage by stage.\n" +
		"CPU: DuckDB's work shows as runtime.cgocall (the calling thread, under the Go function that sent the SQL)\n" +
		"and as [crosscheck] / [libc.so.6] (DuckDB's worker threads, no Go symbols); -cum shows the Go callers.\n" +
		"alloc-N: cumulative allocations at the end of stage N; -base the previous one gives the stage's own.\n\n" +
		"cd " + p.dir + "\n" + strings.Join(p.files, "\n") + "\n"
	return os.WriteFile(filepath.Join(p.dir, "README.txt"), []byte(txt), 0o644)
}
