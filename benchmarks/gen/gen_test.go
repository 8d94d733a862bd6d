package gen_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/benchmarks/gen"
	"github.com/crosscheck/crosscheck/benchmarks/harness"
	"github.com/crosscheck/crosscheck/connectors"
	_ "github.com/crosscheck/crosscheck/connectors/csv"
	_ "github.com/crosscheck/crosscheck/connectors/parquet"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

const testPersons = 2000

var (
	shared     string
	sharedOnce sync.Once
	sharedErr  error
)

// province generates one small province shared by the tests.
func province(t *testing.T) string {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "crosscheck-gen-test-")
		if err != nil {
			sharedErr = err
			return
		}
		shared = dir
		_, sharedErr = gen.Generate(context.Background(), gen.Config{Persons: testPersons, Seed: 42, Out: dir})
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != "" {
		os.RemoveAll(shared)
	}
	os.Exit(code)
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	ctx := context.Background()
	// Different worker counts must not change a byte.
	if _, err := gen.Generate(ctx, gen.Config{Persons: testPersons, Seed: 7, Out: a, Workers: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Generate(ctx, gen.Config{Persons: testPersons, Seed: 7, Out: b, Workers: 3}); err != nil {
		t.Fatal(err)
	}
	ta, tb := readTree(t, a), readTree(t, b)
	if len(ta) != len(tb) || len(ta) < 20 {
		t.Fatalf("file counts %d and %d", len(ta), len(tb))
	}
	for name, x := range ta {
		if !bytes.Equal(x, tb[name]) {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
	}
	c := t.TempDir()
	if _, err := gen.Generate(ctx, gen.Config{Persons: testPersons, Seed: 8, Out: c}); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ta[gen.TruthFile], readTree(t, c)[gen.TruthFile]) {
		t.Error("another seed gave the same truth")
	}
}

// column reads one column of every file of a job source through its
// connector.
func column(t *testing.T, j *job.Job, s job.Source, col string) []string {
	t.Helper()
	src, err := connectors.Default.Build(s.Connector, s.Name, j.Resolve(s.Path), s.Options)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := src.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var out []string
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Problem != "" {
			t.Fatalf("source %s row %d: %s %s", s.Name, rec.Row, rec.Problem, rec.Detail)
		}
		i := -1
		for k, h := range rec.Header.Names {
			if h == col {
				i = k
			}
		}
		if i < 0 {
			t.Fatalf("source %s: no column %s", s.Name, col)
		}
		out = append(out, rec.Values[i])
	}
}

