package engine

import (
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
