package harness

import (
	"fmt"
	"strings"

	"github.com/crosscheck/crosscheck/benchmarks/gen"
)

func pct(x float64) string {
	if x < 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", x)
}

func pr(s Score) string {
	return fmt.Sprintf("%s / %s", pct(s.Precision), pct(s.Recall))
}

func find(ss []Score, name string) Score {
	for _, s := range ss {
		if s.Name == name {
			return s
		}
	}
	return Score{Name: name, Precision: -1, Recall: -1}
}

// Markdown renders bench.md.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# crosscheck benchmark\n\n%d persons, seed %d, data in `%s` (%s UTC).\n\n", r.Persons, r.Seed, r.Dir,
		r.Started.Format("2006-01-02 15:04"))
	systems := []Accuracy{r.Accuracy}
	for _, bl := range r.Baselines {
		if bl.Error == "" {
			systems = append(systems, bl.Accuracy)
		}
	}
	head := func(first string) {
		b.WriteString("| " + first + " | truth |")
		for _, s := range systems {
			b.WriteString(" " + s.System + " P / R |")
		}
		b.WriteString("\n|---|---:|")
		for range systems {
			b.WriteString("---:|")
		}
		b.WriteString("\n")
	}
	b.WriteString("## Accuracy by category\n\nPrecision / recall of payments flagged per category (a payment may be in several).\n\n")
	head("category")
	for _, c := range r.Accuracy.Categories {
		fmt.Fprintf(&b, "| %s | %d |", c.Name, c.Truth)
		for _, s := range systems {
			fmt.Fprintf(&b, " %s |", pr(find(s.Categories, c.Name)))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "| **rule families the engine has** | %d |", r.Accuracy.Overall.Truth)
	for _, s := range systems {
		fmt.Fprintf(&b, " %s |", pr(s.Overall))
	}
	b.WriteString("\n\n## Accuracy by rule family\n\nEngine rule ids; families marked * have no engine rule yet (recall 0 expected).\n\n")
	head("rule family")
	for _, f := range r.Accuracy.Families {
		name := f.Name
		if !f.HasRule && f.Truth > 0 {
			name += " *"
		}
		fmt.Fprintf(&b, "| %s | %d |", name, f.Truth)
		for _, s := range systems {
			fmt.Fprintf(&b, " %s |", pr(find(s.Families, f.Name)))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## Recall by injected case\n\n")
	b.WriteString("| case | family | truth rows |")
	for _, s := range systems {
		b.WriteString(" " + s.System + " |")
	}
	b.WriteString("\n|---|---|---:|")
	for range systems {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	fam := map[string]string{}
	for _, k := range gen.Kinds {
		fam[k.Name] = k.Family
	}
	for _, k := range r.Accuracy.Kinds {
		if fam[k.Name] == "" && k.Name != "natural" {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %d |", k.Name, fam[k.Name], k.Truth)
		for _, s := range systems {
			fmt.Fprintf(&b, " %s |", pct(find(s.Kinds, k.Name).Recall))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## Noise: payments falsely hit\n\nNoise must not produce hits: payments carrying each noise, and how many of them a system hit in a category the truth does not have.\n\n")
	b.WriteString("| noise | payments |")
	for _, s := range systems {
		b.WriteString(" " + s.System + " |")
	}
	b.WriteString("\n|---|---:|")
	for range systems {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, k := range r.Accuracy.Kinds {
		if fam[k.Name] != "" || k.Name == "natural" {
			continue
		}
		fmt.Fprintf(&b, "| %s | %d |", k.Name, k.Truth)
		for _, s := range systems {
			fmt.Fprintf(&b, " %d |", find(s.Kinds, k.Name).Hits)
		}
		b.WriteString("\n")
	}
	g := r.Generation
	b.WriteString("\n## Performance\n\n| measure | value |\n|---|---:|\n")
	if g.Reused {
		b.WriteString("| generation | reused |\n")
	} else {
		fmt.Fprintf(&b, "| generation time | %.1f s (%.0f persons/s, peak RSS %s MiB) |\n", g.Seconds, g.PersonsPerSec, mib(g.PeakRSS))
	}
	fmt.Fprintf(&b, "| data | %s MiB in %d files, %d payments, %d truth rows |\n", mib(g.Bytes), g.Files, g.Payments, g.TruthRows)
	c := r.Crosscheck
	fmt.Fprintf(&b, "| crosscheck total | %.2f s |\n", c.Seconds)
	for _, t := range c.Timings {
		fmt.Fprintf(&b, "| · %s | %.2f s |\n", t.Stage, t.Seconds)
	}
	fmt.Fprintf(&b, "| rows read | %d (%.0f rows/s) |\n", c.RowsRead, c.RowsPerSec)
	fmt.Fprintf(&b, "| peak RSS | %s MiB |\n", mib(c.PeakRSS))
	fmt.Fprintf(&b, "| spilled to disk (peak size of the DuckDB temp folder) | %s MiB |\n", mib(c.SpillBytes))
	if c.DatabaseBytes > 0 {
		fmt.Fprintf(&b, "| database file after the run | %s MiB |\n", mib(c.DatabaseBytes))
	}
	fmt.Fprintf(&b, "| hits / cases | %d / %d |\n", c.Hits, c.Cases)
	if len(r.Baselines) > 0 {
		b.WriteString("\n## Baselines\n\n| baseline | time | crosscheck / baseline | prepare (not counted) | note |\n|---|---:|---:|---:|---|\n")
		for _, bl := range r.Baselines {
			if bl.Error != "" {
				fmt.Fprintf(&b, "| %s | failed | | | %s |\n", bl.Name, strings.ReplaceAll(bl.Error, "\n", " "))
				continue
			}
			fmt.Fprintf(&b, "| %s | %.2f s | %.2f | %.1f s | %s |\n", bl.Name, bl.Seconds, bl.Ratio, bl.Prepare, bl.Note)
		}
	}
	b.WriteString("\nMisses and false hits of every system: `problems.csv` (case or noise of each payment listed).\n")
	return b.String()
}
