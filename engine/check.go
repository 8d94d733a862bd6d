package engine

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/mapping"
)

// SourceSample is what `crosscheck sources check` shows for one source:
// the first rows as sent next to the canonical values they map to, and
// the quality counts of the sample.
type SourceSample struct {
	Source  string
	Role    string
	Headers []connectors.Header
	// Mapped lists, per canonical column, where it comes from.
	Mapped []MappedColumn
	// Rows holds the sampled accepted rows.
	Rows       []SampleRow
	Quarantine []mapping.QuarantineRow
	Stats      *mapping.Stats
}

// MappedColumn is a canonical column and its origin.
type MappedColumn struct {
	Canonical string
	Kind      dataset.Kind
	From      string // source column, "constant: …" or "" (not mapped)
}

// SampleRow is one accepted row: original values by source column and
// canonical values by canonical column (rendered as text).
type SampleRow struct {
	File      string
	Row       int64
	Original  map[string]string
	Canonical map[string]string
}

type memSink struct {
	rows []mapping.QuarantineRow
}

func (m *memSink) Quarantine(r mapping.QuarantineRow) error {
	m.rows = append(m.rows, r)
	return nil
}

// CheckSources reads up to n rows of every source through its mapping,
// without DuckDB and without running rules.
func CheckSources(ctx context.Context, plans []Planned, n int) ([]SourceSample, error) {
	var out []SourceSample
	for _, p := range plans {
		s, err := checkSource(ctx, p, n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func checkSource(ctx context.Context, p Planned, n int) (SourceSample, error) {
	sink := &memSink{}
	m, err := mapping.New(p.role, p.src, sink, 0)
	if err != nil {
		return SourceSample{}, err
	}
	defer m.Release()
	hdrs, err := p.conn.Headers(ctx)
	if err != nil {
		return SourceSample{}, err
	}
	smp := SourceSample{Source: p.src.Name, Role: p.role.Name, Headers: hdrs}
	for _, c := range p.role.Columns {
		mc := MappedColumn{Canonical: c.Name, Kind: c.Kind}
		if mm, ok := p.src.Columns[c.Name]; ok {
			if mm.Constant != nil {
				mc.From = "constant: " + *mm.Constant
			} else {
				mc.From = mm.Column
			}
		}
		smp.Mapped = append(smp.Mapped, mc)
	}
	rd, err := p.conn.Open(ctx)
	if err != nil {
		return SourceSample{}, err
	}
	defer rd.Close()
	var originals []connectors.Record
	for i := 0; i < n; i++ {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return SourceSample{}, err
		}
		before := m.Stats.RowsAccepted
		if err := m.Add(rec); err != nil {
			return SourceSample{}, err
		}
		if m.Stats.RowsAccepted > before {
			originals = append(originals, rec)
		}
	}
	smp.Stats = m.Stats
	smp.Quarantine = sink.rows
	batch := m.Flush()
	if batch == nil {
		return smp, nil
	}
	defer batch.Release()
	fields := p.role.Fields()
	for i, rec := range originals {
		row := SampleRow{File: rec.Header.Input, Row: rec.Row, Original: map[string]string{}, Canonical: map[string]string{}}
		for k, name := range rec.Header.Names {
			if k < len(rec.Values) {
				row.Original[name] = rec.Values[k]
			}
		}
		for k, f := range fields {
			if f.Column == "" {
				continue
			}
			row.Canonical[f.Name] = cellText(batch.Column(k), i)
		}
		smp.Rows = append(smp.Rows, row)
	}
	return smp, nil
}

func cellText(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return ""
	}
	switch x := a.(type) {
	case *array.String:
		return x.Value(i)
	case *array.Date32:
		return x.Value(i).FormattedString()
	case *array.Float64:
		return fmt.Sprintf("%.2f", x.Value(i))
	}
	return a.ValueStr(i)
}

// Planned is a source whose connector is built and whose headers were
// checked.
type Planned = planned

// Plan builds every source's connector and checks that each input has
// all mapped columns; nothing is loaded.
var Plan = plan
