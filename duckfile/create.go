// Package duckfile creates DuckDB database files whole or not at all.
//
// DuckDB creates a database file and only then writes its header, so a
// process killed in between leaves a file that DuckDB refuses for good
// ("exists, but it is not a valid DuckDB database file"). Create makes the
// database under a temporary name in the same directory,
// PATH.creating-<pid>-<n>, runs the caller's initialisation (a schema),
// closes it cleanly (checkpointed, no write-ahead log left) and hard-links
// it into place: os.Link fails when PATH exists, so a file at PATH is never
// replaced, and of two processes creating the same database one wins and
// the other uses the winner's. Creation files of dead processes are
// removed by the next Create of the same path.
package duckfile

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

	duckdb "github.com/duckdb/duckdb-go/v2"
)

const creatingInfix = ".creating-"

var creatingSeq atomic.Int64

// testHookBeforeLink, when set, runs after the new store is made under its
// temporary name and before it is linked into place (tests).
var testHookBeforeLink func()

// Create creates the database at path when there is no file there, with
// init run on it (nil: an empty database), and returns whether it did. A
// file at path is left alone. query is the DSN's "?…" part ("" for none).
func Create(ctx context.Context, path, query string, init func(context.Context, *sql.DB) error) (bool, error) {
	removeStaleCreating(path)
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	tmp := fmt.Sprintf("%s%s%d-%d", path, creatingInfix, os.Getpid(), creatingSeq.Add(1))
	defer removeCreating(tmp)
	if err := createAt(ctx, tmp, query, init); err != nil {
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	if testHookBeforeLink != nil {
		testHookBeforeLink()
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil // another process created it first: use theirs
		}
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	// The link is the commit; make it durable before anyone relies on it.
	if err := syncDir(filepath.Dir(path)); err != nil {
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	return true, nil
}

// WAL is the write-ahead log DuckDB keeps beside a database file.
func WAL(path string) string { return path + ".wal" }

// createAt creates a new database at tmp, runs init on it and closes it
// cleanly: its whole content is in the file, none in a write-ahead log.
func createAt(ctx context.Context, tmp, query string, init func(context.Context, *sql.DB) error) error {
	c, err := duckdb.NewConnector(tmp+query, nil)
	if err != nil {
		return err
	}
	db := sql.OpenDB(c)
	err = db.PingContext(ctx)
	if err == nil && init != nil {
		err = init(ctx, db)
	}
	if err == nil {
		_, err = db.ExecContext(ctx, "CHECKPOINT")
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if _, err := os.Lstat(WAL(tmp)); err == nil {
		return fmt.Errorf("%s left behind after a clean close", WAL(tmp))
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
	os.Remove(WAL(tmp))
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

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
