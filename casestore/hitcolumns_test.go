package casestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/casestore/casetest"
	"github.com/crosscheck/crosscheck/schema"
)

// The hits.parquet columns an import requires are columns a run writes
// (schema.HitColumns, the one list), in the run's order; so are the ones it
// reads when present (person_key, route_region). A column renamed or
// dropped in schema fails here rather than in an import of a real run.
func TestRequiredHitColumnsAreRunColumns(t *testing.T) {
	last := -1
	for _, c := range casestore.RequiredHitColumns {
		i := slices.Index(schema.HitColumns, c)
		if i < 0 {
			t.Errorf("RequiredHitColumns has %s, which a run's hits do not (schema.HitColumns)", c)
			continue
		}
		if i < last {
			t.Errorf("RequiredHitColumns: %s is out of the run's order", c)
		}
		last = i
	}
	for _, c := range []string{"person_key", "route_region"} {
		if !slices.Contains(schema.HitColumns, c) {
			t.Errorf("import reads %s when present, which a run's hits do not have", c)
		}
	}
}

// casetest writes the smallest hits file an import takes: exactly the
// required columns, each a column of a run's hits.
func TestCasetestWritesRequiredColumns(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hits.parquet")
	h := casetest.Death("r1", "2024-05", "410102199001011234", "张三", "P1", "低保", "民政", "410102", 100, 2, "2024-01-01")
	if err := casetest.WriteHits(ctx, path, []casetest.Hit{h}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT column_name FROM (DESCRIBE SELECT * FROM read_parquet(?))", path)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	if !slices.Equal(got, casestore.RequiredHitColumns) {
		t.Errorf("casetest.WriteHits columns:\n got  %v\n want %v", got, casestore.RequiredHitColumns)
	}
}
