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
		c := newColumn(typ, newBufPool())
		for batch, nullRate := range []float64{0.3, 0, 0.3, 1, 0.01, 0} {
			b := array.NewBuilder(memory.DefaultAllocator, typ)
			n := []int{0, 1, 7, 8, 9, 1000, 5000}[r.IntN(7)] + batch
			if batch == 0 {
				n = 5000 // more values than the first batch was sized for
			}
			firstNull := r.IntN(n + 1)
			for i := 0; i < n; i++ {
				if r.Float64() < nullRate && i >= firstNull || i == firstNull && nullRate > 0 {
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

// TestPoolGivesBackOnce: a released batch's slices serve a later batch,
// and a buffer freed twice goes back once.
func TestPoolGivesBackOnce(t *testing.T) {
	p := newBufPool()
	c := newColumn(arrow.BinaryTypes.String, p)
	batch := func(s string) arrow.Array {
		for i := 0; i < 1000; i++ {
			c.appendString(s)
		}
		return c.finish()
	}
	// The first batch's slices grew past their sizes; the second's were
	// sized after the first, and the fourth gets them once it is released.
	a := batch("西平县")
	a.Release()
	b := batch("上蔡县")
	data := b.Data().Buffers()[2].Bytes()
	b.Release()
	if p.held == 0 {
		t.Fatal("the released batch gave nothing back")
	}
	c3 := batch("正阳县")
	defer c3.Release()
	d := batch("驻马店")
	defer d.Release()
	if got := d.Data().Buffers()[2].Bytes(); &got[0] != &data[0] {
		t.Error("the fourth batch did not reuse the second one's string data")
	}
	if c3.(*array.String).Value(999) != "正阳县" || d.(*array.String).Value(0) != "驻马店" || d.Len() != 1000 {
		t.Errorf("values %q, %q", c3.(*array.String).Value(999), d.(*array.String).Value(0))
	}
	for k := range p.free {
		p.free[k] = nil
	}
	p.held = 0
	buf := p.buffer(p.get(100))
	s := p.get(100)
	buf.Retain()
	buf.Release()
	buf.Release()
	a2 := &pooled{pool: p}
	a2.Free(s)
	a2.Free(s)
	if p.held != 2*128 {
		t.Errorf("held %d bytes, want %d: a slice went back twice or not at all", p.held, 2*128)
	}
}
