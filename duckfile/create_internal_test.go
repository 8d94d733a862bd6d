package duckfile

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
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

// deadPID returns the id of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func createTable(name string) func(context.Context, *sql.DB) error {
	return func(ctx context.Context, db *sql.DB) error {
		_, err := db.ExecContext(ctx, "CREATE TABLE "+name+" (x INTEGER); INSERT INTO "+name+" VALUES (1)")
		return err
	}
}

// tableCount counts the rows of table in the database at path.
func tableCount(t *testing.T, path, table string) (int, error) {
	t.Helper()
	db, err := sql.Open("duckdb", path+"?access_mode=read_only")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	err = db.QueryRow("SELECT count(*) FROM " + table).Scan(&n)
	return n, err
}

// TestCreateLinksWhole: until the link there is only the creation file (no
// file at path, no write-ahead log); then the file at path holds what init
// made, and nothing of the creation is left.
func TestCreateLinksWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.duckdb")
	var seen []string
	testHookBeforeLink = func() { seen = dirNames(t, dir) }
	t.Cleanup(func() { testHookBeforeLink = nil })
	created, err := Create(context.Background(), path, "", createTable("mine"))
	if err != nil || !created {
		t.Fatal(created, err)
	}
	if len(seen) != 1 || seen[0] != fmt.Sprintf("x.duckdb.creating-%d-%d", os.Getpid(), creatingSeq.Load()) {
		t.Fatalf("before the link: %v", seen)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"x.duckdb"}) {
		t.Fatalf("after: %v", got)
	}
	if n, err := tableCount(t, path, "mine"); err != nil || n != 1 {
		t.Fatalf("init's table: %d %v", n, err)
	}
	// A second Create leaves the file alone.
	created, err = Create(context.Background(), path, "", createTable("other"))
	if err != nil || created {
		t.Fatal(created, err)
	}
	if _, err := tableCount(t, path, "other"); err == nil {
		t.Fatal("the existing database was changed")
	}
}

// TestCreatorThatLosesUsesTheWinners: when another process links its new
// database into place first, Create keeps theirs.
func TestCreatorThatLosesUsesTheWinners(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.duckdb")
	testHookBeforeLink = func() {
		testHookBeforeLink = nil
		if created, err := Create(ctx, path, "", createTable("winner")); err != nil || !created {
			t.Fatal(created, err)
		}
	}
	t.Cleanup(func() { testHookBeforeLink = nil })
	created, err := Create(ctx, path, "", createTable("loser"))
	if err != nil || created {
		t.Fatal(created, err)
	}
	if n, err := tableCount(t, path, "winner"); err != nil || n != 1 {
		t.Fatalf("the winner's database is not the one in place: %v", err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"x.duckdb"}) {
		t.Fatalf("files: %v", got)
	}
}

// TestStaleCreationFilesRemoved: creation files of dead processes go at the
// next Create; those of live processes and of other paths stay.
func TestStaleCreationFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.duckdb")
	dead := deadPID(t)
	for _, n := range []string{
		fmt.Sprintf("x.duckdb.creating-%d-1", dead),
		fmt.Sprintf("x.duckdb.creating-%d-1.wal", dead),
		"x.duckdb.creating-1-1", // pid 1 is alive
		fmt.Sprintf("y.duckdb.creating-%d-1", dead),
		"x.duckdb.creating-x",
	} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("half a database"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 { // when creating the database, and when it exists
		if _, err := Create(context.Background(), path, "", nil); err != nil {
			t.Fatal(err)
		}
		want := []string{"x.duckdb", "x.duckdb.creating-1-1", "x.duckdb.creating-x", fmt.Sprintf("y.duckdb.creating-%d-1", dead)}
		slices.Sort(want)
		if got := dirNames(t, dir); !slices.Equal(got, want) {
			t.Fatalf("round %d, files:\n got %v\nwant %v", i, got, want)
		}
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("x.duckdb.creating-%d-2", dead)), nil, 0o644)
	}
}

// TestExistingFileLeftAlone: a file at path, database or not, is neither
// replaced nor changed.
func TestExistingFileLeftAlone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.duckdb")
	for _, content := range [][]byte{nil, []byte("not a database")} {
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		created, err := Create(context.Background(), path, "", createTable("t"))
		if err != nil || created {
			t.Fatal(created, err)
		}
		if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, content) {
			t.Fatalf("the file changed: %q %v", b, err)
		}
	}
}

// TestCreateFailsCleanly: a creation whose init fails leaves nothing.
func TestCreateFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.duckdb")
	boom := errors.New("boom")
	_, err := Create(context.Background(), path, "", func(context.Context, *sql.DB) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want boom", err)
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Fatalf("left: %v", got)
	}
}
