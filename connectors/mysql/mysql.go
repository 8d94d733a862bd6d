// Package mysql is the connector for MySQL and MariaDB tables and queries.
//
// Rows are streamed: the driver reads each row from the connection as it
// is asked for, never buffering the result, inside one read-only
// REPEATABLE READ transaction so a pull sees one snapshot. Values come back
// as the server's text protocol sends them: DATE as "2024-05-01", DATETIME
// as "2024-05-01 08:30:00", DECIMAL with every digit, TINYINT(1) booleans as
// "1"/"0", NULL as "". Row is the 1-based record number in the result.
//
// The DSN (user:password@tcp(host:3306)/db, the go-sql-driver form) never
// appears in the job file: it is read from the environment variable named
// by dsn_env or from the file dsn_file, and errors never show it or its
// password.
//
// With watermark_column set the source is connectors.Incremental, as for
// PostgreSQL: rows ordered by that column, SetWatermark(w) restricting the
// next pull to greater values, Watermark reporting the highest value read.
//
// Unlike the postgres connector there is no fetch_rows option: MySQL has
// no server-side cursor for text-protocol queries, and the driver's
// streaming already bounds memory to one row.
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	driver "github.com/go-sql-driver/mysql"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/connectors/redact"
)

func init() {
	connectors.Default.Register(connectors.Spec{
		Name: "mysql",
		Doc: "A MySQL or MariaDB table or query, streamed row by row; values as the server's text output (dates YYYY-MM-DD). " +
			"The DSN comes from an environment variable or a file, never from the job file. Incremental pulls with watermark_column. " +
			"Columns with the same name are an error (give them distinct names with AS); a connection or row that fails mid-stream stops the run naming the row.",
		Example: "connector: mysql\noptions: {table: canlian.disabled_persons, watermark_column: updated_at}",
		Options: []connectors.Option{
			{Name: "dsn_env", Kind: "string", Default: "CROSSCHECK_MYSQL_DSN", Doc: "name of the environment variable that holds the DSN (user:password@tcp(host:3306)/db)"},
			{Name: "dsn_file", Kind: "string", Default: "", Doc: "file that holds the DSN; used instead of dsn_env when set"},
			{Name: "table", Kind: "string", Default: "", Doc: "table or view to read, optionally database-qualified (db.table); set table or query, not both"},
			{Name: "query", Kind: "string", Default: "", Doc: "SELECT statement to read; set table or query, not both"},
			{Name: "watermark_column", Kind: "string", Default: "", Doc: "column whose value grows when a row changes (e.g. updated_at); enables incremental pulls and orders the rows by it"},
			{Name: "order_by", Kind: "string", Default: "", Doc: "comma-separated columns that order the rows (after watermark_column), so that row numbers are stable between pulls"},
			{Name: "watermark_key", Kind: "string", Default: "", Doc: "with watermark_column, for crosscheck store refresh: comma-separated canonical columns (e.g. record_id) that identify a record; a pulled row replaces the stored rows with the same key (a record updated at the source) instead of being added beside them"},
		},
		New: New,
	})
}

// Source reads one table or query.
type Source struct {
	name      string
	dsnEnv    string
	dsnFile   string
	table     []string
	tableName string
	query     string
	watermark string
	orderBy   []string

	connectors.WatermarkState
}

var (
	_ connectors.Source      = (*Source)(nil)
	_ connectors.Incremental = (*Source)(nil)
)

// New builds a MySQL source from validated options.
func New(cfg connectors.Config) (connectors.Source, error) {
	o := cfg.Options
	s := &Source{
		name:      cfg.Source,
		dsnEnv:    strings.TrimSpace(o.String("dsn_env")),
		dsnFile:   strings.TrimSpace(o.String("dsn_file")),
		tableName: strings.TrimSpace(o.String("table")),
		query:     strings.TrimRight(strings.TrimSpace(o.String("query")), "; \t\n"),
		watermark: strings.Trim(strings.TrimSpace(o.String("watermark_column")), "`"),
	}
	bad := func(opt, format string, args ...any) error {
		return fmt.Errorf("source %s: option %s: "+format, append([]any{cfg.Source, opt}, args...)...)
	}
	switch {
	case s.tableName == "" && s.query == "":
		return nil, fmt.Errorf("source %s: set option table or option query", cfg.Source)
	case s.tableName != "" && s.query != "":
		return nil, fmt.Errorf("source %s: set option table or option query, not both", cfg.Source)
	}
	if s.tableName != "" {
		for _, p := range strings.Split(s.tableName, ".") {
			p = strings.Trim(strings.TrimSpace(p), "`")
			if p == "" {
				return nil, bad("table", "%q is not a table name", s.tableName)
			}
			s.table = append(s.table, p)
		}
	}
	if s.dsnEnv == "" && s.dsnFile == "" {
		return nil, bad("dsn_env", "must name an environment variable (or set dsn_file)")
	}
	if strings.ContainsAny(s.watermark, ",") {
		return nil, bad("watermark_column", "%q is not one column name", s.watermark)
	}
	if ob := strings.TrimSpace(o.String("order_by")); ob != "" {
		for _, c := range strings.Split(ob, ",") {
			c = strings.Trim(strings.TrimSpace(c), "`")
			if c == "" {
				return nil, bad("order_by", "%q is not a list of column names", ob)
			}
			s.orderBy = append(s.orderBy, c)
		}
	}
	return s, nil
}

