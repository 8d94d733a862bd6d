package mapping

import (
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestColumnMatchesBuilder appends the same random values, nulls among
// them, to a column and to Arrow's own builder, over several batches, and
// wants equal arrays.
func TestColumnMatchesBuilder(t *testing.T) {
	types := []arrow.DataType{arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64,
		arrow.FixedWidthTypes.Date32, arrow.FixedWidthTypes.Boolean}
	r := rand.New(rand.NewPCG(7, 8))
	for _, typ := range types {
		c := newColumn(typ)
		for batch, nullRate := range []float64{0, 0.3, 1, 0.01, 0} {
			b := array.NewBuilder(memory.DefaultAllocator, typ)
			n := []int{0, 1, 7, 8, 9, 1000}[r.IntN(6)] + batch
			for i := 0; i < n; i++ {
				if r.Float64() < nullRate {
					c.appendNull()
					b.AppendNull()
					continue
				}
				switch typ.ID() {
				case arrow.STRING:
					s := string(rune('a'+r.IntN(26))) + "王李"[:r.IntN(7)]
					c.appendString(s)
					b.(*array.StringBuilder).Append(s)
				case arrow.INT64:
					v := r.Int64() - r.Int64()
					c.appendInt64(v)
					b.(*array.Int64Builder).Append(v)
				case arrow.FLOAT64:
					v := r.NormFloat64()
					c.appendFloat64(v)
					b.(*array.Float64Builder).Append(v)
				case arrow.DATE32:
					v := arrow.Date32(r.Int32N(50000) - 20000)
					c.appendDate32(v)
					b.(*array.Date32Builder).Append(v)
				case arrow.BOOL:
					v := r.IntN(2) == 1
					c.appendBool(v)
					b.(*array.BooleanBuilder).Append(v)
				}
			}
			got, want := c.finish(), b.NewArray()
			if got.Len() != n || got.NullN() != want.NullN() || !array.Equal(got, want) {
				t.Errorf("%s, batch %d (%d values): column gives %v (%d nulls), builder %v (%d nulls)", typ, batch, n, got, got.NullN(), want, want.NullN())
			}
			got.Release()
			want.Release()
			b.Release()
		}
	}
}
