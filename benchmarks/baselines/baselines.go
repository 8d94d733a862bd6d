// Package baselines holds the naive SQL scripts the benchmark harness
// runs beside crosscheck on the same generated province: what an analyst
// writes in an afternoon in DuckDB and in PostgreSQL.
package baselines

import _ "embed"

// DuckDB is naive_duckdb.sql.
//
//go:embed naive_duckdb.sql
var DuckDB string

// Postgres is naive_postgres.sql.
//
//go:embed naive_postgres.sql
var Postgres string
