// Command gen writes the data files of examples/henan-sample: a small,
// deterministic, hand-checked screening example for two real Henan counties
// (411082 长葛市 and 411024 鄢陵县, 许昌市).
//
// Run it from the repository root:
//
//	go run ./examples/henan-sample/gen
//
// It rewrites the departmental extracts under examples/henan-sample/data/,
// expected_hits.csv and expected_quarantine.csv. job.yaml and README.md are
// written by hand.
//
// The people are fictitious: names are drawn from national name statistics,
// ID numbers are built on the real county address codes with real birth dates,
// a sequence number of the right gender parity and the MOD 11-2 check
// character, and each lives in a real village (NBS 2021 village codes).
//
// On top of a clean background population (eligible, alive, paid once), the
// generator injects the cases listed in README.md. Every case declares the
// hits it must produce. The generator then evaluates its own reading of the
// six built-in rules over what it wrote (the oracle below) and stops if the
// declarations and the oracle disagree, so that expected_hits.csv comes from
// the generator's knowledge of the data, never from the engine's output.
package main

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// The two counties.
const (
	countyCG = "411082" // 长葛市
	countyYL = "411024" // 鄢陵县
)

var countyName = map[string]string{countyCG: "长葛市", countyYL: "鄢陵县"}

// The screened period and the month before it.
const (
	periodMay = "2024-05"
	periodApr = "2024-04"
)

var periodStart = day(2024, 5, 1)

// Program codes.
const (
	gaoling  = "gaoling"       // 高龄津贴, min_age 80
	dibao    = "dibao"         // 城乡低保, exclusive with tekun
	tekun    = "tekun"         // 特困供养
	jumin    = "jumin_yanglao" // 城乡居民养老, min_age 60, exclusive with the employee pension roster
	canji    = "canji_huli"    // 重度残疾人护理补贴
	sangzang = "sangzang"      // 丧葬补助金, payable after death
	gengdi   = "gengdi"        // 耕地地力保护补贴, per household (to the 户主)
	cjsh     = "cjsh"          // 困难残疾人生活补贴, for members of 低保 households
	guer     = "guer"          // 孤儿基本生活费, under 18
)

// programName is the name the 鄢陵县 roll writes instead of a code.
var programName = map[string]string{
	gaoling: "高龄津贴", dibao: "城乡低保", tekun: "特困供养", jumin: "城乡居民养老金",
	canji: "重度残疾人护理补贴", sangzang: "丧葬补助金", gengdi: "耕地地力保护补贴", cjsh: "困难残疾人生活补贴",
	guer: "孤儿基本生活费",
}

// Rule parameters as job.yaml sets them (the oracle uses the same values).
var (
	minAge            = map[string]int{gaoling: 80, jumin: 60}
	exclusiveWith     = map[string][]string{dibao: {tekun}, tekun: {dibao}}
	payableAfterDeath = map[string]bool{sangzang: true}
)

// Rule ids and categories.
const (
	ruleDeceased  = "deceased_after_death"
	ruleDuplicate = "duplicate_payment"
	ruleExclusive = "exclusive_programs"
	ruleAge       = "age_range"
	ruleInvalid   = "invalid_id"
	ruleName      = "name_mismatch"
	// The rules of issue 20 (their default parameters).
	ruleNotInRegistry = "not_in_registry"
	ruleCancelled     = "registry_cancelled"
	ruleMovedOut      = "moved_out_of_county"
	ruleTwoIDs        = "duplicate_identity"
	ruleHeadDeceased  = "deceased_household_head"
	ruleTier          = "age_tier_mismatch"
	ruleBirthDate     = "birth_date_mismatch"
	ruleCJSH          = "disability_allowance_without_dibao"
	ruleOrphan        = "orphan_over_age"
	ruleTekunMarried  = "tekun_married"
	ruleCadre         = "cadre_relative"
	rulePrisoner      = "prisoner_paid"
)

// Default parameters of the issue-20 rules, as the rule files set them.
var (
	localPrograms  = map[string]bool{gaoling: true}
	stopReasons    = map[string]bool{"出国定居": true, "服现役": true, "重复户口": true, "迁出省外": true}
	countyPrograms = map[string]bool{dibao: true, tekun: true, gaoling: true, cjsh: true, "cjhl": true}
	tiers          = []struct {
		age    int
		amount float64
	}{{80, 100}, {90, 200}, {100, 500}}
	prisonPrograms = map[string]bool{jumin: true, dibao: true, tekun: true, cjsh: true, "cxjm": true}
)

var ruleCategory = map[string]string{
	ruleDeceased: "deceased", ruleDuplicate: "duplicate", ruleExclusive: "duplicate",
	ruleAge: "ineligible", ruleInvalid: "data_quality", ruleName: "data_quality",
	ruleNotInRegistry: "data_quality", ruleCancelled: "ineligible", ruleMovedOut: "ineligible", ruleTwoIDs: "duplicate",
	ruleHeadDeceased: "deceased", ruleTier: "ineligible", ruleBirthDate: "data_quality", ruleCJSH: "ineligible",
	ruleOrphan: "ineligible", ruleTekunMarried: "ineligible", ruleCadre: "ineligible", rulePrisoner: "ineligible",
}

type village struct{ code, name, township string }

// Real villages (NBS 2021 统计用区划代码, henan_villages_nbs2021.csv).
var villages = map[string][]village{
	countyCG: {
		{"411082100003", "茶杨村社区居委会", "和尚桥镇"},
		{"411082100010", "张营村社区居委会", "和尚桥镇"},
		{"411082101202", "侯庄村委会", "坡胡镇"},
		{"411082101203", "辛庄村委会", "坡胡镇"},
		{"411082101204", "西杨村委会", "坡胡镇"},
		{"411082106204", "庞庄村委会", "大周镇"},
		{"411082106205", "大谷寺村委会", "大周镇"},
		{"411082106206", "葛庄村委会", "大周镇"},
	},
	countyYL: {
		{"411024100003", "朱元庄居委会", "安陵镇"},
		{"411024101012", "岗口居民委员会", "马栏镇"},
		{"411024101013", "郭营居民委员会", "马栏镇"},
		{"411024106201", "陶南村委会", "陶城镇"},
		{"411024106202", "陶北村委会", "陶城镇"},
		{"411024106203", "明理村委会", "陶城镇"},
		{"411024106204", "南张庄村委会", "陶城镇"},
	},
}

// person is one (fictitious) resident and everything the departments know
// about them.
type person struct {
	tag      string // case tag; "" for the background population
	name     string
	male     bool
	birth    time.Time
	county   string
	vil      village
	id       string // the true 18-character ID number
	hh       string // 户号
	relation string // 与户主关系

	registered bool   // has a row in the 户籍 extract
	regName    string // name in the 户籍 extract when it differs from name
	regIDForm  string // how the 户籍 extract writes the ID: "", "id15", "spaces", "fullwidth", "lowerx"
	regQuar    string // "" or the reason the 户籍 row is quarantined: bad_date, ragged_row
	cancel     string // 注销原因: "", 死亡, 迁出, 出国定居 …
	cancelDate time.Time
	deathDate  time.Time // 死亡日期 in the 户籍 extract (zero: none), distinct from cancelDate
	moveDate   time.Time // 迁入日期 in the 户籍 extract (zero: none)
	regBirth   time.Time // 出生日期 in the 户籍 extract when it differs from the ID's
	marriages  []marriage
	cadre      *cadre
	prison     *prison
	cremations []cremation
	pensions   []pension

	paid bool // has a payment (background bookkeeping)
}

func (p *person) registryName() string {
	if p.regName != "" {
		return p.regName
	}
	return p.name
}

// marriage is one 婚姻登记 record naming p (as 男方 or 女方).
type marriage struct {
	spouse  *person
	divorce bool
	date    time.Time
}

// cadre is a 村两委 member or 经办人员.
type cadre struct {
	unit, position string
	filed          bool      // 近亲属享受救助已备案
	end            time.Time // zero: in office
}

// prison is a custody on the 在押服刑人员 list.
type prison struct {
	start, release time.Time // release zero: in custody
	name           string
}

// regBirthDate is the birth date the 户籍 extract gives.
func (p *person) regBirthDate() time.Time {
	if !p.regBirth.IsZero() {
		return p.regBirth
	}
	return p.birth
}

type cremation struct {
	death  time.Time
	withID bool
}

type pension struct {
	scheme string // 企业职工基本养老保险 or 城乡居民基本养老保险
	start  time.Time
	end    time.Time // zero: open
	status string    // 正常发放, 终止发放
	amount float64
}

const (
	schemeEmployee = "企业职工基本养老保险"
	schemeResident = "城乡居民基本养老保险"
)

// payment is one row of a payment roll.
type payment struct {
	id       string // 发放记录号
	roll     string // "CG" (长葛市, GBK) or "YL" (鄢陵县, UTF-8)
	program  string
	period   string
	p        *person // the person the payment is for
	idText   string  // the ID number as the roll writes it
	resolves bool    // the engine can tie the ID number to p (valid, upgraded or repaired)
	name     string  // the name as the roll writes it
	region   string  // 行政区划 of the paying village
	amount   float64
	expect   []hit // hits the case declares (background: none)
}

type hit struct{ rule, severity string }

type gen struct {
	rng      *rand.Rand
	persons  []*person
	ids      map[string]bool
	hhSeq    map[string]int
	payments []*payment
	payIDs   map[string]bool
	amounts  map[string]float64 // by person and program: the same every month
	quar     [][]string         // expected quarantine rows: source, file, row, column, reason
}

