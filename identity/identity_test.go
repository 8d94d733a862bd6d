package identity

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/identity/pinyin"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
	"github.com/crosscheck/crosscheck/normalize/names"
)

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "?threads=2")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
}

// makeID builds a valid 18-character ID from a 6-digit division, a birth
// date YYYYMMDD and a 3-digit sequence (odd for men).
func makeID(div, ymd, seq string) string {
	body := div + ymd + seq
	return body + string(idnumber.CheckChar(body))
}

// rec is one row of a hand-made canonical table.
type rec struct {
	rid                   int64
	id, status, key       string // key "" = NULL
	name, gender, birth   string // "" = NULL
	region                string
	table                 string
	wantMethod, wantKey   string // expectations ("" key = NULL)
	wantCandidatesAtLeast int
}

const canonCols = `_source VARCHAR, _rid BIGINT, id_number VARCHAR, id_number_status VARCHAR, person_key VARCHAR,
	name VARCHAR, name_norm VARCHAR, gender VARCHAR, birth_date DATE, region_code VARCHAR`

func createTables(t *testing.T, db *sql.DB, recs []rec) {
	mustExec(t, db, "CREATE OR REPLACE TABLE person ("+canonCols+", status VARCHAR)")
	mustExec(t, db, "CREATE OR REPLACE TABLE death ("+canonCols+", death_date DATE)")
	// payment has no gender or birth date, as the canonical payment role.
	mustExec(t, db, `CREATE OR REPLACE TABLE payment (_source VARCHAR, _rid BIGINT, id_number VARCHAR, id_number_status VARCHAR,
		person_key VARCHAR, name VARCHAR, name_norm VARCHAR, region_code VARCHAR, amount DOUBLE)`)
	nv := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	for _, r := range recs {
		switch r.table {
		case "payment":
			mustExec(t, db, "INSERT INTO payment VALUES ('src', ?, ?, ?, ?, ?, ?, ?, 100)",
				r.rid, nv(r.id), r.status, nv(r.key), r.name, names.Normalize(r.name), nv(r.region))
		default:
			mustExec(t, db, fmt.Sprintf("INSERT INTO %s VALUES ('src', ?, ?, ?, ?, ?, ?, ?, ?::DATE, ?, NULL)", r.table),
				r.rid, nv(r.id), r.status, nv(r.key), r.name, names.Normalize(r.name), nv(r.gender), nv(r.birth), nv(r.region))
		}
	}
}

func person(rid int64, name, gender, birth, village string, seq string) rec {
	id := makeID(village[:6], strings.ReplaceAll(birth, "-", ""), seq)
	return rec{rid: rid, id: id, status: "valid", key: id, name: name, gender: gender, birth: birth, region: village, table: "person",
		wantMethod: MethodExact, wantKey: id}
}

// filler returns n registry persons with distinct rare names spread over
// other villages, so that the registry is not tiny.
func filler(start int64, n int) []rec {
	sur := []rune("赵钱孙周吴郑冯褚卫蒋沈韩杨朱秦尤许何吕施")
	giv := []rune("一二三四五六七八九十甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥")
	var out []rec
	for i := 0; i < n; i++ {
		name := string(sur[i%len(sur)]) + string(giv[(i/len(sur))%len(giv)]) + string(giv[(i*7)%len(giv)])
		g := []string{"男", "女"}[i%2]
		birth := fmt.Sprintf("%d-%02d-%02d", 1930+i%70, 1+i%12, 1+i%28)
		village := fmt.Sprintf("4101%02d%03d%03d", 10+i%8, 1+i%20, 1+i%30)
		out = append(out, person(start+int64(i), name, g, birth, village, fmt.Sprintf("%03d", 100+2*(i%400)+i%2)))
	}
	return out
}

