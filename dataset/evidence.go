package dataset

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// evidenceItem is one row of a hit's evidence, its values in the order the
// source gave them.
type evidenceItem struct {
	Source   string              `json:"source"`
	Title    string              `json:"title"`
	File     string              `json:"file"`
	Row      int64               `json:"row"`
	Values   orderedPairs        `json:"values"`
	Personal map[string]Personal `json:"personal,omitempty"`
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

// MaskEvidence masks, in an evidence JSON array (hits' evidence column),
// the values of each row's personal columns: those the row declares
// ("personal", written by every run) and those of its source in pers
// (source → header → kind; nil when unknown). Payment serials, region
// codes, 户号 and the like stay readable. A row that declares nothing and
// has no entry in pers (evidence written before the declaration existed)
// has its runs of 12 or more digits masked, as does anything it cannot
// parse. It is the one masking of evidence for CSV exports, the review
// pages' API and the case store's exports.
func MaskEvidence(ev string, pers map[string]map[string]Personal, maskNames bool) string {
	var items []evidenceItem
	if err := json.Unmarshal([]byte(ev), &items); err != nil {
		return idnumber.MaskDigitRuns(ev)
	}
	for i := range items {
		cols, known := pers[items[i].Source]
		if items[i].Personal == nil && !known {
			for k := range items[i].Values {
				items[i].Values[k][1] = idnumber.MaskDigitRuns(items[i].Values[k][1])
			}
			continue
		}
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
