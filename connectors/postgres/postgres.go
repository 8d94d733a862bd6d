// Package postgres is the connector for PostgreSQL tables and queries.
//
// Rows are streamed through a server-side cursor (FETCH fetch_rows at a
// time, inside one read-only REPEATABLE READ transaction, so a pull sees one
// snapshot) and every value comes back as PostgreSQL's own text output: the
// simple query protocol returns text, with the session's DateStyle set to
// ISO so dates read "2024-05-01" and timestamps "2024-05-01 08:30:00";
// numeric values keep every digit, booleans are "t"/"f", NULL is "". Row is
// the 1-based record number in the result.
//
// The DSN (a postgres:// URL or key=value string) never appears in the job
// file: it is read from the environment variable named by dsn_env or from
// the file dsn_file, and errors never show it or its password.
//
// With watermark_column set the source is connectors.Incremental: rows are
// ordered by that column, SetWatermark(w) restricts the next pull to rows
// whose column is greater than w, and Watermark reports the highest value
// read. Rows updated within the same instant as the stored watermark but
// committed after the pull are not seen; use a column with enough
// precision (timestamptz, or a sequence bumped by a trigger).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/crosscheck/crosscheck/connectors"
	"github.com/crosscheck/crosscheck/connectors/redact"
)

func init() {
	connectors.Default.Register(connectors.Spec{
		Name: "postgres",
		Doc: "A PostgreSQL table or query, streamed through a server-side cursor; values as PostgreSQL's text output (dates YYYY-MM-DD). " +
			"The DSN comes from an environment variable or a file, never from the job file. Incremental pulls with watermark_column. " +
			"Columns with the same name are an error (give them distinct names with AS); a connection or row that fails mid-stream stops the run naming the row.",
		Example: "connector: postgres\noptions: {table: minzheng.dibao_roll, watermark_column: updated_at}",
		Options: []connectors.Option{
			{Name: "dsn_env", Kind: "string", Default: "CROSSCHECK_PG_DSN", Doc: "name of the environment variable that holds the DSN (postgres://user:password@host:5432/db or key=value form)"},
			{Name: "dsn_file", Kind: "string", Default: "", Doc: "file that holds the DSN; used instead of dsn_env when set"},
			{Name: "table", Kind: "string", Default: "", Doc: "table or view to read, optionally schema-qualified (schema.table); set table or query, not both"},
			{Name: "query", Kind: "string", Default: "", Doc: "SELECT statement to read; set table or query, not both"},
			{Name: "watermark_column", Kind: "string", Default: "", Doc: "column whose value grows when a row changes (e.g. updated_at); enables incremental pulls and orders the rows by it"},
			{Name: "order_by", Kind: "string", Default: "", Doc: "comma-separated columns that order the rows (after watermark_column), so that row numbers are stable between pulls"},
			{Name: "watermark_key", Kind: "string", Default: "", Doc: "with watermark_column, for crosscheck store refresh: comma-separated canonical columns (e.g. record_id) that identify a record; a pulled row replaces the stored rows with the same key (a record updated at the source) instead of being added beside them"},
			{Name: "fetch_rows", Kind: "int", Default: 10000, Doc: "rows fetched from the cursor at a time"},
		},
		New: New,
	})
}

// Source reads one table or query.
type Source struct {
	name      string
	dsnEnv    string
	dsnFile   string
	table     []string // identifier parts
	tableName string
	query     string
	watermark string
	orderBy   []string
	fetch     int

	connectors.WatermarkState
}

var (
	_ connectors.Source      = (*Source)(nil)
	_ connectors.Incremental = (*Source)(nil)
)

// New builds a PostgreSQL source from validated options.
func New(cfg connectors.Config) (connectors.Source, error) {
	o := cfg.Options
	s := &Source{
		name:      cfg.Source,
		dsnEnv:    strings.TrimSpace(o.String("dsn_env")),
		dsnFile:   strings.TrimSpace(o.String("dsn_file")),
		tableName: strings.TrimSpace(o.String("table")),
		query:     strings.TrimRight(strings.TrimSpace(o.String("query")), "; \t\n"),
		watermark: strings.TrimSpace(o.String("watermark_column")),
		fetch:     o.Int("fetch_rows"),
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
			p = strings.Trim(strings.TrimSpace(p), `"`)
			if p == "" {
				return nil, bad("table", "%q is not a table name", s.tableName)
			}
			s.table = append(s.table, p)
		}
	}
	if s.fetch < 1 {
		return nil, bad("fetch_rows", "must be 1 or more, got %d", s.fetch)
	}
	if s.dsnEnv == "" && s.dsnFile == "" {
		return nil, bad("dsn_env", "must name an environment variable (or set dsn_file)")
	}
	if strings.ContainsAny(s.watermark, `",`) {
		return nil, bad("watermark_column", "%q is not one column name", s.watermark)
	}
	if ob := strings.TrimSpace(o.String("order_by")); ob != "" {
		for _, c := range strings.Split(ob, ",") {
			c = strings.Trim(strings.TrimSpace(c), `"`)
			if c == "" {
				return nil, bad("order_by", "%q is not a list of column names", ob)
			}
			s.orderBy = append(s.orderBy, c)
		}
	}
	return s, nil
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// baseSQL is the statement that reads the rows, before incremental
// restriction and ordering.
func (s *Source) baseSQL() string {
	if s.query != "" {
		return s.query
	}
	return "SELECT * FROM " + pgx.Identifier(s.table).Sanitize()
}

