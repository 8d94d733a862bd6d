package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// The drop folder gives a file only once it and every other file stayed
// the same over two polls, never a file under a temporary name, and a
// file again only after it changed or was removed.
func TestDropFolderPoll(t *testing.T) {
	dir := t.TempDir()
	d := newDropFolder(dir)
	poll := func() []string {
		t.Helper()
		got, err := d.poll()
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			got[i] = filepath.Base(got[i])
		}
		return got
	}
	write := func(name, body string, mtime time.Time) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-time.Hour)
	if got := poll(); got != nil {
		t.Fatalf("empty folder: %v", got)
	}
	write("a.csv", "x", t0)
	write(".b.csv", "x", t0)
	write("c.csv.tmp", "x", t0)
	if got := poll(); got != nil {
		t.Fatalf("a.csv just appeared: %v, want nothing until the next poll", got)
	}
	write("a.csv", "xy", t0.Add(time.Second)) // still being written
	if got := poll(); got != nil {
		t.Fatalf("a.csv grew: %v, want nothing", got)
	}
	if got := poll(); !slices.Equal(got, []string{"a.csv"}) {
		t.Fatalf("a.csv stable over two polls: %v, want [a.csv] (temporary names never)", got)
	}
	d.take([]string{filepath.Join(dir, "a.csv")})
	if got := poll(); got != nil {
		t.Fatalf("a.csv taken: %v, want nothing", got)
	}
	// A second file arriving holds the first one's change back until both are stable.
	write("a.csv", "xyz", t0.Add(2*time.Second))
	poll()
	write("d.csv", "x", t0)
	if got := poll(); got != nil {
		t.Fatalf("d.csv just appeared: %v, want nothing", got)
	}
	if got := poll(); !slices.Equal(got, []string{"a.csv", "d.csv"}) {
		t.Fatalf("both stable: %v, want [a.csv d.csv]", got)
	}
	d.take([]string{filepath.Join(dir, "a.csv"), filepath.Join(dir, "d.csv")})
	if err := os.Remove(filepath.Join(dir, "d.csv")); err != nil {
		t.Fatal(err)
	}
	poll()
	if got := poll(); !slices.Equal(got, []string{"d.csv"}) {
		t.Fatalf("d.csv removed: %v, want [d.csv] (its rows leave the store)", got)
	}
	d.take([]string{filepath.Join(dir, "d.csv")})
	if got := poll(); got != nil {
		t.Fatalf("removal taken: %v, want nothing", got)
	}
}
