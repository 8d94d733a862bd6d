package engine

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/crosscheck/crosscheck/connectors"
)

// progressBar draws one line per source on a terminal: rows, bytes, rate
// and time left, redrawn in place until stop is called.
type progressBar struct {
	w      io.Writer
	source string
	rows   *atomic.Int64
	rd     connectors.Reader
	start  time.Time
	done   chan struct{}
	exited chan struct{}
}

func startProgress(w io.Writer, source string, rows *atomic.Int64, rd connectors.Reader) *progressBar {
	p := &progressBar{w: w, source: source, rows: rows, rd: rd, start: time.Now(), done: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		defer close(p.exited)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				p.draw(true)
				return
			case <-t.C:
				p.draw(false)
			}
		}
	}()
	return p
}

func (p *progressBar) draw(final bool) {
	secs := time.Since(p.start).Seconds()
	n := p.rows.Load()
	line := fmt.Sprintf("%-16s %12d rows  %8.0f rows/s", p.source, n, float64(n)/max(secs, 0.001))
	if pr, ok := p.rd.(connectors.Progress); ok {
		done, total := pr.Progress()
		mb := float64(done) / (1 << 20)
		rate := mb / max(secs, 0.001)
		line += fmt.Sprintf("  %8.1f MB  %6.1f MB/s", mb, rate)
		if total > 0 && !final {
			pct := 100 * float64(done) / float64(total)
			eta := "?"
			if done > 0 {
				left := time.Duration(float64(total-done) / float64(done) * secs * float64(time.Second))
				eta = left.Round(time.Second).String()
			}
			line += fmt.Sprintf("  %5.1f%%  ETA %s", pct, eta)
		}
	}
	end := ""
	if final {
		end = fmt.Sprintf("  %.1fs\n", secs)
	}
	fmt.Fprintf(p.w, "\r%s\033[K%s", line, end)
}

func (p *progressBar) stop() {
	close(p.done)
	<-p.exited
}
