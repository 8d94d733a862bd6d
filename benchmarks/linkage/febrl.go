package linkbench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crosscheck/crosscheck/identity/linkage"
)

var febrlCols = []string{"rec_id", "given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state", "date_of_birth", "soc_sec_id"}

// loadFEBRL reads a FEBRL CSV (", " separated, header row) into table t
// with an id (row number + offset), the entity number from rec_id and the
// trimmed columns (empty → NULL), and the truth table t_truth(id, entity).
func loadFEBRL(ctx context.Context, db *sql.DB, path, t string, idOffset int64) (int64, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, err
	}
	var names, sel []string
	for _, c := range febrlCols {
		names = append(names, "'"+c+"'")
		sel = append(sel, fmt.Sprintf("nullif(trim(%s), '') AS %s", c, c))
	}
	q := fmt.Sprintf(`CREATE OR REPLACE TABLE %[1]s AS
SELECT row_number() OVER () + %[4]d AS id, regexp_extract(trim(rec_id), 'rec-([0-9]+)', 1)::BIGINT AS entity, %[2]s
FROM read_csv('%[3]s', header = true, all_varchar = true, delim = ',', quote = '"', names = [%[5]s])`,
		t, strings.Join(sel, ", "), strings.ReplaceAll(path, "'", "''"), idOffset, strings.Join(names, ", "))
	if _, err := db.ExecContext(ctx, q); err != nil {
		return 0, fmt.Errorf("load %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TABLE %s_truth AS SELECT id, entity FROM %s", t, t)); err != nil {
		return 0, err
	}
	var n int64
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+t).Scan(&n)
	return n, err
}

// FEBRLModel is the model for FEBRL records: names compared with
// Jaro-Winkler (term-frequency adjusted on exact agreement), date of birth
// and social-security number with Levenshtein, address fields exactly or
// with Jaro-Winkler. Blocking: full name; date of birth; social-security
// number; postcode and street number; surname and postcode; first letters
// of the names and birth year.
func FEBRLModel() *linkage.Model {
	return &linkage.Model{
		Comparisons: []linkage.Comparison{
			linkage.JaroWinklerAtThresholds("given_name", "given_name", true, 0.92, 0.8),
			linkage.JaroWinklerAtThresholds("surname", "surname", true, 0.92, 0.8),
			linkage.LevenshteinAtThresholds("date_of_birth", "date_of_birth", false, 1, 2),
			linkage.LevenshteinAtThresholds("soc_sec_id", "soc_sec_id", false, 1, 2),
			linkage.ExactMatch("street_number", "street_number", true),
			linkage.LevenshteinAtThresholds("postcode", "postcode", true, 1),
			linkage.JaroWinklerAtThresholds("suburb", "suburb", true, 0.9),
			linkage.JaroWinklerAtThresholds("address_1", "address_1", true, 0.9, 0.8),
			linkage.ExactMatch("state", "state", true),
		},
		Blocking: []string{
			"l.given_name = r.given_name AND l.surname = r.surname",
			"l.date_of_birth = r.date_of_birth",
			"l.soc_sec_id = r.soc_sec_id",
			"l.postcode = r.postcode AND l.street_number = r.street_number",
			"l.surname = r.surname AND l.postcode = r.postcode",
			"left(l.given_name, 1) = left(r.given_name, 1) AND left(l.surname, 1) = left(r.surname, 1) AND left(l.date_of_birth, 4) = left(r.date_of_birth, 4)",
		},
		Prior: 1e-4, // starting value; estimated
	}
}

// RunFEBRL4 links dataset4a against dataset4b (5,000 × 5,000, 5,000 true
// links).
func RunFEBRL4(ctx context.Context, db *sql.DB, dir string, threshold float64) (*Result, error) {
	t0 := time.Now()
	na, err := loadFEBRL(ctx, db, filepath.Join(dir, "febrl", "dataset4a.csv"), "febrl4a", 0)
	if err != nil {
		return nil, err
	}
	nb, err := loadFEBRL(ctx, db, filepath.Join(dir, "febrl", "dataset4b.csv"), "febrl4b", 1_000_000)
	if err != nil {
		return nil, err
	}
	m := FEBRLModel()
	in := linkage.Input{Left: "febrl4a", Right: "febrl4b", ID: "id"}
	rep, err := m.Train(ctx, db, in, "febrl4_pairs", linkage.TrainOptions{Seed: 1})
	if err != nil {
		return nil, err
	}
	if err := m.Score(ctx, db, "febrl4_pairs", "febrl4_scored", 0); err != nil {
		return nil, err
	}
	res, err := Evaluate(ctx, db, "febrl4_scored", "febrl4a_truth", "febrl4b_truth", false, "", threshold)
	if err != nil {
		return nil, err
	}
	res.Name, res.Records, res.Report, res.Model, res.Scored = "FEBRL 4 (4a × 4b link)", na+nb, rep, m, "febrl4_scored"
	res.Seconds = time.Since(t0).Seconds()
	return res, nil
}

