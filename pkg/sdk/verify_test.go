package sdk

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

func newKey(t testing.TB) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func sign(t testing.TB, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claimsFor(slug string, exp time.Time) jwt.MapClaims {
	return jwt.MapClaims{"oui": "usr_1", "olu": slug, "ori": []string{api.RoleUser}, "jti": "tok_1",
		"iat": time.Now().Unix(), "exp": exp.Unix()}
}

// TestVerifierWithServerTokens checks tokens the real server issues: accepted with their slug
// and roles, and rejected once expired.
func TestVerifierWithServerTokens(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	v := NewVerifier(client.New(srv.URL))
	ctx := context.Background()

	tok := srv.Register(t, "verify-svc", "verify-svc-password")
	c, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatalf("real token rejected: %v", err)
	}
	if c.Slug != "verify-svc" || !c.HasRole(api.RoleUser) || c.IsAdmin() || c.UserID == "" || c.TokenID == "" {
		t.Fatalf("caller %+v", c)
	}
	admin, err := v.Verify(ctx, srv.AdminToken(t))
	if err != nil || admin.Slug != "admin" || !admin.IsAdmin() {
		t.Fatalf("admin token: %+v, %v", admin, err)
	}

	v.now = func() time.Time { return time.Now().Add(10 * 365 * 24 * time.Hour) }
	if _, err := v.Verify(ctx, tok); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("expired token: got %v, want expiry error", err)
	}
}

func TestVerifierRejectsForgeries(t *testing.T) {
	key, pub := newKey(t)
	other, _ := newKey(t)
	v, err := NewVerifierWithKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	future := time.Now().Add(time.Hour)

	if c, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, key, claimsFor("a-svc", future))); err != nil || c.Slug != "a-svc" {
		t.Fatalf("good token: %+v, %v", c, err)
	}
	forged := map[string]string{
		"alg none":           sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claimsFor("a-svc", future)),
		"other key":          sign(t, jwt.SigningMethodRS256, other, claimsFor("a-svc", future)),
		"expired":            sign(t, jwt.SigningMethodRS256, key, claimsFor("a-svc", time.Now().Add(-time.Hour))),
		"no expiry":          sign(t, jwt.SigningMethodRS256, key, jwt.MapClaims{"olu": "a-svc"}),
		"no slug":            sign(t, jwt.SigningMethodRS256, key, jwt.MapClaims{"exp": future.Unix()}),
		"HS256 with pub key": sign(t, jwt.SigningMethodHS256, []byte(pub), claimsFor("a-svc", future)),
		"RS512":              sign(t, jwt.SigningMethodRS512, key, claimsFor("a-svc", future)),
		"garbage":            "not.a.token",
	}
	for name, tok := range forged {
		if c, err := v.Verify(ctx, tok); err == nil {
			t.Errorf("%s: accepted as %+v", name, c)
		}
	}
	if _, err := v.Verify(ctx, ""); !errors.Is(err, ErrNoToken) {
		t.Errorf("empty token: %v", err)
	}
}

// TestVerifierRefetchesKeyRarely: a token signed by a new server key is accepted after one
// fetch, and a flood of forged tokens causes no more fetches than RefetchEvery allows.
func TestVerifierRefetchesKeyRarely(t *testing.T) {
	_, pub1 := newKey(t)
	key2, pub2 := newKey(t)
	forger, _ := newKey(t)
	var fetches atomic.Int32
	current := pub1
	now := time.Now()
	v := &Verifier{
		fetch:        func(context.Context) (string, error) { fetches.Add(1); return current, nil },
		RefetchEvery: time.Minute, Leeway: time.Second, now: func() time.Time { return now },
	}
	ctx := context.Background()
	future := now.Add(time.Hour)

	if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, forger, claimsFor("x", future))); err == nil {
		t.Fatal("forged token accepted")
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("first verify fetched %d times, want 1", n)
	}
	current = pub2 // the server rotated its key
	now = now.Add(2 * time.Minute)
	if _, err := v.Verify(ctx, sign(t, jwt.SigningMethodRS256, key2, claimsFor("x", future))); err != nil {
		t.Fatalf("token of the new key rejected: %v", err)
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("fetches after rotation = %d, want 2", n)
	}
	for range 50 {
		_, _ = v.Verify(ctx, sign(t, jwt.SigningMethodRS256, forger, claimsFor("x", future)))
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("forged tokens caused %d fetches, want none beyond 2", n)
	}
}

func TestRequireMiddleware(t *testing.T) {
	key, pub := newKey(t)
	v, err := NewVerifierWithKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	h := v.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := CallerFrom(r.Context())
		if !ok {
			t.Error("no caller in context")
			return
		}
		w.Write([]byte(c.Slug))
	}))
	do := func(tok string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/x-svc/hi", nil)
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do(""); w.Code != 401 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("no token: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if w := do(sign(t, jwt.SigningMethodRS256, key, claimsFor("caller-svc", time.Now().Add(time.Hour)))); w.Code != 200 || w.Body.String() != "caller-svc" {
		t.Fatalf("good token: %d %q", w.Code, w.Body.String())
	}

	down := &Verifier{fetch: func(context.Context) (string, error) { return "", errors.New("down") },
		RefetchEvery: time.Minute, now: time.Now}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer a.b.c")
	down.Require(http.NotFoundHandler()).ServeHTTP(w, r)
	if w.Code != 503 {
		t.Fatalf("key unavailable: %d, want 503", w.Code)
	}
}
