package engine

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// StoreBusyWait bounds how long a reader of a reference store waits for a
// direct in-place refresh (store_inplace.go), which holds DuckDB's write
// lock on the store file until its last checkpoint, before giving up.
var StoreBusyWait = 10 * time.Minute

// storeBusyPoll is how often a waiting reader tries the store again.
const storeBusyPoll = 100 * time.Millisecond

// isStoreBusy reports whether err is DuckDB's refusal to attach a file
// another process holds for writing.
func isStoreBusy(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Could not set lock")
}

// attachStore attaches the reference store at path read-only as alias in
// the database exec runs on. While a direct in-place refresh holds the
// file it waits, logging once, until the refresh ends, ctx is done or
// StoreBusyWait has passed.
func attachStore(ctx context.Context, exec func(ctx context.Context, query string) error, path, alias string, log *slog.Logger) error {
	q := fmt.Sprintf("ATTACH %s AS %s (READ_ONLY)", Lit(path), Ident(alias))
	if log == nil {
		log = slog.Default()
	}
	start := time.Now()
	for logged := false; ; logged = true {
		err := exec(ctx, q)
		if !isStoreBusy(err) {
			return err
		}
		waited := time.Since(start)
		if !logged {
			log.Warn("参考库正在刷新（原地更新），等待其结束 — the store is being refreshed in place; waiting for it to end", "store", path)
		}
		if waited >= StoreBusyWait {
			return fmt.Errorf("参考库 %s 正在刷新，已等待 %s — the store is being refreshed (waited %s): %w", path, waited.Round(time.Second), waited.Round(time.Second), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(storeBusyPoll):
		}
	}
}

// AttachStore attaches the reference store at path read-only as alias,
// waiting for a direct in-place refresh that holds it (attachStore).
func (s *Session) AttachStore(ctx context.Context, path, alias string, log *slog.Logger) error {
	return attachStore(ctx, func(ctx context.Context, q string) error { return s.Exec(ctx, q) }, path, alias, log)
}
