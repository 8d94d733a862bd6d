// Package gen generates a synthetic rural Henan province for benchmarking
// crosscheck: a population in households in real villages, the
// departmental extracts that describe it (each in its department's own
// headers, encodings, date styles and file formats), monthly payment
// rolls for several subsidy programs, injected cases that screening
// should find and noise that it should not, a job file that runs as is
// and truth.csv that says which payments are which.
//
// Generation streams: the province is cut into chunks (part of a county
// each) generated in parallel from their own random stream and written
// in order, so memory does not grow with the population and the same
// seed and size give the same bytes.
package gen

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Config says what to generate.
type Config struct {
	Persons int
	Seed    uint64
	Out     string
	// Rates of the cases and noise; DefaultRates() when nil.
	Rates Rates
	// Workers generating chunks; GOMAXPROCS when 0.
	Workers int
	// ChunkSize is the target number of persons per chunk (default 8192).
	ChunkSize int
	// Progress, when set, is called after each chunk is written.
	Progress func(persons int64)
}

// FileInfo describes a written file.
type FileInfo struct {
	Path  string `json:"path"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// Summary describes a generated province. It holds no timing, so that
// gen.json is identical for the same seed and size.
type Summary struct {
	Generator  string           `json:"generator"`
	Persons    int64            `json:"persons"`
	Seed       uint64           `json:"seed"`
	Households int64            `json:"households"`
	Payments   int64            `json:"payments"`
	TruthRows  int64            `json:"truth_rows"`
	Periods    []string         `json:"periods"`
	Rates      Rates            `json:"rates"`
	TruthKinds map[string]int64 `json:"truth_rows_by_kind"`
	Files      []FileInfo       `json:"files"`
}

// Version of the generator's output; bump when the data change.
const Version = "gen/1"

// Job, truth and summary file names in the output folder.
const (
	JobFile     = "job.yaml"
	TruthFile   = "truth.csv"
	NoiseFile   = "noise.csv"
	SummaryFile = "gen.json"
)

// plan cuts the province into chunks: persons per county in proportion to
// its villages, then at most 125 chunks per county (the ID sequence
// scheme gives each chunk of a county 4 sequence numbers per birth date
// and gender).
func plan(rd *refData, n, chunkSize int) []chunkSpec {
	if chunkSize <= 0 {
		chunkSize = 8192
	}
	total := 0
	for _, c := range rd.counties {
		total += len(c.villages)
	}
	type rem struct {
		i int
		f float64
	}
	per := make([]int, len(rd.counties))
	var rems []rem
	assigned := 0
	for i, c := range rd.counties {
		x := float64(n) * float64(len(c.villages)) / float64(total)
		per[i] = int(math.Floor(x))
		assigned += per[i]
		rems = append(rems, rem{i, x - math.Floor(x)})
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].f > rems[b].f })
	for k := 0; assigned < n; k++ {
		per[rems[k%len(rems)].i]++
		assigned++
	}
	var out []chunkSpec
	var serial uint64
	for ci, p := range per {
		if p == 0 {
			continue
		}
		k := (p + chunkSize - 1) / chunkSize
		if k > 125 {
			k = 125
		}
		for j := 0; j < k; j++ {
			q := p/k + b2i(j < p%k)
			out = append(out, chunkSpec{no: len(out), county: ci, inCounty: j, quota: q, serial0: serial})
			serial += uint64(q)
		}
	}
	return out
}

// genChunk generates one chunk and renders its rows.
func genChunk(cfg *Config, rd *refData, spec chunkSpec) *chunkOut {
	g := &chunk{spec: spec, cfg: cfg, ref: rd, cty: &rd.counties[spec.county],
		r:    rand.New(rand.NewPCG(cfg.Seed, uint64(spec.no)*0x9E3779B97F4A7C15+0x2545F4914F6CDD1D)),
		seqs: map[uint64]uint8{}}
	g.ps = make([]person, 0, spec.quota+8)
	for len(g.ps) < spec.quota {
		g.household()
	}
	if len(g.ps) > spec.quota {
		g.ps = g.ps[:spec.quota]
		last := &g.hs[len(g.hs)-1]
		k := 0
		for _, m := range last.members {
			if int(m) < spec.quota {
				last.members[k] = m
				k++
			}
		}
		last.members = last.members[:k]
	}
	g.namesakes()
	g.assignIDs()
	g.deaths()
	g.attributes()
	g.selectRecipients()
	for i := range g.ps {
		if p := &g.ps[i]; p.progs&sscProgs != 0 {
			p.ssc = true
			p.sscStatus = 0
		}
	}
	g.inject()
	for i := range g.ps {
		if p := &g.ps[i]; p.progs&sscProgs != 0 && !p.ssc {
			p.ssc = true
		}
	}
	g.payments()
	out, err := g.serialize()
	if err != nil {
		return &chunkOut{no: spec.no, err: err}
	}
	return out
}

type sink struct {
	path string
	f    *os.File
	w    *bufio.Writer
	pw   *pqarrow.FileWriter
	rows int64
}

// writer owns the output files.
type writer struct {
	dir   string
	sinks map[string]*sink
	order []string
}

func (w *writer) open(rel string, o *outSpec) (*sink, error) {
	if s, ok := w.sinks[rel]; ok {
		return s, nil
	}
	p := filepath.Join(w.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(p)
	if err != nil {
		return nil, err
	}
	s := &sink{path: rel, f: f, w: bufio.NewWriterSize(f, 1<<20)}
	if o != nil {
		if o.enc == encParquet {
			props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy),
				parquet.WithMaxRowGroupLength(64*1024), parquet.WithDictionaryDefault(false),
				parquet.WithCreatedBy("crosscheck-gen"))
			s.pw, err = pqarrow.NewFileWriter(schemas[indexOf(o)], s.w, props, pqarrow.DefaultWriterProps())
			if err != nil {
				f.Close()
				return nil, err
			}
		} else {
			var row csvRow
			row.start(nil)
			for _, h := range o.header {
				row.str(h)
			}
			hdr := row.end()
			switch o.enc {
			case encBOM:
				s.w.WriteString("\uFEFF")
			case encGBK:
				if hdr, err = gbk(hdr); err != nil {
					f.Close()
					return nil, err
				}
			}
			s.w.Write(hdr)
		}
	}
	w.sinks[rel] = s
	w.order = append(w.order, rel)
	return s, nil
}

func indexOf(o *outSpec) int {
	for i := range outs {
		if &outs[i] == o {
			return i
		}
	}
	return -1
}

func (w *writer) close() ([]FileInfo, error) {
	var infos []FileInfo
	var first error
	sort.Strings(w.order)
	for _, rel := range w.order {
		s := w.sinks[rel]
		if s.pw != nil {
			if err := s.pw.Close(); err != nil && first == nil { // flushes and closes the bufio writer's sink
				first = err
			}
		}
		if err := s.w.Flush(); err != nil && first == nil {
			first = err
		}
		if err := s.f.Close(); err != nil && first == nil && !strings.Contains(err.Error(), "file already closed") {
			first = err
		}
		st, err := os.Stat(filepath.Join(w.dir, filepath.FromSlash(rel)))
		if err == nil {
			infos = append(infos, FileInfo{Path: rel, Rows: s.rows, Bytes: st.Size()})
		}
	}
	return infos, first
}

// Generate writes a province to cfg.Out.
func Generate(ctx context.Context, cfg Config) (*Summary, error) {
	if cfg.Persons < 1 {
		return nil, fmt.Errorf("persons must be at least 1")
	}
	if cfg.Rates == nil {
		cfg.Rates = DefaultRates()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	rd, err := loadRef()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	// Per-prefecture files of an earlier, larger province would join the
	// glob of this one.
	old, _ := filepath.Glob(filepath.Join(cfg.Out, "gongan", "huji_*.csv"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return nil, err
		}
	}
	chunks := plan(rd, cfg.Persons, cfg.ChunkSize)
	w := &writer{dir: cfg.Out, sinks: map[string]*sink{}}
	// Files that exist whatever the size.
	for i := range outs {
		if !strings.Contains(outs[i].path, "{pref}") {
			if _, err := w.open(outs[i].path, &outs[i]); err != nil {
				return nil, err
			}
		}
	}
	truth, err := w.open(TruthFile, nil)
	if err != nil {
		return nil, err
	}
	truth.w.WriteString("payment_id,category,rule_family,case\n")
	noise, err := w.open(NoiseFile, nil)
	if err != nil {
		return nil, err
	}
	noise.w.WriteString("payment_id,noise\n")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan *chunkOut, len(chunks))
	for i := range results {
		results[i] = make(chan *chunkOut, 1)
	}
	jobs := make(chan int)
	sem := make(chan struct{}, cfg.Workers*2)
	go func() {
		defer close(jobs)
		for i := range chunks {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for k := 0; k < cfg.Workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if ctx.Err() != nil {
					results[i] <- &chunkOut{no: i, err: ctx.Err()}
					continue
				}
				results[i] <- genChunk(&cfg, rd, chunks[i])
			}
		}()
	}
	sum := &Summary{Generator: Version, Seed: cfg.Seed, Rates: cfg.Rates, TruthKinds: map[string]int64{},
		Periods: periodNames[:]}
	werr := func() error {
		for i := range chunks {
			var co *chunkOut
			select {
			case co = <-results[i]:
			case <-ctx.Done():
				return ctx.Err()
			}
			if co.err != nil {
				return co.err
			}
			for oi := range outs {
				if co.rows[oi] == 0 && !(outs[oi].enc == encParquet) {
					continue
				}
				rel := strings.ReplaceAll(outs[oi].path, "{pref}", co.pref)
				s, err := w.open(rel, &outs[oi])
				if err != nil {
					return err
				}
				if s.pw != nil {
					if co.pq[oi] != nil {
						if co.pq[oi].NumRows() > 0 {
							if err := s.pw.WriteBuffered(co.pq[oi]); err != nil {
								return fmt.Errorf("%s: %w", rel, err)
							}
						}
						co.pq[oi].Release()
					}
				} else if _, err := s.w.Write(co.csv[oi]); err != nil {
					return err
				}
				s.rows += co.rows[oi]
			}
			truth.w.Write(co.truth)
			truth.rows += co.truthN
			noise.w.Write(co.noise)
			sum.Persons += co.persons
			sum.Households += co.hhs
			sum.Payments += co.pays
			sum.TruthRows += co.truthN
			for k, v := range co.kindRows {
				sum.TruthKinds[k] += v
			}
			<-sem
			if cfg.Progress != nil {
				cfg.Progress(sum.Persons)
			}
		}
		return nil
	}()
	if werr != nil {
		cancel()
	}
	// Let the workers finish (they never block: each result channel has room).
	go func() {
		for range sem {
		}
	}()
	wg.Wait()
	close(sem)
	if werr != nil {
		w.close()
		return nil, werr
	}
	if err := writeStatic(cfg.Out); err != nil {
		return nil, err
	}
	files, err := w.close()
	if err != nil {
		return nil, err
	}
	for _, f := range []string{JobFile, ProgramFile} {
		if st, err := os.Stat(filepath.Join(cfg.Out, filepath.FromSlash(f))); err == nil {
			files = append(files, FileInfo{Path: f, Rows: -1, Bytes: st.Size()})
		}
	}
	sort.Slice(files, func(a, b int) bool { return files[a].Path < files[b].Path })
	sum.Files = files
	b, _ := json.MarshalIndent(sum, "", "  ")
	if err := os.WriteFile(filepath.Join(cfg.Out, SummaryFile), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	return sum, nil
}

// ReadSummary reads gen.json of a generated folder.
func ReadSummary(dir string) (*Summary, error) {
	b, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		return nil, err
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", SummaryFile, err)
	}
	return &s, nil
}