func day(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }

func main() {
	out := flag.String("out", "examples/henan-sample", "folder of the example")
	flag.Parse()
	log.SetFlags(0)
	g := &gen{rng: rand.New(rand.NewPCG(2024_05_01, 411082_411024)), ids: map[string]bool{}, hhSeq: map[string]int{}, payIDs: map[string]bool{}, amounts: map[string]float64{}}
	g.background()
	g.cases()
	g.cases20()
	g.backgroundPayments()
	g.checkRepairs()
	expected := g.declared()
	if err := compare(expected, g.oracle()); err != nil {
		log.Fatalf("gen: the cases' declarations and the oracle disagree:\n%v", err)
	}
	dir := filepath.Join(*out, "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	must(g.writeRegistry(filepath.Join(dir, "公安户籍人口信息.csv")))
	must(g.writeCremations(filepath.Join(dir, "民政火化记录.csv")))
	must(g.writePensions(filepath.Join(dir, "人社养老保险待遇名单.parquet")))
	must(g.writeRollCG(filepath.Join(dir, "长葛市一卡通发放名单202405.csv")))
	must(g.writeRollYL(filepath.Join(dir, "鄢陵县一卡通发放名单202405.csv")))
	must(writeCatalogue(filepath.Join(dir, "补贴政策清单.csv")))
	must(g.writeMarriages(filepath.Join(dir, "民政婚姻登记.csv")))
	must(g.writeCadres(filepath.Join(dir, "村两委成员及经办人员名单.csv")))
	must(g.writePrisoners(filepath.Join(dir, "在押服刑人员名单.csv")))
	must(g.writeExpected(filepath.Join(*out, "expected_hits.csv"), expected))
	must(g.writeExpectedQuarantine(filepath.Join(*out, "expected_quarantine.csv")))
	n := map[string]int{}
	for _, p := range g.payments {
		n[p.period]++
	}
	log.Printf("gen: %d persons, %d payments (%d in %s, %d in %s), %d expected hits",
		len(g.persons), len(g.payments), n[periodMay], periodMay, n[periodApr], periodApr, len(expected))
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// ---------------------------------------------------------------------------
// People, names and ID numbers

var surnameTotal, givenTotalMale, givenTotalFemale float64

func init() {
	for _, s := range surnames {
		surnameTotal += float64(s.ppm)
	}
	for _, c := range givenChars {
		givenTotalMale += float64(c.ppm) * c.male
		givenTotalFemale += float64(c.ppm) * (1 - c.male)
	}
}

func (g *gen) surname() string {
	x := g.rng.Float64() * surnameTotal
	for _, s := range surnames {
		x -= float64(s.ppm)
		if x < 0 {
			return s.s
		}
	}
	return surnames[0].s
}

func (g *gen) givenChar(male bool) string {
	total := givenTotalFemale
	if male {
		total = givenTotalMale
	}
	x := g.rng.Float64() * total
	for _, c := range givenChars {
		w := float64(c.ppm) * (1 - c.male)
		if male {
			w = float64(c.ppm) * c.male
		}
		x -= w
		if x < 0 {
			return c.c
		}
	}
	return givenChars[0].c
}

func (g *gen) fullName(surname string, male bool) string {
	if surname == "" {
		surname = g.surname()
	}
	given := g.givenChar(male)
	if g.rng.IntN(4) > 0 {
		for {
			c := g.givenChar(male)
			if c != given {
				given += c
				break
			}
		}
	}
	return surname + given
}

var weights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const checkTable = "10X98765432"

// checkChar is the GB 11643-1999 MOD 11-2 check character of 17 digits.
func checkChar(body string) byte {
	s := 0
	for i := 0; i < 17; i++ {
		s += int(body[i]-'0') * weights[i]
	}
	return checkTable[s%11]
}

// validID checks an 18-character ID number the way GB 11643-1999 does:
// 17 digits, check character, calendar birth date from 1880 to the day the
// data were extracted, province code.
func validID(id string) bool {
	if len(id) != 18 {
		return false
	}
	for i := 0; i < 17; i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	if checkChar(id[:17]) != id[17] {
		return false
	}
	b, err := time.Parse("20060102", id[6:14])
	if err != nil || b.Year() < 1880 || b.After(day(2024, 6, 30)) {
		return false
	}
	p := id[:2]
	for _, ok := range []string{"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
		"41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82", "83"} {
		if p == ok {
			return true
		}
	}
	return id[0] == '9'
}

// newID makes a unique ID number: address code, birth date, a sequence whose
// last digit is odd for men and even for women, and the check character.
func (g *gen) newID(addr string, birth time.Time, male, wantX bool) string {
	for {
		seq := g.rng.IntN(499)*2 + 2 // 002..998, even: women
		if male {
			seq-- // 001..997, odd: men
		}
		body := fmt.Sprintf("%s%s%03d", addr, birth.Format("20060102"), seq)
		id := body + string(checkChar(body))
		if wantX != (id[17] == 'X') || g.ids[id] {
			continue
		}
		g.ids[id] = true
		return id
	}
}

func (g *gen) add(tag, county string, vil village, male bool, birth time.Time, name string) *person {
	if name == "" {
		name = g.fullName("", male)
	}
	p := &person{tag: tag, name: name, male: male, birth: birth, county: county, vil: vil, registered: true}
	p.id = g.newID(county, birth, male, false)
	g.persons = append(g.persons, p)
	return p
}

// newHousehold gives p a new 户号 in its village and makes it the head.
func (g *gen) newHousehold(p *person) {
	g.hhSeq[p.vil.code]++
	p.hh = fmt.Sprintf("%s%03d", p.vil.code[6:], g.hhSeq[p.vil.code])
	p.relation = "户主"
}

func (g *gen) join(head, p *person, relation string) {
	p.hh, p.relation, p.vil, p.county = head.hh, relation, head.vil, head.county
}

func (g *gen) date(y0, y1 int) time.Time {
	start := day(y0, 1, 1)
	days := int(day(y1+1, 1, 1).Sub(start).Hours() / 24)
	return start.AddDate(0, 0, g.rng.IntN(days))
}

func (g *gen) village(county string) village {
	vs := villages[county]
	return vs[g.rng.IntN(len(vs))]
}

// background makes the clean population: households in every village.
func (g *gen) background() {
	for _, county := range []string{countyCG, countyYL} {
		n := 0
		for n < 130 {
			vil := g.village(county)
			var hb time.Time
			switch r := g.rng.IntN(100); {
			case r < 38:
				hb = g.date(1929, 1943)
			case r < 78:
				hb = g.date(1944, 1964)
			default:
				hb = g.date(1965, 1988)
			}
			male := g.rng.IntN(10) < 8
			head := g.add("", county, vil, male, hb, "")
			g.newHousehold(head)
			n++
			father := ""
			if male {
				father = string([]rune(head.name)[:1])
			}
			single := hb.Year() < 1950 && g.rng.IntN(10) < 3
			if !single && g.rng.IntN(10) < 8 {
				sb := hb.AddDate(g.rng.IntN(9)-4, 0, g.rng.IntN(300)-150)
				sp := g.add("", county, vil, !male, sb, "")
				g.join(head, sp, "配偶")
				if !male {
					father = string([]rune(sp.name)[:1])
				}
				n++
			}
			if !single && hb.Year() >= 1950 {
				kids := g.rng.IntN(3)
				for k := 0; k < kids; k++ {
					kb := hb.AddDate(22+g.rng.IntN(12), g.rng.IntN(12), g.rng.IntN(28))
					if kb.After(day(2023, 12, 31)) {
						continue
					}
					km := g.rng.IntN(2) == 0
					kid := g.add("", county, vil, km, kb, g.fullName(father, km))
					rel := "女"
					if km {
						rel = "子"
					}
					g.join(head, kid, rel)
					n++
				}
			}
		}
		// People who died in 2022-2023 and whose payments were stopped in
		// time: cancelled in the 户籍 extract, most with a cremation record.
		for i := 0; i < 4; i++ {
			p := g.add("", county, g.village(county), g.rng.IntN(2) == 0, g.date(1928, 1945), "")
			g.newHousehold(p)
			d := g.date(2022, 2023)
			p.cancel, p.cancelDate = "死亡", d.AddDate(0, 0, 5+g.rng.IntN(20))
			if i < 3 {
				p.cremations = append(p.cremations, cremation{death: d, withID: true})
			}
			p.paid = true // never to be paid
		}
	}
}

// ---------------------------------------------------------------------------
// Payments

func (g *gen) pay(id, program string, p *person, expect ...hit) *payment {
	if g.payIDs[id] {
		log.Fatalf("gen: payment id %s used twice", id)
	}
	g.payIDs[id] = true
	roll := id[:2]
	period := periodMay
	if id[2:6] == "2404" {
		period = periodApr
	}
	y := &payment{id: id, roll: roll, program: program, period: period, p: p, idText: p.id, resolves: true,
		name: p.name, region: p.vil.code, amount: g.amount(program, p), expect: expect}
	p.paid = true
	g.payments = append(g.payments, y)
	return y
}

func (g *gen) amount(program string, p *person) float64 {
	k := p.id + "|" + program
	if a, ok := g.amounts[k]; ok {
		return a
	}
	a := g.newAmount(program, p)
	g.amounts[k] = a
	return a
}

func (g *gen) newAmount(program string, p *person) float64 {
	switch program {
	case gaoling:
		switch a := ageOn(p.birth, periodStart); {
		case a >= 100:
			return 500
		case a >= 90:
			return 200
		}
		return 100
	case dibao:
		return float64(260 + 40*g.rng.IntN(4))
	case tekun:
		return 680
	case jumin:
		for _, pn := range p.pensions {
			if pn.scheme == schemeResident {
				return pn.amount
			}
		}
		return 123
	case canji:
		return float64(80 + 20*g.rng.IntN(2))
	case sangzang:
		return 1200
	}
	return 0
}

func ageOn(birth, d time.Time) int {
	a := d.Year() - birth.Year()
	if d.Month() < birth.Month() || d.Month() == birth.Month() && d.Day() < birth.Day() {
		a--
	}
	return a
}

// residentPension puts p on the 城乡居民养老 roster from the month after
// their 60th birthday.
func (g *gen) residentPension(p *person) {
	start := time.Date(p.birth.Year()+60, p.birth.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	if start.Before(day(2011, 7, 1)) {
		start = day(2011, 7, 1)
	}
	amt := float64(13000+g.rng.IntN(13000)) / 100
	p.pensions = append(p.pensions, pension{scheme: schemeResident, start: start, status: "正常发放", amount: amt})
}

// backgroundPayments pays the clean population: every payment is due.
func (g *gen) backgroundPayments() {
	type due struct {
		program string
		p       *person
	}
	var dues []due
	dibaoHH := map[string]bool{}
	hhSize := map[string]int{}
	for _, p := range g.persons {
		hhSize[p.hh]++
	}
	for _, p := range g.persons {
		if p.tag != "" || p.paid || p.cancel != "" {
			continue
		}
		age := ageOn(p.birth, periodStart)
		if age >= 60 {
			if g.rng.IntN(100) < 12 {
				start := time.Date(p.birth.Year()+60, p.birth.Month()+1, 1, 0, 0, 0, 0, time.UTC)
				p.pensions = append(p.pensions, pension{scheme: schemeEmployee, start: start, status: "正常发放",
					amount: float64(250000+g.rng.IntN(170000)) / 100})
			} else if g.rng.IntN(10) < 9 {
				g.residentPension(p)
				dues = append(dues, due{jumin, p})
			}
		}
		if age >= 80 && g.rng.IntN(20) > 0 {
			dues = append(dues, due{gaoling, p})
		}
		if p.relation == "户主" && hhSize[p.hh] == 1 && age >= 60 && g.rng.IntN(3) == 0 {
			dues = append(dues, due{tekun, p})
			continue
		}
		if p.relation == "户主" && hhSize[p.hh] > 1 && g.rng.IntN(12) == 0 {
			dibaoHH[p.hh] = true
		}
		if g.rng.IntN(40) == 0 {
			dues = append(dues, due{canji, p})
		}
	}
	for _, p := range g.persons {
		if p.tag == "" && p.cancel == "" && !p.paid && dibaoHH[p.hh] {
			dues = append(dues, due{dibao, p})
		}
	}
	for _, d := range dues {
		d.p.paid = true
	}
	// Record numbers in roll order: village, program, ID.
	sort.SliceStable(dues, func(i, j int) bool {
		a, b := dues[i], dues[j]
		if a.p.vil.code != b.p.vil.code {
			return a.p.vil.code < b.p.vil.code
		}
		if a.program != b.program {
			return a.program < b.program
		}
		return a.p.id < b.p.id
	})
	seq := map[string]int{}
	for _, d := range dues {
		roll := "CG"
		if d.p.county == countyYL {
			roll = "YL"
		}
		seq[roll]++
		y := g.pay(fmt.Sprintf("%s2405-%04d", roll, seq[roll]), d.program, d.p)
		// Some rows carry harmless noise the engine must clean: an Excel
		// text apostrophe (鄢陵县) or a trailing space (长葛市).
		if seq[roll]%23 == 0 {
			if roll == "YL" {
				y.idText = "'" + y.idText
			} else {
				y.idText += " "
			}
		}
	}
	if seq["CG"] >= 800 || seq["YL"] >= 800 {
		log.Fatal("gen: background record numbers reach the block reserved for cases (0800-0899)")
	}
}

// ---------------------------------------------------------------------------
// The injected cases. README.md describes each one by payment id.

func (g *gen) single(tag, county string, vilIdx int, male bool, birth time.Time, name string) *person {
	p := g.add(tag, county, villages[county][vilIdx], male, birth, name)
	g.newHousehold(p)
	return p
}

func dt(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func (g *gen) cases() {
	high := func(rule string) hit { return hit{rule, "high"} }
	medium := func(rule string) hit { return hit{rule, "medium"} }
	low := func(rule string) hit { return hit{rule, "low"} }

	// --- deceased_after_death -------------------------------------------
	// C01: died 2024-02-11; 户籍 cancelled (death) and 火化 record with ID.
	p := g.single("C01", countyCG, 2, true, dt("1938-03-17"), "")
	p.cancel, p.cancelDate = "死亡", dt("2024-02-14")
	p.cremations = []cremation{{dt("2024-02-11"), true}}
	g.pay("CG2405-0801", gaoling, p, high(ruleDeceased))

	// C02: died 2024-03-18, both sources; paid 低保 and 城乡居民养老.
	p = g.single("C02", countyYL, 3, true, dt("1952-11-11"), "")
	p.cancel, p.cancelDate = "死亡", dt("2024-03-20")
	p.cremations = []cremation{{dt("2024-03-18"), true}}
	g.residentPension(p)
	g.pay("YL2405-0801", dibao, p, high(ruleDeceased))
	g.pay("YL2405-0802", jumin, p, high(ruleDeceased))

	// C03: cremated 2024-04-02, 户籍 not yet cancelled (one source).
	p = g.single("C03", countyCG, 5, false, dt("1947-09-02"), "")
	p.cremations = []cremation{{dt("2024-04-02"), true}}
	g.residentPension(p)
	g.pay("CG2405-0802", jumin, p, medium(ruleDeceased))

	// C04: 户籍 cancelled (death) 2024-01-09, buried (no cremation); the
	// 户籍 extract writes the ID in full-width digits.
	p = g.single("C04", countyYL, 1, false, dt("1940-07-07"), "")
	p.cancel, p.cancelDate, p.regIDForm = "死亡", dt("2024-01-09"), "fullwidth"
	g.pay("YL2405-0803", gaoling, p, medium(ruleDeceased))

	// C05: the sources disagree on the date: cremated 2024-04-27, 户籍
	// cancelled 2024-05-06. Only the cremation date is before the period,
	// so only one source counts.
	p = g.single("C05", countyCG, 0, true, dt("1950-12-08"), "")
	p.cancel, p.cancelDate = "死亡", dt("2024-05-06")
	p.cremations = []cremation{{dt("2024-04-27"), true}}
	g.residentPension(p)
	g.pay("CG2405-0803", jumin, p, medium(ruleDeceased))

	// C06: 户籍 cancelled (death) 2024-03-05, the 户籍 ID is written with
	// spaces; the roll has a one-digit typo in the ID, repaired against the
	// registry (same name): no invalid_id, and the death is found.
	p = g.single("C06", countyCG, 6, false, dt("1935-06-21"), "")
	p.cancel, p.cancelDate, p.regIDForm = "死亡", dt("2024-03-05"), "spaces"
	y := g.pay("CG2405-0804", gaoling, p, medium(ruleDeceased))
	y.idText = substitute(p.id, 15, 1)

	// C07: the 户籍 extract still has the 15-digit ID; cancelled (death)
	// 2023-11-20; the roll has the 18-digit ID.
	p = g.single("C07", countyYL, 4, true, dt("1939-04-16"), "")
	p.cancel, p.cancelDate, p.regIDForm = "死亡", dt("2023-11-20"), "id15"
	g.pay("YL2405-0804", gaoling, p, medium(ruleDeceased))

	// N01: died 2024-06-03, after the period.
	p = g.single("N01", countyCG, 3, true, dt("1943-01-25"), "")
	p.cancel, p.cancelDate = "死亡", dt("2024-06-07")
	p.cremations = []cremation{{dt("2024-06-03"), true}}
	g.pay("CG2405-0805", gaoling, p)

	// N02: died 2024-05-10, inside the screened month.
	p = g.single("N02", countyYL, 5, false, dt("1949-05-25"), "")
	p.cancel, p.cancelDate = "死亡", dt("2024-05-12")
	p.cremations = []cremation{{dt("2024-05-10"), true}}
	g.residentPension(p)
	g.pay("YL2405-0805", jumin, p)

	// N03: 王秀英 alive and paid; a namesake 王秀英 with another ID died
	// in January (户籍 and 火化) and is not paid.
	p = g.single("N03", countyCG, 4, false, dt("1952-04-13"), "王秀英")
	g.residentPension(p)
	g.pay("CG2405-0806", jumin, p)
	ns := g.single("N03-namesake", countyCG, 7, false, dt("1949-10-30"), "王秀英")
	ns.cancel, ns.cancelDate = "死亡", dt("2024-01-22")
	ns.cremations = []cremation{{dt("2024-01-19"), true}}
	ns.paid = true

	// N04: died 2024-04-08 (both sources); 丧葬补助金 paid in May
	// (payable_after_death); the April pension (month of death) is not screened.
	p = g.single("N04", countyYL, 6, true, dt("1946-09-09"), "")
	p.cancel, p.cancelDate = "死亡", dt("2024-04-15")
	p.cremations = []cremation{{dt("2024-04-08"), true}}
	g.residentPension(p)
	g.pay("YL2405-0806", sangzang, p)
	g.pay("YL2404-0002", jumin, p)

	// C09: a cremation record without ID number (name, gender, birth date
	// only) for a paid person: identity resolution links it by name, birth
	// date and gender (she is the only registered fit), so the payment is a
	// low-severity lead whose explanation says the link is probabilistic.
	p = g.single("C09", countyCG, 1, false, dt("1939-08-08"), "")
	p.cremations = []cremation{{dt("2024-03-15"), false}}
	g.pay("CG2405-0807", gaoling, p, low(ruleDeceased))

	// N06: died 2024-03-02 (both sources); only an April payment
	// (补发), outside the screened period.
	p = g.single("N06", countyCG, 2, true, dt("1937-12-12"), "")
	p.cancel, p.cancelDate = "死亡", dt("2024-03-04")
	p.cremations = []cremation{{dt("2024-03-02"), true}}
	g.pay("CG2404-0001", gaoling, p)

	// N07: 户籍 cancelled for moving out (迁出), not death.
	p = g.single("N07", countyYL, 0, true, dt("1975-06-30"), "")
	p.cancel, p.cancelDate = "迁出", dt("2024-02-01")
	g.pay("YL2405-0807", dibao, p)

	// --- duplicate_payment ------------------------------------------------
	// U01: twice in the 长葛市 高龄 roll; the second row's ID has spaces.
	p = g.single("U01", countyCG, 5, true, dt("1941-11-30"), "")
	g.pay("CG2405-0811", gaoling, p, high(ruleDuplicate))
	y = g.pay("CG2405-0812", gaoling, p, high(ruleDuplicate))
	y.idText = spaced(p.id)

	// U02: registered in 长葛市 (moved from 鄢陵县), paid 低保 by both
	// counties; the ID ends in X, written x by 鄢陵县.
	p = g.single("U02", countyCG, 7, false, dt("1958-07-19"), "")
	p.id = g.reissue(p, true)
	g.pay("CG2405-0813", dibao, p, high(ruleDuplicate))
	y = g.pay("YL2405-0811", dibao, p, high(ruleDuplicate), medium(ruleMovedOut))
	y.idText = strings.ToLower(p.id)
	y.region = villages[countyYL][5].code

	// U03: 高龄 for April (补发) and May: two periods, no duplicate. Born on
	// a leap day.
	p = g.single("U03", countyCG, 3, false, dt("1936-02-29"), "")
	g.pay("CG2404-0002", gaoling, p)
	g.pay("CG2405-0814", gaoling, p)

	// N08: 低保 paid twice for April (not screened), once for May.
	p = g.single("N08", countyCG, 0, true, dt("1969-03-03"), "")
	g.pay("CG2404-0003", dibao, p)
	g.pay("CG2404-0004", dibao, p)
	g.pay("CG2405-0815", dibao, p)

	// --- exclusive_programs -----------------------------------------------
	// E01: 低保 and 特困 in May.
	p = g.single("E01", countyYL, 2, false, dt("1950-01-23"), "")
	g.pay("YL2405-0821", dibao, p, high(ruleExclusive))
	g.pay("YL2405-0822", tekun, p, high(ruleExclusive))

	// E02: 城乡居民养老 while drawing an employee pension since 2022-09.
	p = g.single("E02", countyCG, 6, true, dt("1962-08-15"), "")
	p.pensions = append(p.pensions, pension{scheme: schemeEmployee, start: dt("2022-09-01"), status: "正常发放", amount: 3125.40})
	g.residentPension(p)
	g.pay("CG2405-0821", jumin, p, high(ruleExclusive))

	// E03: employee pension ended 2023-12-31 (终止发放).
	p = g.single("E03", countyYL, 3, true, dt("1955-10-10"), "")
	p.pensions = append(p.pensions, pension{scheme: schemeEmployee, start: dt("2015-11-01"), end: dt("2023-12-31"), status: "终止发放", amount: 2870.00})
	g.residentPension(p)
	g.pay("YL2405-0823", jumin, p)

	// E04: employee pension starting 2024-06-01, after the period.
	p = g.single("E04", countyCG, 1, false, dt("1964-01-10"), "")
	p.pensions = append(p.pensions, pension{scheme: schemeEmployee, start: dt("2024-06-01"), status: "正常发放", amount: 2688.00})
	g.residentPension(p)
	g.pay("CG2405-0822", jumin, p)

	// E05: 低保 in May, 特困 in April only.
	p = g.single("E05", countyYL, 5, true, dt("1960-05-05"), "")
	g.pay("YL2405-0824", dibao, p)
	g.pay("YL2404-0003", tekun, p)

	// --- age_range --------------------------------------------------------
	// A01: 80 on 2024-05-02, so 79 on the first day of the period.
	p = g.single("A01", countyCG, 4, true, dt("1944-05-02"), "")
	g.pay("CG2405-0831", gaoling, p, medium(ruleAge))

	// A02: exactly 80 on 2024-05-01.
	p = g.single("A02", countyYL, 6, false, dt("1944-05-01"), "")
	g.pay("YL2405-0831", gaoling, p)

	// A03: 城乡居民养老 at 58.
	p = g.single("A03", countyYL, 1, true, dt("1965-11-20"), "")
	g.residentPension(p)
	p.pensions[0].start = dt("2023-12-01")
	g.pay("YL2405-0832", jumin, p, medium(ruleAge))

	// A04: valid ID from 411003 建安区, not in the 户籍 extract: age from
	// the ID number (78).
	p = g.single("A04", countyCG, 2, true, dt("1945-10-07"), "")
	g.ids[p.id] = false
	p.id = g.newID("411003", p.birth, true, false)
	p.registered = false
	g.pay("CG2405-0832", gaoling, p, medium(ruleAge), medium(ruleNotInRegistry))

	// --- invalid_id -------------------------------------------------------
	// I01: Excel turned the ID into 4.11082E+17.
	p = g.single("I01", countyCG, 7, true, dt("1940-02-18"), "")
	y = g.pay("CG2405-0841", gaoling, p, low(ruleInvalid))
	y.idText, y.resolves = "4.11082E+17", false

	// I03: no ID number.
	p = g.single("I03", countyCG, 0, false, dt("1971-08-26"), "")
	y = g.pay("CG2405-0842", dibao, p, low(ruleInvalid))
	y.idText, y.resolves = "", false

	// I02: two digits wrong: not one typo away, cannot be repaired.
	p = g.single("I02", countyYL, 4, false, dt("1958-03-09"), "")
	g.residentPension(p)
	y = g.pay("YL2405-0841", jumin, p, low(ruleInvalid))
	y.idText, y.resolves = g.twoTypos(p.id), false

	// I04: check character dropped (17 characters).
	p = g.single("I04", countyYL, 0, true, dt("1937-10-01"), "")
	y = g.pay("YL2405-0842", gaoling, p, low(ruleInvalid))
	y.idText, y.resolves = p.id[:17], false

	// R01: two neighbouring digits swapped: repaired (same name), no hit.
	p = g.single("R01", countyYL, 2, false, dt("1968-04-27"), "")
	y = g.pay("YL2405-0843", dibao, p)
	y.idText = swapped(p.id)

	// --- name_mismatch ----------------------------------------------------
	// M01: registered 李桂兰 (ID ending X, written x in the 户籍 extract),
	// paid as 李桂芝.
	p = g.single("M01", countyCG, 3, false, dt("1942-03-03"), "李桂兰")
	p.id = g.reissue(p, true)
	p.regIDForm = "lowerx"
	y = g.pay("CG2405-0851", gaoling, p, low(ruleName))
	y.name = "李桂芝"

	// M02: the wife's ID with the husband's name (低保).
	p = g.single("M02", countyYL, 5, false, dt("1957-06-12"), "")
	h := g.add("M02-husband", countyYL, p.vil, true, dt("1955-02-02"), g.fullName("", true))
	p.relation = "配偶"
	g.newHousehold(h)
	g.join(h, p, "配偶")
	y = g.pay("YL2405-0851", dibao, p, low(ruleName))
	y.name = h.name

	// M03: registered 張偉 (traditional), paid as 张伟.
	p = g.single("M03", countyYL, 3, true, dt("1958-12-01"), "张伟")
	p.regName = "張偉"
	g.residentPension(p)
	g.pay("YL2405-0852", jumin, p)

	// M04: 刘桂英 paid as "刘　桂英" (ideographic space).
	p = g.single("M04", countyCG, 5, false, dt("1955-09-14"), "刘桂英")
	g.residentPension(p)
	y = g.pay("CG2405-0852", jumin, p)
	y.name = "刘\u3000桂英"

	// P15: the 户籍 extract has the 15-digit ID; alive; paid 高龄.
	p = g.single("P15", countyYL, 6, false, dt("1941-02-14"), "")
	p.regIDForm = "id15"
	g.pay("YL2405-0853", gaoling, p)

	// --- quarantined 户籍 rows --------------------------------------------
	// Q01: 户籍 birth date 1954-02-30 (quarantined: bad_date); paid 城乡居民养老.
	p = g.single("Q01", countyCG, 4, true, dt("1954-02-03"), "")
	p.regQuar = "bad_date"
	g.residentPension(p)
	g.pay("CG2405-0853", jumin, p, low(ruleNotInRegistry))

	// Q02: 户籍 address with an unquoted comma (quarantined: ragged_row); paid 低保.
	p = g.single("Q02", countyYL, 4, false, dt("1966-04-04"), "")
	p.regQuar = "ragged_row"
	g.pay("YL2405-0854", dibao, p, low(ruleNotInRegistry))
}

// reissue gives p a new ID number ending (or not) in X.
func (g *gen) reissue(p *person, wantX bool) string {
	g.ids[p.id] = false
	return g.newID(p.id[:6], p.birth, p.male, wantX)
}

// substitute replaces the digit at position i by (digit+d) mod 10.
func substitute(id string, i, d int) string {
	b := []byte(id)
	b[i] = byte('0' + (int(b[i]-'0')+d)%10)
	return string(b)
}

// swapped swaps the first pair of different neighbouring digits in the
// sequence number or the day of birth.
func swapped(id string) string {
	b := []byte(id)
	for i := 14; i > 11; i-- {
		if b[i] != b[i+1] {
			b[i], b[i+1] = b[i+1], b[i]
			return string(b)
		}
	}
	panic("swapped: no pair")
}

// twoTypos changes two digits so that the result fails the check.
func (g *gen) twoTypos(id string) string {
	for d := 1; d < 10; d++ {
		x := substitute(substitute(id, 9, d), 15, 3)
		if !validID(x) {
			return x
		}
	}
	panic("twoTypos")
}

func spaced(id string) string { return id[:6] + " " + id[6:14] + " " + id[14:] }

func fullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			r += '０' - '0'
		case r == 'X':
			r = 'Ｘ'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// Checks: repairs and the oracle

// candidates lists the valid ID numbers one substitution or one swap of
// neighbours away from an invalid 18-character ID.
func candidates(id string) []string {
	if len(id) != 18 || validID(id) {
		return nil
	}
	set := map[string]bool{}
	b := []byte(id)
	for i := 0; i < 18; i++ {
		orig := b[i]
		alpha := "0123456789"
		if i == 17 {
			alpha += "X"
		}
		for k := 0; k < len(alpha); k++ {
			b[i] = alpha[k]
			if s := string(b); s != id && validID(s) {
				set[s] = true
			}
		}
		b[i] = orig
	}
	for i := 0; i < 17; i++ {
		b[i], b[i+1] = b[i+1], b[i]
		if s := string(b); s != id && validID(s) {
			set[s] = true
		}
		b[i], b[i+1] = b[i+1], b[i]
	}
	var out []string
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// registry maps the ID of every accepted 户籍 row to its person.
func (g *gen) registry() map[string]*person {
	m := map[string]*person{}
	for _, p := range g.persons {
		if p.registered && p.regQuar == "" {
			m[p.id] = p
		}
	}
	return m
}

// checkRepairs makes sure every payment ID meant to be repaired has exactly
// one registered neighbour under the same name (the person), and every
// invalid ID meant to stay unresolved has none.
func (g *gen) checkRepairs() {
	reg := g.registry()
	for _, y := range g.payments {
		clean := strings.ToUpper(strings.Trim(strings.ReplaceAll(y.idText, " ", ""), "'"))
		if validID(clean) {
			if clean != y.p.id {
				log.Fatalf("gen: %s: valid ID of someone else", y.id)
			}
			continue
		}
		var match []string
		for _, c := range candidates(clean) {
			if r := reg[c]; r != nil && normName(r.registryName()) == normName(y.name) {
				match = append(match, c)
			}
		}
		switch {
		case y.resolves && (len(match) != 1 || match[0] != y.p.id):
			log.Fatalf("gen: %s should be repairable to the person, candidates under the name: %v", y.id, match)
		case !y.resolves && len(match) == 1:
			log.Fatalf("gen: %s should not be repairable, but is", y.id)
		}
	}
}

// uniqueInRegistry reports whether p is the only registered person with
// p's name, birth date and gender.
func uniqueInRegistry(reg map[string]*person, p *person) bool {
	n := 0
	for _, r := range reg {
		if normName(r.registryName()) == normName(p.registryName()) && r.birth.Equal(p.birth) && r.male == p.male {
			n++
		}
	}
	return n == 1 && reg[p.id] == p
}

// normName folds what the engine's name key folds in these data: spaces
// (ASCII and ideographic) and the traditional characters used here.
func normName(s string) string {
	return strings.NewReplacer(" ", "", "\u3000", "", "張", "张", "偉", "伟").Replace(s)
}

// oracle applies the generator's reading of the built-in rules to the data
// it wrote and returns the hits.
func (g *gen) oracle() map[string]hit {
	reg := g.registry()
	out := map[string]hit{}
	add := func(y *payment, h hit) { out[h.rule+"|"+y.id] = h }
	var screened []*payment
	for _, y := range g.payments {
		if y.period == periodMay {
			screened = append(screened, y)
		}
	}
	lastDay := periodStart.AddDate(0, 1, -1)
	group := map[string][]*payment{}
	for _, y := range screened {
		if !y.resolves {
			add(y, hit{ruleInvalid, "low"})
			continue
		}
		group[y.p.id+"|"+y.program+"|"+y.period] = append(group[y.p.id+"|"+y.program+"|"+y.period], y)
	}
	for _, ys := range group {
		if len(ys) > 1 {
			for _, y := range ys {
				add(y, hit{ruleDuplicate, "high"})
			}
		}
	}
	for _, y := range screened {
		if !y.resolves {
			continue
		}
		p := y.p
		// exclusive_programs
		excl := false
		for _, q := range screened {
			if q.resolves && q.p == p && q.period == y.period {
				for _, o := range exclusiveWith[y.program] {
					excl = excl || q.program == o
				}
			}
		}
		if y.program == jumin {
			for _, pn := range p.pensions {
				if pn.scheme == schemeEmployee && !pn.start.After(lastDay) && (pn.end.IsZero() || !pn.end.Before(periodStart)) && pn.status == "正常发放" {
					excl = true
				}
			}
		}
		if excl {
			add(y, hit{ruleExclusive, "high"})
		}
		// age_range: the registry's birth date, else the ID's.
		birth := p.birth
		if r := reg[p.id]; r != nil {
			birth = r.regBirthDate()
		}
		if m, ok := minAge[y.program]; ok && ageOn(birth, periodStart) < m {
			add(y, hit{ruleAge, "medium"})
		}
		// deceased_after_death: death month + 1 <= period month.
		if !payableAfterDeath[y.program] {
			sources := map[string]bool{}
			before := func(d time.Time) bool {
				return !periodStart.Before(time.Date(d.Year(), d.Month()+1, 1, 0, 0, 0, 0, time.UTC))
			}
			// The registry's death date when it has one, else the date of a
			// cancellation for death.
			if reg[p.id] == p && !p.deathDate.IsZero() && before(p.deathDate) {
				sources["huji"] = true
			}
			if reg[p.id] == p && p.deathDate.IsZero() && p.cancel == "死亡" && before(p.cancelDate) {
				sources["huji"] = true
			}
			fuzzy := false
			for _, c := range p.cremations {
				if c.withID && before(c.death) {
					sources["huohua"] = true
				}
				// A record without ID number is linked by name, birth date
				// and gender when exactly one registered person fits: a
				// lead of low severity when no record with an ID agrees.
				if !c.withID && before(c.death) && uniqueInRegistry(reg, p) {
					fuzzy = true
				}
			}
			switch len(sources) {
			case 0:
				if fuzzy {
					add(y, hit{ruleDeceased, "low"})
				}
			case 1:
				add(y, hit{ruleDeceased, "medium"})
			default:
				add(y, hit{ruleDeceased, "high"})
			}
		}
		// name_mismatch
		if r := reg[p.id]; r != nil && normName(r.registryName()) != normName(y.name) {
			add(y, hit{ruleName, "low"})
		}
	}
	g.oracle20(screened, add)
	return out
}

func (g *gen) declared() map[string]hit {
	out := map[string]hit{}
	for _, y := range g.payments {
		for _, h := range y.expect {
			out[h.rule+"|"+y.id] = h
		}
	}
	return out
}

func compare(want, got map[string]hit) error {
	var diffs []string
	for k, h := range want {
		if g, ok := got[k]; !ok || g != h {
			diffs = append(diffs, fmt.Sprintf("declared %s %s, oracle %v", k, h.severity, got[k]))
		}
	}
	for k, h := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("oracle %s %s not declared", k, h.severity))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		return fmt.Errorf("%s", strings.Join(diffs, "\n"))
	}
	return nil
}

// ---------------------------------------------------------------------------
// Writers

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o644) }

func csvBytes(rows [][]string) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	if err := w.WriteAll(rows); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func gbk(b []byte) ([]byte, error) {
	return simplifiedchinese.GBK.NewEncoder().Bytes(b)
}

var dateLayouts = []string{"20060102", "2006-01-02", "2006/1/2", "2006年1月2日"}

func (p *person) address() string {
	return "河南省许昌市" + countyName[p.county] + p.vil.township + p.vil.name
}

func (p *person) gender() string {
	if p.male {
		return "男"
	}
	return "女"
}

func (p *person) registryID() string {
	switch p.regIDForm {
	case "id15":
		return p.id[:6] + p.id[8:17]
	case "spaces":
		return spaced(p.id)
	case "fullwidth":
		return fullWidth(p.id)
	case "lowerx":
		return strings.ToLower(p.id)
	}
	return p.id
}

var relationOrder = map[string]int{"户主": 0, "配偶": 1, "子": 2, "女": 2}

// writeRegistry writes the 公安 户籍 extract: GBK, CRLF, mixed date formats.
func (g *gen) writeRegistry(path string) error {
	var ps []*person
	for _, p := range g.persons {
		if p.registered {
			ps = append(ps, p)
		}
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.hh != b.hh {
			return a.vil.code+a.hh < b.vil.code+b.hh
		}
		if relationOrder[a.relation] != relationOrder[b.relation] {
			return relationOrder[a.relation] < relationOrder[b.relation]
		}
		return a.birth.Before(b.birth)
	})
	rows := [][]string{{"公民身份号码", "姓名", "性别", "民族", "出生日期", "户号", "与户主关系", "住址行政区划", "住址", "人员状态", "注销原因", "注销日期", "死亡日期", "迁入日期"}}
	for i, p := range ps {
		birth := p.regBirthDate().Format(dateLayouts[i%len(dateLayouts)])
		status, reason, cdate := "正常", "", ""
		if p.cancel != "" {
			status, reason = "注销", p.cancel
			cdate = p.cancelDate.Format(dateLayouts[(i+1)%len(dateLayouts)])
		}
		ddate, mdate := "", ""
		if !p.deathDate.IsZero() {
			ddate = p.deathDate.Format(dateLayouts[(i+2)%len(dateLayouts)])
		}
		if !p.moveDate.IsZero() {
			mdate = p.moveDate.Format(dateLayouts[(i+3)%len(dateLayouts)])
		}
		row := []string{p.registryID(), p.registryName(), p.gender(), "汉族", birth, p.hh, p.relation, p.vil.code, p.address(), status, reason, cdate, ddate, mdate}
		line := len(rows) + 1
		switch p.regQuar {
		case "bad_date":
			row[4] = fmt.Sprintf("%d-02-30", p.birth.Year())
			g.quar = append(g.quar, []string{"huji", filepath.Base(path), fmt.Sprint(line), "出生日期", "bad_date"})
		case "ragged_row":
			// The address was typed with a comma and not quoted.
			row = append(row[:8], append([]string{p.address(), "3组"}, row[9:]...)...)
			g.quar = append(g.quar, []string{"huji", filepath.Base(path), fmt.Sprint(line), "", "ragged_row"})
		}
		rows = append(rows, row)
	}
	b, err := gbk(csvBytes(rows))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFile(path, b)
}

