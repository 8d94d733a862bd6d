// Package mapping turns raw connector records into rows of a canonical
// dataset: it renames columns, applies constants and value maps, parses
// dates, periods and numbers, normalises ID numbers and names, keeps the
// original values as JSON, and sends every row it cannot map to quarantine
// with a reason. It counts everything for the quality report.
package mapping

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"golang.org/x/text/width"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/normalize/dates"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
	"github.com/crosscheck/crosscheck/normalize/names"
)

// Quarantine reasons. Reasons about one column are written "reason" with
// the column named in the quarantine row.
const (
	ReasonMissingValue  = "missing_value"
	ReasonBadDate       = "bad_date"
	ReasonBadPeriod     = "bad_period"
	ReasonBadNumber     = "bad_number"
	ReasonBadBool       = "bad_bool"
	ReasonUnmappedValue = "unmapped_value"
)

// Stats counts what happened to a source's rows.
type Stats struct {
	Source          string `json:"source"`
	Role            string `json:"role"`
	Title           string `json:"title"`
	Department      string `json:"department"`
	RowsRead        int64  `json:"rows_read"`
	RowsAccepted    int64  `json:"rows_accepted"`
	RowsQuarantined int64  `json:"rows_quarantined"`
	// Quarantined counts quarantined rows by reason.
	Quarantined map[string]int64 `json:"quarantined_by_reason"`
	// IDStatus counts ID values by column and status (valid, upgraded,
	// invalid, excel_damaged, missing; repaired is added by the engine).
	IDStatus map[string]map[string]int64 `json:"id_status"`
	// DateFailures counts unparseable dates by column (those rows are
	// quarantined).
	DateFailures map[string]int64 `json:"date_failures"`
	// Duplicates counts rows whose key (ID number or payment_id) repeats
	// within the source; filled in by the engine.
	Duplicates int64              `json:"duplicates"`
	Inputs     []connectors.Input `json:"inputs"`
	// Examples holds, per quarantine reason, the first row quarantined for
	// it (its value masked where the column is sensitive); filled in by
	// whoever writes the quarantine, for messages about the source.
	Examples map[string]QuarantineExample `json:"-"`
}

// QuarantineExample is one quarantined row shown as an example of its
// reason: where it is and the value that failed (or the row's problem).
type QuarantineExample struct {
	File   string
	Row    int64
	Column string
	Value  string
}

// QuarantineRow is a rejected row.
type QuarantineRow struct {
	File   string
	Row    int64
	Column string
	Reason string
	Detail string
	// Header and Values are the original record.
	Header []string
	Values []string
}

// QuarantineSink receives rejected rows.
type QuarantineSink interface {
	Quarantine(QuarantineRow) error
}

type plan struct {
	col      dataset.Column
	m        job.Mapping
	valueMap map[string]string // lower-cased keys
	formats  []dates.Format
	cols     []*column
	// cache holds parsed values by raw value for the kinds whose values
	// repeat (dates, periods, numbers, value-mapped codes): a roll has one
	// period, a few payment dates and standard amounts. Successes only;
	// it stops growing at cacheSize entries.
	cache map[string]value
	// last is the last raw value parsed without a problem and its value,
	// checked before the cache: a roll's period or account type is the
	// same row after row.
	lastRaw string
	lastVal value
	hasLast bool
}

// cacheSize bounds a plan's cache of parsed values.
const cacheSize = 4096

// cached reports whether a column's parsed values are worth caching.
func (p *plan) cached() bool {
	switch p.col.Kind {
	case dataset.ID, dataset.Name:
		return false
	case dataset.Date, dataset.Period, dataset.Number, dataset.Int, dataset.Bool:
		return true
	}
	return p.valueMap != nil
}

// Mapper maps records of one source.
type Mapper struct {
	role   dataset.Role
	src    job.Source
	plans  []*plan
	fields []dataset.Field
	schema *arrow.Schema
	cols   []*column
	index  map[*connectors.Header]*headerInfo
	// lastH and last are the header of the previous record and its entry
	// in index: records of one file share their header.
	lastH   *connectors.Header
	last    *headerInfo
	sink    QuarantineSink
	Stats   *Stats
	pending int
	rid     int64
	vals    []value
	// IDColumns are the source columns holding ID numbers or accounts
	// (masked in quarantine files unless raw values are asked for).
	sensitive map[string]bool
}

