package connectors

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
