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
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/mapping"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// batchRows is the number of rows per Arrow batch handed to DuckDB.
const batchRows = 16384

// planned is a source ready to load.
type planned struct {
	src  job.Source
	role dataset.Role
	conn connectors.Source
}

// Table is the DuckDB table a role loads into: the role name.
func Table(role dataset.Role) string { return role.Name }

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
// role used by the job.
func (s *Session) createTables(ctx context.Context, roles []dataset.Role) error {
	for _, r := range roles {
		var cols []string
		for _, f := range r.Fields() {
			cols = append(cols, fmt.Sprintf("%s %s", Ident(f.Name), DuckType(f.Type)))
		}
		if hasPersonKey(r) {
			cols = append(cols, dataset.ColPersonKey+" VARCHAR")
		}
		q := fmt.Sprintf("CREATE OR REPLACE TABLE %s (%s)", Ident(Table(r)), strings.Join(cols, ", "))
		if err := s.Exec(ctx, q); err != nil {
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
	return q.w.Write([]string{r.File, fmt.Sprint(r.Row), r.Column, r.Reason, detail, string(buf)})
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
// through the mapper.
type stream struct {
	refs   atomic.Int64
	ctx    context.Context
	rd     connectors.Reader
	m      *mapping.Mapper
	cur    arrow.RecordBatch
	err    error
	eof    bool
	onRows func(n int64)
}

var _ array.RecordReader = (*stream)(nil)

func (st *stream) Retain()                        { st.refs.Add(1) }
func (st *stream) Release()                       { st.refs.Add(-1) }
func (st *stream) Schema() *arrow.Schema          { return st.m.Schema() }
func (st *stream) Record() arrow.RecordBatch      { return st.cur }
func (st *stream) RecordBatch() arrow.RecordBatch { return st.cur }
func (st *stream) Err() error                     { return st.err }

func (st *stream) Next() bool {
	if st.cur != nil {
		st.cur.Release()
		st.cur = nil
	}
	if st.err != nil || st.eof {
		return false
	}
	for st.m.Pending() < batchRows {
		rec, err := st.rd.Next()
		if errors.Is(err, io.EOF) {
			st.eof = true
			break
		}
		if err == nil {
			err = st.ctx.Err()
		}
		if err == nil {
			err = st.m.Add(rec)
		}
		if err != nil {
			st.err = err
			return false
		}
		if st.m.Stats.RowsRead%100000 == 0 && st.onRows != nil {
			st.onRows(st.m.Stats.RowsRead)
		}
	}
	st.cur = st.m.Flush()
	return st.cur != nil
}

// loadSources loads every planned source into its role table and returns
// the per-source statistics.
func (s *Session) loadSources(ctx context.Context, plans []planned, quarantineDir string, raw bool, log *slog.Logger) ([]*mapping.Stats, error) {
	var stats []*mapping.Stats
	for i, p := range plans {
		start := time.Now()
		qf, err := newQuarantineFile(filepath.Join(quarantineDir, p.src.Name+".csv"), raw)
		if err != nil {
			return nil, fmt.Errorf("source %s: quarantine file: %w", p.src.Name, err)
		}
		m, err := mapping.New(p.role, p.src, qf, int64(i+1)<<40)
		if err != nil {
			qf.Close()
			return nil, err
		}
		qf.mapper = m
		rd, err := p.conn.Open(ctx)
		if err != nil {
			qf.Close()
			m.Release()
			return nil, err
		}
		st := &stream{ctx: ctx, rd: rd, m: m, onRows: func(n int64) {
			log.Info("loading", "source", p.src.Name, "rows", n)
		}}
		err = s.InsertArrow(ctx, Table(p.role), st, personKeyExpr(p.role))
		rd.Close()
		m.Release()
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

// hasPersonKey reports whether a role's table gets a person_key column.
func hasPersonKey(r dataset.Role) bool {
	c, ok := r.Column("id_number")
	return ok && c.Kind == dataset.ID
}

// personKeyExpr computes person_key at load: the canonical ID number when
// it is valid or was upgraded from 15 digits. Repair fills in more later.
func personKeyExpr(r dataset.Role) string {
	if !hasPersonKey(r) {
		return ""
	}
	return "CASE WHEN id_number_status IN ('valid', 'upgraded') THEN id_number END AS person_key"
}
