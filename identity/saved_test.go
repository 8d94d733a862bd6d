package identity

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/crosscheck/crosscheck/identity/synth"
	"github.com/crosscheck/crosscheck/normalize/names"
)

// population fills person (the registry), payment (records with valid
// IDs: the training material) and death (records of registry persons,
// 75% without a usable ID) with a synthetic Chinese population, the same
// for the same sizes. extraDeaths more death records (rids from 400000)
// come from the same generator after the first ones; extraPersons more
// registry persons after those.
type population struct {
	persons, payments, deaths int
	extraDeaths, extraPersons int
}

func (pop population) build(t *testing.T, db *sql.DB, withExtraDeaths, withExtraPersons bool) {
	t.Helper()
	g := synth.New(11, nil, synth.Options{Keys: true, Prefectures: 2, Counties: 5})
	mustExec(t, db, "CREATE OR REPLACE TABLE person ("+canonCols+")")
	mustExec(t, db, "CREATE OR REPLACE TABLE death ("+canonCols+")")
	mustExec(t, db, "CREATE OR REPLACE TABLE payment ("+canonCols+")")
	reg := make([]synth.Person, pop.persons)
	var rows [][]driver.Value
	for i := range reg {
		p := g.Person()
		reg[i] = p
		rows = append(rows, []driver.Value{"reg", int64(i + 1), p.Key, "valid", p.Key, p.Name, names.Normalize(p.Name), p.Gender, p.Birth, p.Region})
	}
	appendRows(t, db, "person", rows)
	rng := g.Rand()
	rows = rows[:0]
	for i := range pop.payments {
		p := reg[rng.IntN(len(reg))]
		r := g.Corrupt(p, rng.IntN(2), "valid")
		rows = append(rows, []driver.Value{"pay", int64(100000 + i), p.Key, "valid", p.Key, r.Name, names.Normalize(r.Name),
			orNil(r.Gender), dateOrNil(r.Birth), orNil(r.Region)})
	}
	appendRows(t, db, "payment", rows)
	death := func(rid int64) []driver.Value {
		p := reg[rng.IntN(len(reg))]
		mode := "mixed"
		if rng.Float64() < 0.25 {
			mode = "valid"
		}
		r := g.Corrupt(p, rng.IntN(3), mode)
		var key driver.Value
		if r.IDStatus == "valid" {
			key = r.ID
		}
		return []driver.Value{"death", rid, orNil(r.ID), r.IDStatus, key, r.Name, names.Normalize(r.Name),
			orNil(r.Gender), dateOrNil(r.Birth), orNil(r.Region)}
	}
	rows = rows[:0]
	for i := range pop.deaths {
		rows = append(rows, death(int64(200000+i)))
	}
	appendRows(t, db, "death", rows)
	// Always draw the extra records, so that the persons after them are
	// the same whether they are inserted or not.
	var extra [][]driver.Value
	for i := range pop.extraDeaths {
		extra = append(extra, death(int64(400000+i)))
	}
	if withExtraDeaths {
		appendRows(t, db, "death", extra)
	}
	if withExtraPersons {
		rows = rows[:0]
		for i := range pop.extraPersons {
			p := g.Person()
			rows = append(rows, []driver.Value{"reg", int64(pop.persons + 1 + i), p.Key, "valid", p.Key, p.Name, names.Normalize(p.Name), p.Gender, p.Birth, p.Region})
		}
		appendRows(t, db, "person", rows)
	}
}

type linkRow struct {
	key, method string
	p           float64
}

func linkRows(t *testing.T, db *sql.DB, where string) map[int64]linkRow {
	t.Helper()
	rows, err := db.Query("SELECT _rid, coalesce(person_key, ''), method, coalesce(match_probability, -1) FROM person_link WHERE " + where)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]linkRow{}
	for rows.Next() {
		var rid int64
		var r linkRow
		if err := rows.Scan(&rid, &r.key, &r.method, &r.p); err != nil {
			t.Fatal(err)
		}
		out[rid] = r
	}
	return out
}