// ident quotes an identifier with backticks.
func ident(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

func (s *Source) baseSQL() string {
	if s.query != "" {
		return s.query
	}
	parts := make([]string, len(s.table))
	for i, p := range s.table {
		parts[i] = ident(p)
	}
	return "SELECT * FROM " + strings.Join(parts, ".")
}

// selectSQL is the statement of a pull; with since set it has one ?
// placeholder for the watermark.
func (s *Source) selectSQL(since string) string {
	if s.watermark == "" && len(s.orderBy) == 0 {
		return s.baseSQL()
	}
	q := "SELECT * FROM (" + s.baseSQL() + ") AS crosscheck_src"
	if s.watermark != "" && since != "" {
		q += " WHERE " + ident(s.watermark) + " > ?"
	}
	var order []string
	if s.watermark != "" {
		order = append(order, ident(s.watermark))
	}
	for _, c := range s.orderBy {
		order = append(order, ident(c))
	}
	return q + " ORDER BY " + strings.Join(order, ", ")
}

type session struct {
	db      *sql.DB
	conn    *sql.Conn
	where   string
	secrets []string
}

func (s *Source) connect(ctx context.Context) (*session, error) {
	dsn, from, err := connectors.DSN(s.name, "mysql", s.dsnFile, s.dsnEnv)
	if err != nil {
		return nil, err
	}
	secrets := []string{dsn}
	cfg, err := driver.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("source %s: mysql: the DSN in %s cannot be parsed: %s (expected user:password@tcp(host:3306)/database)",
			s.name, from, redact.Message(err.Error(), secrets))
	}
	if cfg.Passwd != "" {
		secrets = append(secrets, cfg.Passwd, url.QueryEscape(cfg.Passwd), url.PathEscape(cfg.Passwd))
	}
	// Text values exactly as the server sends them; the watermark is the
	// only parameter and the driver escapes it for the connection.
	cfg.ParseTime = false
	cfg.InterpolateParams = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// The server drops a streaming client that stops reading for
	// net_write_timeout seconds (60 by default); the engine may pause
	// between batches.
	if _, ok := cfg.Params["net_write_timeout"]; !ok {
		cfg.Params["net_write_timeout"] = "3600"
	}
	where := cfg.Addr + "/" + cfg.DBName
	connector, err := driver.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("source %s: mysql %s: %s", s.name, where, redact.Message(err.Error(), secrets))
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, redact.NewError(ctx, fmt.Sprintf("source %s: mysql %s: connect: %s", s.name, where, redact.Message(err.Error(), secrets)), err)
	}
	return &session{db: db, conn: conn, where: where, secrets: secrets}, nil
}

func (ss *session) close() {
	if ss.conn != nil {
		ss.conn.Close()
		ss.conn = nil
	}
	if ss.db != nil {
		ss.db.Close()
		ss.db = nil
	}
}

func (s *Source) inputName() string {
	if s.tableName != "" {
		return "table " + s.tableName
	}
	return "query"
}

func (s *Source) label() string {
	if s.tableName != "" {
		return s.tableName
	}
	return "query"
}

func (s *Source) fail(ctx context.Context, ss *session, what string, err error) error {
	return redact.NewError(ctx, fmt.Sprintf("source %s: mysql %s: %s %s: %s", s.name, ss.where, s.inputName(), what, redact.Message(err.Error(), ss.secrets)), err)
}

func (s *Source) header(ss *session, names []string) *connectors.Header {
	return &connectors.Header{Input: s.label(), Path: "mysql://" + ss.where + "/" + s.label(), Names: names}
}

