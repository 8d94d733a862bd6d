// Package review is the web UI and JSON API where departments review
// cases: login, the case queue of the reviewer's department and region,
// case detail with evidence, actions, the per-rule dashboard, .xlsx export,
// stop-lists and outcomes for the 一卡通 platform, /metrics and /healthz.
// Pages are rendered on the server in Chinese (with an English switch);
// templates and static assets are embedded.
package review

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/crosscheck/crosscheck/casestore"
)

// User is a person or system that may sign in.
type User struct {
	Username string         `mapstructure:"username"`
	Name     string         `mapstructure:"name"`
	Role     casestore.Role `mapstructure:"role"`
	// Department and Region (a region code prefix) scope a reviewer; for a
	// platform user they are optional restrictions.
	Department string `mapstructure:"department"`
	Region     string `mapstructure:"region"`
	// PasswordHash is a bcrypt ($2a$/$2b$/$2y$) or argon2id
	// ($argon2id$v=19$m=…,t=…,p=…$salt$hash) hash.
	PasswordHash string `mapstructure:"password_hash"`
	// TokenSHA256 is the hex SHA-256 of an API bearer token (for the platform).
	TokenSHA256 string `mapstructure:"token_sha256"`
	// Disabled users cannot sign in.
	Disabled bool `mapstructure:"disabled"`
	// CheckRate and CheckBurst override the file's limits of
	// POST /api/v1/check and the /check form for this user (0: the file's).
	CheckRate  float64 `mapstructure:"check_rate"`
	CheckBurst int     `mapstructure:"check_burst"`
}

// CanCheck reports whether the user may screen an applicant (POST
// /api/v1/check, the /check form): the platform, reviewers (the clerks of a
// department) and admins. Analysts work on cases and rules, not on
// applications.
func (u *User) CanCheck() bool {
	return u.Role == casestore.RoleAdmin || u.Role == casestore.RoleReviewer || u.Role == casestore.RolePlatform
}

// CanScreen reports whether the user may screen a payment roll (POST
// /api/v1/screen): the platform and admins.
func (u *User) CanScreen() bool {
	return u.Role == casestore.RoleAdmin || u.Role == casestore.RolePlatform
}

// Scope is the user's case scope.
func (u *User) Scope() casestore.Scope {
	switch u.Role {
	case casestore.RoleAdmin, casestore.RoleAnalyst:
		return casestore.Scope{All: true}
	case casestore.RolePlatform:
		if u.Department == "" && u.Region == "" {
			return casestore.Scope{All: true}
		}
	}
	return casestore.Scope{Department: u.Department, RegionPrefix: u.Region}
}

// Users is the users file.
type Users struct {
	// SessionTTL is how long a session lasts without activity (default 8h).
	SessionTTL time.Duration `mapstructure:"session_ttl"`
	// MetricsAccess says who may read /metrics: "open" (default: anyone
	// who reaches the server) or "signed_in" (a session or a bearer token).
	MetricsAccess string `mapstructure:"metrics_access"`
	// CheckRate is how many applicant checks a user or token may make per
	// second, sustained (default 5); CheckBurst how many at once (default 20).
	// Beyond them the check answers 429 with Retry-After.
	CheckRate  float64 `mapstructure:"check_rate"`
	CheckBurst int     `mapstructure:"check_burst"`
	// AuditRawIDs writes the full ID number of each checked applicant into
	// the audit log (default false: masked).
	AuditRawIDs bool `mapstructure:"audit_raw_ids"`
	// CheckConcurrency is how many applicant checks are handed to the
	// screener at once; the others wait their turn, first come first
	// served (default 64). The screener screens the checks waiting
	// together, in batches of up to 64, one batch per CPU at a time.
	CheckConcurrency int `mapstructure:"check_concurrency"`
	// MaxRollMB caps a roll sent to POST /api/v1/screen (default 200 MiB).
	MaxRollMB int     `mapstructure:"max_roll_mb"`
	Users     []*User `mapstructure:"users"`

	byName  map[string]*User
	byToken map[string]*User
	// dummy is a hash with the parameters of the users' own, checked for a
	// username that cannot sign in with a password.
	dummy string
}

