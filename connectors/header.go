package connectors

import (
	"errors"
	"fmt"
)

// ErrDuplicateColumn is the error, tested with errors.Is, for an input
// whose header names the same column twice (two columns called 姓名):
// which of them a mapping means cannot be told, so the input is refused
// rather than one of them silently taken.
var ErrDuplicateColumn = errors.New("duplicate column name")

// DuplicateColumnError says which name repeats and where: First and
// Second are 1-based column positions.
type DuplicateColumnError struct {
	Name          string
	First, Second int
}

func (e *DuplicateColumnError) Error() string {
	return fmt.Sprintf("%v: columns %d and %d are both called %q; rename one of them in the file (or in the query) so that each column has its own name",
		ErrDuplicateColumn, e.First, e.Second, e.Name)
}

// Unwrap makes errors.Is(err, ErrDuplicateColumn) hold.
func (e *DuplicateColumnError) Unwrap() error { return ErrDuplicateColumn }

// CheckNames returns a *DuplicateColumnError for the first column name
// that repeats in names. Empty names (unnamed columns, such as the
// trailing empty cells of a header) are not compared: no mapping can
// name them.
func CheckNames(names []string) error {
	seen := make(map[string]int, len(names))
	for i, n := range names {
		if n == "" {
			continue
		}
		if j, dup := seen[n]; dup {
			return &DuplicateColumnError{Name: n, First: j + 1, Second: i + 1}
		}
		seen[n] = i
	}
	return nil
}