// selectSQL is the statement of a pull, with the watermark literal (already
// quoted) when since is set.
func (s *Source) selectSQL(since string) string {
	if s.watermark == "" && len(s.orderBy) == 0 {
		return s.baseSQL()
	}
	q := "SELECT * FROM (" + s.baseSQL() + ") AS crosscheck_src"
	if s.watermark != "" && since != "" {
		q += " WHERE " + ident(s.watermark) + " > " + quoteLiteral(since)
	}
	var order []string
	if s.watermark != "" {
		order = append(order, ident(s.watermark)+" NULLS FIRST")
	}
	for _, c := range s.orderBy {
		order = append(order, ident(c))
	}
	return q + " ORDER BY " + strings.Join(order, ", ")
}

// quoteLiteral quotes a string as a PostgreSQL literal (standard strings,
// the default since 9.1); the type is taken from the column it meets.
func quoteLiteral(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// session is one open connection with what errors may show about it.
type session struct {
	conn    *pgx.Conn
	where   string // "host:port/db", for messages
	secrets []string
}

func (s *Source) connect(ctx context.Context) (*session, error) {
	dsn, from, err := connectors.DSN(s.name, "postgres", s.dsnFile, s.dsnEnv)
	if err != nil {
		return nil, err
	}
	secrets := []string{dsn}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		msg := "expected postgres://user:password@host:port/database or key=value pairs"
		if inner := errors.Unwrap(err); inner != nil {
			msg = redact.Message(inner.Error(), secrets)
		}
		return nil, fmt.Errorf("source %s: postgres: the DSN in %s cannot be parsed: %s", s.name, from, msg)
	}
	if cfg.Password != "" {
		secrets = append(secrets, cfg.Password, url.QueryEscape(cfg.Password), url.PathEscape(cfg.Password))
	}
	// ISO dates whatever the server's default; text output is what users see.
	cfg.RuntimeParams["DateStyle"] = "ISO, YMD"
	cfg.RuntimeParams["IntervalStyle"] = "postgres"
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "crosscheck"
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, redact.NewError(ctx, fmt.Sprintf("source %s: postgres %s: connect: %s", s.name, where, oneLine(redact.Message(err.Error(), secrets))), err)
	}
	return &session{conn: conn, where: where, secrets: secrets}, nil
}

func (ss *session) close() {
	if ss.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ss.conn.Close(ctx)
		cancel()
		ss.conn = nil
	}
}

// fail builds an error for a failed statement, naming the table and without
// credentials.
func (s *Source) fail(ctx context.Context, ss *session, what string, err error) error {
	msg := redact.Message(err.Error(), ss.secrets)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Position > 0 {
		msg += fmt.Sprintf(" (SQLSTATE %s at character %d)", pe.Code, pe.Position)
	}
	return redact.NewError(ctx, fmt.Sprintf("source %s: postgres %s: %s %s: %s", s.name, ss.where, s.inputName(), what, msg), err)
}

func (s *Source) inputName() string {
	if s.tableName != "" {
		return "table " + s.tableName
	}
	return "query"
}

// label is the input name users see: the table, or "query".
func (s *Source) label() string {
	if s.tableName != "" {
		return s.tableName
	}
	return "query"
}

func (s *Source) header(ss *session, names []string) *connectors.Header {
	return &connectors.Header{Input: s.label(), Path: "postgres://" + ss.where + "/" + s.label(), Names: names}
}

// Headers describes the statement without running it.
func (s *Source) Headers(ctx context.Context) ([]connectors.Header, error) {
	ss, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer ss.close()
	sd, err := ss.conn.Prepare(ctx, "", s.baseSQL())
	if err != nil {
		return nil, s.fail(ctx, ss, "describe", err)
	}
	names := make([]string, len(sd.Fields))
	for i, f := range sd.Fields {
		names[i] = f.Name
	}
	if err := s.checkColumns(ss, names); err != nil {
		return nil, err
	}
	return []connectors.Header{*s.header(ss, names)}, nil
}

// checkColumns makes sure the watermark and order columns exist.
func (s *Source) checkColumns(ss *session, names []string) error {
	if err := connectors.CheckNames(names); err != nil {
		return fmt.Errorf("source %s: %s %s: %s: %w (give the columns distinct names with AS)", s.name, "postgres", ss.where, s.inputName(), err)
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
			return fmt.Errorf("source %s: postgres %s: %s has no column %q (columns: %s)", s.name, ss.where, s.inputName(), c, strings.Join(names, ", "))
		}
	}
	return nil
}