// compareLinks returns the share of records of want with the same person
// key (or both unresolved) in got, and the largest |Δp| over records with
// a probability in both.
func compareLinks(t *testing.T, got, want map[int64]linkRow) (same float64, maxDP float64, within01 float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records linked, want %d", len(got), len(want))
	}
	n, ok, nP, okP := 0, 0, 0, 0
	for rid, w := range want {
		g, found := got[rid]
		if !found {
			t.Fatalf("record %d missing", rid)
		}
		n++
		if g.key == w.key {
			ok++
		}
		if g.p >= 0 && w.p >= 0 {
			nP++
			d := math.Abs(g.p - w.p)
			maxDP = math.Max(maxDP, d)
			if d <= 0.01 {
				okP++
			}
		}
	}
	return float64(ok) / float64(max(n, 1)), maxDP, float64(okP) / float64(max(nP, 1))
}

// TestLinkRecordsSavedModel links new death records with the saved model
// (LinkRecords, reading the registry the first Link prepared and cached)
// and compares them with (a) a full Link of everything with
// the same saved model and (b) a full retrain on everything. Tolerances:
// against (a) every person key equal and |Δp| ≤ 1e-9 (the same model, term
// frequencies counted over the registry alike); against (b) ≥ 99% of the
// new records with the same person key and ≥ 98% with |Δp| ≤ 0.01.
func TestLinkRecordsSavedModel(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on 14,000 records three times")
	}
	ctx := context.Background()
	pop := population{persons: 10000, payments: 3000, deaths: 1000, extraDeaths: 600}

	// The store: everything but the new deaths, linked and trained.
	db := openDB(t)
	pop.build(t, db, false, false)
	if _, err := LinkRecords(ctx, db, Config{}, "death", ""); !errors.Is(err, ErrNoSavedModel) {
		t.Fatalf("LinkRecords before any Link: %v, want ErrNoSavedModel", err)
	}
	first, err := Link(ctx, db, Config{CacheRegistry: true})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Trained || first.Reused {
		t.Fatalf("first Link: trained %v reused %v, want a trained model", first.Trained, first.Reused)
	}
	t.Logf("first Link: threshold %.4f (%s), methods %v", first.Threshold, first.ThresholdChoice.Rule, first.ByMethod)
	saved, err := LoadModel(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if !saved.Trained || !saved.ThresholdAuto || saved.Threshold != first.Threshold || saved.RegistryRecords != 10000 ||
		saved.Training == nil || len(saved.Training.Sessions) != len(saved.Model.Blocking) || !SameDefinition(saved.Model, PersonModel(0)) {
		t.Fatalf("saved model: trained %v auto %v threshold %v registry %d training %v", saved.Trained, saved.ThresholdAuto, saved.Threshold, saved.RegistryRecords, saved.Training != nil)
	}
	for i, c := range saved.Model.Comparisons {
		for j, l := range c.Levels {
			if w := first.Model.Comparisons[i].Levels[j]; l.M != w.M || l.U != w.U {
				t.Fatalf("saved %s/%s m %v u %v, Link used m %v u %v", c.Name, l.Label, l.M, l.U, w.M, w.U)
			}
		}
	}
	before := linkRows(t, db, "true")

	// New death records arrive; only they are linked.
	pop.build(t, db, true, false)
	newRids := "SELECT _rid FROM death WHERE _rid >= 400000"
	sum, err := LinkRecords(ctx, db, Config{}, "death", newRids)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Trained || !sum.Reused || sum.Threshold != saved.Threshold || sum.Records != int64(pop.extraDeaths) {
		t.Fatalf("LinkRecords: trained %v reused %v threshold %v records %d", sum.Trained, sum.Reused, sum.Threshold, sum.Records)
	}
	if !sum.RegistryCached {
		t.Error("LinkRecords prepared the registry again although the first Link cached it (CacheRegistry) and it did not change")
	}
	after := linkRows(t, db, "true")
	if len(after) != len(before)+pop.extraDeaths {
		t.Fatalf("person_link has %d rows, want %d", len(after), len(before)+pop.extraDeaths)
	}
	for rid, w := range before {
		if after[rid] != w {
			t.Fatalf("record %d changed: %v → %v", rid, w, after[rid])
		}
	}
	var nCand int
	if err := db.QueryRow("SELECT count(*) FROM person_link_candidate WHERE _rid >= 400000").Scan(&nCand); err != nil || nCand == 0 {
		t.Fatalf("candidates of the new records: %d, %v", nCand, err)
	}
	incr := linkRows(t, db, "table_name = 'death' AND _rid >= 400000")
	if m := incr; len(m) != pop.extraDeaths {
		t.Fatalf("%d new rows", len(m))
	}
	// Linking them again changes nothing.
	if _, err := LinkRecords(ctx, db, Config{}, "death", newRids); err != nil {
		t.Fatal(err)
	}
	again := linkRows(t, db, "true")
	if len(again) != len(after) {
		t.Fatalf("re-linking: %d rows, want %d", len(again), len(after))
	}
	for rid, w := range after {
		if again[rid] != w {
			t.Fatalf("record %d: %v, then %v", rid, w, again[rid])
		}
	}

	// (a) The full Link with the same saved model (auto mode: no drift).
	full, err := Link(ctx, db, Config{Threshold: saved.Threshold})
	if err != nil {
		t.Fatal(err)
	}
	if full.Trained || !full.Reused {
		t.Fatalf("Link after new deaths: trained %v reused %v (retrain: %v), want the saved model reused", full.Trained, full.Reused, full.Retrain)
	}
	same, maxDP, _ := compareLinks(t, incr, linkRows(t, db, "table_name = 'death' AND _rid >= 400000"))
	t.Logf("LinkRecords vs full Link with the saved model: same person key %.4f, max |Δp| %.2g", same, maxDP)
	if same != 1 || maxDP > 1e-9 {
		t.Errorf("LinkRecords vs full Link with the saved model: same person key %.4f (want 1), max |Δp| %.3g (want ≤ 1e-9)", same, maxDP)
	}

	// (b) A full retrain on all the data, in a database of its own.
	db2 := openDB(t)
	pop.build(t, db2, true, false)
	re, err := Link(ctx, db2, Config{Train: TrainAlways})
	if err != nil {
		t.Fatal(err)
	}
	if !re.Trained {
		t.Fatal("retrain did not train")
	}
	same, maxDP, within := compareLinks(t, incr, linkRows(t, db2, "table_name = 'death' AND _rid >= 400000"))
	t.Logf("saved model vs full retrain (threshold %.4f vs %.4f): same person key %.4f, |Δp| ≤ 0.01 for %.4f, max |Δp| %.3g",
		saved.Threshold, re.Threshold, same, within, maxDP)
	if same < 0.99 || within < 0.98 {
		t.Errorf("saved model vs full retrain: same person key %.4f (want ≥ 0.99), |Δp| ≤ 0.01 for %.4f (want ≥ 0.98)", same, within)
	}
}

