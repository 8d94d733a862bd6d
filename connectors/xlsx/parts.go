package xlsx

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// sharedStrings is the shared string table, read as far as the cells
// ask: the text of each <si>, its <t> and the <t> of its rich-text runs
// joined, phonetic runs (<rPh>) left out, _xHHHH_ escapes decoded, as
// excelize reads it. Excel lists the strings in order of first use, so
// the table is read alongside the sheet, and a header needs only its own.
type sharedStrings struct {
	part  string
	rc    io.ReadCloser
	w     *window
	strs  [][]string // in blocks of sstBlock, so that a large table is never copied to grow
	n     int
	done  bool
	err   error
	arena []byte
	tmp   []byte
	ends  []int
}

func (t *sharedStrings) close() {
	if t.rc != nil {
		t.rc.Close()
		t.rc = nil
	}
}

const sstBlock = 4096

// get returns string n.
func (t *sharedStrings) get(n int) (string, error) {
	if n < t.n {
		return t.strs[n/sstBlock][n%sstBlock], nil
	}
	for n >= t.n && !t.done {
		t.more()
	}
	if n < t.n {
		return t.strs[n/sstBlock][n%sstBlock], nil
	}
	if t.err != nil {
		return "", t.err
	}
	return "", fmt.Errorf("invalid shared string index %d (the workbook has %d)", n, t.n)
}

// at returns string n, which get has returned before.
func (t *sharedStrings) at(n int) string { return t.strs[n/sstBlock][n%sstBlock] }

// add appends strings, filling the last block first.
func (t *sharedStrings) add(s string) {
	if t.n%sstBlock == 0 {
		t.strs = append(t.strs, make([]string, 0, sstBlock))
	}
	b := &t.strs[len(t.strs)-1]
	*b = append(*b, s)
	t.n++
}

// more reads up to sstBlock more strings; their text shares one allocation.
func (t *sharedStrings) more() {
	if t.w == nil {
		t.done = true
		return
	}
	arena, ends := t.arena[:0], t.ends[:0]
	inSI, inT, inRPh := false, false, false
	start := 0
	fail := func(err error) {
		t.err, t.done = fmt.Errorf("workbook part %s: string %d: %w", t.part, t.n+len(ends), err), true
		t.close()
	}
	for len(ends) < sstBlock {
		text, k, name, _, err := t.w.next()
		if errors.Is(err, io.EOF) {
			t.done = true
			t.close()
			break
		}
		if err != nil {
			fail(err)
			break
		}
		if inT && len(text) > 0 {
			if arena, err = appendText(arena, text); err != nil {
				fail(err)
				break
			}
		}
		switch k {
		case tokCDATA:
			if inT {
				arena = appendCDATA(arena, name)
			}
			continue
		case tokOther:
			continue
		}
		switch string(name) {
		case "si":
			switch k {
			case tokStart:
				inSI, start = true, len(arena)
			case tokEmpty:
				ends = append(ends, len(arena))
			case tokEnd:
				if bytes.Contains(arena[start:], []byte("_x")) {
					t.tmp = appendBstr(t.tmp[:0], arena[start:])
					arena = append(arena[:start], t.tmp...)
				}
				ends = append(ends, len(arena))
				inSI, inT, inRPh = false, false, false
			}
		case "t":
			if inSI && !inRPh {
				inT = k == tokStart
			}
		case "rPh":
			if inSI {
				inRPh = k == tokStart
			}
		}
	}
	all := string(arena)
	prev := 0
	for _, e := range ends {
		t.add(all[prev:e])
		prev = e
	}
	t.arena, t.ends = arena, ends
}

