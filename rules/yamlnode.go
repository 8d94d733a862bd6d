package rules

import (
	"fmt"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Helpers over the yaml.v3 node tree: every value keeps its line so that
// problems point at the line of the rule file.

type kv struct {
	key   string
	kline int
	val   *yaml.Node
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// pairs returns the entries of a mapping node, reporting duplicate keys.
func pairs(n *yaml.Node, e *errs, what string) []kv {
	n = resolveAlias(n)
	if n == nil || n.Kind != yaml.MappingNode {
		e.at(lineOf(n), "%s: want a mapping (key: value), got %s", what, kindName(n))
		return nil
	}
	var out []kv
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			e.at(k.Line, "%s: key %s given twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		out = append(out, kv{key: k.Value, kline: k.Line, val: v})
	}
	return out
}

// checkKeys reports keys not in allowed.
func checkKeys(ps []kv, allowed []string, e *errs, what string) {
	for _, p := range ps {
		if !contains(allowed, p.key) {
			e.at(p.kline, "%s: unknown key %q (keys: %s)", what, p.key, strings.Join(allowed, ", "))
		}
	}
}

func lineOf(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

func kindName(n *yaml.Node) string {
	n = resolveAlias(n)
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// str reads a scalar as text.
func str(n *yaml.Node, e *errs, what string) (string, bool) {
	n = resolveAlias(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		e.at(lineOf(n), "%s: want a text, got %s", what, kindName(n))
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	return n.Value, true
}

// strList reads a list of scalars, or a single scalar as a list of one.
func strList(n *yaml.Node, e *errs, what string) ([]string, bool) {
	n = resolveAlias(n)
	if n != nil && n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			return nil, true
		}
		return []string{n.Value}, true
	}
	if n == nil || n.Kind != yaml.SequenceNode {
		e.at(lineOf(n), "%s: want a list, got %s", what, kindName(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for _, c := range n.Content {
		s, good := str(c, e, what)
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// value reads a node as a Go value: int, float64, bool, string, nil,
// []any or map[string]any.
func value(n *yaml.Node) any {
	n = resolveAlias(n)
	if n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil
		case "!!int":
			if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
				return int(i)
			}
		case "!!float":
			if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
				return f
			}
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b
			}
		}
		return n.Value
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			out[i] = value(c)
		}
		return out
	case yaml.MappingNode:
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = value(n.Content[i+1])
		}
		return out
	}
	return nil
}

// textLine is the line of the first line of a scalar's text: the line
// after the indicator for block scalars (| and >).
func textLine(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Line + 1
	}
	return n.Line
}
