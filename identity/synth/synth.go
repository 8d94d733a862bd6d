// Package synth generates synthetic Chinese person records with realistic
// name frequencies, duplicates and the errors departmental extracts carry
// (homophone and other character substitutions, dropped characters, birth
// dates off by one field or with day and month transposed, missing or
// coarser division codes, missing gender, spreadsheet-damaged or mistyped
// ID numbers). It feeds the identity tests and the linkage benchmarks; no
// real person is involved.
package synth

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/crosscheck/crosscheck/identity/pinyin"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// Shares are name frequencies: surnames and given-name characters with
// their weights (any unit) and, for given-name characters, the share of men
// among bearers.
type Shares struct {
	Surnames []Weighted
	Given    []GivenChar
}

// Weighted is a value with a weight.
type Weighted struct {
	S string
	W float64
}

// GivenChar is a given-name character with its weight and male share.
type GivenChar struct {
	C    string
	W    float64
	Male float64
}

// DefaultShares is a small built-in table: the 40 most common surnames
// and 80 common given-name characters with rounded frequencies (parts per
// thousand), enough for tests. LoadShares reads the full tables.
func DefaultShares() *Shares {
	sur := "王75 李74 张70 刘53 陈45 杨31 黄23 赵22 吴21 周20 徐16 孙15 马14 朱13 胡13 郭12 何11 林11 罗11 高11 " +
		"郑10 梁9 谢8 宋8 唐7 许7 韩7 冯7 邓7 曹6 彭6 曾6 肖6 田6 董5 袁5 潘5 于5 蒋5 蔡5"
	giv := "英27:5 华26:49 玉25:28 文25:69 明22:82 国21:90 丽21:2 秀20:4 兰19:1 金18:62 芳16:2 平16:57 红16:8 军16:96 " +
		"海15:92 建15:95 林14:77 霞14:1 小14:50 志14:93 春13:42 桂12:25 云12:42 珍12:3 梅12:2 凤12:4 永11:92 伟11:90 " +
		"荣11:60 生11:91 德10:91 燕10:3 杰10:95 辉10:88 新10:79 成10:90 敏9:33 晓9:40 婷9:1 静9:2 娟9:1 勇9:97 " +
		"强9:97 磊9:96 洪9:83 峰9:96 超8:92 亮8:94 涛8:96 斌8:95 波8:93 刚8:97 俊8:92 鹏8:97 佳8:40 琴8:2 " +
		"艳8:2 萍8:3 秀7:4 丹7:13 雪7:10 宇7:85 浩7:96 凯7:95 飞7:85 琳7:5 颖7:6 慧7:8 倩7:2 宏7:89 " +
		"民7:91 庆7:75 东7:90 福7:88 光7:90 良7:89"
	sh := &Shares{}
	for _, f := range strings.Fields(sur) {
		r := []rune(f)
		w, _ := strconv.ParseFloat(string(r[1:]), 64)
		sh.Surnames = append(sh.Surnames, Weighted{S: string(r[0]), W: w})
	}
	for _, f := range strings.Fields(giv) {
		r := []rune(f)
		a, b, _ := strings.Cut(string(r[1:]), ":")
		w, _ := strconv.ParseFloat(a, 64)
		m, _ := strconv.ParseFloat(b, 64)
		sh.Given = append(sh.Given, GivenChar{C: string(r[0]), W: w, Male: m / 100})
	}
	return sh
}

