package mapping

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// bufPool keeps the byte slices of batches that DuckDB has finished with
// for the next batches. A fresh slice costs Go's zeroing and, its pages
// being new to the process, a page fault per 4 KiB on first write; a
// reused one costs neither. Slices come in power-of-two capacities, one
// free list per size. A slice goes back to the pool when the Arrow buffer
// made of it is released (the last batch holding it is released by
// DuckDB's Arrow scan), once at most.
type bufPool struct {
	mu   sync.Mutex
	free [48][][]byte
	held int // bytes in the free lists
}

// poolMaxBytes bounds the bytes a pool keeps: a few batches' worth.
const poolMaxBytes = 64 << 20

func newBufPool() *bufPool { return &bufPool{} }

func sizeClass(n int) int { return bits.Len(uint(max(n, 64) - 1)) }

// get returns an empty slice with room for at least n bytes.
func (p *bufPool) get(n int) []byte {
	k := sizeClass(n)
	p.mu.Lock()
	if l := len(p.free[k]); l > 0 {
		b := p.free[k][l-1]
		p.free[k][l-1] = nil
		p.free[k] = p.free[k][:l-1]
		p.held -= cap(b)
		p.mu.Unlock()
		return b
	}
	p.mu.Unlock()
	return make([]byte, 0, 1<<k)
}

// put takes back a slice that no batch uses any more. Slices that append
// grew past their class are left to the garbage collector.
func (p *bufPool) put(b []byte) {
	k := sizeClass(cap(b))
	if cap(b) == 0 || cap(b) != 1<<k {
		return
	}
	p.mu.Lock()
	if p.held+cap(b) <= poolMaxBytes {
		p.free[k] = append(p.free[k], b[:0])
		p.held += cap(b)
	}
	p.mu.Unlock()
}

// buffer wraps b as an Arrow buffer that gives b back to the pool when it
// is released.
func (p *bufPool) buffer(b []byte) *memory.Buffer {
	return memory.NewBufferWithAllocator(b, &pooled{pool: p})
}

// pooled is the memory.Allocator of one buffer made by bufPool.buffer:
// its Free puts the slice back once, however often it is called, so that
// one slice can never back two batches.
type pooled struct {
	pool  *bufPool
	freed atomic.Bool
}

func (a *pooled) Free(b []byte) {
	if !a.freed.Swap(true) {
		a.pool.put(b)
	}
}

// Allocate and Reallocate serve Arrow code that would grow such a buffer
// (none does: batches are not modified); they use the garbage-collected
// heap.
func (a *pooled) Allocate(size int) []byte { return make([]byte, size) }

func (a *pooled) Reallocate(size int, b []byte) []byte {
	nb := make([]byte, size)
	copy(nb, b)
	return nb
}
