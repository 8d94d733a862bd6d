package connectors

import "sync"

// Incremental is implemented by sources that can pull only rows changed since a watermark.
//
// It is optional: the engine asks a Source for it with a type assertion,
// calls SetWatermark with the value it persisted in run state before Open,
// and after the read reached io.EOF stores Watermark for the next run. The
// database connectors (postgres, mysql) implement it when the
// watermark_column option is set.
type Incremental interface {
	// SetWatermark makes the next Open return only rows whose watermark column is > w ("" = all rows).
	SetWatermark(w string)
	// Watermark returns the highest watermark value seen by the last completed read ("" if none).
	// When that read returned no row with a watermark, it is the value given to
	// SetWatermark, so storing it never moves the watermark backwards.
	Watermark() string
}

// WatermarkState implements Incremental for a source to embed: it holds
// the watermark the next read starts after and the one the last completed
// read reached. It is safe for concurrent use.
type WatermarkState struct {
	mu      sync.Mutex
	since   string // watermark for the next Open
	highest string // watermark after the last completed read
}

// SetWatermark makes the next Open return only rows whose watermark column
// is greater than w ("" = all rows).
func (w *WatermarkState) SetWatermark(v string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.since = v
}

// Watermark returns the highest watermark value read by the last completed
// read, or the value given to SetWatermark when that read found no newer row.
func (w *WatermarkState) Watermark() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.highest
}

// Since returns the watermark a new read starts after.
func (w *WatermarkState) Since() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.since
}

// Completed records the end of a read that started after since and whose
// highest watermark value was highest ("" when it returned no row): the
// watermark never moves backwards.
func (w *WatermarkState) Completed(since, highest string) {
	if highest == "" {
		highest = since
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.highest = highest
}
