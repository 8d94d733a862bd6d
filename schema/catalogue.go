package schema

import (
	"fmt"
	"sort"
)

// CatalogueDDL returns the statements creating program_catalogue and
// program_exclusive when they do not exist (OrReplace each to start
// afresh).
func CatalogueDDL() []string {
	return []string{
		createIfNotExists + " " + ProgramCatalogue + ` (program_code VARCHAR PRIMARY KEY, name VARCHAR, department VARCHAR,
	frequency VARCHAR, min_age INTEGER, max_age INTEGER, requires VARCHAR, ssc_required BOOLEAN,
	payable_after_death BOOLEAN, standard_amount DOUBLE)`,
		createIfNotExists + " " + ProgramExclusive + ` (program_code VARCHAR, other_code VARCHAR)`,
	}
}

// Program is one row of program_catalogue, with the programs it excludes.
type Program struct {
	Code              string
	Name              string // the code when empty
	Department        string
	Frequency         string
	MinAge            *int
	MaxAge            *int
	Requires          string
	SSCRequired       bool
	PayableAfterDeath bool
	StandardAmount    *float64
	// ExclusiveWith lists the codes of programs a person may not draw in
	// the same period; program_exclusive gets each pair both ways.
	ExclusiveWith []string
}

// CatalogueInserts returns the INSERT statements that fill
// program_catalogue (one row per program, in the given order) and
// program_exclusive (each exclusive pair both ways, sorted, once).
func CatalogueInserts(progs []Program) []string {
	var out []string
	pairs := map[[2]string]bool{}
	for _, p := range progs {
		std := "NULL"
		if p.StandardAmount != nil {
			std = fmt.Sprint(*p.StandardAmount)
		}
		name := p.Name
		if name == "" {
			name = p.Code
		}
		out = append(out, fmt.Sprintf("INSERT INTO %s VALUES (%s, %s, %s, %s, %s, %s, %s, %t, %t, %s)", ProgramCatalogue,
			lit(p.Code), lit(name), lit(p.Department), lit(p.Frequency), nullInt(p.MinAge), nullInt(p.MaxAge),
			lit(p.Requires), p.SSCRequired, p.PayableAfterDeath, std))
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
		out = append(out, fmt.Sprintf("INSERT INTO %s VALUES (%s, %s)", ProgramExclusive, lit(k[0]), lit(k[1])))
	}
	return out
}

func nullInt(p *int) string {
	if p == nil {
		return "NULL"
	}
	return fmt.Sprint(*p)
}
