package casestore_test

import (
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/casestore/casetest"
)

// TestQueueMatchesSelect: every queue page is the same slice of the
// fully sorted selection, for scopes, filters and pages (with many ties in
// priority and deadline among synthetic cases).
func TestQueueMatchesSelect(t *testing.T) {
	dir := t.TempDir()
	hits := filepath.Join(dir, "hits.parquet")
	if err := casetest.Synthetic(ctx, hits, "run1", "2024-05", 20000); err != nil {
		t.Fatal(err)
	}
	s := open(t, filepath.Join(dir, "cases.duckdb"), &clock{t: t0})
	if _, err := s.Import(ctx, hits, casestore.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	scopes := []casestore.Scope{{All: true}, {Department: "民政局", RegionPrefix: "4101"}, {Department: "民政局", RegionPrefix: "410203"},
		{Department: "残联", RegionPrefix: "41"}, {Department: "医保局"}, {RegionPrefix: "4105"}, {Department: "nobody", RegionPrefix: "41"}}
	filters := []casestore.Filter{{}, {Status: "open"}, {Priority: "low"}, {Program: "dibao"}, {Rule: "age_range", Status: "new"}, {County: "410102"}}
	for _, sc := range scopes {
		for _, f := range filters {
			all, err := s.Select(sc, f, 0)
			if err != nil {
				t.Fatal(err)
			}
			// QueueFacets: the same page, and the facets of all cases in scope.
			qp, fc, err := s.QueueFacets(sc, f, 2, 7)
			if err != nil {
				t.Fatal(err)
			}
			if p, _ := s.Queue(sc, f, 2, 7); !reflect.DeepEqual(p, qp) {
				t.Errorf("%+v %+v: QueueFacets page differs from Queue", sc, f)
			}
			inScope, _ := s.Select(sc, casestore.Filter{}, 0)
			want := casestore.Facets{Programs: map[string]string{}}
			rules, counties := map[string]bool{}, map[string]bool{}
			for _, c := range inScope {
				want.Programs[c.ProgramCode] = c.ProgramName
				for _, r := range c.RuleIDs {
					rules[r] = true
				}
				counties[c.CountyCode] = true
			}
			for r := range rules {
				want.Rules = append(want.Rules, r)
			}
			for c := range counties {
				want.Counties = append(want.Counties, c)
			}
			sort.Strings(want.Rules)
			sort.Strings(want.Counties)
			if got := s.Facets(sc); !reflect.DeepEqual(got, want) || !reflect.DeepEqual(fc, want) {
				t.Errorf("%+v: facets %+v, with the queue %+v; want %+v", sc, got, fc, want)
			}
			for _, size := range []int{1, 7, 50, 200} {
				for _, pg := range []int{1, 2, 3, 20, 1 + len(all)/size, 2 + len(all)/size} {
					p, err := s.Queue(sc, f, pg, size)
					if err != nil {
						t.Fatal(err)
					}
					from, to := min(len(all), (pg-1)*size), min(len(all), pg*size)
					if p.Total != len(all) || len(p.Cases) != to-from || p.Cases == nil {
						t.Fatalf("%+v %+v page %d of %d: total %d, %d cases; want %d, %d", sc, f, pg, size, p.Total, len(p.Cases), len(all), to-from)
					}
					for i, c := range p.Cases {
						if c != all[from+i] {
							t.Fatalf("%+v %+v page %d of %d: case %d is %s, want %s", sc, f, pg, size, i, c.ID, all[from+i].ID)
						}
					}
				}
			}
		}
	}
}
