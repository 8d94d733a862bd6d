// Package all links every built-in connector into a binary.
package all

import (
	_ "github.com/crosscheck/crosscheck/connectors/csv"     // csv connector
	_ "github.com/crosscheck/crosscheck/connectors/parquet" // parquet connector
)
