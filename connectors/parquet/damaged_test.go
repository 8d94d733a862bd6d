package parquet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/connectors/conformance"
)

// rows builds n rows of 序号 and 姓名, written in row groups of 1000.
func rowsFile(t *testing.T, path string, names []string, n int) {
	t.Helper()
	fields := make([]arrow.Field, len(names))
	for i, name := range names {
		fields[i] = arrow.Field{Name: name, Type: arrow.BinaryTypes.String}
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i := 1; i <= n; i++ {
		for c := range names {
			b.Field(c).(*array.StringBuilder).Append(fmt.Sprintf("%s-%d", names[c], i))
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pqarrow.NewFileWriter(schema, f,
		parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(1000), parquet.WithDictionaryDefault(false)),
		pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// Issue 15: a schema with two columns called 姓名 is refused, naming the
// file and both positions.
func TestDuplicateColumn(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dup.parquet")
	rowsFile(t, p, []string{"序号", "姓名", "姓名"}, 3)
	err, _ := conformance.StopsNaming(t, build(t, p, nil), "source 社保卡", "dup.parquet", "columns 2 and 3", `"姓名"`)
	if !errors.Is(err, connectors.ErrDuplicateColumn) {
		t.Errorf("%v is not ErrDuplicateColumn", err)
	}
}

// A file damaged in the middle (a page of the third row group overwritten)
// stops the source naming the file and the first row not read; the rows
// before it are not passed off as the whole file.
func TestDamagedRowGroup(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "roll.parquet")
	rowsFile(t, p, []string{"序号", "姓名"}, 5000)
	conformance.CoversAll(t, build(t, p, map[string]any{"batch_rows": 1000}), 5000)

	pf, err := file.OpenParquetFile(p, false)
	if err != nil {
		t.Fatal(err)
	}
	if pf.NumRowGroups() != 5 {
		t.Fatalf("%d row groups, want 5", pf.NumRowGroups())
	}
	cc, err := pf.MetaData().RowGroup(2).ColumnChunk(1)
	if err != nil {
		t.Fatal(err)
	}
	off := cc.DataPageOffset()
	pf.Close()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := off; i < off+64; i++ {
		data[i] = 0xff
	}
	bad := filepath.Join(dir, "damaged.parquet")
	os.WriteFile(bad, data, 0o644)
	err, n := conformance.StopsNaming(t, build(t, bad, map[string]any{"batch_rows": 1000}), "source 社保卡", "damaged.parquet", "row 2001")
	if n != 2000 {
		t.Errorf("read %d rows before the error %v, want the 2000 of the first two row groups", n, err)
	}
}