func TestLink(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)

	zhang := person(1, "张伟", "男", "1950-03-01", "410102001001", "011")
	twinA := person(2, "王佳伟", "男", "1962-07-15", "410102002003", "013")
	twinB := person(3, "王佳强", "男", "1962-07-15", "410102002003", "015")
	wang1 := person(4, "王伟", "男", "1955-01-10", "410102001001", "017")
	wang2 := person(5, "王伟", "男", "1971-09-20", "410102001002", "019")
	shan := person(6, "单雄", "男", "1940-05-05", "410103001001", "021")
	li := person(7, "李秀英", "女", "1948-11-11", "410102003001", "022")
	liu1 := person(8, "刘芳", "女", "1960-02-02", "410105001001", "024")
	liu2 := person(9, "刘芳", "女", "1966-06-06", "410105001001", "026")
	chen := person(10, "陈静", "女", "1970-01-01", "410102001003", "028")
	maimaiti := person(11, "买买提·艾力", "男", "1958-08-08", "410102001003", "031")
	recs := []rec{zhang, twinA, twinB, wang1, wang2, shan, li, liu1, liu2, chen, maimaiti}
	recs = append(recs, filler(1000, 300)...)

	liExcel := li.key[:15] + "000"
	zhangTypo := zhang.key[:10] + "9" + zhang.key[11:] // one wrong digit: invalid, repaired by the engine
	cases := []rec{
		// exact, upgraded and repaired keys are kept
		{rid: 100, table: "payment", id: zhang.key, status: "valid", key: zhang.key, name: "张伟", region: "410102001001",
			wantMethod: MethodExact, wantKey: zhang.key},
		{rid: 101, table: "payment", id: chen.key, status: "upgraded", key: chen.key, name: "陈静", region: "410102001003",
			wantMethod: MethodUpgraded, wantKey: chen.key},
		{rid: 102, table: "payment", id: zhangTypo, status: "repaired", key: zhang.key, name: "张伟",
			wantMethod: MethodRepaired, wantKey: zhang.key},
		// a cremation record without ID links to the right person
		{rid: 200, table: "death", status: "missing", name: "张伟", gender: "男", birth: "1950-03-01", region: "410102001001",
			wantMethod: MethodProbabilistic, wantKey: zhang.key},
		// homophone surname typo 章/张 links
		{rid: 201, table: "death", status: "missing", name: "章伟", gender: "1", birth: "1950-03-01", region: "410102001001",
			wantMethod: MethodProbabilistic, wantKey: zhang.key},
		// twins stay apart: each twin's record links to that twin …
		{rid: 202, table: "death", status: "missing", name: "王佳伟", gender: "男", birth: "1962-07-15", region: "410102002003",
			wantMethod: MethodProbabilistic, wantKey: twinA.key},
		{rid: 203, table: "death", status: "missing", name: "王佳强", gender: "男", birth: "1962-07-15", region: "410102002003",
			wantMethod: MethodProbabilistic, wantKey: twinB.key},
		// … and a sibling who is not in the registry links to neither
		{rid: 204, table: "death", status: "missing", name: "王佳明", gender: "男", birth: "1962-07-15", region: "410102002003",
			wantMethod: MethodUnresolved, wantCandidatesAtLeast: 0},
		// namesakes stay apart: the birth date decides between two 王伟 …
		{rid: 205, table: "death", status: "missing", name: "王伟", gender: "男", birth: "1971-09-20", region: "410102001002",
			wantMethod: MethodProbabilistic, wantKey: wang2.key},
		// … and a 王伟 born elsewhere on another date links to nobody
		{rid: 206, table: "death", status: "missing", name: "王伟", gender: "男", birth: "1980-04-04", region: "410199001001",
			wantMethod: MethodUnresolved},
		// ambiguous: two 刘芳 in the same village, no birth date
		{rid: 207, table: "death", status: "missing", name: "刘芳", gender: "女", region: "410105001001",
			wantMethod: MethodUnresolved, wantCandidatesAtLeast: 2},
		// a name in Latin letters, polyphonic surname 单 = shan
		{rid: 208, table: "death", status: "missing", name: "SHAN Xiong", gender: "M", birth: "1940-05-05", region: "410103001001",
			wantMethod: MethodProbabilistic, wantKey: shan.key},
		// spreadsheet-damaged ID, first 15 digits intact, no birth date
		{rid: 209, table: "death", id: liExcel, status: "excel_damaged", name: "李秀英", gender: "女", region: "410102003001",
			wantMethod: MethodProbabilistic, wantKey: li.key},
		// minority name without its separator
		{rid: 210, table: "death", status: "missing", name: "买买提艾力", gender: "男", birth: "1958-08-08", region: "410102001003",
			wantMethod: MethodProbabilistic, wantKey: maimaiti.key},
		// a payment row with a garbage ID and no birth date: name and
		// village suffice when the name is unique there
		{rid: 211, table: "payment", id: "garbage", status: "invalid", name: "陈静", region: "410102001003",
			wantMethod: MethodProbabilistic, wantKey: chen.key},
	}
	recs = append(recs, cases...)
	createTables(t, db, recs)

	sum, err := Link(ctx, db, Config{Train: TrainNever})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("summary: %+v", sum.ByMethod)
	if got := strings.Join(sum.Tables, ","); got != "death,payment,person" {
		t.Errorf("tables = %s", got)
	}

	type row struct {
		key, method, cands sql.NullString
		w, p               sql.NullFloat64
		n                  sql.NullInt64
		inReg              sql.NullBool
	}
	get := func(table string, rid int64) row {
		var r row
		err := db.QueryRow(`SELECT person_key, method, candidates, match_weight, match_probability, n_candidates, in_registry
			FROM person_link WHERE table_name = ? AND _rid = ?`, table, rid).Scan(&r.key, &r.method, &r.cands, &r.w, &r.p, &r.n, &r.inReg)
		if err != nil {
			t.Fatalf("%s %d: %v", table, rid, err)
		}
		return r
	}
	for _, c := range recs {
		if c.table == "person" && c.rid >= 1000 {
			continue
		}
		r := get(c.table, c.rid)
		if r.method.String != c.wantMethod || r.key.String != c.wantKey {
			expl, _ := Explain(ctx, db, c.table, c.rid)
			t.Errorf("%s %d (%s): got %s %q (w %.2f p %.4f), want %s %q\n%s", c.table, c.rid, c.name, r.method.String, r.key.String,
				r.w.Float64, r.p.Float64, c.wantMethod, c.wantKey, expl)
			continue
		}
		if c.wantMethod == MethodProbabilistic && (!r.p.Valid || r.p.Float64 < 0.95) {
			t.Errorf("%s %d: probability %v", c.table, c.rid, r.p)
		}
		if int(r.n.Int64) < c.wantCandidatesAtLeast {
			t.Errorf("%s %d: %d candidates, want ≥ %d", c.table, c.rid, r.n.Int64, c.wantCandidatesAtLeast)
		}
		if c.wantKey != "" && (!r.inReg.Valid || !r.inReg.Bool) {
			t.Errorf("%s %d: in_registry = %v", c.table, c.rid, r.inReg)
		}
	}

	// The ambiguous record lists both 刘芳 as candidates.
	amb := get("death", 207)
	var list []struct {
		Key string  `json:"person_key"`
		W   float64 `json:"match_weight"`
		P   float64 `json:"match_probability"`
	}
	if err := json.Unmarshal([]byte(amb.cands.String), &list); err != nil {
		t.Fatalf("candidates %q: %v", amb.cands.String, err)
	}
	keys := map[string]bool{}
	for _, c := range list {
		keys[c.Key] = true
	}
	if !keys[liu1.key] || !keys[liu2.key] {
		t.Errorf("ambiguous record: candidates %s, want both 刘芳", amb.cands.String)
	}
	if sum.Ambiguous < 1 {
		t.Errorf("summary: %d ambiguous, want ≥ 1", sum.Ambiguous)
	}

	// Explain shows the waterfall of the homophone link.
	ex, err := Explain(ctx, db, "death", 201)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"method probabilistic", "candidate #1", "same pinyin", "prior", "name tf", "match probability"} {
		if !strings.Contains(ex, want) {
			t.Errorf("Explain lacks %q:\n%s", want, ex)
		}
	}
	if strings.Contains(ex, zhang.key) {
		t.Errorf("Explain shows an unmasked ID:\n%s", ex)
	}
	t.Logf("\n%s", ex)
	if ex, err := Explain(ctx, db, "payment", 100); err != nil || !strings.Contains(ex, "valid ID") {
		t.Errorf("Explain exact: %q %v", ex, err)
	}
	if _, err := Explain(ctx, db, "payment", 99999); err == nil {
		t.Error("Explain of a missing record: no error")
	}

	var svg bytes.Buffer
	if err := WriteWeightHistogram(ctx, db, &svg); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(svg.String(), "<svg") || !strings.Contains(svg.String(), "threshold") {
		t.Errorf("histogram: %.200s", svg.String())
	}

	// Only the output tables were added; the working tables are gone and
	// the canonical tables unchanged.
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '\_idl\_%' ESCAPE '\'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d working tables left (%v)", n, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM death WHERE person_key IS NOT NULL`).Scan(&n); err != nil || n != 0 {
		t.Errorf("death.person_key changed: %d (%v)", n, err)
	}
	var total, links int
	db.QueryRow(`SELECT (SELECT count(*) FROM person) + (SELECT count(*) FROM death) + (SELECT count(*) FROM payment), (SELECT count(*) FROM person_link)`).Scan(&total, &links)
	if total != links {
		t.Errorf("person_link has %d rows for %d records", links, total)
	}
}

