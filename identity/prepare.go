package identity

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/crosscheck/crosscheck/identity/linkage"
	"github.com/crosscheck/crosscheck/identity/pinyin"
	"github.com/crosscheck/crosscheck/normalize/names"
)

// pinyinColumns are the columns of a pinyin table (see LoadPinyin), after
// the name itself.
var pinyinColumns = []string{"name_key", "py_full", "py_key", "py_folded", "py_initials", "py_surname", "py_given"}

// LoadPinyin creates the table dst (name VARCHAR, name_key, py_full,
// py_key, py_folded, py_initials, py_surname, py_given, all VARCHAR) with
// one row per distinct non-NULL value of the first column of namesQuery.
// The keys are computed in Go once per distinct name (pinyin.Romanize; the
// name_key is names.Compact of the normalised name) and appended to DuckDB,
// so that SQL joins them instead of calling a per-row function. It returns
// the number of names.
//
//	name_key     王伟, 买买提艾力 (normalised, separators removed)
//	py_full      "wangwei", "maimaiti aili"
//	py_key       "wangwei", "maimaitiaili" (same pinyin: 张伟 = 章炜)
//	py_folded    dialect-folded py_key (n/l, zh/z, ang/an …)
//	py_initials  "ww"
//	py_surname   "wang" (compound and polyphonic surnames read as surnames)
//	py_given     "wei"
func LoadPinyin(ctx context.Context, db *sql.DB, namesQuery, dst string) (int, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	// Read the distinct names through Arrow (much faster than Scan).
	var list []string
	err = conn.Raw(func(dc any) error {
		ar, err := duckdb.NewArrowFromConn(dc.(driver.Conn))
		if err != nil {
			return err
		}
		rdr, err := ar.QueryContext(ctx, fmt.Sprintf("SELECT DISTINCT n::VARCHAR AS n FROM (%s) t(n) WHERE n IS NOT NULL", namesQuery))
		if err != nil {
			return err
		}
		defer rdr.Release()
		for rdr.Next() {
			col := rdr.RecordBatch().Column(0)
			switch a := col.(type) {
			case *array.String:
				for i := range a.Len() {
					list = append(list, strings.Clone(a.Value(i)))
				}
			case *array.LargeString:
				for i := range a.Len() {
					list = append(list, strings.Clone(a.Value(i)))
				}
			case *array.StringView:
				for i := range a.Len() {
					list = append(list, strings.Clone(a.Value(i)))
				}
			default:
				return fmt.Errorf("unexpected Arrow type %s for names", col.DataType())
			}
		}
		return rdr.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("identity: names for pinyin: %w", err)
	}

	// Romanise and hand to DuckDB one block of names at a time, so that
	// the keys of millions of names are never all held in Go memory.
	fields := []arrow.Field{{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true}}
	for _, c := range pinyinColumns {
		fields = append(fields, arrow.Field{Name: c, Type: arrow.BinaryTypes.String, Nullable: true})
	}
	rdr := &pinyinReader{schema: arrow.NewSchema(fields, nil), list: list}
	defer rdr.close()
	view := fmt.Sprintf("_idl_arrow_%s_%d", dst, viewSeq.Add(1))
	var release func()
	err = conn.Raw(func(dc any) error {
		ar, err := duckdb.NewArrowFromConn(dc.(driver.Conn))
		if err != nil {
			return err
		}
		release, err = ar.RegisterView(rdr, view)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("identity: pinyin table: %w", err)
	}
	defer release()
	// An Arrow view can be read once: copy it at once, then drop it.
	_, err = conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TABLE %s AS SELECT * FROM %s", linkage.Ident(dst), linkage.Ident(view)))
	if _, e := conn.ExecContext(context.Background(), "DROP VIEW IF EXISTS "+linkage.Ident(view)); e != nil && err == nil {
		err = e
	}
	if err != nil {
		return 0, fmt.Errorf("identity: pinyin table: %w", err)
	}
	return len(list), nil
}

var viewSeq atomic.Int64

// pinyinBlock is the number of names romanised into one Arrow batch.
const pinyinBlock = 65536

// pinyinReader is the Arrow record reader of LoadPinyin: each Next
// romanises the next block of names (in parallel) into one batch.
type pinyinReader struct {
	schema *arrow.Schema
	list   []string
	next   int
	cur    arrow.RecordBatch
	keys   [][7]string
}

var _ array.RecordReader = (*pinyinReader)(nil)

func (r *pinyinReader) Retain()                        {}
func (r *pinyinReader) Release()                       {}
func (r *pinyinReader) Schema() *arrow.Schema          { return r.schema }
func (r *pinyinReader) Record() arrow.RecordBatch      { return r.cur }
func (r *pinyinReader) RecordBatch() arrow.RecordBatch { return r.cur }
func (r *pinyinReader) Err() error                     { return nil }

func (r *pinyinReader) close() {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
}

func (r *pinyinReader) Next() bool {
	r.close()
	if r.next >= len(r.list) {
		return false
	}
	lo, hi := r.next, min(r.next+pinyinBlock, len(r.list))
	r.next = hi
	block := r.list[lo:hi]
	if cap(r.keys) < len(block) {
		r.keys = make([][7]string, len(block))
	}
	keys := r.keys[:len(block)]
	workers := min(runtime.GOMAXPROCS(0), max(1, len(block)/5000))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(block); i += workers {
				n := names.Normalize(block[i])
				k := pinyin.Romanize(n)
				keys[i] = [7]string{names.Compact(n), k.Full, k.Key, k.Folded, k.Initials, k.Surname, k.Given}
			}
		}()
	}
	wg.Wait()
	ncol := len(pinyinColumns)
	bs := make([]*array.StringBuilder, ncol+1)
	cols := make([]arrow.Array, ncol+1)
	for j := range bs {
		bs[j] = array.NewStringBuilder(memory.DefaultAllocator)
		bs[j].Reserve(len(block))
	}
	for i, name := range block {
		bs[0].Append(name)
		for j, v := range keys[i] {
			if v == "" {
				bs[j+1].AppendNull()
			} else {
				bs[j+1].Append(v)
			}
		}
	}
	for j := range bs {
		cols[j] = bs[j].NewArray()
		bs[j].Release()
	}
	r.cur = array.NewRecordBatch(r.schema, cols, int64(len(block)))
	for _, c := range cols {
		c.Release()
	}
	return true
}

