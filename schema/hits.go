package schema

import "fmt"

// HitColumns are the columns of the hits table, in order: hits.parquet
// and hits.csv hold exactly these (docs/outputs.md).
var HitColumns = []string{"run_id", "hit_id", "rule_id", "category", "severity", "payment_id", "program_code", "program_name",
	"department", "period", "region_code", "id_number", "id_status", "person_key", "name", "amount", "explanation", "evidence",
	"payment_source", "payment_file", "payment_row", "route_region", "route_from"}

// CaseColumns are the columns of cases.parquet and cases.csv, in order:
// the cases table's columns but person_key (the table has it after
// run_id, for routing and the case store; the exports do not).
var CaseColumns = []string{"case_id", "run_id", "id_number", "name", "program_code", "program_name", "department",
	"county_code", "period", "severity", "categories", "rule_ids", "hits", "payments", "amount", "payment_ids", "explanation",
	"route_region", "route_from"}

// RouteSQL places every screened payment whose roll gives no region code,
// so that its case has an owner (payment_route, route_file): by the
// person registry's address code of the person (an active registration
// first), else by the payee's household in the registry (when all its
// members live in one county), else by the prefecture (or province)
// that every placed payment of the same roll file lies in. Only the
// persons and households of such payments are read: a run whose rolls all
// give regions does next to nothing here. HitsSQL reads its tables.
var RouteSQL = []string{
	`CREATE OR REPLACE TEMP TABLE route_person AS
	SELECT person_key, coalesce(min(region_code) FILTER (WHERE status IS DISTINCT FROM 'cancelled'), min(region_code)) AS r
	FROM person WHERE person_key IS NOT NULL AND coalesce(region_code, '') <> ''
		AND person_key IN (SELECT person_key FROM screened WHERE coalesce(region_code, '') = '')
	GROUP BY person_key`,
	`CREATE OR REPLACE TEMP TABLE route_household AS
	SELECT household_id, min(region_code) AS r FROM person
	WHERE coalesce(household_id, '') <> '' AND coalesce(region_code, '') <> ''
		AND household_id IN (SELECT household_id FROM screened WHERE coalesce(region_code, '') = '')
	GROUP BY household_id HAVING count(DISTINCT left(region_code, 6)) = 1`,
	`CREATE OR REPLACE TEMP TABLE payment_route AS
	SELECT p._rid, p._source, p._file, coalesce(rp.r, rh.r) AS r,
		CASE WHEN rp.r IS NOT NULL THEN 'person' WHEN rh.r IS NOT NULL THEN 'household' END AS f
	FROM screened p LEFT JOIN route_person rp ON rp.person_key = p.person_key
		LEFT JOIN route_household rh ON rh.household_id = p.household_id
	WHERE coalesce(p.region_code, '') = ''`,
	`CREATE OR REPLACE TEMP TABLE route_file AS
	SELECT _source, _file,
		CASE WHEN count(DISTINCT left(r, 4)) = 1 THEN left(min(r), 4) || '00'
		     WHEN count(DISTINCT left(r, 2)) = 1 THEN left(min(r), 2) || '0000' END AS r,
		CASE WHEN count(DISTINCT left(r, 4)) = 1 THEN 'roll_prefecture' ELSE 'roll_province' END AS f
	FROM (SELECT _source, _file, region_code AS r FROM screened WHERE coalesce(region_code, '') <> ''
		UNION ALL SELECT _source, _file, r FROM payment_route WHERE r IS NOT NULL)
	WHERE (_source, _file) IN (SELECT (_source, _file) FROM payment_route WHERE r IS NULL)
	GROUP BY ALL`,
}