// RunFEBRL3 deduplicates dataset3 (5,000 records, 2,000 entities, 6,538
// true pairs).
func RunFEBRL3(ctx context.Context, db *sql.DB, dir string, threshold float64) (*Result, error) {
	t0 := time.Now()
	n, err := loadFEBRL(ctx, db, filepath.Join(dir, "febrl", "dataset3.csv"), "febrl3", 0)
	if err != nil {
		return nil, err
	}
	m := FEBRLModel()
	in := linkage.Input{Left: "febrl3", ID: "id"}
	rep, err := m.Train(ctx, db, in, "febrl3_pairs", linkage.TrainOptions{Seed: 1})
	if err != nil {
		return nil, err
	}
	if err := m.Score(ctx, db, "febrl3_pairs", "febrl3_scored", 0); err != nil {
		return nil, err
	}
	res, err := Evaluate(ctx, db, "febrl3_scored", "febrl3_truth", "febrl3_truth", true, "", threshold)
	if err != nil {
		return nil, err
	}
	if err := EvaluateClusters(ctx, db, res, "febrl3_scored", "febrl3_truth", ""); err != nil {
		return nil, err
	}
	res.Name, res.Records, res.Report, res.Model, res.Scored, res.Dedupe = "FEBRL 3 (deduplicate)", n, rep, m, "febrl3_scored", true
	res.Seconds = time.Since(t0).Seconds()
	return res, nil
}

// Fake1000Model is the model for Splink's fake_1000: first name and
// surname with Jaro-Winkler (term-frequency adjusted) and a level for a
// forename-surname swap, date of birth
// (exact, transposed, one field different, within a year), city exactly
// (term-frequency adjusted), email exactly, by its user part or with
// Jaro-Winkler. Blocking: surname; first name; date of birth; email user;
// first two letters of both names; city and first letter of the surname;
// first name equal to the other's surname (both ways).
func Fake1000Model() *linkage.Model {
	dob := linkage.DateComparison("dob", "dob_date", 366)
	dob.Columns = []string{"dob"} // the text the blocking rules use
	email := linkage.Comparison{Name: "email", Levels: []linkage.Level{
		linkage.NullLevel("email"),
		linkage.ExactLevel("email", true),
		{Label: "same user part", When: "l.email_user = r.email_user"},
		{Label: "Jaro-Winkler ≥ 0.88", When: "jaro_winkler_similarity(l.email, r.email) >= 0.88"},
		linkage.ElseLevel(),
	}}
	// Forename and surname are often swapped: a level for that in each.
	swapped := func(c linkage.Comparison, other string) linkage.Comparison {
		n := len(c.Levels)
		lv := linkage.Level{Label: "equals the other's " + other, When: fmt.Sprintf("l.%s = r.%s", c.Name, other)}
		c.Levels = append(c.Levels[:n-1:n-1], lv, c.Levels[n-1])
		for i := range c.Levels {
			c.Levels[i].M, c.Levels[i].U = 0, 0
		}
		return linkage.StartingValues(c)
	}
	return &linkage.Model{
		Comparisons: []linkage.Comparison{
			swapped(linkage.JaroWinklerAtThresholds("first_name", "first_name", true, 0.92, 0.8), "surname"),
			swapped(linkage.JaroWinklerAtThresholds("surname", "surname", true, 0.92, 0.8), "first_name"),
			dob,
			linkage.ExactMatch("city", "city", true),
			linkage.StartingValues(email),
		},
		Blocking: []string{
			"l.surname = r.surname",
			"l.first_name = r.first_name",
			"l.dob = r.dob",
			"l.email_user = r.email_user",
			"left(l.first_name, 2) = left(r.first_name, 2) AND left(l.surname, 2) = left(r.surname, 2)",
			"l.city = r.city AND left(l.surname, 1) = left(r.surname, 1)",
			"l.first_name = r.surname",
			"l.surname = r.first_name",
		},
		Prior: 1e-3,
	}
}

// RunFake1000 deduplicates Splink's fake_1000 (1,000 records, 251
// clusters, 2,031 true pairs).
func RunFake1000(ctx context.Context, db *sql.DB, dir string, threshold float64) (*Result, error) {
	t0 := time.Now()
	path := filepath.Join(dir, "splink_fake_1000", "fake_1000.csv")
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	q := fmt.Sprintf(`CREATE OR REPLACE TABLE fake1000 AS
SELECT unique_id::BIGINT AS id, cluster::BIGINT AS entity,
  nullif(lower(trim(first_name)), '') AS first_name, nullif(lower(trim(surname)), '') AS surname,
  nullif(trim(dob), '') AS dob, try_cast(nullif(trim(dob), '') AS DATE) AS dob_date,
  nullif(lower(trim(city)), '') AS city, nullif(lower(trim(email)), '') AS email,
  nullif(split_part(lower(trim(email)), '@', 1), '') AS email_user
FROM read_csv('%s', header = true, all_varchar = true)`, strings.ReplaceAll(path, "'", "''"))
	if _, err := db.ExecContext(ctx, q); err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, "CREATE OR REPLACE TABLE fake1000_truth AS SELECT id, entity FROM fake1000"); err != nil {
		return nil, err
	}
	m := Fake1000Model()
	in := linkage.Input{Left: "fake1000", ID: "id"}
	rep, err := m.Train(ctx, db, in, "fake1000_pairs", linkage.TrainOptions{Seed: 1})
	if err != nil {
		return nil, err
	}
	if err := m.Score(ctx, db, "fake1000_pairs", "fake1000_scored", 0); err != nil {
		return nil, err
	}
	res, err := Evaluate(ctx, db, "fake1000_scored", "fake1000_truth", "fake1000_truth", true, "", threshold)
	if err != nil {
		return nil, err
	}
	if err := EvaluateClusters(ctx, db, res, "fake1000_scored", "fake1000_truth", ""); err != nil {
		return nil, err
	}
	res.Name, res.Records, res.Report, res.Model, res.Scored, res.Dedupe = "Splink fake_1000 (deduplicate)", 1000, rep, m, "fake1000_scored", true
	res.Seconds = time.Since(t0).Seconds()
	return res, nil
}
