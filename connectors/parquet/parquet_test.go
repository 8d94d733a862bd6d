package parquet

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/connectors/conformance"
)

// writeFile writes one record batch as a Parquet file with small row
// groups, so reading crosses row-group and batch boundaries.
func writeFile(t testing.TB, path string, rec arrow.RecordBatch) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pqarrow.NewFileWriter(rec.Schema(), f,
		parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(2)),
		pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
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

// people builds a batch with names, ID numbers (text and as int64),
// amounts, dates and NULLs.
func people(t testing.TB, names []string) arrow.RecordBatch {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "姓名", Type: arrow.BinaryTypes.String},
		{Name: "身份证号", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "旧证号", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "金额", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "发放日期", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i, n := range names {
		b.Field(0).(*array.StringBuilder).Append(n)
		if i%2 == 0 {
			b.Field(1).(*array.StringBuilder).Append("410102198001010012")
			b.Field(2).(*array.Int64Builder).Append(410102800101001)
			b.Field(3).(*array.Float64Builder).Append(300.5)
			b.Field(4).(*array.Date32Builder).Append(arrow.Date32FromTime(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)))
		} else {
			for c := 1; c < 5; c++ {
				b.Field(c).AppendNull()
			}
		}
	}
	return b.NewRecordBatch()
}

func build(t testing.TB, path string, opts map[string]any) connectors.Source {
	t.Helper()
	src, err := connectors.Default.Clone().Build("parquet", "社保卡", path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "社保卡.parquet")
	rec := people(t, []string{"张三", "李四", "王五"})
	defer rec.Release()
	writeFile(t, p, rec)
	want := [][]string{
		{"张三", "410102198001010012", "410102800101001", "300.5", "2024-05-01"},
		{"李四", "", "", "", ""},
		{"王五", "410102198001010012", "410102800101001", "300.5", "2024-05-01"},
	}
	for _, batch := range []int{1, 2, 65536} {
		conformance.Run(t, func(t *testing.T) connectors.Source { return build(t, p, map[string]any{"batch_rows": batch}) },
			want, conformance.WithRows(1, 2, 3), conformance.WithInputs(1))
	}
}

func TestConformanceGlob(t *testing.T) {
	dir := t.TempDir()
	for i, names := range [][]string{{"张三", "李四"}, {"王五"}} {
		rec := people(t, names)
		writeFile(t, filepath.Join(dir, []string{"a.parquet", "b.parquet"}[i]), rec)
		rec.Release()
	}
	conformance.Run(t, func(t *testing.T) connectors.Source { return build(t, filepath.Join(dir, "*.parquet"), nil) },
		[][]string{
			{"张三", "410102198001010012", "410102800101001", "300.5", "2024-05-01"},
			{"李四", "", "", "", ""},
			{"王五", "410102198001010012", "410102800101001", "300.5", "2024-05-01"},
		}, conformance.WithRows(1, 2, 1), conformance.WithInputs(2))
}

// Values of every common Parquet type come back as the text a department
// would see: numbers in full (no exponent), dates as YYYY-MM-DD.
func TestTypesAsText(t *testing.T) {
	dec := &arrow.Decimal128Type{Precision: 20, Scale: 2}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32},
		{Name: "i64", Type: arrow.PrimitiveTypes.Int64},
		{Name: "u8", Type: arrow.PrimitiveTypes.Uint8},
		{Name: "f64", Type: arrow.PrimitiveTypes.Float64},
		{Name: "f64big", Type: arrow.PrimitiveTypes.Float64},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32},
		{Name: "bool", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "dec", Type: dec},
		{Name: "date", Type: arrow.FixedWidthTypes.Date32},
		{Name: "ts_ms", Type: &arrow.TimestampType{Unit: arrow.Millisecond}},
		{Name: "ts_us_utc", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "str", Type: arrow.BinaryTypes.String},
		{Name: "large", Type: arrow.BinaryTypes.LargeString},
		{Name: "bin", Type: arrow.BinaryTypes.Binary},
		{Name: "null", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.Int32Builder).Append(-7)
	b.Field(1).(*array.Int64Builder).Append(411082199001011234)
	b.Field(2).(*array.Uint8Builder).Append(200)
	b.Field(3).(*array.Float64Builder).Append(0.1)
	b.Field(4).(*array.Float64Builder).Append(1234567890123)
	b.Field(5).(*array.Float32Builder).Append(1.5)
	b.Field(6).(*array.BooleanBuilder).Append(true)
	b.Field(7).(*array.Decimal128Builder).Append(decimal128.FromI64(123456789))
	b.Field(8).(*array.Date32Builder).Append(arrow.Date32FromTime(time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)))
	b.Field(9).(*array.TimestampBuilder).Append(arrow.Timestamp(time.Date(2024, 5, 1, 8, 30, 0, 0, time.UTC).UnixMilli()))
	b.Field(10).(*array.TimestampBuilder).Append(arrow.Timestamp(time.Date(2024, 5, 1, 0, 30, 15, 0, time.UTC).UnixMicro()))
	b.Field(11).(*array.StringBuilder).Append("西平县")
	b.Field(12).(*array.LargeStringBuilder).Append("长文本")
	b.Field(13).(*array.BinaryBuilder).Append([]byte("ab"))
	b.Field(14).AppendNull()
	rec := b.NewRecordBatch()
	defer rec.Release()
	p := filepath.Join(t.TempDir(), "types.parquet")
	writeFile(t, p, rec)
	recs, _ := conformance.ReadAll(t, build(t, p, nil), context.Background())
	want := []string{"-7", "411082199001011234", "200", "0.1", "1234567890123", "1.5", "true", "1234567.89", "1999-12-31",
		"2024-05-01 08:30:00", "2024-05-01 00:30:15", "西平县", "长文本", "ab", ""}
	if len(recs) != 1 || !reflect.DeepEqual(recs[0].Values, want) {
		t.Errorf("values\n got %q\nwant %q", conformance.Values(recs), want)
	}
}

