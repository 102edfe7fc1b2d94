package user_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/store/bolt"
	"github.com/ooctl/oo/server/user"
)

// A token answered from the verified cache is still refused the moment it expires or is
// revoked: the cache saves the signature check, never the expiry or revocation check.
func TestCachedTokenStillExpiresAndRevokes(t *testing.T) {
	f := newFixture(t)
	tok := f.register(t, "alice")
	for range 2 { // the second answer comes from the cache
		p, err := f.svc.Authenticate(tok.Token)
		if err != nil || p.Slug != "alice" || p.TokenID != tok.ID {
			t.Fatalf("Authenticate = %+v, %v", p, err)
		}
	}
	f.clk.Add(time.Hour) // exp is exclusive: at exactly exp the token is expired
	_, err := f.svc.Authenticate(tok.Token)
	wantStatus(t, "expired cached token", err, 401)
	if err != nil && !strings.Contains(err.Error(), "expired") {
		t.Errorf("message %q does not say expired", err)
	}

	other := f.register(t, "bob")
	p, err := f.svc.Authenticate(other.Token)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RevokeToken(p); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Authenticate(other.Token)
	wantStatus(t, "revoked cached token", err, 401)
	// A near miss of a cached token is not a hit.
	_, err = f.svc.Authenticate(other.Token[:len(other.Token)-1])
	wantStatus(t, "truncated token", err, 401)
}

// BenchmarkAuthenticate is what the proxy pays per request carrying a token.
func BenchmarkAuthenticate(b *testing.B) {
	st, err := bolt.Open(filepath.Join(b.TempDir(), "oo.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc, err := user.New(st, user.Options{TokenTTL: time.Hour, AdminPassword: adminPW, BcryptCost: bcrypt.MinCost})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := svc.Register(api.RegisterRequest{Slug: "alice", Password: "alice-password"})
	if err != nil {
		b.Fatal(err)
	}
	var p auth.Principal
	b.ReportAllocs()
	for b.Loop() {
		p, _ = svc.Authenticate(tok.Token)
	}
	if p.Slug != "alice" {
		b.Fatal("not authenticated")
	}
}
