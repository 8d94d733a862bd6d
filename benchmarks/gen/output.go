package gen

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/text/encoding/simplifiedchinese"
)

type encoding int

const (
	encUTF8    encoding = iota // UTF-8 without BOM
	encBOM                     // UTF-8 with BOM (as Excel saves "CSV UTF-8")
	encGBK                     // GBK
	encParquet                 // Apache Parquet
)

// The extracts.
const (
	oHuji = iota
	oCrem
	oCert
	oSSC
	oPension
	oAssist
	oStaff
	oVehicle
	oBiz
	oDisab
	oPrison
	oMarriage
	oCadre
	oMZ0
	oMZ1
	oMZ2
	oRS0
	oRS1
	oRS2
	oGD
	nOut
)

type outSpec struct {
	path   string // relative to the output folder; {pref} is the prefecture code
	enc    encoding
	header []string
	types  string // parquet column types: s string, d date32, f float64
}

var outs = func() [nOut]outSpec {
	var o [nOut]outSpec
	o[oHuji] = outSpec{path: "gongan/huji_{pref}.csv", enc: encGBK, header: []string{"公民身份号码", "姓名", "性别", "民族", "出生日期",
		"户号", "与户主关系", "户籍地址代码", "住址", "人员状态", "注销原因", "注销日期"}}
	o[oCrem] = outSpec{path: "minzheng/huohua_jilu.csv", enc: encBOM, header: []string{"火化证明编号", "死者姓名", "性别", "身份证号码",
		"出生日期", "死亡日期", "火化日期", "户籍所在地", "殡仪馆"}}
	o[oCert] = outSpec{path: "weijian/siwang_yixue_zhengming.parquet", enc: encParquet, header: []string{"证明编号", "姓名", "性别",
		"身份证件号码", "出生日期", "死亡日期", "死亡地点", "常住地址代码"}, types: "sssssdss"}
	o[oCert].types = "ssssddss"
	o[oSSC] = outSpec{path: "renshe/shebaoka.parquet", enc: encParquet, header: []string{"社会保障号码", "姓名", "社会保障卡卡号",
		"银行卡号", "开户银行", "卡状态", "发卡日期"}, types: "ssssssd"}
	o[oPension] = outSpec{path: "renshe/yanglao_daiyu.csv", enc: encGBK, header: []string{"公民身份号码", "姓名", "险种类型",
		"待遇开始年月", "待遇终止年月", "月待遇金额", "待遇状态"}}
	o[oAssist] = outSpec{path: "minzheng/jiuzhu_duixiang.csv", enc: encBOM, header: []string{"救助类别", "姓名", "身份证号",
		"与户主关系", "家庭编号", "行政区划代码", "救助开始日期", "救助结束日期"}}
	o[oStaff] = outSpec{path: "bianban/caizheng_gongyang.parquet", enc: encParquet, header: []string{"身份证号", "姓名", "工作单位",
		"人员类别", "入职日期", "状态"}, types: "ssssds"}
	o[oVehicle] = outSpec{path: "jiaoguan/jidongche.csv", enc: encGBK, header: []string{"号牌号码", "号牌种类", "车辆类型",
		"机动车所有人", "身份证明号码", "初次登记日期", "机动车状态"}}
	o[oBiz] = outSpec{path: "shichang/shichang_zhuti.csv", enc: encBOM, header: []string{"统一社会信用代码", "主体名称", "主体类型",
		"姓名", "证件号码", "身份", "注册资本(万元)", "登记状态", "成立日期"}}
	o[oDisab] = outSpec{path: "canlian/canjiren_zheng.csv", enc: encUTF8, header: []string{"残疾人证号", "姓名", "性别", "身份证号",
		"残疾类别", "残疾等级", "发证日期", "证件状态"}}
	o[oPrison] = outSpec{path: "sifa/zaiya_fuxing_renyuan.csv", enc: encUTF8, header: []string{"身份证号", "姓名", "性别",
		"入监日期", "释放日期", "监所名称"}}
	o[oMarriage] = outSpec{path: "minzheng/hunyin_dengji.csv", enc: encUTF8, header: []string{"登记类型", "男方身份证号", "男方姓名",
		"女方身份证号", "女方姓名", "登记日期", "登记机关"}}
	o[oCadre] = outSpec{path: "minzheng/cun_liangwei_jingban.csv", enc: encUTF8, header: []string{"身份证号", "姓名", "所在单位",
		"职务", "单位区划", "近亲属备案", "任职开始", "任职结束"}}
	for t := 0; t < 3; t++ {
		ym := periodNames[t][:4] + periodNames[t][5:]
		o[oMZ0+t] = outSpec{path: "caizheng/yikatong_minzheng_" + ym + ".csv", enc: encGBK, header: []string{"流水号", "项目名称",
			"发放年月", "区划代码", "户号", "姓名", "身份证号", "开户名", "银行账号", "账户类型", "开户银行", "发放金额", "发放日期"}}
		o[oRS0+t] = outSpec{path: "renshe/cxjm_daiyu_" + ym + ".parquet", enc: encParquet, header: []string{"业务流水号", "待遇年月",
			"社会保障号码", "姓名", "行政区划", "发放账号", "账户名称", "账户类别", "实发金额", "发放日期"}, types: "ssssssssfd"}
	}
	o[oGD] = outSpec{path: "nongye/gengdi_butie_2024.csv", enc: encBOM, header: []string{"补贴编号", "发放月份", "乡镇", "行政村",
		"户号", "户主姓名", "户主身份证号", "家庭人口", "确权面积(亩)", "补贴标准(元/亩)", "补贴金额(元)", "一卡通账号", "账户户名",
		"账户类型", "开户银行"}}
	return o
}()

