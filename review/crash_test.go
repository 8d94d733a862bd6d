package review_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/casestore/casetest"
)

// TestMain lets the test binary run as a child server for the crash test.
func TestMain(m *testing.M) {
	if os.Getenv("CROSSCHECK_REVIEW_CHILD") == "1" {
		runChild()
		return
	}
	os.Exit(m.Run())
}

func runChild() {
	e, _, err := startServer(mustEnv("CROSSCHECK_STORE"), os.TempDir())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	tmp := mustEnv("CROSSCHECK_ADDR_FILE") + ".tmp"
	if err := os.WriteFile(tmp, []byte(e.URL), 0o644); err != nil {
		os.Exit(2)
	}
	os.Rename(tmp, mustEnv("CROSSCHECK_ADDR_FILE"))
	select {} // until killed
}

type child struct {
	cmd *exec.Cmd
	url string
}

func startChild(t *testing.T, store, dir string) *child {
	t.Helper()
	addr := filepath.Join(dir, fmt.Sprintf("addr-%d", time.Now().UnixNano()))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CROSSCHECK_REVIEW_CHILD=1", "CROSSCHECK_STORE="+store, "CROSSCHECK_ADDR_FILE="+addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(addr); err == nil {
			return &child{cmd: cmd, url: string(b)}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	t.Fatal("child server did not start")
	return nil
}

type ack struct {
	caseID, action string
	version        int
}

