-- Naive baseline: the same afternoon's work in PostgreSQL 15, run with
-- psql. Every extract is loaded as text with COPY and joined on the ID
-- numbers exactly as written (see naive_duckdb.sql for the rules).
--
-- PostgreSQL's COPY reads neither GBK-with-a-glob nor Parquet: the
-- harness first writes one UTF-8 CSV per table under ${CSV} (GBK decoded,
-- Parquet exported by DuckDB, monthly files concatenated) and reports the
-- time it took. ${SCHEMA} is a schema the harness creates and drops;
-- ${OUT} is where the hits are written.

SET search_path TO ${SCHEMA};

CREATE TABLE huji (公民身份号码 text, 姓名 text, 性别 text, 民族 text, 出生日期 text, 户号 text, 与户主关系 text,
    户籍地址代码 text, 住址 text, 人员状态 text, 注销原因 text, 注销日期 text);
CREATE TABLE huohua (火化证明编号 text, 死者姓名 text, 性别 text, 身份证号码 text, 出生日期 text, 死亡日期 text,
    火化日期 text, 户籍所在地 text, 殡仪馆 text);
CREATE TABLE siwang (证明编号 text, 姓名 text, 性别 text, 身份证件号码 text, 出生日期 text, 死亡日期 text,
    死亡地点 text, 常住地址代码 text);
CREATE TABLE yanglao (公民身份号码 text, 姓名 text, 险种类型 text, 待遇开始年月 text, 待遇终止年月 text,
    月待遇金额 text, 待遇状态 text);
CREATE TABLE mz (流水号 text, 项目名称 text, 发放年月 text, 区划代码 text, 户号 text, 姓名 text, 身份证号 text,
    开户名 text, 银行账号 text, 账户类型 text, 开户银行 text, 发放金额 text, 发放日期 text);
CREATE TABLE rs (业务流水号 text, 待遇年月 text, 社会保障号码 text, 姓名 text, 行政区划 text, 发放账号 text,
    账户名称 text, 账户类别 text, 实发金额 text, 发放日期 text);
CREATE TABLE gd (补贴编号 text, 发放月份 text, 乡镇 text, 行政村 text, 户号 text, 户主姓名 text, 户主身份证号 text,
    家庭人口 text, 确权面积 text, 补贴标准 text, 补贴金额 text, 一卡通账号 text, 账户户名 text, 账户类型 text,
    开户银行 text);

\copy huji FROM '${CSV}/huji.csv' WITH (FORMAT csv, HEADER true)
\copy huohua FROM '${CSV}/huohua.csv' WITH (FORMAT csv, HEADER true)
\copy siwang FROM '${CSV}/siwang.csv' WITH (FORMAT csv, HEADER true)
\copy yanglao FROM '${CSV}/yanglao.csv' WITH (FORMAT csv, HEADER true)
\copy mz FROM '${CSV}/mz.csv' WITH (FORMAT csv, HEADER true)
\copy rs FROM '${CSV}/rs.csv' WITH (FORMAT csv, HEADER true)
\copy gd FROM '${CSV}/gd.csv' WITH (FORMAT csv, HEADER true)

CREATE TABLE pay AS
SELECT 流水号 AS payment_id,
       CASE 项目名称 WHEN '高龄津贴' THEN 'gaoling' WHEN '城乡低保' THEN 'dibao' WHEN '特困供养' THEN 'tekun'
            WHEN '困难残疾人生活补贴' THEN 'cjsh' WHEN '重度残疾人护理补贴' THEN 'cjhl' END AS program,
       to_date(发放年月, 'YYYY"年"MM"月"') AS period_start,
       身份证号 AS id, 姓名 AS name
FROM mz
UNION ALL
SELECT 业务流水号, 'cxjm', to_date(待遇年月, 'YYYYMM'), 社会保障号码, 姓名 FROM rs
UNION ALL
SELECT 补贴编号, 'gengdi', to_date(发放月份, 'YYYY-MM'), 户主身份证号, 户主姓名 FROM gd;
ANALYZE pay;
ANALYZE huji;

CREATE TABLE naive_hits (payment_id text, category text, rule_family text);

CREATE TABLE deaths AS
SELECT 公民身份号码 AS id, to_date(注销日期, 'YYYYMMDD') AS death_date FROM huji WHERE 注销原因 = '死亡'
UNION ALL
SELECT 身份证号码, to_date(死亡日期, 'YYYY/MM/DD') FROM huohua WHERE 身份证号码 IS NOT NULL AND 身份证号码 <> ''
UNION ALL
SELECT 身份证件号码, to_date(死亡日期, 'YYYY-MM-DD') FROM siwang;

INSERT INTO naive_hits
SELECT DISTINCT p.payment_id, 'deceased', 'deceased_after_death'
FROM pay p JOIN deaths d ON p.id = d.id
WHERE p.period_start > d.death_date;

INSERT INTO naive_hits
SELECT p.payment_id, 'duplicate', 'duplicate_payment'
FROM pay p JOIN (SELECT id, program, period_start FROM pay GROUP BY 1, 2, 3 HAVING count(*) > 1) d
  USING (id, program, period_start);

INSERT INTO naive_hits
SELECT DISTINCT a.payment_id, 'duplicate', 'exclusive_programs'
FROM pay a JOIN pay b ON a.id = b.id AND a.period_start = b.period_start
WHERE (a.program = 'dibao' AND b.program = 'tekun') OR (a.program = 'tekun' AND b.program = 'dibao');

INSERT INTO naive_hits
SELECT DISTINCT p.payment_id, 'duplicate', 'exclusive_programs'
FROM pay p JOIN yanglao y ON p.id = y.公民身份号码
WHERE p.program = 'cxjm' AND y.险种类型 IN ('企业职工基本养老保险', '机关事业单位养老保险') AND y.待遇状态 = '正常发放';

INSERT INTO naive_hits
SELECT DISTINCT p.payment_id, 'ineligible', 'age_range'
FROM pay p JOIN huji h ON p.id = h.公民身份号码
WHERE p.program IN ('gaoling', 'cxjm')
  AND floor((p.period_start - to_date(h.出生日期, 'YYYYMMDD')) / 365.25)
      < CASE p.program WHEN 'gaoling' THEN 80 ELSE 60 END;

INSERT INTO naive_hits
SELECT payment_id, 'data_quality', 'invalid_id'
FROM pay WHERE id IS NULL OR id !~ '^[0-9]{17}[0-9X]$';

INSERT INTO naive_hits
SELECT DISTINCT p.payment_id, 'data_quality', 'name_mismatch'
FROM pay p JOIN huji h ON p.id = h.公民身份号码
WHERE p.name <> h.姓名;

\copy naive_hits TO '${OUT}' WITH (FORMAT csv, HEADER true)
