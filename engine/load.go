package engine

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/mapping"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
	"github.com/crosscheck/crosscheck/schema"
)

// batchRows is the number of rows per Arrow batch handed to DuckDB.
const batchRows = 16384

// planned is a source ready to load.
type planned struct {
	src  job.Source
	role dataset.Role
	conn connectors.Source
	// rid is the first _rid of the source's rows (0: by its position
	// among the plans loaded together): the roll cache maps one source
	// of several with the _rid it has among them all.
	rid int64
}

// Table is the DuckDB table a role loads into (schema.Table).
//
// Deprecated: use schema.Table, the one owner of table names.
func Table(role dataset.Role) string { return schema.Table(role) }

// plan builds every source's connector and checks that each input has all
// mapped columns, before any row is loaded.
func plan(ctx context.Context, j *job.Job, reg *connectors.Registry) ([]planned, error) {
	var out []planned
	var errs []error
	for _, s := range j.Sources {
		role, err := j.SourceRole(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("source %s: %w", s.Name, err))
			continue
		}
		c, err := reg.Build(s.Connector, s.Name, j.Resolve(s.Path), s.Options)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hdrs, err := c.Headers(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m, _ := mapping.New(role, s, nil, 0)
		for i := range hdrs {
			if miss := m.MissingColumns(&hdrs[i]); len(miss) > 0 {
				errs = append(errs, fmt.Errorf("source %s: file %s: mapped column %s not found (the file has: %s)",
					s.Name, hdrs[i].Path, quoteList(miss), quoteList(hdrs[i].Names)))
			}
		}
		m.Release()
		out = append(out, planned{src: s, role: role, conn: c})
	}
	return out, errors.Join(errs...)
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// createTables creates one empty table per built-in role and per custom
// role used by the job (schema.TableDDL), replacing any of a reused
// database file.
func (s *Session) createTables(ctx context.Context, roles []dataset.Role) error {
	for _, r := range roles {
		if err := s.Exec(ctx, schema.OrReplace(schema.TableDDL(r))); err != nil {
			return err
		}
	}
	return nil
}

// quarantineFile writes rejected rows of one source as CSV (UTF-8 with BOM).
type quarantineFile struct {
	f      *os.File
	w      *csv.Writer
	mapper *mapping.Mapper
	raw    bool
}

func newQuarantineFile(path string, raw bool) (*quarantineFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	f.WriteString("\uFEFF")
	w := csv.NewWriter(f)
	w.Write([]string{"file", "row", "column", "reason", "detail", "original"})
	return &quarantineFile{f: f, w: w, raw: raw}, nil
}

func (q *quarantineFile) Quarantine(r mapping.QuarantineRow) error {
	buf := []byte{'{'}
	for i, v := range r.Values {
		name := fmt.Sprintf("field%d", i+1)
		if i < len(r.Header) {
			name = r.Header[i]
		}
		switch {
		case q.raw:
		case q.mapper.Sensitive(name) && v != "":
			v = idnumber.Mask(v)
		case len(r.Header) == 0 || i >= len(r.Header):
			v = idnumber.MaskDigitRuns(v) // no header to tell which column it is
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = mapping.AppendJSONString(buf, name)
		buf = append(buf, ':')
		buf = mapping.AppendJSONString(buf, v)
	}
	buf = append(buf, '}')
	detail := r.Detail
	if !q.raw {
		detail = idnumber.MaskDigitRuns(detail)
	}
	q.example(r, detail)
	return q.w.Write(safeRecord([]string{r.File, fmt.Sprint(r.Row), r.Column, r.Reason, detail, string(buf)}))
}

// example keeps the first row of each reason for the quarantine guard's
// message: the failing column's value, masked as in the file, or the
// row's problem.
func (q *quarantineFile) example(r mapping.QuarantineRow, detail string) {
	st := q.mapper.Stats
	if _, ok := st.Examples[r.Reason]; ok {
		return
	}
	if st.Examples == nil {
		st.Examples = map[string]mapping.QuarantineExample{}
	}
	ex := mapping.QuarantineExample{File: r.File, Row: r.Row, Column: r.Column, Value: detail}
	if r.Column != "" {
		ex.Value = ""
		for i, h := range r.Header {
			if h == r.Column && i < len(r.Values) {
				ex.Value = r.Values[i]
				if !q.raw && q.mapper.Sensitive(h) && ex.Value != "" {
					ex.Value = idnumber.Mask(ex.Value)
				}
				break
			}
		}
	}
	st.Examples[r.Reason] = ex
}

func (q *quarantineFile) Close() error {
	q.w.Flush()
	if err := q.w.Error(); err != nil {
		q.f.Close()
		return err
	}
	return q.f.Close()
}

// stream is the Arrow record reader that pulls records from a connector
// and maps them in parallel: one goroutine reads chunks of records, a few
// workers map chunks into Arrow batches, and Next hands the batches to
// DuckDB in chunk order, writing each chunk's quarantined rows in the same
// order, so the result does not depend on scheduling.
type stream struct {
	refs   atomic.Int64
	ctx    context.Context
	cancel context.CancelFunc
	schema *arrow.Schema
	out    chan chunkResult
	next   int64
	held   map[int64]chunkResult
	cur    arrow.RecordBatch
	err    error
	done   bool
	sink   mapping.QuarantineSink
	stats  *mapping.Stats
	wg     sync.WaitGroup
	onRows func(n int64)
	rows   atomic.Int64 // rows read so far, for the progress bar
}

type chunk struct {
	idx  int64
	recs []connectors.Record
	err  error // a fatal read error after recs
	last bool
}

type chunkResult struct {
	idx        int64
	batch      arrow.RecordBatch
	quarantine []mapping.QuarantineRow
	stats      *mapping.Stats
	err        error
	last       bool
}

// chunkSink collects a chunk's quarantined rows.
type chunkSink struct{ rows []mapping.QuarantineRow }

func (c *chunkSink) Quarantine(r mapping.QuarantineRow) error {
	c.rows = append(c.rows, r)
	return nil
}

// newStream starts reading rd and mapping with workers mappers made by
// newMapper (each with its own sink).
func newStream(ctx context.Context, rd connectors.Reader, workers int, ridBase int64,
	newMapper func(mapping.QuarantineSink) (*mapping.Mapper, error), sink mapping.QuarantineSink, stats *mapping.Stats) (*stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	st := &stream{ctx: ctx, cancel: cancel, out: make(chan chunkResult, workers+1), held: map[int64]chunkResult{}, sink: sink, stats: stats}
	in := make(chan chunk, workers+1)
	var mappers []*mapping.Mapper
	var sinks []*chunkSink
	for i := 0; i < workers; i++ {
		cs := &chunkSink{}
		m, err := newMapper(cs)
		if err != nil {
			cancel()
			for _, m := range mappers {
				m.Release()
			}
			return nil, err
		}
		mappers = append(mappers, m)
		sinks = append(sinks, cs)
	}
	st.schema = mappers[0].Schema()
	// Reader.
	go func() {
		defer close(in)
		var idx int64
		for {
			recs := make([]connectors.Record, 0, batchRows)
			var rerr error
			last := false
			for len(recs) < batchRows {
				rec, err := rd.Next()
				if errors.Is(err, io.EOF) {
					last = true
					break
				}
				if err == nil {
					err = ctx.Err()
				}
				if err != nil {
					rerr, last = err, true
					break
				}
				recs = append(recs, rec)
			}
			select {
			case in <- chunk{idx: idx, recs: recs, err: rerr, last: last}:
			case <-ctx.Done():
				return
			}
			if last {
				return
			}
			idx++
		}
	}()
	// Mapping workers.
	for i := range mappers {
		m, cs := mappers[i], sinks[i]
		st.wg.Add(1)
		go func() {
			defer st.wg.Done()
			defer m.Release()
			for c := range in {
				cs.rows = nil
				before := *m.Stats
				before.Quarantined, before.IDStatus, before.DateFailures = copyCounts(m.Stats)
				m.SetRIDBase(ridBase + c.idx*batchRows)
				res := chunkResult{idx: c.idx, last: c.last}
				for _, rec := range c.recs {
					if err := m.Add(rec); err != nil {
						res.err = err
						break
					}
				}
				if res.err == nil {
					res.err = c.err
				}
				res.batch = m.Flush()
				res.quarantine = cs.rows
				res.stats = diffStats(m.Stats, &before)
				select {
				case st.out <- res:
				case <-ctx.Done():
					if res.batch != nil {
						res.batch.Release()
					}
					return
				}
			}
		}()
	}
	go func() {
		st.wg.Wait()
		close(st.out)
	}()
	return st, nil
}

func copyCounts(s *mapping.Stats) (map[string]int64, map[string]map[string]int64, map[string]int64) {
	q := map[string]int64{}
	for k, v := range s.Quarantined {
		q[k] = v
	}
	ids := map[string]map[string]int64{}
	for c, m := range s.IDStatus {
		ids[c] = map[string]int64{}
		for k, v := range m {
			ids[c][k] = v
		}
	}
	d := map[string]int64{}
	for k, v := range s.DateFailures {
		d[k] = v
	}
	return q, ids, d
}

// diffStats returns the counts added to s since before.
func diffStats(s, before *mapping.Stats) *mapping.Stats {
	d := &mapping.Stats{Quarantined: map[string]int64{}, IDStatus: map[string]map[string]int64{}, DateFailures: map[string]int64{},
		RowsRead: s.RowsRead - before.RowsRead, RowsAccepted: s.RowsAccepted - before.RowsAccepted,
		RowsQuarantined: s.RowsQuarantined - before.RowsQuarantined}
	for k, v := range s.Quarantined {
		if n := v - before.Quarantined[k]; n != 0 {
			d.Quarantined[k] = n
		}
	}
	for c, m := range s.IDStatus {
		d.IDStatus[c] = map[string]int64{}
		for k, v := range m {
			if n := v - before.IDStatus[c][k]; n != 0 {
				d.IDStatus[c][k] = n
			}
		}
	}
	for k, v := range s.DateFailures {
		if n := v - before.DateFailures[k]; n != 0 {
			d.DateFailures[k] = n
		}
	}
	return d
}

var _ array.RecordReader = (*stream)(nil)

func (st *stream) Retain()                        { st.refs.Add(1) }
func (st *stream) Release()                       { st.refs.Add(-1) }
func (st *stream) Schema() *arrow.Schema          { return st.schema }
func (st *stream) Record() arrow.RecordBatch      { return st.cur }
func (st *stream) RecordBatch() arrow.RecordBatch { return st.cur }
func (st *stream) Err() error                     { return st.err }

// Next returns the next chunk's batch in order; chunks with no accepted
// row are skipped.
func (st *stream) Next() bool {
	if st.cur != nil {
		st.cur.Release()
		st.cur = nil
	}
	for !st.done && st.err == nil {
		res, ok := st.held[st.next]
		if ok {
			delete(st.held, st.next)
		} else {
			r, open := <-st.out
			if !open {
				st.err = fmt.Errorf("internal error: loader stopped before its last chunk")
				break
			}
			if r.idx != st.next {
				st.held[r.idx] = r
				continue
			}
			res = r
		}
		st.next++
		st.stats.Merge(res.stats)
		st.rows.Store(st.stats.RowsRead)
		for _, q := range res.quarantine {
			if err := st.sink.Quarantine(q); err != nil && res.err == nil {
				res.err = err
			}
		}
		if st.onRows != nil && res.stats.RowsRead > 0 && st.stats.RowsRead/100000 != (st.stats.RowsRead-res.stats.RowsRead)/100000 {
			st.onRows(st.stats.RowsRead)
		}
		if res.err != nil {
			st.err = res.err
			if res.batch != nil {
				res.batch.Release()
			}
			break
		}
		if res.last {
			st.done = true
		}
		if res.batch != nil {
			st.cur = res.batch
			return true
		}
	}
	return false
}

// close stops the pipeline and waits for the workers.
func (st *stream) close() {
	st.cancel()
	for r := range st.out {
		if r.batch != nil {
			r.batch.Release()
		}
	}
	for _, r := range st.held {
		if r.batch != nil {
			r.batch.Release()
		}
	}
	if st.cur != nil {
		st.cur.Release()
		st.cur = nil
	}
}

// loadSources loads every planned source into its role table and returns
// the per-source statistics.
func (s *Session) loadSources(ctx context.Context, plans []planned, quarantineDir string, raw bool, workers int, log *slog.Logger, progress io.Writer) ([]*mapping.Stats, error) {
	if workers < 1 {
		workers = 1
	}
	var stats []*mapping.Stats
	for i, p := range plans {
		start := time.Now()
		qf, err := newQuarantineFile(filepath.Join(quarantineDir, p.src.Name+".csv"), raw)
		if err != nil {
			return nil, fmt.Errorf("source %s: quarantine file: %w", p.src.Name, err)
		}
		// The stats and the sensitive columns come from one mapper; the
		// workers have their own and their counts are merged in order.
		m, err := mapping.New(p.role, p.src, nil, 0)
		if err != nil {
			qf.Close()
			return nil, err
		}
		m.Release()
		qf.mapper = m
		rd, err := p.conn.Open(ctx)
		if err != nil {
			qf.Close()
			return nil, err
		}
		newMapper := func(sink mapping.QuarantineSink) (*mapping.Mapper, error) {
			return mapping.New(p.role, p.src, sink, 0)
		}
		base := int64(i+1) << 40
		if p.rid != 0 {
			base = p.rid
		}
		st, err := newStream(ctx, rd, workers, base, newMapper, qf, m.Stats)
		if err != nil {
			rd.Close()
			qf.Close()
			return nil, err
		}
		var bar *progressBar
		if progress != nil {
			bar = startProgress(progress, p.src.Name, &st.rows, rd)
		} else {
			st.onRows = func(n int64) { log.Info("loading", "source", p.src.Name, "rows", n) }
		}
		err = s.InsertArrow(ctx, Table(p.role), st, personKeyExpr(p.role))
		if bar != nil {
			bar.stop()
		}
		st.close()
		rd.Close()
		if cerr := qf.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("source %s: quarantine file: %w", p.src.Name, cerr)
		}
		if err != nil {
			return nil, err
		}
		m.Stats.Inputs = rd.Inputs()
		stats = append(stats, m.Stats)
		log.Info("loaded", "source", p.src.Name, "role", p.role.Name, "rows_read", m.Stats.RowsRead,
			"accepted", m.Stats.RowsAccepted, "quarantined", m.Stats.RowsQuarantined, "seconds", time.Since(start).Seconds())
	}
	return stats, nil
}

// hasPersonKey reports whether a role's table gets a person_key column
// (schema.HasPersonKey).
func hasPersonKey(r dataset.Role) bool { return schema.HasPersonKey(r) }

// personKeyExpr computes person_key at load, the canonical ID number when
// it is valid or was upgraded from 15 digits, and link_method for those
// rows (what identity resolution gives them). Repair and linkage fill in
// more later.
func personKeyExpr(r dataset.Role) string {
	if !hasPersonKey(r) {
		return ""
	}
	return "CASE WHEN id_number_status IN ('valid', 'upgraded') THEN id_number END AS person_key, " +
		"CASE id_number_status WHEN 'valid' THEN 'exact' WHEN 'upgraded' THEN 'upgraded' END AS link_method"
}
