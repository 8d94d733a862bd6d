package casestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Migration is one step of the schema. Steps run in order, each in its own
// transaction, and are recorded in schema_migrations; a step never changes
// once released: a later change is a new step.
type Migration struct {
	Version int
	Name    string
	SQL     []string
}

// Migrations are the schema steps in order.
var Migrations = []Migration{
	{1, "initial schema: runs, cases, hits, case events, audit log, exceptions, parameters", []string{
		`CREATE SEQUENCE audit_seq START 1`,
		`CREATE SEQUENCE event_seq START 1`,
		`CREATE SEQUENCE exception_seq START 1`,
		`CREATE TABLE runs (
			run_id VARCHAR PRIMARY KEY,
			imported_at TIMESTAMP NOT NULL,
			imported_by VARCHAR NOT NULL,
			source VARCHAR,
			periods VARCHAR[],
			payment_sources VARCHAR[],
			rule_set VARCHAR,
			hits BIGINT, new_cases BIGINT, merged_cases BIGINT, suppressed_hits BIGINT,
			reopened_cases BIGINT, withdrawn_deaths BIGINT)`,
		`CREATE TABLE cases (
			case_id VARCHAR PRIMARY KEY,
			person_key VARCHAR NOT NULL,
			id_number VARCHAR, id_status VARCHAR, name VARCHAR,
			program_code VARCHAR NOT NULL, program_name VARCHAR, department VARCHAR,
			region_code VARCHAR, county_code VARCHAR, township_code VARCHAR, prefecture_code VARCHAR,
			first_period VARCHAR, last_period VARCHAR, periods INTEGER,
			severity VARCHAR, categories VARCHAR[], rule_ids VARCHAR[],
			hits INTEGER, payments INTEGER, amount DECIMAL(18,2), amount_per_month DECIMAL(18,2),
			sources INTEGER, source_list VARCHAR[], link_probability DOUBLE,
			rule_precision DOUBLE, priority DOUBLE,
			prio_severity DOUBLE, prio_sources DOUBLE, prio_link DOUBLE, prio_money DOUBLE, prio_precision DOUBLE,
			status VARCHAR NOT NULL, assignee VARCHAR, stage_started TIMESTAMP NOT NULL, due_at TIMESTAMP,
			decision VARCHAR,
			outcome_payment_stopped BOOLEAN, outcome_to_recover DECIMAL(18,2), outcome_recovered DECIMAL(18,2),
			outcome_referred BOOLEAN, outcome_note VARCHAR,
			dismiss_reason VARCHAR, dismiss_text VARCHAR,
			death_withdrawn BOOLEAN NOT NULL DEFAULT false,
			evidence_changed BOOLEAN NOT NULL DEFAULT false,
			reopened INTEGER NOT NULL DEFAULT 0,
			suppressed_hits INTEGER NOT NULL DEFAULT 0,
			run_ids VARCHAR[], first_run VARCHAR, last_run VARCHAR,
			created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL,
			decided_at TIMESTAMP, closed_at TIMESTAMP,
			version INTEGER NOT NULL)`,
		`CREATE TABLE hits (
			run_id VARCHAR NOT NULL, hit_id VARCHAR NOT NULL,
			case_id VARCHAR, suppressed VARCHAR,
			rule_id VARCHAR NOT NULL, category VARCHAR, severity VARCHAR,
			payment_id VARCHAR, program_code VARCHAR, program_name VARCHAR, department VARCHAR,
			period VARCHAR, region_code VARCHAR, id_number VARCHAR, id_status VARCHAR, name VARCHAR,
			amount DECIMAL(18,2), explanation VARCHAR, evidence VARCHAR,
			payment_source VARCHAR, payment_file VARCHAR, payment_row BIGINT,
			person_key VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL, ev_sources VARCHAR[], death_fp VARCHAR)`,
		`CREATE INDEX hits_case ON hits (case_id)`,
		`CREATE TABLE case_events (
			seq BIGINT NOT NULL DEFAULT nextval('event_seq'),
			case_id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, actor VARCHAR NOT NULL,
			action VARCHAR NOT NULL, from_status VARCHAR, to_status VARCHAR,
			detail VARCHAR, reason VARCHAR, run_id VARCHAR)`,
		`CREATE INDEX case_events_case ON case_events (case_id)`,
		`CREATE TABLE audit_log (
			seq BIGINT NOT NULL DEFAULT nextval('audit_seq'),
			ts TIMESTAMP NOT NULL, actor VARCHAR NOT NULL, role VARCHAR,
			action VARCHAR NOT NULL, object_type VARCHAR, object_id VARCHAR,
			detail VARCHAR, reason VARCHAR, remote VARCHAR)`,
		`CREATE TABLE exceptions (
			id BIGINT PRIMARY KEY DEFAULT nextval('exception_seq'),
			person_key VARCHAR NOT NULL, name VARCHAR,
			rule_id VARCHAR NOT NULL, program_code VARCHAR NOT NULL,
			reason VARCHAR NOT NULL, owner VARCHAR NOT NULL, expires DATE,
			created_at TIMESTAMP NOT NULL, created_by VARCHAR NOT NULL,
			revoked_at TIMESTAMP, revoked_by VARCHAR, revoke_reason VARCHAR)`,
		`CREATE TABLE params (
			version INTEGER PRIMARY KEY, value VARCHAR NOT NULL,
			changed_at TIMESTAMP NOT NULL, changed_by VARCHAR NOT NULL, reason VARCHAR)`,
	}},
	// Step 2 rebuilds audit_log instead of ALTER TABLE … ADD COLUMN: DuckDB
	// 1.5 replays an ADD COLUMN from the write-ahead log by re-binding every
	// column default of the table, and binding seq's nextval('audit_seq')
	// during start-up fails ("INTERNAL Error: Failure while replaying WAL …
	// GetDefaultDatabase with no default database set", duckdb/duckdb#18259,
	// #20543): a store killed before its first checkpoint could not be
	// opened again. CREATE, INSERT, DROP and RENAME replay without binding.
	// The resulting schema is the one the released step made. Never ADD
	// COLUMN to a table with a function default; TestEveryMigrationStep-
	// ReplaysFromWAL checks each step.
	{2, "audit_log.journal_id: views are journaled first and copied into audit_log", []string{
		`CREATE TABLE audit_log_v2 (
			seq BIGINT NOT NULL DEFAULT nextval('audit_seq'),
			ts TIMESTAMP NOT NULL, actor VARCHAR NOT NULL, role VARCHAR,
			action VARCHAR NOT NULL, object_type VARCHAR, object_id VARCHAR,
			detail VARCHAR, reason VARCHAR, remote VARCHAR, journal_id BIGINT)`,
		`INSERT INTO audit_log_v2 (seq, ts, actor, role, action, object_type, object_id, detail, reason, remote)
			SELECT seq, ts, actor, role, action, object_type, object_id, detail, reason, remote FROM audit_log ORDER BY seq`,
		`DROP TABLE audit_log`,
		`ALTER TABLE audit_log_v2 RENAME TO audit_log`,
	}},
}

