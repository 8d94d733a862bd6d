package engine

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/crosscheck/crosscheck/dataset"
	"github.com/crosscheck/crosscheck/job"
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
