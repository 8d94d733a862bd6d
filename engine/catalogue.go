package engine

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/crosscheck/crosscheck/job"
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

func nullInt(p *int) string {
	if p == nil {
		return "NULL"
	}
	return fmt.Sprint(*p)
}

func (s *Session) writeCatalogue(ctx context.Context, cat *Catalogue) error {
	stmts := []string{
		`CREATE OR REPLACE TABLE program_catalogue (program_code VARCHAR PRIMARY KEY, name VARCHAR, department VARCHAR,
			frequency VARCHAR, min_age INTEGER, max_age INTEGER, requires VARCHAR, ssc_required BOOLEAN,
			payable_after_death BOOLEAN, standard_amount DOUBLE)`,
		`CREATE OR REPLACE TABLE program_exclusive (program_code VARCHAR, other_code VARCHAR)`,
	}
	pairs := map[[2]string]bool{}
	for _, p := range cat.Programs {
		std := "NULL"
		if p.StandardAmount != nil {
			std = fmt.Sprint(*p.StandardAmount)
		}
		stmts = append(stmts, fmt.Sprintf("INSERT INTO program_catalogue VALUES (%s, %s, %s, %s, %s, %s, %s, %t, %t, %s)",
			Lit(p.Code), Lit(p.Name), Lit(p.Department), Lit(p.Frequency), nullInt(p.MinAge), nullInt(p.MaxAge),
			Lit(p.Requires), p.SSCRequired, p.PayableAfterDeath, std))
		for _, o := range p.ExclusiveWith {
			if o != p.Code {
				pairs[[2]string{p.Code, o}] = true
				pairs[[2]string{o, p.Code}] = true
			}
		}
	}
	keys := make([][2]string, 0, len(pairs))
	for k := range pairs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return keys[a][0]+"\x00"+keys[a][1] < keys[b][0]+"\x00"+keys[b][1] })
	for _, k := range keys {
		stmts = append(stmts, fmt.Sprintf("INSERT INTO program_exclusive VALUES (%s, %s)", Lit(k[0]), Lit(k[1])))
	}
	return s.Exec(ctx, stmts...)
}
