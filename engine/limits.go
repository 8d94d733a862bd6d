package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/crosscheck/crosscheck/rules"
	"github.com/crosscheck/crosscheck/schema"
)

// ErrRuleTimeout is wrapped by the error of a rule stopped by
// engine.rule_timeout.
var ErrRuleTimeout = errors.New("rule timeout")

// ErrRuleMemory is wrapped by the error of a rule that DuckDB could not run
// within engine.memory_limit.
var ErrRuleMemory = errors.New("rule out of memory")

// runRulesLimited runs the rules one by one into the hits table, each
// under its own time limit (0: none), so that a rule that never ends (a
// WITH RECURSIVE without a bound, a join that explodes) is cancelled and
// named instead of holding the run until someone kills it. Each rule goes
// through rules.RunSet into a table of its own, then into table.
func (s *Session) runRulesLimited(ctx context.Context, comp []rules.Compiled, table string, limit time.Duration, log *slog.Logger) error {
	one := table + "_one"
	if err := s.Exec(ctx, schema.RuleHitsDDL(table)); err != nil {
		return err
	}
	for _, c := range comp {
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if limit > 0 {
			rctx, cancel = context.WithTimeout(ctx, limit)
		}
		t0 := time.Now()
		err := rules.RunSet(rctx, s.DB, []rules.Compiled{c}, one, log)
		timedOut := errors.Is(rctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		if err != nil {
			return s.ruleError(c, err, timedOut, limit, time.Since(t0))
		}
		if err := s.Exec(ctx, fmt.Sprintf("INSERT INTO %s SELECT * FROM %s", Ident(table), Ident(one))); err != nil {
			return err
		}
	}
	return s.Exec(ctx, "DROP TABLE IF EXISTS "+Ident(one))
}

// ruleError says which limit stopped a rule, or passes the error on.
func (s *Session) ruleError(c rules.Compiled, err error, timedOut bool, limit, took time.Duration) error {
	switch {
	case timedOut:
		return fmt.Errorf("%w: rule %s (%s) stopped after %s: it ran longer than engine.rule_timeout (%s). "+
			"规则 %s 运行超过时间上限 engine.rule_timeout（%s）已被终止。Check the rule's SQL for a recursion or a join that does not end; "+
			"raise engine.rule_timeout only for a rule known to need it",
			ErrRuleTimeout, c.ID, c.File, took.Round(time.Second), limit, c.ID, limit)
	case isOutOfMemory(err):
		ml := s.MemoryLimit
		if ml == "" {
			ml = "DuckDB's default"
		}
		return fmt.Errorf("%w: rule %s (%s): DuckDB ran out of memory within engine.memory_limit (%s). "+
			"规则 %s 超出内存上限 engine.memory_limit（%s）。Raise engine.memory_limit, set engine.temp_directory on a disk with room to spill, "+
			"or make the rule's joins narrower. DuckDB: %s",
			ErrRuleMemory, c.ID, c.File, ml, c.ID, ml, duckMessage(c, err))
	}
	return err
}

// duckMessage is DuckDB's own message for a rule's error: without the
// rule's name (already said) and without DuckDB's generic advice.
func duckMessage(c rules.Compiled, err error) string {
	m := strings.TrimPrefix(err.Error(), fmt.Sprintf("rule %s (%s): ", c.ID, c.File))
	m, _, _ = strings.Cut(m, "\n\n")
	return strings.TrimSpace(m)
}

// isOutOfMemory reports whether err is DuckDB's out-of-memory error.
func isOutOfMemory(err error) bool {
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "out of memory")
}
