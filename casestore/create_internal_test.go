package casestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// dirNames lists dir's entries.
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

// deadPID returns the id of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestNewStoreIsLinkedWhole: a new store appears at its path complete
// (schema migrated, no write-ahead log of the creation), and nothing of its
// creation is left beside it.
func TestNewStoreIsLinkedWhole(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "cases.duckdb")
	var seen []string
	testHookBeforeLink = func() { seen = dirNames(t, dir) }
	t.Cleanup(func() { testHookBeforeLink = nil })
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Just before the link there was the creation file and nothing else:
	// no file at path, no write-ahead log.
	if len(seen) != 1 || seen[0] != fmt.Sprintf("cases.duckdb.creating-%d-%d", os.Getpid(), creatingSeq.Load()) {
		t.Fatalf("before the link: %v", seen)
	}
	var v int
	if err := s.DB().QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil || v != Migrations[len(Migrations)-1].Version {
		t.Fatalf("schema version %d (%v)", v, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range dirNames(t, dir) {
		if n != "cases.duckdb" && n != "cases.duckdb.audit-journal" {
			t.Errorf("left beside the store: %s", n)
		}
	}
}

// TestCreatorThatLosesOpensTheWinnersStore: when another process links its
// new store into place first, Open keeps theirs and opens it.
func TestCreatorThatLosesOpensTheWinnersStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "cases.duckdb")
	testHookBeforeLink = func() {
		testHookBeforeLink = nil
		other, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.DB().ExecContext(ctx, `CREATE TABLE winner (x INTEGER)`); err != nil {
			t.Fatal(err)
		}
		other.Close()
	}
	t.Cleanup(func() { testHookBeforeLink = nil })
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM winner`).Scan(&n); err != nil {
		t.Fatalf("the winner's store was not the one opened: %v", err)
	}
	if m, _ := filepath.Glob(path + ".creating-*"); len(m) != 0 {
		t.Fatalf("creation files left: %v", m)
	}
}

// TestStaleCreationFilesRemoved: creation files of dead processes go at the
// next Open; those of live processes and of other stores stay.
func TestStaleCreationFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cases.duckdb")
	dead := deadPID(t)
	for _, n := range []string{
		fmt.Sprintf("cases.duckdb.creating-%d-1", dead),
		fmt.Sprintf("cases.duckdb.creating-%d-1.wal", dead),
		"cases.duckdb.creating-1-1", // pid 1 is alive
		fmt.Sprintf("other.duckdb.creating-%d-1", dead),
		"cases.duckdb.creating-x",
	} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("half a store"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // when creating the store, and when opening it
		s, err := Open(context.Background(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		got := dirNames(t, dir)
		want := []string{"cases.duckdb", "cases.duckdb.audit-journal", "cases.duckdb.creating-1-1", "cases.duckdb.creating-x",
			fmt.Sprintf("other.duckdb.creating-%d-1", dead)}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("files:\n got %v\nwant %v", got, want)
		}
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("cases.duckdb.creating-%d-2", dead)), nil, 0o644)
	}
}

// TestExistingFileNeverReplaced: a file at the store's path that is not a
// store is refused and left exactly as it was.
func TestExistingFileNeverReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cases.duckdb")
	for _, content := range [][]byte{nil, []byte("not a store")} {
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(context.Background(), path, Options{})
		if err == nil {
			s.Close()
			t.Fatalf("a file of %d bytes opened as a store", len(content))
		}
		if !errors.Is(err, ErrNotAStore) {
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

// TestCreateFailsCleanly: a creation that fails (here: cancelled) leaves
// nothing behind, and the next Open creates the store.
func TestCreateFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cases.duckdb")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s, err := Open(ctx, path, Options{}); err == nil {
		s.Close()
		t.Fatal("opened with a cancelled context")
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Fatalf("left: %v", got)
	}
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