// An ID number stored as a double has lost digits: it must not come back
// as a plausible 18-digit number. Binary columns that are not UTF-8 text are
// bad_encoding rows.
func TestDamagedValues(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "身份证号", Type: arrow.PrimitiveTypes.Float64},
		{Name: "金额", Type: arrow.PrimitiveTypes.Float32},
		{Name: "姓名", Type: arrow.BinaryTypes.Binary},
		{Name: "发放时间", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.Float64Builder).AppendValues([]float64{411082199001011234, 411082900101101}, nil)
	b.Field(1).(*array.Float32Builder).AppendValues([]float32{300.5, 123456789}, nil)
	b.Field(2).(*array.BinaryBuilder).AppendValues([][]byte{[]byte("张三"), []byte("\xd5\xc5\xc8\xfd")}, nil)
	ts := arrow.Timestamp(time.Date(2024, 5, 1, 8, 30, 0, 250000000, time.UTC).UnixMicro())
	b.Field(3).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{ts, ts}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	p := filepath.Join(t.TempDir(), "values.parquet")
	writeFile(t, p, rec)
	recs, _ := conformance.ReadAll(t, build(t, p, nil), context.Background())
	if len(recs) != 2 {
		t.Fatalf("got %d records", len(recs))
	}
	if got, want := recs[0].Values, []string{"4.1108219900101126E+17", "300.5", "张三", "2024-05-01 08:30:00.25"}; !reflect.DeepEqual(got, want) || recs[0].Problem != "" {
		t.Errorf("row 1 = %q %s, want %q", got, recs[0].Problem, want)
	}
	if r := recs[1]; r.Values[0] != "411082900101101" || r.Values[1] != "1.2345679E+08" || r.Problem != "bad_encoding" || !strings.Contains(r.Detail, "姓名") {
		t.Errorf("row 2 = %q %s %s", r.Values, r.Problem, r.Detail)
	}
}

func TestDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.parquet")
	rec := people(t, []string{"张三", "李四", "王五", "赵六"})
	defer rec.Release()
	writeFile(t, good, rec)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	footer := append([]byte(nil), data...)
	// The file ends with the footer length (4 bytes) and "PAR1"; damage the
	// footer itself.
	for i := len(footer) - 40; i < len(footer)-8; i++ {
		footer[i] ^= 0x5a
	}
	damaged := filepath.Join(dir, "damaged-footer.parquet")
	os.WriteFile(damaged, footer, 0o644)
	truncated := filepath.Join(dir, "truncated.parquet")
	os.WriteFile(truncated, data[:len(data)/2], 0o644)
	notParquet := filepath.Join(dir, "社保卡.parquet")
	os.WriteFile(notParquet, []byte("姓名,身份证号\n张三,1\n"), 0o644)

	cases := []struct {
		name, path string
		want       []string
	}{
		{"damaged footer", damaged, []string{"source 社保卡", "damaged-footer.parquet"}},
		{"truncated", truncated, []string{"source 社保卡", "truncated.parquet", "not a readable Parquet file"}},
		{"not parquet", notParquet, []string{"source 社保卡", "社保卡.parquet", "not a readable Parquet file"}},
		{"missing", filepath.Join(dir, "nope.parquet"), []string{"source 社保卡", "nope.parquet", "does not exist"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := build(t, c.path, nil)
			_, herr := src.Headers(context.Background())
			check(t, herr, c.want)
			rd, err := src.Open(context.Background())
			if err == nil {
				defer rd.Close()
				for err == nil {
					_, err = rd.Next()
				}
			}
			check(t, err, c.want)
		})
	}
}

func check(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want an error", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}
