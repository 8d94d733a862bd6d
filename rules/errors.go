package rules

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error is a problem with a rule: where it is (the rule file and line, or
// the job key that set a bad value) and why.
type Error struct {
	// File is the rule file as shown to users ("rules/library/age_range.yaml"
	// for the built-in library); empty for problems in the job's settings.
	File string
	// Line is the 1-based line in File (0 when unknown).
	Line int
	// Rule is the rule id, when known.
	Rule string
	// Key is the job key for problems in the job's settings
	// ("rules.params.deceased_after_death.grace_months").
	Key string
	// Reason says what is wrong.
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		fmt.Fprintf(&b, "%s: ", e.File)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "%s: ", e.Key)
	}
	if e.Rule != "" && e.Key == "" {
		fmt.Fprintf(&b, "rule %s: ", e.Rule)
	}
	b.WriteString(e.Reason)
	return b.String()
}

// ErrorList is every problem found in a set of rules, in file and line
// order. A nil or empty list is not an error.
type ErrorList []*Error

func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Err returns the list as an error, or nil when it is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	l.sort()
	return l
}

func (l ErrorList) sort() {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].File != l[j].File {
			return l[i].File < l[j].File
		}
		return l[i].Line < l[j].Line
	})
}

// Errors returns the rule errors inside err (an ErrorList, an *Error or a
// joined error holding them).
func Errors(err error) []*Error {
	if err == nil {
		return nil
	}
	var l ErrorList
	if errors.As(err, &l) {
		return l
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return nil
}

// errs collects errors for one file.
type errs struct {
	file string
	rule string
	list ErrorList
}

func (c *errs) at(line int, format string, a ...any) {
	c.list = append(c.list, &Error{File: c.file, Line: line, Rule: c.rule, Reason: fmt.Sprintf(format, a...)})
}
