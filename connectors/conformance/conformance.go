// Package conformance is the shared test every connector passes: the
// Source/Reader contract of package connectors checked against a real
// backend (a file written by the test, a table in a real database server).
//
// A connector's tests build a well-formed source whose records they know
// and call Run:
//
//	conformance.Run(t, func(t *testing.T) connectors.Source { return build(t) },
//		[][]string{{"张三", "410102198001010012"}, {"李四", ""}},
//		conformance.WithRows(2, 3))
package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/crosscheck/crosscheck/connectors"
)

// Option adjusts what Run expects.
type Option func(*config)

type config struct {
	rows   []int64
	inputs int
}

// WithRows sets the Row number each record must carry, in order. Without it
// Run only checks that row numbers are positive and increase within an
// input.
func WithRows(rows ...int64) Option { return func(c *config) { c.rows = rows } }

// WithInputs sets how many inputs (files, tables) the source reads; without
// it Run expects at least one.
func WithInputs(n int) Option { return func(c *config) { c.inputs = n } }

// Run checks the connector contract on the source that build returns
// (build is called once per sub-test, so it may create fresh state). want
// holds the values of every record in order; the fixture must be
// well-formed (no record with a Problem).
//
// Checked:
//   - Headers returns the same headers (Input, Path, Names) that the
//     records of Open carry, and Headers does not consume the source;
//   - records come in order with the wanted values, one value per column,
//     no Problem, and the wanted (or increasing) row numbers;
//   - Next keeps returning io.EOF after the end;
//   - Inputs after io.EOF count exactly the records read, with a path each,
//     and stay readable after Close;
//   - Close is idempotent, also before the end and before any Next;
//   - a second Open reads the same records;
//   - cancelling the context stops reading: the next Next returns an error
//     that is ctx.Err(), and a context cancelled before Open fails at Open
//     or at the first Next.
func Run(t *testing.T, build func(t *testing.T) connectors.Source, want [][]string, opts ...Option) {
	t.Helper()
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.rows != nil && len(cfg.rows) != len(want) {
		t.Fatalf("conformance: WithRows has %d numbers for %d wanted records", len(cfg.rows), len(want))
	}

	t.Run("headers_match_records", func(t *testing.T) {
		src := build(t)
		ctx := context.Background()
		hdrs, err := src.Headers(ctx)
		if err != nil {
			t.Fatalf("Headers: %v", err)
		}
		if len(hdrs) == 0 {
			t.Fatal("Headers returned no header")
		}
		if cfg.inputs > 0 && len(hdrs) != cfg.inputs {
			t.Errorf("Headers returned %d headers, want %d", len(hdrs), cfg.inputs)
		}
		for i, h := range hdrs {
			if h.Input == "" || h.Path == "" {
				t.Errorf("header %d: Input %q and Path %q must both be set", i, h.Input, h.Path)
			}
			if len(h.Names) == 0 {
				t.Errorf("header %d (%s): no column names", i, h.Input)
			}
		}
		// Headers twice gives the same answer (it must not consume anything).
		again, err := src.Headers(ctx)
		if err != nil {
			t.Fatalf("second Headers: %v", err)
		}
		if !reflect.DeepEqual(hdrs, again) {
			t.Errorf("second Headers = %+v, first %+v", again, hdrs)
		}
		recs, _ := readAll(t, src, ctx)
		seen := map[*connectors.Header]bool{}
		for _, r := range recs {
			if r.Header == nil {
				t.Fatalf("row %d: record without Header", r.Row)
			}
			if seen[r.Header] {
				continue
			}
			seen[r.Header] = true
			found := false
			for _, h := range hdrs {
				if h.Input == r.Header.Input && h.Path == r.Header.Path && reflect.DeepEqual(h.Names, r.Header.Names) {
					found = true
				}
			}
			if !found {
				t.Errorf("record header %+v is not among Headers() %+v", *r.Header, hdrs)
			}
		}
	})

	t.Run("records_in_order", func(t *testing.T) {
		src := build(t)
		recs, inputs := readAll(t, src, context.Background())
		checkRecords(t, recs, want, cfg)
		var n int64
		for _, in := range inputs {
			if in.Path == "" {
				t.Errorf("input %+v without a path", in)
			}
			if in.SHA256 != "" && (len(in.SHA256) != 64 || in.Bytes <= 0) {
				t.Errorf("input %s: sha256 %q with %d bytes", in.Path, in.SHA256, in.Bytes)
			}
			n += in.Rows
		}
		if len(inputs) == 0 {
			t.Errorf("Inputs is empty after io.EOF")
		}
		if cfg.inputs > 0 && len(inputs) != cfg.inputs {
			t.Errorf("Inputs has %d entries, want %d", len(inputs), cfg.inputs)
		}
		if n != int64(len(recs)) {
			t.Errorf("Inputs count %d rows, Next returned %d records", n, len(recs))
		}
	})

	t.Run("eof_sticky_close_idempotent", func(t *testing.T) {
		src := build(t)
		ctx := context.Background()
		rd, err := src.Open(ctx)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		for {
			_, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
		}
		for i := 0; i < 2; i++ {
			if _, err := rd.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("Next after io.EOF = %v, want io.EOF", err)
			}
		}
		before := rd.Inputs()
		if err := rd.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := rd.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if after := rd.Inputs(); !reflect.DeepEqual(before, after) {
			t.Errorf("Inputs changed by Close: %+v, before %+v", after, before)
		}
		// Close before any Next, and in the middle.
		rd2, err := src.Open(ctx)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := rd2.Close(); err != nil {
			t.Errorf("Close before Next: %v", err)
		}
		if err := rd2.Close(); err != nil {
			t.Errorf("second Close before Next: %v", err)
		}
		if len(want) > 0 {
			rd3, err := src.Open(ctx)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if _, err := rd3.Next(); err != nil {
				t.Fatalf("Next: %v", err)
			}
			if err := rd3.Close(); err != nil {
				t.Errorf("Close in the middle: %v", err)
			}
			if err := rd3.Close(); err != nil {
				t.Errorf("second Close in the middle: %v", err)
			}
		}
	})

	t.Run("second_open_same_rows", func(t *testing.T) {
		src := build(t)
		ctx := context.Background()
		first, _ := readAll(t, src, ctx)
		second, _ := readAll(t, src, ctx)
		checkRecords(t, first, want, cfg)
		if len(first) != len(second) {
			t.Fatalf("second Open read %d records, first %d", len(second), len(first))
		}
		for i := range first {
			a, b := first[i], second[i]
			if a.Row != b.Row || !reflect.DeepEqual(a.Values, b.Values) || a.Header.Input != b.Header.Input {
				t.Errorf("record %d: second Open gave row %d %q, first row %d %q", i, b.Row, b.Values, a.Row, a.Values)
			}
		}
	})

	t.Run("context_cancel", func(t *testing.T) {
		src := build(t)
		ctx, cancel := context.WithCancel(context.Background())
		rd, err := src.Open(ctx)
		if err != nil {
			cancel()
			t.Fatalf("Open: %v", err)
		}
		defer rd.Close()
		if len(want) > 0 {
			if _, err := rd.Next(); err != nil {
				cancel()
				t.Fatalf("Next: %v", err)
			}
		}
		cancel()
		_, err = rd.Next()
		if err == nil || errors.Is(err, io.EOF) {
			t.Fatalf("Next after cancel = %v, want %v", err, ctx.Err())
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Next after cancel = %v, want an error that is %v", err, context.Canceled)
		}
		if _, err := rd.Next(); err == nil {
			t.Errorf("Next after a cancelled Next returned a record")
		}

		pre, cancel2 := context.WithCancel(context.Background())
		cancel2()
		rd2, err := src.Open(pre)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Open with a cancelled context = %v, want %v", err, context.Canceled)
			}
			return
		}
		defer rd2.Close()
		if _, err := rd2.Next(); !errors.Is(err, context.Canceled) {
			t.Errorf("first Next with a cancelled context = %v, want %v", err, context.Canceled)
		}
	})
}

