// Package textwidth measures how many terminal or table columns a string
// takes when Chinese text is shown in a fixed-width font: East Asian wide
// and full-width characters take two columns, others one (Unicode's East
// Asian Width property, from golang.org/x/text/width). The terminal
// summary, the rule catalogue's Markdown table and the report's SVG labels
// align with it.
package textwidth

import "golang.org/x/text/width"

// Of returns the number of columns s takes.
func Of(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}
