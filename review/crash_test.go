package review_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crosscheck/crosscheck/casestore"
	"github.com/crosscheck/crosscheck/casestore/casetest"
)

// The kill -9 test drives the real binary: stores created by serve, by
// "cases import", by "cases info" and filled through the API; the process
// is killed with SIGKILL at random moments (while it opens and migrates the
// store, while it imports, in the middle of review actions and views), then
// restarted, and the store is checked against what the clients were told.

const (
	crashRun   = "crashrun"
	crashCases = 90
)

// caseModel is what the clients sent and were told about one case.
type caseModel struct {
	version int
	done    map[string]bool // actions in the case's history
	sent    map[string]int  // actions sent (answered or not)
	acked   map[string]int  // actions answered 200
	views   struct{ sent, acked int }
}

// crashStore is one store under test and the clients' view of it.
type crashStore struct {
	name, path string
	creator    string // serve, import, info
	mu         sync.Mutex
	imported   bool // the run is in the store (as last verified)
	cases      map[string]*caseModel
	importSent bool
}

// plan is the lifecycle a worker walks a case through.
func nextAction(i int, done map[string]bool) map[string]any {
	switch {
	case !done["assign"]:
		return map[string]any{"action": "assign", "assignee": "admin"}
	case !done["verify"]:
		return map[string]any{"action": "verify"}
	case !done["note"]:
		return map[string]any{"action": "note", "text": "核实记录"}
	case !done["confirm"] && !done["dismiss"]:
		if i%2 == 0 {
			return map[string]any{"action": "confirm", "outcome": map[string]any{"payment_stopped": true, "amount_to_recover": 100 + i}}
		}
		return map[string]any{"action": "dismiss", "reason": "other", "text": "经核实为登记错误"}
	case !done["close"]:
		return map[string]any{"action": "close"}
	}
	return nil
}

func TestKillNineAtRandomMoments(t *testing.T) {
	kills := 30
	if testing.Short() {
		kills = 6
	}
	if v := os.Getenv("CROSSCHECK_CRASH_KILLS"); v != "" {
		fmt.Sscan(v, &kills)
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CROSSCHECK_CRASH_SEED"); v != "" {
		if _, err := fmt.Sscan(v, &seed); err != nil {
			t.Fatalf("CROSSCHECK_CRASH_SEED=%q: %v", v, err)
		}
	}
	t.Logf("seed %d, %d kills (CROSSCHECK_CRASH_SEED=%d CROSSCHECK_CRASH_KILLS=%d repeat the run)", seed, kills, seed, kills)
	rng := rand.New(rand.NewPCG(seed, 14))

	dir := t.TempDir()
	users := writeUsersFile(t, dir)
	hits := filepath.Join(dir, "hits.parquet")
	if err := casetest.Synthetic(context.Background(), hits, crashRun, "2024-05", crashCases); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(hits)
	if err != nil {
		t.Fatal(err)
	}
	var stores []*crashStore
	for _, c := range []string{"serve", "import", "info"} {
		stores = append(stores, &crashStore{name: c, creator: c, path: filepath.Join(dir, c+".duckdb"), cases: map[string]*caseModel{}})
	}

	// Each store in turn: the command that creates it is killed at a
	// random moment (often before the schema is complete); then, again and
	// again, a server starts on it, the store is checked against what the
	// clients were told, and the server is killed in the middle of a
	// start-up, an import or review work.
	stats := map[string]int{}
	for i, st := range stores {
		n := kills / len(stores)
		if i < kills%len(stores) {
			n++
		}
		for k := 0; k < n; k++ {
			var where string
			switch {
			case k == 0:
				where = killCreator(t, rng, st, hits)
			case !st.imported && st.creator == "import":
				where = "cases import"
				p := spawn(t, "cases", "import", "--hits", hits, "--periods", "2024-05", "--store", st.path, "-q")
				if rng.IntN(2) == 0 {
					<-p.done // it may finish: then the kill comes later
					switch {
					case p.err == nil:
					case strings.Contains(p.stderr.String(), "already imported"):
						// An earlier, killed import had committed: the next
						// start checks that the whole run is there.
						st.imported = true
					default:
						t.Fatalf("cases import: %v\n%s", p.err, p.stderr.String())
					}
					k--
					continue
				}
				time.Sleep(time.Duration(rng.IntN(4000)) * time.Millisecond)
				p.kill()
			default:
				p := spawnServe(t, st.path, users)
				if rng.IntN(6) == 0 {
					where = "serve start-up"
					time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
					p.kill()
					break
				}
				url, err := p.waitURL(60 * time.Second)
				if err != nil {
					t.Fatalf("%s store, kill %d: the store does not open: %v", st.name, k, err)
				}
				verify(t, st, url, fmt.Sprintf("before kill %d", k+1))
				if t.Failed() {
					t.FailNow()
				}
				where = workload(t, rng, st, url, body, p)
			}
			stats[where]++
		}
		// A last start: the store opens and holds everything acknowledged;
		// then a clean stop and the file read directly.
		p := spawnServe(t, st.path, users)
		url, err := p.waitURL(60 * time.Second)
		if err != nil {
			t.Fatalf("%s store after its last kill: the store does not open: %v", st.name, err)
		}
		verify(t, st, url, "after the last kill")
		p.stop(t)
		checkStoreFile(t, st)
	}
	t.Logf("kills by moment: %v", stats)
}