// goneText is the 注销原因 of a cancellation other than death.
var goneText = []string{"", "出国定居", "迁出省外", "迁出"}

// arrowSchema is the Parquet schema of an output.
func (o *outSpec) arrowSchema() *arrow.Schema {
	fs := make([]arrow.Field, len(o.header))
	for i, h := range o.header {
		var t arrow.DataType = arrow.BinaryTypes.String
		switch o.types[i] {
		case 'd':
			t = arrow.FixedWidthTypes.Date32
		case 'f':
			t = arrow.PrimitiveTypes.Float64
		}
		fs[i] = arrow.Field{Name: h, Type: t, Nullable: true}
	}
	return arrow.NewSchema(fs, nil)
}

var schemas = func() [nOut]*arrow.Schema {
	var s [nOut]*arrow.Schema
	for i := range outs {
		if outs[i].enc == encParquet {
			s[i] = outs[i].arrowSchema()
		}
	}
	return s
}()

// pq appends rows to a Parquet output's record builder.
type pq struct {
	rb  *array.RecordBuilder
	col int
}

func newPQ(i int) *pq { return &pq{rb: array.NewRecordBuilder(memory.DefaultAllocator, schemas[i])} }

func (b *pq) str(s string) {
	b.rb.Field(b.col).(*array.StringBuilder).Append(s)
	b.col++
}

func (b *pq) strOrNull(s string) {
	if s == "" {
		b.rb.Field(b.col).AppendNull()
		b.col++
		return
	}
	b.str(s)
}

func (b *pq) date(t day) {
	if t == 0 {
		b.rb.Field(b.col).AppendNull()
	} else {
		b.rb.Field(b.col).(*array.Date32Builder).Append(arrow.Date32(t.date32()))
	}
	b.col++
}

func (b *pq) f64(x float64) {
	b.rb.Field(b.col).(*array.Float64Builder).Append(x)
	b.col++
}

func (b *pq) end() { b.col = 0 }

// chunkOut is what a chunk contributes to each output.
type chunkOut struct {
	no       int
	pref     string
	csv      [nOut][]byte
	pq       [nOut]arrow.RecordBatch
	rows     [nOut]int64
	truth    []byte
	noise    []byte
	persons  int64
	hhs      int64
	pays     int64
	truthN   int64
	kindRows map[string]int64
	err      error
}

var genderText = [2]string{"女", "男"}
var nationText = []string{"汉族", "回族", "维吾尔族"}
var disCats = []string{"", "视力残疾", "听力残疾", "言语残疾", "肢体残疾", "智力残疾", "精神残疾", "多重残疾"}
var disLevels = []string{"", "一级", "二级", "三级", "四级"}

// bizKind values: 0-8 index bizNames (个体工商户), then companies.
const (
	bizCompany      = 9  // 有限公司, capital 30-140 万元
	bizSmallCompany = 10 // 有限公司, capital 1-10 万元 (within the 低保 ceiling)
)

