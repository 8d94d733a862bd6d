package gen

import (
	"math"
	"sort"
	"strings"

	"github.com/crosscheck/crosscheck/normalize/names"
)

// payment is one row of a roll.
type payment struct {
	roll, prog, period uint8
	acctTyp, bank      uint8
	person             int32
	holder             int32
	seq                int32 // creation order
	pid                string
	idText             string
	linked             bool
	name               string
	region             string
	acct               string
	amount, qty        float64
	paid               day
	tags               uint64
}

// countyProg are the programs moved_out_of_county screens (county_programs).
var countyProg = map[uint8]bool{pGaoling: true, pDibao: true, pTekun: true, pCjsh: true, pCjhl: true}

// gaolingTiers are the 高龄津贴 tiers (age from, monthly amount); job.yaml
// gives them to age_tier_mismatch.
var gaolingTiers = [3]struct {
	age    int
	amount float64
}{{80, 50}, {90, 100}, {100, 300}}

// gaolingTierAge is the age from which amount is the 高龄津贴 standard (0:
// no tier's).
func gaolingTierAge(amount float64) int {
	for _, t := range gaolingTiers {
		if t.amount == amount {
			return t.age
		}
	}
	return 0
}

// truthRow is one line of truth.csv.
type truthRow struct {
	pid, cat, fam, kind string
}

func (g *chunk) dibaoPayee(h int32) int32 {
	hd := &g.hs[h]
	if p := &g.ps[hd.head]; p.aliveOn(windowStart) || p.payDead {
		return hd.head
	}
	for _, m := range hd.members {
		if p := &g.ps[m]; p.aliveOn(windowStart) && ageAt(p.birth, windowStart) >= 18 {
			return m
		}
	}
	return hd.head
}

// defaultAccount is where a program pays a person on a clean roll.
func (g *chunk) defaultAccount(i int32, prog int) acctRef {
	p := &g.ps[i]
	hd := &g.hs[p.hh]
	yzt := func() acctRef {
		return acctRef{no: g.yztAccount(p.hh), holder: hd.members[0], typ: acctYZT, bank: 2}
	}
	ssc := func(j int32) acctRef {
		return acctRef{no: g.sscAccount(j), holder: j, typ: acctSSC, bank: g.ps[j].sscBank}
	}
	switch prog {
	case pDibao:
		if hasProg(p, pTekun) {
			return g.defaultAccount(i, pTekun)
		}
		pay := g.dibaoPayee(p.hh)
		if hd.dibaoSSC && g.ps[pay].ssc {
			return ssc(pay)
		}
		return yzt()
	case pTekun:
		if p.ssc && p.serial%5 < 3 {
			return ssc(i)
		}
		return yzt()
	case pGuer:
		// to the household's passbook, held by the guardian
		return yzt()
	case pGengdi:
		if hd.gdSSC && p.ssc {
			return ssc(i)
		}
		return yzt()
	}
	return ssc(i)
}

func (g *chunk) amount(p *person, prog, t int) (amt, qty float64) {
	switch prog {
	case pGaoling:
		tier := 0
		switch a := ageAt(p.birth, periodStarts[t]); {
		case a >= 100:
			tier = 2
		case a >= 90:
			tier = 1
		}
		if p.tierUp && tier < 2 {
			tier++
		}
		return gaolingTiers[tier].amount, 0
	case pDibao:
		return g.hs[p.hh].dibaoAmt, 1
	case pTekun:
		return 650, 0
	case pCxjm:
		return p.cxjmAmt, 0
	case pCjhl:
		if p.disLevel == 1 {
			return 100, 0
		}
		return 80, 0
	case pCjsh:
		return 80, 0
	case pGuer:
		return programs[pGuer].std, 0
	case pGengdi:
		a := g.hs[p.hh].area
		return math.Round(a*programs[pGengdi].std*100) / 100, a
	}
	return 0, 0
}

