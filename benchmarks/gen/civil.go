package gen

import "strconv"

// 民政 婚姻登记 and the 村两委成员及经办人员 list (issue 20: tekun_married,
// cadre_relative).

// Marriage registration types.
const (
	marMarriage = 1 // 结婚登记
	marDivorce  = 2 // 离婚登记
)

var marText = []string{"", "结婚登记", "离婚登记"}

// marriageRec is a row of the 婚姻登记 extract.
type marriageRec struct {
	man, woman int32
	typ        uint8
	date       day
}

// Cadre states of a person (person.cadre).
const (
	cadreNone     = iota
	cadreUnfiled  // on the list, relatives' assistance not filed (备案)
	cadreFiled    // on the list, filed
	cadreStartYr  = 2021
	cadrePosCount = 4
)

var cadrePositions = [cadrePosCount]string{"村委会主任", "村党支部书记", "村委委员", "社会救助经办人员"}

// marry records a registration between a and b on d; the latest record
// of each person is kept on the person for the truth.
func (g *chunk) marry(a, b int32, typ uint8, d day) {
	man, woman := a, b
	if !g.ps[a].male {
		man, woman = b, a
	}
	g.mars = append(g.mars, marriageRec{man: man, woman: woman, typ: typ, date: d})
	for _, x := range [2][2]int32{{a, b}, {b, a}} {
		p := &g.ps[x[0]]
		if p.marLast == 0 || d >= p.marDay {
			p.spouse, p.marLast, p.marDay = x[1]+1, typ, d
		}
	}
}

// singleAdult picks a living adult of the given sex without a marriage
// registration, a cadre post or a case, outside household h; -1 if none.
func (g *chunk) singleAdult(h int32, male bool, lo, hi int) int32 {
	for tries := 0; tries < 200; tries++ {
		i := int32(g.r.IntN(len(g.ps)))
		p := &g.ps[i]
		if a := ageAt(p.birth, refDay); p.hh != h && p.male == male && a >= lo && a <= hi && p.death == 0 && !p.vio &&
			!p.unreg && p.marLast == 0 && p.cadre == cadreNone {
			return i
		}
	}
	return -1
}

// injectCivil writes the marriage registrations (couples of households,
// 特困 recipients registered as married or divorced) and the cadre list
// (cadres in households without assistance, cadres in 低保 households
// with and without 备案).
func (g *chunk) injectCivil() {
	// Couples registered at 22-29 of the younger spouse.
	for h := range g.hs {
		hd := &g.hs[h]
		var head, sp int32 = -1, -1
		for _, m := range hd.members {
			switch g.ps[m].rel {
			case relHead:
				head = m
			case relSpouse:
				sp = m
			}
		}
		if head < 0 || sp < 0 || g.ps[head].male == g.ps[sp].male || g.ps[head].unreg || g.ps[sp].unreg || !g.chance(0.5) {
			continue
		}
		young := max(g.ps[head].birth, g.ps[sp].birth)
		d := young.addMonths(12*22 + g.r.IntN(12*8))
		if d < extractDay {
			g.marry(head, sp, marMarriage, d)
		}
	}
	// 特困 recipients married (a case) or divorced (a near miss).
	for i := range g.ps {
		p := &g.ps[i]
		if !hasProg(p, pTekun) || p.vio || p.death != 0 || p.unreg || p.gone != 0 || p.jail != 0 || !p.linked || p.marLast != 0 {
			continue
		}
		u := g.r.Float64()
		if u >= g.rate("tekun_married")+g.rate("noise_tekun_divorced") {
			continue
		}
		s := g.singleAdult(p.hh, !p.male, 45, 90)
		if s < 0 {
			continue
		}
		d := mkday(1990, 1, 1) + day(g.r.IntN(int(mkday(2020, 1, 1)-mkday(1990, 1, 1))))
		g.marry(int32(i), s, marMarriage, d)
		if u < g.rate("tekun_married") {
			p.mark("tekun_married")
			if g.ps[s].vio = true; hasProg(&g.ps[s], pTekun) {
				// both are 特困 recipients: a case on each
				g.ps[s].mark("tekun_married")
			}
			continue
		}
		g.marry(int32(i), s, marDivorce, d+day(365+g.r.IntN(int(mkday(2023, 12, 31)-d)-365)))
		p.tags |= kbit("noise_tekun_divorced")
		g.ps[s].vio = true
	}
	// Cadres.
	for h := range g.hs {
		hd := &g.hs[h]
		dib := g.householdDibao(int32(h))
		tek := false
		for _, m := range hd.members {
			tek = tek || hasProg(&g.ps[m], pTekun)
		}
		var st uint8
		switch u := g.r.Float64(); {
		case tek:
			continue
		case !dib && u < 0.01:
			st = cadreUnfiled
			if g.chance(0.3) {
				st = cadreFiled
			}
		case dib && u < g.rate("cadre_relative"):
			st = cadreUnfiled
		case dib && u < g.rate("cadre_relative")+g.rate("noise_cadre_filed"):
			st = cadreFiled
		default:
			continue
		}
		for _, m := range hd.members {
			p := &g.ps[m]
			if a := ageAt(p.birth, windowStart); a >= 25 && a <= 65 && p.death == 0 && !p.unreg && p.gone == 0 {
				p.cadre = st
				if dib && st == cadreUnfiled {
					hd.tags |= kbit("cadre_relative")
				} else if dib {
					hd.tags |= kbit("noise_cadre_filed")
				}
				break
			}
		}
	}
}

