package engine

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// sensitiveColumns lists, per source, the source columns that hold ID
// numbers or account and card numbers: their values are masked in CSV
// exports whatever their format (spaces, full-width digits …).
func sensitiveColumns(j *job.Job) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, s := range j.Sources {
		role, err := j.SourceRole(s)
		if err != nil {
			continue
		}
		cols := map[string]bool{}
		for name, m := range s.Columns {
			c, ok := role.Column(name)
			if !ok || m.Column == "" {
				continue
			}
			if c.Kind == dataset.ID || name == "account_no" || name == "bank_account" || name == "card_no" {
				cols[m.Column] = true
			}
		}
		out[s.Name] = cols
	}
	return out
}

type evidenceItem struct {
	Source string       `json:"source"`
	Title  string       `json:"title"`
	File   string       `json:"file"`
	Row    int64        `json:"row"`
	Values orderedPairs `json:"values"`
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
// sensitive source columns. Anything it cannot parse is masked by digit
// runs instead.
func maskEvidence(ev string, sens map[string]map[string]bool) string {
	var items []evidenceItem
	if err := json.Unmarshal([]byte(ev), &items); err != nil {
		return idnumber.MaskDigitRuns(ev)
	}
	for i := range items {
		cols := sens[items[i].Source]
		for k := range items[i].Values {
			kv := &items[i].Values[k]
			if cols[kv[0]] && kv[1] != "" {
				kv[1] = idnumber.Mask(kv[1])
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