// payments writes the rolls of the chunk, then the duplicates.
func (g *chunk) payments() {
	for i := range g.ps {
		p := &g.ps[i]
		if p.progs == 0 {
			continue
		}
		for prog := 0; prog < nPrograms; prog++ {
			if !hasProg(p, prog) {
				continue
			}
			for t := 0; t < 3; t++ {
				if prog == pGengdi && t != gengdiPeriod {
					continue
				}
				if !p.payDead && !p.aliveOn(periodStarts[t]) {
					continue
				}
				g.pays = append(g.pays, g.makePayment(int32(i), prog, t))
			}
		}
	}
	// Duplicates of one period.
	n := len(g.pays)
	byName := g.nameIndex()
	for k := 0; k < n; k++ {
		src := g.pays[k]
		p := &g.ps[src.person]
		if p.vio || src.tags != 0 || p.rollID != "" || src.prog == pGengdi {
			continue
		}
		// rates are per recipient; a recipient has about three rows.
		u := g.r.Float64() * 3
		var kind string
		switch {
		case u < g.rate("dup_same"):
			kind = "dup_same"
		case u < g.rate("dup_same")+g.rate("dup_cross_county"):
			kind = "dup_cross_county"
		case u < g.rate("dup_same")+g.rate("dup_cross_county")+g.rate("dup_typo"):
			kind = "dup_typo"
		default:
			continue
		}
		d := src
		switch kind {
		case "dup_cross_county":
			for {
				c := &g.ref.counties[g.r.IntN(len(g.ref.counties))]
				if c.code != g.cty.code {
					d.region = c.villages[g.r.IntN(len(c.villages))].code
					break
				}
			}
		case "dup_typo":
			ok := false
			for try := 0; try < 5; try++ {
				s := typo1(g.r, p.id)
				if m := g.repairMatches(s, p.name, byName); len(m) == 1 && m[0] == src.person {
					d.idText, ok = s, true
					break
				}
			}
			if !ok {
				continue
			}
		}
		d.paid += day(1 + g.r.IntN(20))
		d.seq = int32(len(g.pays))
		d.tags = kbit(kind)
		g.pays[k].tags |= kbit(kind)
		p.vio = true
		g.pays = append(g.pays, d)
	}
	// Rolls are files per roll and period; order rows by those, then by
	// creation.
	sort.SliceStable(g.pays, func(a, b int) bool {
		pa, pb := &g.pays[a], &g.pays[b]
		if pa.roll != pb.roll {
			return pa.roll < pb.roll
		}
		return pa.period < pb.period
	})
	var count [3][3]int
	for k := range g.pays {
		pa := &g.pays[k]
		count[pa.roll][pa.period]++
		pa.pid = paymentID(pa.roll, pa.period, g.spec.no, count[pa.roll][pa.period])
	}
}

var rollPrefix = [3]string{"MZ", "RS", "GD"}

func paymentID(roll, period uint8, chunk, seq int) string {
	b := make([]byte, 0, 20)
	b = append(b, rollPrefix[roll]...)
	b = append(b, periodNames[period][:4]...)
	b = append(b, periodNames[period][5:]...)
	b = appendInt(b, chunk, 5)
	b = appendInt(b, seq, 6)
	return string(b)
}

