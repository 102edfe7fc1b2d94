package user_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/ooctl/oo/internal/fakeclock"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/store/bolt"
	"github.com/ooctl/oo/server/user"
)

const adminPW = "admin-password-unit"

type fixture struct {
	st    *bolt.Store
	clk   *fakeclock.Clock
	svc   *user.Service
	opts  user.Options
	path  string
	close func()
}

func newFixture(t *testing.T, mutate ...func(*user.Options)) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "oo.db")
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := fakeclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	opts := user.Options{TokenTTL: time.Hour, AdminPassword: adminPW, Now: clk.Now, BcryptCost: bcrypt.MinCost}
	for _, m := range mutate {
		m(&opts)
	}
	svc, err := user.New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, clk: clk, svc: svc, opts: opts, path: path}
}

func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want HTTP %d", what, status)
		return
	}
	var ae *apierr.Error
	if !errors.As(err, &ae) {
		t.Errorf("%s: %v is not an *apierr.Error (would be a 500)", what, err)
		return
	}
	if ae.Status != status {
		t.Errorf("%s: status %d (%s), want %d", what, ae.Status, ae.Message, status)
	}
}

func (f *fixture) register(t *testing.T, slug string) api.AuthToken {
	t.Helper()
	tok, err := f.svc.Register(api.RegisterRequest{Slug: slug, Password: slug + "-password"})
	if err != nil {
		t.Fatalf("register %s: %v", slug, err)
	}
	return tok
}

func TestRegisterValidation(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("a", 64)
	cases := []struct {
		name string
		req  api.RegisterRequest
		want int
	}{
		{"empty slug", api.RegisterRequest{Password: "password-1"}, 400},
		{"uppercase", api.RegisterRequest{Slug: "Alice", Password: "password-1"}, 400},
		{"underscore", api.RegisterRequest{Slug: "a_b", Password: "password-1"}, 400},
		{"leading dash", api.RegisterRequest{Slug: "-ab", Password: "password-1"}, 400},
		{"trailing dash", api.RegisterRequest{Slug: "ab-", Password: "password-1"}, 400},
		{"64 chars", api.RegisterRequest{Slug: long, Password: "password-1"}, 400},
		{"non-ascii", api.RegisterRequest{Slug: "café", Password: "password-1"}, 400},
		{"reserved", api.RegisterRequest{Slug: "user-svc", Password: "password-1"}, 400},
		{"reserved proxy", api.RegisterRequest{Slug: "proxy-svc", Password: "password-1"}, 400},
		{"short password", api.RegisterRequest{Slug: "ok", Password: "1234567"}, 400},
		{"password over 72 bytes", api.RegisterRequest{Slug: "ok", Password: strings.Repeat("p", 73)}, 400},
		{"admin taken", api.RegisterRequest{Slug: "admin", Password: "password-1"}, 409},
	}
	for _, c := range cases {
		_, err := f.svc.Register(c.req)
		wantStatus(t, c.name, err, c.want)
	}
	// Boundaries that must be accepted.
	for _, slug := range []string{"a", long[:63], "skeleton-svc", "a1-b2"} {
		if _, err := f.svc.Register(api.RegisterRequest{Slug: slug, Password: "12345678"}); err != nil {
			t.Errorf("register %q: %v", slug, err)
		}
	}
	// Eight characters of which some are multi-byte is long enough.
	if _, err := f.svc.Register(api.RegisterRequest{Slug: "utf", Password: "ééééüüüü"}); err != nil {
		t.Errorf("8-character non-ASCII password refused: %v", err)
	}
}

