package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/identity"
	"github.com/crosscheck/crosscheck/schema"
)

// An incremental refresh whose previous store holds a saved linkage model
// starts the next version from a copy of the previous store file (one
// file copy, copy_file_range on Linux) and changes it in place: the rows
// of the loaded sources are deleted and loaded again, everything else
// (the kept sources' rows, the links of the kept records, the model and
// the prepared registry, the manifest's history) stays where it is,
// instead of being inserted again row by row. The copy is still built
// beside the store and renamed into place, so a failed refresh leaves the
// previous store.

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

// clearLoaded prepares the copied store for the loaded sources: their
// rows are deleted from the tables that exist, and the tables of roles
// the previous store does not have are created.
func (s *Session) clearLoaded(ctx context.Context, roles []dataset.Role, loaded []string) error {
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
		if len(loaded) == 0 {
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
