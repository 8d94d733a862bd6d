// Package dataset declares the canonical datasets: the roles a departmental
// extract can play (person registry, death records, payment roll …), their
// canonical columns and the physical columns each one becomes in DuckDB.
package dataset

import (
	"fmt"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// Kind is the type of a canonical column; it decides how a raw value is
// parsed and which physical columns it becomes.
type Kind string

// The column kinds.
const (
	Text   Kind = "text"   // trimmed string
	ID     Kind = "id"     // citizen ID number: canonical, status and raw value
	Name   Kind = "name"   // personal name: as sent, and normalised
	Date   Kind = "date"   // calendar date
	Period Kind = "period" // payment period (month): "YYYY-MM" and its first day
	Number Kind = "number" // decimal number (amounts, areas)
	Int    Kind = "int"    // whole number
	Bool   Kind = "bool"   // yes/no
)

// ValidKind reports whether k is a known column kind.
func ValidKind(k Kind) bool {
	switch k {
	case Text, ID, Name, Date, Period, Number, Int, Bool:
		return true
	}
	return false
}

// Column is one canonical column of a role.
type Column struct {
	Name string
	Kind Kind
	// Required columns must be mapped by every source of the role.
	Required bool
	// NotNull columns must have a value in every row; a row without one is
	// quarantined.
	NotNull bool
	Doc     string
	// Personal is the kind of personal identifier the column holds, when
	// its Kind does not say it (ID columns are PersonalID and name
	// columns PersonName without it); see personal.go.
	Personal Personal
}

// Role is a canonical dataset.
type Role struct {
	Name    string
	Doc     string
	Columns []Column
	// Key is the column whose repeated values count as duplicates within a
	// source in the quality report.
	Key string
	// Custom roles are declared by a job; their table is named after the source.
	Custom bool
}

// Meta columns carried by every canonical table.
const (
	ColSource = "_source" // source name from the job
	ColFile   = "_file"   // file (base name) or table the row came from
	ColRow    = "_row"    // row number in that file (header line = 1)
	ColOrig   = "_orig"   // JSON object of the original values, header → value
	ColRID    = "_rid"    // record id, unique within a run
	// ColPersonKey is added by the engine to tables with an id_number: the
	// resolved person (canonical ID number) or NULL when unresolved.
	ColPersonKey = "person_key"
)

// MetaFields is the number of meta fields that start every table.
const MetaFields = 5

func col(name string, k Kind, doc string) Column { return Column{Name: name, Kind: k, Doc: doc} }
func req(c Column) Column                        { c.Required = true; return c }
func notNull(c Column) Column                    { c.Required = true; c.NotNull = true; return c }
func personal(p Personal, c Column) Column       { c.Personal = p; return c }

var personCols = []Column{
	req(col("id_number", ID, "citizen ID number (15 or 18 digits)")),
	req(col("name", Name, "name")),
}

var builtin = []Role{
	{Name: "person", Key: "id_number", Doc: "population registry (公安 户籍)", Columns: append(append([]Column{}, personCols...),
		col("gender", Text, "gender as sent (男/女/1/2)"),
		col("birth_date", Date, "birth date"),
		col("region_code", Text, "administrative division code of the registered residence"),
		col("household_id", Text, "household (户号)"),
		col("relation", Text, "relation to the head of household"),
		col("status", Text, "registration status: active or cancelled (map the department's codes)"),
		col("cancel_reason", Text, "reason of cancellation: death, emigrated, … (map the codes)"),
		col("cancel_date", Date, "date of cancellation (often months after the death)"),
		col("death_date", Date, "date of death as the registry records it, distinct from cancel_date; deceased_after_death prefers it"),
		col("move_date", Date, "date the registered address (region_code) last changed (迁入日期); grace of moved_out_of_county"),
	)},
	{Name: "death", Key: "id_number", Doc: "death records (公安 注销, 民政 火化, 卫健 死亡证明, 人社)", Columns: []Column{
		col("id_number", ID, "citizen ID number; may be missing on cremation records"),
		col("name", Name, "name"),
		col("gender", Text, "gender"),
		col("birth_date", Date, "birth date"),
		notNull(col("death_date", Date, "date of death")),
		col("region_code", Text, "division code"),
		col("record_id", Text, "the department's record number"),
	}},
	{Name: "ssc", Key: "id_number", Doc: "social-security cards (人社 社保卡)", Columns: append(append([]Column{}, personCols...),
		personal(Account, col("card_no", Text, "card number")),
		personal(Account, col("bank_account", Text, "bank account of the card's financial function")),
		col("status", Text, "card status: active or other"),
	)},
	{Name: "pension", Key: "id_number", Doc: "pension rosters (人社)", Columns: append(append([]Column{}, personCols...),
		col("scheme", Text, "scheme: employee, resident, civil_servant … (map the codes)"),
		col("start_date", Date, "first month paid"),
		col("end_date", Date, "last month paid"),
		col("amount", Number, "monthly amount"),
		col("status", Text, "active or stopped"),
	)},
	{Name: "assistance", Key: "id_number", Doc: "assistance rosters (民政 低保/特困)", Columns: append(append([]Column{}, personCols...),
		col("program", Text, "program code"),
		col("household_id", Text, "household"),
		col("region_code", Text, "division code"),
		col("start_date", Date, "start"),
		col("end_date", Date, "end"),
	)},
	{Name: "staff", Key: "id_number", Doc: "state-funded staff (编办/财政 工资统发)", Columns: append(append([]Column{}, personCols...),
		col("employer", Text, "employer"),
		col("start_date", Date, "start"),
		col("end_date", Date, "end"),
		col("status", Text, "active or other"),
	)},
	{Name: "vehicle", Key: "id_number", Doc: "registered vehicles (公安交管)", Columns: append(append([]Column{}, personCols...),
		col("plate", Text, "plate number"),
		col("vehicle_type", Text, "vehicle type code or name"),
		col("status", Text, "active or other"),
	)},
	{Name: "business", Key: "id_number", Doc: "business registrations (市场监管)", Columns: append(append([]Column{}, personCols...),
		col("business_name", Text, "business name"),
		col("position", Text, "legal_representative, shareholder …"),
		col("capital", Number, "subscribed capital (10k yuan or yuan, as the job documents)"),
		col("status", Text, "active or other"),
	)},
	{Name: "disability", Key: "id_number", Doc: "disability certificates (残联)", Columns: append(append([]Column{}, personCols...),
		personal(PersonalID, col("certificate_no", Text, "certificate number (the ID number and two digits)")),
		col("category", Text, "category"),
		col("level", Int, "level 1-4"),
		col("status", Text, "active or other"),
	)},
	{Name: "marriage", Key: "id_number", Doc: "marriage registrations (民政 婚姻登记): one row per registration, naming both parties", Columns: append(append([]Column{}, personCols...),
		req(col("spouse_id_number", ID, "the other party's citizen ID number")),
		col("spouse_name", Name, "the other party's name"),
		col("reg_type", Text, "marriage or divorce (map the codes: 结婚登记 → marriage, 离婚登记 → divorce)"),
		col("reg_date", Date, "date of the registration"),
		col("office", Text, "registering office"),
	)},
	{Name: "cadre", Key: "id_number", Doc: "village cadres and case-handling staff (村两委成员、经办人员) with their 备案 status", Columns: append(append([]Column{}, personCols...),
		col("unit", Text, "village committee or office"),
		col("position", Text, "position (村支书, 村委委员, 经办人 …)"),
		col("region_code", Text, "division code of the unit"),
		col("filed", Bool, "the relatives' assistance is filed (近亲属备案): true exempts the cadre's relatives"),
		col("start_date", Date, "start of office"),
		col("end_date", Date, "end of office"),
		col("status", Text, "active or other"),
	)},
	{Name: "prisoner", Key: "id_number", Doc: "persons serving a sentence (司法 在押服刑人员)", Columns: append(append([]Column{}, personCols...),
		col("start_date", Date, "start of custody"),
		col("release_date", Date, "release date (empty while in custody)"),
		col("prison", Text, "prison or detention centre"),
	)},
	{Name: "payment", Key: "payment_id", Doc: "payment rolls (一卡通)", Columns: []Column{
		notNull(col("payment_id", Text, "the roll's own record identifier")),
		notNull(col("program_code", Text, "program code (as in the catalogue)")),
		notNull(col("period", Period, "payment period (month)")),
		req(col("id_number", ID, "recipient's ID number")),
		req(col("name", Name, "recipient's name")),
		col("region_code", Text, "division code of the paying county/township/village"),
		col("household_id", Text, "household"),
		personal(Account, col("account_no", Text, "account number")),
		col("account_holder", Name, "account holder's name"),
		col("account_type", Text, "ssc for a social-security card, other otherwise (map the codes)"),
		col("bank", Text, "bank"),
		notNull(col("amount", Number, "amount paid")),
		col("quantity", Number, "quantity (area, persons) for per-unit programs"),
		col("paid_date", Date, "date paid"),
	}},
	{Name: "program", Key: "program_code", Doc: "the program catalogue (补贴政策清单)", Columns: []Column{
		notNull(col("program_code", Text, "code")),
		col("name", Text, "name"),
		col("department", Text, "owning department"),
		col("frequency", Text, "monthly, quarterly, annual"),
		col("min_age", Int, "minimum age"),
		col("max_age", Int, "maximum age"),
		col("exclusive_with", Text, "codes of mutually exclusive programs, separated by ; or ,"),
		col("requires", Text, "role of a record the recipient must have (e.g. disability)"),
		col("ssc_required", Bool, "payment must go to the recipient's social-security card"),
		col("payable_after_death", Bool, "payment after death is allowed"),
		col("standard_amount", Number, "standard amount per period (per unit)"),
		col("standard_text", Text, "the standard in words, as published (补贴标准)"),
		col("legal_basis", Text, "the policy document the program rests on (政策依据), as published"),
	}},
}

// Builtin returns the built-in roles sorted by name.
func Builtin() []Role {
	out := append([]Role(nil), builtin...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the built-in role with the given name.
func Lookup(name string) (Role, bool) {
	for _, r := range builtin {
		if r.Name == name {
			return r, true
		}
	}
	return Role{}, false
}

// NewCustom builds a custom role from declared columns.
func NewCustom(name string, cols []Column) (Role, error) {
	if _, ok := Lookup(name); ok {
		return Role{}, fmt.Errorf("custom role %q: the name is a built-in role", name)
	}
	seen := map[string]bool{}
	for _, c := range cols {
		if !ValidKind(c.Kind) {
			return Role{}, fmt.Errorf("custom role %q: column %q: unknown kind %q", name, c.Name, c.Kind)
		}
		if !validIdent(c.Name) {
			return Role{}, fmt.Errorf("custom role %q: column %q: names are lower-case letters, digits and _", name, c.Name)
		}
		if seen[c.Name] {
			return Role{}, fmt.Errorf("custom role %q: column %q declared twice", name, c.Name)
		}
		seen[c.Name] = true
	}
	r := Role{Name: name, Columns: cols, Custom: true}
	if seen["id_number"] {
		r.Key = "id_number"
	}
	return r, nil
}

func validIdent(s string) bool {
	if s == "" || s[0] == '_' || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ValidIdent reports whether s can name a source, column or table.
func ValidIdent(s string) bool { return validIdent(s) }

// Column returns the canonical column with the given name.
func (r Role) Column(name string) (Column, bool) {
	for _, c := range r.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// ColumnNames lists the canonical column names.
func (r Role) ColumnNames() []string {
	out := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		out[i] = c.Name
	}
	return out
}

// Field is one physical column of a canonical table.
type Field struct {
	Name string
	Type arrow.DataType
	// Column is the canonical column the field comes from ("" for meta fields).
	Column string
	// Part says which part of the column it holds: "" (the value), "status",
	// "raw", "reason", "norm" or "start".
	Part string
}

// Fields lists the physical columns of the role's table in order: the meta
// columns first, then each canonical column expanded by its kind.
func (r Role) Fields() []Field {
	fs := []Field{
		{Name: ColSource, Type: arrow.BinaryTypes.String},
		{Name: ColFile, Type: arrow.BinaryTypes.String},
		{Name: ColRow, Type: arrow.PrimitiveTypes.Int64},
		{Name: ColOrig, Type: arrow.BinaryTypes.String},
		{Name: ColRID, Type: arrow.PrimitiveTypes.Int64},
	}
	for _, c := range r.Columns {
		switch c.Kind {
		case ID:
			fs = append(fs,
				Field{Name: c.Name, Type: arrow.BinaryTypes.String, Column: c.Name},
				Field{Name: c.Name + "_status", Type: arrow.BinaryTypes.String, Column: c.Name, Part: "status"},
				Field{Name: c.Name + "_raw", Type: arrow.BinaryTypes.String, Column: c.Name, Part: "raw"},
				Field{Name: c.Name + "_reason", Type: arrow.BinaryTypes.String, Column: c.Name, Part: "reason"})
		case Name:
			fs = append(fs,
				Field{Name: c.Name, Type: arrow.BinaryTypes.String, Column: c.Name},
				Field{Name: c.Name + "_norm", Type: arrow.BinaryTypes.String, Column: c.Name, Part: "norm"})
		case Period:
			fs = append(fs,
				Field{Name: c.Name, Type: arrow.BinaryTypes.String, Column: c.Name},
				Field{Name: c.Name + "_start", Type: arrow.FixedWidthTypes.Date32, Column: c.Name, Part: "start"})
		case Date:
			fs = append(fs, Field{Name: c.Name, Type: arrow.FixedWidthTypes.Date32, Column: c.Name})
		case Number:
			fs = append(fs, Field{Name: c.Name, Type: arrow.PrimitiveTypes.Float64, Column: c.Name})
		case Int:
			fs = append(fs, Field{Name: c.Name, Type: arrow.PrimitiveTypes.Int64, Column: c.Name})
		case Bool:
			fs = append(fs, Field{Name: c.Name, Type: arrow.FixedWidthTypes.Boolean, Column: c.Name})
		default:
			fs = append(fs, Field{Name: c.Name, Type: arrow.BinaryTypes.String, Column: c.Name})
		}
	}
	return fs
}

// Schema is the Arrow schema of the role's table.
func (r Role) Schema() *arrow.Schema {
	fs := r.Fields()
	af := make([]arrow.Field, len(fs))
	for i, f := range fs {
		af[i] = arrow.Field{Name: f.Name, Type: f.Type, Nullable: true}
	}
	return arrow.NewSchema(af, nil)
}

// Describe renders the role's columns as "name (kind)" for messages.
func (r Role) Describe() string {
	parts := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		parts[i] = fmt.Sprintf("%s (%s)", c.Name, c.Kind)
	}
	return strings.Join(parts, ", ")
}