// LoadShares reads surname_share.csv (surname, compound, share_per_million)
// and given_char_share.csv (char, pinyin_tone3, male_share,
// share_per_million) from dir (shared/data/chinese_names).
func LoadShares(dir string) (*Shares, error) {
	sh := &Shares{}
	err := readCSV(filepath.Join(dir, "surname_share.csv"), func(rec []string) error {
		if len(rec) < 3 {
			return fmt.Errorf("want 3 columns, got %d", len(rec))
		}
		w, err := strconv.ParseFloat(rec[2], 64)
		if err != nil {
			return err
		}
		sh.Surnames = append(sh.Surnames, Weighted{S: rec[0], W: w})
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = readCSV(filepath.Join(dir, "given_char_share.csv"), func(rec []string) error {
		if len(rec) < 4 {
			return fmt.Errorf("want 4 columns, got %d", len(rec))
		}
		m, err := strconv.ParseFloat(rec[2], 64)
		if err != nil {
			return err
		}
		w, err := strconv.ParseFloat(rec[3], 64)
		if err != nil {
			return err
		}
		sh.Given = append(sh.Given, GivenChar{C: rec[0], W: w, Male: m})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sh, nil
}

func readCSV(path string, row func([]string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.FieldsPerRecord = -1
	for i := 0; ; i++ {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if i == 0 {
			continue
		}
		rec[0] = strings.TrimPrefix(rec[0], "\uFEFF")
		if err := row(rec); err != nil {
			return fmt.Errorf("%s: line %d: %w", path, i+1, err)
		}
	}
}

// Options shape the population.
type Options struct {
	// Divisions: prefectures × counties × townships × villages, with
	// 12-digit codes 41PPCCTTTVVV (default 17 × 10 × 20 × 20).
	Prefectures, Counties, Townships, Villages int
	// Birth years, inclusive (default 1930-2010).
	MinYear, MaxYear int
	// TwinRate is the share of persons born as the twin of the previous
	// one: same surname, birth date and village, another given name
	// (default 0.01).
	TwinRate float64
	// Keys gives every person a unique valid ID number (needs a map of
	// all division-date pairs; leave off for very large populations that
	// do not need IDs).
	Keys bool
}

// Person is a true identity.
type Person struct {
	Key    string // ID number ("" unless Options.Keys)
	Name   string
	Gender string // 男 or 女
	Birth  time.Time
	Region string // 12-digit village code
}

// Record is a person as one extract records them.
type Record struct {
	Name     string
	Gender   string    // "" when missing
	Birth    time.Time // zero when missing
	Region   string    // "" when missing
	ID       string    // as recorded ("" when missing)
	IDStatus string    // valid, missing, excel_damaged or invalid
	// Errors lists the corruptions applied ("name:homophone", "birth:transposed" …).
	Errors []string
}

// Generator draws persons and records. It is not safe for concurrent use.
type Generator struct {
	rng        *rand.Rand
	opt        Options
	surCum     []float64
	surnames   []string
	maleCum    []float64
	femaleCum  []float64
	given      []string
	homophones map[rune][]rune // character → common characters read the same
	seq        map[string]int
	prev       *Person
	days       int
	start      time.Time
}

// New returns a generator; the same seed, shares and options give the same
// sequence.
func New(seed uint64, sh *Shares, opt Options) *Generator {
	if sh == nil {
		sh = DefaultShares()
	}
	if opt.Prefectures <= 0 {
		opt.Prefectures = 17
	}
	if opt.Counties <= 0 {
		opt.Counties = 10
	}
	if opt.Townships <= 0 {
		opt.Townships = 20
	}
	if opt.Villages <= 0 {
		opt.Villages = 20
	}
	if opt.MinYear == 0 {
		opt.MinYear = 1930
	}
	if opt.MaxYear == 0 {
		opt.MaxYear = 2010
	}
	if opt.TwinRate == 0 {
		opt.TwinRate = 0.01
	}
	g := &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), opt: opt, homophones: map[rune][]rune{}}
	if opt.Keys {
		g.seq = map[string]int{}
	}
	t := 0.0
	for _, s := range sh.Surnames {
		if len([]rune(s.S)) != 1 || s.W <= 0 { // compound surnames are too rare to matter here
			continue
		}
		t += s.W
		g.surCum = append(g.surCum, t)
		g.surnames = append(g.surnames, s.S)
	}
	tm, tf := 0.0, 0.0
	for _, c := range sh.Given {
		if c.W <= 0 {
			continue
		}
		tm += c.W * c.Male
		tf += c.W * (1 - c.Male)
		g.maleCum = append(g.maleCum, tm)
		g.femaleCum = append(g.femaleCum, tf)
		g.given = append(g.given, c.C)
	}
	g.start = time.Date(opt.MinYear, 1, 1, 0, 0, 0, 0, time.UTC)
	g.days = int(time.Date(opt.MaxYear+1, 1, 1, 0, 0, 0, 0, time.UTC).Sub(g.start).Hours() / 24)
	return g
}

func pick(rng *rand.Rand, cum []float64) int {
	x := rng.Float64() * cum[len(cum)-1]
	return sort.SearchFloat64s(cum, x)
}

func (g *Generator) givenName(male bool) string {
	cum := g.femaleCum
	if male {
		cum = g.maleCum
	}
	n := 2
	if g.rng.Float64() < 0.3 {
		n = 1
	}
	var b strings.Builder
	for range n {
		b.WriteString(g.given[pick(g.rng, cum)])
	}
	return b.String()
}

// Person draws a new person.
func (g *Generator) Person() Person {
	var p Person
	if g.prev != nil && g.rng.Float64() < g.opt.TwinRate {
		// A twin: same surname, birth date, village; another given name.
		p = *g.prev
		p.Gender = []string{"男", "女"}[g.rng.IntN(2)]
		sur := []rune(p.Name)[0]
		for {
			n := string(sur) + g.givenName(p.Gender == "男")
			if n != g.prev.Name {
				p.Name = n
				break
			}
		}
	} else {
		male := g.rng.IntN(2) == 0
		p.Gender = map[bool]string{true: "男", false: "女"}[male]
		p.Name = g.surnames[pick(g.rng, g.surCum)] + g.givenName(male)
		p.Birth = g.start.AddDate(0, 0, g.rng.IntN(g.days))
		p.Region = fmt.Sprintf("41%02d%02d%03d%03d", 1+g.rng.IntN(g.opt.Prefectures), 1+g.rng.IntN(g.opt.Counties),
			1+g.rng.IntN(g.opt.Townships), 1+g.rng.IntN(g.opt.Villages))
	}
	if g.opt.Keys {
		k := p.Region[:6] + p.Birth.Format("20060102")
		n := g.seq[k]
		g.seq[k] = n + 1
		s := 2*(n%500) + 2 // even: women
		if p.Gender == "男" {
			s--
		}
		body := fmt.Sprintf("%s%03d", k, s)
		p.Key = body + string(idnumber.CheckChar(body))
	}
	g.prev = &p
	return p
}

// Corrupt returns p as a record with n errors drawn from the error model,
// and an ID according to idMode: "valid", "missing", "excel_damaged"
// (first 15 digits kept, then 000), "typo" (one digit changed: invalid)
// or "mixed" (valid 0%, missing 60%, excel_damaged 20%, typo 20%).
func (g *Generator) Corrupt(p Person, n int, idMode string) Record {
	r := Record{Name: p.Name, Gender: p.Gender, Birth: p.Birth, Region: p.Region}
	for range n {
		g.corruptOnce(&r)
	}
	if idMode == "mixed" {
		x := g.rng.Float64()
		switch {
		case x < 0.6:
			idMode = "missing"
		case x < 0.8:
			idMode = "excel_damaged"
		default:
			idMode = "typo"
		}
	}
	switch {
	case p.Key == "" || idMode == "missing":
		r.IDStatus = "missing"
	case idMode == "valid":
		r.ID, r.IDStatus = p.Key, "valid"
	case idMode == "excel_damaged":
		r.ID, r.IDStatus = p.Key[:15]+"000", "excel_damaged"
		if idnumber.Valid(r.ID) {
			r.IDStatus = "valid" // 1 in 11: the damaged number happens to check
		}
	case idMode == "typo":
		b := []byte(p.Key)
		i := 6 + g.rng.IntN(11)
		b[i] = byte('0' + (int(b[i]-'0')+1+g.rng.IntN(9))%10)
		r.ID, r.IDStatus = string(b), "invalid"
		if idnumber.Valid(r.ID) {
			r.IDStatus = "valid"
		}
	default:
		r.IDStatus = "missing"
	}
	return r
}

func (g *Generator) corruptOnce(r *Record) {
	name := []rune(r.Name)
	switch x := g.rng.Float64(); {
	case x < 0.18 && len(name) >= 2: // homophone substitution (entry by sound)
		i := g.rng.IntN(len(name))
		if hs := g.homophonesOf(name[i]); len(hs) > 0 {
			name[i] = hs[g.rng.IntN(len(hs))]
			r.Name = string(name)
			r.Errors = append(r.Errors, "name:homophone")
			return
		}
		fallthrough
	case x < 0.23 && len(name) >= 2: // another character (shape, mishearing)
		i := 1 + g.rng.IntN(len(name)-1)
		name[i] = []rune(g.given[g.rng.IntN(len(g.given))])[0]
		r.Name = string(name)
		r.Errors = append(r.Errors, "name:substitution")
	case x < 0.27 && len(name) >= 3: // a given-name character dropped
		r.Name = string(name[:len(name)-1])
		r.Errors = append(r.Errors, "name:dropped")
	case x < 0.42 && !r.Birth.IsZero(): // one field of the birth date off
		switch g.rng.IntN(3) {
		case 0:
			r.Birth = r.Birth.AddDate(0, 0, []int{-2, -1, 1, 2}[g.rng.IntN(4)])
		case 1:
			m := int(r.Birth.Month())%12 + 1
			r.Birth = time.Date(r.Birth.Year(), time.Month(m), min(r.Birth.Day(), 28), 0, 0, 0, 0, time.UTC)
		default:
			r.Birth = r.Birth.AddDate([]int{-1, 1, -10, 10}[g.rng.IntN(4)], 0, 0)
		}
		r.Errors = append(r.Errors, "birth:one_field")
	case x < 0.48 && !r.Birth.IsZero() && r.Birth.Day() <= 12 && r.Birth.Day() != int(r.Birth.Month()):
		r.Birth = time.Date(r.Birth.Year(), time.Month(r.Birth.Day()), int(r.Birth.Month()), 0, 0, 0, 0, time.UTC)
		r.Errors = append(r.Errors, "birth:transposed")
	case x < 0.55:
		r.Birth = time.Time{}
		r.Errors = append(r.Errors, "birth:missing")
	case x < 0.58 && !r.Birth.IsZero(): // an unrelated date
		r.Birth = g.start.AddDate(0, 0, g.rng.IntN(g.days))
		r.Errors = append(r.Errors, "birth:wrong")
	case x < 0.65 && r.Region != "":
		r.Region = ""
		r.Errors = append(r.Errors, "region:missing")
	case x < 0.73 && len(r.Region) == 12:
		r.Region = r.Region[:6] // county only
		r.Errors = append(r.Errors, "region:county")
	case x < 0.83 && len(r.Region) == 12:
		r.Region = r.Region[:9] + fmt.Sprintf("%03d", 1+g.rng.IntN(g.opt.Villages)) // moved within the township
		r.Errors = append(r.Errors, "region:moved")
	case x < 0.88 && r.Region != "":
		r.Region = fmt.Sprintf("41%02d%02d%03d%03d", 1+g.rng.IntN(g.opt.Prefectures), 1+g.rng.IntN(g.opt.Counties),
			1+g.rng.IntN(g.opt.Townships), 1+g.rng.IntN(g.opt.Villages)) // moved far
		r.Errors = append(r.Errors, "region:far")
	default:
		r.Gender = ""
		r.Errors = append(r.Errors, "gender:missing")
	}
}

var (
	commonOnce sync.Once
	common     map[string][]rune // toneless reading → GB2312 level-1 characters
)

// commonByReading indexes the 3,755 common characters of GB2312 level 1
// (GB codes B0A1-D7F9) by toneless reading.
func commonByReading() map[string][]rune {
	commonOnce.Do(func() {
		common = map[string][]rune{}
		dec := simplifiedchinese.GBK.NewDecoder()
		for hi := 0xB0; hi <= 0xD7; hi++ {
			for lo := 0xA1; lo <= 0xFE; lo++ {
				if hi == 0xD7 && lo > 0xF9 {
					break
				}
				s, err := dec.Bytes([]byte{byte(hi), byte(lo)})
				if err != nil {
					continue
				}
				r := []rune(string(s))
				if len(r) != 1 {
					continue
				}
				if rd := pinyin.Reading(r[0]); rd != "" {
					common[rd] = append(common[rd], r[0])
				}
			}
		}
	})
	return common
}

// homophonesOf returns common characters read like c, other than c.
func (g *Generator) homophonesOf(c rune) []rune {
	if hs, ok := g.homophones[c]; ok {
		return hs
	}
	var out []rune
	for _, o := range commonByReading()[pinyin.Reading(c)] {
		if o != c {
			out = append(out, o)
		}
	}
	g.homophones[c] = out
	return out
}

// Rand exposes the generator's random source (for callers that make
// further random choices reproducibly).
func (g *Generator) Rand() *rand.Rand { return g.rng }