// TestLinkRetrainsOnDrift: Link in auto mode reuses the saved model while
// the registry holds about as many persons, and retrains when it grew by
// more than RetrainChange or when the model's definition changed.
func TestLinkRetrainsOnDrift(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on 10,000 records")
	}
	ctx := context.Background()
	pop := population{persons: 6000, payments: 2000, deaths: 500, extraDeaths: 200, extraPersons: 1800}
	db := openDB(t)
	pop.build(t, db, false, false)
	if s, err := Link(ctx, db, Config{CacheRegistry: true}); err != nil || !s.Trained {
		t.Fatalf("first Link: %v, trained %v", err, s != nil && s.Trained)
	}
	pop.build(t, db, true, false)
	s, err := Link(ctx, db, Config{CacheRegistry: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Trained || !s.Reused {
		t.Fatalf("more deaths, same registry: trained %v reused %v (%v), want the saved model", s.Trained, s.Reused, s.Retrain)
	}
	if s, err := LinkRecords(ctx, db, Config{}, "death", "SELECT _rid FROM death WHERE _rid >= 400000"); err != nil || !s.RegistryCached {
		t.Fatalf("LinkRecords with the registry unchanged: %v, read the cached registry: %v", err, s != nil && s.RegistryCached)
	}
	// The registry grows by 30%: the cached registry no longer serves.
	pop.build(t, db, true, true)
	if s, err := LinkRecords(ctx, db, Config{}, "death", "SELECT _rid FROM death WHERE _rid >= 400000"); err != nil || s.RegistryCached {
		t.Fatalf("LinkRecords after the registry changed: %v, read the cached registry: %v", err, s != nil && s.RegistryCached)
	}
	s, err = Link(ctx, db, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Trained || s.Reused || len(s.Retrain) == 0 {
		t.Fatalf("registry +30%%: trained %v reused %v reasons %v, want a retrain", s.Trained, s.Reused, s.Retrain)
	}
	t.Logf("retrained because: %v", s.Retrain)
	// A changed definition: another model.
	m := PersonModel(0)
	m.Blocking = m.Blocking[:5]
	s, err = Link(ctx, db, Config{Model: m})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Trained || s.Reused {
		t.Fatalf("changed definition: trained %v reused %v, want a retrain", s.Trained, s.Reused)
	}
	// Train never: the saved model (now the five-rule one) whatever the drift.
	pop.extraPersons = 0
	pop.build(t, db, true, false) // the registry shrinks back by 23%
	s, err = Link(ctx, db, Config{Train: TrainNever, Model: m})
	if err != nil {
		t.Fatal(err)
	}
	if s.Trained || !s.Reused || len(s.Model.Blocking) != 5 {
		t.Fatalf("train never: trained %v reused %v rules %d", s.Trained, s.Reused, len(s.Model.Blocking))
	}
}

// TestModelFile: a model written to a file by one database's Link is
// reused by a Link in a fresh database of the same data (no training), and
// links every record as the run that trained it did.
func TestModelFile(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on 8,500 records")
	}
	ctx := context.Background()
	pop := population{persons: 6000, payments: 2000, deaths: 500}
	path := filepath.Join(t.TempDir(), "model.json")
	if _, err := ReadModelFile(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v, want fs.ErrNotExist", err)
	}
	db := openDB(t)
	pop.build(t, db, false, false)
	first, err := Link(ctx, db, Config{})
	if err != nil || !first.Trained {
		t.Fatalf("first Link: %v, trained %v", err, first != nil && first.Trained)
	}
	saved, err := LoadModel(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteModelFile(path, saved); err != nil {
		t.Fatal(err)
	}
	got, err := ReadModelFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Trained || got.RegistryRecords != 6000 || got.Threshold != first.Threshold || !got.TrainedAt.Equal(saved.TrainedAt) ||
		got.Training == nil || !SameDefinition(got.Model, PersonModel(0)) || got.Model.Prior != saved.Model.Prior {
		t.Fatalf("read back: trained %v registry %d threshold %v training %v", got.Trained, got.RegistryRecords, got.Threshold, got.Training != nil)
	}
	for i, c := range got.Model.Comparisons {
		for j, l := range c.Levels {
			if w := saved.Model.Comparisons[i].Levels[j]; l.M != w.M || l.U != w.U {
				t.Fatalf("%s/%s: m %v u %v read back, %v %v saved", c.Name, l.Label, l.M, l.U, w.M, w.U)
			}
		}
	}

	// A fresh database of the same data: the file's model, no training.
	db2 := openDB(t)
	pop.build(t, db2, false, false)
	again, err := Link(ctx, db2, Config{Saved: got})
	if err != nil {
		t.Fatal(err)
	}
	if again.Trained || !again.Reused {
		t.Fatalf("Link with the model file: trained %v reused %v (%v), want it reused", again.Trained, again.Reused, again.Retrain)
	}
	want, have := linkRows(t, db, "true"), linkRows(t, db2, "true")
	if len(have) != len(want) {
		t.Fatalf("%d links, want %d", len(have), len(want))
	}
	for rid, w := range want {
		if g := have[rid]; g.key != w.key || g.method != w.method || math.Abs(g.p-w.p) > 1e-9 {
			t.Fatalf("record %d: %v with the model file, %v trained", rid, g, w)
		}
	}
	// The reused model keeps its training date in the new database.
	if s, err := LoadModel(ctx, db2); err != nil || !s.TrainedAt.Equal(saved.TrainedAt) || !s.Trained {
		t.Fatalf("saved in the new database: %v, trained %v at %v", err, s != nil && s.Trained, s)
	}
	// Always retrains whatever the file.
	if s, err := Link(ctx, db2, Config{Saved: got, Train: TrainAlways}); err != nil || !s.Trained || s.Reused {
		t.Fatalf("train always with a model file: %v, trained %v", err, s != nil && s.Trained)
	}
	// A damaged file is an error, not a silent retrain.
	if err := os.WriteFile(path, []byte(`{"format":"crosscheck-linkage-model/1","model":{"comparisons":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadModelFile(path); err == nil {
		t.Fatal("a truncated model file was read without error")
	}
}

// TestLinkRecordsRegistryFingerprint: with the caller's fingerprint of the
// registry (Config.RegistryFingerprint), LinkRecords reads the prepared
// registry cached under that fingerprint without reading the registry and
// links exactly as when it reads it; another fingerprint (the registry
// changed) prepares the registry again and caches it under the new one.
func TestLinkRecordsRegistryFingerprint(t *testing.T) {
	ctx := context.Background()
	pop := population{persons: 3000, payments: 1000, deaths: 300, extraDeaths: 200, extraPersons: 900}
	db := openDB(t)
	pop.build(t, db, false, false)
	if _, err := Link(ctx, db, Config{Train: TrainNever, CacheRegistry: true, RegistryFingerprint: "files:1"}); err != nil {
		t.Fatal(err)
	}
	pop.build(t, db, true, false)
	newRids := "SELECT _rid FROM death WHERE _rid >= 400000"
	newRows := "table_name = 'death' AND _rid >= 400000"
	relink := func(fp string, wantCached bool) map[int64]linkRow {
		t.Helper()
		s, err := LinkRecords(ctx, db, Config{CacheRegistry: true, RegistryFingerprint: fp}, "death", newRids)
		if err != nil {
			t.Fatal(err)
		}
		if s.RegistryCached != wantCached || s.Records != int64(pop.extraDeaths) {
			t.Fatalf("LinkRecords (fingerprint %q): registry cached %v (want %v), %d records", fp, s.RegistryCached, wantCached, s.Records)
		}
		return linkRows(t, db, newRows)
	}
	same := func(what string, a, b map[int64]linkRow) {
		t.Helper()
		if len(a) != len(b) {
			t.Fatalf("%s: %d rows vs %d", what, len(a), len(b))
		}
		for rid, w := range a {
			if b[rid] != w {
				t.Fatalf("%s: record %d: %v vs %v", what, rid, w, b[rid])
			}
		}
	}
	fast := relink("files:1", true)
	// The registry read from its table (no fingerprint given: computed from
	// its rows, which the cache was not written under).
	same("cached registry vs registry read", fast, relink("", false))
	// The registry changes: the caller's fingerprint changes with it.
	pop.build(t, db, true, true)
	changed := relink("files:2", false)
	if again := relink("files:2", true); len(again) != len(changed) {
		t.Fatalf("%d rows, then %d", len(changed), len(again))
	} else {
		same("changed registry, cached vs prepared", changed, again)
	}
	same("changed registry, cached vs registry read", changed, relink("", false))
	relink("files:2", false) // written under files:2 again
	// With the caller's fingerprint the registry's rows are not read: a
	// change behind the caller's back (which its fingerprint would show)
	// goes unseen.
	if _, err := db.Exec("UPDATE person SET name_norm = name_norm || '甲' WHERE _rid = (SELECT min(_rid) FROM person WHERE person_key IS NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	relink("files:2", true)
	var n, want int64
	if err := db.QueryRow("SELECT (SELECT count(*) FROM "+TableRef+"), (SELECT count(*) FROM person WHERE person_key IS NOT NULL)").Scan(&n, &want); err != nil || n != want {
		t.Fatalf("person_link_ref: %d rows (%v), want %d", n, err, want)
	}
}
