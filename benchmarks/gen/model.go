package gen

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// Programs paid on the rolls.
const (
	pGaoling = iota // 高龄津贴
	pDibao          // 城乡低保
	pTekun          // 特困供养
	pCxjm           // 城乡居民基本养老保险
	pCjsh           // 困难残疾人生活补贴
	pCjhl           // 重度残疾人护理补贴
	pGengdi         // 耕地地力保护补贴
	pGuer           // 孤儿基本生活费
	nPrograms
)

// Rolls (payment files).
const (
	rollMZ = iota // 民政 programs, GBK CSV per month
	rollRS        // 人社 城乡居民养老, Parquet per month
	rollGD        // 农业农村 耕地地力, UTF-8 CSV, one period
)

type program struct {
	code, name, dept, freq string
	roll                   int
	minAge                 int
	ssc                    bool
	requires               string
	exclusive              string
	std                    float64
}

var programs = [nPrograms]program{
	{"gaoling", "高龄津贴", "民政局", "monthly", rollMZ, 80, true, "", "", 50},
	{"dibao", "城乡低保", "民政局", "monthly", rollMZ, 0, false, "", "tekun", 350},
	{"tekun", "特困供养", "民政局", "monthly", rollMZ, 0, false, "", "dibao", 650},
	{"cxjm", "城乡居民基本养老保险", "人力资源和社会保障局", "monthly", rollRS, 60, true, "", "", 160},
	{"cjsh", "困难残疾人生活补贴", "民政局", "monthly", rollMZ, 0, true, "disability", "", 80},
	{"cjhl", "重度残疾人护理补贴", "民政局", "monthly", rollMZ, 0, true, "disability", "", 80},
	{"gengdi", "耕地地力保护补贴", "农业农村局", "annual", rollGD, 0, false, "", "", 108.5},
	{"guer", "孤儿基本生活费", "民政局", "monthly", rollMZ, 0, false, "", "", 1000},
}

// The screened window and the reference dates.
var (
	periodStarts = [3]day{mkday(2024, 4, 1), mkday(2024, 5, 1), mkday(2024, 6, 1)}
	periodNames  = [3]string{"2024-04", "2024-05", "2024-06"}
	windowStart  = periodStarts[0]
	refDay       = mkday(2024, 6, 30) // ages of the pyramid
	extractDay   = mkday(2024, 8, 31) // date of the extracts
	deathFrom    = mkday(2023, 1, 1)  // extracts hold deaths since
)

const gengdiPeriod = 1 // the land subsidy is paid once, in 2024-05

// Relations to the head of household (户籍 与户主关系).
const (
	relHead = iota
	relSpouse
	relSon
	relDaughter
	relDIL // 儿媳
	relGrandson
	relGranddaughter
	relFather
	relMother
)

var relNames = []string{"户主", "配偶", "子", "女", "儿媳", "孙子", "孙女", "父亲", "母亲"}

// Account types on the rolls.
const (
	acctSSC   = iota // 社会保障卡
	acctYZT          // 一折通 (county subsidy passbook account)
	acctOther        // other bank card
)

