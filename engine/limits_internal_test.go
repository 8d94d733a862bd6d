package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/crosscheck/crosscheck/job"
)

// The default memory limit is half of the memory the process may use (the
// machine's or, when lower, its cgroup's), and DuckDB gets exactly it.
func TestDefaultMemoryLimit(t *testing.T) {
	total := totalMemory()
	if total <= 0 {
		t.Skip("no /proc/meminfo here")
	}
	if mi := memInfoTotal(); total > mi {
		t.Errorf("totalMemory %d above MemTotal %d", total, mi)
	}
	got, err := memoryLimit(job.DefaultMemoryLimit)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%dMiB", (total/2)>>20); got != want {
		t.Errorf("memoryLimit(%q) = %s, want %s", job.DefaultMemoryLimit, got, want)
	}
	s, err := Open(context.Background(), job.Engine{Database: ":memory:", MemoryLimit: job.DefaultMemoryLimit, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var set string
	if err := s.DB.QueryRow(`SELECT current_setting('memory_limit')`).Scan(&set); err != nil {
		t.Fatal(err)
	}
	if s.MemoryLimit != got || set == "" {
		t.Errorf("session memory limit %q, DuckDB %q; want %q", s.MemoryLimit, set, got)
	}
	t.Logf("default memory_limit %s of %d MiB; DuckDB reports %s", got, total>>20, set)
	for _, bad := range []string{"0%", "150%", "x%"} {
		if _, err := memoryLimit(bad); err == nil {
			t.Errorf("memoryLimit(%q) accepted", bad)
		}
	}
}
