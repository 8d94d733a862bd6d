package casestore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/crosscheck/crosscheck/casestore"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestNewStoreLeavesNothingBeside: a new store is created whole (its
// schema in the file) and nothing of its creation stays beside it
// (duckfile's tests cover the creation itself).
func TestNewStoreLeavesNothingBeside(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "cases.duckdb")
	s, err := casestore.Open(ctx, path, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := s.DB().QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil ||
		v != casestore.Migrations[len(casestore.Migrations)-1].Version {
		t.Fatalf("schema version %d (%v)", v, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"cases.duckdb", "cases.duckdb.audit-journal"}) {
		t.Fatalf("files: %v", got)
	}
}

// TestExistingFileNeverReplaced: a file at the store's path that is not a
// store is refused (ErrNotAStore) and left exactly as it was.
func TestExistingFileNeverReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cases.duckdb")
	for _, content := range [][]byte{nil, make([]byte, 4096), []byte("not a store")} {
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := casestore.Open(context.Background(), path, casestore.Options{})
		if err == nil {
			s.Close()
			t.Fatalf("a file of %d bytes opened as a store", len(content))
		}
		if !errors.Is(err, casestore.ErrNotAStore) {
			t.Errorf("a file of %d bytes: %v, want ErrNotAStore", len(content), err)
		}
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(b, content) {
			t.Fatalf("the file changed: %q %v", b, err)
		}
		if got := dirNames(t, dir); !slices.Equal(got, []string{"cases.duckdb"}) {
			t.Fatalf("files: %v", got)
		}
	}
}
