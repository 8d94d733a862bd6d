// Package casetest writes hits.parquet files for tests, demos and load
// tests of the case store: hand-written hits, and synthetic runs with any
// number of cases.
package casetest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	_ "github.com/duckdb/duckdb-go/v2" // registers the duckdb driver
)

// Hit is one row of hits.parquet (docs/outputs.md).
type Hit struct {
	RunID, HitID, RuleID, Category, Severity, PaymentID      string
	ProgramCode, ProgramName, Department, Period, RegionCode string
	IDNumber, IDStatus, Name                                 string
	Amount                                                   float64
	Explanation                                              string
	Evidence                                                 []Evidence
	PaymentSource, PaymentFile                               string
	PaymentRow                                               int64
}

// Evidence is one evidence row.
type Evidence struct {
	Source string            `json:"source"`
	Title  string            `json:"title"`
	File   string            `json:"file"`
	Row    int64             `json:"row"`
	Values map[string]string `json:"values"`
}

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// WriteHits writes hits to a parquet file with the engine's columns.
func WriteHits(ctx context.Context, path string, hits []Hit) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE hits (run_id VARCHAR, hit_id VARCHAR, rule_id VARCHAR, category VARCHAR,
		severity VARCHAR, payment_id VARCHAR, program_code VARCHAR, program_name VARCHAR, department VARCHAR, period VARCHAR,
		region_code VARCHAR, id_number VARCHAR, id_status VARCHAR, name VARCHAR, amount DECIMAL(18,2), explanation VARCHAR,
		evidence VARCHAR, payment_source VARCHAR, payment_file VARCHAR, payment_row BIGINT)`); err != nil {
		return err
	}
	for _, h := range hits {
		ev, _ := json.Marshal(h.Evidence)
		if _, err := db.ExecContext(ctx, `INSERT INTO hits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			h.RunID, h.HitID, h.RuleID, h.Category, h.Severity, h.PaymentID, h.ProgramCode, h.ProgramName, h.Department,
			h.Period, h.RegionCode, h.IDNumber, h.IDStatus, h.Name, h.Amount, h.Explanation, string(ev),
			h.PaymentSource, h.PaymentFile, h.PaymentRow); err != nil {
			return err
		}
	}
	_, err = db.ExecContext(ctx, fmt.Sprintf(`COPY (SELECT * FROM hits ORDER BY rule_id, payment_source, payment_file, payment_row) TO %s (FORMAT parquet)`, q(path)))
	return err
}

// Death is a hit of rule deceased_after_death for a payment, with the
// registry's death row as evidence.
func Death(run, period, id, name, program, programName, dept, region string, amount float64, row int64, deathDate string) Hit {
	return Hit{RunID: run, HitID: fmt.Sprintf("d-%s-%d", period, row), RuleID: "deceased_after_death", Category: "deceased",
		Severity: "medium", PaymentID: fmt.Sprintf("P%s-%d", period, row), ProgramCode: program, ProgramName: programName,
		Department: dept, Period: period, RegionCode: region, IDNumber: id, IDStatus: "valid", Name: name, Amount: amount,
		Explanation: fmt.Sprintf("公安户籍注销记录显示该人员已于%s死亡，%s仍发放%s%.2f元", deathDate, period, programName, amount),
		Evidence: []Evidence{
			{Source: "pay", Title: "一卡通发放名单", File: "pay-" + period + ".csv", Row: row,
				Values: map[string]string{"记录号": fmt.Sprintf("P%s-%d", period, row), "身份证号": id, "姓名": name, "金额": fmt.Sprintf("%.0f", amount), "期间": period}},
			{Source: "huji", Title: "公安户籍", File: "huji.csv", Row: 7,
				Values: map[string]string{"公民身份号码": id, "姓名": name, "人员状态": "注销", "注销原因": "死亡", "注销日期": deathDate}},
		},
		PaymentSource: "pay", PaymentFile: "pay-" + period + ".csv", PaymentRow: row}
}

// Age is a hit of rule age_range (payment and registry row).
func Age(run, period, id, name, program, programName, dept, region string, amount float64, row int64, birth string) Hit {
	h := Death(run, period, id, name, program, programName, dept, region, amount, row, "")
	h.HitID = fmt.Sprintf("a-%s-%d", period, row)
	h.RuleID, h.Category = "age_range", "ineligible"
	h.Explanation = fmt.Sprintf("按户籍登记出生日期%s计算，该人员不满%s的最低年龄", birth, programName)
	h.Evidence[1].Values = map[string]string{"公民身份号码": id, "姓名": name, "出生日期": birth, "人员状态": "正常"}
	return h
}

// Synthetic writes a hits.parquet of one run with n cases (one hit each,
// some with a second rule) spread over departments, counties and programs,
// for load tests. It is fast: DuckDB generates the rows.
func Synthetic(ctx context.Context, path, runID, period string, n int) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, fmt.Sprintf(`COPY (
		WITH p AS (
			SELECT i,
				['gaoling', 'dibao', 'tekun', 'canji', 'gengdi', 'yiliao'][1 + i %% 6] AS program_code,
				['高龄津贴', '城乡低保', '特困供养', '残疾人两项补贴', '耕地地力保护补贴', '医疗救助'][1 + i %% 6] AS program_name,
				['民政局', '民政局', '民政局', '残联', '农业农村局', '医保局'][1 + i %% 6] AS department,
				'41' || lpad((1 + (i // 6) %% 16)::VARCHAR, 2, '0') || lpad((1 + (i // 96) %% 10)::VARCHAR, 2, '0')
					|| lpad((1 + (i // 960) %% 20)::VARCHAR, 3, '0') || '000' AS region_code,
				'41' || lpad((i %% 99999999)::VARCHAR, 16, '0') AS id_number,
				['张', '王', '李', '赵', '刘'][1 + i %% 5] || ['伟', '芳', '娜', '敏', '静', '强'][1 + (i // 5) %% 6] AS name,
				(100 + (hash(i) %% 900))::DECIMAL(18,2) AS amount
			FROM range(%d) t(i))
		SELECT %s AS run_id, 'h' || i AS hit_id,
			CASE WHEN i %% 3 = 0 THEN 'deceased_after_death' WHEN i %% 3 = 1 THEN 'age_range' ELSE 'duplicate_payment' END AS rule_id,
			CASE WHEN i %% 3 = 0 THEN 'deceased' WHEN i %% 3 = 1 THEN 'ineligible' ELSE 'duplicate' END AS category,
			CASE WHEN i %% 7 = 0 THEN 'high' WHEN i %% 3 = 0 THEN 'medium' ELSE 'low' END AS severity,
			'P' || i AS payment_id, program_code, program_name, department, %s AS period, region_code, id_number,
			'valid' AS id_status, name, amount,
			'公安户籍显示该人员已于2023-03-05死亡，仍发放' || program_name || amount::VARCHAR || '元' AS explanation,
			to_json([
				{'source': 'pay', 'title': '一卡通发放名单', 'file': 'pay.csv', 'row': i + 2,
				 'values': {'记录号': 'P' || i, '身份证号': id_number, '姓名': name, '金额': amount::VARCHAR}},
				{'source': 'huji', 'title': '公安户籍', 'file': 'huji.csv', 'row': i + 2,
				 'values': {'公民身份号码': id_number, '姓名': name, '人员状态': '注销', '注销日期': '2023-03-05'}}])::VARCHAR AS evidence,
			'pay' AS payment_source, 'pay.csv' AS payment_file, i + 2 AS payment_row
		FROM p) TO %s (FORMAT parquet)`, n, q(runID), q(period), q(path)))
	return err
}