// cadreRelated reports whether p, a member of p's household or p's
// registered spouse is a cadre whose relatives' assistance is not filed.
func (g *chunk) cadreRelated(p *person) bool {
	for _, m := range g.hs[p.hh].members {
		if g.ps[m].cadre == cadreUnfiled {
			return true
		}
	}
	return p.marLast == marMarriage && g.ps[p.spouse-1].cadre == cadreUnfiled
}

// secondIDSerial offsets the serial (accounts) of a second registry row of
// a person: serials are below it, so accounts stay unique.
const secondIDSerial = 500_000_000_000

// injectSecondIDs gives a few elderly recipients a second 户籍 row with
// another ID number (重复户口: same name, birth date, sex and household),
// paid by the same programs (duplicate_identity), and as near misses twins:
// a second person of the household with the same birth date and sex but
// another name, paid the same programs.
func (g *chunk) injectSecondIDs() {
	n := len(g.ps)
	for i := 0; i < n; i++ {
		p := &g.ps[i]
		if p.progs == 0 || p.progs&^(1<<pGaoling|1<<pCxjm) != 0 || p.vio || p.tags != 0 || p.death != 0 || p.gone != 0 ||
			p.regShift != 0 || p.jail != 0 || p.unreg || p.rollID != "" || !p.linked || p.acct != nil || p.marLast != 0 ||
			p.cadre != cadreNone || p.tierUp {
			continue
		}
		u := g.r.Float64()
		twin := false
		switch {
		case u < g.rate("second_id"):
		case u < g.rate("second_id")+g.rate("noise_twin"):
			twin = true
		default:
			continue
		}
		a, _ := strconv.Atoi(p.addr)
		key := uint64(a)<<33 | uint64(uint32(p.birth+200000))<<1
		if p.male {
			key |= 1
		}
		k := g.seqs[key]
		if k >= 4 {
			continue
		}
		c := *p
		if twin {
			if c.name = g.altName(int32(i)); c.name == "" {
				continue
			}
		}
		g.seqs[key] = k + 1
		seq := 2 * (g.spec.inCounty*4 + int(k))
		if p.male {
			seq++
		}
		c.id = makeID(p.addr, p.birth, seq)
		c.serial = secondIDSerial + p.serial
		ci := int32(len(g.ps))
		if twin {
			c.tags = kbit("noise_twin")
			p.tags |= kbit("noise_twin")
		} else {
			c.second = int32(i) + 1
			p.second = ci + 1
			p.mark("second_id")
			c.tags = p.tags
		}
		c.vio = true
		g.ps = append(g.ps, c)
		g.hs[c.hh].members = append(g.hs[c.hh].members, ci)
		g.extra++
	}
}