type person struct {
	hh      int32
	rel     uint8
	male    bool
	nation  uint8 // 0 汉族 1 回族 2 维吾尔族
	birth   day
	addr    string
	id      string
	name    string
	serial  uint64 // dense, unique in the province
	death   day
	cancel  day   // 户籍 cancelled for death on this day (0: not cancelled)
	crem    uint8 // cremation record: 0 none, 1 with ID, 2 with 15-digit ID, 3 without ID
	cert    bool  // 卫健 medical death certificate
	payDead bool  // payments continue after death (injected)
	// 户籍 cancelled for another reason than death (issue 20): 0 none,
	// 1 出国定居, 2 迁出省外, 3 迁出 (within the province: not a stop reason)
	gone    uint8
	goneDay day
	// regShift moves the 户籍 birth date away from the ID's (a corrected
	// birth date; 0: the same).
	regShift int16
	// 在押服刑 (司法): custody from jail to release (0: still in custody);
	// jail 0: never.
	jail, release day
	// unreg: no row in the 户籍 extract (issue 20, not_in_registry).
	unreg bool
	// tierUp: 高龄津贴 paid one age tier above the person's (age_tier_mismatch).
	tierUp bool
	// Latest 婚姻登记 (marMarriage, marDivorce; 0 none), its date and the
	// other party (index+1); cadre: on the cadre list (cadreUnfiled …).
	marLast uint8
	marDay  day
	spouse  int32
	cadre   uint8
	// second: the person's other 户籍 row with another ID (index+1; 0: none).
	second int32
	// attributes
	ssc       bool
	sscStatus uint8 // 0 正常 1 挂失 2 注销
	sscBank   uint8
	pension   uint8 // 0 none, 1 employee, 2 civil servant
	penStart  day
	penStatus uint8 // 0 active, 1 stopped
	penEnd    day
	penEnded  bool  // noise: an employee pension that ended before the window
	staff     uint8 // 0 none, 1 active, 2 retired
	disLevel  uint8 // 1-4, 0 none
	disCat    uint8
	certState uint8 // disability certificate: 0 none, 1 active, 2 cancelled
	biz       uint8 // 0 none, 1 active, 2 deregistered
	bizKind   uint8
	car       uint8 // 0 none, 1 active, 2 scrapped
	exemptVeh uint8 // 0 none, else index+1 of an exempt vehicle type
	// programs and payments
	progs   uint16
	cxjmAmt float64
	vio     bool   // a case was injected on this person
	tags    uint64 // injected kinds (person level)
	rollID  string // the ID as the rolls write it ("" = canonical)
	linked  bool   // the roll ID resolves to this person in the engine
	rollNm  string // the name as the rolls write it ("" = registry name)
	acct    *acctRef
}

type acctRef struct {
	no     string
	holder int32
	typ    uint8
	bank   uint8
}

type household struct {
	id       string
	village  int32
	members  []int32
	head     int32
	agri     bool
	area     float64
	dibao    bool
	dibaoAmt float64
	dibaoSSC bool // 低保 paid to the payee's social-security card (else 一折通)
	gdSSC    bool
	tags     uint64
}

// banks and the BINs used for their card numbers.
var banks = []struct{ name, bin string }{
	{"中国农业银行", "622848"}, {"中国邮政储蓄银行", "621799"}, {"河南省农村信用社", "623059"},
	{"中国建设银行", "621700"}, {"中国工商银行", "621226"},
}

const (
	multSSC  = 7_919_573
	multYZT  = 3_141_597
	multBank = 2_718_283
)

func (g *chunk) sscAccount(i int32) string {
	p := &g.ps[i]
	return account(banks[p.sscBank].bin, p.serial, multSSC)
}

func (g *chunk) yztAccount(h int32) string {
	return account("623059", g.ps[g.hs[h].members[0]].serial, multYZT)
}

func (g *chunk) bankAccount(i int32) string {
	return account("621700", g.ps[i].serial, multBank)
}

// chunkSpec is one unit of generation: part of a county's population.
type chunkSpec struct {
	no       int // global, in output order
	county   int // index in ref.counties
	inCounty int // index of the chunk within its county
	quota    int // persons
	serial0  uint64
}

// chunk is the population and the rows of one chunkSpec.
type chunk struct {
	spec  chunkSpec
	cfg   *Config
	ref   *refData
	cty   *county
	r     *rand.Rand
	ps    []person
	hs    []household
	pays  []payment
	seqs  map[uint64]uint8
	nsake []namesakeDeath
	mars  []marriageRec
	extra int // second 户籍 rows of a person (not persons)
}

// namesakeDeath is a death record of someone else with a recipient's name.
type namesakeDeath struct {
	name  string
	male  bool
	birth day
	death day
	id    string
}

func (g *chunk) rate(kind string) float64 { return g.cfg.Rates[kind] }
func (g *chunk) chance(p float64) bool    { return g.r.Float64() < p }

// headAge draws the age of a head of household (rural Henan).
func (g *chunk) headAge() int {
	// weights per year of age, by band
	u := g.r.Float64()
	switch {
	case u < 0.07:
		return 20 + g.r.IntN(10)
	case u < 0.42:
		return 30 + g.r.IntN(20)
	case u < 0.62:
		return 50 + g.r.IntN(10)
	case u < 0.81:
		return 60 + g.r.IntN(10)
	case u < 0.935:
		return 70 + g.r.IntN(10)
	case u < 0.99:
		return 80 + g.r.IntN(10)
	default:
		return 90 + g.r.IntN(12)
	}
}

func (g *chunk) birthFor(age int) day {
	if age < 0 {
		age = 0
	}
	b := mkday(2024-age-1, 7, 1) + day(g.r.IntN(365))
	if b > refDay {
		b = refDay - day(g.r.IntN(200))
	}
	return b
}

