package screen_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
	"github.com/crosscheck/crosscheck/screen"
	"github.com/crosscheck/crosscheck/store"
)

// paymentRules are the rules that read more of a payment than the
// applicant's ID, name, program and period: its amount, account, region or
// the roll's other payments (disability_allowance_without_dibao: a 低保
// payment to the household in the roll). Check (a synthetic payment of the standard
// amount) cannot reproduce them.
var paymentRules = map[string]bool{"amount_off_standard": true, "age_tier_mismatch": true, "account_not_ssc": true,
	"holder_mismatch": true, "shared_account": true, "duplicate_payment": true, "exclusive_programs": true,
	"duplicate_identity": true, "moved_out_of_county": true, "disability_allowance_without_dibao": true}

// TestHenanCheckEqualsRun: for every payment of the sample's batch run,
// Check of its payee, program and period raises the run's hits of that
// payment, the payment-level rules above aside.
func TestHenanCheckEqualsRun(t *testing.T) {
	ctx := context.Background()
	j, err := job.Load(filepath.Join(henanDir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	runOut := t.TempDir()
	if _, err := engine.Run(ctx, j, engine.Options{OutDir: runOut, RawIDs: true}); err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(t.TempDir(), "ref.duckdb")
	if _, err := store.Refresh(ctx, j, st, store.Options{}); err != nil {
		t.Fatal(err)
	}
	s, err := screen.Open(ctx, st, screen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	type pay struct{ id, name, program, period string }
	want := map[pay]map[string]bool{}
	for _, h := range readCSV(t, filepath.Join(runOut, "hits.csv")) {
		if h["id_number"] == "" {
			continue
		}
		p := pay{h["id_number"], h["name"], h["program_code"], h["period"]}
		if want[p] == nil {
			want[p] = map[string]bool{}
		}
		if !paymentRules[h["rule_id"]] {
			want[p][h["rule_id"]] = true
		}
	}
	if len(want) < 10 {
		t.Fatalf("only %d payees with hits", len(want))
	}
	checked := 0
	for p, rules := range want {
		res, err := s.Check(ctx, screen.Applicant{IDNumber: p.id, Name: p.name, Program: p.program, Period: p.period})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, h := range res.Hits {
			if !paymentRules[h.RuleID] {
				got[h.RuleID] = true
			}
			if h.Explanation == "" || h.Title == "" || len(h.Evidence) == 0 {
				t.Errorf("%s: hit %s without explanation, title or evidence", p.program, h.RuleID)
			}
		}
		if k, w := keys(got), keys(rules); k != w {
			t.Errorf("%s %s %s: Check hits [%s], the batch run [%s]", p.name, p.program, p.period, k, w)
		}
		// The applicant's rows of the reference tables give what the
		// whole tables give, to the byte.
		whole, err := s.CheckWhole(ctx, screen.Applicant{IDNumber: p.id, Name: p.name, Program: p.program, Period: p.period})
		if err != nil {
			t.Fatal(err)
		}
		if a, b := fmt.Sprintf("%+v", res), fmt.Sprintf("%+v", whole); a != b {
			t.Errorf("%s %s: Check on the applicant's rows\n%s\nwhole tables\n%s", p.name, p.program, a, b)
		}
		checked++
	}
	t.Logf("%d payees checked", checked)

	// An applicant's ID one digit off is repaired against the whole
	// registry, also by a pooled session whose reference views last read
	// a check's rows: a check of a valid ID before each (the pool holds
	// up to four sessions).
	var cands []pay
	for q := range want {
		if idnumber.Valid(q.id) && q.name != "" {
			cands = append(cands, q)
		}
	}
	sort.Slice(cands, func(a, b int) bool { return cands[a].id < cands[b].id })
	var p pay
	for _, q := range cands {
		// a registered person under the roll's name
		res, err := s.Check(ctx, screen.Applicant{IDNumber: q.id, Name: q.name, Program: q.program, Period: q.period})
		if err != nil {
			t.Fatal(err)
		}
		named := true
		for _, h := range res.Hits {
			named = named && h.RuleID != "name_mismatch"
		}
		if res.Known && named {
			p = q
			break
		}
	}
	if p.id == "" {
		t.Fatal("no registered payee under the roll's name")
	}
	typo := []byte(p.id)
	typo[14] = '0' + (typo[14]-'0'+1)%10
	for round := 0; round < 5; round++ {
		if _, err := s.Check(ctx, screen.Applicant{IDNumber: p.id, Name: p.name, Program: p.program, Period: p.period}); err != nil {
			t.Fatal(err)
		}
		a := screen.Applicant{IDNumber: string(typo), Name: p.name, Program: p.program, Period: p.period}
		res, err := s.Check(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if res.IDStatus != "repaired" || res.PersonKey != p.id || !res.Known {
			t.Fatalf("ID %s one digit off %s: status %q, person %q, known %v", typo, p.id, res.IDStatus, res.PersonKey, res.Known)
		}
		whole, err := s.CheckWhole(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := fmt.Sprintf("%+v", res), fmt.Sprintf("%+v", whole); a != b {
			t.Fatalf("repaired ID: Check\n%s\nwhole tables\n%s", a, b)
		}
	}
}

func keys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// TestHenanCheckBatched: checks sent at once are screened together in
// batches, and each applicant gets exactly the answer of a check alone
// (the same applicant sent twice at once included: the second waits for
// a later batch).
func TestHenanCheckBatched(t *testing.T) {
	ctx := context.Background()
	j, err := job.Load(filepath.Join(henanDir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(t.TempDir(), "ref.duckdb")
	if _, err := store.Refresh(ctx, j, st, store.Options{}); err != nil {
		t.Fatal(err)
	}
	s, err := screen.Open(ctx, st, screen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// members of the same registered households one after the other,
	// persons drawn at random, and an ID that resolves to nobody
	seen := map[string]bool{}
	var apps []screen.Applicant
	for _, a := range append(applicantsOrdered(t, st, 30, "household_id, _rid"), applicants(t, st, 30)...) {
		if !seen[a.IDNumber] {
			seen[a.IDNumber] = true
			apps = append(apps, a)
		}
	}
	apps = append(apps, screen.Applicant{IDNumber: "411082999999999999", Name: "无此人", Program: "gaoling", Period: "2024-05"})
	if len(apps) < 20 {
		t.Fatalf("only %d applicants", len(apps))
	}
	alone := make([]string, len(apps))
	withHits := 0
	for i, a := range apps {
		res, err := s.Check(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		alone[i] = fmt.Sprintf("%+v", res)
		if len(res.Hits) > 0 {
			withHits++
		}
	}
	if withHits < 5 {
		t.Fatalf("only %d of %d applicants with hits", withHits, len(apps))
	}
	c0, b0 := s.BatchStats()
	if c0 != int64(len(apps)) || b0 != c0 {
		t.Fatalf("checks one after another: %d checks in %d batches, want %d in %d", c0, b0, len(apps), len(apps))
	}
	// every applicant twice, all at once
	all := append(append([]screen.Applicant{}, apps...), apps...)
	got := make([]string, len(all))
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, a := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := s.Check(ctx, a)
			errs[i] = err
			if err == nil {
				got[i] = fmt.Sprintf("%+v", res)
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, a := range all {
		if errs[i] != nil {
			t.Fatalf("%s: %v", a.Name, errs[i])
		}
		if w := alone[i%len(apps)]; got[i] != w {
			t.Errorf("%s %s in a batch:\n%s\nalone:\n%s", a.IDNumber, a.Name, got[i], w)
		}
	}
	c1, b1 := s.BatchStats()
	c, b := c1-c0, b1-b0
	t.Logf("%d concurrent checks in %d batches", c, b)
	if c != int64(len(all)) || b >= c/2 {
		t.Errorf("%d concurrent checks answered in %d batches: want %d checks, batched (fewer than %d batches)", c, b, len(all), c/2)
	}

	// a caller gone before its check is screened gets its context's error
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Check(gone, apps[0]); !errors.Is(err, context.Canceled) {
		t.Errorf("check of a caller gone: %v, want context.Canceled", err)
	}
	// Close while checks run and wait: every caller gets an answer
	answered := make(chan error, len(all))
	for _, a := range all {
		go func() {
			_, err := s.Check(ctx, a)
			answered <- err
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(2 * time.Minute)
	closed := 0
	for range all {
		select {
		case err := <-answered:
			if err != nil {
				closed++
			}
		case <-timeout:
			t.Fatal("checks still waiting 2 min after Close")
		}
	}
	t.Logf("Close: %d of %d checks answered with an error", closed, len(all))
}