// HitsSQL creates the hits table of run runID from rule_hits and the
// screened payments (after RouteSQL): one row per payment and rule, with
// the region the payment's case is routed by (route_region) and where it
// came from (route_from: payment, person, household, roll_prefecture,
// roll_province, or none). Its columns are HitColumns.
func HitsSQL(runID string) string {
	return fmt.Sprintf(`CREATE OR REPLACE TABLE hits AS
		SELECT %s AS run_id, substr(md5(concat_ws('|', h.rule_id, p._source, p._file, p._row)), 1, 16) AS hit_id,
			h.rule_id, h.category, h.severity, p.payment_id, p.program_code, p.program_name, p.department,
			p.period, p.region_code, p.id_number, p.id_number_status AS id_status, p.person_key, p.name,
			round(p.amount, 2) AS amount, h.explanation, h.evidence,
			p._source AS payment_source, p._file AS payment_file, p._row AS payment_row,
			coalesce(nullif(p.region_code, ''), pr.r, rf.r, '') AS route_region,
			CASE WHEN coalesce(p.region_code, '') <> '' THEN 'payment' WHEN pr.r IS NOT NULL THEN pr.f
			     WHEN rf.r IS NOT NULL THEN rf.f ELSE 'none' END AS route_from
		FROM rule_hits h JOIN screened p ON p._rid = h._rid
			LEFT JOIN payment_route pr ON pr._rid = h._rid
			LEFT JOIN route_file rf ON rf._source = p._source AND rf._file = p._file
		ORDER BY h.rule_id, p._source, p._file, p._row`, lit(runID))
}

// CasesSQL creates the cases table from hits: one case per person (or
// per payment when the ID could not be resolved), program and period,
// routed to the county of its route_region (none when that is a
// prefecture or province code). Aggregates collect lists and sort them
// afterwards: ordered and DISTINCT aggregates in one GROUP BY were four
// times slower on 800,000 hits. Its columns are CaseColumns with
// person_key after run_id.
const CasesSQL = `CREATE OR REPLACE TABLE cases AS
WITH agg AS (
  SELECT coalesce(person_key, 'payment:' || payment_source || ':' || payment_file || ':' || payment_row) AS case_key, program_code, period,
    any_value(run_id) AS run_id, any_value(person_key) AS person_key,
    arg_min(id_number, payment_row) AS id_number, arg_min(name, payment_row) AS name,
    any_value(program_name) AS program_name, any_value(department) AS department,
    arg_min(route_region, payment_row) AS route_region, arg_min(route_from, payment_row) AS route_from,
    max(CASE severity WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END) AS sev_rank,
    list_distinct(list(category)) AS cats, list_distinct(list(rule_id)) AS rids, count(*) AS hits,
    list_distinct(list(explanation)) AS expl,
    list_distinct(list({s: payment_source, f: payment_file, r: payment_row, id: payment_id, a: amount})) AS pays
  FROM hits GROUP BY ALL
)
SELECT substr(md5(concat_ws('|', case_key, program_code, period)), 1, 16) AS case_id, run_id, person_key, id_number, name,
  program_code, program_name, department,
  CASE WHEN length(route_region) >= 6 AND substr(route_region, 5, 2) <> '00' THEN left(route_region, 6) ELSE '' END AS county_code, period,
  CASE sev_rank WHEN 3 THEN 'high' WHEN 2 THEN 'medium' ELSE 'low' END AS severity,
  array_to_string(list_sort(cats), ',') AS categories, array_to_string(list_sort(rids), ',') AS rule_ids, hits,
  len(pays) AS payments, round(list_sum(list_transform(pays, p -> p.a)), 2) AS amount,
  array_to_string(list_sort(list_transform(pays, p -> p.id)), ',') AS payment_ids,
  array_to_string(list_sort(expl), '；') AS explanation, route_region, route_from
FROM agg ORDER BY county_code, program_code, period, case_id`

// RuleHitsDDL creates or replaces table as a table of rule results, the
// shape of rule_hits that rules.RunSet fills and HitsSQL reads: rule_id,
// category, _rid (of the screened payment), severity, explanation,
// evidence and fields (JSON text).
func RuleHitsDDL(table string) string {
	return createOrReplace + " " + ident(table) +
		` (rule_id VARCHAR, category VARCHAR, _rid BIGINT, severity VARCHAR, explanation VARCHAR, evidence VARCHAR, fields VARCHAR)`
}
