package engine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/mapping"
	"github.com/crosscheck/crosscheck/normalize/dates"
)

// ErrQuarantineRatio is wrapped by the error of a run stopped because a
// source had more rows quarantined than its max_quarantine_ratio allows.
var ErrQuarantineRatio = errors.New("too many rows quarantined")

// quarantineWarnings returns one line per source with quarantined rows:
// what the terminal and quality.md show even when the run goes on.
func quarantineWarnings(stats []*mapping.Stats) []string {
	var out []string
	for _, st := range stats {
		if st.RowsQuarantined == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("⚠ 数据源 %s（%s）有 %d 行被隔离（共读入 %d 行，%s）：%s；明细见 quarantine/%s.csv / source %s: %d of %d rows quarantined",
			st.Source, st.Title, st.RowsQuarantined, st.RowsRead, percent(st.RowsQuarantined, st.RowsRead),
			reasonList(st), st.Source, st.Source, st.RowsQuarantined, st.RowsRead))
	}
	return out
}

// warnQuarantine logs the quarantine warnings at level WARN.
func warnQuarantine(log *slog.Logger, stats []*mapping.Stats) {
	for _, w := range quarantineWarnings(stats) {
		log.Warn(w)
	}
}

// checkQuarantine stops the run when a source has more of its rows
// quarantined than its max_quarantine_ratio: a whole roster lost to a
// date format or an encoding must not pass as a run with fewer hits. The
// ratio applies to every source whatever its size (a small source is a
// catalogue or a county's list, where each row counts).
func checkQuarantine(j *job.Job, stats []*mapping.Stats) error {
	srcs := map[string]job.Source{}
	for _, s := range j.Sources {
		srcs[s.Name] = s
	}
	var errs []error
	for _, st := range stats {
		src := srcs[st.Source]
		limit := j.QuarantineRatio(src)
		if st.RowsRead == 0 || float64(st.RowsQuarantined) <= limit*float64(st.RowsRead) {
			continue
		}
		errs = append(errs, quarantineError(src, st, limit))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w; the run stopped before the rules (运行已在执行规则前停止):\n%w", ErrQuarantineRatio, errors.Join(errs...))
}

func quarantineError(src job.Source, st *mapping.Stats, limit float64) error {
	var b strings.Builder
	fmt.Fprintf(&b, "source %s (%s): %d of %d rows quarantined (%s), above max_quarantine_ratio %g (数据源 %s 隔离行比例超过上限)\n",
		st.Source, st.Title, st.RowsQuarantined, st.RowsRead, percent(st.RowsQuarantined, st.RowsRead), limit, st.Source)
	reasons := topReasons(st)
	for i, r := range reasons {
		if i == 3 {
			fmt.Fprintf(&b, "  … and %d more reasons\n", len(reasons)-3)
			break
		}
		fmt.Fprintf(&b, "  %s: %d rows", r, st.Quarantined[r])
		if ex, ok := st.Examples[r]; ok {
			fmt.Fprintf(&b, ", e.g. file %s row %d", ex.File, ex.Row)
			if ex.Column != "" {
				fmt.Fprintf(&b, " column %s: %q", ex.Column, ex.Value)
			} else if ex.Value != "" {
				fmt.Fprintf(&b, ": %s", ex.Value)
			}
		}
		b.WriteString("\n")
		if i == 0 {
			if h := quarantineHint(src, st, r); h != "" {
				fmt.Fprintf(&b, "  likely fix: %s\n", h)
			}
		}
	}
	fmt.Fprintf(&b, "  every row is in quarantine/%s.csv; to accept the loss, set max_quarantine_ratio on this source (e.g. max_quarantine_ratio: 1)", st.Source)
	return errors.New(b.String())
}

// quarantineHint says what most likely fixes a reason.
func quarantineHint(src job.Source, st *mapping.Stats, reason string) string {
	ex := st.Examples[reason]
	canon := canonicalOf(src, ex.Column)
	switch reason {
	case mapping.ReasonBadDate:
		if fs := dates.Suggest(ex.Value); len(fs) > 0 {
			names := make([]string, len(fs))
			for i, f := range fs {
				names[i] = string(f)
				if strings.ContainsAny(names[i], "/.-") && strings.Contains(names[i], "2006") {
					names[i] = fmt.Sprintf("%q", names[i])
				}
			}
			fix := fmt.Sprintf("formats: [auto, %s]", names[0])
			also := ""
			if len(names) > 1 {
				also = fmt.Sprintf(" (or %s: check which the department means)", strings.Join(names[1:], ", "))
			}
			return fmt.Sprintf("%q is read by the date format %s%s; map the column as `%s: {column: %s, %s}` (docs/config.md, Date formats)",
				ex.Value, names[0], also, canon, ex.Column, fix)
		}
		return fmt.Sprintf("list the column's date formats: `%s: {column: %s, formats: [...]}` (docs/config.md, Date formats; a Go layout such as \"02/01/2006\" reads other shapes)", canon, ex.Column)
	case mapping.ReasonBadPeriod:
		return "write periods as 2024-05, 202405 or 2024年5月, or map the column's codes with map:"
	case mapping.ReasonUnmappedValue:
		return fmt.Sprintf("add the value to the map of %s, or give the mapping a default:", canon)
	case mapping.ReasonMissingValue:
		return fmt.Sprintf("the column %s is empty in these rows: check that the mapping names the right column", ex.Column)
	case mapping.ReasonBadNumber:
		return fmt.Sprintf("the column %s does not hold numbers: check the mapping names the right column", ex.Column)
	case "bad_encoding":
		for _, in := range st.Inputs {
			if looksGBK(in.Path) {
				return fmt.Sprintf("the file %s is GBK/GB18030 text: set `options: {encoding: gbk}` on source %s (or encoding: auto)", in.Path, src.Name)
			}
		}
		return fmt.Sprintf("the bytes are not valid in the declared encoding: check options.encoding of source %s (utf-8, gbk, gb18030, auto)", src.Name)
	case "ragged_row":
		return "rows have another number of fields than the header: check options.delimiter and the file's quoting"
	case "bad_quoting":
		return "a quote is not closed or stands inside a field: check the file around the row named"
	}
	return ""
}

// canonicalOf returns the canonical column a source column is mapped to.
func canonicalOf(src job.Source, column string) string {
	var names []string
	for k, m := range src.Columns {
		if m.Column == column {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "COLUMN"
	}
	return names[0]
}

// looksGBK reports whether a file's first 4 MiB are not valid UTF-8 but
// decode as GB18030 without a replacement character.
func looksGBK(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4<<20))
	if err != nil || len(b) == 0 {
		return false
	}
	// A cut at the limit may split a character: drop up to 3 bytes.
	for i := 0; i < 4 && !utf8.Valid(b) && len(b) == 4<<20; i++ {
		b = b[:len(b)-1]
	}
	if utf8.Valid(b) {
		return false
	}
	d, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
	return err == nil && !strings.ContainsRune(string(d), utf8.RuneError)
}

func topReasons(st *mapping.Stats) []string {
	var rs []string
	for r := range st.Quarantined {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(a, b int) bool {
		if st.Quarantined[rs[a]] != st.Quarantined[rs[b]] {
			return st.Quarantined[rs[a]] > st.Quarantined[rs[b]]
		}
		return rs[a] < rs[b]
	})
	return rs
}

func reasonList(st *mapping.Stats) string {
	var parts []string
	for _, r := range topReasons(st) {
		parts = append(parts, fmt.Sprintf("%s %d", r, st.Quarantined[r]))
	}
	return strings.Join(parts, ", ")
}

func percent(n, of int64) string {
	if of == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}
