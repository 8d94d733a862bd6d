package identity

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/crosscheck/crosscheck/identity/synth"
	"github.com/crosscheck/crosscheck/normalize/names"
)

// appendRows appends rows to a table through DuckDB's appender.
func appendRows(t *testing.T, db *sql.DB, table string, rows [][]driver.Value) {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		app, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", table)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := app.AppendRow(r...); err != nil {
				app.Close()
				return err
			}
		}
		return app.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func orNil(s string) driver.Value {
	if s == "" {
		return nil
	}
	return s
}

func dateOrNil(d time.Time) driver.Value {
	if d.IsZero() {
		return nil
	}
	return d
}

// TestLinkTrained trains the model on a synthetic population: a registry of
// 20,000 persons, 5,000 payment rows with valid IDs (the training material)
// and 2,000 death records without usable IDs, 1,500 of registry persons and
// 500 of persons the registry does not hold.
func TestLinkTrained(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on 27,000 records")
	}
	ctx := context.Background()
	db := openDB(t)
	g := synth.New(7, nil, synth.Options{Keys: true, Prefectures: 2, Counties: 5})
	mustExec(t, db, "CREATE TABLE person ("+canonCols+")")
	mustExec(t, db, "CREATE TABLE death ("+canonCols+")")
	mustExec(t, db, "CREATE TABLE payment ("+canonCols+")")
	const nReg = 20000
	reg := make([]synth.Person, nReg)
	var rows [][]driver.Value
	for i := range reg {
		p := g.Person()
		reg[i] = p
		rows = append(rows, []driver.Value{"reg", int64(i + 1), p.Key, "valid", p.Key, p.Name, names.Normalize(p.Name), p.Gender, p.Birth, p.Region})
	}
	appendRows(t, db, "person", rows)
	rows = rows[:0]
	rng := g.Rand()
	for i := range 5000 {
		p := reg[rng.IntN(nReg)]
		r := g.Corrupt(p, rng.IntN(2), "valid")
		rows = append(rows, []driver.Value{"pay", int64(100000 + i), p.Key, "valid", p.Key, r.Name, names.Normalize(r.Name),
			orNil(r.Gender), dateOrNil(r.Birth), orNil(r.Region)})
	}
	appendRows(t, db, "payment", rows)
	rows = rows[:0]
	truth := map[int64]string{}
	for i := range 2000 {
		var p synth.Person
		if i < 1500 {
			p = reg[rng.IntN(nReg)]
		} else {
			p = g.Person() // not in the registry
		}
		r := g.Corrupt(p, rng.IntN(3), "mixed")
		rid := int64(200000 + i)
		if i < 1500 {
			truth[rid] = p.Key
		}
		var key driver.Value
		if r.IDStatus == "valid" {
			key = r.ID
			truth[rid] = r.ID
			if i >= 1500 {
				truth[rid] = "" // a valid damaged ID of an unknown person: not our concern
			}
		}
		rows = append(rows, []driver.Value{"death", rid, orNil(r.ID), r.IDStatus, key, r.Name, names.Normalize(r.Name),
			orNil(r.Gender), dateOrNil(r.Birth), orNil(r.Region)})
	}
	appendRows(t, db, "death", rows)

	t0 := time.Now()
	sum, err := Link(ctx, db, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Link: %v, trained %v, prior %.3g, pairs %d, methods %v", time.Since(t0), sum.Trained, sum.Model.Prior, sum.Pairs, sum.ByMethod)
	if !sum.Trained {
		t.Fatal("model not trained")
	}
	for _, s := range sum.Training.Sessions {
		t.Logf("EM session %q: %.0f pairs, λ %.3f, %d iterations, estimated %v", s.Rule, s.Pairs, s.Lambda, s.Iterations, s.Estimated)
	}
	for _, c := range sum.Model.Comparisons {
		for _, l := range c.Levels {
			if !l.Null {
				t.Logf("  %-10s %-36s m %.4f u %.6f w %+.2f", c.Name, l.Label, l.M, l.U, l.Weight())
			}
		}
	}
	res, err := db.Query(`SELECT _rid, coalesce(person_key, ''), method FROM person_link WHERE table_name = 'death' AND method IN ('probabilistic', 'unresolved')`)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	var tp, fp, fn, tn int
	for res.Next() {
		var rid int64
		var key, method string
		if err := res.Scan(&rid, &key, &method); err != nil {
			t.Fatal(err)
		}
		want := truth[rid]
		switch {
		case key != "" && key == want:
			tp++
		case key != "":
			fp++
			if fp <= 5 {
				ex, _ := Explain(ctx, db, "death", rid)
				t.Logf("false link:\n%s", ex)
			}
		case want != "":
			fn++
		default:
			tn++
		}
	}
	prec := float64(tp) / float64(max(tp+fp, 1))
	rec := float64(tp) / float64(max(tp+fn, 1))
	t.Logf("probabilistic links: %d right, %d wrong, %d missed, %d rightly unresolved: precision %.4f recall %.4f", tp, fp, fn, tn, prec, rec)
	if prec < 0.99 || rec < 0.80 {
		t.Errorf("precision %.4f (want ≥ 0.99), recall %.4f (want ≥ 0.80)", prec, rec)
	}
}