// Prepare creates table dst with the prepared columns PersonModel reads,
// from src, a table name or a parenthesised query with the columns
// __id BIGINT, name VARCHAR (raw or normalised), gender VARCHAR,
// birth_date DATE, region_code VARCHAR and id_number VARCHAR (the ID to
// compare: canonical, or the cleaned invalid string; NULL when none).
// It loads the pinyin keys of src's names into dst+"_pinyin" and keeps
// that table. The prepared columns are:
//
//	__id                   the record id
//	name_key, py_key, py_folded, py_initials, py_surname, py_given
//	                       the pinyin keys (see LoadPinyin)
//	gender                 'M', 'F' or NULL (from 男/女/1/2/M/F/male/female)
//	birth_date, birth_year
//	region4 … region12     prefixes of the division code at prefecture,
//	                       county, township and village depth, NULL when
//	                       the code does not go that deep (410102000000
//	                       is a county)
//	id_full                the ID number (15 or 18 characters) for the
//	                       Levenshtein levels, NULL otherwise
//	id_prefix              its first 14 digits (division of first
//	                       registration and birth date), also from a
//	                       spreadsheet-damaged ID whose first 15 digits
//	                       survive
func Prepare(ctx context.Context, db *sql.DB, src, dst string) error {
	py := dst + "_pinyin"
	if _, err := LoadPinyin(ctx, db, "SELECT name FROM "+src, py); err != nil {
		return err
	}
	return prepareWith(ctx, db, src, py, dst)
}

// regionSQL turns a division code rc into its significant digits: a
// 12-digit code ending in 000000 is a county, ending in 000 a township.
const regionSQL = `CASE WHEN length(rc) = 12 AND rc LIKE '%000000' THEN left(rc, 6)
	WHEN length(rc) = 12 AND rc LIKE '%000' THEN left(rc, 9) ELSE rc END`

// genderSQL folds the gender codes departments send.
const genderSQL = `CASE WHEN upper(trim(s.gender)) IN ('男', '1', 'M', 'MALE', '男性') THEN 'M'
	WHEN upper(trim(s.gender)) IN ('女', '2', 'F', 'FEMALE', '女性') THEN 'F' END`

// preparedNameColumns are the pinyin-table columns a prepared table keeps.
var preparedNameColumns = []string{"name_key", "py_key", "py_folded", "py_initials", "py_surname", "py_given"}

func prepareWith(ctx context.Context, db *sql.DB, src, pinyinTable, dst string) error {
	var pc []string
	for _, c := range preparedNameColumns {
		pc = append(pc, "p."+c)
	}
	q := fmt.Sprintf(`CREATE OR REPLACE TABLE %[1]s AS
SELECT __id, %[2]s, gender, birth_date, year(birth_date) AS birth_year,
  CASE WHEN length(rg) >= 4 AND substr(rg, 3, 2) <> '00' THEN left(rg, 4) END AS region4,
  CASE WHEN length(rg) >= 6 AND substr(rg, 5, 2) <> '00' THEN left(rg, 6) END AS region6,
  CASE WHEN length(rg) >= 9 THEN left(rg, 9) END AS region9,
  CASE WHEN length(rg) >= 12 THEN left(rg, 12) END AS region12,
  CASE WHEN regexp_full_match(idn, '[0-9]{17}[0-9X]|[0-9]{15}') THEN idn END AS id_full,
  CASE WHEN length(idd) >= 15 THEN left(idd, 14) END AS id_prefix
FROM (
  SELECT *, %[3]s AS rg FROM (
    SELECT s.__id, %[4]s, %[5]s AS gender, s.birth_date::DATE AS birth_date,
      regexp_replace(coalesce(s.region_code, ''), '[^0-9]', '', 'g') AS rc,
      upper(trim(s.id_number)) AS idn,
      regexp_extract(upper(trim(s.id_number)), '^[0-9]+') AS idd
    FROM %[6]s s LEFT JOIN %[7]s p ON p.name = s.name))`,
		linkage.Ident(dst), strings.Join(preparedNameColumns, ", "), regionSQL, strings.Join(pc, ", "),
		genderSQL, src, linkage.Ident(pinyinTable))
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("identity: prepare %s: %w", dst, err)
	}
	return nil
}
