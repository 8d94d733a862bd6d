package store_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/crosscheck/crosscheck/connectors/all"
	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/store"
)

func copySample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "examples", "henan-sample")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(src, "data"))
	if err != nil {
		t.Fatal(err)
	}
	cp := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cp(filepath.Join(src, "job.yaml"), filepath.Join(dir, "job.yaml"))
	for _, e := range ents {
		cp(filepath.Join(src, "data", e.Name()), filepath.Join(dir, "data", e.Name()))
	}
	return dir
}

// refreshedSample is a copy of the sample (its folder), its job and a
// store refreshed from it (ref.duckdb in the folder).
func refreshedSample(t *testing.T) (string, *job.Job, string) {
	t.Helper()
	dir := copySample(t)
	j, err := job.Load(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(dir, "ref.duckdb")
	if _, err := store.Refresh(context.Background(), j, st, store.Options{}); err != nil {
		t.Fatal(err)
	}
	return dir, j, st
}

// TestIncrementalRefreshEqualsFull: after a new death record, a refresh
// loads only the death file and copies the other sources, and every
// table of the store equals that of a store built from scratch on the same
// files; the change log names the one person added.
func TestIncrementalRefreshEqualsFull(t *testing.T) {
	ctx := context.Background()
	dir := copySample(t)
	j, err := job.Load(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	inc := filepath.Join(dir, "inc.duckdb")
	r1, err := store.Refresh(ctx, j, inc, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	death := filepath.Join(dir, "data", "民政火化记录.csv")
	f, err := os.OpenFile(death, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	const id = "411082193507202310"
	fmt.Fprintln(f, "HH20249998,杨明,男,"+id+",1935-07-20,2024-03-01 08:00,2024-03-03 08:00,长葛市殡仪馆,河南省许昌市长葛市")
	// A record without an ID number of a registered person: linked by the
	// saved model (probabilistic) in the incremental refresh.
	fmt.Fprintln(f, "HH20249999,向德娥,女,,1943-10-30,2024-03-05 08:00,2024-03-07 08:00,鄢陵县殡仪馆,河南省许昌市鄢陵县安陵镇朱元庄居委会")
	f.Close()
	r2, err := store.Refresh(ctx, j, inc, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Seq != 2 || r2.FilesLoaded != 1 || r2.FilesKept != r1.FilesLoaded-1 {
		t.Errorf("incremental refresh: seq %d, %d files loaded, %d kept; want 2, 1, %d", r2.Seq, r2.FilesLoaded, r2.FilesKept, r1.FilesLoaded-1)
	}
	if r1.InPlace || !r2.InPlace || !r2.Direct {
		t.Errorf("in place: first refresh %v, incremental %v (direct %v); want false, true (the store file itself changed in place)", r1.InPlace, r2.InPlace, r2.Direct)
	}
	for _, p := range []string{inc + ".next", inc + ".work", inc + ".work.wal", inc + ".prevrows", inc + ".wal"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the in-place refresh left %s behind", filepath.Base(p))
		}
	}
	full := filepath.Join(dir, "full.duckdb")
	if _, err := store.Refresh(ctx, j, full, store.Options{}); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{fmt.Sprintf("ATTACH '%s' AS a (READ_ONLY)", inc), fmt.Sprintf("ATTACH '%s' AS b (READ_ONLY)", full)} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.Query(`SELECT table_name FROM duckdb_tables() WHERE database_name = 'b' AND NOT starts_with(table_name, 'store_')
		AND table_name NOT IN ('person_link_info', 'person_link_model') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		tables = append(tables, s)
	}
	rows.Close()
	if len(tables) < 10 {
		t.Fatalf("only %d tables: %v", len(tables), tables)
	}
	for _, tb := range tables {
		var n, m, total int64
		q := fmt.Sprintf(`SELECT (SELECT count(*) FROM (SELECT * FROM a.%[1]s EXCEPT ALL SELECT * FROM b.%[1]s)),
			(SELECT count(*) FROM (SELECT * FROM b.%[1]s EXCEPT ALL SELECT * FROM a.%[1]s)), (SELECT count(*) FROM b.%[1]s)`, tb)
		if err := db.QueryRow(q).Scan(&n, &m, &total); err != nil {
			t.Fatalf("%s: %v", tb, err)
		}
		if n != 0 || m != 0 {
			t.Errorf("table %s: %d rows only in the incremental store, %d only in the full one (of %d)", tb, n, m, total)
		}
	}
	// The incremental refresh linked only the loaded records, with the
	// saved model.
	var relinked string
	if err := db.QueryRow(`SELECT relinked FROM a.store_refresh WHERE seq = 2`).Scan(&relinked); err != nil {
		t.Fatal(err)
	}
	if relinked != "loaded: huohua" {
		t.Errorf("store_refresh.relinked = %q, want the cremation source only", relinked)
	}
	// The history of the copied store is kept: both refreshes, their files.
	var refreshes, files1 int64
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM a.store_refresh), (SELECT count(*) FROM a.store_file WHERE seq = 1)`).Scan(&refreshes, &files1); err != nil {
		t.Fatal(err)
	}
	if refreshes != 2 || files1 != int64(r1.FilesLoaded) {
		t.Errorf("manifest after the in-place refresh: %d refreshes, %d files of refresh 1; want 2, %d", refreshes, files1, r1.FilesLoaded)
	}
	// The change log names exactly the persons of the new death records,
	// as the store built from scratch links them.
	var want []string
	rows, err = db.Query(`SELECT DISTINCT person_key FROM b.death WHERE record_id IN ('HH20249998', 'HH20249999') AND person_key IS NOT NULL ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		rows.Scan(&k)
		want = append(want, k)
	}
	rows.Close()
	if len(want) != 2 || !slices.Contains(want, id) {
		t.Fatalf("the full store links the new death records to %v; want %s and the registered person without ID", want, id)
	}
	var got []string
	rows, err = db.Query(`SELECT person_key || ' ' || table_name FROM a.store_change WHERE seq = 2 ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		rows.Scan(&k)
		got = append(got, k)
	}
	rows.Close()
	if fmt.Sprint(got) != fmt.Sprint([]string{want[0] + " death", want[1] + " death"}) {
		t.Errorf("change log: %v, want %v in death", got, want)
	}
	if r2.ChangedPersons != 2 {
		t.Errorf("change log: %d persons, want 2", r2.ChangedPersons)
	}
	info, err := store.ReadInfo(ctx, inc)
	if err != nil {
		t.Fatal(err)
	}
	var acc int64
	for _, f := range info.Files {
		acc += f.RowsAccepted
	}
	var rowsIn int64
	for _, tb := range tables {
		if tb == "person" || tb == "death" || tb == "pension" || tb == "cadre" || tb == "prisoner" || tb == "marriage" || tb == "program" {
			var n int64
			db.QueryRow(fmt.Sprintf("SELECT count(*) FROM a.%s", tb)).Scan(&n)
			rowsIn += n
		}
	}
	if acc != rowsIn {
		t.Errorf("store info: %d rows accepted over the files, the tables hold %d", acc, rowsIn)
	}
	_ = engine.Version
}

// holdStoreEnv makes the test binary a reader of the store it names: it
// attaches the store read-only, says "held" and keeps it until its stdin
// closes (another process, as a screener is: DuckDB's file locks are per
// process).
const holdStoreEnv = "CROSSCHECK_TEST_HOLD_STORE"

// holdStoreWriteEnv set with holdStoreEnv makes the reader a writer: it
// attaches the store read-write, as a direct in-place refresh holds it.
const holdStoreWriteEnv = "CROSSCHECK_TEST_HOLD_STORE_WRITE"

func TestMain(m *testing.M) {
	if p := os.Getenv(holdStoreEnv); p != "" {
		mode := " (READ_ONLY)"
		if os.Getenv(holdStoreWriteEnv) != "" {
			mode = ""
		}
		db, err := sql.Open("duckdb", "")
		if err == nil {
			_, err = db.Exec(fmt.Sprintf("ATTACH '%s' AS s%s", p, mode))
		}
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		var n int64
		db.QueryRow("SELECT count(*) FROM s.death").Scan(&n)
		fmt.Printf("held %d\n", n)
		io.Copy(io.Discard, os.Stdin)
		db.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// holdStore starts a process that holds the store open read-only, as a
// screener does, and returns the function that ends it.
func holdStore(t *testing.T, path string, env ...string) func() {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(append(os.Environ(), holdStoreEnv+"="+path), env...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "held") {
		cmd.Process.Kill()
		t.Fatalf("reader: %q %v", line, err)
	}
	return func() {
		in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			cmd.Process.Kill()
		}
	}
}

// TestInPlaceRefreshWithReader: while another process has the store open,
// the incremental refresh changes a copy of it and renames the copy into
// place (it cannot take the file's write lock); the reader keeps reading
// the previous version, and the next refresh, with no reader, changes the
// file itself. Both give the change log of the new death records.
func TestInPlaceRefreshWithReader(t *testing.T) {
	ctx := context.Background()
	dir, j, st := refreshedSample(t)
	death := filepath.Join(dir, "data", "民政火化记录.csv")
	appendDeath := func(line string) {
		f, err := os.OpenFile(death, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(f, line)
		f.Close()
	}
	appendDeath("HH20249998,杨明,男,411082193507202310,1935-07-20,2024-03-01 08:00,2024-03-03 08:00,长葛市殡仪馆,河南省许昌市长葛市")
	release := holdStore(t, st)
	r2, err := store.Refresh(ctx, j, st, store.Options{})
	release()
	if err != nil {
		t.Fatal(err)
	}
	if !r2.InPlace || r2.Direct || r2.ChangedPersons != 1 {
		t.Errorf("refresh with a reader: in place %v, direct %v, %d persons changed; want true, false (a copy), 1", r2.InPlace, r2.Direct, r2.ChangedPersons)
	}
	appendDeath("HH20249997,向德娥,女,,1943-10-30,2024-03-05 08:00,2024-03-07 08:00,鄢陵县殡仪馆,河南省许昌市鄢陵县安陵镇朱元庄居委会")
	r3, err := store.Refresh(ctx, j, st, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r3.InPlace || !r3.Direct || r3.Seq != 3 || r3.ChangedPersons != 1 {
		t.Errorf("refresh without a reader: in place %v, direct %v, seq %d, %d persons changed; want true, true, 3, 1", r3.InPlace, r3.Direct, r3.Seq, r3.ChangedPersons)
	}
	info, err := store.ReadInfo(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if info.Seq != 3 || info.Changes[2] != 1 || info.Changes[3] != 1 {
		t.Errorf("store info: seq %d, changes %v; want 3, one person in refreshes 2 and 3", info.Seq, info.Changes)
	}
}

// TestReaderWaitsForDirectRefresh: while another process holds the store
// for writing, as a direct in-place refresh does until its checkpoint, a
// screener opening the store waits for it instead of failing with DuckDB's
// lock error, and opens it once the writer is gone.
func TestReaderWaitsForDirectRefresh(t *testing.T) {
	ctx := context.Background()
	_, _, st := refreshedSample(t)
	release := holdStore(t, st, holdStoreWriteEnv+"=1")
	const hold = 1500 * time.Millisecond
	start := time.Now()
	time.AfterFunc(hold, release)
	s, err := engine.OpenScreener(ctx, st, engine.ScreenOptions{})
	if err != nil {
		t.Fatalf("a screener opened while a refresh writes the store: %v", err)
	}
	defer s.Close()
	if waited := time.Since(start); waited < hold {
		t.Errorf("the screener opened after %s, while the writer held the store for %s", waited, hold)
	}
	res, err := s.Check(ctx, engine.Applicant{IDNumber: "411082193507202310", Name: "杨明", Program: "gaoling", Period: "2024-05"})
	if err != nil {
		t.Fatalf("check after the wait: %v", err)
	}
	if res.PersonKey == "" {
		t.Errorf("check after the wait: no person for a registered applicant")
	}
}

// TestRefreshKeepsUnchangedFileHash: a file whose size and modification
// time are those recorded at the last refresh is not read again (its
// recorded hash stands): a content changed behind an unchanged size and
// time is not seen (docs/store.md), while a changed time is hashed again
// and, with the same content, still kept.
func TestRefreshKeepsUnchangedFileHash(t *testing.T) {
	ctx := context.Background()
	dir := copySample(t)
	old := time.Now().Add(-time.Hour)
	ents, err := os.ReadDir(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.Chtimes(filepath.Join(dir, "data", e.Name()), old, old); err != nil {
			t.Fatal(err)
		}
	}
	j, err := job.Load(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(dir, "ref.duckdb")
	r1, err := store.Refresh(ctx, j, st, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The cremation file: one byte changed, size and time kept.
	death := filepath.Join(dir, "data", "民政火化记录.csv")
	b, err := os.ReadFile(death)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "殡仪馆")
	if i < 0 {
		t.Fatal("no 殡仪馆 in the cremation file")
	}
	copy(b[i:], "殡仪所")
	if err := os.WriteFile(death, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(death, old, old); err != nil {
		t.Fatal(err)
	}
	r2, err := store.Refresh(ctx, j, st, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Unchanged || r2.FilesKept != r1.FilesLoaded {
		t.Errorf("refresh after a change behind the same size and time: unchanged %v, %d files kept; want true, %d", r2.Unchanged, r2.FilesKept, r1.FilesLoaded)
	}
	// A new time: hashed again, found changed, loaded.
	now := time.Now().Add(-time.Minute)
	if err := os.Chtimes(death, now, now); err != nil {
		t.Fatal(err)
	}
	r3, err := store.Refresh(ctx, j, st, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r3.Unchanged || r3.FilesLoaded != 1 {
		t.Errorf("refresh after the time changed: unchanged %v, %d files loaded; want false, 1", r3.Unchanged, r3.FilesLoaded)
	}
	// Another file touched, same content: hashed, kept.
	var other string
	for _, e := range ents {
		if !strings.Contains(e.Name(), "发放名单") && e.Name() != filepath.Base(death) {
			other = filepath.Join(dir, "data", e.Name())
		}
	}
	if err := os.Chtimes(other, now, now); err != nil {
		t.Fatal(err)
	}
	r4, err := store.Refresh(ctx, j, st, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r4.Unchanged {
		t.Errorf("refresh after a file was touched with the same content: not unchanged (%d files loaded)", r4.FilesLoaded)
	}
}
