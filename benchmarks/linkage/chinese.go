package linkbench

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/crosscheck/crosscheck/identity"
	"github.com/crosscheck/crosscheck/identity/linkage"
	"github.com/crosscheck/crosscheck/identity/synth"
)

// ChineseOptions shape the synthetic deduplication benchmark.
type ChineseOptions struct {
	Records int     // total records (default 1,000,000)
	DupRate float64 // share of records that duplicate an earlier person (default 0.2)
	Seed    uint64
	// NamesDir holds surname_share.csv and given_char_share.csv; when they
	// cannot be read the generator's small built-in table is used.
	NamesDir string
}

// RunChinese generates Records person records (Chinese names drawn from
// national frequencies, birth dates 1930-2010, 12-digit village codes of
// one province, 1% twins), of which DupRate are duplicates of earlier
// persons with 0-2 errors each (homophones, substituted or dropped
// characters, birth-date errors, missing or coarser regions, missing
// gender), and deduplicates them with identity.PersonModel: pinyin keys,
// preparation, u sampling, EM, scoring, evaluation and clustering.
// Result.Seconds covers everything from generation on; DedupeSeconds the
// deduplication alone (pinyin keys, preparation, training, scoring,
// clustering).
func RunChinese(ctx context.Context, db *sql.DB, opt ChineseOptions, threshold float64) (*Result, error) {
	if opt.Records <= 0 {
		opt.Records = 1_000_000
	}
	if opt.DupRate <= 0 {
		opt.DupRate = 0.2
	}
	t0 := time.Now()
	var notes []string
	sh, err := synth.LoadShares(opt.NamesDir)
	if err != nil || opt.NamesDir == "" {
		sh = synth.DefaultShares()
		notes = append(notes, "names: built-in frequency table (shared name tables not found)")
	} else {
		notes = append(notes, fmt.Sprintf("names: %d surnames, %d given-name characters from %s", len(sh.Surnames), len(sh.Given), opt.NamesDir))
	}
	if err := generate(ctx, db, sh, opt); err != nil {
		return nil, err
	}
	tGen := time.Since(t0)

	t1 := time.Now()
	if err := identity.Prepare(ctx, db, "synth", "synth_prep"); err != nil {
		return nil, err
	}
	tPrep := time.Since(t1)

	t1 = time.Now()
	m := identity.PersonModel(1.0 / float64(opt.Records))
	in := linkage.Input{Left: "synth_prep", ID: "__id"}
	rep, err := m.Train(ctx, db, in, "synth_pairs", linkage.TrainOptions{Seed: int64(opt.Seed)})
	if err != nil {
		return nil, err
	}
	tTrain := time.Since(t1)

	t1 = time.Now()
	if err := m.Score(ctx, db, "synth_pairs", "synth_scored", 0); err != nil {
		return nil, err
	}
	tScore := time.Since(t1)

	t1 = time.Now()
	if _, err := db.ExecContext(ctx, "CREATE OR REPLACE TABLE synth_truth AS SELECT __id AS id, entity FROM synth"); err != nil {
		return nil, err
	}
	gate := identity.LinkableNameSQL(m)
	res, err := Evaluate(ctx, db, "synth_scored", "synth_truth", "synth_truth", true, gate, threshold)
	if err != nil {
		return nil, err
	}
	if err := EvaluateClusters(ctx, db, res, "synth_scored", "synth_truth", gate); err != nil {
		return nil, err
	}
	tEval := time.Since(t1)
	t1 = time.Now()
	if _, err := linkage.Cluster(ctx, db, "synth_scored", linkage.Weight(threshold), gate); err != nil {
		return nil, err
	}
	tCluster := time.Since(t1)
	res.Name = fmt.Sprintf("synthetic Chinese persons (deduplicate %d records)", opt.Records)
	res.Records, res.Report, res.Model, res.Scored, res.Dedupe = int64(opt.Records), rep, m, "synth_scored", true
	res.Seconds = time.Since(t0).Seconds()
	res.DedupeSeconds = (tPrep + tTrain + tScore + tCluster).Seconds()
	res.PeakRSSMiB = PeakRSSMiB()
	res.Notes = append(notes,
		fmt.Sprintf("stages: generate+load %.1f s, pinyin+prepare %.1f s, u sample+pairs+EM %.1f s, score %.1f s, evaluate %.1f s, cluster %.1f s",
			tGen.Seconds(), tPrep.Seconds(), tTrain.Seconds(), tScore.Seconds(), tEval.Seconds(), tCluster.Seconds()),
		fmt.Sprintf("deduplication alone (pinyin keys to clusters): %.1f s", res.DedupeSeconds),
		"a pair is a predicted match when p ≥ threshold and its name level may link (identity.LinkableNameSQL)")
	return res, nil
}

// generate creates table synth (__id, entity, name, gender, birth_date,
// region_code, id_number) through the appender.
func generate(ctx context.Context, db *sql.DB, sh *synth.Shares, opt ChineseOptions) error {
	if _, err := db.ExecContext(ctx, `CREATE OR REPLACE TABLE synth (__id BIGINT, entity BIGINT, name VARCHAR, gender VARCHAR,
		birth_date DATE, region_code VARCHAR, id_number VARCHAR)`); err != nil {
		return err
	}
	g := synth.New(opt.Seed+1, sh, synth.Options{})
	rng := g.Rand()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		app, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", "synth")
		if err != nil {
			return err
		}
		persons := make([]synth.Person, 0, opt.Records)
		nv := func(s string) driver.Value {
			if s == "" {
				return nil
			}
			return s
		}
		for i := range opt.Records {
			var r synth.Record
			var entity int
			if len(persons) > 0 && rng.Float64() < opt.DupRate {
				entity = rng.IntN(len(persons))
				r = g.Corrupt(persons[entity], rng.IntN(3), "missing")
			} else {
				p := g.Person()
				entity = len(persons)
				persons = append(persons, p)
				r = synth.Record{Name: p.Name, Gender: p.Gender, Birth: p.Birth, Region: p.Region}
			}
			var birth driver.Value
			if !r.Birth.IsZero() {
				birth = r.Birth
			}
			if err := app.AppendRow(int64(i+1), int64(entity), r.Name, nv(r.Gender), birth, nv(r.Region), nil); err != nil {
				app.Close()
				return err
			}
		}
		return app.Close()
	})
}