// ReadAll opens src and reads it to io.EOF, failing the test on any error;
// it returns the records and the reader's Inputs.
func ReadAll(t testing.TB, src connectors.Source, ctx context.Context) ([]connectors.Record, []connectors.Input) {
	t.Helper()
	return readAll(t, src, ctx)
}

func readAll(t testing.TB, src connectors.Source, ctx context.Context) ([]connectors.Record, []connectors.Input) {
	t.Helper()
	rd, err := src.Open(ctx)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rd.Close()
	var out []connectors.Record
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next after %d records: %v", len(out), err)
		}
		out = append(out, rec)
	}
	return out, rd.Inputs()
}

// Values returns the values of records, for comparing with a want table.
func Values(recs []connectors.Record) [][]string {
	out := make([][]string, len(recs))
	for i, r := range recs {
		out[i] = r.Values
	}
	return out
}

func checkRecords(t *testing.T, recs []connectors.Record, want [][]string, cfg config) {
	t.Helper()
	if len(recs) != len(want) {
		t.Errorf("read %d records, want %d:\n got %s\nwant %s", len(recs), len(want), show(Values(recs)), show(want))
	}
	last := map[*connectors.Header]int64{}
	for i, r := range recs {
		if r.Problem != "" {
			t.Errorf("record %d (row %d): unexpected problem %s: %s", i, r.Row, r.Problem, r.Detail)
		}
		if r.Header == nil {
			t.Fatalf("record %d: no Header", i)
		}
		if len(r.Values) != len(r.Header.Names) {
			t.Errorf("record %d (row %d): %d values for %d columns", i, r.Row, len(r.Values), len(r.Header.Names))
		}
		if i < len(want) && !reflect.DeepEqual(r.Values, want[i]) {
			t.Errorf("record %d (row %d) = %q, want %q", i, r.Row, r.Values, want[i])
		}
		if cfg.rows != nil && i < len(cfg.rows) && r.Row != cfg.rows[i] {
			t.Errorf("record %d: Row = %d, want %d", i, r.Row, cfg.rows[i])
		}
		if r.Row <= 0 {
			t.Errorf("record %d: Row = %d, want a positive row number", i, r.Row)
		}
		if prev, ok := last[r.Header]; ok && r.Row <= prev {
			t.Errorf("record %d: Row %d does not increase (previous %d) in %s", i, r.Row, prev, r.Header.Input)
		}
		last[r.Header] = r.Row
	}
}

func show(v [][]string) string {
	if len(v) > 20 {
		return fmt.Sprintf("%q … (%d records)", v[:20], len(v))
	}
	return fmt.Sprintf("%q", v)
}
