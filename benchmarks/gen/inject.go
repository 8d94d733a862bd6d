package gen

import (
	"math"

	"github.com/crosscheck/crosscheck/normalize/idnumber"
	"github.com/crosscheck/crosscheck/normalize/names"
)

// Exempt and non-exempt vehicle types (the 低保 rules of most provinces
// exempt two-wheel motorcycles and farm vehicles).
var exemptVehicles = []string{"普通二轮摩托车", "轻便二轮摩托车", "三轮汽车", "低速货车"}
var carTypes = []string{"小型轿车", "小型普通客车", "轻型普通货车", "小型越野客车"}

// Other-province district codes for namesakes who died elsewhere.
var otherCounties = []string{"370102", "340102", "320102", "130102", "420102", "610102"}

func (g *chunk) recipients() []int32 {
	var out []int32
	for i := range g.ps {
		if g.ps[i].progs != 0 {
			out = append(out, int32(i))
		}
	}
	return out
}

func hasProg(p *person, prog int) bool { return p.progs&(1<<prog) != 0 }

const sscProgs = 1<<pGaoling | 1<<pCxjm | 1<<pCjsh | 1<<pCjhl

// prisonProgs are the programs prisoner_paid screens (its applies_to).
const prisonProgs = 1<<pCxjm | 1<<pDibao | 1<<pTekun | 1<<pCjsh

// mark records an injected case on a person.
func (p *person) mark(kind string) {
	p.vio = true
	p.tags |= kbit(kind)
}

