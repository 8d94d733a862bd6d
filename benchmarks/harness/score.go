package harness

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/crosscheck/crosscheck/benchmarks/gen"
)

// TruthRow is a line of truth.csv.
type TruthRow struct {
	PaymentID, Category, Family, Kind string
}

// Hit is a finding of a system: a payment, a category and the rule (the
// engine's rule id, or a baseline's family name).
type Hit struct {
	PaymentID, Category, Rule, Explanation string
}

// Score is precision and recall of one category, family or kind.
type Score struct {
	Name      string  `json:"name"`
	Truth     int64   `json:"truth"`
	Hits      int64   `json:"hits"`
	TP        int64   `json:"true_positives"`
	Precision float64 `json:"precision"` // -1 when nothing was hit
	Recall    float64 `json:"recall"`    // -1 when there is no truth
	// HasRule says whether the engine has a rule for the family (families only).
	HasRule bool `json:"engine_rule,omitempty"`
}

// Accuracy is a system's scores.
type Accuracy struct {
	System     string  `json:"system"`
	Categories []Score `json:"categories"`
	Families   []Score `json:"families"`
	// Kinds: recall of each injected case kind (by its category);
	// for noise kinds, Hits counts the noisy payments falsely hit.
	Kinds []Score `json:"kinds"`
	// Overall: precision and recall over the findings of the families the
	// engine has rules for.
	Overall Score `json:"overall"`
}

func readCSVFile(path string, fn func(header, rec []string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	if b, _ := br.Peek(3); len(b) == 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		br.Discard(3)
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := fn(header, rec); err != nil {
			return err
		}
	}
}

func colIndex(header []string, names ...string) ([]int, error) {
	out := make([]int, len(names))
	for k, n := range names {
		out[k] = -1
		for i, h := range header {
			if h == n {
				out[k] = i
			}
		}
		if out[k] < 0 {
			return nil, fmt.Errorf("column %s missing (have %s)", n, strings.Join(header, ","))
		}
	}
	return out, nil
}

// ReadTruth reads truth.csv.
func ReadTruth(path string) ([]TruthRow, error) {
	var out []TruthRow
	var idx []int
	err := readCSVFile(path, func(h, rec []string) error {
		if idx == nil {
			var err error
			if idx, err = colIndex(h, "payment_id", "category", "rule_family", "case"); err != nil {
				return err
			}
		}
		out = append(out, TruthRow{rec[idx[0]], rec[idx[1]], rec[idx[2]], rec[idx[3]]})
		return nil
	})
	return out, err
}

// ReadNoise reads noise.csv: payment_id → noise kinds.
func ReadNoise(path string) (map[string][]string, error) {
	out := map[string][]string{}
	err := readCSVFile(path, func(h, rec []string) error {
		out[rec[0]] = strings.Split(rec[1], ";")
		return nil
	})
	return out, err
}

// ReadHits reads a hits CSV with payment_id, category and a rule column
// (rule_id for crosscheck, rule_family for baselines).
func ReadHits(path string) ([]Hit, error) {
	var out []Hit
	var idx []int
	expl := -1
	err := readCSVFile(path, func(h, rec []string) error {
		if idx == nil {
			rule := "rule_id"
			for _, x := range h {
				if x == "rule_family" {
					rule = "rule_family"
				}
			}
			var err error
			if idx, err = colIndex(h, "payment_id", "category", rule); err != nil {
				return err
			}
			for i, x := range h {
				if x == "explanation" {
					expl = i
				}
			}
		}
		hit := Hit{PaymentID: rec[idx[0]], Category: rec[idx[1]], Rule: rec[idx[2]]}
		if f, ok := gen.RuleFamily[hit.Rule]; ok {
			hit.Rule = f
		}
		if expl >= 0 {
			hit.Explanation = rec[expl]
		}
		out = append(out, hit)
		return nil
	})
	return out, err
}

type pc struct{ pid, cat string }

func ratio(a, b int64) float64 {
	if b == 0 {
		return -1
	}
	return float64(a) / float64(b)
}

func score(name string, truth, hits map[string]bool) Score {
	s := Score{Name: name, Truth: int64(len(truth)), Hits: int64(len(hits))}
	for k := range hits {
		if truth[k] {
			s.TP++
		}
	}
	s.Precision = ratio(s.TP, s.Hits)
	s.Recall = ratio(s.TP, s.Truth)
	return s
}

// Problem is a miss or a false hit, for inspection.
type Problem struct {
	System, Type, PaymentID, Category, Family, Detail, Explanation string
}