// New builds a mapper for a source whose role is role.
//
// Record ids (_rid) are ridBase+1, ridBase+2, … in the order rows are
// accepted, so a run over the same inputs gives the same ids.
func New(role dataset.Role, src job.Source, sink QuarantineSink, ridBase int64) (*Mapper, error) {
	m := &Mapper{role: role, src: src, sink: sink, rid: ridBase, index: map[*connectors.Header]*headerInfo{}, sensitive: map[string]bool{},
		Stats: &Stats{Source: src.Name, Role: role.Name, Title: src.Title, Department: src.Department,
			Quarantined: map[string]int64{}, IDStatus: map[string]map[string]int64{}, DateFailures: map[string]int64{}}}
	m.fields = role.Fields()
	m.schema = role.Schema()
	pool := newBufPool()
	for _, f := range m.schema.Fields() {
		m.cols = append(m.cols, newColumn(f.Type, pool))
	}
	fi := dataset.MetaFields
	for _, c := range role.Columns {
		p := &plan{col: c}
		n := 1
		switch c.Kind {
		case dataset.ID:
			n = 4
		case dataset.Name, dataset.Period:
			n = 2
		}
		for k := 0; k < n; k++ {
			p.cols = append(p.cols, m.cols[fi])
			fi++
		}
		if mm, ok := src.Columns[c.Name]; ok {
			p.m = mm
			if mm.Map != nil {
				p.valueMap = map[string]string{}
				for k, v := range mm.Map {
					p.valueMap[strings.ToLower(strings.TrimSpace(k))] = v
				}
			}
			for _, f := range mm.Formats {
				p.formats = append(p.formats, dates.Format(f))
			}
			if c.Kind == dataset.ID || c.Name == "account_no" || c.Name == "bank_account" || c.Name == "card_no" {
				if mm.Column != "" {
					m.sensitive[mm.Column] = true
				}
			}
			if c.Kind == dataset.ID {
				m.Stats.IDStatus[c.Name] = map[string]int64{}
			}
		} else {
			p.m = job.Mapping{}
		}
		if p.cached() {
			p.cache = map[string]value{}
		}
		m.plans = append(m.plans, p)
	}
	return m, nil
}

// Sensitive reports whether a source column holds ID numbers or accounts.
func (m *Mapper) Sensitive(column string) bool { return m.sensitive[column] }

// MissingColumns returns the mapped source columns a header lacks.
func (m *Mapper) MissingColumns(h *connectors.Header) []string {
	have := map[string]bool{}
	for _, n := range h.Names {
		have[n] = true
	}
	var miss []string
	for _, p := range m.plans {
		if p.m.Column != "" && !have[p.m.Column] {
			miss = append(miss, p.m.Column)
		}
	}
	sort.Strings(miss)
	return miss
}

// headerInfo is what the mapper keeps about one header: the position of
// each plan's column and the JSON keys of the original values.
type headerInfo struct {
	idx []int
	// keys[i] is `{"name":` for the first column, `,"name":` for the others.
	keys []string
}

func (m *Mapper) indexFor(h *connectors.Header) (*headerInfo, error) {
	if h == m.lastH && m.last != nil {
		return m.last, nil
	}
	if hi, ok := m.index[h]; ok {
		m.lastH, m.last = h, hi
		return hi, nil
	}
	if err := connectors.CheckNames(h.Names); err != nil {
		// Which of two columns with one name a mapping means cannot be told.
		return nil, fmt.Errorf("source %s: file %s: %w", m.src.Name, h.Input, err)
	}
	pos := map[string]int{}
	for i, n := range h.Names {
		pos[n] = i
	}
	idx := make([]int, len(m.plans))
	for i, p := range m.plans {
		idx[i] = -1
		if p.m.Column != "" {
			j, ok := pos[p.m.Column]
			if !ok {
				return nil, fmt.Errorf("source %s: file %s: mapped column %q (for %s) is not in the header", m.src.Name, h.Input, p.m.Column, p.col.Name)
			}
			idx[i] = j
		}
	}
	hi := &headerInfo{idx: idx}
	for i, n := range h.Names {
		sep := byte(',')
		if i == 0 {
			sep = '{'
		}
		hi.keys = append(hi.keys, string(append(AppendJSONString([]byte{sep}, n), ':')))
	}
	m.index[h] = hi
	m.lastH, m.last = h, hi
	return hi, nil
}

