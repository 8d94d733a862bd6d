package schema

// AggregateColumns are the columns of aggregates.csv, the publication base
// a run writes for `crosscheck publish`: per county (first six digits of
// the payment's region code), program and period, the persons paid,
// payments and amount screened, then the cases raised, the persons they
// concern and the amount of their payments.
var AggregateColumns = []string{"county_code", "program_code", "program_name", "period", "persons", "payments", "amount",
	"case_persons", "cases", "amount_at_risk"}