// SchemaVersion is the version a migrated store has.
func SchemaVersion() int { return Migrations[len(Migrations)-1].Version }

func migrate(ctx context.Context, db *sql.DB, now time.Time) error {
	applied, err := migrateTo(ctx, db, now, SchemaVersion())
	if err != nil || !applied {
		return err
	}
	// Schema changes go into the database file at once rather than waiting
	// in the write-ahead log for the next checkpoint (a server may run for
	// weeks without one): what a kill -9 can leave to replay is then rows,
	// not DDL.
	if _, err := db.ExecContext(ctx, `CHECKPOINT`); err != nil {
		return fmt.Errorf("migrations: checkpoint: %w", err)
	}
	return nil
}

// migrateTo applies the steps up to version target, each in its own
// transaction, and says whether it applied any.
func migrateTo(ctx context.Context, db *sql.DB, now time.Time, target int) (bool, error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)`); err != nil {
		return false, fmt.Errorf("migrations: %w", err)
	}
	var cur int
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return false, fmt.Errorf("migrations: %w", err)
	}
	if cur > SchemaVersion() {
		return false, fmt.Errorf("schema version %d is newer than this program's %d: upgrade crosscheck", cur, SchemaVersion())
	}
	applied := false
	for _, m := range Migrations {
		if m.Version <= cur || m.Version > target {
			continue
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return applied, err
		}
		for _, q := range m.SQL {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				tx.Rollback()
				return applied, fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, ?, ?)`, m.Version, m.Name, now.UTC()); err != nil {
			tx.Rollback()
			return applied, fmt.Errorf("migration %d: %w", m.Version, err)
		}
		if err := tx.Commit(); err != nil {
			return applied, fmt.Errorf("migration %d: %w", m.Version, err)
		}
		applied = true
	}
	return applied, nil
}
