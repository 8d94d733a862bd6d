package rules

import (
	"context"
	"strings"
	"testing"
)

// Every rule of the built-in library passes its own tests.
func TestLibrary(t *testing.T) {
	set, err := LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunTests(context.Background(), nil, set, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if !r.Passed() {
			t.Errorf("%s:%d: %s / %s:\n  %s", r.File, r.Line, r.Rule, r.Name, strings.Join(r.Problems, "\n  "))
		}
	}
	t.Logf("%d tests of %d rules", len(rep.Results), len(set.Rules))
}

// The optional rules of rules/contrib (sql rules a job adds with a rules
// folder) lint clean and pass their tests.
func TestContrib(t *testing.T) {
	set, err := Lint(context.Background(), Context{}, "contrib")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunTests(context.Background(), nil, set, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if !r.Passed() {
			t.Errorf("%s:%d: %s / %s:\n  %s", r.File, r.Line, r.Rule, r.Name, strings.Join(r.Problems, "\n  "))
		}
	}
	if len(rep.Results) == 0 {
		t.Error("no contrib tests ran")
	}
}