func (g *chunk) makePayment(i int32, prog, t int) payment {
	p := &g.ps[i]
	hd := &g.hs[p.hh]
	a := g.defaultAccount(i, prog)
	if p.acct != nil && prog != pGengdi {
		a = *p.acct
	}
	amt, qty := g.amount(p, prog, t)
	pay := payment{roll: uint8(programs[prog].roll), prog: uint8(prog), period: uint8(t), person: i,
		holder: a.holder, acct: a.no, acctTyp: a.typ, bank: a.bank, amount: amt, qty: qty,
		region: g.cty.villages[hd.village].code, linked: p.linked, seq: int32(len(g.pays)),
		paid: periodStarts[t] + day(9+g.r.IntN(12))}
	// ID as written.
	switch {
	case p.rollID != "":
		pay.idText = p.rollID
	case prog == pGengdi && p.tags&kbit("noise_legacy15") != 0:
		pay.idText = legacy15(p.id)
	case g.chance(g.rate("noise_id_format")):
		pay.idText = formatNoise(g.r, p.id)
		pay.tags |= kbit("noise_id_format")
	default:
		pay.idText = p.id
	}
	// Name as written.
	pay.name = p.name
	if p.rollNm != "" {
		pay.name = p.rollNm
	} else if g.chance(g.rate("noise_trad_name")) {
		if s := g.tradName(p.name); s != "" {
			pay.name = s
			pay.tags |= kbit("noise_trad_name")
		}
	} else if g.chance(g.rate("noise_name_space")) {
		if s := spacedName(p.name, pay.roll == rollMZ, g.r.IntN(2)); s != "" && names.Normalize(s) == names.Normalize(p.name) {
			pay.name = s
			pay.tags |= kbit("noise_name_space")
		}
	}
	return pay
}

// tradName writes a name in traditional characters ("" if none of its
// characters has a traditional form).
func (g *chunk) tradName(s string) string {
	rs := []rune(s)
	changed := false
	for k, r := range rs {
		if t, ok := g.ref.trad[r]; ok {
			rs[k] = t
			changed = true
		}
	}
	if !changed {
		return ""
	}
	out := string(rs)
	if names.Normalize(out) != names.Normalize(s) {
		return ""
	}
	return out
}

// spacedName puts a blank after the surname, or writes a minority name
// with another separator. gbk restricts the characters to GBK.
func spacedName(s string, gbk bool, v int) string {
	if i := strings.Index(s, "·"); i >= 0 {
		sep := "•"
		if gbk || v == 0 {
			sep = "．"
		}
		return s[:i] + sep + s[i+len("·"):]
	}
	rs := []rune(s)
	if len(rs) < 2 {
		return ""
	}
	sp := " "
	if v == 1 {
		sp = "\u3000"
	}
	return string(rs[:1]) + sp + string(rs[1:])
}

