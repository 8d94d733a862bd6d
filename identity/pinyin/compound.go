package pinyin

// compoundSurnames are the two-character surnames (复姓) recognised at the
// start of a Han name: the classical ones of the 百家姓 still borne today,
// most common first. A name is split after them; otherwise the surname is the
// first character. 单于 is left out on purpose: 单 followed by a given name
// starting with 于 is far more common than the compound surname.
var compoundSurnames = []string{
	"欧阳", "上官", "司马", "诸葛", "皇甫", "东方", "令狐", "夏侯", "尉迟", "公孙",
	"慕容", "长孙", "宇文", "司徒", "轩辕", "鲜于", "闾丘", "端木", "澹台", "万俟",
	"呼延", "独孤", "南宫", "申屠", "东郭", "百里", "公羊", "梁丘", "左丘", "太史",
	"司空", "濮阳", "淳于", "赫连", "西门", "钟离", "宗政", "第五", "公冶", "仲孙",
	"巫马", "乐正", "漆雕", "壤驷", "公良", "拓跋", "夹谷", "宰父", "谷梁", "段干",
	"东门", "南门", "归海", "羊舌", "微生", "公西", "颛孙", "子车", "亓官", "司寇",
	"太叔",
}

var compoundSet = func() map[string]bool {
	m := make(map[string]bool, len(compoundSurnames))
	for _, s := range compoundSurnames {
		m[s] = true
	}
	return m
}()

// IsCompoundSurname reports whether s is a recognised two-character surname.
func IsCompoundSurname(s string) bool { return compoundSet[s] }