type value struct {
	null bool
	s    string
	s2   string
	s3   string
	s4   string
	t    time.Time
	f    float64
	i    int64
	b    bool
}

// Add maps one record. It returns an error only for a fatal problem (a
// header without a mapped column); bad rows go to quarantine.
func (m *Mapper) Add(rec connectors.Record) error {
	m.Stats.RowsRead++
	if rec.Problem != "" {
		return m.quarantine(rec, rec.Column, rec.Problem, rec.Detail)
	}
	hi, err := m.indexFor(rec.Header)
	if err != nil {
		return err
	}
	idx := hi.idx
	if m.vals == nil {
		m.vals = make([]value, len(m.plans))
	}
	vals := m.vals
	clear(vals)
	for i, p := range m.plans {
		raw := ""
		switch {
		case p.m.Constant != nil:
			raw = *p.m.Constant
		case idx[i] >= 0:
			raw = rec.Values[idx[i]]
		default:
			vals[i].null = true
			if p.col.Kind == dataset.ID {
				vals[i].s2 = string(idnumber.StatusMissing)
			}
			continue
		}
		var v value
		hit := false
		if p.hasLast && raw == p.lastRaw {
			v, hit = p.lastVal, true
		} else if p.cache != nil {
			v, hit = p.cache[raw]
		}
		reason, detail := "", ""
		if !hit {
			v, reason, detail = m.parse(p, raw)
			if reason == "" && p.cache != nil && len(p.cache) < cacheSize {
				raw = strings.Clone(raw) // raw shares the record's memory
				p.cache[raw] = v
			}
		}
		if reason == "" && p.cache != nil {
			p.lastRaw, p.lastVal, p.hasLast = raw, v, true
		}
		if reason != "" {
			if reason == ReasonBadDate {
				m.Stats.DateFailures[p.col.Name]++
			}
			return m.quarantine(rec, p.m.Column, reason, detail)
		}
		if v.null && p.col.NotNull {
			return m.quarantine(rec, p.m.Column, ReasonMissingValue, fmt.Sprintf("%s must have a value", p.col.Name))
		}
		vals[i] = v
	}
	// Accepted: count ID statuses and append.
	for i, p := range m.plans {
		if st := m.Stats.IDStatus[p.col.Name]; st != nil {
			st[vals[i].s2]++
		}
	}
	m.Stats.RowsAccepted++
	m.cols[0].appendString(m.src.Name)
	m.cols[1].appendString(rec.Header.Input)
	m.cols[2].appendInt64(rec.Row)
	orig := m.cols[3]
	orig.setValid(true)
	orig.data = appendOrigKeyed(orig.data, hi.keys, rec.Values)
	orig.endString()
	m.rid++
	m.cols[4].appendInt64(m.rid)
	for i, p := range m.plans {
		appendValue(p, vals[i])
	}
	m.pending++
	return nil
}

func (m *Mapper) quarantine(rec connectors.Record, column, reason, detail string) error {
	m.Stats.RowsQuarantined++
	m.Stats.Quarantined[reason]++
	if m.sink == nil {
		return nil
	}
	var hdr []string
	if rec.Header != nil {
		hdr = rec.Header.Names
	}
	file := ""
	if rec.Header != nil {
		file = rec.Header.Input
	}
	return m.sink.Quarantine(QuarantineRow{File: file, Row: rec.Row, Column: column, Reason: reason, Detail: detail, Header: hdr, Values: rec.Values})
}

// Pending is the number of rows appended since the last Flush.
func (m *Mapper) Pending() int { return m.pending }

// Flush returns the rows appended so far as a record batch (nil if none).
// The columns then start the next batch with room for one like this one,
// so that its appends do not grow (copy) their buffers step by step.
func (m *Mapper) Flush() arrow.RecordBatch {
	if m.pending == 0 {
		return nil
	}
	n := m.pending
	m.pending = 0
	arrs := make([]arrow.Array, len(m.cols))
	for i, c := range m.cols {
		arrs[i] = c.finish()
	}
	rec := array.NewRecordBatch(m.schema, arrs, int64(n))
	for _, a := range arrs {
		a.Release()
	}
	return rec
}

