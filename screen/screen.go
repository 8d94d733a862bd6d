// Package screen screens payment rolls (pre-disbursement) and single
// applicants (point of application) against a reference store refreshed
// by package store: the rules are compiled once in Open and used by every
// Roll and Check (docs/store.md).
//
// The work is done by engine.Screener, which shares the engine's loader,
// ID repair, rules, hits, cases and outputs with the batch run; this
// package is the stable API other packages (the HTTP API, the CLI) use.
package screen

import (
	"context"
	"log/slog"

	"github.com/crosscheck/crosscheck/engine"
)

// Options tune a Screener.
type Options struct {
	Log         *slog.Logger
	MemoryLimit string // DuckDB memory_limit for the screening session ("" = the job's engine.memory_limit)
	Threads     int
	// RawCells writes stop-list and hits CSV cells verbatim (no formula
	// neutralisation).
	RawCells bool
}

type (
	// RollInput names the roll to screen and its filters.
	RollInput = engine.RollInput
	// RollResult summarises a screened roll.
	RollResult = engine.RollResult
	// StopEntry is one payment of the stop-list.
	StopEntry = engine.StopEntry
	// Applicant is one person applying for one program and period.
	Applicant = engine.Applicant
	// CheckResult is what Check finds for an applicant.
	CheckResult = engine.CheckResult
	// CheckHit is one hit of a Check.
	CheckHit = engine.CheckHit
)

// ErrUnknownProgram is returned by Check for a program not in the store's catalogue.
var ErrUnknownProgram = engine.ErrUnknownProgram

// Screener screens against one store. Safe for concurrent use.
type Screener struct{ e *engine.Screener }

// Open prepares the compiled rules against a reference store (opened
// read-only: several screeners and processes may read one store; `store
// refresh` is its only writer).
func Open(ctx context.Context, storePath string, opt Options) (*Screener, error) {
	e, err := engine.OpenScreener(ctx, storePath, engine.ScreenOptions{Log: opt.Log, MemoryLimit: opt.MemoryLimit,
		Threads: opt.Threads, RawCells: opt.RawCells})
	if err != nil {
		return nil, err
	}
	return &Screener{e: e}, nil
}

// Close releases the screener.
func (s *Screener) Close() error { return s.e.Close() }

// Seq is the store's refresh sequence the screener was opened on.
func (s *Screener) Seq() int64 { return s.e.Seq() }

// Roll screens one payment roll and writes into outDir, with the
// run-folder guarantees of package rundir: hits, cases, stop-list.xlsx
// and stop-list.csv, quality, report.html, manifest.
func (s *Screener) Roll(ctx context.Context, in RollInput, outDir string) (*RollResult, error) {
	return s.e.Roll(ctx, in, outDir)
}

// Check screens one applicant for one program and period: the hits a
// batch run would raise for a payment of the program's standard amount to
// this person. Safe for concurrent use by many goroutines: checks that
// arrive while others are screened are screened together in one batch
// (applicants with no person in common), each getting its own hits.
func (s *Screener) Check(ctx context.Context, a Applicant) (*CheckResult, error) {
	return s.e.Check(ctx, a)
}

// BatchStats are the Checks answered so far and the batches that screened
// them.
func (s *Screener) BatchStats() (checks, batches int64) {
	return s.e.BatchStats()
}

// CheckWhole is Check reading the whole reference tables instead of the
// applicant's rows: slow; the oracle Check is tested against.
func (s *Screener) CheckWhole(ctx context.Context, a Applicant) (*CheckResult, error) {
	return s.e.CheckWhole(ctx, a)
}