func TestLoadPinyin(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	n, err := LoadPinyin(ctx, db, "SELECT * FROM (VALUES ('单雄'), ('张伟'), ('章炜'), ('曾国藩'), ('買買提·艾力'), (NULL), ('张伟')) t(n)", "py")
	if err != nil || n != 5 {
		t.Fatalf("LoadPinyin = %d, %v", n, err)
	}
	want := map[string]string{
		"单雄":     "shanxiong|shan|xiong|sx",
		"张伟":     "zhangwei|zhang|wei|zw",
		"章炜":     "zhangwei|zhang|wei|zw",
		"曾国藩":    "zengguofan|zeng|guofan|zgf",
		"買買提·艾力": "maimaitiaili||maimaitiaili|mmtal",
	}
	rows, err := db.Query("SELECT name, py_key, coalesce(py_surname, ''), py_given, py_initials, name_key FROM py")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, key, sur, giv, ini, nk string
		if err := rows.Scan(&name, &key, &sur, &giv, &ini, &nk); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join([]string{key, sur, giv, ini}, "|"); got != want[name] {
			t.Errorf("%s: %s, want %s", name, got, want[name])
		}
		if name == "買買提·艾力" && nk != "买买提艾力" {
			t.Errorf("name_key %q", nk)
		}
	}
}