// TestCrashDuringReviewActions kills the server process in the middle of a
// batch of review actions; after a restart every acknowledged action is
// there and no case is half-written.
func TestCrashDuringReviewActions(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped under -short")
	}
	dir := t.TempDir()
	ctx := context.Background()
	hits := filepath.Join(dir, "hits.parquet")
	if err := casetest.Synthetic(ctx, hits, "crashrun", "2024-05", 400); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "cases.duckdb")
	s, err := casestore.Open(ctx, store, casestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, hits, casestore.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	ch := startChild(t, store, dir)
	adm := login(t, ch.url, "admin")
	cl := adm.cases("status=&page_size=500")
	if cl.Total != 400 {
		t.Fatalf("cases %d", cl.Total)
	}
	var mu sync.Mutex
	var acks []ack
	var sent, failed atomic.Int64
	work := make(chan int, len(cl.Cases))
	for i := range cl.Cases {
		work <- i
	}
	close(work)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := login(t, ch.url, "admin")
			c.hc.Timeout = 5 * time.Second
			for i := range work {
				id, v := cl.Cases[i].ID, cl.Cases[i].Version
				steps := []map[string]any{{"action": "assign", "assignee": "admin"}, {"action": "verify"}, {"action": "note", "text": "核实记录"}}
				if i%2 == 0 {
					steps = append(steps, map[string]any{"action": "confirm", "outcome": map[string]any{"payment_stopped": true, "amount_to_recover": 100 + i}})
				} else {
					steps = append(steps, map[string]any{"action": "dismiss", "reason": "other", "text": "经核实为登记错误"})
				}
				steps = append(steps, map[string]any{"action": "close"})
				for _, a := range steps {
					select {
					case <-stop:
						return
					default:
					}
					if a["action"] != "note" {
						a["version"] = v
					}
					var out struct {
						Case struct{ Version int } `json:"case"`
					}
					sent.Add(1)
					code, body := rawNoFatal(c, "POST", "/api/v1/cases/"+id+"/actions", a)
					if code != 200 {
						failed.Add(1)
						return // the server is gone (or refused): stop this worker
					}
					if err := jsonUnmarshal(body, &out); err != nil {
						failed.Add(1)
						return
					}
					v = out.Case.Version
					mu.Lock()
					acks = append(acks, ack{id, a["action"].(string), v})
					mu.Unlock()
				}
			}
		}()
	}
	// A reviewer-like viewer reads cases all along: each acknowledged view's
	// audit entry must survive the kill (most of the last ones are then only
	// in the audit journal, not yet copied into audit_log).
	var viewAcks []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := login(t, ch.url, "admin")
		c.hc.Timeout = 5 * time.Second
		for i := 0; i < 3000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := cl.Cases[i%len(cl.Cases)].ID
			code, _ := rawNoFatal(c, "GET", "/api/v1/cases/"+id, nil)
			if code != 200 {
				return
			}
			mu.Lock()
			viewAcks = append(viewAcks, id)
			mu.Unlock()
		}
	}()
	// Kill in the middle of the batch.
	for {
		mu.Lock()
		n := len(acks)
		mu.Unlock()
		if n >= 300 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := ch.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ch.cmd.Wait()
	close(stop)
	wg.Wait()
	t.Logf("sent %d actions, %d acknowledged before the kill, %d cut off", sent.Load(), len(acks), failed.Load())
	if failed.Load() == 0 {
		t.Fatal("the kill did not interrupt the batch")
	}
	var journaled int64
	if segs, _ := filepath.Glob(store + ".audit-journal/*.jsonl"); len(segs) > 0 {
		for _, p := range segs {
			if fi, err := os.Stat(p); err == nil {
				journaled += fi.Size()
			}
		}
	}
	t.Logf("%d views acknowledged before the kill; %d bytes of audit journal left to replay", len(viewAcks), journaled)

	// Restart: every acknowledged action is there.
	ch2 := startChild(t, store, dir)
	defer func() { ch2.cmd.Process.Kill(); ch2.cmd.Wait() }()
	adm2 := login(t, ch2.url, "admin")
	// Every acknowledged view is in the audit log (replayed from the journal).
	var vau struct {
		Entries []casestore.AuditEntry `json:"entries"`
	}
	adm2.do("GET", "/api/v1/audit?action=view.case&limit=5000", nil, &vau)
	viewed := map[string]int{}
	for _, e := range vau.Entries {
		if e.Action == "view.case" {
			viewed[e.ObjectID]++
		}
	}
	wantViews := map[string]int{}
	for _, id := range viewAcks {
		wantViews[id]++
	}
	for id, n := range wantViews {
		if viewed[id] < n {
			t.Errorf("case %s: %d acknowledged views, %d view.case audit entries after restart", id, n, viewed[id])
		}
	}
	last := map[string]ack{}
	count := map[string]map[string]int{}
	for _, a := range acks {
		if a.action != "note" {
			last[a.caseID] = a
		}
		if count[a.caseID] == nil {
			count[a.caseID] = map[string]int{}
		}
		count[a.caseID][a.action]++
	}
	for id, want := range count {
		var d struct {
			Case struct {
				Version       int                `json:"version"`
				Status        string             `json:"status"`
				Decision      string             `json:"decision"`
				Outcome       *casestore.Outcome `json:"outcome"`
				DismissReason string             `json:"dismiss_reason"`
				Assignee      string             `json:"assignee"`
			} `json:"case"`
			Events []casestore.Event `json:"events"`
		}
		if code := adm2.do("GET", "/api/v1/cases/"+id, nil, &d); code != 200 {
			t.Fatalf("case %s after restart: %d", id, code)
		}
		got := map[string]int{}
		changes := 0
		for _, e := range d.Events {
			got[e.Action]++
			if e.Action != "created" && e.Action != "note" {
				changes++
			}
		}
		for a, n := range want {
			if got[a] < n {
				t.Errorf("case %s: %d acknowledged %s, %d in history after restart", id, n, a, got[a])
			}
		}
		if l, ok := last[id]; ok && d.Case.Version < l.version {
			t.Errorf("case %s: version %d, acknowledged %d", id, d.Case.Version, l.version)
		}
		// Nothing half-written: the version counts the status changes, the
		// last event's status is the case's, and decisions carry their fields.
		if d.Case.Version != 1+changes {
			t.Errorf("case %s: version %d but %d changes in history", id, d.Case.Version, changes)
		}
		if n := len(d.Events); n > 0 {
			lastEv := d.Events[n-1]
			for i := n - 1; i >= 0 && d.Events[i].Action == "note"; i-- {
				if i > 0 {
					lastEv = d.Events[i-1]
				}
			}
			if lastEv.To != d.Case.Status {
				t.Errorf("case %s: status %s, last event to %s", id, d.Case.Status, lastEv.To)
			}
		}
		switch d.Case.Decision {
		case "confirmed":
			if d.Case.Outcome == nil || !d.Case.Outcome.PaymentStopped {
				t.Errorf("case %s: confirmed without outcome", id)
			}
		case "dismissed":
			if d.Case.DismissReason == "" {
				t.Errorf("case %s: dismissed without reason", id)
			}
		}
		if d.Case.Status != "new" && d.Case.Assignee == "" {
			t.Errorf("case %s: %s without assignee", id, d.Case.Status)
		}
	}
	// Every case change has its audit entry (same transaction).
	var au struct {
		Entries []casestore.AuditEntry `json:"entries"`
	}
	adm2.do("GET", "/api/v1/audit?action=case.&limit=5000", nil, &au)
	audited := 0
	for _, e := range au.Entries {
		if strings.HasPrefix(e.Action, "case.") {
			audited++
		}
	}
	var events int
	for id := range count {
		var d struct {
			Events []casestore.Event `json:"events"`
		}
		adm2.do("GET", "/api/v1/cases/"+id, nil, &d)
		for _, e := range d.Events {
			if e.Action != "created" {
				events++
			}
		}
	}
	if audited != events {
		t.Errorf("%d case events but %d case audit entries", events, audited)
	}
	t.Logf("after restart: %d cases touched, %d events, all acknowledged actions present", len(count), events)
}
