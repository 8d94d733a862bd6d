package linkage

import (
	"context"
	"database/sql"
	"fmt"
)

// Cluster groups records into entities by the connected components of the
// pairs of the scored table whose match weight is at least minWeight (and
// that satisfy where, an SQL condition over the table, when not empty), as
// Splink's cluster_pairwise_predictions_at_threshold does. It returns the
// cluster of every id found in such a pair: the smallest id of its
// component. Ids in no such pair are singletons and are left out.
func Cluster(ctx context.Context, db *sql.DB, scored string, minWeight float64, where string) (map[int64]int64, error) {
	cond := "match_weight >= " + lit(minWeight)
	if where != "" {
		cond += " AND (" + where + ")"
	}
	rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT id_l, id_r FROM %s WHERE %s", Ident(scored), cond))
	if err != nil {
		return nil, fmt.Errorf("linkage: cluster: %w", err)
	}
	defer rows.Close()
	parent := map[int64]int64{}
	find := func(x int64) int64 {
		for {
			p, ok := parent[x]
			if !ok {
				parent[x] = x
				return x
			}
			if p == x {
				return x
			}
			parent[x] = parent[p] // path halving
			x = p
		}
	}
	for rows.Next() {
		var a, b int64
		if err := rows.Scan(&a, &b); err != nil {
			return nil, err
		}
		ra, rb := find(a), find(b)
		switch {
		case ra < rb:
			parent[rb] = ra
		case rb < ra:
			parent[ra] = rb
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make(map[int64]int64, len(parent))
	for id := range parent {
		out[id] = find(id)
	}
	return out, nil
}
