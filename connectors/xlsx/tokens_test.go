package xlsx

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// Markup split at every byte across reads comes out the same as read in
// one piece: the window refills inside tags, comments, CDATA and text.
func TestWindowSplits(t *testing.T) {
	doc := []byte(`<?xml version="1.0"?><!-- c --><a x="1" y='&gt;'><b/>text &amp; more<![CDATA[<raw>]]></a><!---->`)
	read := func(r io.Reader, size int) string {
		w := newWindow(r, size)
		var out bytes.Buffer
		for {
			text, k, name, attrs, err := w.next()
			out.Write(text)
			if errors.Is(err, io.EOF) {
				return out.String()
			}
			if err != nil {
				return "error: " + err.Error()
			}
			out.WriteString("|" + string(rune('0'+k)) + string(name) + string(attrs) + "|")
		}
	}
	want := read(bytes.NewReader(doc), 4096)
	if want == "" || bytes.Contains([]byte(want), []byte("error")) {
		t.Fatalf("whole document: %q", want)
	}
	for size := 1; size < 40; size++ {
		if got := read(&oneByte{doc}, size); got != want {
			t.Errorf("window %d, one byte a read:\n got %q\nwant %q", size, got, want)
		}
	}
}

type oneByte struct{ b []byte }

func (r *oneByte) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0], r.b = r.b[0], r.b[1:]
	return 1, nil
}