func (s *Source) checkColumns(ss *session, names []string) error {
	if err := connectors.CheckNames(names); err != nil {
		return fmt.Errorf("source %s: %s %s: %s: %w (give the columns distinct names with AS)", s.name, "mysql", ss.where, s.inputName(), err)
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	want := append([]string(nil), s.orderBy...)
	if s.watermark != "" {
		want = append(want, s.watermark)
	}
	for _, c := range want {
		if !have[c] {
			return fmt.Errorf("source %s: mysql %s: %s has no column %q (columns: %s)", s.name, ss.where, s.inputName(), c, strings.Join(names, ", "))
		}
	}
	return nil
}

// Headers reads the column names of an empty result.
func (s *Source) Headers(ctx context.Context) ([]connectors.Header, error) {
	ss, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer ss.close()
	rows, err := ss.conn.QueryContext(ctx, "SELECT * FROM ("+s.baseSQL()+") AS crosscheck_src LIMIT 0")
	if err != nil {
		return nil, s.fail(ctx, ss, "describe", err)
	}
	names, err := rows.Columns()
	rows.Close()
	if err != nil {
		return nil, s.fail(ctx, ss, "describe", err)
	}
	if err := s.checkColumns(ss, names); err != nil {
		return nil, err
	}
	return []connectors.Header{*s.header(ss, names)}, nil
}

// Open connects, starts a read-only transaction and runs the query.
func (s *Source) Open(ctx context.Context) (connectors.Reader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	since := s.Since()
	if since != "" && s.watermark == "" {
		return nil, fmt.Errorf("source %s: mysql: a watermark was set but option watermark_column is empty", s.name)
	}
	ss, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := ss.conn.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		ss.close()
		return nil, s.fail(ctx, ss, "begin", err)
	}
	var args []any
	if since != "" {
		args = append(args, since)
	}
	rows, err := tx.QueryContext(ctx, s.selectSQL(since), args...)
	if err != nil {
		tx.Rollback()
		ss.close()
		return nil, s.fail(ctx, ss, "query", err)
	}
	names, err := rows.Columns()
	if err != nil {
		rows.Close()
		tx.Rollback()
		ss.close()
		return nil, s.fail(ctx, ss, "query", err)
	}
	r := &reader{src: s, ctx: ctx, ss: ss, tx: tx, rows: rows, since: since, wmIndex: -1,
		header: s.header(ss, names), input: connectors.Input{Path: "mysql://" + ss.where + "/" + s.label()}}
	for i, n := range names {
		if n == s.watermark {
			r.wmIndex = i
		}
	}
	if err := s.checkColumns(ss, names); err != nil {
		r.Close()
		return nil, err
	}
	r.raw = make([]sql.RawBytes, len(names))
	r.dest = make([]any, len(names))
	for i := range r.raw {
		r.dest[i] = &r.raw[i]
	}
	return r, nil
}

type reader struct {
	src     *Source
	ctx     context.Context
	ss      *session
	tx      *sql.Tx
	rows    *sql.Rows
	since   string
	header  *connectors.Header
	wmIndex int
	highest string
	raw     []sql.RawBytes
	dest    []any
	scratch []byte
	n       int64
	input   connectors.Input
	inputs  []connectors.Input
	done    bool
	err     error
}

func (r *reader) Next() (connectors.Record, error) {
	if r.err != nil {
		return connectors.Record{}, r.err
	}
	if r.done {
		return connectors.Record{}, io.EOF
	}
	if err := r.ctx.Err(); err != nil {
		return connectors.Record{}, r.stop(err)
	}
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return connectors.Record{}, r.stop(r.src.fail(r.ctx, r.ss, fmt.Sprintf("row %d", r.n+1), err))
		}
		return connectors.Record{}, r.finish()
	}
	if err := r.rows.Scan(r.dest...); err != nil {
		return connectors.Record{}, r.stop(r.src.fail(r.ctx, r.ss, fmt.Sprintf("row %d", r.n+1), err))
	}
	// One allocation for the row's text, sliced into its values.
	r.scratch = r.scratch[:0]
	for _, b := range r.raw {
		r.scratch = append(r.scratch, b...)
	}
	all := string(r.scratch)
	vals := make([]string, len(r.raw))
	off := 0
	for i, b := range r.raw {
		vals[i] = all[off : off+len(b)]
		off += len(b)
	}
	r.n++
	if r.wmIndex >= 0 && r.raw[r.wmIndex] != nil {
		r.highest = vals[r.wmIndex]
	}
	return connectors.Record{Header: r.header, Row: r.n, Values: vals}, nil
}

func (r *reader) finish() error {
	r.rows.Close()
	if err := r.tx.Commit(); err != nil {
		return r.stop(r.src.fail(r.ctx, r.ss, "commit", err))
	}
	r.tx = nil
	r.ss.close()
	r.done = true
	r.input.Rows = r.n
	r.inputs = append(r.inputs, r.input)
	if r.src.watermark != "" {
		r.src.Completed(r.since, r.highest)
	}
	return io.EOF
}

func (r *reader) release() {
	if r.rows != nil {
		r.rows.Close()
	}
	if r.tx != nil {
		r.tx.Rollback()
		r.tx = nil
	}
	r.ss.close()
}

func (r *reader) stop(err error) error {
	r.release()
	r.err = err
	return err
}

func (r *reader) Inputs() []connectors.Input { return append([]connectors.Input(nil), r.inputs...) }

func (r *reader) Close() error {
	r.release()
	if !r.done && r.err == nil {
		r.err = errors.New("reader closed")
	}
	return nil
}