func TestRegisterDefaultsNameToSlug(t *testing.T) {
	f := newFixture(t)
	tok := f.register(t, "skeleton-svc")
	p, err := f.svc.Authenticate(tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	rsp, err := f.svc.UserByToken(p)
	if err != nil || rsp.User.Name != "skeleton-svc" || rsp.User.Slug != "skeleton-svc" {
		t.Errorf("UserByToken = %+v, %v", rsp, err)
	}
	if !strings.HasPrefix(rsp.User.ID, "usr_") || len(rsp.User.ID) < 14 || !strings.HasPrefix(tok.ID, "tok_") {
		t.Errorf("ids %q %q do not look like usr_/tok_ + base62", rsp.User.ID, tok.ID)
	}
}

func TestConcurrentRegisterOfOneSlugHasOneWinner(t *testing.T) {
	f := newFixture(t)
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.Register(api.RegisterRequest{Slug: "race", Password: "password-1"})
			switch {
			case err == nil:
				wins.Add(1)
			case apierr.Status(err) == http.StatusConflict:
				conflicts.Add(1)
			default:
				t.Errorf("register: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 7 {
		t.Errorf("wins %d conflicts %d, want 1 and 7", wins.Load(), conflicts.Load())
	}
}

func TestLoginStatuses(t *testing.T) {
	f := newFixture(t)
	f.register(t, "alice")
	_, err := f.svc.Login(api.LoginRequest{Slug: "nobody", Password: "whatever-1"})
	wantStatus(t, "unknown slug", err, 400)
	_, err = f.svc.Login(api.LoginRequest{Slug: "alice", Password: "wrong-password"})
	wantStatus(t, "wrong password", err, 401)
	_, err = f.svc.Login(api.LoginRequest{Slug: "alice"})
	wantStatus(t, "no password", err, 400)
	tok, err := f.svc.Login(api.LoginRequest{Slug: "alice", Password: "alice-password"})
	if err != nil || !tok.Active || tok.Token == "" {
		t.Fatalf("login = %+v, %v", tok, err)
	}
	if want := f.clk.Now().Add(time.Hour); !tok.ExpiresAt.Equal(want) {
		t.Errorf("expiresAt = %s, want %s (now + TTL)", tok.ExpiresAt, want)
	}
}

func TestTokenClaimsAndRoles(t *testing.T) {
	f := newFixture(t)
	tok, err := f.svc.Login(api.LoginRequest{Slug: "admin", Password: adminPW})
	if err != nil {
		t.Fatal(err)
	}
	var c user.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(tok.Token, &c); err != nil {
		t.Fatal(err)
	}
	if c.Slug != "admin" || c.UserID != tok.UserID || c.ID != tok.ID || c.IssuedAt == nil || c.ExpiresAt == nil {
		t.Errorf("claims = %+v", c)
	}
	if len(c.Roles) != 2 || c.Roles[0] != api.RoleUser || c.Roles[1] != api.RoleAdmin {
		t.Errorf("admin roles = %v", c.Roles)
	}
	p, err := f.svc.Authenticate(tok.Token)
	if err != nil || !p.IsAdmin() || p.Slug != "admin" || p.TokenID != tok.ID {
		t.Errorf("principal = %+v, %v", p, err)
	}
	u := f.register(t, "plain")
	p, err = f.svc.Authenticate(u.Token)
	if err != nil || p.IsAdmin() {
		t.Errorf("plain user principal = %+v, %v", p, err)
	}
}

func TestAuthenticateRefusesBadTokens(t *testing.T) {
	f := newFixture(t)
	good := f.register(t, "alice")
	var c user.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(good.Token, &c); err != nil {
		t.Fatal(err)
	}

	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := jwt.NewWithClaims(jwt.SigningMethodRS256, c).SignedString(other)
	if err != nil {
		t.Fatal(err)
	}
	hmac, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	// A token whose signature part was swapped for another token's keeps valid-looking claims.
	parts := strings.Split(good.Token, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2]

	for name, tok := range map[string]string{
		"empty": "", "garbage": "not-a-jwt", "alg none": none, "another RSA key": otherKey,
		"HS256": hmac, "tampered payload": tampered,
	} {
		_, err := f.svc.Authenticate(tok)
		wantStatus(t, name, err, 401)
	}
	_, err = f.svc.Authenticate(none)
	if err == nil || !strings.Contains(err.Error(), "RS256") {
		t.Errorf("alg none message should name the accepted alg: %v", err)
	}
	if _, err := f.svc.Authenticate(good.Token); err != nil {
		t.Errorf("the good token stopped working: %v", err)
	}
}

func TestExpiredTokenIsRefusedAndPruned(t *testing.T) {
	f := newFixture(t)
	tok := f.register(t, "alice")
	f.clk.Add(time.Hour + time.Second)
	_, err := f.svc.Authenticate(tok.Token)
	wantStatus(t, "expired", err, 401)
	if err != nil && !strings.Contains(err.Error(), "expired") {
		t.Errorf("message %q does not say expired", err)
	}
	// Issuing after the prune interval sweeps the expired token from memory and disk.
	f.clk.Add(15 * time.Minute)
	f.register(t, "bob")
	if n := f.svc.ActiveTokens(); n != 1 {
		t.Errorf("active tokens after prune = %d, want 1", n)
	}
	recs, err := f.st.ListTokens()
	if err != nil || len(recs) != 1 {
		t.Errorf("stored tokens after prune = %d, %v; want 1", len(recs), err)
	}
}

func TestRevokeRefreshAndChangePassword(t *testing.T) {
	f := newFixture(t)
	first := f.register(t, "alice")
	second, err := f.svc.Login(api.LoginRequest{Slug: "alice", Password: "alice-password"})
	if err != nil {
		t.Fatal(err)
	}
	third, err := f.svc.Login(api.LoginRequest{Slug: "alice", Password: "alice-password"})
	if err != nil {
		t.Fatal(err)
	}
	bob := f.register(t, "bob")

	// Logout revokes exactly the presented token.
	p1, _ := f.svc.Authenticate(first.Token)
	if err := f.svc.RevokeToken(p1); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Authenticate(first.Token)
	wantStatus(t, "revoked token", err, 401)

	// Refresh rotates: the new token works, the old one is revoked.
	p2, err := f.svc.Authenticate(second.Token)
	if err != nil {
		t.Fatal(err)
	}
	refreshed, err := f.svc.RefreshToken(p2)
	if err != nil || refreshed.Token == second.Token || refreshed.ID == second.ID {
		t.Fatalf("refresh = %+v, %v", refreshed, err)
	}
	_, err = f.svc.Authenticate(second.Token)
	wantStatus(t, "token after refresh", err, 401)
	_, err = f.svc.RefreshToken(p2)
	wantStatus(t, "second refresh of the same token", err, 401)

	// Password change keeps the caller's token and revokes the user's others only.
	p3, err := f.svc.Authenticate(third.Token)
	if err != nil {
		t.Fatal(err)
	}
	err = f.svc.ChangePassword(p3, api.ChangePasswordRequest{CurrentPassword: "wrong-one", NewPassword: "new-password-1"})
	wantStatus(t, "wrong current password", err, 403)
	err = f.svc.ChangePassword(p3, api.ChangePasswordRequest{Slug: "bob", CurrentPassword: "alice-password", NewPassword: "new-password-1"})
	wantStatus(t, "someone else's slug", err, 403)
	err = f.svc.ChangePassword(p3, api.ChangePasswordRequest{CurrentPassword: "alice-password", NewPassword: "short"})
	wantStatus(t, "short new password", err, 400)
	if err := f.svc.ChangePassword(p3, api.ChangePasswordRequest{Slug: "alice", CurrentPassword: "alice-password", NewPassword: "new-password-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(third.Token); err != nil {
		t.Errorf("the caller's token was revoked by its own password change: %v", err)
	}
	_, err = f.svc.Authenticate(refreshed.Token)
	wantStatus(t, "other token after password change", err, 401)
	if _, err := f.svc.Authenticate(bob.Token); err != nil {
		t.Errorf("another user's token was revoked: %v", err)
	}
	_, err = f.svc.Login(api.LoginRequest{Slug: "alice", Password: "alice-password"})
	wantStatus(t, "old password", err, 401)
	if _, err := f.svc.Login(api.LoginRequest{Slug: "alice", Password: "new-password-1"}); err != nil {
		t.Errorf("new password: %v", err)
	}
}

func TestClosedRegistration(t *testing.T) {
	f := newFixture(t, func(o *user.Options) { o.Registration = "closed" })
	_, err := f.svc.Register(api.RegisterRequest{Slug: "alice", Password: "password-1"})
	wantStatus(t, "register while closed", err, 403)
	if msg := err.Error(); !strings.Contains(msg, "`oo user create alice`") || strings.Contains(msg, "/user-svc") {
		t.Errorf("the closed-registration error names the command, not an endpoint: %q", msg)
	}
	u, err := f.svc.CreateUser(api.CreateUserRequest{Slug: "alice", Password: "password-1", Roles: []string{api.RoleAdmin}})
	if err != nil || u.Slug != "alice" || len(u.Roles) != 2 {
		t.Fatalf("CreateUser = %+v, %v", u, err)
	}
	_, err = f.svc.CreateUser(api.CreateUserRequest{Slug: "bob", Password: "password-1", Roles: []string{"root"}})
	wantStatus(t, "unknown role", err, 400)
	_, err = f.svc.CreateUser(api.CreateUserRequest{Slug: "alice", Password: "password-1"})
	wantStatus(t, "taken slug", err, 409)
	tok, err := f.svc.Login(api.LoginRequest{Slug: "alice", Password: "password-1"})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := f.svc.Authenticate(tok.Token); err != nil || !p.IsAdmin() {
		t.Errorf("created admin principal = %+v, %v", p, err)
	}
}

func TestListUsers(t *testing.T) {
	f := newFixture(t)
	f.register(t, "zed")
	f.register(t, "bob")
	rsp, err := f.svc.ListUsers(2)
	if err != nil {
		t.Fatal(err)
	}
	if rsp.Count != 3 || len(rsp.Users) != 2 || rsp.Users[0].Slug != "admin" || rsp.Users[1].Slug != "bob" {
		t.Errorf("ListUsers(2) = %+v", rsp)
	}
	_, err = f.svc.ListUsers(-1)
	wantStatus(t, "negative limit", err, 400)
}

func TestGeneratedAdminPasswordIsPrintedOnceAndWorks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oo.db")
	boot := func(pw string) (*bolt.Store, *user.Service, string) {
		st, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var notice bytes.Buffer
		svc, err := user.New(st, user.Options{TokenTTL: time.Hour, AdminPassword: pw, Notice: &notice, BcryptCost: bcrypt.MinCost})
		if err != nil {
			st.Close()
			t.Fatal(err)
		}
		return st, svc, notice.String()
	}
	st, svc, notice := boot("")
	var pw string
	for _, line := range strings.Split(notice, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "oo:") {
			pw = l
		}
	}
	if len(pw) < 20 {
		t.Fatalf("no generated password found in notice:\n%s", notice)
	}
	if _, err := svc.Login(api.LoginRequest{Slug: "admin", Password: pw}); err != nil {
		t.Fatalf("login with the printed password: %v", err)
	}
	st.Close()

	// A later boot does not reset the password from the configuration, and says so in one line.
	st, svc, notice = boot("another-password-9")
	if strings.Contains(notice, pw) || strings.Count(notice, "\n") != 1 || !strings.Contains(notice, "OO_ADMIN_PASSWORD was ignored") || !strings.Contains(notice, "oo passwd") {
		t.Errorf("second boot printed: %q", notice)
	}
	_, err := svc.Login(api.LoginRequest{Slug: "admin", Password: "another-password-9"})
	wantStatus(t, "admin password from a later boot", err, 401)
	if _, err := svc.Login(api.LoginRequest{Slug: "admin", Password: pw}); err != nil {
		t.Errorf("first password no longer works: %v", err)
	}
	st.Close()
	// Started again with the password the admin has (every replica of a cluster gets the same
	// environment), nothing was ignored and nothing is said.
	st, _, notice = boot(pw)
	if notice != "" {
		t.Errorf("a boot with the admin's own password printed: %q", notice)
	}
	st.Close()
	st, _, notice = boot("")
	defer st.Close()
	if notice != "" {
		t.Errorf("a later boot without a configured password printed: %q", notice)
	}
}

func TestShortAdminPasswordFailsFirstBoot(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "oo.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = user.New(st, user.Options{TokenTTL: time.Hour, AdminPassword: "short", BcryptCost: bcrypt.MinCost})
	if err == nil || !strings.Contains(err.Error(), "at least 8") {
		t.Errorf("New with a short admin password: %v", err)
	}
}

func TestKeyAndTokensSurviveRestart(t *testing.T) {
	f := newFixture(t)
	tok := f.register(t, "alice")
	revoked := f.register(t, "bob")
	pb, _ := f.svc.Authenticate(revoked.Token)
	if err := f.svc.RevokeToken(pb); err != nil {
		t.Fatal(err)
	}
	key := f.svc.PublicKeyPEM()

	again, err := user.New(f.st, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if again.PublicKeyPEM() != key {
		t.Error("the signing key changed across boots")
	}
	if _, err := again.Authenticate(tok.Token); err != nil {
		t.Errorf("token from the previous boot: %v", err)
	}
	_, err = again.Authenticate(revoked.Token)
	wantStatus(t, "token revoked before the restart", err, 401)
}