var bizNames = []string{"便利店", "农资经营部", "养殖场", "餐馆", "五金店", "理发店", "服装店", "建材门市部", "农机修理部", "粮食收购点"}
var acctTypeText = []string{"社会保障卡", "一折通", "银行卡"}
var plateLetter = map[string]string{"4101": "A", "4102": "B", "4103": "C", "4104": "D", "4105": "E", "4106": "F", "4107": "G",
	"4108": "H", "4109": "J", "4110": "K", "4111": "L", "4112": "M", "4113": "R", "4114": "N", "4115": "S", "4116": "P",
	"4117": "Q", "4190": "U"}

func gbk(b []byte) ([]byte, error) {
	out, err := simplifiedchinese.GBK.NewEncoder().Bytes(b)
	if err != nil {
		return nil, fmt.Errorf("GBK encoding: %w", err)
	}
	return out, nil
}

// written is the ID of p as older registers write it.
func (p *person) legacyOr18() string {
	if p.tags&kbit("noise_legacy15") != 0 && p.birth.year() < 2000 {
		return legacy15(p.id)
	}
	return p.id
}

// serialize renders the chunk's extracts.
func (g *chunk) serialize() (*chunkOut, error) {
	o := &chunkOut{no: g.spec.no, pref: g.cty.code[:4], persons: int64(len(g.ps) - g.extra), hhs: int64(len(g.hs)),
		pays: int64(len(g.pays)), kindRows: map[string]int64{}}
	var row csvRow
	var pqs [nOut]*pq
	for i := range outs {
		if outs[i].enc == encParquet {
			pqs[i] = newPQ(i)
		}
	}
	emit := func(i int) {
		o.csv[i] = row.end()
		o.rows[i]++
	}
	cty := g.cty
	// 公安 户籍
	for i := range g.ps {
		p := &g.ps[i]
		if p.unreg {
			continue
		}
		hd := &g.hs[p.hh]
		v := &cty.villages[hd.village]
		row.start(o.csv[oHuji])
		row.str(p.id)
		row.str(p.name)
		row.str(genderText[b2i(p.male)])
		row.str(nationText[p.nation])
		row.date(p.regBirth(), styleCompact)
		row.str(hd.id)
		row.str(relNames[p.rel])
		row.str(v.code)
		row.str("河南省" + cty.prefecture + cty.name + g.ref.townships[v.code[:9]] + villageName(v.name))
		if p.cancel != 0 {
			row.str("注销")
			row.str("死亡")
			row.date(p.cancel, styleCompact)
		} else if p.gone != 0 {
			row.str("注销")
			row.str(goneText[p.gone])
			row.date(p.goneDay, styleCompact)
		} else {
			row.str("正常")
			row.str("")
			row.str("")
		}
		emit(oHuji)
	}
	// 民政 火化记录, 卫健 死亡医学证明
	crem := func(recNo, name string, male bool, id string, birth, death day, place string) {
		row.start(o.csv[oCrem])
		row.str(recNo)
		row.str(name)
		row.str(genderText[b2i(male)])
		row.str(id)
		row.date(birth, styleChinese)
		row.date(death, styleSlash)
		row.date(death+day(1+int(birth)%3), styleDash)
		row.str(place)
		row.str(cty.name + "殡仪馆")
		emit(oCrem)
	}
	for i := range g.ps {
		p := &g.ps[i]
		if p.death == 0 {
			continue
		}
		if p.crem != 0 {
			id := ""
			switch p.crem {
			case 1:
				id = p.id
			case 2:
				id = legacy15(p.id)
			}
			crem("HH"+cty.code+strconv.FormatUint(p.serial, 10), p.name, p.male, id, p.birth, p.death, cty.prefecture+cty.name)
		}
		if p.cert {
			b := pqs[oCert]
			b.str("SW" + strconv.FormatUint(p.serial, 10))
			b.str(p.name)
			b.str(genderText[b2i(p.male)])
			b.str(p.id)
			b.date(p.birth)
			b.date(p.death)
			b.str([]string{"家中", "医院", "养老机构"}[p.serial%3])
			b.str(cty.villages[g.hs[p.hh].village].code)
			b.end()
			o.rows[oCert]++
		}
	}
	for k, ns := range g.nsake {
		crem("HHW"+cty.code+strconv.Itoa(g.spec.no)+"-"+strconv.Itoa(k), ns.name, ns.male, ns.id, ns.birth, ns.death, "外省")
	}
	// 人社 社保卡, 养老待遇
	for i := range g.ps {
		p := &g.ps[i]
		if p.ssc {
			b := pqs[oSSC]
			b.str(p.id)
			b.str(p.name)
			b.str("H" + strconv.Itoa(10_000_000+int(p.serial*7_919_573%90_000_000)))
			b.str(g.sscAccount(int32(i)))
			b.str(banks[p.sscBank].name)
			b.str([]string{"正常", "挂失", "注销"}[p.sscStatus])
			b.date(mkday(2012+int(p.serial%10), 1+int(p.serial%12), 1+int(p.serial%28)))
			b.end()
			o.rows[oSSC]++
		}
		pension := func(scheme string, start, end day, amt float64, stopped bool) {
			row.start(o.csv[oPension])
			row.str(p.id)
			row.str(p.name)
			row.str(scheme)
			row.date(start, styleMonth)
			row.date(end, styleMonth)
			row.money(amt)
			if stopped {
				row.str("终止")
			} else {
				row.str("正常发放")
			}
			emit(oPension)
		}
		switch p.pension {
		case 1:
			pension("企业职工基本养老保险", p.penStart, p.penEnd, float64(2400+int(p.serial%1700)), p.penStatus != 0)
		case 2:
			pension("机关事业单位养老保险", p.penStart, p.penEnd, float64(4500+int(p.serial%2000)), p.penStatus != 0)
		}
		if p.penEnded {
			s := mkday(2012+int(p.serial%5), 1+int(p.serial%12), 1)
			pension("企业职工基本养老保险", s, mkday(2019+int(p.serial%5), 1+int(p.serial%12), 1), float64(1800+int(p.serial%900)), true)
		}
		if hasProg(p, pCxjm) {
			st := (p.birth + day(60*365+15)).addMonths(1)
			if st < mkday(2014, 7, 1) {
				st = mkday(2014, 7, 1)
			}
			pension("城乡居民基本养老保险", st, 0, p.cxjmAmt, false)
		}
	}
	// 民政 救助对象
	for i := range g.ps {
		p := &g.ps[i]
		hd := &g.hs[p.hh]
		for _, prog := range []int{pDibao, pTekun} {
			if !hasProg(p, prog) {
				continue
			}
			row.start(o.csv[oAssist])
			row.str(programs[prog].name)
			row.str(p.name)
			row.str(p.legacyOr18())
			row.str(relNames[p.rel])
			row.str(hd.id)
			row.str(cty.villages[hd.village].code)
			row.date(mkday(2015+int(p.serial%9), 1+int(p.serial%12), 1), styleDash)
			row.str("")
			emit(oAssist)
		}
	}
	// 编办/财政 财政供养人员
	for i := range g.ps {
		p := &g.ps[i]
		if p.staff == 0 {
			continue
		}
		b := pqs[oStaff]
		b.str(p.id)
		b.str(p.name)
		b.str(cty.name + []string{"教育局", "卫生健康委员会", "乡镇人民政府", "农业农村局", "财政局"}[p.serial%5])
		b.str([]string{"行政编制", "事业编制"}[p.serial%2])
		// Joined at 22 to 26, and by 2023 at the latest: a case injected
		// for a member of 22 must be on the staff roll in the screened
		// periods (2024), not join in 2025.
		b.date(mkday(min(p.birth.year()+22+int(p.serial%5), 2023), 7, 1))
		b.str([]string{"", "在职", "退休"}[p.staff])
		b.end()
		o.rows[oStaff]++
	}
	// 交管 机动车
	letter := plateLetter[o.pref]
	vehicle := func(p *person, kind, typ, status string, salt uint64) {
		row.start(o.csv[oVehicle])
		row.str("豫" + letter + plate(p.serial*4+salt))
		row.str(kind)
		row.str(typ)
		row.str(p.name)
		row.str(p.id)
		row.date(mkday(2010+int((p.serial+salt)%14), 1+int(p.serial%12), 1+int(p.serial%28)), styleDot)
		row.str(status)
		emit(oVehicle)
	}
	for i := range g.ps {
		p := &g.ps[i]
		if p.car != 0 {
			st := "正常"
			if p.car == 2 {
				st = []string{"注销", "报废"}[p.serial%2]
			}
			vehicle(p, "小型汽车号牌", carTypes[p.serial%uint64(len(carTypes))], st, 1)
		}
		if p.exemptVeh != 0 {
			t := exemptVehicles[p.exemptVeh-1]
			kind := "普通摩托车号牌"
			if p.exemptVeh >= 3 {
				kind = "低速车号牌"
			} else if p.exemptVeh == 2 {
				kind = "轻便摩托车号牌"
			}
			vehicle(p, kind, t, "正常", 2)
		}
	}
	// 市场监管 市场主体
	for i := range g.ps {
		p := &g.ps[i]
		if p.biz == 0 {
			continue
		}
		row.start(o.csv[oBiz])
		row.str(creditCode(cty.code, p.serial))
		company := p.bizKind >= bizCompany
		if company {
			row.str(cty.name + surnameOf(p.name) + "氏农业发展有限公司")
			row.str("有限责任公司(自然人投资或控股)")
		} else {
			row.str(cty.name + p.name + bizNames[p.bizKind])
			row.str("个体工商户")
		}
		row.str(p.name)
		row.str(p.id)
		switch {
		case !company:
			row.str("经营者")
			row.str("")
		case p.bizKind == bizSmallCompany:
			row.str([]string{"法定代表人", "股东"}[p.serial%2])
			row.str(strconv.Itoa(1 + int(p.serial%10)))
		case p.serial%2 == 0:
			row.str("法定代表人")
			row.str(strconv.Itoa(50 + int(p.serial%10)*10))
		default:
			row.str("股东")
			row.str(strconv.Itoa(30 + int(p.serial%10)*10))
		}
		if p.biz == 1 {
			row.str("存续")
		} else {
			row.str("注销")
		}
		row.date(mkday(2008+int(p.serial%15), 1+int(p.serial%12), 1+int(p.serial%28)), styleChinese)
		emit(oBiz)
	}
	// 残联 残疾人证
	for i := range g.ps {
		p := &g.ps[i]
		if p.certState == 0 {
			continue
		}
		row.start(o.csv[oDisab])
		row.str(p.id + strconv.Itoa(int(p.disCat)) + strconv.Itoa(int(p.disLevel)))
		row.str(p.name)
		row.str(genderText[b2i(p.male)])
		row.str(p.legacyOr18())
		row.str(disCats[p.disCat])
		row.str(disLevels[p.disLevel])
		row.date(mkday(2011+int(p.serial%12), 1+int(p.serial%12), 1+int(p.serial%28)), styleSlash)
		if p.certState == 1 {
			row.str("有效")
		} else {
			row.str("注销")
		}
		emit(oDisab)
	}
	// 司法 在押服刑人员
	for i := range g.ps {
		p := &g.ps[i]
		if p.jail == 0 {
			continue
		}
		row.start(o.csv[oPrison])
		row.str(p.id)
		row.str(p.name)
		row.str(genderText[b2i(p.male)])
		row.date(p.jail, styleDash)
		if p.release != 0 {
			row.date(p.release, styleDash)
		} else {
			row.str("")
		}
		row.str("河南省" + cty.prefecture + "监狱")
		emit(oPrison)
	}
	// 民政 婚姻登记
	for _, m := range g.mars {
		row.start(o.csv[oMarriage])
		row.str(marText[m.typ])
		row.str(g.ps[m.man].id)
		row.str(g.ps[m.man].name)
		row.str(g.ps[m.woman].id)
		row.str(g.ps[m.woman].name)
		row.date(m.date, styleDash)
		row.str(cty.name + "民政局婚姻登记处")
		emit(oMarriage)
	}
	// 村两委成员及经办人员
	for i := range g.ps {
		p := &g.ps[i]
		if p.cadre == cadreNone {
			continue
		}
		v := &cty.villages[g.hs[p.hh].village]
		row.start(o.csv[oCadre])
		row.str(p.id)
		row.str(p.name)
		row.str(villageName(v.name) + "民委员会")
		row.str(cadrePositions[p.serial%cadrePosCount])
		row.str(v.code)
		row.str([]string{"", "否", "是"}[p.cadre])
		row.date(mkday(cadreStartYr, 1, 1), styleDash)
		row.str("")
		emit(oCadre)
	}
	// Rolls.
	for k := range g.pays {
		pa := &g.pays[k]
		p := &g.ps[pa.person]
		hd := &g.hs[p.hh]
		holder := g.ps[pa.holder].name
		switch pa.roll {
		case rollMZ:
			oi := oMZ0 + int(pa.period)
			row.start(o.csv[oi])
			row.str(pa.pid)
			row.str(programs[pa.prog].name)
			row.str(periodNames[pa.period][:4] + "年" + strconv.Itoa(int(periodNames[pa.period][5]-'0')*10+int(periodNames[pa.period][6]-'0')) + "月")
			row.str(pa.region)
			row.str(hd.id)
			row.str(pa.name)
			row.str(pa.idText)
			row.str(holder)
			row.str(pa.acct)
			row.str(acctTypeText[pa.acctTyp])
			row.str(banks[pa.bank].name)
			row.money(pa.amount)
			row.date(pa.paid, styleSlash)
			emit(oi)
		case rollRS:
			oi := oRS0 + int(pa.period)
			b := pqs[oi]
			b.str(pa.pid)
			b.str(periodNames[pa.period][:4] + periodNames[pa.period][5:])
			b.str(pa.idText)
			b.str(pa.name)
			b.str(pa.region)
			b.str(pa.acct)
			b.str(holder)
			b.str(strconv.Itoa(int(pa.acctTyp) + 1))
			b.f64(pa.amount)
			b.date(pa.paid)
			b.end()
			o.rows[oi]++
		case rollGD:
			v := &cty.villages[hd.village]
			row.start(o.csv[oGD])
			row.str(pa.pid)
			row.str(periodNames[pa.period])
			row.str(g.ref.townships[v.code[:9]])
			row.str(villageName(v.name))
			row.str(hd.id)
			row.str(pa.name)
			row.str(pa.idText)
			row.int(len(hd.members))
			row.sep()
			row.b = strconv.AppendFloat(row.b, pa.qty, 'f', 2, 64)
			row.str("108.50")
			row.money(pa.amount)
			row.str(pa.acct)
			row.str(holder)
			row.str(acctTypeText[pa.acctTyp])
			row.str(banks[pa.bank].name)
			emit(oGD)
		}
	}
	for i := range outs {
		if pqs[i] != nil {
			o.pq[i] = pqs[i].rb.NewRecordBatch()
			pqs[i].rb.Release()
		} else if outs[i].enc == encGBK && len(o.csv[i]) > 0 {
			b, err := gbk(o.csv[i])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", outs[i].path, err)
			}
			o.csv[i] = b
		}
	}
	// Truth and noise.
	tr := g.truth()
	var tb []byte
	for _, t := range tr {
		row.start(tb)
		row.str(t.pid)
		row.str(t.cat)
		row.str(t.fam)
		row.str(t.kind)
		tb = row.end()
		o.kindRows[t.kind]++
	}
	o.truth, o.truthN = tb, int64(len(tr))
	var nb []byte
	for k := range g.pays {
		pa := &g.pays[k]
		p := &g.ps[pa.person]
		tags := (pa.tags | p.tags | g.hs[p.hh].tags) & noiseMask
		if tags == 0 {
			continue
		}
		row.start(nb)
		row.str(pa.pid)
		row.sep()
		first := true
		for j, kd := range Kinds {
			if tags&(1<<uint(j)) != 0 {
				if !first {
					row.b = append(row.b, ';')
				}
				row.b = append(row.b, kd.Name...)
				first = false
			}
		}
		nb = row.end()
	}
	o.noise = nb
	return o, nil
}

var noiseMask = func() uint64 {
	var m uint64
	for j, k := range Kinds {
		if k.Family == "" {
			m |= 1 << uint(j)
		}
	}
	return m
}()

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func surnameOf(name string) string {
	for _, r := range name {
		return string(r)
	}
	return ""
}

const plateChars = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// plate is a 5-character plate body derived from n.
func plate(n uint64) string {
	n = n*2_654_435_761 + 12_345
	var b [5]byte
	for i := 4; i >= 0; i-- {
		if i == 0 {
			b[i] = plateChars[10+n%24]
		} else {
			b[i] = plateChars[n%uint64(len(plateChars))]
		}
		n /= uint64(len(plateChars))
	}
	return string(b[:])
}

// creditCode is an 18-character 统一社会信用代码 shaped string.
func creditCode(county string, serial uint64) string {
	b := []byte("92" + county)
	v := serial*48_271 + 99_991
	for i := 0; i < 10; i++ {
		b = append(b, plateChars[v%uint64(len(plateChars))])
		v /= uint64(len(plateChars))
	}
	return string(b)
}

func villageName(n string) string {
	if strings.HasSuffix(n, "村") {
		return n
	}
	return n + "村"
}