// Values of Users.MetricsAccess.
const (
	MetricsOpen     = "open"
	MetricsSignedIn = "signed_in"
)

var regionRE = regexp.MustCompile(`^[0-9]{2,12}$`)

// LoadUsers reads and validates a users file (YAML). Unknown keys are errors.
func LoadUsers(path string) (*Users, error) {
	v := viper.NewWithOptions(viper.KeyDelimiter("::"))
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("users %s: %w", path, err)
	}
	u := &Users{}
	if err := v.UnmarshalExact(u); err != nil {
		return nil, fmt.Errorf("users %s: %w", path, err)
	}
	if err := u.init(); err != nil {
		return nil, fmt.Errorf("users %s: %w", path, err)
	}
	return u, nil
}

// NewUsers validates a user list built in code.
func NewUsers(list []*User, ttl time.Duration) (*Users, error) {
	u := &Users{Users: list, SessionTTL: ttl}
	return u, u.init()
}

func (u *Users) init() error {
	if u.SessionTTL == 0 {
		u.SessionTTL = 8 * time.Hour
	}
	if u.CheckRate == 0 {
		u.CheckRate = 5
	}
	if u.CheckBurst == 0 {
		u.CheckBurst = 20
	}
	if u.MaxRollMB == 0 {
		u.MaxRollMB = 200
	}
	if u.CheckConcurrency == 0 {
		u.CheckConcurrency = 64
	}
	if u.CheckRate < 0 || u.CheckBurst < 0 || u.MaxRollMB < 0 || u.CheckConcurrency < 0 {
		return errors.New("check_rate, check_burst, check_concurrency and max_roll_mb must not be negative")
	}
	switch u.MetricsAccess {
	case "":
		u.MetricsAccess = MetricsOpen
	case MetricsOpen, MetricsSignedIn:
	default:
		return fmt.Errorf("metrics_access %q: want %s or %s", u.MetricsAccess, MetricsOpen, MetricsSignedIn)
	}
	u.byName, u.byToken = map[string]*User{}, map[string]*User{}
	if len(u.Users) == 0 {
		return errors.New("no users")
	}
	for i, x := range u.Users {
		where := fmt.Sprintf("users[%d] (%s)", i, x.Username)
		if x.Username == "" || strings.ContainsAny(x.Username, " \t\r\n/") {
			return fmt.Errorf("%s: username must be non-empty without spaces or slashes", where)
		}
		if u.byName[x.Username] != nil {
			return fmt.Errorf("%s: duplicate username", where)
		}
		if !x.Role.Valid() {
			return fmt.Errorf("%s: role %q is not admin, analyst, reviewer or platform", where, x.Role)
		}
		if x.Role == casestore.RoleReviewer && (x.Department == "" || x.Region == "") {
			return fmt.Errorf("%s: a reviewer needs department and region", where)
		}
		if x.Region != "" && !regionRE.MatchString(x.Region) {
			return fmt.Errorf("%s: region %q is not a division code prefix (2 to 12 digits)", where, x.Region)
		}
		if x.PasswordHash == "" && x.TokenSHA256 == "" {
			return fmt.Errorf("%s: needs password_hash or token_sha256", where)
		}
		if x.PasswordHash != "" && !strings.HasPrefix(x.PasswordHash, "$2") && !strings.HasPrefix(x.PasswordHash, "$argon2id$") {
			return fmt.Errorf("%s: password_hash is not a bcrypt or argon2id hash (make one with: crosscheck serve hash-password)", where)
		}
		if x.TokenSHA256 != "" {
			b, err := hex.DecodeString(x.TokenSHA256)
			if err != nil || len(b) != 32 {
				return fmt.Errorf("%s: token_sha256 is not 64 hex digits", where)
			}
			u.byToken[strings.ToLower(x.TokenSHA256)] = x
		}
		if x.CheckRate < 0 || x.CheckBurst < 0 {
			return fmt.Errorf("%s: check_rate and check_burst must not be negative", where)
		}
		if x.Name == "" {
			x.Name = x.Username
		}
		u.byName[x.Username] = x
	}
	u.dummy = dummyHashLike(u.Users)
	return nil
}

