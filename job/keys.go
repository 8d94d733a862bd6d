package job

// KeyDoc documents one job-file key.
type KeyDoc struct {
	Key     string
	Type    string
	Default string
	Doc     string
}

// Keys documents every job-file key; docs/config.md is generated from it
// (see package configdoc), so a key added to Job must be added here too.
var Keys = []KeyDoc{
	{"name", "string", "the job file's base name", "Name of the job, shown in reports."},
	{"periods", "list of months", "all periods in the rolls", "Payment periods screened, written `2024-05` (also `202405`, `2024年5月`). Payments of other periods are loaded (and counted in the quality report) but not screened."},
	{"output.dir", "path", DefaultOutputDir, "Output folder, relative to the job file. `crosscheck run --out` overrides it. Env: `CROSSCHECK_OUTPUT_DIR`."},
	{"output.formats", "list", "[parquet, csv]", "Which result files to write: `parquet`, `csv`."},
	{"output.raw_ids", "bool", "false", "Write ID numbers and account numbers unmasked in CSV files and quarantine files (same as `--raw-ids`). Parquet results always hold raw values for the case store. Env: `CROSSCHECK_OUTPUT_RAW_IDS`."},
	{"output.mask_names", "bool", "false", "Mask personal names too (张*) wherever personal identifiers are masked: CSV results, evidence and the review pages' evidence. What is personal is declared per canonical column (docs/masking.md): ID numbers, bank accounts and card numbers, phone numbers, and names only with this key; payment serials, region codes and 户号 stay readable. Env: `CROSSCHECK_OUTPUT_MASK_NAMES`."},
	{"engine.database", "path or `:memory:`", DefaultDatabase, "DuckDB database: in memory, or a file (kept after the run, one writer at a time). Env: `CROSSCHECK_ENGINE_DATABASE`."},
	{"engine.memory_limit", "size or percent", DefaultMemoryLimit, "DuckDB buffer-manager limit, e.g. `8GiB` or `50%` of the memory the process may use (the machine's, or its container's cgroup limit when lower). The process needs memory beyond it for the Go heap and Arrow batches: measured 1.4–1.9 GiB above the limit at 10M–30M persons, so the default of half the memory leaves the other half, less that, to the OS page cache and the machine's other services. A rule that needs more than the limit (and cannot spill to temp_directory) stops the run with an error naming the rule and this key. Env: `CROSSCHECK_ENGINE_MEMORY_LIMIT`."},
	{"engine.rule_timeout", "duration", "15m", "Time limit of each rule (Go duration: `90s`, `15m`, `1h`; `0` = no limit). A rule that runs longer is cancelled and the run stops with an error naming the rule and this key. The default is about ten times the slowest built-in rule at 30M persons (shared_account: 26 s at 10M). Env: `CROSSCHECK_ENGINE_RULE_TIMEOUT`."},
	{"engine.max_quarantine_ratio", "number 0–1", "0.05", "Share of a source's rows that may be quarantined: above it the run stops after loading, before any rule, naming the source, its top reasons with counts, an example value (ID numbers masked) and the likely fix (a date format, the encoding). It applies to every source whatever its size. Any quarantine at all is reported as a warning on stderr and in quality.md. `0` stops on the first quarantined row, `1` never stops. Sources override it with `sources[].max_quarantine_ratio`. Env: `CROSSCHECK_ENGINE_MAX_QUARANTINE_RATIO`."},
	{"engine.threads", "int", "0 (all cores)", "DuckDB worker threads. Env: `CROSSCHECK_ENGINE_THREADS`."},
	{"engine.temp_directory", "path", "DuckDB's default (`.tmp` beside the database)", "Where DuckDB spills when memory is short. Env: `CROSSCHECK_ENGINE_TEMP_DIRECTORY`."},
	{"engine.compress", "bool", "false", "Keep the tables of an in-memory `engine.database` compressed: they are compressed once identity resolution is done, before the rules (DuckDB CHECKPOINT of a database attached with COMPRESS). Measured at 1M persons: with the default memory limit peak memory 0.65×; at `memory_limit: 800MB` the spill about 0.5× and the rules stage 0.78–0.84×, the whole run's time within the (large) noise of a shared machine; see docs/benchmarks.md. A database file is always compressed. Env: `CROSSCHECK_ENGINE_COMPRESS`."},
	{"engine.state_file", "path", ".NAME.state.json beside the job file", "Run state kept between runs: the watermark of every source with a `watermark_column` option (postgres, mysql). Written only after a successful run; delete it to pull every row again."},
	{"identity.threshold", "`auto` or number 0–1", "auto", "Match probability a record without a usable ID number needs to be linked to a registry person. `auto` chooses it in every run from the linkage model's own estimates: over the best candidate of each such record, the threshold in [0.5, 0.999] with the highest estimated F1 among those whose expected share of false links is at most 0.2% (the table person_link_info, key threshold, gives the value used). A number fixes it, e.g. `0.95` (the value before `auto`). See identity/README.md."},
	{"identity.model", "path", "— (none: train in every run)", "File keeping the linkage model between batch runs, relative to the job file, e.g. `state/linkage-model.json`. When the file exists, the run uses its model instead of training, unless the drift check finds that the data moved away from it (the person registry grew or shrank by more than 10%, or the u of a comparison level moved by more than 1 bit on a fresh random sample of pairs) or the model's comparisons or blocking rules changed: then it retrains and rewrites the file. When the file does not exist, the run trains and writes it; delete it to force a retrain. A damaged file stops the run. The threshold (`identity.threshold: auto`) is still chosen on each run's data. The reference store (`crosscheck store`) keeps its model in the store instead. See identity/README.md."},
	{"rules.set", "string", DefaultRuleSet, "The rule set: `builtin`."},
	{"rules.dirs", "list of folders", "[]", "Folders of rule files (YAML) run in addition to the built-in library; relative to the job file. A rule with the id of a built-in rule replaces it. See rules/README.md."},
	{"rules.disabled", "list of rule ids", "[]", "Rules not to run."},
	{"rules.params.RULE.PARAM", "value (int, number, bool, string or list)", "the rule's default", "Rule parameters, e.g. `rules.params.deceased_after_death.grace_months: 1`. Unknown rules and parameters are errors; values are type- and range-checked (see `crosscheck rules list`)."},
	{"rules.applies_to.RULE", "list of program codes", "the rule's applies_to", "Programs a rule screens, overriding the rule file's applies_to."},
	{"programs[].code", "string", "required", "Program code as it appears in the payment rolls' program_code (after the value map)."},
	{"programs[].name", "string", "the code", "Program name used in explanations (e.g. 高龄津贴)."},
	{"programs[].department", "string", "\"\"", "Department owning the program; cases are routed to it."},
	{"programs[].frequency", "string", "\"\"", "monthly, quarterly or annual (informational)."},
	{"programs[].min_age", "int", "none", "Minimum age on the first day of the period (age_range rule)."},
	{"programs[].max_age", "int", "none", "Maximum age on the first day of the period (age_range rule)."},
	{"programs[].exclusive_with", "list of codes", "[]", "Programs that may not be paid to the same person in the same period (exclusive_programs rule); the relation is made symmetric."},
	{"programs[].exclusive_rosters[]", "list", "[]", "Rosters that exclude the program, e.g. a workers' pension: `{role: pension, column: scheme, values: [employee], label: \"领取职工基本养老金（%s）\"}`. `label` is a printf pattern given the roster source's title. Rows with start_date/end_date/status count only when active in the period."},
	{"programs[].requires", "string", "\"\"", "Role of a record the recipient must have (e.g. disability); used by later rules."},
	{"programs[].ssc_required", "bool", "false", "Payment must go to the recipient's social-security card; used by later rules."},
	{"programs[].payable_after_death", "bool", "false", "Payments after death are legitimate (e.g. a funeral grant); deceased rules skip the program."},
	{"programs[].standard_amount", "number", "none", "Standard amount per period and unit; used by later rules."},
	{"programs[].from_source", "source name", "none", "An entry with only from_source says the catalogue comes from that source (role program); entries with a code layer parameters on top of its rows."},
	{"sources[].name", "identifier", "required", "Source name: lower-case letters, digits, _. Names the quarantine file."},
	{"sources[].role", "role", "required", "Canonical dataset the source fills (see Roles below), or a custom role name with `schema`."},
	{"sources[].department", "string", "\"\"", "Department that delivered the extract."},
	{"sources[].title", "string", "the name", "How explanations and evidence name the source, e.g. 公安户籍, 民政火化记录. A person registry used as a death source is cited as TITLE注销记录."},
	{"sources[].connector", "string", "required", "Connector name (see Connectors below)."},
	{"sources[].path", "path or glob", "required for file connectors", "File or glob, relative to the job file; all matching files are one source. Database connectors (postgres, mysql) take `table` or `query` in options instead."},
	{"sources[].max_quarantine_ratio", "number 0–1", "engine.max_quarantine_ratio", "The quarantine guard's ratio for this source, e.g. `1` to accept losing the rows of a source known to be dirty."},
	{"sources[].options", "map", "{}", "Connector options (see Connectors below); unknown options are errors."},
	{"sources[].columns.CANONICAL", "string or map", "—", "Where a canonical column comes from. A string is a source column name. A map takes `column` (source column) or `constant` (fixed value), `map` (value map applied before parsing, matched case-insensitively, e.g. `{社会保障卡: ssc}`), `default` (value for anything not in the map; without it an unmapped value is quarantined) and `formats` (date formats, see below)."},
	{"sources[].schema[]", "list", "[]", "For a custom role: its columns as `{name, kind, personal}` with kind text, id, name, date, period, number, int or bool, and personal (optional) id, account, phone or name for a column holding a personal identifier that is masked in outputs. The table is named after the role."},
}