// truth derives the findings each payment should produce from the
// generator's knowledge of the people, as recorded in the extracts.
func (g *chunk) truth() []truthRow {
	type pk struct {
		person int32
		prog   uint8
		period uint8
	}
	cnt := make(map[pk]int, len(g.pays))
	for k := range g.pays {
		pa := &g.pays[k]
		cnt[pk{pa.person, pa.prog, pa.period}]++
	}
	type acctInfo struct {
		persons, hhs map[int32]bool
	}
	accts := map[string]*acctInfo{}
	for k := range g.pays {
		pa := &g.pays[k]
		ai := accts[pa.acct]
		if ai == nil {
			ai = &acctInfo{persons: map[int32]bool{}, hhs: map[int32]bool{}}
			accts[pa.acct] = ai
		}
		ai.persons[pa.person] = true
		ai.hhs[g.ps[pa.person].hh] = true
	}
	var out []truthRow
	for k := range g.pays {
		pa := &g.pays[k]
		p := &g.ps[pa.person]
		hd := &g.hs[p.hh]
		tags := pa.tags | p.tags | hd.tags
		ps := periodStarts[pa.period]
		add := func(fam string) {
			kind := "natural"
			for _, kd := range Kinds {
				if kd.Family == fam && tags&kbit(kd.Name) != 0 {
					kind = kd.Name
					break
				}
			}
			if kind == "natural" {
				// a case of another family that implies this one
				// (a cadre's account: holder_mismatch, account_type)
				for _, kd := range Kinds {
					if kd.Family != "" && tags&kbit(kd.Name) != 0 {
						kind = kd.Name
						break
					}
				}
			}
			out = append(out, truthRow{pa.pid, FamilyCategory[fam], fam, kind})
		}
		if ev := p.evidence(); ev != 0 && ps >= ev.addMonths(1) {
			add(FamDeceased)
		}
		if cnt[pk{pa.person, pa.prog, pa.period}] > 1 {
			add(FamDuplicate)
		}
		switch int(pa.prog) {
		case pDibao:
			if cnt[pk{pa.person, pTekun, pa.period}] > 0 {
				add(FamExclusive)
			}
		case pTekun:
			if cnt[pk{pa.person, pDibao, pa.period}] > 0 {
				add(FamExclusive)
			}
		case pCxjm:
			if p.pension != 0 && p.penStatus == 0 && p.penStart <= ps.addMonths(1)-1 {
				add(FamExclusive)
			}
		}
		if m := programs[pa.prog].minAge; m > 0 && ageAt(p.regBirth(), ps) < m {
			add(FamAge)
		}
		// Issue 20 families, by their rules' default parameters.
		if pa.linked {
			if (p.gone == 1 || p.gone == 2) && p.cancel == 0 && ps >= p.goneDay.addMonths(2) {
				add(FamCancelled)
			}
			if countyProg[pa.prog] && p.cancel == 0 && p.gone == 0 && pa.region[:6] != g.cty.villages[hd.village].code[:6] {
				add(FamMovedOut)
			}
			if p.regShift != 0 {
				add(FamBirthDate)
			}
			if pa.prog == pGaoling {
				if a := ageAt(p.regBirth(), ps); a >= gaolingTiers[0].age && gaolingTierAge(pa.amount) > a {
					add(FamAgeTier)
				}
			}
			if p.unreg {
				add(FamNotInReg)
			}
			if p.second != 0 && cnt[pk{p.second - 1, pa.prog, pa.period}] > 0 {
				add(FamDupID)
			}
			if pa.prog == pGuer && ageAt(p.regBirth(), ps) >= orphanMaxAge {
				add(FamOrphan)
			}
			if pa.prog == pTekun && p.marLast == marMarriage {
				add(FamTekunMar)
			}
			if (pa.prog == pDibao || pa.prog == pTekun) && g.cadreRelated(p) {
				add(FamCadre)
			}
			if pa.prog == pCjsh && !g.householdDibao(p.hh) {
				add(FamNoDibao)
			}
			if prisonProgs&(1<<pa.prog) != 0 && p.jail != 0 && p.jail <= ps && (p.release == 0 || p.release >= ps.addMonths(1)-1) {
				add(FamPrisoner)
			}
		}
		if ev := p.evidenceByID(); int(pa.prog) == pGengdi && pa.linked && ev != 0 && ps >= ev.addMonths(1) {
			add(FamHeadDead)
		}
		if !pa.linked {
			add(FamInvalidID)
		} else if pa.name != p.name && names.Normalize(pa.name) != names.Normalize(p.name) {
			add(FamNameMismatch)
		}
		switch int(pa.prog) {
		case pDibao:
			for _, m := range hd.members {
				if x := &g.ps[m]; x.staff == 1 || x.car == 1 || x.bizExcludes() {
					add(FamAttribute)
					break
				}
			}
		case pTekun:
			if p.staff == 1 || p.car == 1 || p.bizExcludes() {
				add(FamAttribute)
			}
		case pCjsh, pCjhl:
			if p.certState != 1 {
				add(FamRequires)
			}
		}
		if programs[pa.prog].ssc && pa.acctTyp != acctSSC {
			add(FamAccountType)
		}
		holderHH := g.ps[pa.holder].hh
		if holderHH != p.hh {
			add(FamHolder)
			if ai := accts[pa.acct]; len(ai.persons) >= 3 && len(ai.hhs) >= 2 {
				add(FamShared)
			}
		}
	}
	return out
}

// householdDibao reports whether a member of household h is on the 低保
// roll (the assistance roster lists every member paid 低保).
func (g *chunk) householdDibao(h int32) bool {
	for _, m := range g.hs[h].members {
		if hasProg(&g.ps[m], pDibao) {
			return true
		}
	}
	return false
}
