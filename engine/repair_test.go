package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crosscheck/crosscheck/engine"
	"github.com/crosscheck/crosscheck/job"
	"github.com/crosscheck/crosscheck/normalize/idnumber"
)

// randomID returns a valid 18-character ID number.
func randomID(r *rand.Rand) string {
	regions := []string{"410102", "410105", "411082", "410311", "440308", "110101"}
	for {
		body := fmt.Sprintf("%s%04d%02d%02d%03d", regions[r.IntN(len(regions))], 1930+r.IntN(80), 1+r.IntN(12), 1+r.IntN(28), r.IntN(1000))
		id := body + string(idnumber.CheckChar(body))
		if idnumber.Valid(id) {
			return id
		}
	}
}

// typo makes one substitution or one adjacent transposition in id that
// leaves it invalid ("" when the edit happened to give a valid ID).
func typo(r *rand.Rand, id string) string {
	b := []byte(id)
	if r.IntN(2) == 0 {
		i := r.IntN(18)
		c := byte('0' + r.IntN(10))
		if i == 17 && r.IntN(4) == 0 {
			c = 'X'
		}
		if c == b[i] {
			return ""
		}
		b[i] = c
	} else {
		i := r.IntN(17)
		if b[i] == b[i+1] {
			return ""
		}
		b[i], b[i+1] = b[i+1], b[i]
	}
	if idnumber.Valid(string(b)) {
		return ""
	}
	return string(b)
}

// The ID repair (candidates found in SQL) repairs exactly the records the
// Go generator of candidates says it should: an invalid ID with exactly
// one idnumber.RepairCandidates candidate registered under the record's
// name. The registry has many namesakes, pairs of registry IDs one edit
// from the same typo (ambiguous), typos of a namesake's ID under another
// name, IDs two edits away and IDs with an X inside.
func TestRepairIDsAgreesWithRepairCandidates(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 7))
	names := []string{"王伟", "李娜", "张敏", "刘洋", "陈静", "杨帆", "赵磊", "黄勇", "周杰", "吴芳"}
	type person struct{ id, name string }
	var reg []person
	seen := map[string]bool{}
	add := func(id, name string) {
		if !seen[id] {
			seen[id] = true
			reg = append(reg, person{id, name})
		}
	}
	for range 3000 {
		add(randomID(r), names[r.IntN(len(names))])
	}
	type rec struct{ id, name string }
	var recs []rec
	for i := 0; i < 1200; i++ {
		p := reg[r.IntN(len(reg))]
		bad := typo(r, p.id)
		if bad == "" {
			continue
		}
		switch k := r.IntN(10); {
		case k < 5: // the person's own typo
			recs = append(recs, rec{bad, p.name})
		case k < 7: // a second registry person under the same name, one edit from the typo
			if cs := idnumber.RepairCandidates(bad); len(cs) > 1 {
				for _, c := range cs {
					if c != p.id {
						add(c, p.name)
						break
					}
				}
			}
			recs = append(recs, rec{bad, p.name})
		case k < 8: // another name
			recs = append(recs, rec{bad, names[(slices.Index(names, p.name)+1)%len(names)]})
		case k < 9: // two edits
			if bad2 := typo(r, bad); bad2 != "" {
				recs = append(recs, rec{bad2, p.name})
			}
		default: // an X inside the number
			b := []byte(bad)
			b[r.IntN(17)] = 'X'
			recs = append(recs, rec{string(b), p.name})
		}
	}
	dir := t.TempDir()
	var hb strings.Builder
	var pb [2]strings.Builder
	hb.WriteString("id,name\n")
	for _, p := range reg {
		fmt.Fprintf(&hb, "%s,%s\n", p.id, p.name)
	}
	for i := range pb {
		pb[i].WriteString("pid,prog,period,id,name,amount\n")
	}
	for i, x := range recs { // two rolls, for the counts per source
		fmt.Fprintf(&pb[i%2], "P%d,gaoling,2024-05,%s,%s,100\n", i+1, x.id, x.name)
	}
	jobYAML := `periods: ["2024-05"]
engine: {threads: 2}
programs: [{code: gaoling}]
sources:
  - {name: huji, role: person, connector: csv, path: huji.csv, columns: {id_number: id, name: name}}
  - {name: pay0, role: payment, connector: csv, path: pay0.csv, columns: {payment_id: pid, program_code: prog, period: period, id_number: id, name: name, amount: amount}}
  - {name: pay1, role: payment, connector: csv, path: pay1.csv, columns: {payment_id: pid, program_code: prog, period: period, id_number: id, name: name, amount: amount}}
`
	for name, body := range map[string]string{"huji.csv": hb.String(), "pay0.csv": pb[0].String(), "pay1.csv": pb[1].String(), "job.yaml": jobYAML} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	j, err := job.Load(filepath.Join(dir, "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Prepare(context.Background(), j, engine.Options{OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	byName := map[string]map[string]bool{}
	for _, x := range reg {
		if byName[x.name] == nil {
			byName[x.name] = map[string]bool{}
		}
		byName[x.name][x.id] = true
	}
	rs, err := p.Session.DB.Query(`SELECT _source, payment_id, id_number, name_norm, id_number_status, coalesce(person_key, '') FROM payment`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var repaired, ambiguous, otherName, checked int
	perSource := map[string]int64{}
	for rs.Next() {
		var src, pid, id, name, status, key string
		if err := rs.Scan(&src, &pid, &id, &name, &status, &key); err != nil {
			t.Fatal(err)
		}
		if status != "invalid" && status != "repaired" {
			continue
		}
		checked++
		// The oracle: the Go candidates of the ID, registered under the name.
		var under []string
		for _, c := range idnumber.RepairCandidates(id) {
			if byName[name][c] {
				under = append(under, c)
			}
		}
		switch {
		case len(under) == 1:
			if status != "repaired" || key != under[0] {
				t.Errorf("%s %s (%s): status %s key %q, want repaired to %s", pid, id, name, status, key, under[0])
			}
			repaired++
			perSource[src]++
		default:
			if status != "invalid" {
				t.Errorf("%s %s (%s): status %s key %q, want invalid (%d candidates under the name)", pid, id, name, status, key, len(under))
			}
			if len(under) > 1 {
				ambiguous++
			}
			for _, c := range idnumber.RepairCandidates(id) {
				if seen[c] && len(under) == 0 {
					otherName++
					break
				}
			}
		}
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	// The run's statistics count the repairs per source.
	for _, st := range p.Result.Sources {
		if st.Role != "payment" {
			continue
		}
		if got := st.IDStatus["id_number"]["repaired"]; got != perSource[st.Source] || got == 0 {
			t.Errorf("source %s: %d repaired in the statistics, %d by the oracle", st.Source, got, perSource[st.Source])
		}
	}
	t.Logf("%d invalid records: %d repaired, %d ambiguous, %d with a candidate under another name", checked, repaired, ambiguous, otherName)
	if repaired < 100 || ambiguous < 10 || otherName < 10 {
		t.Errorf("the data does not exercise the repair: %d repaired, %d ambiguous, %d under another name", repaired, ambiguous, otherName)
	}
}