func (g *chunk) surname() string { return g.ref.surname[g.ref.surnames.draw(g.r.Float64())] }

var uyghurMale = []string{"买买提", "艾力", "阿不都", "吐尔逊", "穆罕默德", "依明", "卡德尔", "热合曼"}
var uyghurFemale = []string{"阿依古丽", "古丽米拉", "热依拉", "帕提古丽", "迪丽努尔", "阿孜古丽"}
var uyghurSecond = []string{"艾力", "吐尔逊", "阿不都拉", "买买提", "热合曼", "依明", "卡德尔", "司马义"}

func (g *chunk) givenName(male bool, birthYear int) string {
	one := 0.15
	switch {
	case birthYear < 1960:
		one = 0.4
	case birthYear < 1990:
		one = 0.3
	}
	gs := &g.ref.given[0]
	if male {
		gs = &g.ref.given[1]
	}
	c1 := g.ref.givenChar[gs.draw(g.r.Float64())]
	if g.chance(one) {
		return c1
	}
	return c1 + g.ref.givenChar[gs.draw(g.r.Float64())]
}

func (g *chunk) fullName(surname string, male bool, birth day, nation uint8) string {
	if nation == 2 {
		first := uyghurFemale[g.r.IntN(len(uyghurFemale))]
		if male {
			first = uyghurMale[g.r.IntN(len(uyghurMale))]
		}
		return first + "·" + uyghurSecond[g.r.IntN(len(uyghurSecond))]
	}
	return surname + g.givenName(male, birth.year())
}

func (g *chunk) add(h int32, rel uint8, male bool, age int, surname string, nation uint8) int32 {
	b := g.birthFor(age)
	i := int32(len(g.ps))
	g.ps = append(g.ps, person{hh: h, rel: rel, male: male, nation: nation, birth: b,
		name: g.fullName(surname, male, b, nation)})
	g.hs[h].members = append(g.hs[h].members, i)
	return i
}

// household adds one household with its members.
func (g *chunk) household() {
	h := int32(len(g.hs))
	g.hs = append(g.hs, household{village: int32(g.r.IntN(len(g.cty.villages)))})
	hd := &g.hs[h]
	hd.id = g.cty.code + strconv.Itoa(1000 + g.spec.inCounty)[1:] + strconv.Itoa(1_000_000 + int(h))[1:]
	var nation uint8
	switch u := g.r.Float64(); {
	case u < 0.002:
		nation = 2
	case u < 0.022:
		nation = 1
	}
	age := g.headAge()
	pSpouse := 0.88
	switch {
	case age < 30:
		pSpouse = 0.6
	case age >= 80:
		pSpouse = 0.4
	case age >= 70:
		pSpouse = 0.6
	case age >= 60:
		pSpouse = 0.75
	}
	spouse := g.chance(pSpouse)
	male := g.chance(0.88)
	if !spouse && age >= 60 {
		male = g.chance(0.4)
	}
	sur := g.surname()
	head := g.add(h, relHead, male, age, sur, nation)
	g.hs[h].head = head
	father := sur // surname of the children
	if spouse {
		sa := age + g.r.IntN(7) - 4
		if !male {
			sa = age + g.r.IntN(7) - 1
		}
		ssur := g.surname()
		g.add(h, relSpouse, !male, sa, ssur, nation)
		if !male {
			father = ssur
		}
	}
	child := func(minAge, maxAge int) {
		if maxAge < minAge {
			return
		}
		m := g.chance(0.52)
		rel := uint8(relDaughter)
		if m {
			rel = relSon
		}
		g.add(h, rel, m, minAge+g.r.IntN(maxAge-minAge+1), father, nation)
	}
	switch {
	case age < 60:
		n := 0
		switch u := g.r.Float64(); {
		case u < 0.12:
		case u < 0.42:
			n = 1
		case u < 0.82:
			n = 2
		default:
			n = 3
		}
		if age < 24 {
			n = 0
		}
		first := -1
		for k := 0; k < n; k++ {
			lo, hi := age-38, age-22
			if lo < 0 {
				lo = 0
			}
			child(lo, hi)
			last := int32(len(g.ps) - 1)
			if k == 0 {
				first = int(last)
			} else if k == 1 && g.chance(0.02) {
				// twins
				g.ps[last].birth = g.ps[first].birth
			}
		}
		if age >= 48 && n > 0 && g.chance(0.35) {
			g.youngFamily(h, age, father, nation)
		}
		if age >= 35 && g.chance(0.15) {
			pm := g.chance(0.35)
			rel := uint8(relMother)
			psur := g.surname()
			if pm {
				rel, psur = relFather, sur
			}
			g.add(h, rel, pm, age+22+g.r.IntN(12), psur, nation)
		}
	default:
		if g.chance(0.3) {
			g.youngFamily(h, age, father, nation)
		}
	}
}

