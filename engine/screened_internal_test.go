package engine

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/schema"
)

// screened is a view over payment (no second copy of every payment in
// memory), and prepareRules replaces the screened table a database file of
// an older version holds instead of failing on it.
func TestScreenedViewReplacesOldTable(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "old.duckdb")
	s, err := Open(ctx, job.Engine{Database: db, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Exec(ctx, schema.Tables(dataset.Builtin())...); err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(ctx, schema.CatalogueInserts([]schema.Program{{Code: "P1", Name: "低保", Department: "民政"}})...); err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(ctx, `INSERT INTO payment (_source, _file, _row, _rid, payment_id, program_code, period, amount) VALUES
		('roll', 'r.csv', 2, 11, 'X1', 'P1', '2024-05', 100), ('roll', 'r.csv', 3, 12, 'X2', 'P1', '2024-04', 50)`,
		// What an older version left: screened as a table, with a stale row.
		`CREATE TABLE screened AS SELECT * FROM payment WHERE _rid = 12`); err != nil {
		t.Fatal(err)
	}
	j := &job.Job{Periods: []string{"2024-05"}}
	for range 2 { // and again over the view it made
		if err := s.prepareRules(ctx, j); err != nil {
			t.Fatalf("prepareRules over an old screened table: %v", err)
		}
	}
	var views, tables int
	if err := s.DB.QueryRow(`SELECT (SELECT count(*) FROM duckdb_views() WHERE view_name = 'screened'),
		(SELECT count(*) FROM duckdb_tables() WHERE table_name = 'screened')`).Scan(&views, &tables); err != nil {
		t.Fatal(err)
	}
	if views != 1 || tables != 0 {
		t.Errorf("screened: %d views, %d tables; want the view only", views, tables)
	}
	var rid int64
	var name string
	if err := s.DB.QueryRow(`SELECT _rid, program_name FROM screened`).Scan(&rid, &name); err != nil || rid != 11 || name != "低保" {
		t.Errorf("screened holds _rid %d, program %q (%v); want the May payment 11 of 低保 only", rid, name, err)
	}
}
