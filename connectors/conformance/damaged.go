package conformance

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/connectors"
)

// The two checks below are for sources over damaged input: a file cut or
// corrupted in the middle, a connection or a row that fails mid-stream.
// A connector may deal with the damage in one of two ways, never a third:
// it reads every row, the damaged ones as records with a Problem
// (CoversAll), or it stops with an error that names the input and the
// position (StopsNaming). A silent short read — io.EOF before the end of
// the input — fails both.

// CoversAll reads src to io.EOF and checks that it returned exactly rows
// records, each with a header, values and a positive row number, row
// numbers increasing within an input, a non-empty Detail for every record
// with a Problem, and Inputs counting the same number of rows. It returns
// the records for further checks.
func CoversAll(t testing.TB, src connectors.Source, rows int) []connectors.Record {
	t.Helper()
	recs, inputs := readAll(t, src, context.Background())
	if len(recs) != rows {
		t.Errorf("read %d records, the input holds %d rows: a damaged input must not end the read early", len(recs), rows)
	}
	last := map[*connectors.Header]int64{}
	for i, r := range recs {
		if r.Header == nil {
			t.Fatalf("record %d: no Header", i)
		}
		if r.Row <= 0 || r.Row <= last[r.Header] {
			t.Errorf("record %d: Row %d after %d in %s", i, r.Row, last[r.Header], r.Header.Input)
		}
		last[r.Header] = r.Row
		if r.Problem != "" && r.Detail == "" {
			t.Errorf("record %d (row %d): problem %s without a detail", i, r.Row, r.Problem)
		}
		if len(r.Values) == 0 {
			t.Errorf("record %d (row %d): no values; a bad row keeps what the input holds", i, r.Row)
		}
	}
	var n int64
	for _, in := range inputs {
		n += in.Rows
	}
	if n != int64(len(recs)) {
		t.Errorf("Inputs count %d rows, Next returned %d records", n, len(recs))
	}
	return recs
}

// StopsNaming checks that src fails — at Headers, at Open or at a Next
// before io.EOF — with an error that is not io.EOF and that contains each
// of names (case-sensitive): the source, the file or table, and a
// position such as "line 1001" or "row 5000". It returns the error and the
// number of records read before it.
func StopsNaming(t testing.TB, src connectors.Source, names ...string) (error, int) {
	t.Helper()
	ctx := context.Background()
	err := func() error {
		if _, err := src.Headers(ctx); err != nil {
			return err
		}
		return nil
	}()
	n := 0
	if err == nil {
		rd, oerr := src.Open(ctx)
		if oerr != nil {
			err = oerr
		} else {
			defer rd.Close()
			for {
				_, err = rd.Next()
				if err != nil {
					break
				}
				n++
			}
		}
	}
	if err == nil || errors.Is(err, io.EOF) {
		t.Errorf("read %d records and ended with %v: a damaged input must stop the source with an error", n, err)
		return err, n
	}
	for _, w := range names {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
	return err, n
}