// youngFamily adds a married son, his wife and their children.
func (g *chunk) youngFamily(h int32, headAge int, surname string, nation uint8) {
	sa := headAge - 22 - g.r.IntN(12)
	if sa < 20 {
		return
	}
	g.add(h, relSon, true, sa, surname, nation)
	g.add(h, relDIL, false, sa-g.r.IntN(4), g.surname(), nation)
	n := g.r.IntN(3)
	for k := 0; k < n && sa-22 >= 0; k++ {
		m := g.chance(0.52)
		rel := uint8(relGranddaughter)
		if m {
			rel = relGrandson
		}
		lo := sa - 36
		if lo < 0 {
			lo = 0
		}
		g.add(h, rel, m, lo+g.r.IntN(sa-22-lo+1), surname, nation)
	}
}

// Very common names given to clusters of people born within days.
var namesakeNames = []struct {
	name string
	male bool
}{{"王伟", true}, {"张伟", true}, {"王磊", true}, {"李强", true}, {"王芳", false}, {"张丽", false}, {"李娜", false}, {"王秀英", false}}

func (g *chunk) namesakes() {
	n := len(g.ps) / 2500
	if g.chance(float64(len(g.ps)%2500) / 2500) {
		n++
	}
	for c := 0; c < n; c++ {
		ns := namesakeNames[g.r.IntN(len(namesakeNames))]
		base := mkday(1965+g.r.IntN(30), 1, 1) + day(g.r.IntN(365))
		want := 3 + g.r.IntN(4)
		for tries := 0; want > 0 && tries < 200; tries++ {
			i := g.r.IntN(len(g.ps))
			p := &g.ps[i]
			if p.male != ns.male || p.nation == 2 || p.rel == relHead && g.chance(0.5) {
				continue
			}
			a := ageAt(p.birth, refDay)
			if a < 25 || a > 60 {
				continue
			}
			p.name = ns.name
			p.birth = base + day(g.r.IntN(41)-20)
			want--
		}
	}
}

// assignIDs gives every person an ID unique in the province: the
// sequence number is 2*(inCounty*4 + k) + gender, k counting people of
// the chunk with the same address code, birth date and gender.
func (g *chunk) assignIDs() {
	for i := range g.ps {
		p := &g.ps[i]
		p.serial = g.spec.serial0 + uint64(i)
		p.addr = g.cty.code
		if g.cty.oldCode != "" && p.birth.year() < g.cty.oldEnd && g.chance(0.5) {
			p.addr = g.cty.oldCode
		}
		a, _ := strconv.Atoi(p.addr)
		for {
			key := uint64(a)<<33 | uint64(uint32(p.birth+200000))<<1
			if p.male {
				key |= 1
			}
			k := g.seqs[key]
			if k < 4 {
				g.seqs[key] = k + 1
				j := g.spec.inCounty*4 + int(k)
				seq := 2 * j
				if p.male {
					seq++
				}
				p.id = makeID(p.addr, p.birth, seq)
				break
			}
			p.birth++
		}
	}
}

// annual probability of death by age (rural China, rounded).
func mortality(age int) float64 {
	switch {
	case age < 1:
		return 0.005
	case age < 40:
		return 0.001
	case age < 60:
		return 0.004
	case age < 70:
		return 0.012
	case age < 80:
		return 0.035
	case age < 90:
		return 0.09
	}
	return 0.22
}

// deaths simulates deaths since deathFrom and how departments recorded them.
func (g *chunk) deaths() {
	years := float64(extractDay-deathFrom) / 365.25
	for i := range g.ps {
		p := &g.ps[i]
		q := 1 - math.Pow(1-mortality(ageAt(p.birth, refDay)), years)
		if !g.chance(q) {
			continue
		}
		d := deathFrom + day(g.r.IntN(int(extractDay-deathFrom)+1))
		if d <= p.birth {
			continue
		}
		p.death = d
		g.recordDeath(p, 0)
	}
}

