// Package all links every built-in connector into a binary.
package all

import (
	_ "github.com/crosscheck/crosscheck/connectors/csv"      // csv connector
	_ "github.com/crosscheck/crosscheck/connectors/jsonl"    // jsonl connector
	_ "github.com/crosscheck/crosscheck/connectors/mysql"    // mysql connector (MySQL and MariaDB)
	_ "github.com/crosscheck/crosscheck/connectors/parquet"  // parquet connector
	_ "github.com/crosscheck/crosscheck/connectors/postgres" // postgres connector
	_ "github.com/crosscheck/crosscheck/connectors/xlsx"     // xlsx connector
)
