package engine

import (
	"context"
	"log/slog"
	"time"
)

// stepTrace times the steps of one Check for the debug log (`-v`): where
// a check's time goes, step by step and rule by rule.
type stepTrace struct {
	last  time.Time
	attrs []any
	rules map[string]time.Duration
}

func newStepTrace() *stepTrace { return &stepTrace{last: time.Now()} }

// step records the time since the previous step under name.
func (t *stepTrace) step(name string) {
	now := time.Now()
	t.attrs = append(t.attrs, slog.Duration(name, now.Sub(t.last)))
	t.last = now
}

// ruleLog is a logger for rules.RunSet that records each rule's time.
func (t *stepTrace) ruleLog() *slog.Logger {
	t.rules = map[string]time.Duration{}
	return slog.New(ruleTimes{t})
}

func (t *stepTrace) log(l *slog.Logger, msg string) {
	if l == nil || !l.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	attrs := t.attrs
	for id, d := range t.rules {
		attrs = append(attrs, slog.Duration("rule."+id, d))
	}
	l.Debug(msg, attrs...)
}

// ruleTimes is a slog handler taking the "id" and "seconds" of RunSet's
// per-rule records.
type ruleTimes struct{ t *stepTrace }

func (h ruleTimes) Enabled(context.Context, slog.Level) bool { return true }
func (h ruleTimes) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h ruleTimes) WithGroup(string) slog.Handler            { return h }
func (h ruleTimes) Handle(_ context.Context, r slog.Record) error {
	var id string
	var sec float64
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "id":
			id = a.Value.String()
		case "seconds":
			sec = a.Value.Float64()
		}
		return true
	})
	h.t.rules[id] += time.Duration(sec * float64(time.Second))
	return nil
}
