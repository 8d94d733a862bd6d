// TEMPORARY (branch check): the types of /work/brief/API.md so that review/
// compiles before branch store lands; deleted when `git merge store` brings
// the real package.
package screen

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"
)

type Options struct {
	Log         *slog.Logger
	MemoryLimit string
	Threads     int
}

type Screener struct{}

func Open(ctx context.Context, storePath string, opt Options) (*Screener, error) {
	return nil, errors.New("screen: not yet merged from branch store")
}
func (s *Screener) Close() error { return nil }
func (s *Screener) Roll(ctx context.Context, in RollInput, outDir string) (*RollResult, error) {
	return nil, errors.New("screen: not yet merged")
}
func (s *Screener) Check(ctx context.Context, a Applicant) (*CheckResult, error) {
	return nil, errors.New("screen: not yet merged")
}

type RollInput struct {
	Path    string
	Source  string
	Program string
	Period  string
	RawIDs  bool
}
type RollResult struct {
	RunID    string
	OutDir   string
	Payments int64
	Hits     int64
	Stops    []StopEntry
	Elapsed  time.Duration
}
type StopEntry struct {
	PaymentID, Account, IDNumber, Name, ProgramCode, Program, Period, RegionCode string
	Amount                                                                       float64
	Reason                                                                       string
	Severity                                                                     string
	RuleIDs                                                                      []string
}
type Applicant struct{ IDNumber, Name, Program, Period string }
type CheckResult struct {
	PersonKey string
	IDStatus  string
	Known     bool
	Hits      []CheckHit
}
type CheckHit struct {
	RuleID, Category, Severity, Title, TitleEN, Explanation string
	Evidence                                                json.RawMessage
}