// writeCremations writes the 民政 火化 records: UTF-8 with BOM.
func (g *gen) writeCremations(path string) error {
	type rec struct {
		p *person
		c cremation
	}
	var recs []rec
	for _, p := range g.persons {
		for _, c := range p.cremations {
			recs = append(recs, rec{p, c})
		}
	}
	// People from other counties cremated here: not in the 户籍 extract
	// (one of them without an ID number).
	others := []struct{ addr, home, parlour string }{
		{"411002", "河南省许昌市魏都区", "长葛市殡仪馆"},
		{"411025", "河南省许昌市襄城县", "鄢陵县殡仪馆"},
		{"411081", "河南省许昌市禹州市", "长葛市殡仪馆"},
	}
	for i, o := range others {
		b := g.date(1935, 1950)
		p := &person{name: g.fullName("", i != 1), male: i != 1, birth: b, county: o.addr,
			vil: village{name: o.home, township: o.parlour}}
		p.id = g.newID(o.addr, b, p.male, false)
		recs = append(recs, rec{p, cremation{g.date(2023, 2023).AddDate(0, 3, 0), i != 2}})
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].c.death.Before(recs[j].c.death) })
	rows := [][]string{{"火化证明编号", "逝者姓名", "性别", "身份证号码", "出生日期", "死亡日期", "火化日期", "殡仪馆", "户籍所在地"}}
	for i, r := range recs {
		id := r.p.id
		if !r.c.withID {
			id = ""
		}
		var home, parlour string
		switch r.p.county {
		case countyCG:
			home, parlour = r.p.address(), "长葛市殡仪馆"
		case countyYL:
			home, parlour = r.p.address(), "鄢陵县殡仪馆"
		default:
			home, parlour = r.p.vil.name, r.p.vil.township
		}
		death := r.c.death.Add(time.Duration(6+g.rng.IntN(14))*time.Hour + time.Duration(g.rng.IntN(60))*time.Minute)
		burn := r.c.death.AddDate(0, 0, 2).Add(8 * time.Hour)
		rows = append(rows, []string{fmt.Sprintf("HH%s%04d", r.c.death.Format("2006"), i+1), r.p.name, r.p.gender(), id,
			r.p.birth.Format("2006-01-02"), death.Format("2006-01-02 15:04"), burn.Format("2006-01-02 15:04"), parlour, home})
	}
	return writeFile(path, append([]byte("\uFEFF"), csvBytes(rows)...))
}

