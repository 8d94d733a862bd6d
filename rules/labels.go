package rules

// categoryNames are the hit categories in people's words, Chinese and English.
var categoryNames = map[string][2]string{
	Deceased:    {"死亡后仍发放", "Paid after death"},
	Duplicate:   {"重复发放", "Duplicate payment"},
	Ineligible:  {"不符合条件", "Not eligible"},
	OneCard:     {"一卡通发放问题", "One-card payment issue"},
	DataQuality: {"数据质量", "Data quality"},
}

var severityNames = map[string][2]string{
	"high": {"高", "High"}, "medium": {"中", "Medium"}, "low": {"低", "Low"},
}

// CategoryName returns a hit category's name in lang ("zh" or "en"); an
// unknown category is returned as it is.
func CategoryName(category, lang string) string {
	return pick(categoryNames, category, lang)
}

// SeverityName returns a severity's name in lang ("zh" or "en").
func SeverityName(severity, lang string) string {
	return pick(severityNames, severity, lang)
}

func pick(m map[string][2]string, k, lang string) string {
	n, ok := m[k]
	if !ok {
		return k
	}
	if lang == "en" {
		return n[1]
	}
	return n[0]
}
