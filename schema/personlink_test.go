package schema_test

import (
	"context"
	"slices"
	"testing"

	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/identity"
	"github.com/crosscheck/crosscheck/schema"
)

// TestPersonLinkMatchesIdentity links a small database with package
// identity and compares the person_link it writes with PersonLinkDDL,
// column by column with types: rules checked and tested against
// PersonLinkDDL must meet the table of a real run.
func TestPersonLinkMatchesIdentity(t *testing.T) {
	db := openDB(t)
	exec(t, db, schema.Tables(dataset.Builtin())...)
	exec(t, db, "DROP TABLE "+schema.PersonLink) // identity must write it
	exec(t, db,
		`INSERT INTO person (_source, _file, _row, _rid, id_number, id_number_status, name, name_norm, gender, birth_date, region_code, person_key)
		VALUES ('reg', 'r.csv', 2, 1, '`+pid1+`', 'valid', '张三', '张三', '男', DATE '1990-01-01', '410102001001', '`+pid1+`'),
		       ('reg', 'r.csv', 3, 2, '`+pid2+`', 'valid', '李四', '李四', '女', DATE '1985-02-02', '410103002003', '`+pid2+`')`,
		`INSERT INTO death (_source, _file, _row, _rid, id_number_status, name, name_norm, gender, birth_date, region_code, death_date)
		VALUES ('fire', 'f.csv', 2, 3, 'missing', '张三', '张三', '男', DATE '1990-01-01', '410102001001', DATE '2024-01-01')`,
		`INSERT INTO payment (_source, _file, _row, _rid, payment_id, id_number, id_number_status, name, name_norm, region_code, amount, person_key)
		VALUES ('roll', 'p.csv', 2, 4, 'X1', '`+pid2+`', 'valid', '李四', '李四', '410103002003', 10, '`+pid2+`')`)
	if _, err := identity.Link(context.Background(), db, identity.Config{Train: identity.TrainNever}); err != nil {
		t.Fatal(err)
	}
	got := describe(t, db, schema.PersonLink)

	ref := openDB(t)
	exec(t, ref, schema.PersonLinkDDL)
	want := describe(t, ref, schema.PersonLink)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("person_link as identity writes it:\n  %v\nschema.PersonLinkDDL:\n  %v", got, want)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + schema.PersonLink).Scan(&n); err != nil || n != 4 {
		t.Errorf("person_link has %d rows (%v), want one per record (4)", n, err)
	}
}
