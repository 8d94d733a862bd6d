package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// personalColumns lists, per source, the source columns (headers) that
// hold personal identifiers, with their kind, from the canonical columns'
// declaration (dataset.Column.PersonalKind): ID numbers, accounts and card
// numbers, phone numbers and names. Whether names are masked is the job's
// output.mask_names.
func personalColumns(j *job.Job) map[string]map[string]dataset.Personal {
	out := map[string]map[string]dataset.Personal{}
	for _, s := range j.Sources {
		role, err := j.SourceRole(s)
		if err != nil {
			continue
		}
		cols := map[string]dataset.Personal{}
		for name, m := range s.Columns {
			c, ok := role.Column(name)
			if !ok || m.Column == "" {
				continue
			}
			if p := c.PersonalKind(); p != dataset.NotPersonal {
				cols[m.Column] = p
			}
		}
		out[s.Name] = cols
	}
	return out
}

// personalMacro is the SQL macro src_personal(source) that the evidence
// macro ev() writes into every evidence row as "personal": the row's
// headers that hold personal identifiers, header → kind. The review pages
// and exports mask exactly these (and only these) values.
func personalMacro(j *job.Job) string {
	cols := personalColumns(j)
	var when []string
	for _, s := range j.Sources {
		b, _ := json.Marshal(cols[s.Name])
		when = append(when, fmt.Sprintf("WHEN %s THEN json(%s)", Lit(s.Name), Lit(string(b))))
	}
	if len(when) == 0 {
		return `CREATE OR REPLACE MACRO src_personal(s) AS json('{}')`
	}
	return fmt.Sprintf(`CREATE OR REPLACE MACRO src_personal(s) AS CASE s %s ELSE json('{}') END`, strings.Join(when, " "))
}

type evidenceItem struct {
	Source   string                      `json:"source"`
	Title    string                      `json:"title"`
	File     string                      `json:"file"`
	Row      int64                       `json:"row"`
	Values   orderedPairs                `json:"values"`
	Personal map[string]dataset.Personal `json:"personal,omitempty"`
}

type orderedPairs [][2]string

func (o *orderedPairs) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("evidence values: want an object")
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return err
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return err
		}
		s, ok := v.(string)
		if !ok && v != nil {
			s = fmt.Sprint(v)
		}
		*o = append(*o, [2]string{kt.(string), s})
	}
	return nil
}

func (o orderedPairs) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, kv[0])
		b.WriteByte(':')
		writeJSONString(&b, kv[1])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.Truncate(b.Len() - 1) // Encode adds a newline
}

// maskEvidence masks, in an evidence JSON array, the values of each row's
// personal columns: those the row declares ("personal") and those of its
// source in the job. Payment serials, region codes, 户号 and the like stay
// readable. Anything it cannot parse is masked by digit runs instead.
func maskEvidence(ev string, pers map[string]map[string]dataset.Personal, maskNames bool) string {
	var items []evidenceItem
	if err := json.Unmarshal([]byte(ev), &items); err != nil {
		return idnumber.MaskDigitRuns(ev)
	}
	for i := range items {
		cols := pers[items[i].Source]
		for k := range items[i].Values {
			kv := &items[i].Values[k]
			p, ok := items[i].Personal[kv[0]]
			if !ok {
				p = cols[kv[0]]
			}
			if p.Masked(maskNames) && kv[1] != "" {
				kv[1] = p.Mask(kv[1])
			}
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(items); err != nil {
		return idnumber.MaskDigitRuns(ev)
	}
	return string(bytes.TrimRight(b.Bytes(), "\n"))
}