// findMerges reads a worksheet part to its end and returns its merged
// ranges. The sheet data is skipped by searching the decompressed bytes
// for "mergeCell" (which text cannot hide: '<' in text is always
// escaped); from the markup where it is first found the part is read tag
// by tag. A comment holding a <mergeCell> tag after the sheet data would
// be taken for a merge; no spreadsheet program writes one.
func findMerges(r io.Reader) ([]mergeRange, error) {
	const key = "mergeCell"
	buf := make([]byte, 1<<20)
	keep := 0 // bytes kept from the previous chunk: the tail that may start the key or its tag
	for {
		n, err := fill(r, buf[keep:])
		data := buf[:keep+n]
		if i := bytes.Index(data, []byte(key)); i >= 0 {
			lt := bytes.LastIndexByte(data[:i], '<')
			if lt < 0 {
				return nil, errors.New("malformed mergeCells")
			}
			rest := io.MultiReader(bytes.NewReader(append([]byte(nil), data[lt:]...)), r)
			return mergeCells(newWindow(rest, 64<<10))
		}
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		// Keep the last 64 bytes: a '<', a prefix and the start of the key.
		keep = copy(buf, data[len(data)-64:])
	}
}

// mergeRange is a merged cell range, 1-based and inclusive.
type mergeRange struct{ r1, c1, r2, c2 int }

func (m mergeRange) contains(r, c int) bool {
	return r >= m.r1 && r <= m.r2 && c >= m.c1 && c <= m.c2
}

// mergeCells reads markup to the end of the part and returns the ranges
// of its <mergeCell ref="A1:B2"> tags.
func mergeCells(w *window) ([]mergeRange, error) {
	var out []mergeRange
	for {
		_, k, name, attrs, err := w.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if (k != tokStart && k != tokEmpty) || string(name) != "mergeCell" {
			continue
		}
		var ref []byte
		for a := attrs; ; {
			an, av, rest, err := nextAttr(a)
			if err != nil {
				return nil, err
			}
			if an == nil {
				break
			}
			if string(an) == "ref" {
				ref = av
			}
			a = rest
		}
		a, b, found := bytes.Cut(ref, []byte(":"))
		if !found {
			b = a
		}
		c1, r1, err1 := cellRef(a)
		c2, r2, err2 := cellRef(b)
		if err1 != nil || err2 != nil || r1 == 0 || r2 == 0 {
			continue
		}
		out = append(out, mergeRange{r1: min(r1, r2), c1: min(c1, c2), r2: max(r1, r2), c2: max(c1, c2)})
	}
}

// pipe decompresses a zip entry in its own goroutine, a chunk ahead of
// the reader, so that inflating and parsing use both cores.
type pipe struct {
	rc    io.ReadCloser
	ch    chan []byte
	free  chan []byte
	stop  chan struct{}
	wg    sync.WaitGroup
	err   error // set by the goroutine before it closes ch
	cur   []byte
	chunk []byte
}

const pipeChunk = 256 << 10

func newPipe(rc io.ReadCloser) *pipe {
	p := &pipe{rc: rc, ch: make(chan []byte, 4), free: make(chan []byte, 6), stop: make(chan struct{})}
	for range 6 {
		p.free <- make([]byte, pipeChunk)
	}
	p.wg.Add(1)
	go p.run()
	return p
}

func (p *pipe) run() {
	defer p.wg.Done()
	defer close(p.ch)
	for {
		var b []byte
		select {
		case b = <-p.free:
		case <-p.stop:
			return
		}
		n, err := fill(p.rc, b[:cap(b)])
		if n > 0 {
			select {
			case p.ch <- b[:n]:
			case <-p.stop:
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.err = err
			}
			return
		}
	}
}

// fill reads until b is full or the stream ends; io.EOF only when the
// stream ended cleanly.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (p *pipe) Read(dst []byte) (int, error) {
	for len(p.cur) == 0 {
		if p.chunk != nil {
			p.free <- p.chunk[:cap(p.chunk)]
			p.chunk = nil
		}
		b, ok := <-p.ch
		if !ok {
			if p.err != nil {
				return 0, p.err
			}
			return 0, io.EOF
		}
		p.chunk, p.cur = b, b
	}
	n := copy(dst, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// Close stops the goroutine and closes the entry.
func (p *pipe) Close() error {
	close(p.stop)
	p.wg.Wait()
	return p.rc.Close()
}

// openPart opens a part of the package by name.
func openPart(zr *zip.Reader, name string) (io.ReadCloser, error) {
	zf := zipFile(zr, name)
	if zf == nil {
		return nil, fmt.Errorf("workbook part %s is missing", name)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("workbook part %s: %w", name, err)
	}
	return rc, nil
}
