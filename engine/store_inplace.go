package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/identity"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/rundir"
	"github.com/crosscheck/crosscheck/schema"
)

// An incremental refresh whose previous store holds a saved linkage model
// changes the store in place: the rows of the loaded sources are deleted
// and loaded again, everything else (the kept sources' rows, the links of
// the kept records, the model and the prepared registry, the manifest's
// history) stays where it is, instead of being inserted again row by row.
//
// Directly, when no other process has the store open (DuckDB's file lock:
// a read-write open fails while a reader has the file attached): the
// session opens the store file under a second name, FILE.work, a hard link
// to it, with DuckDB's checkpoints off. Every change the refresh makes
// then goes to that name's write-ahead log, FILE.work.wal, which no
// screener reads (they open FILE and replay FILE.wal only); the file keeps
// the previous version until the refresh's last step, one CHECKPOINT,
// writes the new version into it (DuckDB writes the new blocks to free
// space and commits by writing the file's header). A refresh killed before
// that header write leaves the previous store, one killed after it the new
// one; one that fails closes the session without a checkpoint. The next
// refresh removes FILE.work and its log. The session holds DuckDB's write
// lock on the file throughout (nothing else in the process opens it: the
// loaded sources' previous rows, which the change log compares, are copied
// into FILE.prevrows first), so screeners that open the store meanwhile
// wait until the refresh ends (AttachStore).
//
// When another process has the store open, the next version starts from a
// copy of the store file (FILE.next, one file copy) changed the same way
// and renamed into place, as a rebuilt store is.

// inPlaceWork is the second name (a hard link) under which a direct
// in-place refresh opens the store.
func inPlaceWork(path string) string { return path + ".work" }

// inPlacePrev is the database a direct in-place refresh keeps the loaded
// sources' previous rows in (attached as prev).
func inPlacePrev(path string) string { return path + ".prevrows" }

// openDirect opens the store at path for a direct in-place refresh (see
// above) and returns nil when another process has it open, or when the
// filesystem has no hard links.
func openDirect(ctx context.Context, e job.Engine, path string) (*Session, error) {
	work := inPlaceWork(path)
	if err := os.Link(path, work); err != nil {
		return nil, nil
	}
	e.Database = work
	s, err := Open(ctx, e)
	if err != nil {
		os.Remove(work)
		os.Remove(work + ".wal")
		if strings.Contains(err.Error(), "Could not set lock") {
			return nil, nil
		}
		return nil, err
	}
	// No checkpoint before the commit: neither when the log grows nor
	// when the session is closed after a failure.
	if err := s.Exec(ctx, "SET checkpoint_threshold = '1000000GB'", "PRAGMA disable_checkpoint_on_shutdown"); err != nil {
		s.Close()
		os.Remove(work)
		os.Remove(work + ".wal")
		return nil, err
	}
	return s, nil
}

// keepLoaded copies the rows of the loaded sources from the store (the
// session's database, not yet changed) into a new database at prevRows,
// attached as prev: the change log compares them with the loaded rows.
func (s *Session) keepLoaded(ctx context.Context, roles []dataset.Role, loadPlans []planned, prevRows string) error {
	if err := s.Exec(ctx, fmt.Sprintf("ATTACH %s AS prev", Lit(prevRows))); err != nil {
		return err
	}
	in := sqlList(changedNames(loadPlans))
	done := map[string]bool{}
	for _, p := range loadPlans {
		t := schema.Table(p.role)
		if done[t] {
			continue
		}
		done[t] = true
		exists, err := s.hasTable(ctx, "", t)
		if err != nil {
			return err
		}
		if !exists {
			continue
		}
		if err := s.Exec(ctx, fmt.Sprintf("CREATE TABLE prev.%s AS SELECT * FROM main.%s WHERE list_contains(%s, _source)", Ident(t), Ident(t), in)); err != nil {
			return err
		}
	}
	return nil
}

// commitDirect ends a direct in-place refresh: the quarantine folder of
// the new version replaces the store's, then one checkpoint writes the
// new version into the store file (the commit) and the session is closed.
func commitDirect(ctx context.Context, sess *Session, path, qdir string, log *slog.Logger) error {
	rundir.Step("store.built")
	oldQ := StoreQuarantineDir(path)
	if err := os.RemoveAll(oldQ); err != nil {
		return err
	}
	if _, err := os.Stat(qdir); err == nil {
		if err := os.Rename(qdir, oldQ); err != nil {
			return err
		}
	}
	rundir.Step("store.quarantine")
	t0 := time.Now()
	if err := sess.Exec(ctx, "FORCE CHECKPOINT"); err != nil {
		return fmt.Errorf("store %s: checkpoint: %w", path, err)
	}
	rundir.Step("store.checkpointed")
	if err := sess.Close(); err != nil {
		return err
	}
	log.Info("store: new version written in place", "seconds", time.Since(t0).Seconds())
	return nil
}

// canRefreshInPlace reports whether the store at path can be copied and
// changed in place: it holds the links and a saved linkage model, and no
// write-ahead log is left beside it (its file is the whole database).
func canRefreshInPlace(ctx context.Context, path string) (bool, error) {
	if _, err := os.Stat(path + ".wal"); err == nil {
		return false, nil
	}
	db, err := openStoreRead(ctx, path)
	if err != nil {
		return false, err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE database_name = 'store' AND schema_name = 'main'
		AND table_name IN (?, ?, ?)`, identity.TableLink, identity.TableCandidate, identity.TableInfo).Scan(&n); err != nil {
		return false, err
	}
	if n < 3 {
		return false, nil
	}
	var has bool
	err = db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) > 0 FROM store.%s WHERE key = 'model'", identity.TableInfo)).Scan(&has)
	return has, err
}

// copyFile copies the file from into to (created or truncated).
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// hasTable reports whether the main schema of the attached database db
// ("" for the session's own) has the table.
func (s *Session) hasTable(ctx context.Context, db, table string) (bool, error) {
	cond := "database_name = current_database()"
	if db != "" {
		cond = "database_name = " + Lit(db)
	}
	var exists bool
	err := s.DB.QueryRowContext(ctx, `SELECT count(*) > 0 FROM duckdb_tables() WHERE `+cond+` AND schema_name = 'main' AND table_name = ?`, table).Scan(&exists)
	return exists, err
}

// clearLoaded prepares the store changed in place for the loaded
// sources: their rows are deleted from their roles' tables, and the
// tables of roles the previous store does not have are created.
func (s *Session) clearLoaded(ctx context.Context, roles []dataset.Role, loadPlans []planned) error {
	loaded := changedNames(loadPlans)
	tables := map[string]bool{}
	for _, p := range loadPlans {
		tables[schema.Table(p.role)] = true
	}
	for _, r := range roles {
		exists, err := s.hasTable(ctx, "", schema.Table(r))
		if err != nil {
			return err
		}
		if !exists {
			if err := s.createTables(ctx, []dataset.Role{r}); err != nil {
				return err
			}
			continue
		}
		if len(loaded) == 0 || !tables[schema.Table(r)] {
			continue
		}
		if err := s.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE list_contains(%s, _source)", Ident(schema.Table(r)), sqlList(loaded))); err != nil {
			return err
		}
	}
	return nil
}

// copyQuarantine copies the quarantine files of the kept sources from the
// previous store's folder oldQ into the next one's, newQ.
func copyQuarantine(kept []string, oldQ, newQ string) error {
	for _, k := range kept {
		b, err := os.ReadFile(filepath.Join(oldQ, k+".csv"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.MkdirAll(newQ, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(newQ, k+".csv"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