// inject applies the cases and the noise at their rates.
func (g *chunk) inject() {
	rec := g.recipients()
	free := func(i int32) bool { p := &g.ps[i]; return !p.vio && p.death == 0 }
	// Deaths not acted on.
	for _, i := range rec {
		p := &g.ps[i]
		if !free(i) {
			continue
		}
		switch u := g.r.Float64(); {
		case u < g.rate("deceased_before"):
			p.death = deathFrom + day(g.r.IntN(int(windowStart-deathFrom)))
			g.recordDeath(p, 1)
			p.payDead = true
			p.mark("deceased_before")
		case u < g.rate("deceased_before")+g.rate("deceased_during"):
			p.death = windowStart + day(g.r.IntN(61))
			g.recordDeath(p, 1)
			p.payDead = true
			p.mark("deceased_during")
		case u < g.rate("deceased_before")+g.rate("deceased_during")+g.rate("deceased_unlinked"):
			p.death = deathFrom + day(g.r.IntN(int(windowStart-deathFrom)))
			g.recordDeath(p, 2)
			p.payDead = true
			p.mark("deceased_unlinked")
		}
	}
	// Mutually exclusive programs.
	nCxjm, nGaoling := 0, 0
	for _, i := range rec {
		p := &g.ps[i]
		if hasProg(p, pCxjm) {
			nCxjm++
		}
		if hasProg(p, pGaoling) {
			nGaoling++
		}
		if !free(i) {
			continue
		}
		if hasProg(p, pTekun) && g.chance(g.rate("excl_dibao_tekun")) {
			p.progs |= 1 << pDibao
			hd := &g.hs[p.hh]
			if hd.dibaoAmt == 0 {
				hd.dibaoAmt = float64(260 + 10*g.r.IntN(17))
			}
			p.mark("excl_dibao_tekun")
		} else if hasProg(p, pCxjm) && g.chance(g.rate("excl_pension")) {
			p.pension = 1
			p.penStart = mkday(2010+g.r.IntN(11), 1+g.r.IntN(12), 1)
			p.penStatus = 0
			p.mark("excl_pension")
		}
	}
	// Ineligible by age: enough people to reach the rate per recipient.
	var old, mid []int32
	for i := range g.ps {
		p := &g.ps[i]
		if p.vio || p.death != 0 {
			continue
		}
		a := ageAt(p.birth, windowStart)
		if a >= 70 && a <= 79 && !hasProg(p, pGaoling) {
			old = append(old, int32(i))
		}
		if a >= 50 && a <= 59 && !hasProg(p, pCxjm) && p.pension == 0 {
			mid = append(mid, int32(i))
		}
	}
	if len(old) > 0 {
		pr := g.rate("age_gaoling") * float64(nGaoling) / float64(len(old))
		for _, i := range old {
			if g.chance(pr) {
				g.ps[i].progs |= 1 << pGaoling
				g.ps[i].ssc = true
				g.ps[i].mark("age_gaoling")
			}
		}
	}
	if len(mid) > 0 {
		pr := g.rate("age_cxjm") * float64(nCxjm) / float64(len(mid))
		for _, i := range mid {
			if g.chance(pr) {
				p := &g.ps[i]
				p.progs |= 1 << pCxjm
				p.cxjmAmt = float64(150 + g.r.IntN(120))
				p.ssc = true
				p.mark("age_cxjm")
			}
		}
	}
	rec = g.recipients()
	byName := g.nameIndex()
	// ID and name problems on the rolls.
	for _, i := range rec {
		p := &g.ps[i]
		if p.vio {
			continue
		}
		u := g.r.Float64()
		switch {
		case u < g.rate("invalid_id"):
			for try := 0; try < 20; try++ {
				s := damageID(g.r, p.id, g.r.IntN(3))
				if idnumber.Normalize(s).Status == idnumber.StatusInvalid && len(g.repairMatches(s, p.name, byName)) == 0 {
					p.rollID = s
					p.mark("invalid_id")
					break
				}
			}
			continue
		case u < g.rate("invalid_id")+g.rate("excel_id"):
			p.rollID = excelDamage(g.r, p.id)
			p.mark("excel_id")
			continue
		case u < g.rate("invalid_id")+g.rate("excel_id")+g.rate("missing_id"):
			p.rollID = " "
			p.mark("missing_id")
			continue
		}
		p.linked = true
		if g.chance(g.rate("name_mismatch")) {
			if alt := g.altName(i); alt != "" {
				p.rollNm = alt
				p.mark("name_mismatch")
			}
		}
	}
	for i := range g.ps {
		if g.ps[i].rollID == "" {
			g.ps[i].linked = true
		}
	}
	// Households that should not get 低保.
	for h := range g.hs {
		hd := &g.hs[h]
		if !hd.dibao {
			continue
		}
		var kind string
		switch u := g.r.Float64(); {
		case u < g.rate("attr_staff"):
			kind = "attr_staff"
		case u < g.rate("attr_staff")+g.rate("attr_vehicle"):
			kind = "attr_vehicle"
		case u < g.rate("attr_staff")+g.rate("attr_vehicle")+g.rate("attr_business"):
			kind = "attr_business"
		}
		if g.chance(g.rate("noise_exempt_vehicle")) {
			m := &g.ps[hd.members[g.r.IntN(len(hd.members))]]
			if a := ageAt(m.birth, refDay); a >= 18 && a <= 75 && m.exemptVeh == 0 {
				m.exemptVeh = uint8(1 + g.r.IntN(len(exemptVehicles)))
			}
		}
		for _, m := range hd.members {
			if g.ps[m].exemptVeh != 0 {
				hd.tags |= kbit("noise_exempt_vehicle")
			}
		}
		if kind == "" {
			if g.chance(g.rate("noise_lapsed_asset")) {
				m := &g.ps[hd.members[g.r.IntN(len(hd.members))]]
				if a := ageAt(m.birth, refDay); a >= 20 && a <= 70 && m.car == 0 && m.biz == 0 {
					if g.chance(0.5) {
						m.car = 2
					} else {
						m.biz = 2
						m.bizKind = uint8(g.r.IntN(10))
					}
					hd.tags |= kbit("noise_lapsed_asset")
				}
			}
			// A business within the ceiling: a 个体工商户 (no registered
			// capital) or a small company (at most 10 万元).
			if g.chance(g.rate("noise_small_business")) {
				m := &g.ps[hd.members[g.r.IntN(len(hd.members))]]
				if a := ageAt(m.birth, refDay); a >= 20 && a <= 70 && m.biz == 0 {
					m.biz = 1
					m.bizKind = uint8(g.r.IntN(9))
					if g.chance(0.2) {
						m.bizKind = bizSmallCompany
					}
					hd.tags |= kbit("noise_small_business")
				}
			}
			continue
		}
		var cand []int32
		for _, m := range hd.members {
			a := ageAt(g.ps[m].birth, refDay)
			if a >= 22 && a <= 59 && g.ps[m].aliveOn(extractDay) && g.ps[m].staff == 0 && g.ps[m].pension == 0 {
				cand = append(cand, m)
			}
		}
		if len(cand) == 0 {
			continue
		}
		m := &g.ps[cand[g.r.IntN(len(cand))]]
		switch kind {
		case "attr_staff":
			m.staff = 1
		case "attr_vehicle":
			m.car = 1
		case "attr_business":
			// Legal representative or shareholder of a company above the
			// ¥100,000 capital ceiling (business_on_assistance).
			m.biz = 1
			m.bizKind = bizCompany
		}
		hd.tags |= kbit(kind)
		for _, x := range hd.members {
			if hasProg(&g.ps[x], pDibao) {
				g.ps[x].vio = true
			}
		}
	}
	// Certificates, accounts.
	for _, i := range rec {
		p := &g.ps[i]
		if p.vio {
			continue
		}
		if p.progs&(1<<pCjsh|1<<pCjhl) != 0 && g.chance(g.rate("requires_cert")) {
			if g.chance(0.5) {
				p.certState = 0
			} else {
				p.certState = 2
			}
			p.mark("requires_cert")
			continue
		}
		if p.progs&sscProgs != 0 && g.chance(g.rate("account_type")) {
			p.acct = &acctRef{no: g.bankAccount(i), holder: i, typ: acctOther, bank: 3}
			p.mark("account_type")
			continue
		}
		if g.chance(g.rate("holder_mismatch")) {
			if o := g.otherAdult(p.hh, 20, 70); o >= 0 {
				p.acct = &acctRef{no: g.sscAccount(o), holder: o, typ: acctSSC, bank: g.ps[o].sscBank}
				p.mark("holder_mismatch")
			}
		}
	}
	// Shared accounts: groups of unrelated recipients paid to a cadre.
	groups := g.rate("shared_account") * float64(len(rec)) / 4.5
	ng := int(groups)
	if g.chance(groups - math.Floor(groups)) {
		ng++
	}
	for k := 0; k < ng; k++ {
		cadre := g.otherAdult(-1, 30, 65)
		if cadre < 0 {
			break
		}
		ac := &acctRef{no: g.sscAccount(cadre), holder: cadre, typ: acctSSC, bank: g.ps[cadre].sscBank}
		if g.hs[g.ps[cadre].hh].head == cadre && g.chance(0.5) {
			ac = &acctRef{no: g.yztAccount(g.ps[cadre].hh), holder: cadre, typ: acctYZT, bank: 2}
		}
		want := 3 + g.r.IntN(4)
		used := map[int32]bool{g.ps[cadre].hh: true}
		var grp []int32
		for tries := 0; len(grp) < want && tries < 50; tries++ {
			i := rec[g.r.IntN(len(rec))]
			p := &g.ps[i]
			if p.vio || used[p.hh] || p.progs&(1<<pGengdi) != 0 {
				continue
			}
			used[p.hh] = true
			grp = append(grp, i)
		}
		if len(grp) < 3 {
			continue
		}
		for _, i := range grp {
			g.ps[i].acct = ac
			g.ps[i].mark("shared_account")
		}
	}
	// Noise on people.
	for _, i := range rec {
		p := &g.ps[i]
		if !p.vio && p.rollID == "" && g.chance(g.rate("noise_id_typo")) {
			for try := 0; try < 5; try++ {
				s := typo1(g.r, p.id)
				if m := g.repairMatches(s, p.name, byName); len(m) == 1 && m[0] == i {
					p.rollID = s
					p.linked = true
					p.tags |= kbit("noise_id_typo")
					break
				}
			}
		}
		if p.acct == nil && p.progs&(1<<pGaoling|1<<pCjhl) != 0 && len(g.hs[p.hh].members) > 1 && g.chance(g.rate("noise_guardian")) {
			for _, m := range g.hs[p.hh].members {
				o := &g.ps[m]
				if a := ageAt(o.birth, refDay); m != i && a >= 25 && a <= 65 && o.ssc && o.aliveOn(extractDay) {
					p.acct = &acctRef{no: g.sscAccount(m), holder: m, typ: acctSSC, bank: o.sscBank}
					p.tags |= kbit("noise_guardian")
					break
				}
			}
		}
		if p.death == 0 && g.chance(g.rate("noise_namesake_dead")) {
			b := p.birth + day(g.r.IntN(61)-30)
			cc := otherCounties[g.r.IntN(len(otherCounties))]
			seq := 2 * g.r.IntN(500)
			if p.male {
				seq++
			}
			g.nsake = append(g.nsake, namesakeDeath{name: p.name, male: p.male, birth: b,
				death: deathFrom + day(g.r.IntN(int(extractDay-deathFrom))), id: makeID(cc, b, seq)})
			p.tags |= kbit("noise_namesake_dead")
		}
		if !p.vio && p.death == 0 && g.chance(g.rate("noise_death_after")) {
			p.death = mkday(2024, 7, 1) + day(g.r.IntN(56))
			g.recordDeath(p, 1)
			p.tags |= kbit("noise_death_after")
		}
		if hasProg(p, pCxjm) && p.pension == 0 && g.chance(g.rate("noise_pension_ended")) {
			p.penEnded = true
			p.tags |= kbit("noise_pension_ended")
		}
	}
	// 户籍 cancelled for another reason than death, and corrected birth
	// dates (issue 20), on recipients without another case or a death.
	from := mkday(2023, 1, 1)
	for _, i := range g.recipients() {
		p := &g.ps[i]
		if p.vio || p.death != 0 {
			continue
		}
		switch u := g.r.Float64(); {
		case u < g.rate("cancelled_abroad"):
			// Cancelled by 2024-01: every screened period is past the
			// month of grace.
			p.gone, p.goneDay = 1+uint8(g.r.IntN(2)), from+day(g.r.IntN(int(mkday(2024, 1, 31)-from)))
			p.mark("cancelled_abroad")
		case u < g.rate("cancelled_abroad")+g.rate("birth_corrected"):
			s := int16(1 + g.r.IntN(300))
			if g.r.IntN(2) == 0 {
				s = -s
			}
			p.regShift = s
			p.mark("birth_corrected")
		case u < g.rate("cancelled_abroad")+g.rate("birth_corrected")+g.rate("noise_cancelled_moved"):
			p.gone, p.goneDay = 3, from+day(g.r.IntN(int(mkday(2024, 1, 31)-from)))
			p.tags |= kbit("noise_cancelled_moved")
		case p.progs&prisonProgs == 0:
		case u < g.rate("cancelled_abroad")+g.rate("birth_corrected")+g.rate("noise_cancelled_moved")+g.rate("prisoner_paid"):
			// In custody since 2022-01 … 2024-03: every screened month is inside.
			p.jail = mkday(2022, 1, 1) + day(g.r.IntN(int(mkday(2024, 3, 31)-mkday(2022, 1, 1))))
			p.mark("prisoner_paid")
		case u < g.rate("cancelled_abroad")+g.rate("birth_corrected")+g.rate("noise_cancelled_moved")+g.rate("prisoner_paid")+
			g.rate("noise_prisoner_released"):
			// Released before the window.
			p.jail = mkday(2019, 1, 1) + day(g.r.IntN(int(mkday(2023, 1, 1)-mkday(2019, 1, 1))))
			p.release = mkday(2023, 6, 1) + day(g.r.IntN(int(mkday(2024, 3, 31)-mkday(2023, 6, 1))))
			p.tags |= kbit("noise_prisoner_released")
		}
	}
	g.injectIssue20b()
	for i := range g.ps {
		p := &g.ps[i]
		if p.birth.year() < 2000 && g.chance(g.rate("noise_legacy15")) {
			p.tags |= kbit("noise_legacy15")
		}
	}
}

