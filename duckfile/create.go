package casestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// A new store is never created in place: DuckDB creates its file and only
// then writes the file's header, so a process killed in between left a
// file that DuckDB refuses for good ("exists, but it is not a valid DuckDB
// database file"). Instead the store is created and migrated under a
// temporary name in the same directory, PATH.creating-<pid>-<n>, closed
// cleanly (checkpointed, no write-ahead log left) and hard-linked into
// place: os.Link fails when PATH exists, so a file at PATH is never
// overwritten and of two processes creating the same store one wins and the
// other opens the winner's. Creation files of dead processes are removed
// by the next Open.

const creatingInfix = ".creating-"

var creatingSeq atomic.Int64

// testHookBeforeLink, when set, runs after the new store is made under its
// temporary name and before it is linked into place (tests).
var testHookBeforeLink func()

// createIfMissing creates the store at path, with its schema, when there
// is no file at path. query is the DSN's "?…" part ("" for none).
func createIfMissing(ctx context.Context, path, query string, now time.Time) error {
	removeStaleCreating(path)
	if _, err := os.Lstat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("open store %s: %w", path, err)
	}
	tmp := fmt.Sprintf("%s%s%d-%d", path, creatingInfix, os.Getpid(), creatingSeq.Add(1))
	defer removeCreating(tmp)
	if err := createAt(ctx, tmp, query, now); err != nil {
		return fmt.Errorf("create store %s: %w", path, err)
	}
	if testHookBeforeLink != nil {
		testHookBeforeLink()
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // another process created it first: open theirs
		}
		return fmt.Errorf("create store %s: %w", path, err)
	}
	// The link is the commit; make it durable before anyone relies on it.
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("create store %s: %w", path, err)
	}
	return nil
}

// createAt creates and migrates a new database at tmp and closes it
// cleanly: its whole content is in the file, none in a write-ahead log.
func createAt(ctx context.Context, tmp, query string, now time.Time) error {
	c, err := duckdb.NewConnector(tmp+query, nil)
	if err != nil {
		return err
	}
	db := sql.OpenDB(c)
	err = migrate(ctx, db, now)
	if err == nil {
		_, err = db.ExecContext(ctx, "CHECKPOINT")
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if _, err := os.Lstat(WALPath(tmp)); err == nil {
		return fmt.Errorf("%s left behind after a clean close", WALPath(tmp))
	}
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// removeCreating removes a creation file and what DuckDB keeps beside it.
func removeCreating(tmp string) {
	os.Remove(tmp)
	os.Remove(WALPath(tmp))
	os.RemoveAll(tmp + ".tmp")
}

// removeStaleCreating removes the creation files of path
// (PATH.creating-<pid>-…) whose process is no longer running. Errors are
// ignored: a file left behind is in nobody's way.
func removeStaleCreating(path string) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := base + creatingInfix
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end < 0 {
			end = len(rest)
		}
		pid, err := strconv.Atoi(rest[:end])
		if err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
