//go:build unix

package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLockStore: a second refresh of the same store is refused, naming
// the refresh that holds it.
func TestLockStore(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ref.duckdb")
	unlock, err := lockStore(p)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = lockStore(p)
	if err == nil || !strings.Contains(err.Error(), "another store refresh (pid "+fmt.Sprint(os.Getpid())) ||
		!strings.Contains(err.Error(), "is updating "+p) {
		t.Fatalf("second refresh: %v", err)
	}
}
