package xlsx

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// loadSharedStrings reads the shared string table: the text of each <si>,
// its <t> and the <t> of its rich-text runs joined, phonetic runs (<rPh>)
// left out, _xHHHH_ escapes decoded, as excelize reads it. The strings
// share one backing array.
func loadSharedStrings(r io.Reader) ([]string, error) {
	w := newWindow(r, 1<<20)
	var arena, tmp []byte
	var ends []int
	inSI, inT, inRPh := false, false, false
	start := 0
	for {
		text, k, name, _, err := w.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if inT && len(text) > 0 {
			if arena, err = appendText(arena, text); err != nil {
				return nil, fmt.Errorf("string %d: %w", len(ends), err)
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
					tmp = appendBstr(tmp[:0], arena[start:])
					arena = append(arena[:start], tmp...)
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
	out := make([]string, len(ends))
	prev := 0
	for i, e := range ends {
		out[i] = all[prev:e]
		prev = e
	}
	return out, nil
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