func TestTruthReconciles(t *testing.T) {
	dir := province(t)
	j, err := job.Load(filepath.Join(dir, gen.JobFile))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, s := range j.Sources {
		if s.Role != "payment" {
			continue
		}
		for _, id := range column(t, j, s, s.Columns["payment_id"].Column) {
			if ids[id] {
				t.Fatalf("payment_id %s twice", id)
			}
			ids[id] = true
		}
	}
	sum, err := gen.ReadSummary(dir)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(ids)) != sum.Payments || sum.Persons != testPersons {
		t.Fatalf("rolls hold %d payments, gen.json says %d; persons %d", len(ids), sum.Payments, sum.Persons)
	}
	truth, err := harness.ReadTruth(filepath.Join(dir, gen.TruthFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(truth) == 0 {
		t.Fatal("no truth rows")
	}
	cats := map[string]bool{}
	for _, r := range truth {
		if !ids[r.PaymentID] {
			t.Fatalf("truth payment %s is on no roll", r.PaymentID)
		}
		if gen.FamilyCategory[r.Family] != r.Category {
			t.Fatalf("truth row %v: family and category disagree", r)
		}
		if r.Kind == "natural" {
			t.Errorf("truth row %v was not injected: the clean rolls should produce no finding", r)
		}
		cats[r.Category] = true
	}
	for _, c := range []string{gen.CatDeceased, gen.CatIneligible, gen.CatOneCard} {
		if !cats[c] {
			t.Errorf("no truth of category %s in %d persons", c, testPersons)
		}
	}
	noise, err := harness.ReadNoise(filepath.Join(dir, gen.NoiseFile))
	if err != nil {
		t.Fatal(err)
	}
	for pid := range noise {
		if !ids[pid] {
			t.Fatalf("noise payment %s is on no roll", pid)
		}
	}
}

func TestRegistryIDs(t *testing.T) {
	dir := province(t)
	j, err := job.Load(filepath.Join(dir, gen.JobFile))
	if err != nil {
		t.Fatal(err)
	}
	var huji job.Source
	for _, s := range j.Sources {
		if s.Name == "huji" {
			huji = s
		}
	}
	ids := column(t, j, huji, "公民身份号码")
	births := column(t, j, huji, "出生日期")
	sexes := column(t, j, huji, "性别")
	if len(ids) > testPersons*101/100 || len(ids) < testPersons*99/100 { // unregistered recipients have no row, second IDs two
		t.Fatalf("registry has %d persons, want %d", len(ids), testPersons)
	}
	seen := map[string]bool{}
	corrected := 0 // birth_corrected: the registry's birth date moved 1-300 days
	for i, id := range ids {
		r := idnumber.Normalize(id)
		if r.Status != idnumber.StatusValid || r.Canonical != id {
			t.Fatalf("registry ID %s: %s %s", id, r.Status, r.Reason)
		}
		if !strings.HasPrefix(id, "41") {
			t.Errorf("ID %s: not a Henan address code", id)
		}
		if id[6:14] != births[i] {
			a, errA := time.Parse("20060102", id[6:14])
			b, errB := time.Parse("20060102", births[i])
			if d := b.Sub(a).Hours() / 24; errA != nil || errB != nil || d < -300 || d > 300 {
				t.Errorf("ID %s: birth date %s in the registry", id, births[i])
			}
			corrected++
		}
		male, _ := idnumber.Male(id)
		if male != (sexes[i] == "男") {
			t.Errorf("ID %s: gender %s", id, sexes[i])
		}
		if seen[id] {
			t.Errorf("ID %s twice", id)
		}
		seen[id] = true
	}
	if corrected == 0 || corrected > len(ids)/100 {
		t.Errorf("%d registry birth dates differ from the ID's; want a few (birth_corrected)", corrected)
	}
}

func TestRates(t *testing.T) {
	r := gen.DefaultRates()
	if err := r.Set("deceased_before=0.01"); err != nil || r["deceased_before"] != 0.01 {
		t.Fatal(err, r["deceased_before"])
	}
	if err := r.Set("all_noise=0"); err != nil || r["noise_id_format"] != 0 || r["dup_same"] == 0 {
		t.Fatal("all_noise=0", err)
	}
	for _, bad := range []string{"nope=0.1", "dup_same=2", "dup_same"} {
		if err := r.Set(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestBenchEndToEnd loads job.yaml, runs the engine on it through the
// harness (with the naive DuckDB baseline) and checks the reports.
func TestBenchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the engine")
	}
	dir := t.TempDir()
	bl := []string{"duckdb"}
	if os.Getenv("CROSSCHECK_BENCH_POSTGRES") != "" {
		bl = append(bl, "postgres")
	}
	rep, err := harness.Run(context.Background(), harness.Options{Persons: testPersons, Seed: 3, Dir: dir, Baselines: bl,
		Postgres: os.Getenv("CROSSCHECK_BENCH_POSTGRES")})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Crosscheck.Hits == 0 || rep.Crosscheck.RowsRead == 0 {
		t.Fatalf("crosscheck found nothing: %+v", rep.Crosscheck)
	}
	for _, b := range rep.Baselines {
		if b.Error != "" {
			t.Errorf("baseline %s: %s", b.Name, b.Error)
		}
	}
	for _, f := range []string{"bench.json", "bench.md", "problems.csv", "crosscheck_out/hits.csv"} {
		if _, err := os.Stat(filepath.Join(dir, "bench", f)); err != nil {
			t.Error(err)
		}
	}
	if rep.Accuracy.Overall.Truth == 0 || rep.Accuracy.Overall.Recall <= 0 {
		t.Errorf("overall score %+v", rep.Accuracy.Overall)
	}
	// Reuse: the second run does not generate.
	rep2, err := harness.Run(context.Background(), harness.Options{Persons: testPersons, Seed: 3, Dir: dir, Reuse: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep2.Generation.Reused || rep2.Crosscheck.Hits != rep.Crosscheck.Hits {
		t.Errorf("reuse: reused=%v hits %d then %d", rep2.Generation.Reused, rep.Crosscheck.Hits, rep2.Crosscheck.Hits)
	}
}

// TestIssue20Families generates a small province with the issue-20 cases
// and near misses at raised rates, runs the engine on it and checks that
// each of their rule families is found with precision and recall ≥ 0.99
// and that no near miss is hit.
func TestIssue20Families(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the engine")
	}
	rates := gen.DefaultRates()
	for k, v := range map[string]float64{"unregistered": 0.2, "tier_overpaid": 0.2, "second_id": 0.05, "cjsh_no_dibao": 0.3,
		"orphan_over_age": 0.3, "tekun_married": 0.3, "cadre_relative": 0.3, "noise_twin": 0.05, "noise_tekun_divorced": 0.4,
		"noise_cadre_filed": 0.3, "noise_orphan_minor": 0.3, "noise_cjsh_household_dibao": 0.5} {
		if err := rates.Set(fmt.Sprintf("%s=%v", k, v)); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	rep, err := harness.Run(context.Background(), harness.Options{Persons: 20000, Seed: 1, Dir: dir, Rates: rates})
	if err != nil {
		t.Fatal(err)
	}
	scores := map[string]harness.Score{}
	for _, s := range rep.Accuracy.Families {
		scores[s.Name] = s
	}
	for _, f := range []string{gen.FamNotInReg, gen.FamAgeTier, gen.FamDupID, gen.FamNoDibao, gen.FamOrphan, gen.FamTekunMar, gen.FamCadre} {
		s := scores[f]
		if s.Truth == 0 || s.Precision < 0.99 || s.Recall < 0.99 {
			t.Errorf("family %s: truth %d, hits %d, precision %.3f, recall %.3f", f, s.Truth, s.Hits, s.Precision, s.Recall)
		}
	}
	for _, k := range rep.Accuracy.Kinds {
		switch k.Name {
		case "noise_tier_birthday", "noise_cjsh_household_dibao", "noise_tekun_divorced", "noise_cadre_filed", "noise_orphan_minor", "noise_twin":
			if k.Truth == 0 || k.Hits != 0 {
				t.Errorf("near miss %s: %d payments, %d falsely hit", k.Name, k.Truth, k.Hits)
			}
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	const n = 50000
	dir := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := gen.Generate(context.Background(), gen.Config{Persons: n, Seed: uint64(i), Out: dir}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "persons/s")
}
