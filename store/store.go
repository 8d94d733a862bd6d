// Package store keeps the reference store: a DuckDB file with the
// canonical tables of every source but the payment rolls, after ID repair
// and linkage, the linkage model, the program catalogue, the job and a
// manifest (docs/store.md). Refresh is its only writer; package screen
// reads it.
//
// The work is done in package engine (engine.RefreshStore), which owns the
// loader, ID repair and linkage the batch run uses too.
package store

import (
	"context"

	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
)

type (
	// Options tune a refresh.
	Options = engine.RefreshOptions
	// Result summarises a refresh.
	Result = engine.RefreshResult
	// Info is a store's manifest.
	Info = engine.StoreInfo
)

// Refresh brings the store at path up to date with the job's reference
// sources. It is atomic: a refresh that fails or is killed leaves the
// previous store.
func Refresh(ctx context.Context, j *job.Job, path string, opt Options) (*Result, error) {
	return engine.RefreshStore(ctx, j, path, opt)
}

// ReadInfo reads a store's manifest.
func ReadInfo(ctx context.Context, path string) (*Info, error) {
	return engine.ReadStoreInfo(ctx, path)
}