// Schema is the Arrow schema of the batches.
func (m *Mapper) Schema() *arrow.Schema { return m.schema }

// Release drops the rows not flushed; the mapper is not used after it.
func (m *Mapper) Release() {
	for _, c := range m.cols {
		c.release()
	}
	m.pending = 0
}

func clean(s string) string {
	// Most values start and end with a character neither trim removes.
	if f, _ := utf8.DecodeRuneInString(s); keeps(f) {
		if l, _ := utf8.DecodeLastRuneInString(s); keeps(l) {
			return s
		}
	}
	s = strings.TrimSpace(s)
	return strings.Trim(s, "\u200b\ufeff\u3000\u00a0")
}

// keeps reports whether clean leaves r at either end of a value.
func keeps(r rune) bool {
	if r < utf8.RuneSelf {
		return r > ' '
	}
	switch r {
	case '\u200b', '\ufeff', '\u3000', '\u00a0', utf8.RuneError:
		return false
	}
	return !unicode.IsSpace(r)
}

func (m *Mapper) parse(p *plan, raw string) (value, string, string) {
	s := clean(raw)
	if p.valueMap != nil && s != "" {
		if mapped, ok := p.valueMap[strings.ToLower(s)]; ok {
			s = mapped
		} else if p.m.Default != nil {
			s = *p.m.Default
		} else {
			return value{}, ReasonUnmappedValue, fmt.Sprintf("%s: value %q is not in the value map", p.col.Name, truncate(s))
		}
	}
	if p.col.Kind == dataset.ID {
		r := idnumber.Normalize(raw)
		if r.Status == idnumber.StatusMissing {
			return value{null: true, s2: string(r.Status)}, "", ""
		}
		return value{s: r.Canonical, s2: string(r.Status), s3: strings.TrimSpace(raw), s4: r.Reason}, "", ""
	}
	if s == "" {
		return value{null: true}, "", ""
	}
	switch p.col.Kind {
	case dataset.Name:
		return value{s: s, s2: names.Normalize(s)}, "", ""
	case dataset.Date:
		t, err := dates.Parse(s, p.formats)
		if err != nil {
			return value{}, ReasonBadDate, badDateDetail(p, s)
		}
		return value{t: t}, "", ""
	case dataset.Period:
		t, err := dates.ParsePeriod(s)
		if err != nil {
			return value{}, ReasonBadPeriod, fmt.Sprintf("%s: %q is not a month", p.col.Name, truncate(s))
		}
		return value{s: t.Format("2006-01"), t: t}, "", ""
	case dataset.Number:
		f, err := parseNumber(s)
		if err != nil {
			return value{}, ReasonBadNumber, fmt.Sprintf("%s: %q is not a number", p.col.Name, truncate(s))
		}
		return value{f: f}, "", ""
	case dataset.Int:
		f, err := parseNumber(s)
		if err != nil || f != float64(int64(f)) {
			return value{}, ReasonBadNumber, fmt.Sprintf("%s: %q is not a whole number", p.col.Name, truncate(s))
		}
		return value{i: int64(f)}, "", ""
	case dataset.Bool:
		switch strings.ToLower(s) {
		case "1", "true", "yes", "y", "是", "t":
			return value{b: true}, "", ""
		case "0", "false", "no", "n", "否", "f":
			return value{b: false}, "", ""
		}
		return value{}, ReasonBadBool, fmt.Sprintf("%s: %q is not yes/no", p.col.Name, truncate(s))
	}
	return value{s: s}, "", ""
}

// badDateDetail says why a date was refused and, when a format outside
// the column's list reads it, how to list that format.
func badDateDetail(p *plan, s string) string {
	d := fmt.Sprintf("%s: %q is not a date in the accepted formats", p.col.Name, truncate(s))
	if fs := dates.Suggest(s); len(fs) > 0 {
		listed := "auto"
		if len(p.formats) > 0 {
			names := make([]string, len(p.formats))
			for i, f := range p.formats {
				names[i] = string(f)
			}
			listed = strings.Join(names, ", ")
		}
		d += fmt.Sprintf(" (the format %s reads it: list it, e.g. formats: [%s, %s])", fs[0], listed, fs[0])
	}
	return d
}

