-- Naive baseline: what an analyst writes in an afternoon with DuckDB.
--
-- It loads the raw extracts as text (read_csv all_varchar; Parquet as it
-- is) and joins on the ID numbers exactly as the departments wrote them:
-- no cleaning of spaces or full-width digits, no 15→18 upgrade, no repair
-- of typos, names compared as typed. Dates are parsed with the one format
-- each extract uses. The result is naive_hits(payment_id, category,
-- rule_family).
--
-- DuckDB cannot read GBK: the harness converts the GBK extracts to UTF-8
-- copies under ${UTF8} first (and reports the time it took). ${DATA} is
-- the generated folder. Statements end with a semicolon at the end of a
-- line (the harness runs them one by one).

CREATE TABLE huji AS SELECT * FROM read_csv('${UTF8}/gongan/huji_*.csv', all_varchar = true, header = true);
CREATE TABLE huohua AS SELECT * FROM read_csv('${DATA}/minzheng/huohua_jilu.csv', all_varchar = true, header = true);
CREATE TABLE siwang AS SELECT * FROM read_parquet('${DATA}/weijian/siwang_yixue_zhengming.parquet');
CREATE TABLE yanglao AS SELECT * FROM read_csv('${UTF8}/renshe/yanglao_daiyu.csv', all_varchar = true, header = true);
CREATE TABLE mz AS SELECT * FROM read_csv('${UTF8}/caizheng/yikatong_minzheng_*.csv', all_varchar = true, header = true);
CREATE TABLE rs AS SELECT * FROM read_parquet('${DATA}/renshe/cxjm_daiyu_*.parquet');
CREATE TABLE gd AS SELECT * FROM read_csv('${DATA}/nongye/gengdi_butie_2024.csv', all_varchar = true, header = true);

-- All payments in one table.
CREATE TABLE pay AS
SELECT 流水号 AS payment_id,
       CASE 项目名称 WHEN '高龄津贴' THEN 'gaoling' WHEN '城乡低保' THEN 'dibao' WHEN '特困供养' THEN 'tekun'
            WHEN '困难残疾人生活补贴' THEN 'cjsh' WHEN '重度残疾人护理补贴' THEN 'cjhl' END AS program,
       strptime(发放年月, '%Y年%-m月')::DATE AS period_start,
       身份证号 AS id, 姓名 AS name
FROM mz
UNION ALL
SELECT 业务流水号, 'cxjm', strptime(待遇年月, '%Y%m')::DATE, 社会保障号码, 姓名 FROM rs
UNION ALL
SELECT 补贴编号, 'gengdi', strptime(发放月份, '%Y-%m')::DATE, 户主身份证号, 户主姓名 FROM gd;

CREATE TABLE naive_hits (payment_id VARCHAR, category VARCHAR, rule_family VARCHAR);

-- Paid after death: 户籍 cancelled for death, cremation, death certificates.
CREATE TABLE deaths AS
SELECT 公民身份号码 AS id, strptime(注销日期, '%Y%m%d')::DATE AS death_date FROM huji WHERE 注销原因 = '死亡'
UNION ALL
SELECT 身份证号码, strptime(死亡日期, '%Y/%-m/%-d')::DATE FROM huohua WHERE 身份证号码 IS NOT NULL
UNION ALL
SELECT 身份证件号码, 死亡日期 FROM siwang;

INSERT INTO naive_hits
SELECT DISTINCT p.payment_id, 'deceased', 'deceased_after_death'
FROM pay p JOIN deaths d ON p.id = d.id
WHERE p.period_start > d.death_date;

-- Same ID, program and period more than once.
INSERT INTO naive_hits
SELECT p.payment_id, 'duplicate', 'duplicate_payment'
FROM pay p JOIN (SELECT id, program, period_start FROM pay GROUP BY ALL HAVING count(*) > 1) d
  USING (id, program, period_start);

-- 低保 and 特困 in the same month; 城乡居民养老 while drawing an employee pension.
INSERT INTO naive_hits
SELECT DISTINCT a.payment_id, 'duplicate', 'exclusive_programs'
FROM pay a JOIN pay b ON a.id = b.id AND a.period_start = b.period_start
WHERE (a.program = 'dibao' AND b.program = 'tekun') OR (a.program = 'tekun' AND b.program = 'dibao');

INSERT INTO naive_hits
SELECT DISTINCT p.payment_id, 'duplicate', 'exclusive_programs'
FROM pay p JOIN yanglao y ON p.id = y.公民身份号码
WHERE p.program = 'cxjm' AND y.险种类型 IN ('企业职工基本养老保险', '机关事业单位养老保险') AND y.待遇状态 = '正常发放';

-- Age from the registry's birth date: 高龄 80+, 城乡居民养老 60+.
INSERT INTO naive_hits
SELECT DISTINCT p.payment_id, 'ineligible', 'age_range'
FROM pay p JOIN huji h ON p.id = h.公民身份号码
WHERE p.program IN ('gaoling', 'cxjm')
  AND floor(date_diff('day', strptime(h.出生日期, '%Y%m%d')::DATE, p.period_start) / 365.25)
      < CASE p.program WHEN 'gaoling' THEN 80 ELSE 60 END;

-- ID numbers that do not look like an ID number.
INSERT INTO naive_hits
SELECT payment_id, 'data_quality', 'invalid_id'
FROM pay WHERE id IS NULL OR NOT regexp_full_match(id, '[0-9]{17}[0-9X]');

-- Name differs from the registry.
INSERT INTO naive_hits
SELECT DISTINCT p.payment_id, 'data_quality', 'name_mismatch'
FROM pay p JOIN huji h ON p.id = h.公民身份号码
WHERE p.name <> h.姓名;
