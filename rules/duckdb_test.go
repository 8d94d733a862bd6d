package rules

// The tests run rules in DuckDB; programs link it through the engine.
import _ "github.com/duckdb/duckdb-go/v2"