// otherAdult picks a living adult outside household h (any household if h
// is -1) with a social-security card.
func (g *chunk) otherAdult(h int32, lo, hi int) int32 {
	for tries := 0; tries < 50; tries++ {
		i := int32(g.r.IntN(len(g.ps)))
		p := &g.ps[i]
		if a := ageAt(p.birth, refDay); p.hh != h && a >= lo && a <= hi && p.ssc && p.death == 0 && !p.vio {
			return i
		}
	}
	return -1
}

// nameIndex maps normalised names to the people of the chunk.
func (g *chunk) nameIndex() map[string][]int32 {
	m := make(map[string][]int32, len(g.ps))
	for i := range g.ps {
		k := names.Normalize(g.ps[i].name)
		m[k] = append(m[k], int32(i))
	}
	return m
}

// repairMatches lists the people of the chunk whose ID the engine's
// repair could pick for a bad ID written with name.
func (g *chunk) repairMatches(bad, name string, byName map[string][]int32) []int32 {
	cands := idnumber.RepairCandidates(idnumber.Clean(bad))
	if len(cands) == 0 {
		return nil
	}
	var out []int32
	for _, i := range byName[names.Normalize(name)] {
		for _, c := range cands {
			if c == g.ps[i].id {
				out = append(out, i)
			}
		}
	}
	return out
}

