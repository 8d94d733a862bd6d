package dataset

import "testing"

// Every built-in personal identifier is declared, and nothing a reviewer
// needs to look a payment up is.
func TestPersonalDeclarations(t *testing.T) {
	want := map[string]Personal{
		"payment.id_number": PersonalID, "payment.account_no": Account, "payment.name": PersonName,
		"payment.account_holder": PersonName, "ssc.card_no": Account, "ssc.bank_account": Account,
		"disability.certificate_no": PersonalID, "person.id_number": PersonalID,
		"payment.payment_id": NotPersonal, "payment.region_code": NotPersonal, "payment.household_id": NotPersonal,
		"person.household_id": NotPersonal, "person.region_code": NotPersonal, "death.record_id": NotPersonal,
		"payment.amount": NotPersonal,
	}
	for k, p := range want {
		var role, col string
		for i := range k {
			if k[i] == '.' {
				role, col = k[:i], k[i+1:]
			}
		}
		r, ok := Lookup(role)
		if !ok {
			t.Fatalf("no role %s", role)
		}
		c, ok := r.Column(col)
		if !ok {
			t.Fatalf("no column %s", k)
		}
		if got := c.PersonalKind(); got != p {
			t.Errorf("%s: personal %q, want %q", k, got, p)
		}
	}
}

func TestPersonalMask(t *testing.T) {
	for _, c := range []struct {
		p       Personal
		names   bool
		in, out string
		masked  bool
	}{
		{PersonalID, false, "410102194003051237", "410102********1237", true},
		{Account, false, "6230591234567894449", "623059*********4449", true},
		{Phone, false, "13800135678", "138****5678", true},
		{PersonName, false, "张三", "张三", false},
		{PersonName, true, "欧阳娜娜", "欧***", true},
		{NotPersonal, true, "411082101202", "411082101202", false},
	} {
		got := c.in
		if c.p.Masked(c.names) {
			got = c.p.Mask(c.in)
		}
		if got != c.out || c.p.Masked(c.names) != c.masked {
			t.Errorf("%s %q: %q (masked %v), want %q", c.p, c.in, got, c.p.Masked(c.names), c.out)
		}
	}
}