// killCreator runs the command that creates the store and kills it at a
// random moment (often before it has finished creating the schema).
func killCreator(t *testing.T, rng *rand.Rand, st *crashStore, hits string) string {
	var p *proc
	switch st.creator {
	case "serve":
		p = spawnServe(t, st.path, writeUsersFile(t, t.TempDir()))
	case "import":
		p = spawn(t, "cases", "import", "--hits", hits, "--periods", "2024-05", "--store", st.path, "-q")
	case "info":
		p = spawn(t, "cases", "info", "--store", st.path)
	}
	time.Sleep(time.Duration(rng.IntN(700)) * time.Millisecond)
	p.kill()
	return "creating the store (" + st.creator + ")"
}

// workload imports the run through the API if it is not there, then runs
// review actions and case views from several clients and kills the server
// at a random moment. It returns what was going on.
func workload(t *testing.T, rng *rand.Rand, st *crashStore, url string, body []byte, p *proc) string {
	killAfter := time.Duration(50+rng.IntN(900)) * time.Millisecond
	if !st.imported {
		importKill := time.Duration(rng.IntN(3000)) * time.Millisecond
		if rng.IntN(3) == 0 {
			importKill = time.Minute // let it finish
		}
		// POST /api/v1/runs, killed at a random moment.
		adm := login(t, url, "admin")
		adm.hc.Timeout = 20 * time.Second
		res := make(chan int, 1)
		go func() {
			code, _ := rawNoFatal(adm, "POST", "/api/v1/runs?periods=2024-05", body)
			res <- code
		}()
		select {
		case code := <-res:
			if code != 200 {
				t.Fatalf("%s store: import through the API: %d\nserver log:\n%s", st.name, code, p.stderr.String())
			}
			st.imported = true
			// The import is acknowledged: it must survive the kill.
			p.kill()
			return "right after an acknowledged API import"
		case <-time.After(importKill):
			p.kill()
			<-res
			return "API import"
		}
	}
	ids := make([]string, 0, len(st.cases))
	for id, m := range st.cases {
		if nextAction(0, m.done) != nil {
			ids = append(ids, id)
		}
	}
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	work := make(chan string, len(ids))
	for _, id := range ids {
		work <- id
	}
	close(work)
	// The clients log in before the clock of the kill starts: a login
	// still running when the server is killed is no case for the test
	// (and its t.Fatal in a client goroutine cannot stop the test).
	clients := make([]*client, 5)
	for i := range clients {
		clients[i] = login(t, url, "admin")
		clients[i].hc.Timeout = 10 * time.Second
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[w]
			for id := range work {
				m := st.cases[id]
				i := caseIndex(id)
				for {
					select {
					case <-stop:
						return
					default:
					}
					st.mu.Lock()
					a := nextAction(i, m.done)
					if a == nil {
						st.mu.Unlock()
						break
					}
					kind := a["action"].(string)
					if kind != "note" {
						a["version"] = m.version
					}
					m.sent[kind]++
					st.mu.Unlock()
					var out struct {
						Case struct{ Version int } `json:"case"`
					}
					code, b := rawNoFatal(c, "POST", "/api/v1/cases/"+id+"/actions", a)
					if code == 0 {
						return // the server is gone
					}
					if code != 200 || jsonUnmarshal(b, &out) != nil {
						t.Errorf("%s store: %s on %s: %d %s", st.name, kind, id, code, b)
						return
					}
					st.mu.Lock()
					m.acked[kind]++
					m.done[kind] = true
					m.version = out.Case.Version
					st.mu.Unlock()
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // a reader: every acknowledged view must have its audit entry
		defer wg.Done()
		c := clients[4]
		all := make([]string, 0, len(st.cases))
		for id := range st.cases {
			all = append(all, id)
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := all[i%len(all)]
			m := st.cases[id]
			st.mu.Lock()
			m.views.sent++
			st.mu.Unlock()
			code, _ := rawNoFatal(c, "GET", "/api/v1/cases/"+id, nil)
			if code != 200 {
				return
			}
			st.mu.Lock()
			m.views.acked++
			st.mu.Unlock()
		}
	}()
	time.Sleep(killAfter)
	p.kill()
	close(stop)
	wg.Wait()
	return "review actions and views"
}

func caseIndex(id string) int {
	n := 0
	for _, r := range id {
		n = (n*31 + int(r)) % 1000
	}
	return n
}

// verify checks the store a restarted server serves against the model; it
// then updates the model from what the store holds.
func verify(t *testing.T, st *crashStore, url, when string) {
	t.Helper()
	adm := login(t, url, "admin")
	var runs struct {
		Runs []map[string]any `json:"runs"`
	}
	if code := adm.do("GET", "/api/v1/runs", nil, &runs); code != 200 {
		t.Fatalf("runs: %d", code)
	}
	cl := adm.cases("status=&page_size=500")
	switch {
	case len(runs.Runs) == 1 && runs.Runs[0]["run_id"] == crashRun:
		if cl.Total != crashCases {
			t.Fatalf("%s store %s: run imported with %d cases, want %d (half an import)", st.name, when, cl.Total, crashCases)
		}
	case len(runs.Runs) == 0:
		if cl.Total != 0 {
			t.Fatalf("%s store %s: %d cases without their run (half an import)", st.name, when, cl.Total)
		}
		if st.imported {
			t.Fatalf("%s store %s: the acknowledged import is gone", st.name, when)
		}
		return
	default:
		t.Fatalf("%s store %s: runs %v", st.name, when, runs.Runs)
	}
	st.imported = true
	for _, c := range cl.Cases {
		m := st.cases[c.ID]
		if m == nil {
			m = &caseModel{done: map[string]bool{}, sent: map[string]int{}, acked: map[string]int{}}
			st.cases[c.ID] = m
		}
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
		if code := adm.do("GET", "/api/v1/cases/"+c.ID, nil, &d); code != 200 {
			t.Fatalf("case %s: %d", c.ID, code)
		}
		m.views.sent++
		m.views.acked++
		got := map[string]int{}
		changes := 0
		last := ""
		for _, e := range d.Events {
			got[e.Action]++
			if e.Action != "created" && e.Action != "note" {
				changes++
				last = e.To
			}
		}
		for _, a := range []string{"assign", "verify", "note", "confirm", "dismiss", "close"} {
			switch {
			case m.acked[a] > 0 && got[a] != m.acked[a]:
				t.Errorf("%s store %s: case %s: %s acknowledged %d times, %d in its history", st.name, when, c.ID, a, m.acked[a], got[a])
			case got[a] > m.sent[a]:
				t.Errorf("%s store %s: case %s: %s sent %d times, %d in its history", st.name, when, c.ID, a, m.sent[a], got[a])
			}
		}
		if d.Case.Version != 1+changes {
			t.Errorf("%s store %s: case %s: version %d but %d changes in its history", st.name, when, c.ID, d.Case.Version, changes)
		}
		if last != "" && last != d.Case.Status {
			t.Errorf("%s store %s: case %s: status %s, last event to %s", st.name, when, c.ID, d.Case.Status, last)
		}
		switch d.Case.Decision {
		case "confirmed":
			if d.Case.Outcome == nil || !d.Case.Outcome.PaymentStopped {
				t.Errorf("%s store %s: case %s confirmed without its outcome", st.name, when, c.ID)
			}
		case "dismissed":
			if d.Case.DismissReason == "" {
				t.Errorf("%s store %s: case %s dismissed without reason", st.name, when, c.ID)
			}
		}
		if d.Case.Status != "new" && d.Case.Assignee == "" {
			t.Errorf("%s store %s: case %s %s without assignee", st.name, when, c.ID, d.Case.Status)
		}
		// What the store holds is now what the clients know.
		m.version = d.Case.Version
		m.done = map[string]bool{}
		for a, n := range got {
			if a == "created" {
				continue
			}
			m.done[a] = n > 0
			m.sent[a], m.acked[a] = n, n
		}
	}
}

// checkStoreFile reads the stopped store directly.
func checkStoreFile(t *testing.T, st *crashStore) {
	ctx := context.Background()
	s, err := casestore.Open(ctx, st.path, casestore.Options{})
	if err != nil {
		t.Fatalf("%s store: %v", st.name, err)
	}
	defer s.Close()
	db := s.DB()
	var dup int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT journal_id FROM audit_log WHERE journal_id IS NOT NULL
		GROUP BY journal_id HAVING count(*) > 1)`).Scan(&dup); err != nil || dup != 0 {
		t.Errorf("%s store: %d journal entries copied twice (%v)", st.name, dup, err)
	}
	var events, audited int
	db.QueryRowContext(ctx, `SELECT count(*) FROM case_events WHERE action <> 'created'`).Scan(&events)
	db.QueryRowContext(ctx, `SELECT count(*) FROM audit_log WHERE action LIKE 'case.%'`).Scan(&audited)
	if events != audited {
		t.Errorf("%s store: %d case events but %d case audit entries", st.name, events, audited)
	}
	rows, err := db.QueryContext(ctx, `SELECT object_id, count(*) FROM audit_log WHERE action = 'view.case' GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	views := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		rows.Scan(&id, &n)
		views[id] = n
	}
	total := 0
	for id, m := range st.cases {
		total += m.views.acked
		if views[id] < m.views.acked || views[id] > m.views.sent {
			t.Errorf("%s store: case %s: %d views acknowledged, %d sent, %d view.case audit entries", st.name, id, m.views.acked, m.views.sent, views[id])
		}
	}
	actions := 0
	for _, m := range st.cases {
		for _, n := range m.acked {
			actions += n
		}
	}
	t.Logf("%s store: %d cases, %d acknowledged actions in %d case events, %d acknowledged views, all present once",
		st.name, len(st.cases), actions, events, total)
}