// altName is a name that differs from p's registry name after
// normalisation: a household member's name or one character changed.
func (g *chunk) altName(i int32) string {
	p := &g.ps[i]
	want := names.Normalize(p.name)
	if g.chance(0.4) {
		for _, m := range g.hs[p.hh].members {
			if m != i && names.Normalize(g.ps[m].name) != want {
				return g.ps[m].name
			}
		}
	}
	rs := []rune(p.name)
	if len(rs) < 2 || p.nation == 2 {
		return ""
	}
	gs := &g.ref.given[0]
	if p.male {
		gs = &g.ref.given[1]
	}
	for try := 0; try < 10; try++ {
		c := []rune(g.ref.givenChar[gs.draw(g.r.Float64())])[0]
		alt := append([]rune(nil), rs...)
		alt[len(alt)-1] = c
		if s := string(alt); names.Normalize(s) != want {
			return s
		}
	}
	return ""
}

// orphanMaxAge is orphan_over_age's max_age: the allowance stops at 18.
const orphanMaxAge = 18

// injectIssue20b injects the cases of not_in_registry, age_tier_mismatch
// and disability_allowance_without_dibao with their near misses, on
// people without another case.
func (g *chunk) injectIssue20b() {
	last := periodStarts[len(periodStarts)-1]
	for _, i := range g.recipients() {
		p := &g.ps[i]
		if p.vio || p.death != 0 || p.gone != 0 || p.regShift != 0 || p.jail != 0 {
			continue
		}
		hd := &g.hs[p.hh]
		// Unregistered: only 高龄津贴 / 城乡居民养老, paid to the person,
		// nobody else in the household on a roll (no account of theirs is
		// held by p, no household check rests on p).
		if p.tags == 0 && p.acct == nil && p.rollID == "" && p.linked && p.progs&^(1<<pGaoling|1<<pCxjm) == 0 {
			alone := true
			for _, m := range hd.members {
				if m != i && g.ps[m].progs != 0 {
					alone = false
				}
			}
			if alone && g.chance(g.rate("unregistered")) {
				p.unreg = true
				p.mark("unregistered")
				continue
			}
		}
		if hasProg(p, pGaoling) {
			a0, a1 := ageAt(p.birth, windowStart), ageAt(p.birth, last)
			if a0 != a1 && (a1 == 90 || a1 == 100) {
				p.tags |= kbit("noise_tier_birthday")
			} else if a0 >= 80 && a1 <= 98 && g.chance(g.rate("tier_overpaid")) {
				p.tierUp = true
				p.mark("tier_overpaid")
				continue
			}
		}
		if hasProg(p, pCjsh) && hasProg(p, pDibao) {
			others := 0
			for _, m := range hd.members {
				if m != i && hasProg(&g.ps[m], pDibao) {
					others++
				}
			}
			if others > 0 && g.chance(g.rate("noise_cjsh_household_dibao")) {
				p.progs &^= 1 << pDibao
				p.tags |= kbit("noise_cjsh_household_dibao")
			}
		}
	}
	g.injectCivil()
	g.injectSecondIDs()
	// 孤儿基本生活费 to young people of 15-19: paid at 18 or older (a
	// case) or under 18 in every period (a near miss).
	for i := range g.ps {
		p := &g.ps[i]
		a0, a1 := ageAt(p.birth, windowStart), ageAt(p.birth, last)
		if a0 < 15 || a1 > 19 || p.vio || p.progs != 0 || p.death != 0 || p.gone != 0 || p.jail != 0 || p.unreg ||
			p.regShift != 0 || p.rollID != "" || !p.linked {
			continue
		}
		switch u := g.r.Float64(); {
		case a1 >= orphanMaxAge && u < g.rate("orphan_over_age"):
			p.progs |= 1 << pGuer
			p.mark("orphan_over_age")
		case a1 < orphanMaxAge && u < g.rate("noise_orphan_minor"):
			p.progs |= 1 << pGuer
			p.tags |= kbit("noise_orphan_minor")
		}
	}
	// 困难残疾人生活补贴 outside a 低保 household.
	for i := range g.ps {
		p := &g.ps[i]
		if p.vio || p.certState != 1 || hasProg(p, pCjsh) || !p.aliveOn(windowStart) || p.death != 0 || p.gone != 0 ||
			p.jail != 0 || !p.ssc || p.sscStatus != 0 || p.acct != nil || p.rollID != "" || !p.linked || g.householdDibao(p.hh) {
			continue
		}
		if g.chance(g.rate("cjsh_no_dibao")) {
			p.progs |= 1 << pCjsh
			p.mark("cjsh_no_dibao")
		}
	}
}