// recordDeath decides which extracts record a death. mode 0: natural;
// 1: at least one record by ID; 2: only a cremation record without ID.
func (g *chunk) recordDeath(p *person, mode int) {
	p.cancel, p.crem, p.cert = 0, 0, false
	if mode == 2 {
		p.crem = 3
		return
	}
	pc := 0.92
	if extractDay-p.death < 45 {
		pc = 0.5
	}
	if g.chance(pc) {
		lag := day(g.r.IntN(8) + g.r.IntN(8) + g.r.IntN(8))
		if c := p.death + lag; c <= extractDay {
			p.cancel = c
		} else {
			p.cancel = extractDay
		}
	}
	if g.chance(0.45) {
		u := g.r.Float64()
		switch {
		case u < 0.75:
			p.crem = 1
		case u < 0.83 && p.birth.year() < 2000:
			p.crem = 2
		case mode == 0:
			p.crem = 3
		default:
			// Injected cases found by ID keep their records linkable; the
			// unlinkable record is a case of its own (mode 2).
			p.crem = 1
		}
	}
	p.cert = g.chance(0.55)
	if mode == 1 && p.cancel == 0 && !p.cert && p.crem != 1 && p.crem != 2 {
		p.cancel = p.death + day(g.r.IntN(10))
		if p.cancel > extractDay {
			p.cancel = extractDay
		}
	}
}

// evidence is the earliest date at which some extract shows p dead.
func (p *person) evidence() day {
	e := day(0)
	if p.cancel != 0 {
		e = p.cancel
	}
	if p.crem != 0 || p.cert {
		if e == 0 || p.death < e {
			e = p.death
		}
	}
	return e
}

// evidenceByID is the earliest date at which an extract that names p by
// ID number shows p dead (the 户籍 cancellation, a cremation record with
// an ID, a medical certificate); 0 when none does.
func (p *person) evidenceByID() day {
	e := p.cancel
	if p.crem == 1 || p.crem == 2 || p.cert {
		if e == 0 || p.death < e {
			e = p.death
		}
	}
	return e
}

// regBirth is the birth date the 户籍 extract gives.
func (p *person) regBirth() day { return p.birth + day(p.regShift) }

// bizExcludes reports whether p has a business that excludes 低保 and 特困:
// an active company role above the ¥100,000 capital ceiling. 个体工商户
// operators and small companies are within it (noise_small_business).
func (p *person) bizExcludes() bool { return p.biz == 1 && p.bizKind == bizCompany }

func (p *person) aliveOn(t day) bool { return p.death == 0 || p.death >= t }

// attributes assigns cards, pensions, jobs, disabilities, businesses and
// vehicles.
func (g *chunk) attributes() {
	bankOf := uint8(hashString(g.cty.code) % uint64(len(banks)))
	for i := range g.ps {
		p := &g.ps[i]
		a := ageAt(p.birth, refDay)
		if a >= 16 && g.chance(0.97) || a < 16 && g.chance(0.5) {
			p.ssc = true
			p.sscBank = bankOf
			if g.chance(0.3) {
				p.sscBank = uint8(g.r.IntN(len(banks)))
			}
			if g.chance(0.03) {
				p.sscStatus = 1
			}
			if p.death != 0 && p.evidence() != 0 && g.chance(0.6) {
				p.sscStatus = 2
			}
		}
		switch {
		case a >= 60:
			switch u := g.r.Float64(); {
			case u < 0.10:
				p.pension = 1
			case u < 0.125:
				p.pension = 2
				p.staff = 2
			}
		case !p.male && a >= 50 && g.chance(0.05), p.male && a >= 55 && g.chance(0.02):
			p.pension = 1
		case a >= 22 && a < 60 && g.chance(0.03):
			p.staff = 1
		}
		if p.pension != 0 {
			ra := 60
			if !p.male {
				ra = 55
				if p.pension == 1 && g.chance(0.6) {
					ra = 50
				}
			}
			if ra > a {
				ra = a
			}
			p.penStart = (p.birth + day(ra*365+ra/4)).addMonths(1)
			if p.death != 0 && p.evidence() != 0 {
				p.penStatus = 1
				p.penEnd = p.death.monthStart()
			}
		}
		pd := 0.02
		switch {
		case a >= 80:
			pd = 0.2
		case a >= 60:
			pd = 0.1
		case a >= 40:
			pd = 0.05
		}
		if g.chance(pd) {
			p.disLevel = uint8(1 + g.r.IntN(4))
			if g.chance(0.35) {
				p.disLevel = uint8(3 + g.r.IntN(2))
			}
			p.disCat = uint8(1 + g.r.IntN(7))
			if g.chance(0.65) {
				p.certState = 1
				if g.chance(0.04) {
					p.certState = 2
				}
			}
		}
		if a >= 22 && a <= 65 && g.chance(0.06) {
			p.biz = 1
			if g.chance(0.1) {
				p.biz = 2
			}
			p.bizKind = uint8(g.r.IntN(10))
		}
	}
	for h := range g.hs {
		hd := &g.hs[h]
		var adults []int32
		for _, m := range hd.members {
			if a := ageAt(g.ps[m].birth, refDay); a >= 20 && a <= 70 {
				adults = append(adults, m)
			}
		}
		if len(adults) > 0 && g.chance(0.3) {
			o := &g.ps[adults[g.r.IntN(len(adults))]]
			o.car = 1
			if g.chance(0.05) {
				o.car = 2
			}
		}
		if len(adults) > 0 && g.chance(0.35) {
			o := &g.ps[adults[g.r.IntN(len(adults))]]
			o.exemptVeh = uint8(1 + g.r.IntN(len(exemptVehicles)))
		}
		hd.agri = g.chance(0.88)
		hd.area = math.Round(float64(len(hd.members))*(1+g.r.Float64())*100) / 100
	}
}

