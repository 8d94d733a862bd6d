package review

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/crosscheck/crosscheck/casestore"
)

// A sign-in with an unknown username (or one that cannot sign in with a
// password) runs the same password hash, at the same cost, as one with a
// known username and a wrong password, so the answer takes as long.
func TestLoginRunsTheHashWhoeverSignsIn(t *testing.T) {
	const cost = 6
	h, _ := bcrypt.GenerateFromPassword([]byte("correct horse"), cost)
	sum := sha256.Sum256([]byte("tok"))
	u, err := NewUsers([]*User{
		{Username: "admin", Role: casestore.RoleAdmin, PasswordHash: string(h)},
		{Username: "old", Role: casestore.RoleAdmin, PasswordHash: string(h), Disabled: true},
		{Username: "yikatong", Role: casestore.RolePlatform, TokenSHA256: hex.EncodeToString(sum[:])},
	}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var hashes []string
	orig := passwordCheck
	passwordCheck = func(hash, pw string) bool {
		hashes = append(hashes, hash)
		return orig(hash, pw)
	}
	t.Cleanup(func() { passwordCheck = orig })
	for _, x := range []struct {
		name, pw string
		ok       bool
	}{
		{"admin", "correct horse", true},
		{"admin", "wrong", false},
		{"nobody", "wrong", false},
		{"", "", false},
		{"old", "correct horse", false},
		{"yikatong", "tok", false},
	} {
		hashes = nil
		_, ok := u.Authenticate(x.name, x.pw)
		if ok != x.ok {
			t.Errorf("%q: signed in %v", x.name, ok)
		}
		if len(hashes) != 1 {
			t.Fatalf("%q: %d password hashes run, want 1", x.name, len(hashes))
		}
		if c, err := bcrypt.Cost([]byte(hashes[0])); err != nil || c != cost {
			t.Errorf("%q: hash at cost %d (%v), the users' is %d", x.name, c, err, cost)
		}
	}
}
