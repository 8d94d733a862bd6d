package review

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// gcPercent is the garbage collector's target used by New when GOGC is not
// set: the queue index of a large store (about 1 GB of live heap at a
// million cases, pointer-rich) is scanned by every collection, and with the
// default of 100 collections ran every few seconds and stretched the
// latency tail (docs/benchmarks.md, "review"). 400 trades memory for fewer
// collections; a soft memory limit (GOMEMLIMIT, or 3/4 of the machine's
// memory) makes the collector run earlier rather than exhaust memory.
const gcPercent = 400

var gcTuned bool

// tuneGC applies gcPercent and the soft memory limit once per process,
// unless GOGC or GOMEMLIMIT set them.
func tuneGC(log *slog.Logger) {
	if gcTuned || os.Getenv("GOGC") != "" {
		return
	}
	gcTuned = true
	debug.SetGCPercent(gcPercent)
	limit := int64(-1)
	if os.Getenv("GOMEMLIMIT") == "" {
		if total := totalMemory(); total > 0 {
			limit = int64(total / 4 * 3)
			debug.SetMemoryLimit(limit)
		}
	}
	log.Info("garbage collector tuned for the case index (set GOGC to override)", "gogc", gcPercent, "memory_limit_bytes", limit)
}