// Evaluate scores a system's hits against the truth.
func Evaluate(system string, truth []TruthRow, noise map[string][]string, hits []Hit) (Accuracy, []Problem) {
	acc := Accuracy{System: system}
	tCat := map[string]map[string]bool{}
	tFam := map[string]map[string]bool{}
	hCat := map[string]map[string]bool{}
	hFam := map[string]map[string]bool{}
	add := func(m map[string]map[string]bool, k, pid string) {
		if m[k] == nil {
			m[k] = map[string]bool{}
		}
		m[k][pid] = true
	}
	truthPC := map[pc]bool{}
	for _, t := range truth {
		add(tCat, t.Category, t.PaymentID)
		add(tFam, t.Family, t.PaymentID)
		truthPC[pc{t.PaymentID, t.Category}] = true
	}
	hitPC := map[pc]Hit{}
	for _, h := range hits {
		add(hCat, h.Category, h.PaymentID)
		add(hFam, h.Rule, h.PaymentID)
		if _, ok := hitPC[pc{h.PaymentID, h.Category}]; !ok {
			hitPC[pc{h.PaymentID, h.Category}] = h
		}
	}
	for _, c := range []string{gen.CatDeceased, gen.CatDuplicate, gen.CatIneligible, gen.CatOneCard, gen.CatDataQuality} {
		acc.Categories = append(acc.Categories, score(c, tCat[c], hCat[c]))
	}
	fams := []string{gen.FamDeceased, gen.FamDuplicate, gen.FamExclusive, gen.FamAge, gen.FamInvalidID, gen.FamNameMismatch,
		gen.FamAttribute, gen.FamRequires, gen.FamAccountType, gen.FamHolder, gen.FamShared,
		gen.FamCancelled, gen.FamMovedOut, gen.FamHeadDead, gen.FamBirthDate, gen.FamPrisoner,
		gen.FamNotInReg, gen.FamAgeTier, gen.FamNoDibao, gen.FamTekunMar, gen.FamCadre, gen.FamOrphan, gen.FamDupID}
	known := map[string]bool{}
	for _, f := range fams {
		known[f] = true
		s := score(f, tFam[f], hFam[f])
		s.HasRule = gen.EngineFamilies[f]
		acc.Families = append(acc.Families, s)
	}
	var other []string
	for f := range hFam {
		if !known[f] {
			other = append(other, f)
		}
	}
	sort.Strings(other)
	for _, f := range other {
		acc.Families = append(acc.Families, score(f, nil, hFam[f]))
	}
	// Kinds.
	kt := map[string]int64{}
	kf := map[string]int64{}
	for _, t := range truth {
		kt[t.Kind]++
		if _, ok := hitPC[pc{t.PaymentID, t.Category}]; ok {
			kf[t.Kind]++
		}
	}
	nf := map[string]int64{}
	nt := map[string]int64{}
	for pid, ks := range noise {
		falsely := false
		for _, c := range []string{gen.CatDeceased, gen.CatDuplicate, gen.CatIneligible, gen.CatOneCard, gen.CatDataQuality} {
			if _, ok := hitPC[pc{pid, c}]; ok && !truthPC[pc{pid, c}] {
				falsely = true
			}
		}
		for _, k := range ks {
			nt[k]++
			if falsely {
				nf[k]++
			}
		}
	}
	for _, k := range gen.Kinds {
		if k.Family != "" {
			acc.Kinds = append(acc.Kinds, Score{Name: k.Name, Truth: kt[k.Name], TP: kf[k.Name], Precision: -1,
				Recall: ratio(kf[k.Name], kt[k.Name]), HasRule: gen.EngineFamilies[k.Family]})
		} else {
			acc.Kinds = append(acc.Kinds, Score{Name: k.Name, Truth: nt[k.Name], Hits: nf[k.Name], Precision: -1, Recall: -1})
		}
	}
	if kt["natural"] > 0 {
		acc.Kinds = append(acc.Kinds, Score{Name: "natural", Truth: kt["natural"], TP: kf["natural"], Precision: -1,
			Recall: ratio(kf["natural"], kt["natural"])})
	}
	// Overall over the categories the engine has rules for, restricted to
	// truth rows of families with rules.
	tr, hr := map[string]bool{}, map[string]bool{}
	for _, t := range truth {
		if gen.EngineFamilies[t.Family] {
			tr[t.PaymentID+"|"+t.Category] = true
		}
	}
	for k := range hitPC {
		hr[k.pid+"|"+k.cat] = true
	}
	for k := range hr {
		// a hit in ineligible on a payment whose ineligibility is of a family
		// without a rule is neither right nor wrong here
		if !tr[k] && truthPC[pc{strings.SplitN(k, "|", 2)[0], strings.SplitN(k, "|", 2)[1]}] {
			delete(hr, k)
		}
	}
	acc.Overall = score("categories with rules", tr, hr)

	// Problems.
	var probs []Problem
	for _, t := range truth {
		if _, ok := hitPC[pc{t.PaymentID, t.Category}]; !ok {
			probs = append(probs, Problem{System: system, Type: "miss", PaymentID: t.PaymentID, Category: t.Category,
				Family: t.Family, Detail: t.Kind})
		}
	}
	var fps []Problem
	for k, h := range hitPC {
		if !truthPC[k] {
			fps = append(fps, Problem{System: system, Type: "false_hit", PaymentID: k.pid, Category: k.cat, Family: h.Rule,
				Detail: strings.Join(noise[k.pid], ";"), Explanation: h.Explanation})
		}
	}
	sort.Slice(fps, func(a, b int) bool {
		if fps[a].Family != fps[b].Family {
			return fps[a].Family < fps[b].Family
		}
		return fps[a].PaymentID < fps[b].PaymentID
	})
	return acc, append(probs, fps...)
}

// WriteProblems writes misses and false hits as CSV.
func WriteProblems(path string, probs []Problem) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"system", "type", "payment_id", "category", "rule_or_family", "case_or_noise", "explanation"})
	for _, p := range probs {
		w.Write([]string{p.System, p.Type, p.PaymentID, p.Category, p.Family, p.Detail, p.Explanation})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
