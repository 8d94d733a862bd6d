package casestore

import (
	"context"
	"fmt"
)

// HitsOf returns the hits of many cases at once (for exports and printed
// case sheets), keyed by case id, ordered by period and rule. Cases the
// scope does not cover are left out.
func (s *Store) HitsOf(ctx context.Context, sc Scope, ids []string) (map[string][]Hit, error) {
	var allowed []string
	for _, id := range ids {
		if _, err := s.Get(sc, id); err == nil {
			allowed = append(allowed, id)
		}
	}
	out := map[string][]Hit{}
	if len(allowed) == 0 {
		return out, nil
	}
	rel, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	defer rel()
	const chunk = 2000
	for start := 0; start < len(allowed); start += chunk {
		part := allowed[start:min(start+chunk, len(allowed))]
		rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT case_id, run_id, hit_id, coalesce(suppressed, ''), rule_id, coalesce(category, ''),
			coalesce(severity, ''), coalesce(payment_id, ''), coalesce(period, ''), coalesce(region_code, ''), coalesce(id_number, ''),
			coalesce(id_status, ''), coalesce(name, ''), coalesce(amount, 0)::DOUBLE, coalesce(explanation, ''), coalesce(evidence, '[]'),
			coalesce(payment_source, ''), coalesce(payment_file, ''), coalesce(payment_row, 0)
			FROM hits WHERE case_id IN %s ORDER BY case_id, period, rule_id, payment_id`, sqlList(part)))
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			var h Hit
			if err := rows.Scan(&id, &h.RunID, &h.HitID, &h.Suppressed, &h.RuleID, &h.Category, &h.Severity, &h.PaymentID, &h.Period,
				&h.RegionCode, &h.IDNumber, &h.IDStatus, &h.Name, &h.Amount, &h.Explanation, &h.Evidence, &h.PaymentSource,
				&h.PaymentFile, &h.PaymentRow); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = append(out[id], h)
		}
		err = rows.Close()
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
