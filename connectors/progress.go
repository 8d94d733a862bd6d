package connectors

// Progress is implemented by readers that know how far through their
// input they are, for progress bars. It may be called from another
// goroutine while Next runs.
type Progress interface {
	// Progress returns the bytes read so far and the total bytes to read
	// (0 when unknown).
	Progress() (done, total int64)
}
