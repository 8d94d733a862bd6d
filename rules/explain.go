package rules

import (
	"fmt"
	"sort"
	"strings"
)

// An explain template is the one-sentence Chinese explanation of a hit,
// written with the rule's evidence fields in braces:
//
//	{death_sources}显示该人员已于{death_date|date}死亡，{period_start|ym}仍发放{program_name}{amount|money}元
//
// A field is rendered as text; a formatter after | changes that:
// date (2024-05-01), ym (2024年5月), money (200.00), num (2.5, 3), tail4
// (the last four characters, for account numbers). {{ and }} are literal
// braces. A field that is NULL renders as nothing.

// Formatters of explain fields, with the SQL they apply to an expression.
var formatters = map[string]func(x string) string{
	"date":  func(x string) string { return "strftime(" + x + ", '%Y-%m-%d')" },
	"ym":    func(x string) string { return "ym(" + x + ")" },
	"money": func(x string) string { return "money(" + x + ")" },
	"num": func(x string) string {
		return "CASE WHEN " + x + " = trunc(" + x + ") THEN CAST(CAST(" + x + " AS BIGINT) AS VARCHAR) ELSE CAST(" + x + " AS VARCHAR) END"
	},
	"tail4": func(x string) string { return "right(CAST(" + x + " AS VARCHAR), 4)" },
}

func formatterNames() string {
	n := make([]string, 0, len(formatters))
	for k := range formatters {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// explainPart is literal text or a field.
type explainPart struct {
	text   string
	field  string
	format string
	offset int // byte offset of the field in the template
}

type explainTemplate struct {
	src   string
	parts []explainPart
}

// parseExplain parses a template; fields are checked later against the
// rule's evidence fields.
func parseExplain(s string) (*explainTemplate, error) {
	t := &explainTemplate{src: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, explainPart{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "{{"):
			lit.WriteByte('{')
			i += 2
		case strings.HasPrefix(s[i:], "}}"):
			lit.WriteByte('}')
			i += 2
		case s[i] == '}':
			return nil, fmt.Errorf("explain: unmatched } at %q (write }} for a brace)", excerpt(s, i))
		case s[i] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("explain: unclosed { at %q", excerpt(s, i))
			}
			body := strings.TrimSpace(s[i+1 : i+end])
			name, format, _ := strings.Cut(body, "|")
			name, format = strings.TrimSpace(name), strings.TrimSpace(format)
			if !isIdent(name) {
				return nil, fmt.Errorf("explain: {%s} is not a field name", body)
			}
			if format != "" && formatters[format] == nil {
				return nil, fmt.Errorf("explain: {%s}: unknown format %q (formats: %s)", body, format, formatterNames())
			}
			flush()
			t.parts = append(t.parts, explainPart{field: name, format: format, offset: i})
			i += end + 1
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	flush()
	return t, nil
}

func excerpt(s string, i int) string {
	end := i + 12
	if end > len(s) {
		end = len(s)
	}
	for end < len(s) && (s[end]&0xC0) == 0x80 {
		end++
	}
	return s[i:end]
}

// fields lists the field names used, in order of first use.
func (t *explainTemplate) fields() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range t.parts {
		if p.field != "" && !seen[p.field] {
			seen[p.field] = true
			out = append(out, p.field)
		}
	}
	return out
}

// sql renders the template as a DuckDB expression over the hit row alias.
func (t *explainTemplate) sql(alias string) string {
	if len(t.parts) == 0 {
		return "''"
	}
	args := make([]string, 0, len(t.parts))
	for _, p := range t.parts {
		if p.field == "" {
			args = append(args, lit(p.text))
			continue
		}
		x := alias + "." + ident(p.field)
		if f := formatters[p.format]; f != nil {
			x = f(x)
		}
		args = append(args, x)
	}
	if len(args) == 1 {
		return "concat(" + args[0] + ", '')"
	}
	return "concat(" + strings.Join(args, ", ") + ")"
}

func isIdent(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ident quotes an identifier for DuckDB.
func ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
