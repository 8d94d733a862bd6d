package review_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/casestore/casetest"
	"github.com/crosscheck/crosscheck/review"
)

// BenchmarkQueuePage measures one HTML queue page (GET /cases?page=N) of a
// reviewer of 民政局 through the real server, on loopback.
//
// By default it builds a store of CROSSCHECK_BENCH_CASES synthetic cases
// (default 100,000: about 310 cases in the reviewer's scope). With
// CROSSCHECK_LOAD_DIR set it uses the load test's store of 1,000,000 cases
// there instead (about 3,100 in scope, as in TestLoadReview).
func BenchmarkQueuePage(b *testing.B) {
	store := ""
	if dir := os.Getenv("CROSSCHECK_LOAD_DIR"); dir != "" {
		p := filepath.Join(dir, "load-1000000.duckdb")
		if _, err := os.Stat(p); err == nil {
			store = p
		}
	}
	if store == "" {
		n := envInt("CROSSCHECK_BENCH_CASES", 100_000)
		dir := b.TempDir()
		ctx := context.Background()
		hits := filepath.Join(dir, "hits.parquet")
		if err := casetest.Synthetic(ctx, hits, "bench", "2024-05", n); err != nil {
			b.Fatal(err)
		}
		store = filepath.Join(dir, "cases.duckdb")
		s, err := casestore.Open(ctx, store, casestore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Import(ctx, hits, casestore.ImportOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	rv := &review.User{Username: "bench", Role: casestore.RoleReviewer, Department: "民政局", Region: "410101", PasswordHash: hash(password)}
	e, stop, err := startServer(store, b.TempDir(), rv)
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	c := login(b, e.URL, "bench")
	cl := c.cases("page_size=1")
	pages := max(1, min(20, (cl.Total+49)/50))
	b.Logf("%d cases, %d in scope", e.Store.Count(), cl.Total)
	b.ReportAllocs()
	b.ResetTimer()
	var bytes int
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		code, body := c.raw("GET", "/cases?page="+strconv.Itoa(1+i%pages), nil)
		if code != 200 {
			b.Fatalf("queue page: %d", code)
		}
		bytes += len(body)
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "B/page")
	// Process CPU (server and client) per page, in ms.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/page")
}
