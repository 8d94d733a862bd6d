package schema

// The reference store's own tables (docs/store.md): its manifest and change
// log, beside the canonical tables of every role but payment, person_link
// and the catalogue.
const (
	// StoreJob holds the job the store was refreshed from.
	StoreJob = "store_job"
	// StoreRefresh has one row per refresh (seq).
	StoreRefresh = "store_refresh"
	// StoreFile has, per refresh, one row per source and input file.
	StoreFile = "store_file"
	// StoreWatermark has, per refresh, the watermark of each database source
	// with a watermark_column, where its pull started and the rows it pulled.
	StoreWatermark = "store_watermark"
	// StoreChange is the change log: per refresh, person and table, the rows
	// added and removed.
	StoreChange = "store_change"
	// StoreChangeAll is the table_name of a change-log row that stands for
	// every person (the first refresh, or a table whose columns changed).
	StoreChangeAll = "*"
	// StorePrefix starts the name of every store table (none of a role).
	StorePrefix = "store_"
)

// StoreTables are the store's manifest tables, in creation order.
var StoreTables = []string{StoreJob, StoreRefresh, StoreFile, StoreWatermark, StoreChange}

// StoreDDL creates the store's manifest tables when absent.
func StoreDDL() []string {
	return []string{
		createIfNotExists + " " + StoreJob + ` (job_file VARCHAR, job_dir VARCHAR, job_yaml VARCHAR, job_json VARCHAR)`,
		createIfNotExists + " " + StoreRefresh + ` (seq BIGINT, started TIMESTAMP, finished TIMESTAMP, engine_version VARCHAR,
			files_loaded BIGINT, files_kept BIGINT, rows BIGINT, changed_persons BIGINT, relinked VARCHAR, counts VARCHAR)`,
		createIfNotExists + " " + StoreFile + ` (seq BIGINT, source VARCHAR, role VARCHAR, path VARCHAR, sha256 VARCHAR, bytes BIGINT,
			rows_accepted BIGINT, rows_quarantined BIGINT, mtime_ns BIGINT)`,
		createIfNotExists + " " + StoreWatermark + ` (seq BIGINT, source VARCHAR, watermark VARCHAR, since VARCHAR, rows_pulled BIGINT,
			rows_replaced BIGINT, appended BOOLEAN)`,
		createIfNotExists + " " + StoreChange + ` (seq BIGINT, person_key VARCHAR, table_name VARCHAR, added BIGINT, removed BIGINT)`,
	}
}
