package gen

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Categories of the truth file (the engine's hit categories).
const (
	CatDeceased    = "deceased"
	CatDuplicate   = "duplicate"
	CatIneligible  = "ineligible"
	CatOneCard     = "one_card"
	CatDataQuality = "data_quality"
)

// Rule families of the truth file: the engine's rule ids where a rule
// exists, and names for rules not built yet.
const (
	FamDeceased     = "deceased_after_death"
	FamDuplicate    = "duplicate_payment"
	FamExclusive    = "exclusive_programs"
	FamAge          = "age_range"
	FamInvalidID    = "invalid_id"
	FamNameMismatch = "name_mismatch"
	FamAttribute    = "attribute_exclusion"
	FamRequires     = "requires_attribute"
	FamAccountType  = "account_type"
	FamHolder       = "holder_mismatch"
	FamShared       = "shared_account"
	// Families of issue 20 the generated province exercises.
	FamCancelled = "registry_cancelled"
	FamMovedOut  = "moved_out_of_county"
	FamHeadDead  = "deceased_household_head"
	FamBirthDate = "birth_date_mismatch"
	FamPrisoner  = "prisoner_paid"
	FamNotInReg  = "not_in_registry"
	FamAgeTier   = "age_tier_mismatch"
	FamNoDibao   = "disability_allowance_without_dibao"
	FamTekunMar  = "tekun_married"
	FamCadre     = "cadre_relative"
	FamOrphan    = "orphan_over_age"
	FamDupID     = "duplicate_identity"
)

// EngineFamilies are the families the engine has a rule for.
var EngineFamilies = map[string]bool{FamDeceased: true, FamDuplicate: true, FamExclusive: true, FamAge: true,
	FamInvalidID: true, FamNameMismatch: true, FamAttribute: true, FamRequires: true, FamAccountType: true,
	FamHolder: true, FamShared: true, FamCancelled: true, FamMovedOut: true, FamHeadDead: true, FamBirthDate: true, FamPrisoner: true,
	FamNotInReg: true, FamAgeTier: true, FamNoDibao: true, FamTekunMar: true, FamCadre: true, FamOrphan: true, FamDupID: true}

// RuleFamily maps engine rule ids that are not family names themselves
// to the family of truth.csv they find.
var RuleFamily = map[string]string{
	"staff_on_assistance":            FamAttribute,
	"vehicle_on_assistance":          FamAttribute,
	"business_on_assistance":         FamAttribute,
	"disability_certificate_missing": FamRequires,
	"severe_disability_level":        FamRequires,
	"account_not_ssc":                FamAccountType,
}

// FamilyCategory is the category of each family.
var FamilyCategory = map[string]string{
	FamDeceased: CatDeceased, FamDuplicate: CatDuplicate, FamExclusive: CatDuplicate, FamAge: CatIneligible,
	FamInvalidID: CatDataQuality, FamNameMismatch: CatDataQuality, FamAttribute: CatIneligible,
	FamRequires: CatIneligible, FamAccountType: CatOneCard, FamHolder: CatOneCard, FamShared: CatOneCard,
	FamCancelled: CatIneligible, FamMovedOut: CatIneligible, FamHeadDead: CatDeceased, FamBirthDate: CatDataQuality,
	FamPrisoner: CatIneligible, FamNotInReg: CatDataQuality, FamAgeTier: CatIneligible, FamNoDibao: CatIneligible,
	FamTekunMar: CatIneligible, FamCadre: CatIneligible, FamOrphan: CatIneligible, FamDupID: CatDuplicate,
}

// Kind is an injected case (Family set: it must be found) or noise
// (Family empty: it must not produce a hit).
type Kind struct {
	Name   string
	Family string
	// Rate is the default probability per unit (Per).
	Rate float64
	Per  string
	Doc  string
}

// The kinds, in a fixed order (their index is a bit in a tag mask).
var Kinds = []Kind{
	{"deceased_before", FamDeceased, 0.004, "recipient", "died 2023-01 … 2024-03, still paid in every screened period; death recorded by ID"},
	{"deceased_during", FamDeceased, 0.003, "recipient", "died in 2024-04 or 2024-05, still paid in the following periods; death recorded by ID"},
	{"deceased_unlinked", FamDeceased, 0.0005, "recipient", "died before the window, still paid; the only record is a cremation record without ID number (name and birth date only)"},
	{"dup_same", FamDuplicate, 0.002, "recipient", "one period paid twice in the same county roll"},
	{"dup_cross_county", FamDuplicate, 0.001, "recipient", "one period paid a second time by another county"},
	{"dup_typo", FamDuplicate, 0.001, "recipient", "one period paid twice, the second row with a one-digit typo in the ID (repairable)"},
	{"excl_dibao_tekun", FamExclusive, 0.03, "tekun recipient", "特困 recipient also paid 城乡低保"},
	{"excl_pension", FamExclusive, 0.004, "cxjm recipient", "城乡居民养老 recipient also drawing an employee pension"},
	{"age_gaoling", FamAge, 0.01, "gaoling recipient", "person aged 70-79 paid 高龄津贴 (min age 80)"},
	{"age_cxjm", FamAge, 0.003, "cxjm recipient", "person aged 50-59 paid 城乡居民养老 (min age 60)"},
	{"invalid_id", FamInvalidID, 0.0008, "recipient", "roll ID unusable: two wrong digits, a digit dropped or an impossible month"},
	{"excel_id", FamInvalidID, 0.0008, "recipient", "roll ID damaged by Excel: 4.10102E+17 or last three digits 000"},
	{"missing_id", FamInvalidID, 0.0002, "recipient", "roll ID empty"},
	{"name_mismatch", FamNameMismatch, 0.001, "recipient", "roll name differs from the registry: a wrong character, or a household member's name"},
	{"attr_staff", FamAttribute, 0.02, "dibao household", "低保 household with a member on the state-funded staff roll"},
	{"attr_vehicle", FamAttribute, 0.03, "dibao household", "低保 household with a member owning a car (not an exempt type)"},
	{"attr_business", FamAttribute, 0.015, "dibao household", "低保 household with a member who is legal representative or shareholder of a company with registered capital above ¥100,000 (30-140 万元)"},
	{"requires_cert", FamRequires, 0.02, "disability recipient", "残疾人两项补贴 paid without an active disability certificate"},
	{"account_type", FamAccountType, 0.005, "ssc-program recipient", "program requiring the social-security card paid to another bank account"},
	{"holder_mismatch", FamHolder, 0.003, "recipient", "paid to an account held by someone outside the household"},
	{"shared_account", FamShared, 0.0015, "recipient", "3-6 unrelated recipients paid to one account held by a village cadre"},
	{"cancelled_abroad", FamCancelled, 0.001, "recipient", "户籍 cancelled in 2023-01 … 2024-01 for 出国定居 or 迁出省外, still paid"},
	{"prisoner_paid", FamPrisoner, 0.001, "recipient of 城乡居民养老, 低保, 特困 or 困难残疾人生活补贴", "in custody (司法 在押服刑人员名单) since 2022-01 … 2024-03, still paid"},
	{"unregistered", FamNotInReg, 0.01, "recipient of 高龄津贴 or 城乡居民养老 only, alone on the rolls in the household", "no row in the 户籍 extract (registered elsewhere or missing), still paid"},
	{"tier_overpaid", FamAgeTier, 0.01, "高龄津贴 recipient aged 80-98", "paid the next 高龄津贴 tier up: aged 80-89 paid the 90-99 amount, 90-99 the 100+ amount"},
	{"cjsh_no_dibao", FamNoDibao, 0.05, "holder of an active disability certificate in a household without 低保, with a social-security card", "paid 困难残疾人生活补贴 (which requires a 低保 household)"},
	{"tekun_married", FamTekunMar, 0.2, "特困 recipient", "registered as married (民政 婚姻登记, 1990-2019) to a living adult of another household, not registered as married to anyone else"},
	{"cadre_relative", FamCadre, 0.03, "低保 household", "a member aged 25-65 is on the 村两委成员及经办人员 list without 近亲属备案"},
	{"orphan_over_age", FamOrphan, 0.02, "person aged 15-19 on no roll, 18 or older in 2024-06", "paid 孤儿基本生活费 (a new program of the catalogue, ¥1,000 a month) in a period at 18 or older"},
	{"second_id", FamDupID, 0.002, "recipient of 高龄津贴 or 城乡居民养老 only", "a second 户籍 row with another ID number (same name, birth date, sex and household: 重复户口), both IDs paid by the same programs"},
	{"birth_corrected", FamBirthDate, 0.001, "recipient", "户籍 birth date moved 1-300 days away from the ID's (a corrected birth date)"},

	{"noise_id_format", "", 0.03, "payment", "ID with spaces, full-width digits, lower-case x, apostrophe or ideographic space"},
	{"noise_id_typo", "", 0.002, "recipient", "ID with one repairable typo, name as in the registry"},
	{"noise_trad_name", "", 0.01, "payment", "name in traditional characters"},
	{"noise_name_space", "", 0.005, "payment", "blank inside the name, or another separator in a minority name"},
	{"noise_guardian", "", 0.08, "elderly recipient in a household of several adults", "paid to a household member's social-security card (guardian)"},
	{"noise_namesake_dead", "", 0.002, "recipient", "a namesake born within days of the recipient died elsewhere (other ID)"},
	{"noise_legacy15", "", 0.2, "person born before 2000 in older registers", "15-digit ID in older registers and the land-subsidy roll"},
	{"noise_pension_ended", "", 0.002, "cxjm recipient", "an employee pension record that ended before the window"},
	{"noise_lapsed_asset", "", 0.02, "dibao household", "a scrapped car or a deregistered business in a 低保 household"},
	{"noise_exempt_vehicle", "", 0.2, "dibao household without one", "a two-wheel motorcycle, three-wheeler or low-speed truck in a 低保 household (households also have them naturally; all are tagged)"},
	{"noise_death_after", "", 0.003, "recipient", "died in 2024-07 or 2024-08, after the screened periods, death recorded"},
	{"noise_cancelled_moved", "", 0.001, "recipient", "户籍 cancelled for 迁出 within the province (not a reason that stops payment)"},
	{"noise_prisoner_released", "", 0.001, "recipient of 城乡居民养老, 低保, 特困 or 困难残疾人生活补贴", "on the 在押服刑人员 list, released before the window"},
	{"noise_tier_birthday", "", 1, "高龄津贴 recipient turning 90 or 100 during the window", "paid the higher tier from the first period after the birthday (all are tagged)"},
	{"noise_cjsh_household_dibao", "", 0.3, "困难残疾人生活补贴 recipient in a 低保 household of several members", "not on the 低保 roll personally; other household members are"},
	{"noise_tekun_divorced", "", 0.1, "特困 recipient", "registered as married, then divorced before 2024 (the latest registration is a divorce)"},
	{"noise_cadre_filed", "", 0.03, "低保 household", "a member aged 25-65 is on the cadre list with 近亲属备案 (filed)"},
	{"noise_orphan_minor", "", 0.02, "person aged 15-17 in every screened period, on no roll", "paid 孤儿基本生活费 under 18"},
	{"noise_twin", "", 0.002, "recipient of 高龄津贴 or 城乡居民养老 only", "a twin in the household: same birth date and sex, another name, paid the same programs"},
	{"noise_small_business", "", 0.02, "dibao household", "a member registered as 个体工商户 operator (no registered capital) or with a company of at most ¥100,000 capital: within the 低保 business ceiling, its income is assessed in the means test"},
}

// kindIndex maps names to bit positions.
var kindIndex = func() map[string]int {
	m := map[string]int{}
	for i, k := range Kinds {
		m[k.Name] = i
	}
	return m
}()

func kbit(name string) uint64 {
	i, ok := kindIndex[name]
	if !ok {
		panic("gen: unknown kind " + name)
	}
	return 1 << uint(i)
}

// Rates are the probabilities of the kinds by name.
type Rates map[string]float64

// DefaultRates returns the default rates.
func DefaultRates() Rates {
	r := Rates{}
	for _, k := range Kinds {
		r[k.Name] = k.Rate
	}
	return r
}

// Set sets one rate from "name=value".
func (r Rates) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("rate %q: write name=value", kv)
	}
	k = strings.TrimSpace(k)
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if k == "all_cases" || k == "all_noise" {
		if err != nil || f < 0 || f > 100 {
			return fmt.Errorf("rate %q: %s is a factor on the default rates, between 0 and 100", kv, k)
		}
		for _, kd := range Kinds {
			if (kd.Family != "") == (k == "all_cases") {
				r[kd.Name] = kd.Rate * f
			}
		}
		return nil
	}
	if _, ok := kindIndex[k]; !ok {
		return fmt.Errorf("rate %q: unknown kind (known: all_cases, all_noise, %s)", kv, strings.Join(KindNames(), ", "))
	}
	if err != nil || f < 0 || f > 1 {
		return fmt.Errorf("rate %q: value must be a number between 0 and 1", kv)
	}
	r[k] = f
	return nil
}

// LoadRates reads a YAML map of kind → rate on top of the defaults.
func LoadRates(path string, base Rates) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m map[string]float64
	if err := yaml.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("rates file %s: %w", path, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := base.Set(fmt.Sprintf("%s=%v", k, m[k])); err != nil {
			return fmt.Errorf("rates file %s: %w", path, err)
		}
	}
	return nil
}

// KindNames lists the kinds.
func KindNames() []string {
	out := make([]string, len(Kinds))
	for i, k := range Kinds {
		out[i] = k.Name
	}
	return out
}
