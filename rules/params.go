package rules

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// ParamType is the type of a rule parameter.
type ParamType string

// The parameter types. Values are held as int, float64, bool, string and
// []string.
const (
	Int    ParamType = "int"    // whole number
	Number ParamType = "number" // decimal number
	Bool   ParamType = "bool"   // true or false
	String ParamType = "string" // text
	List   ParamType = "list"   // list of texts (codes, values)
	// Column names a canonical column of the dataset the rule's template
	// screens (template parameter "dataset"); "" means none.
	Column ParamType = "column"
)

func validParamType(t ParamType) bool {
	switch t {
	case Int, Number, Bool, String, List, Column:
		return true
	}
	return false
}

// Param is a rule parameter: its type, default and allowed values.
type Param struct {
	Name string
	Type ParamType
	// Default is the value when the job sets none (int, float64, bool,
	// string or []string by Type).
	Default any
	// Min and Max bound int (int) and number (float64) parameters; nil
	// when open.
	Min, Max any
	// Allowed lists the values a string parameter, or each element of a
	// list parameter, may take; empty when any value is allowed.
	Allowed []string
	Doc     string

	line int // line of the parameter in the rule file (its default when given)
	// dependsOn names the column parameter this one qualifies; catalogues
	// leave it out while that parameter is empty.
	dependsOn string
}

// Declared reports whether the rule file declares the parameter (a
// template parameter it leaves out keeps the template's default).
func (p *Param) Declared() bool { return p.line > 0 }

// coerce turns a value from YAML or from the job (viper gives int, int64,
// float64, bool, string, []any) into the parameter's type.
func (p *Param) coerce(v any) (any, error) {
	switch p.Type {
	case Int:
		switch x := v.(type) {
		case int:
			return x, nil
		case int64:
			return int(x), nil
		case float64:
			if x != math.Trunc(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("want a whole number, got %v", v)
			}
			return int(x), nil
		case string:
			n, err := strconv.Atoi(strings.TrimSpace(x))
			if err == nil {
				return n, nil
			}
		}
		return nil, fmt.Errorf("want a whole number, got %s", describe(v))
	case Number:
		switch x := v.(type) {
		case int:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("want a number, got %v", v)
			}
			return x, nil
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f, nil
			}
		}
		return nil, fmt.Errorf("want a number, got %s", describe(v))
	case Bool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true", "yes":
				return true, nil
			case "false", "no":
				return false, nil
			}
		}
		return nil, fmt.Errorf("want true or false, got %s", describe(v))
	case String, Column:
		switch x := v.(type) {
		case string:
			return x, nil
		case nil:
			return "", nil
		}
		return nil, fmt.Errorf("want a text, got %s", describe(v))
	case List:
		switch x := v.(type) {
		case []string:
			return append([]string{}, x...), nil
		case []any:
			out := make([]string, 0, len(x))
			for _, e := range x {
				switch s := e.(type) {
				case string:
					out = append(out, s)
				case int, int64, float64:
					out = append(out, fmt.Sprint(s))
				default:
					return nil, fmt.Errorf("want a list of texts, got an element %s", describe(e))
				}
			}
			return out, nil
		case nil:
			return []string{}, nil
		}
		return nil, fmt.Errorf("want a list, got %s", describe(v))
	}
	return nil, fmt.Errorf("unknown parameter type %q", p.Type)
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case nil:
		return "nothing"
	case []any, []string:
		return fmt.Sprintf("a list %v", x)
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprint(v)
}

// check reports whether a value of the parameter's type is in range.
func (p *Param) check(v any) error {
	switch p.Type {
	case Int:
		n := v.(int)
		if p.Min != nil && n < p.Min.(int) || p.Max != nil && n > p.Max.(int) {
			return fmt.Errorf("%d is outside %s", n, p.rangeText())
		}
	case Number:
		f := v.(float64)
		if p.Min != nil && f < p.Min.(float64) || p.Max != nil && f > p.Max.(float64) {
			return fmt.Errorf("%s is outside %s", formatNumber(f), p.rangeText())
		}
	case String:
		if len(p.Allowed) > 0 && !contains(p.Allowed, v.(string)) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(p.Allowed, ", "))
		}
	case List:
		for _, s := range v.([]string) {
			if len(p.Allowed) > 0 && !contains(p.Allowed, s) {
				return fmt.Errorf("%q is not one of %s", s, strings.Join(p.Allowed, ", "))
			}
		}
	}
	return nil
}

func (p *Param) rangeText() string {
	lo, hi := "…", "…"
	if p.Min != nil {
		lo = FormatValue(p.Min)
	}
	if p.Max != nil {
		hi = FormatValue(p.Max)
	}
	return lo + ".." + hi
}

// Describe renders the parameter for catalogues: type, default and range.
func (p *Param) Describe() string {
	s := string(p.Type) + ", default " + FormatValue(p.Default)
	if p.Min != nil || p.Max != nil {
		s += ", " + p.rangeText()
	}
	if len(p.Allowed) > 0 {
		s += ", one of " + strings.Join(p.Allowed, "/")
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// FormatValue renders a parameter value for people: 3, 0.5, true, text,
// [a, b].
func FormatValue(v any) string {
	switch x := v.(type) {
	case float64:
		return formatNumber(x)
	case []string:
		return "[" + strings.Join(x, ", ") + "]"
	case string:
		if x == "" {
			return `""`
		}
		return x
	case nil:
		return "—"
	}
	return fmt.Sprint(v)
}

// sqlValue renders a parameter value as a DuckDB literal: numbers as
// numbers, texts quoted, lists as list literals ['a', 'b'].
func sqlValue(v any) string {
	switch x := v.(type) {
	case int:
		return strconv.Itoa(x)
	case float64:
		s := formatNumber(x)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s
	case bool:
		if x {
			return "TRUE"
		}
		return "FALSE"
	case string:
		return lit(x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = lit(s)
		}
		return "[" + strings.Join(q, ", ") + "]::VARCHAR[]"
	}
	return "NULL"
}

// resolve merges defaults with given values, checking names, types and
// ranges. Errors name the parameter.
func resolveParams(params []Param, given map[string]any) (map[string]any, map[string]error, []string) {
	out := map[string]any{}
	byName := map[string]*Param{}
	for i := range params {
		p := &params[i]
		out[p.Name] = p.Default
		byName[p.Name] = p
	}
	bad := map[string]error{}
	var unknown []string
	for k, v := range given {
		p, ok := byName[k]
		if !ok {
			unknown = append(unknown, k)
			continue
		}
		x, err := p.coerce(v)
		if err == nil {
			err = p.check(x)
		}
		if err != nil {
			bad[k] = err
			continue
		}
		out[k] = x
	}
	sort.Strings(unknown)
	return out, bad, unknown
}

func paramNames(params []Param) string {
	if len(params) == 0 {
		return "none"
	}
	n := make([]string, len(params))
	for i, p := range params {
		n[i] = p.Name
	}
	return strings.Join(n, ", ")
}