// TestLoadPinyinBlocks loads more names than one block holds and checks
// every row against the keys computed for it directly.
func TestLoadPinyinBlocks(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	// 70,000 distinct names: surname, two given characters and a letter
	// (5 × 24 × 24 × 26 = 74,880 combinations).
	q := `SELECT ['王', '李', '张', '欧阳', '單'][i % 5 + 1]
		|| substr('伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华', i // 5 % 24 + 1, 1)
		|| substr('伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华', i // 120 % 24 + 1, 1)
		|| chr((97 + i // 2880 % 26)::INTEGER) FROM range(70000) r(i)`
	n, err := LoadPinyin(ctx, db, q, "py_blocks")
	if err != nil {
		t.Fatal(err)
	}
	if n <= pinyinBlock {
		t.Fatalf("only %d names, want more than one block (%d)", n, pinyinBlock)
	}
	var rowsN int
	db.QueryRow("SELECT count(*) FROM py_blocks").Scan(&rowsN)
	if rowsN != n {
		t.Fatalf("py_blocks has %d rows for %d names", rowsN, n)
	}
	rows, err := db.Query("SELECT name, name_key, py_full, py_key, py_folded, py_initials, coalesce(py_surname, ''), coalesce(py_given, '') FROM py_blocks")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	checked := 0
	for rows.Next() {
		var name string
		got := make([]string, 7)
		if err := rows.Scan(&name, &got[0], &got[1], &got[2], &got[3], &got[4], &got[5], &got[6]); err != nil {
			t.Fatal(err)
		}
		nn := names.Normalize(name)
		k := pinyin.Romanize(nn)
		want := []string{names.Compact(nn), k.Full, k.Key, k.Folded, k.Initials, k.Surname, k.Given}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("%s: %v, want %v", name, got, want)
		}
		checked++
	}
	if checked != n {
		t.Fatalf("checked %d of %d names", checked, n)
	}
}

// TestLinkNoRegistry links against the keyed records of the linked tables
// when there is no person registry, and rejects bad settings.
func TestLinkNoRegistry(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	a := makeID("410102", "19500301", "011")
	createTables(t, db, []rec{
		{rid: 1, table: "payment", id: a, status: "valid", key: a, name: "张伟", region: "410102001001"},
		{rid: 2, table: "death", status: "missing", name: "张伟", gender: "男", birth: "1950-03-01", region: "410102001001"},
	})
	mustExec(t, db, "DROP TABLE person")
	sum, err := Link(ctx, db, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Registry != "" || sum.Trained {
		t.Errorf("registry %q trained %v", sum.Registry, sum.Trained)
	}
	var key, method string
	var inReg sql.NullBool
	if err := db.QueryRow(`SELECT person_key, method, in_registry FROM person_link WHERE table_name = 'death' AND _rid = 2`).Scan(&key, &method, &inReg); err != nil {
		t.Fatal(err)
	}
	if key != a || method != MethodProbabilistic || inReg.Valid {
		t.Errorf("got %s %s in_registry %v, want %s probabilistic NULL", key, method, inReg, a)
	}
	for _, bad := range []Config{{Threshold: 1.5}, {Margin: -1}, {Train: "sometimes"}, {Tables: []string{"nope"}}} {
		if _, err := Link(ctx, db, bad); err == nil {
			t.Errorf("Link(%+v): no error", bad)
		}
	}
}
