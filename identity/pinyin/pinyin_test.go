package pinyin

import (
	"strings"
	"testing"
)

func TestRomanize(t *testing.T) {
	tests := []struct {
		name                               string
		full, key, folded, ini, sur, given string
	}{
		{"张伟", "zhangwei", "zhangwei", "zanwei", "zw", "zhang", "wei"},
		{"章炜", "zhangwei", "zhangwei", "zanwei", "zw", "zhang", "wei"},
		{"單雄信", "shanxiongxin", "shanxiongxin", "sanxiongxin", "sxx", "shan", "xiongxin"}, // traditional 單 folded, read shan
		{"单田芳", "shantianfang", "shantianfang", "santianfan", "stf", "shan", "tianfang"},
		{"解缙", "xiejin", "xiejin", "xiejin", "xj", "xie", "jin"},
		{"曾国藩", "zengguofan", "zengguofan", "zenguofan", "zgf", "zeng", "guofan"},
		{"仇英", "qiuying", "qiuying", "qiuyin", "qy", "qiu", "ying"},
		{"朴树", "piaoshu", "piaoshu", "piaosu", "ps", "piao", "shu"},
		{"查良镛", "zhaliangyong", "zhaliangyong", "zalianyong", "zly", "zha", "liangyong"},
		{"区志坚", "ouzhijian", "ouzhijian", "ouzijian", "ozj", "ou", "zhijian"},
		{"翟天临", "zhaitianlin", "zhaitianlin", "zaitianlin", "ztl", "zhai", "tianlin"},
		{"欧阳娜娜", "ouyangnana", "ouyangnana", "ouyanlala", "oynn", "ouyang", "nana"},
		{"尉迟恭", "yuchigong", "yuchigong", "yucigong", "ycg", "yuchi", "gong"},
		{"万俟卨", "moqixie", "moqixie", "moqixie", "mqx", "moqi", "xie"},
		{"单于洋", "shanyuyang", "shanyuyang", "sanyuyan", "syy", "shan", "yuyang"}, // not the compound 单于
		{"买买提·艾力", "maimaiti aili", "maimaitiaili", "maimaitiaili", "mmtal", "", "maimaitiaili"},
		{"ZHANG Wei", "zhang wei", "zhangwei", "zanwei", "zw", "", "zhangwei"},
		{"吕", "lv", "lv", "lu", "l", "lv", ""},
		{"LYU", "lyu", "lyu", "lu", "l", "", "lyu"},
		{"王〇", "wangling", "wangling", "wanlin", "wl", "wang", "ling"},
		{"王𣵦", "wang𣵦", "wang𣵦", "wan𣵦", "w𣵦", "wang", "𣵦"}, // no reading: kept
		{"李?", "li?", "li?", "li?", "l?", "li", "?"},
		{"", "", "", "", "", "", ""},
	}
	for _, tt := range tests {
		k := Romanize(tt.name)
		got := []string{k.Full, k.Key, k.Folded, k.Initials, k.Surname, k.Given}
		want := []string{tt.full, tt.key, tt.folded, tt.ini, tt.sur, tt.given}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("Romanize(%q) = %q, want %q", tt.name, got, want)
		}
	}
}

func TestSurnameTable(t *testing.T) {
	want := map[string]string{"单": "shan", "解": "xie", "曾": "zeng", "仇": "qiu", "朴": "piao", "查": "zha", "区": "ou", "缪": "miao", "尉迟": "yuchi"}
	for s, w := range want {
		if got := strings.Join(SurnameReading(s), ""); got != w {
			t.Errorf("SurnameReading(%s) = %q, want %q", s, got, w)
		}
	}
	// Every row of the embedded table is parsed.
	if n := len(surnameReadings); n < 55 {
		t.Errorf("parsed %d surname readings, want all 58", n)
	}
}

func TestFold(t *testing.T) {
	pairs := [][2]string{{"liuning", ""}, {"zhang", "zan"}, {"chen", "cen"}, {"sheng", "sen"}, {"ning", "lin"}, {"huang", "wan"}, {"hu", "fu"}, {"lv", "lu"}, {"nyu", "lu"}, {"ng", "ng"}, {"ong", "ong"}}
	for _, p := range pairs[1:] {
		if got := Fold(p[0]); got != p[1] {
			t.Errorf("Fold(%q) = %q, want %q", p[0], got, p[1])
		}
	}
	if a, b := Romanize("刘宁").Folded, Romanize("牛玲").Folded; a != b {
		t.Errorf("刘宁 %q and 牛玲 %q should fold together", a, b)
	}
}

func TestCompound(t *testing.T) {
	if !IsCompoundSurname("诸葛") || IsCompoundSurname("单于") || IsCompoundSurname("王") {
		t.Error("compound surname set")
	}
	if k := Romanize("司马"); k.Surname != "si" || k.Given != "ma" {
		t.Errorf("two-character name 司马 = %q/%q, want si/ma", k.Surname, k.Given)
	}
}

func BenchmarkRomanize(b *testing.B) {
	ns := []string{"张伟", "王秀英", "欧阳娜娜", "买买提·艾力", "单田芳", "李静"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Romanize(ns[i%len(ns)])
	}
}