// writePensions writes the 人社 pension roster as Parquet.
func (g *gen) writePensions(path string) error {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "社会保障号码", Type: arrow.BinaryTypes.String},
		{Name: "姓名", Type: arrow.BinaryTypes.String},
		{Name: "险种类型", Type: arrow.BinaryTypes.String},
		{Name: "参保地", Type: arrow.BinaryTypes.String},
		{Name: "待遇开始日期", Type: arrow.FixedWidthTypes.Date32},
		{Name: "待遇终止日期", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "待遇状态", Type: arrow.BinaryTypes.String},
		{Name: "月养老金", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, p := range g.persons {
		for _, pn := range p.pensions {
			b.Field(0).(*array.StringBuilder).Append(p.id)
			b.Field(1).(*array.StringBuilder).Append(p.name)
			b.Field(2).(*array.StringBuilder).Append(pn.scheme)
			b.Field(3).(*array.StringBuilder).Append(p.county)
			b.Field(4).(*array.Date32Builder).Append(arrow.Date32FromTime(pn.start))
			if pn.end.IsZero() {
				b.Field(5).AppendNull()
			} else {
				b.Field(5).(*array.Date32Builder).Append(arrow.Date32FromTime(pn.end))
			}
			b.Field(6).(*array.StringBuilder).Append(pn.status)
			b.Field(7).(*array.Float64Builder).Append(pn.amount)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(schema, &buf, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		return err
	}
	if err := w.Write(rec); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return writeFile(path, buf.Bytes())
}

func (g *gen) rollRows(roll string) []*payment {
	var ys []*payment
	for _, y := range g.payments {
		if y.roll == roll {
			ys = append(ys, y)
		}
	}
	// Rolls are sorted by period, village and record number.
	sort.SliceStable(ys, func(i, j int) bool {
		a, b := ys[i], ys[j]
		if a.period != b.period {
			return a.period < b.period
		}
		if a.region != b.region {
			return a.region < b.region
		}
		return a.id < b.id
	})
	return ys
}

func (g *gen) account(prefix string) string {
	s := prefix
	for len(s) < 19 {
		s += fmt.Sprint(g.rng.IntN(10))
	}
	return s
}

// writeRollCG writes the 长葛市 roll: GBK, program codes, period 202405.
func (g *gen) writeRollCG(path string) error {
	rows := [][]string{{"发放记录号", "项目代码", "发放年月", "身份证号码", "姓名", "银行账号", "账户名称", "账户类型", "开户银行", "发放金额", "行政区划", "发放日期"}}
	for _, y := range g.rollRows("CG") {
		acct, kind, bank := g.account("623059"), "社会保障卡", "长葛轩辕村镇银行"
		if g.rng.IntN(4) == 0 {
			acct, kind, bank = g.account("621799"), "一卡通存折", "中国邮政储蓄银行长葛市支行"
		}
		paid := "20240520"
		if y.period == periodApr {
			paid = "20240522"
		}
		rows = append(rows, []string{y.id, y.program, strings.ReplaceAll(y.period, "-", ""), y.idText, y.name, acct,
			y.name, kind, bank, fmt.Sprintf("%.2f", y.amount), y.region, paid})
	}
	b, err := gbk(csvBytes(rows))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFile(path, b)
}

// writeRollYL writes the 鄢陵县 roll: UTF-8 without BOM, program names,
// period 2024年5月.
func (g *gen) writeRollYL(path string) error {
	rows := [][]string{{"序号", "记录编号", "补贴项目", "所属期", "证件号码", "姓名", "账号", "户名", "开户行", "金额（元）", "村（社区）代码", "发放时间"}}
	for i, y := range g.rollRows("YL") {
		acct, bank := g.account("623059"), "河南鄢陵农村商业银行"
		if g.rng.IntN(4) == 0 {
			acct, bank = g.account("622848"), "中国农业银行鄢陵县支行"
		}
		t, _ := time.Parse("2006-01", y.period)
		paid := "2024/5/21"
		rows = append(rows, []string{fmt.Sprint(i + 1), y.id, programName[y.program], t.Format("2006年1月"), y.idText, y.name,
			acct, y.name, bank, fmt.Sprintf("%.2f", y.amount), y.region, paid})
	}
	return writeFile(path, csvBytes(rows))
}

// writeCatalogue writes the 补贴政策清单 (program list), UTF-8.
func writeCatalogue(path string) error {
	rows := [][]string{
		{"项目代码", "项目名称", "主管部门", "发放频次", "补贴标准", "政策依据"},
		{gaoling, "高龄津贴", "民政局", "月", "80-89周岁每人每月100元，90-99周岁200元，100周岁以上500元", "县级高龄津贴发放办法"},
		{dibao, "城乡居民最低生活保障金", "民政局", "月", "按家庭人均收入与低保标准差额发放", "社会救助暂行办法"},
		{tekun, "特困人员救助供养金", "民政局", "月", "基本生活费每人每月680元", "特困人员认定办法（民发〔2021〕43号）"},
		{jumin, "城乡居民基本养老保险待遇", "人力资源和社会保障局", "月", "基础养老金加个人账户养老金", "国发〔2014〕8号"},
		{canji, "重度残疾人护理补贴", "民政局", "月", "一级每人每月100元，二级80元", "国发〔2015〕52号"},
		{sangzang, "城乡居民养老保险丧葬补助金", "人力资源和社会保障局", "一次性", "每人1200元", "县级城乡居民养老保险实施办法"},
		{gengdi, "耕地地力保护补贴", "农业农村局", "年", "按确权面积每亩补贴，发给户主", "农业相关转移支付资金管理办法"},
		{cjsh, "困难残疾人生活补贴", "民政局", "月", "低保家庭中的残疾人每人每月80元", "国发〔2015〕52号"},
		{guer, "孤儿基本生活费", "民政局", "月", "散居孤儿每人每月1200元", "县级孤儿基本生活保障办法"},
	}
	return writeFile(path, csvBytes(rows))
}

func (g *gen) writeExpected(path string, hits map[string]hit) error {
	type row struct{ rule, payID string }
	var keys []row
	for k := range hits {
		r, id, _ := strings.Cut(k, "|")
		keys = append(keys, row{r, id})
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].rule != keys[j].rule {
			return keys[i].rule < keys[j].rule
		}
		return keys[i].payID < keys[j].payID
	})
	byID := map[string]*payment{}
	for _, y := range g.payments {
		byID[y.id] = y
	}
	rows := [][]string{{"rule_id", "category", "severity", "payment_id", "program_code", "period"}}
	for _, k := range keys {
		y := byID[k.payID]
		h := hits[k.rule+"|"+k.payID]
		rows = append(rows, []string{k.rule, ruleCategory[k.rule], h.severity, k.payID, y.program, y.period})
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.WriteAll(rows); err != nil {
		return err
	}
	return writeFile(path, buf.Bytes())
}

func (g *gen) writeExpectedQuarantine(path string) error {
	rows := [][]string{{"source", "file", "row", "column", "reason"}}
	rows = append(rows, g.quar...)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.WriteAll(rows)
	return writeFile(path, buf.Bytes())
}

// ---------------------------------------------------------------------------
// The cases of issue 20: one firing case and one near miss per new rule, and
// the registry's own death date. They draw from their own random stream so
// that the background population and the earlier cases stay as they were.

func (g *gen) cases20() {
	saved := g.rng
	g.rng = rand.New(rand.NewPCG(2024_05_20, 20))
	defer func() { g.rng = saved }()
	high := func(rule string) hit { return hit{rule, "high"} }
	medium := func(rule string) hit { return hit{rule, "medium"} }
	low := func(rule string) hit { return hit{rule, "low"} }

	// --- the person role's death_date ------------------------------------
	// D20a: the 户籍 extract records the death on 2024-03-10; the
	// cancellation followed only on 2024-05-08 (inside May). The death date
	// is used: a hit that the cancellation date alone would not give.
	p := g.single("D20a", countyCG, 0, true, dt("1936-04-12"), "")
	p.cancel, p.cancelDate, p.deathDate = "死亡", dt("2024-05-08"), dt("2024-03-10")
	g.pay("CG2405-0861", gaoling, p, medium(ruleDeceased))
	// D20b: death date 2024-05-03, inside the screened month: May is due.
	p = g.single("D20b", countyYL, 1, false, dt("1938-09-03"), "")
	p.cancel, p.cancelDate, p.deathDate = "死亡", dt("2024-05-20"), dt("2024-05-03")
	g.pay("YL2405-0861", gaoling, p)

	// --- registry_cancelled -----------------------------------------------
	// R2a: cancelled for 出国定居 on 2024-01-15, still paid 高龄津贴.
	p = g.single("R2a", countyCG, 1, true, dt("1940-08-08"), "")
	p.cancel, p.cancelDate = "出国定居", dt("2024-01-15")
	g.pay("CG2405-0862", gaoling, p, medium(ruleCancelled))
	// R2b: cancelled for 重复户口 on 2024-04-20: inside the month of grace.
	p = g.single("R2b", countyYL, 2, false, dt("1966-12-01"), "")
	p.cancel, p.cancelDate = "重复户口", dt("2024-04-20")
	g.pay("YL2405-0862", dibao, p)

	// --- moved_out_of_county ----------------------------------------------
	// The firing case is U02 (YL2405-0811). M3b: registered in 鄢陵县
	// since 2024-04-10 (迁入日期), still paid 低保 by 长葛市: inside the two
	// months of grace.
	p = g.single("M3b", countyYL, 3, false, dt("1965-02-02"), "")
	p.moveDate = dt("2024-04-10")
	y := g.pay("CG2405-0863", dibao, p)
	y.region = villages[countyCG][1].code

	// --- duplicate_identity -----------------------------------------------
	// T4a: one man registered twice in one household under two ID numbers
	// (重复户口 not yet cleaned), 高龄津贴 paid on both.
	p = g.single("T4a", countyCG, 2, true, dt("1939-06-06"), "")
	q := g.add("T4a-second", countyCG, p.vil, true, p.birth, p.name)
	g.join(p, q, "户主")
	g.pay("CG2405-0864", gaoling, p, medium(ruleTwoIDs))
	g.pay("CG2405-0865", gaoling, q, medium(ruleTwoIDs))
	// T4b: twins, same household and birth date, different names, both
	// paid 城乡居民养老.
	p = g.single("T4b", countyYL, 4, true, dt("1962-03-03"), "")
	q = g.add("T4b-twin", countyYL, p.vil, true, p.birth, g.fullName(string([]rune(p.name)[:1]), true))
	g.join(p, q, "兄弟")
	g.residentPension(p)
	g.residentPension(q)
	g.pay("YL2405-0863", jumin, p)
	g.pay("YL2405-0864", jumin, q)

	// --- deceased_household_head ------------------------------------------
	// H5a: 耕地地力保护补贴 paid to a 户主 who died on 2024-02-18 (火化;
	// 户籍 注销 2024-02-20); his wife lives on. Also deceased_after_death.
	p = g.single("H5a", countyCG, 3, true, dt("1950-10-10"), "")
	p.cancel, p.cancelDate = "死亡", dt("2024-02-20")
	p.cremations = []cremation{{dt("2024-02-18"), true}}
	g.join(p, g.add("H5a-wife", countyCG, p.vil, false, dt("1952-01-15"), ""), "配偶")
	y = g.pay("CG2405-0866", gengdi, p, medium(ruleHeadDeceased), high(ruleDeceased))
	y.amount = 868
	// H5b: the 户主 died on 2024-05-10, inside the period.
	p = g.single("H5b", countyYL, 5, true, dt("1948-03-03"), "")
	p.cancel, p.cancelDate = "死亡", dt("2024-05-14")
	p.cremations = []cremation{{dt("2024-05-10"), true}}
	y = g.pay("YL2405-0865", gengdi, p)
	y.amount = 651

	// --- age_tier_mismatch ------------------------------------------------
	// A6a: 87 years old, paid the 90-99 tier (200).
	p = g.single("A6a", countyCG, 4, false, dt("1937-01-20"), "")
	y = g.pay("CG2405-0867", gaoling, p, medium(ruleTier))
	y.amount = 200
	// A6b: exactly 90 on 2024-05-01, paid 200.
	p = g.single("A6b", countyYL, 6, true, dt("1934-05-01"), "")
	g.pay("YL2405-0866", gaoling, p)

	// --- birth_date_mismatch ----------------------------------------------
	// B7a: the ID says 1968-03-01, the 户籍 extract 1968-03-11 (corrected).
	p = g.single("B7a", countyYL, 0, false, dt("1968-03-01"), "")
	p.regBirth = dt("1968-03-11")
	g.pay("YL2405-0867", dibao, p, low(ruleBirthDate))
	// The near miss is YL2405-0853: a 15-digit 户籍 ID whose birth date
	// agrees once upgraded.

	// --- disability_allowance_without_dibao ---------------------------------
	// K8a: 困难残疾人生活补贴, nobody in the household on 低保.
	p = g.single("K8a", countyCG, 5, true, dt("1970-07-07"), "")
	y = g.pay("CG2405-0868", cjsh, p, medium(ruleCJSH))
	y.amount = 80
	// K8b: the son gets it; his father, the 户主, is paid 低保 for May.
	p = g.single("K8b", countyCG, 6, true, dt("1966-06-16"), "")
	son := g.add("K8b-son", countyCG, p.vil, true, dt("1995-05-05"), g.fullName(string([]rune(p.name)[:1]), true))
	g.join(p, son, "子")
	y = g.pay("CG2405-0869", cjsh, son)
	y.amount = 80
	g.pay("CG2405-0870", dibao, p)

	// --- orphan_over_age --------------------------------------------------
	// O9a: 18 since 2024-03-15, still paid.
	p = g.single("O9a", countyYL, 1, true, dt("2006-03-15"), "")
	y = g.pay("YL2405-0868", guer, p, medium(ruleOrphan))
	y.amount = 1200
	// O9b: 18 only on 2024-05-02.
	p = g.single("O9b", countyYL, 2, false, dt("2006-05-02"), "")
	y = g.pay("YL2405-0869", guer, p)
	y.amount = 1200

	// --- tekun_married ----------------------------------------------------
	// F10a: 特困 recipient married since 1975 (民政 婚姻登记); the wife is alive.
	p = g.single("F10a", countyCG, 7, true, dt("1950-12-12"), "")
	w := g.add("F10a-wife", countyCG, p.vil, false, dt("1952-02-02"), "")
	g.join(p, w, "配偶")
	p.marriages = []marriage{{spouse: w, date: dt("1975-04-01")}}
	g.pay("CG2405-0871", tekun, p, medium(ruleTekunMarried))
	// F10b: married in 1978, divorced in 2001.
	p = g.single("F10b", countyYL, 3, false, dt("1955-06-06"), "")
	ex := g.single("F10b-ex", countyYL, 4, true, dt("1953-03-09"), "")
	ex.paid = true
	p.marriages = []marriage{{spouse: ex, date: dt("1978-10-01")}, {spouse: ex, divorce: true, date: dt("2001-07-15")}}
	g.pay("YL2405-0870", tekun, p)

	// --- cadre_relative ---------------------------------------------------
	// Q11a: 低保 for a 户主 whose son is the village committee director,
	// not filed (未备案).
	p = g.single("Q11a", countyYL, 5, true, dt("1958-08-18"), "")
	son = g.add("Q11a-son", countyYL, p.vil, true, dt("1985-09-09"), g.fullName(string([]rune(p.name)[:1]), true))
	g.join(p, son, "子")
	son.cadre = &cadre{unit: p.vil.name, position: "村委会主任"}
	g.pay("YL2405-0871", dibao, p, medium(ruleCadre))
	// Q11b: the daughter is a 村委委员 and the 低保 is filed (已备案).
	p = g.single("Q11b", countyCG, 0, false, dt("1960-10-01"), "")
	d := g.add("Q11b-daughter", countyCG, p.vil, false, dt("1988-04-04"), "")
	g.join(p, d, "女")
	d.cadre = &cadre{unit: p.vil.name, position: "村委委员", filed: true}
	g.pay("CG2405-0872", dibao, p)

	// --- prisoner_paid ----------------------------------------------------
	// J12a: in custody since 2023-09-01, 城乡居民养老 still paid.
	p = g.single("J12a", countyCG, 1, true, dt("1957-01-01"), "")
	p.prison = &prison{start: dt("2023-09-01"), name: "河南省许昌监狱"}
	g.residentPension(p)
	g.pay("CG2405-0873", jumin, p, high(rulePrisoner))
	// J12b: released on 2024-03-31.
	p = g.single("J12b", countyYL, 6, true, dt("1959-02-02"), "")
	p.prison = &prison{start: dt("2021-06-01"), release: dt("2024-03-31"), name: "河南省第二监狱"}
	g.residentPension(p)
	g.pay("YL2405-0872", jumin, p)
}

// writeMarriages writes the 民政 婚姻登记 records (role marriage), UTF-8:
// one row per registration, 男方 first.
func (g *gen) writeMarriages(path string) error {
	rows := [][]string{{"登记类型", "男方身份证号", "男方姓名", "女方身份证号", "女方姓名", "登记日期", "登记机关"}}
	for _, p := range g.persons {
		for _, m := range p.marriages {
			man, woman := p, m.spouse
			if !p.male {
				man, woman = m.spouse, p
			}
			kind := "结婚登记"
			if m.divorce {
				kind = "离婚登记"
			}
			rows = append(rows, []string{kind, man.id, man.name, woman.id, woman.name, m.date.Format("2006-01-02"),
				countyName[p.county] + "民政局婚姻登记处"})
		}
	}
	return writeFile(path, csvBytes(rows))
}

// writeCadres writes the 村两委成员及经办人员 list (role cadre), UTF-8.
func (g *gen) writeCadres(path string) error {
	rows := [][]string{{"身份证号", "姓名", "所在单位", "职务", "单位区划", "近亲属备案", "任职开始", "任职结束"}}
	for _, p := range g.persons {
		if c := p.cadre; c != nil {
			filed, end := "否", ""
			if c.filed {
				filed = "是"
			}
			if !c.end.IsZero() {
				end = c.end.Format("2006-01-02")
			}
			rows = append(rows, []string{p.id, p.name, p.vil.township + c.unit, c.position, p.vil.code, filed, "2021-01-01", end})
		}
	}
	return writeFile(path, csvBytes(rows))
}

// writePrisoners writes the 司法 在押服刑人员 list (role prisoner), UTF-8.
func (g *gen) writePrisoners(path string) error {
	rows := [][]string{{"身份证号", "姓名", "入监日期", "释放日期", "监所名称"}}
	for _, p := range g.persons {
		if j := p.prison; j != nil {
			rel := ""
			if !j.release.IsZero() {
				rel = j.release.Format("2006-01-02")
			}
			rows = append(rows, []string{p.id, p.name, j.start.Format("2006-01-02"), rel, j.name})
		}
	}
	return writeFile(path, csvBytes(rows))
}

// oracle20 is the generator's own reading of the issue-20 rules (their
// default parameters) over what it wrote; added to oracle().
func (g *gen) oracle20(screened []*payment, add func(*payment, hit)) {
	reg := g.registry()
	lastDay := periodStart.AddDate(0, 1, -1)
	monthAfter := func(d time.Time, n int) time.Time {
		return time.Date(d.Year(), d.Month()+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	}
	// Household members by 户号 (as the registry gives it).
	members := map[string][]*person{}
	for _, p := range reg {
		members[p.hh] = append(members[p.hh], p)
	}
	paidIn := map[string]bool{} // person id | program
	for _, y := range screened {
		if y.resolves {
			paidIn[y.p.id+"|"+y.program] = true
		}
	}
	deadBefore := func(p *person) bool { // a death known by ID number before the period
		if r := reg[p.id]; r != nil {
			if !r.deathDate.IsZero() && !periodStart.Before(monthAfter(r.deathDate, 1)) {
				return true
			}
			if r.deathDate.IsZero() && r.cancel == "死亡" && !periodStart.Before(monthAfter(r.cancelDate, 1)) {
				return true
			}
		}
		for _, c := range p.cremations {
			if c.withID && !periodStart.Before(monthAfter(c.death, 1)) {
				return true
			}
		}
		return false
	}
	for _, y := range screened {
		if !y.resolves {
			continue
		}
		p, r := y.p, reg[y.p.id]
		if r == nil {
			sev := "low"
			if localPrograms[y.program] {
				sev = "medium"
			}
			add(y, hit{ruleNotInRegistry, sev})
			continue
		}
		if r.cancel != "" && r.cancel != "死亡" && stopReasons[r.cancel] && !periodStart.Before(monthAfter(r.cancelDate, 2)) {
			add(y, hit{ruleCancelled, "medium"})
		}
		if countyPrograms[y.program] && r.cancel == "" && r.vil.code[:6] != y.region[:6] &&
			(r.moveDate.IsZero() || !periodStart.Before(monthAfter(r.moveDate, 3))) {
			add(y, hit{ruleMovedOut, "medium"})
		}
		for _, z := range screened {
			q := z.p
			if z.resolves && q.id != p.id && z.program == y.program && z.period == y.period && reg[q.id] != nil &&
				normName(q.registryName()) == normName(r.registryName()) && q.regBirthDate().Equal(r.regBirthDate()) &&
				q.male == r.male && (q.hh == r.hh || q.vil.code[:6] == r.vil.code[:6]) {
				add(y, hit{ruleTwoIDs, "medium"})
			}
		}
		if y.program == gengdi && deadBefore(p) {
			add(y, hit{ruleHeadDeceased, "medium"})
		}
		age := ageOn(r.regBirthDate(), periodStart)
		if y.program == gaoling {
			due, paidTier := -1, -1
			for _, t := range tiers {
				if t.age <= age {
					due = t.age
				}
				if t.amount == y.amount {
					paidTier = t.age
				}
			}
			if due >= 0 && paidTier > age {
				add(y, hit{ruleTier, "medium"})
			}
		}
		if !r.regBirth.IsZero() && !r.regBirth.Equal(p.birth) {
			sev := "low"
			if m, ok := minAge[y.program]; ok && (age >= m) != (ageOn(p.birth, periodStart) >= m) {
				sev = "medium"
			}
			add(y, hit{ruleBirthDate, sev})
		}
		if y.program == cjsh {
			covered := paidIn[p.id+"|"+dibao]
			for _, m := range members[r.hh] {
				covered = covered || paidIn[m.id+"|"+dibao]
			}
			if !covered {
				add(y, hit{ruleCJSH, "medium"})
			}
		}
		if y.program == guer && age >= 18 {
			add(y, hit{ruleOrphan, "medium"})
		}
		if y.program == tekun {
			var last *marriage
			for i, m := range p.marriages {
				if !m.date.After(lastDay) && (last == nil || m.date.After(last.date)) {
					last = &p.marriages[i]
				}
			}
			if last != nil && !last.divorce && !deadBefore(last.spouse) {
				add(y, hit{ruleTekunMarried, "medium"})
			}
		}
		if y.program == dibao || y.program == tekun {
			rel := []*person{p}
			rel = append(rel, members[r.hh]...)
			for _, m := range p.marriages {
				if !m.divorce {
					rel = append(rel, m.spouse)
				}
			}
			for _, m := range rel {
				if c := m.cadre; c != nil && !c.filed && (c.end.IsZero() || !c.end.Before(periodStart)) {
					add(y, hit{ruleCadre, "medium"})
				}
			}
		}
		if j := p.prison; j != nil && prisonPrograms[y.program] && !j.start.After(periodStart) &&
			(j.release.IsZero() || !j.release.Before(lastDay)) {
			add(y, hit{rulePrisoner, "high"})
		}
	}
}