func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// householdBlocked reports whether a household has an active staff
// member, car or business (then it cannot get 低保).
func (g *chunk) householdBlocked(h int32) bool {
	for _, m := range g.hs[h].members {
		p := &g.ps[m]
		if p.staff == 1 || p.car == 1 || p.biz == 1 {
			return true
		}
	}
	return false
}

// selectRecipients builds the clean rolls: who is entitled to what.
func (g *chunk) selectRecipients() {
	for h := range g.hs {
		hd := &g.hs[h]
		headP := &g.ps[hd.head]
		if len(hd.members) == 1 && ageAt(headP.birth, windowStart) >= 60 && headP.aliveOn(windowStart) &&
			headP.pension == 0 && !g.householdBlocked(int32(h)) && g.chance(0.10) {
			headP.progs |= 1 << pTekun
			continue
		}
		p := 0.035
		for _, m := range hd.members {
			if g.ps[m].disLevel != 0 || ageAt(g.ps[m].birth, windowStart) >= 70 {
				p = 0.07
			}
		}
		if !g.householdBlocked(int32(h)) && g.chance(p) {
			hd.dibao = true
			hd.dibaoAmt = float64(260 + 10*g.r.IntN(17))
			hd.dibaoSSC = g.chance(0.4)
			for _, m := range hd.members {
				if g.ps[m].aliveOn(windowStart) {
					g.ps[m].progs |= 1 << pDibao
				}
			}
		}
		hd.gdSSC = g.chance(0.3)
		if hd.agri && g.gengdiPayee(int32(h)) >= 0 {
			g.ps[g.gengdiPayee(int32(h))].progs |= 1 << pGengdi
		}
	}
	for i := range g.ps {
		p := &g.ps[i]
		if !p.aliveOn(windowStart) {
			continue
		}
		a := ageAt(p.birth, windowStart)
		if a >= 80 && g.chance(0.95) {
			p.progs |= 1 << pGaoling
		}
		if a >= 60 && p.pension == 0 && g.chance(0.93) {
			p.progs |= 1 << pCxjm
			p.cxjmAmt = float64(150 + g.r.IntN(120))
		}
		if p.certState == 1 {
			if g.hs[p.hh].dibao && g.chance(0.9) {
				p.progs |= 1 << pCjsh
			}
			if p.disLevel <= 2 && g.chance(0.85) {
				p.progs |= 1 << pCjhl
			}
		}
	}
}

// gengdiPayee is the member paid the land subsidy: the head, or if the
// head died before the payment another adult; -1 if nobody.
func (g *chunk) gengdiPayee(h int32) int32 {
	t := periodStarts[gengdiPeriod]
	hd := &g.hs[h]
	if p := &g.ps[hd.head]; p.aliveOn(t) || p.payDead {
		return hd.head
	}
	for _, m := range hd.members {
		if p := &g.ps[m]; p.aliveOn(t) && ageAt(p.birth, t) >= 18 {
			return m
		}
	}
	return -1
}
