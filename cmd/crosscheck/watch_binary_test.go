package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/crosscheck/crosscheck/casestore"
)

// TestStoreWatchBinary: store watch on a drop folder that the job's
// cremation source globs. The first cycle builds the store and raises the
// sample's cases; a death file dropped (written under a .tmp name, then
// renamed) raises exactly its person's cases; a bad file is reported, set
// aside in rejected/ and the watcher keeps going (the next good file is
// taken); a screening that fails because the case store is held is
// retried until it succeeds; SIGTERM stops it with exit 0.
func TestStoreWatchBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds stores in a loop")
	}
	dir := copySample(t)
	drop := filepath.Join(dir, "drop")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(filepath.Join(dir, "data", "民政火化记录.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(drop, "民政火化记录.csv"), orig, 0o644); err != nil {
		t.Fatal(err)
	}
	jb, err := os.ReadFile(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(jb), "path: data/民政火化记录.csv") {
		t.Fatal("the sample's cremation source changed: update this test")
	}
	jb = []byte(strings.Replace(string(jb), "path: data/民政火化记录.csv", "path: drop/*.csv", 1))
	if err := os.WriteFile(filepath.Join(dir, "job.yaml"), jb, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := filepath.Join(dir, "cases.duckdb")

	cmd := exec.Command(cliBin, "store", "watch", "--config", "job.yaml", "--store", "ref.duckdb", "--dir", "drop",
		"--cases", cases, "--interval", "300ms", "--lang", "en")
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	t.Cleanup(func() {
		if !done {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	waitFor := func(what string) string {
		t.Helper()
		deadline := time.After(5 * time.Minute)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("watch ended before %q\nstdout:\n%s\nstderr:\n%s", what, strings.Join(seen, "\n"), tail(stderr.String(), 20))
				}
				seen = append(seen, l)
				if strings.Contains(l, what) {
					return l
				}
			case <-deadline:
				t.Fatalf("no %q after 5 minutes\nstdout:\n%s", what, strings.Join(seen, "\n"))
			}
		}
	}
	l := waitFor("cycle 1")
	if !strings.Contains(l, "民政火化记录.csv (huohua)") || !strings.Contains(l, "new, 0 withdrawn") {
		t.Fatalf("first cycle: %s", l)
	}
	before := countCases(t, cases)
	if before == 0 {
		t.Fatal("no case after the first cycle")
	}

	// Two payees of the 2024-05 高龄津贴 roll die, in two drops.
	f, err := os.Open(filepath.Join(dir, "data", "长葛市一卡通发放名单202405.csv"))
	if err != nil {
		t.Fatal(err)
	}
	roll, err := csv.NewReader(simplifiedchinese.GBK.NewDecoder().Reader(f)).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var ids, names []string
	withCase := personsWithCases(t, cases)
	for _, r := range roll[1:] {
		if r[1] == "gaoling" && r[2] == "202405" && !strings.Contains(string(orig), r[3]) && !withCase[r[3]] && len(ids) < 3 && !slices.Contains(ids, r[3]) {
			ids, names = append(ids, r[3]), append(names, r[4])
		}
	}
	if len(ids) != 3 {
		t.Fatal("no three payees to kill")
	}
	programs := func(id string) int {
		p := map[string]bool{}
		for _, r := range roll[1:] {
			if r[3] == id && r[2] == "202405" {
				p[r[1]] = true
			}
		}
		return len(p)
	}
	header := strings.SplitN(string(orig), "\n", 2)[0] + "\n"
	dropDeath := func(name string, i int) {
		t.Helper()
		id := ids[i]
		row := fmt.Sprintf("HH2024999%d,%s,男,%s,%s-%s-%s,2024-03-01 08:00,2024-03-03 08:00,长葛市殡仪馆,河南省许昌市长葛市\n", i, names[i], id, id[6:10], id[10:12], id[12:14])
		tmp := filepath.Join(drop, name+".tmp")
		if err := os.WriteFile(tmp, []byte(header+row), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(drop, name)); err != nil {
			t.Fatal(err)
		}
	}
	dropDeath("火化-第2批.csv", 0)
	l = waitFor("cycle 2")
	if want := fmt.Sprintf("cases: %d new, 0 withdrawn", programs(ids[0])); !strings.Contains(l, "火化-第2批.csv (huohua)") || !strings.Contains(l, want) {
		t.Fatalf("second cycle: want %q in\n%s", want, l)
	}
	if strings.Contains(l, ids[0]) || strings.Contains(l, names[0]) {
		t.Errorf("the cycle line shows personal data: %s", l)
	}
	if n := countCases(t, cases); n-before != programs(ids[0]) {
		t.Errorf("the dropped death raised %d cases, want %d", n-before, programs(ids[0]))
	}

	// A bad file: reported, set aside, the watcher goes on.
	if err := os.WriteFile(filepath.Join(drop, "坏文件.csv"), []byte("编号,内容\n1,乱码\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l = waitFor("cycle 3")
	if !strings.Contains(l, "FAILED") || !strings.Contains(l, "坏文件.csv") {
		t.Fatalf("third cycle (bad file): %s", l)
	}
	if _, err := os.Stat(filepath.Join(drop, RejectedDir, "坏文件.csv.error.txt")); err != nil {
		t.Errorf("the bad file was not set aside with its error: %v", err)
	}
	if _, err := os.Stat(filepath.Join(drop, "坏文件.csv")); err == nil {
		t.Error("the bad file is still in the drop folder")
	}
	dropDeath("火化-第3批.csv", 1)
	l = waitFor("cycle 4")
	if want := fmt.Sprintf("cases: %d new, 0 withdrawn", programs(ids[1])); !strings.Contains(l, want) {
		t.Fatalf("fourth cycle (after the bad file): want %q in\n%s", want, l)
	}

	// The case store held by another process (as by the review server):
	// the screening fails, is retried at each poll, and succeeds once the
	// store is free.
	held, err := casestore.Open(context.Background(), cases, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dropDeath("火化-第4批.csv", 2)
	l = waitFor("cycle 5")
	if !strings.Contains(l, "screening FAILED") {
		held.Close()
		t.Fatalf("fifth cycle (case store held): %s", l)
	}
	held.Close()
	l = waitFor("screening retried")
	if want := fmt.Sprintf("cases: %d new, 0 withdrawn", programs(ids[2])); !strings.Contains(l, want) {
		t.Fatalf("retried screening: want %q in\n%s", want, l)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor("stopped")
	err = cmd.Wait()
	done = true
	if err != nil {
		t.Fatalf("watch after SIGTERM: %v\n%s", err, tail(stderr.String(), 20))
	}
	t.Logf("watch printed:\n%s", strings.Join(seen, "\n"))
	if _, err := os.Stat(filepath.Join(dir, "ref.duckdb.next")); err == nil {
		t.Error("ref.duckdb.next left behind")
	}
}

// TestStoreWatchStopMidCycle: SIGTERM while the first cycle builds the
// store abandons it: exit 0, no STORE.next left, and either no store (the
// refresh was abandoned) or a complete one (it had finished).
func TestStoreWatchStopMidCycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a store")
	}
	dir := copySample(t)
	cmd := exec.Command(cliBin, "store", "watch", "--config", "job.yaml", "--store", "ref.duckdb", "--dir", "data",
		"--interval", "200ms", "--lang", "en")
	cmd.Dir = dir
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // two polls, then the refresh runs
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("watch after SIGTERM: %v\n%s\n%s", err, stdout.String(), tail(stderr.String(), 20))
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("watch still running 2 minutes after SIGTERM\n%s", stdout.String())
	}
	out := stdout.String()
	t.Logf("watch printed:\n%s", out)
	if !strings.HasSuffix(strings.TrimSpace(out), "stopped") {
		t.Errorf("no \"stopped\" at the end:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "ref.duckdb.next")); err == nil {
		t.Error("ref.duckdb.next left behind")
	}
	_, err := os.Stat(filepath.Join(dir, "ref.duckdb"))
	switch {
	case strings.Contains(out, "cycle 1 abandoned") && err == nil:
		t.Error("the refresh was abandoned but a store was written")
	case strings.Contains(out, "cycle 1:") && err != nil:
		t.Error("cycle 1 finished but no store")
	case err == nil:
		if r := runCLI(t, dir, time.Minute, "store", "info", "--store", "ref.duckdb"); r.code != 0 {
			t.Errorf("the store left is not readable: %s", r.stderr)
		}
	}
}