// Open connects, starts a read-only transaction and declares the cursor.
func (s *Source) Open(ctx context.Context) (connectors.Reader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	since := s.Since()
	if since != "" && s.watermark == "" {
		return nil, fmt.Errorf("source %s: postgres: a watermark was set but option watermark_column is empty", s.name)
	}
	ss, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	r := &reader{src: s, ctx: ctx, ss: ss, since: since, wmIndex: -1,
		fetchSQL: fmt.Sprintf("FETCH FORWARD %d FROM crosscheck_cursor", s.fetch)}
	if _, err := ss.conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", pgx.QueryExecModeSimpleProtocol); err != nil {
		ss.close()
		return nil, s.fail(ctx, ss, "begin", err)
	}
	if _, err := ss.conn.Exec(ctx, "DECLARE crosscheck_cursor NO SCROLL CURSOR FOR "+s.selectSQL(since), pgx.QueryExecModeSimpleProtocol); err != nil {
		ss.close()
		return nil, s.fail(ctx, ss, "query", err)
	}
	r.input = connectors.Input{Path: "postgres://" + ss.where + "/" + s.label()}
	return r, nil
}

type reader struct {
	src      *Source
	ctx      context.Context
	ss       *session
	since    string
	fetchSQL string
	rows     pgx.Rows
	inBatch  int  // rows read from the current FETCH
	last     bool // the current FETCH returned fewer rows than asked: no more
	header   *connectors.Header
	wmIndex  int
	highest  string
	n        int64
	input    connectors.Input
	inputs   []connectors.Input
	done     bool
	err      error
	scratch  []byte
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
	for {
		if r.rows == nil {
			if r.last {
				return connectors.Record{}, r.finish()
			}
			rows, err := r.ss.conn.Query(r.ctx, r.fetchSQL, pgx.QueryExecModeSimpleProtocol)
			if err != nil {
				return connectors.Record{}, r.stop(r.src.fail(r.ctx, r.ss, fmt.Sprintf("fetch at row %d", r.n+1), err))
			}
			r.rows, r.inBatch = rows, 0
			if r.header == nil {
				fds := rows.FieldDescriptions()
				names := make([]string, len(fds))
				for i, fd := range fds {
					names[i] = fd.Name
					if fd.Name == r.src.watermark {
						r.wmIndex = i
					}
				}
				r.header = r.src.header(r.ss, names)
				if err := r.src.checkColumns(r.ss, names); err != nil {
					return connectors.Record{}, r.stop(err)
				}
			}
		}
		if r.rows.Next() {
			raw := r.rows.RawValues()
			vals := r.strings(raw)
			r.inBatch++
			r.n++
			if r.wmIndex >= 0 && raw[r.wmIndex] != nil {
				r.highest = vals[r.wmIndex]
			}
			return connectors.Record{Header: r.header, Row: r.n, Values: vals}, nil
		}
		r.rows.Close()
		if err := r.rows.Err(); err != nil {
			r.rows = nil
			return connectors.Record{}, r.stop(r.src.fail(r.ctx, r.ss, fmt.Sprintf("row %d", r.n+1), err))
		}
		r.last = r.inBatch < r.src.fetch
		r.rows = nil
	}
}

// strings copies a row's raw text values into strings that share one
// allocation (as encoding/csv does): two allocations a row, not one a value.
func (r *reader) strings(raw [][]byte) []string {
	r.scratch = r.scratch[:0]
	for _, b := range raw {
		r.scratch = append(r.scratch, b...)
	}
	all := string(r.scratch)
	vals := make([]string, len(raw))
	off := 0
	for i, b := range raw {
		vals[i] = all[off : off+len(b)]
		off += len(b)
	}
	return vals
}

// finish ends a completed read: commit, record the watermark and input.
func (r *reader) finish() error {
	if _, err := r.ss.conn.Exec(r.ctx, "COMMIT", pgx.QueryExecModeSimpleProtocol); err != nil {
		return r.stop(r.src.fail(r.ctx, r.ss, "commit", err))
	}
	r.ss.close()
	r.done = true
	r.input.Rows = r.n
	r.inputs = append(r.inputs, r.input)
	if r.src.watermark != "" {
		r.src.Completed(r.since, r.highest)
	}
	return io.EOF
}

// stop ends the read on an error; later calls return the same error.
func (r *reader) stop(err error) error {
	if r.rows != nil {
		r.rows.Close()
		r.rows = nil
	}
	r.ss.close()
	r.err = err
	return err
}

func (r *reader) Inputs() []connectors.Input { return append([]connectors.Input(nil), r.inputs...) }

func (r *reader) Close() error {
	if r.rows != nil {
		r.rows.Close()
		r.rows = nil
	}
	r.ss.close()
	if !r.done && r.err == nil {
		r.err = errors.New("reader closed")
	}
	return nil
}

// oneLine joins the lines of a driver message (pgx reports one line per
// connection attempt), dropping repeats.
func oneLine(msg string) string {
	var out []string
	seen := map[string]bool{}
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return strings.Join(out, " ")
}
