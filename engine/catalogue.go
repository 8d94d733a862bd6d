package engine

import (
	"context"
	"database/sql"
	"sort"
	"strings"

	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/schema"
)

// Program is an entry of the merged program catalogue.
type Program struct {
	Code              string
	Name              string
	Department        string
	Frequency         string
	MinAge            *int
	MaxAge            *int
	ExclusiveWith     []string
	Rosters           []job.Roster
	Requires          string
	SSCRequired       bool
	PayableAfterDeath bool
	StandardAmount    *float64
}

// Catalogue is the program catalogue of a run: rows of program sources
// first, then the job's programs layered on top (a job entry with the same
// code overrides the fields it sets).
type Catalogue struct {
	Programs []Program
}

// Lookup returns a program by code.
func (c *Catalogue) Lookup(code string) (*Program, bool) {
	for i := range c.Programs {
		if c.Programs[i].Code == code {
			return &c.Programs[i], true
		}
	}
	return nil, false
}

func splitCodes(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' || r == '，' || r == '；' || r == ' ' })
	return f
}

// buildCatalogue reads the program table and merges the job's programs,
// then writes program_catalogue, program_exclusive and program_roster.
func (s *Session) buildCatalogue(ctx context.Context, j *job.Job) (*Catalogue, error) {
	cat := &Catalogue{}
	rows, err := s.DB.QueryContext(ctx, `SELECT program_code, name, department, frequency, min_age, max_age,
		exclusive_with, requires, ssc_required, payable_after_death, standard_amount FROM program ORDER BY _rid`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var p Program
		var name, dept, freq, excl, req sql.NullString
		var minA, maxA sql.NullInt64
		var ssc, pad sql.NullBool
		var std sql.NullFloat64
		if err := rows.Scan(&p.Code, &name, &dept, &freq, &minA, &maxA, &excl, &req, &ssc, &pad, &std); err != nil {
			rows.Close()
			return nil, err
		}
		p.Name, p.Department, p.Frequency, p.Requires = name.String, dept.String, freq.String, req.String
		if minA.Valid {
			v := int(minA.Int64)
			p.MinAge = &v
		}
		if maxA.Valid {
			v := int(maxA.Int64)
			p.MaxAge = &v
		}
		p.ExclusiveWith = splitCodes(excl.String)
		p.SSCRequired, p.PayableAfterDeath = ssc.Bool, pad.Bool
		if std.Valid {
			v := std.Float64
			p.StandardAmount = &v
		}
		if old, ok := cat.Lookup(p.Code); ok {
			*old = p // a later row of the program list wins
		} else {
			cat.Programs = append(cat.Programs, p)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, jp := range j.Programs {
		if jp.FromSource != "" {
			continue
		}
		p, ok := cat.Lookup(jp.Code)
		if !ok {
			cat.Programs = append(cat.Programs, Program{Code: jp.Code})
			p = &cat.Programs[len(cat.Programs)-1]
		}
		if jp.Name != "" {
			p.Name = jp.Name
		}
		if jp.Department != "" {
			p.Department = jp.Department
		}
		if jp.Frequency != "" {
			p.Frequency = jp.Frequency
		}
		if jp.MinAge != nil {
			p.MinAge = jp.MinAge
		}
		if jp.MaxAge != nil {
			p.MaxAge = jp.MaxAge
		}
		if jp.ExclusiveWith != nil {
			p.ExclusiveWith = jp.ExclusiveWith
		}
		if jp.ExclusiveRosters != nil {
			p.Rosters = jp.ExclusiveRosters
		}
		if jp.Requires != "" {
			p.Requires = jp.Requires
		}
		if jp.SSCRequired != nil {
			p.SSCRequired = *jp.SSCRequired
		}
		if jp.PayableAfterDeath != nil {
			p.PayableAfterDeath = *jp.PayableAfterDeath
		}
		if jp.StandardAmount != nil {
			p.StandardAmount = jp.StandardAmount
		}
	}
	sort.Slice(cat.Programs, func(a, b int) bool { return cat.Programs[a].Code < cat.Programs[b].Code })
	for i := range cat.Programs {
		if cat.Programs[i].Name == "" {
			cat.Programs[i].Name = cat.Programs[i].Code
		}
	}
	return cat, s.writeCatalogue(ctx, cat)
}

// writeCatalogue replaces program_catalogue and program_exclusive with
// the catalogue's programs (schema.CatalogueDDL, schema.CatalogueInserts).
func (s *Session) writeCatalogue(ctx context.Context, cat *Catalogue) error {
	var stmts []string
	for _, q := range schema.CatalogueDDL() {
		stmts = append(stmts, schema.OrReplace(q))
	}
	progs := make([]schema.Program, len(cat.Programs))
	for i, p := range cat.Programs {
		progs[i] = schema.Program{Code: p.Code, Name: p.Name, Department: p.Department, Frequency: p.Frequency,
			MinAge: p.MinAge, MaxAge: p.MaxAge, Requires: p.Requires, SSCRequired: p.SSCRequired,
			PayableAfterDeath: p.PayableAfterDeath, StandardAmount: p.StandardAmount, ExclusiveWith: p.ExclusiveWith}
	}
	return s.Exec(ctx, append(stmts, schema.CatalogueInserts(progs)...)...)
}