// dummyHashLike makes a hash of a random password with the algorithm and
// cost most of the users' password hashes have, so that checking it takes
// as long as checking theirs.
func dummyHashLike(users []*User) string {
	count := map[string]int{}
	best, bestN := "", 0
	for _, x := range users {
		if x.PasswordHash == "" {
			continue
		}
		k := hashParams(x.PasswordHash)
		if count[k]++; count[k] > bestN {
			best, bestN = k, count[k]
		}
	}
	pw := make([]byte, 18)
	_, _ = rand.Read(pw)
	if strings.HasPrefix(best, "$argon2id$") {
		salt := make([]byte, 16)
		_, _ = rand.Read(salt)
		var m, t uint32
		var p uint8
		if _, err := fmt.Sscanf(strings.TrimPrefix(best, "$argon2id$v=19$"), "m=%d,t=%d,p=%d", &m, &t, &p); err == nil && m > 0 && t > 0 && p > 0 {
			key := argon2.IDKey(pw, salt, t, m, p, 32)
			return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p,
				base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
		}
	}
	cost := 12
	if c, err := strconv.Atoi(strings.TrimPrefix(best, "bcrypt:")); err == nil {
		cost = c
	}
	h, err := bcrypt.GenerateFromPassword(pw, cost)
	if err != nil {
		h, _ = bcrypt.GenerateFromPassword(pw, bcrypt.DefaultCost)
	}
	return string(h)
}

// hashParams is a hash's algorithm and cost: "bcrypt:12" or
// "$argon2id$v=19$m=65536,t=3,p=2".
func hashParams(h string) string {
	if strings.HasPrefix(h, "$argon2id$") {
		parts := strings.Split(h, "$")
		if len(parts) == 6 {
			return strings.Join(parts[:4], "$")
		}
		return h
	}
	if c, err := bcrypt.Cost([]byte(h)); err == nil {
		return "bcrypt:" + strconv.Itoa(c)
	}
	return ""
}

// Get returns a user by name.
func (u *Users) Get(name string) *User { return u.byName[name] }

// passwordCheck is CheckPassword; tests count its calls.
var passwordCheck = CheckPassword

// Authenticate checks a username and password. A username that is unknown,
// disabled or without a password checks the password against a dummy hash
// of the same algorithm and cost, so the answer takes as long as for a
// known user with a wrong password.
func (u *Users) Authenticate(name, password string) (*User, bool) {
	x := u.byName[name]
	if x == nil || x.Disabled || x.PasswordHash == "" {
		_ = passwordCheck(u.dummy, password)
		return nil, false
	}
	if !passwordCheck(x.PasswordHash, password) {
		return nil, false
	}
	return x, true
}

// ByToken returns the user of an API bearer token.
func (u *Users) ByToken(token string) *User {
	if token == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(token))
	x := u.byToken[hex.EncodeToString(sum[:])]
	if x == nil || x.Disabled {
		return nil
	}
	return x
}

// HashPassword returns a bcrypt hash for the users file.
func HashPassword(password string, cost int) (string, error) {
	if cost == 0 {
		cost = 12
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(b), err
}

// CheckPassword compares a password with a bcrypt or argon2id hash.
func CheckPassword(hash, password string) bool {
	if strings.HasPrefix(hash, "$argon2id$") {
		return checkArgon2id(hash, password)
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// $argon2id$v=19$m=65536,t=3,p=2$salt$hash (base64 without padding)
func checkArgon2id(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[2] != "v=19" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<22 {
		return false
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// HashArgon2id returns an argon2id hash in the PHC string format.
func HashArgon2id(password string, salt []byte) string {
	const m, t, p = 64 * 1024, 3, 2
	key := argon2.IDKey([]byte(password), salt, t, m, p, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// CanBeAssigned reports whether the user may be assigned the case: a
// reviewer (or admin) whose scope covers it.
func (u *User) CanBeAssigned(c *casestore.Case) bool {
	if u == nil || u.Disabled {
		return false
	}
	switch u.Role {
	case casestore.RoleAdmin:
		return true
	case casestore.RoleReviewer:
		return u.Scope().Allows(c)
	}
	return false
}