func truncate(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	r := []rune(s)
	return string(r[:40]) + "…"
}

func parseNumber(s string) (float64, error) {
	if plainNumber(s) {
		return strconv.ParseFloat(s, 64)
	}
	s = width.Narrow.String(s)
	s = strings.TrimSuffix(strings.TrimSpace(s), "元")
	s = strings.ReplaceAll(s, ",", "")
	return strconv.ParseFloat(s, 64)
}

// plainNumber reports whether s is ASCII digits with at most a sign and a
// decimal point, which strconv reads as is.
func plainNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && c != '.' && !(i == 0 && (c == '-' || c == '+')) {
			return false
		}
	}
	return true
}

func appendValue(p *plan, v value) {
	b := p.cols
	if v.null && p.col.Kind != dataset.ID {
		for _, x := range b {
			x.appendNull()
		}
		return
	}
	switch p.col.Kind {
	case dataset.ID:
		if v.s == "" {
			b[0].appendNull()
			b[1].appendString(string(idnumber.StatusMissing))
			b[2].appendNull()
			b[3].appendNull()
			return
		}
		b[0].appendString(v.s)
		b[1].appendString(v.s2)
		b[2].appendString(v.s3)
		if v.s4 == "" {
			b[3].appendNull()
		} else {
			b[3].appendString(v.s4)
		}
	case dataset.Name:
		b[0].appendString(v.s)
		b[1].appendString(v.s2)
	case dataset.Period:
		b[0].appendString(v.s)
		b[1].appendDate32(arrow.Date32FromTime(v.t))
	case dataset.Date:
		b[0].appendDate32(arrow.Date32FromTime(v.t))
	case dataset.Number:
		b[0].appendFloat64(v.f)
	case dataset.Int:
		b[0].appendInt64(v.i)
	case dataset.Bool:
		b[0].appendBool(v.b)
	default:
		b[0].appendString(v.s)
	}
}

// appendOrigKeyed writes {"header":"value",…} in header order, the
// header's part already written as JSON in keys (see headerInfo).
func appendOrigKeyed(buf []byte, keys []string, values []string) []byte {
	if len(keys) == 0 {
		return append(buf, '{', '}')
	}
	for i, k := range keys {
		buf = append(buf, k...)
		v := ""
		if i < len(values) {
			v = values[i]
		}
		buf = AppendJSONString(buf, v)
	}
	return append(buf, '}')
}

// AppendJSONString appends s as a JSON string literal.
func AppendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0 // bytes from start to i need no escaping: copied in one go
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf = append(buf, s[start:i]...)
		start = i + 1
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c == '\n':
			buf = append(buf, '\\', 'n')
		case c == '\r':
			buf = append(buf, '\\', 'r')
		case c == '\t':
			buf = append(buf, '\\', 't')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// SetRIDBase makes the next accepted row get record id base+1. Parallel
// loaders give each chunk of rows its own base so ids do not depend on
// which worker mapped the chunk.
func (m *Mapper) SetRIDBase(base int64) { m.rid = base }

// Merge adds the counts of o to s (both of the same source).
func (s *Stats) Merge(o *Stats) {
	s.RowsRead += o.RowsRead
	s.RowsAccepted += o.RowsAccepted
	s.RowsQuarantined += o.RowsQuarantined
	for k, v := range o.Quarantined {
		s.Quarantined[k] += v
	}
	for c, m := range o.IDStatus {
		if s.IDStatus[c] == nil {
			s.IDStatus[c] = map[string]int64{}
		}
		for k, v := range m {
			s.IDStatus[c][k] += v
		}
	}
	for k, v := range o.DateFailures {
		s.DateFailures[k] += v
	}
	s.Duplicates += o.Duplicates
	for k, v := range o.Examples {
		if _, ok := s.Examples[k]; !ok {
			if s.Examples == nil {
				s.Examples = map[string]QuarantineExample{}
			}
			s.Examples[k] = v
		}
	}
}
