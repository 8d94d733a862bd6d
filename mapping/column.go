package mapping

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// column collects one Arrow column of a batch in plain byte slices, which
// become the array's buffers as they are at Flush. Arrow's builders zero
// every buffer they grow (and Go has zeroed it once already) and cost a
// few calls per value; appending to slices does neither, which took a
// quarter of the mapping's CPU time off on the payment roll benchmark.
type column struct {
	pool  *bufPool
	typ   arrow.DataType
	width int // bytes per value of a fixed-width type; 0 for strings and booleans
	rows  int // the rows the batch was sized for
	n     int
	nulls int
	// valid is the validity bitmap, nil while the batch has no null.
	valid []byte
	// offs holds n+1 int32 offsets (strings); data the string bytes, the
	// fixed-width values, or the bits of booleans.
	offs []byte
	data []byte
}

func newColumn(typ arrow.DataType, pool *bufPool) *column {
	c := &column{typ: typ, pool: pool}
	switch typ.ID() {
	case arrow.STRING, arrow.BOOL:
	case arrow.INT64, arrow.FLOAT64:
		c.width = 8
	case arrow.DATE32:
		c.width = 4
	default:
		panic(fmt.Sprintf("mapping: no column buffer for Arrow type %s", typ))
	}
	c.reset(0, 0)
	return c
}

// release gives the column's buffers back to the pool; the column is not
// used after it.
func (c *column) release() {
	for _, b := range [][]byte{c.valid, c.offs, c.data} {
		if b != nil {
			c.pool.put(b)
		}
	}
	c.valid, c.offs, c.data = nil, nil, nil
}

// reset starts a new batch with room for rows values and dataBytes bytes
// of string data.
func (c *column) reset(rows, dataBytes int) {
	c.n, c.nulls, c.valid, c.rows = 0, 0, nil, rows
	switch {
	case c.typ.ID() == arrow.STRING:
		c.offs = binary.LittleEndian.AppendUint32(c.pool.get(4*(rows+1)), 0)
		c.data = c.pool.get(dataBytes)
	case c.typ.ID() == arrow.BOOL:
		c.data = c.pool.get(rows/8 + 1)
	default:
		c.data = c.pool.get(rows * c.width)
	}
}

// setValid marks value c.n as valid or null in the bitmap.
func (c *column) setValid(ok bool) {
	if ok && c.valid == nil {
		return
	}
	if c.valid == nil {
		// First null: every value so far was valid.
		c.valid = c.pool.get(max(c.rows, c.n)/8 + 8)[:c.n/8+1]
		clear(c.valid)
		for i := 0; i < c.n; i++ {
			c.valid[i>>3] |= 1 << (i & 7)
		}
	}
	for len(c.valid) <= c.n>>3 {
		c.valid = append(c.valid, 0)
	}
	if ok {
		c.valid[c.n>>3] |= 1 << (c.n & 7)
	} else {
		c.nulls++
	}
}

func (c *column) endString() {
	c.offs = binary.LittleEndian.AppendUint32(c.offs, uint32(len(c.data)))
	c.n++
}

func (c *column) appendString(s string) {
	c.setValid(true)
	c.data = append(c.data, s...)
	c.endString()
}

func (c *column) appendNull() {
	c.setValid(false)
	switch {
	case c.typ.ID() == arrow.STRING:
		c.endString()
		return
	case c.typ.ID() == arrow.BOOL:
		c.appendBit(false)
	default:
		c.data = append(c.data, make([]byte, c.width)...)
	}
	c.n++
}

func (c *column) appendInt64(v int64) {
	c.setValid(true)
	c.data = binary.LittleEndian.AppendUint64(c.data, uint64(v))
	c.n++
}

func (c *column) appendFloat64(v float64) {
	c.setValid(true)
	c.data = binary.LittleEndian.AppendUint64(c.data, math.Float64bits(v))
	c.n++
}

func (c *column) appendDate32(v arrow.Date32) {
	c.setValid(true)
	c.data = binary.LittleEndian.AppendUint32(c.data, uint32(v))
	c.n++
}

func (c *column) appendBool(v bool) {
	c.setValid(true)
	c.appendBit(v)
	c.n++
}

func (c *column) appendBit(v bool) {
	if c.n&7 == 0 {
		c.data = append(c.data, 0)
	}
	if v {
		c.data[c.n>>3] |= 1 << (c.n & 7)
	}
}

// finish returns the batch's values as an array and starts the next batch
// with the same room.
func (c *column) finish() arrow.Array {
	var valid *memory.Buffer
	if c.valid != nil {
		for len(c.valid) < (c.n+7)/8 {
			c.valid = append(c.valid, 0)
		}
		valid = c.pool.buffer(c.valid)
	}
	bufs := []*memory.Buffer{valid}
	if c.typ.ID() == arrow.STRING {
		bufs = append(bufs, c.pool.buffer(c.offs))
	}
	bufs = append(bufs, c.pool.buffer(c.data))
	d := array.NewData(c.typ, c.n, bufs, nil, c.nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release() // the array holds them now
		}
	}
	a := array.MakeFromData(d)
	d.Release()
	n, l := c.n, len(c.data)
	c.reset(n, l+l/8)
	return a
}
