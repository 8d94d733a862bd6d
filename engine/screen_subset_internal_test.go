package engine

import (
	"context"
	"testing"

	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/rules"
)

// TestRowidRanges checks the rowid ranges payeeViews reads a reference
// table by: every rowid admitted, at most n ranges, split at the largest gaps.
func TestRowidRanges(t *testing.T) {
	for _, c := range []struct {
		ids  []int64
		n    int
		want string
	}{
		{nil, 4, "false"},
		{[]int64{7}, 4, "rowid BETWEEN 7 AND 7"},
		{[]int64{1, 2, 3}, 4, "rowid BETWEEN 1 AND 3"},
		{[]int64{1, 2, 3, 10, 11, 100}, 1, "rowid BETWEEN 1 AND 100"},
		{[]int64{1, 2, 3, 10, 11, 100}, 2, "rowid BETWEEN 1 AND 11 OR rowid BETWEEN 100 AND 100"},
		{[]int64{1, 2, 3, 10, 11, 100}, 3, "rowid BETWEEN 1 AND 3 OR rowid BETWEEN 10 AND 11 OR rowid BETWEEN 100 AND 100"},
		{[]int64{1, 2, 3, 10, 11, 100}, 32, "rowid BETWEEN 1 AND 3 OR rowid BETWEEN 10 AND 11 OR rowid BETWEEN 100 AND 100"},
		// equal gaps: the first ones split
		{[]int64{0, 5, 10, 15}, 2, "rowid BETWEEN 0 AND 0 OR rowid BETWEEN 5 AND 15"},
	} {
		if got := rowidRanges(c.ids, c.n); got != c.want {
			t.Errorf("rowidRanges(%v, %d) = %q, want %q", c.ids, c.n, got, c.want)
		}
	}
}

// TestRuleReads checks that the tables a roll screening does not copy
// are those no rule names as a table: a word in a string, a column or a
// CTE's name does not count as reading the table.
func TestRuleReads(t *testing.T) {
	ctx := context.Background()
	sess, err := Open(ctx, job.Engine{Database: ":memory:"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	conn, err := sess.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := &Screener{comp: []rules.Compiled{
		{ID: "a", SQL: `WITH m AS (SELECT * FROM "Marriage") SELECT 'ssc' AS ssc, p.pension FROM person p JOIN (SELECT * FROM vehicle) v USING (k), m`},
		{ID: "b", SQL: `SELECT _rid FROM screened WHERE person_key IN (SELECT person_key FROM death)`},
	}}
	got := s.ruleReads(ctx, conn)
	for _, tb := range []string{"marriage", "person", "vehicle", "screened", "death"} {
		if !got[tb] {
			t.Errorf("ruleReads: %s not read (%v)", tb, got)
		}
	}
	for _, tb := range []string{"ssc", "pension"} {
		if got[tb] {
			t.Errorf("ruleReads: %s read (%v)", tb, got)
		}
	}
	// a statement DuckDB cannot parse: every table counts as read
	s = &Screener{comp: []rules.Compiled{{ID: "c", SQL: "SELECT FROM WHERE ("}}}
	if got := s.ruleReads(ctx, conn); got != nil {
		t.Errorf("ruleReads of an unparsable rule = %v, want nil", got)
	}
}
