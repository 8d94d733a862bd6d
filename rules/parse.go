package rules

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/crosscheck/crosscheck/dataset"
)

var ruleKeys = []string{"id", "title", "title_en", "description", "category", "severity", "version", "owner", "basis", "applies_to",
	"params", "template", "sql", "explain", "tests"}

// catalogueProperties are the program catalogue properties applies_to may
// name, with the SQL condition over program_catalogue c that selects the
// programs having it (%s is the equals value for text properties).
var catalogueProperties = map[string]string{
	"ssc_required":        "coalesce(c.ssc_required, false)",
	"payable_after_death": "coalesce(c.payable_after_death, false)",
	"min_age":             "c.min_age IS NOT NULL",
	"max_age":             "c.max_age IS NOT NULL",
	"standard_amount":     "c.standard_amount IS NOT NULL",
	"exclusive_with":      "c.program_code IN (SELECT program_code FROM program_exclusive)",
	"requires":            "c.requires = %s",
	"department":          "c.department = %s",
	"frequency":           "c.frequency = %s",
	"name":                "c.name = %s",
}

// textProperty marks the properties compared with equals.
var textProperty = map[string]bool{"requires": true, "department": true, "frequency": true, "name": true}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// Parse reads one rule file. It checks everything that needs no database:
// keys, types, parameter declarations and defaults, the template name,
// the explain template, applies_to and the tests' structure. The returned
// rule is nil when the file cannot be read as a rule at all.
func Parse(file string, data []byte) (*Rule, ErrorList) {
	e := &errs{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 0
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		e.at(line, "not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, e.list
	}
	if len(doc.Content) == 0 {
		e.at(1, "empty rule file")
		return nil, e.list
	}
	root := resolveAlias(doc.Content[0])
	r := &Rule{File: file, Line: root.Line, lines: map[string]int{}}
	ps := pairs(root, e, "rule file")
	if ps == nil {
		return nil, e.list
	}
	checkKeys(ps, ruleKeys, e, "rule file")
	get := map[string]kv{}
	for _, p := range ps {
		get[p.key] = p
		r.lines[p.key] = p.val.Line
	}
	text := func(key string, required bool) string {
		p, ok := get[key]
		if !ok {
			if required {
				e.at(root.Line, "%s is missing", key)
			}
			return ""
		}
		s, _ := str(p.val, e, key)
		if s == "" && required {
			e.at(p.kline, "%s is empty", key)
		}
		return strings.TrimSpace(s)
	}
	r.ID = text("id", true)
	if p, ok := get["id"]; ok {
		r.Line = p.kline
	}
	e.rule = r.ID
	if r.ID != "" && !isIdent(r.ID) {
		e.at(r.Line, "id %q: use lower-case letters, digits and _", r.ID)
	}
	r.Title = text("title", true)
	r.TitleEn = text("title_en", false)
	r.Description = text("description", false)
	r.Category = text("category", true)
	if r.Category != "" && !contains(Categories, r.Category) {
		e.at(get["category"].val.Line, "category %q is not one of %s", r.Category, strings.Join(Categories, ", "))
	}
	r.Severity = text("severity", true)
	if r.Severity != "" && !contains(Severities, r.Severity) {
		e.at(get["severity"].val.Line, "severity %q is not one of %s", r.Severity, strings.Join(Severities, ", "))
	}
	r.Version = text("version", true)
	r.Owner = text("owner", true)
	r.Basis = text("basis", false)
	r.Template = text("template", false)
	r.Explain = text("explain", false)
	if p, ok := get["sql"]; ok {
		s, _ := str(p.val, e, "sql")
		r.SQL = strings.TrimRight(s, " \t\r\n;")
		r.lines["sql"] = textLine(p.val)
		if strings.TrimSpace(r.SQL) == "" {
			e.at(p.kline, "sql is empty")
		}
	}
	switch {
	case r.Template == "" && r.SQL == "" && get["template"].val == nil && get["sql"].val == nil:
		e.at(root.Line, "a rule needs either template (a standard rule family) or sql (a SELECT)")
	case get["template"].val != nil && get["sql"].val != nil:
		e.at(get["sql"].kline, "give either template or sql, not both")
	}
	if r.Template != "" {
		r.tmpl = templates[r.Template]
		if r.tmpl == nil {
			e.at(get["template"].val.Line, "unknown template %q (templates: %s)", r.Template, templateNames())
		}
	}
	if p, ok := get["applies_to"]; ok {
		r.AppliesTo = parseAppliesTo(p.val, e)
	}
	if r.tmpl != nil && r.tmpl.needsAppliesTo && r.AppliesTo.IsZero() {
		e.at(root.Line, "template %s screens program-specific conditions: give applies_to (program codes or a catalogue property)", r.Template)
	}
	parseParams(r, get, e)
	if p, ok := get["explain"]; !ok || r.Explain == "" {
		if !ok {
			e.at(root.Line, "explain is missing: give the Chinese sentence that explains a hit, with evidence fields in braces")
		}
	} else {
		t, err := parseExplain(r.Explain)
		if err != nil {
			e.at(p.val.Line, "%v", err)
		} else {
			r.explain = t
			if r.tmpl != nil {
				for _, f := range t.fields() {
					if !contains(r.tmpl.fields, f) {
						e.at(p.val.Line, "explain names {%s}, which is not an evidence field of template %s (fields: %s)",
							f, r.Template, strings.Join(r.tmpl.fields, ", "))
					}
				}
			}
		}
	}
	if r.SQL != "" {
		checkPlaceholders(r, e)
	}
	if p, ok := get["tests"]; ok {
		r.Tests = parseTests(p.val, r, e)
	}
	if len(r.Tests) == 0 {
		e.at(root.Line, "tests: a rule needs at least one test (fixture rows and the hits expected)")
	}
	return r, e.list
}

func parseAppliesTo(n *yaml.Node, e *errs) AppliesTo {
	var a AppliesTo
	n = resolveAlias(n)
	if n != nil && n.Kind == yaml.SequenceNode {
		a.Programs, _ = strList(n, e, "applies_to")
		return a
	}
	ps := pairs(n, e, "applies_to")
	checkKeys(ps, []string{"programs", "property", "equals"}, e, "applies_to")
	for _, p := range ps {
		switch p.key {
		case "programs":
			a.Programs, _ = strList(p.val, e, "applies_to.programs")
		case "property":
			a.Property, _ = str(p.val, e, "applies_to.property")
			if _, ok := catalogueProperties[a.Property]; !ok {
				names := make([]string, 0, len(catalogueProperties))
				for k := range catalogueProperties {
					names = append(names, k)
				}
				sort.Strings(names)
				e.at(p.val.Line, "applies_to.property: %q is not a catalogue property (%s)", a.Property, strings.Join(names, ", "))
			}
		case "equals":
			a.Equals, _ = str(p.val, e, "applies_to.equals")
		}
	}
	if a.Property != "" && len(a.Programs) > 0 {
		e.at(n.Line, "applies_to: give programs or property, not both")
	}
	if a.Equals != "" && a.Property == "" {
		e.at(n.Line, "applies_to: equals needs a property")
	}
	if textProperty[a.Property] && a.Equals == "" {
		e.at(n.Line, "applies_to: property %s is a text; give equals", a.Property)
	}
	if a.Property != "" && !textProperty[a.Property] && a.Equals != "" {
		e.at(n.Line, "applies_to: property %s takes no equals", a.Property)
	}
	return a
}

var paramKeys = []string{"type", "default", "min", "max", "allowed", "doc"}

// parseParams builds the rule's parameters: for a template rule the
// template's, with what the file sets; for a sql rule the file's.
func parseParams(r *Rule, get map[string]kv, e *errs) {
	byName := map[string]int{}
	if r.tmpl != nil {
		for _, p := range r.tmpl.params {
			p.line = 0
			if p.Type == List {
				p.Default = append([]string{}, p.Default.([]string)...)
			}
			byName[p.Name] = len(r.Params)
			r.Params = append(r.Params, p)
		}
	}
	pp, ok := get["params"]
	if !ok {
		return
	}
	ps := pairs(pp.val, e, "params")
	for _, kp := range ps {
		what := "params." + kp.key
		if !isIdent(kp.key) {
			e.at(kp.kline, "%s: parameter names are lower-case letters, digits and _", what)
			continue
		}
		var p Param
		i, known := byName[kp.key]
		switch {
		case r.tmpl != nil && !known:
			e.at(kp.kline, "%s: template %s has no parameter %s (parameters: %s)", what, r.Template, kp.key, paramNames(r.tmpl.params))
			continue
		case r.tmpl != nil:
			p = r.Params[i]
		case r.Template != "":
			continue // unknown template, reported already
		default:
			p = Param{Name: kp.key}
		}
		p.line = kp.kline
		v := resolveAlias(kp.val)
		if v.Kind != yaml.MappingNode {
			// Shorthand: the value is the default.
			if r.tmpl == nil {
				e.at(kp.kline, "%s: declare a sql rule's parameter with type and default ({type: int, default: 3, min: 1, max: 10})", what)
				continue
			}
			p.line = v.Line
			setDefault(&p, v, e, what)
		} else {
			fields := pairs(v, e, what)
			checkKeys(fields, paramKeys, e, what)
			f := map[string]kv{}
			for _, x := range fields {
				f[x.key] = x
			}
			if t, ok := f["type"]; ok {
				s, _ := str(t.val, e, what+".type")
				switch {
				case !validParamType(ParamType(s)):
					e.at(t.val.Line, "%s.type: %q is not a parameter type (int, number, bool, string, list, column)", what, s)
					continue
				case r.tmpl != nil && ParamType(s) != p.Type:
					e.at(t.val.Line, "%s.type: template %s takes %s as %s, not %s", what, r.Template, p.Name, p.Type, s)
					continue
				}
				p.Type = ParamType(s)
			} else if r.tmpl == nil {
				e.at(kp.kline, "%s: type is missing (int, number, bool, string, list)", what)
				continue
			}
			if d, ok := f["doc"]; ok {
				p.Doc, _ = str(d.val, e, what+".doc")
			}
			if a, ok := f["allowed"]; ok {
				if p.Type != String && p.Type != List {
					e.at(a.val.Line, "%s.allowed: only string and list parameters take allowed values", what)
				} else {
					p.Allowed, _ = strList(a.val, e, what+".allowed")
				}
			}
			for _, b := range []string{"min", "max"} {
				x, ok := f[b]
				if !ok {
					continue
				}
				if p.Type != Int && p.Type != Number {
					e.at(x.val.Line, "%s.%s: only int and number parameters take a range", what, b)
					continue
				}
				bound, err := (&Param{Type: p.Type}).coerce(value(x.val))
				if err != nil {
					e.at(x.val.Line, "%s.%s: %v", what, b, err)
					continue
				}
				if b == "min" {
					p.Min = bound
				} else {
					p.Max = bound
				}
			}
			if p.Min != nil && p.Max != nil && lessThan(p.Max, p.Min) {
				e.at(kp.kline, "%s: min %s is above max %s", what, FormatValue(p.Min), FormatValue(p.Max))
			}
			if d, ok := f["default"]; ok {
				p.line = d.val.Line
				setDefault(&p, d.val, e, what+".default")
			} else if r.tmpl == nil {
				e.at(kp.kline, "%s: default is missing", what)
				continue
			} else if err := p.check(p.Default); err != nil {
				e.at(kp.kline, "%s: the template's default %v", what, err)
			}
		}
		if known {
			r.Params[i] = p
		} else {
			byName[p.Name] = len(r.Params)
			r.Params = append(r.Params, p)
		}
	}
}

func lessThan(a, b any) bool {
	switch x := a.(type) {
	case int:
		return x < b.(int)
	case float64:
		return x < b.(float64)
	}
	return false
}

func setDefault(p *Param, n *yaml.Node, e *errs, what string) {
	v, err := p.coerce(value(n))
	if err != nil {
		e.at(n.Line, "%s: %s parameter: %v", what, p.Type, err)
		return
	}
	if err := p.check(v); err != nil {
		e.at(n.Line, "%s: %v", what, err)
		return
	}
	p.Default = v
}

var placeholderRE = regexp.MustCompile(`\$\{([^}]*)\}`)

// checkPlaceholders reports ${name} in a sql rule that names no parameter.
func checkPlaceholders(r *Rule, e *errs) {
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(r.SQL, -1) {
		name := strings.TrimSpace(r.SQL[m[2]:m[3]])
		found := false
		for _, p := range r.Params {
			found = found || p.Name == name
		}
		if !found {
			e.at(r.lines["sql"]+strings.Count(r.SQL[:m[0]], "\n"), "sql: ${%s} is not a parameter of the rule (parameters: %s)", name, paramNames(r.Params))
		}
	}
}

var testKeys = []string{"name", "params", "periods", "sources", "programs", "data", "expect"}
var programKeys = []string{"code", "name", "department", "frequency", "min_age", "max_age", "exclusive_with",
	"exclusive_rosters", "requires", "ssc_required", "payable_after_death", "standard_amount"}
var expectKeys = []string{"payment_id", "source", "severity", "explanation", "evidence", "fields"}

func parseTests(n *yaml.Node, r *Rule, e *errs) []Test {
	n = resolveAlias(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		e.at(lineOf(n), "tests: want a list of tests, got %s", kindName(n))
		return nil
	}
	var out []Test
	for i, tn := range n.Content {
		what := fmt.Sprintf("tests[%d]", i)
		t := Test{Line: tn.Line, Sources: map[string]string{}}
		ps := pairs(tn, e, what)
		checkKeys(ps, testKeys, e, what)
		hasExpect := false
		for _, p := range ps {
			switch p.key {
			case "name":
				t.Name, _ = str(p.val, e, what+".name")
			case "params":
				t.Params = map[string]any{}
				for _, x := range pairs(p.val, e, what+".params") {
					t.Params[x.key] = value(x.val)
					found := false
					for _, q := range r.Params {
						found = found || q.Name == x.key
					}
					if !found && (r.Template == "" || r.tmpl != nil) {
						e.at(x.kline, "%s.params: %s is not a parameter of the rule (parameters: %s)", what, x.key, paramNames(r.Params))
					}
				}
			case "periods":
				t.Periods, _ = strList(p.val, e, what+".periods")
			case "sources":
				for _, x := range pairs(p.val, e, what+".sources") {
					t.Sources[x.key], _ = str(x.val, e, what+".sources."+x.key)
				}
			case "programs":
				t.Programs = parseTestPrograms(p.val, e, what+".programs")
			case "data":
				t.Data = parseFixtures(p.val, e, what+".data")
			case "expect":
				hasExpect = true
				t.Expect = parseExpect(p.val, e, what+".expect")
			}
		}
		if t.Name == "" {
			t.Name = fmt.Sprintf("test %d", i+1)
		}
		if !hasExpect {
			e.at(tn.Line, "%s: expect is missing (the hits expected; write expect: [] for none)", what)
		}
		out = append(out, t)
	}
	return out
}

func parseTestPrograms(n *yaml.Node, e *errs, what string) []TestProgram {
	n = resolveAlias(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		e.at(lineOf(n), "%s: want a list of programs, got %s", what, kindName(n))
		return nil
	}
	var out []TestProgram
	for i, pn := range n.Content {
		w := fmt.Sprintf("%s[%d]", what, i)
		p := TestProgram{Line: pn.Line}
		ps := pairs(pn, e, w)
		checkKeys(ps, programKeys, e, w)
		for _, x := range ps {
			v := value(x.val)
			bad := func(kind string) { e.at(x.val.Line, "%s.%s: want %s, got %s", w, x.key, kind, describe(v)) }
			switch x.key {
			case "code":
				p.Code, _ = str(x.val, e, w+".code")
			case "name":
				p.Name, _ = str(x.val, e, w+".name")
			case "department":
				p.Department, _ = str(x.val, e, w+".department")
			case "frequency":
				p.Frequency, _ = str(x.val, e, w+".frequency")
			case "requires":
				p.Requires, _ = str(x.val, e, w+".requires")
			case "min_age", "max_age":
				n, ok := v.(int)
				if !ok {
					bad("a whole number")
					continue
				}
				if x.key == "min_age" {
					p.MinAge = &n
				} else {
					p.MaxAge = &n
				}
			case "standard_amount":
				switch f := v.(type) {
				case int:
					g := float64(f)
					p.StandardAmount = &g
				case float64:
					p.StandardAmount = &f
				default:
					bad("a number")
				}
			case "ssc_required", "payable_after_death":
				b, ok := v.(bool)
				if !ok {
					bad("true or false")
					continue
				}
				if x.key == "ssc_required" {
					p.SSCRequired = b
				} else {
					p.PayableAfterDeath = b
				}
			case "exclusive_with":
				p.ExclusiveWith, _ = strList(x.val, e, w+".exclusive_with")
			case "exclusive_rosters":
				xs := resolveAlias(x.val)
				if xs.Kind != yaml.SequenceNode {
					bad("a list")
					continue
				}
				for k, rn := range xs.Content {
					rw := fmt.Sprintf("%s.exclusive_rosters[%d]", w, k)
					var ro TestRoster
					rps := pairs(rn, e, rw)
					checkKeys(rps, []string{"role", "column", "values", "label"}, e, rw)
					for _, y := range rps {
						switch y.key {
						case "role":
							ro.Role, _ = str(y.val, e, rw+".role")
							role, ok := dataset.Lookup(ro.Role)
							if !ok {
								e.at(y.val.Line, "%s.role: unknown role %q", rw, ro.Role)
							} else if _, ok := role.Column("id_number"); !ok {
								e.at(y.val.Line, "%s.role: role %s has no id_number", rw, ro.Role)
							}
						case "column":
							ro.Column, _ = str(y.val, e, rw+".column")
						case "values":
							ro.Values, _ = strList(y.val, e, rw+".values")
						case "label":
							ro.Label, _ = str(y.val, e, rw+".label")
						}
					}
					if role, ok := dataset.Lookup(ro.Role); ok && ro.Column != "" {
						if _, ok := role.Column(ro.Column); !ok {
							e.at(rn.Line, "%s.column: role %s has no column %q", rw, ro.Role, ro.Column)
						}
					}
					p.Rosters = append(p.Rosters, ro)
				}
			}
		}
		if p.Code == "" {
			e.at(pn.Line, "%s: code is missing", w)
		}
		out = append(out, p)
	}
	return out
}

func parseFixtures(n *yaml.Node, e *errs, what string) []Fixture {
	var out []Fixture
	for _, p := range pairs(n, e, what) {
		w := what + "." + p.key
		if p.key == "person_link" {
			out = append(out, parseLinks(p, e, w))
			continue
		}
		role, ok := dataset.Lookup(p.key)
		if !ok {
			names := []string{}
			for _, r := range dataset.Builtin() {
				names = append(names, r.Name)
			}
			e.at(p.kline, "%s: %q is not a dataset (%s, and person_link)", what, p.key, strings.Join(names, ", "))
			continue
		}
		f := Fixture{Role: role.Name, Line: p.kline}
		rows := resolveAlias(p.val)
		if rows.Kind != yaml.SequenceNode {
			e.at(rows.Line, "%s: want a list of rows, got %s", w, kindName(rows))
			continue
		}
		for i, rn := range rows.Content {
			rw := fmt.Sprintf("%s[%d]", w, i)
			row := FixtureRow{Line: rn.Line, Source: role.Name}
			for _, c := range pairs(rn, e, rw) {
				switch c.key {
				case "_source":
					row.Source, _ = str(c.val, e, rw+"._source")
					if !dataset.ValidIdent(row.Source) {
						e.at(c.val.Line, "%s._source: %q: use lower-case letters, digits and _", rw, row.Source)
					}
					continue
				case "person_key":
					if _, ok := role.Column("id_number"); ok {
						s, _ := str(c.val, e, rw+".person_key")
						row.PersonKey = &s
						continue
					}
				}
				col, ok := role.Column(c.key)
				if !ok {
					e.at(c.kline, "%s: %q is not a column of dataset %s (columns: %s)", rw, c.key, role.Name, strings.Join(role.ColumnNames(), ", "))
					continue
				}
				v := resolveAlias(c.val)
				if v.Kind != yaml.ScalarNode {
					e.at(c.val.Line, "%s.%s: want a value, got %s", rw, c.key, kindName(v))
					continue
				}
				s := v.Value
				if v.Tag == "!!null" {
					s = ""
				}
				row.Cols = append(row.Cols, col.Name)
				row.Values = append(row.Values, s)
			}
			f.Rows = append(f.Rows, row)
		}
		out = append(out, f)
	}
	return out
}

func parseExpect(n *yaml.Node, e *errs, what string) []ExpectedHit {
	n = resolveAlias(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		e.at(lineOf(n), "%s: want a list of hits, got %s", what, kindName(n))
		return nil
	}
	out := []ExpectedHit{}
	for i, hn := range n.Content {
		w := fmt.Sprintf("%s[%d]", what, i)
		h := ExpectedHit{Line: hn.Line}
		ps := pairs(hn, e, w)
		checkKeys(ps, expectKeys, e, w)
		for _, p := range ps {
			switch p.key {
			case "payment_id":
				h.PaymentID, _ = str(p.val, e, w+".payment_id")
			case "source":
				h.Source, _ = str(p.val, e, w+".source")
			case "severity":
				h.Severity, _ = str(p.val, e, w+".severity")
				if !contains(Severities, h.Severity) {
					e.at(p.val.Line, "%s.severity: %q is not one of %s", w, h.Severity, strings.Join(Severities, ", "))
				}
			case "explanation":
				h.Explanation, _ = str(p.val, e, w+".explanation")
			case "evidence":
				h.Evidence, _ = strList(p.val, e, w+".evidence")
				if h.Evidence == nil {
					h.Evidence = []string{}
				}
				for _, ev := range h.Evidence {
					if src, row, ok := strings.Cut(ev, ":"); !ok || src == "" || !isDigits(row) {
						e.at(p.val.Line, "%s.evidence: %q: write source:row (pay:2)", w, ev)
					}
				}
			case "fields":
				h.Fields = map[string]string{}
				for _, x := range pairs(p.val, e, w+".fields") {
					s := ""
					if v := resolveAlias(x.val); v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
						s = v.Value
					} else if v.Kind != yaml.ScalarNode {
						e.at(x.val.Line, "%s.fields.%s: want a value", w, x.key)
					}
					h.Fields[x.key] = s
				}
			}
		}
		if h.PaymentID == "" {
			e.at(hn.Line, "%s: payment_id is missing", w)
		}
		out = append(out, h)
	}
	return out
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

var linkCols = []string{"dataset", "_source", "row", "person_key", "probability"}

// parseLinks reads person_link fixture rows: a probabilistic link from
// the record at _source:row of dataset to person_key with a match
// probability.
func parseLinks(p kv, e *errs, what string) Fixture {
	f := Fixture{Role: "person_link", Line: p.kline}
	rows := resolveAlias(p.val)
	if rows.Kind != yaml.SequenceNode {
		e.at(rows.Line, "%s: want a list of links, got %s", what, kindName(rows))
		return f
	}
	for i, rn := range rows.Content {
		rw := fmt.Sprintf("%s[%d]", what, i)
		row := FixtureRow{Line: rn.Line}
		ps := pairs(rn, e, rw)
		checkKeys(ps, linkCols, e, rw)
		got := map[string]string{}
		for _, c := range ps {
			v, _ := str(c.val, e, rw+"."+c.key)
			got[c.key] = v
			if c.key == "_source" {
				row.Source = v
				continue
			}
			row.Cols = append(row.Cols, c.key)
			row.Values = append(row.Values, v)
		}
		for _, k := range []string{"dataset", "_source", "row", "person_key", "probability"} {
			if got[k] == "" {
				e.at(rn.Line, "%s: %s is missing (a link names dataset, _source, row, person_key and probability)", rw, k)
			}
		}
		if d := got["dataset"]; d != "" {
			if _, ok := dataset.Lookup(d); !ok {
				e.at(rn.Line, "%s: %q is not a dataset", rw, d)
			}
		}
		if _, err := strconv.ParseFloat(got["probability"], 64); got["probability"] != "" && err != nil {
			e.at(rn.Line, "%s: probability %q is not a number", rw, got["probability"])
		}
		if r := got["row"]; r != "" && !isDigits(r) {
			e.at(rn.Line, "%s: row %q is not a row number", rw, r)
		}
		f.Rows = append(f.Rows, row)
	}
	return f
}
