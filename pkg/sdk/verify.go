package sdk

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
)

// Caller is who a verified bearer token says the caller is.
type Caller struct {
	UserID    string
	Slug      string
	Roles     []string
	TokenID   string
	ExpiresAt time.Time
	Token     string // the raw bearer token, to pass on when calling further services
}

// HasRole reports whether the caller holds role, e.g. api.RoleAdmin.
func (c *Caller) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

// IsAdmin reports whether the caller holds the admin role.
func (c *Caller) IsAdmin() bool { return c.HasRole(api.RoleAdmin) }

// ErrNoToken means the request carried no bearer token.
var ErrNoToken = errors.New("no bearer token")

// ErrKeyUnavailable means the server's public key could not be fetched, so no token can be
// judged either way.
var ErrKeyUnavailable = errors.New("the oo server's public key is unavailable")

// Verifier checks oo tokens offline: RS256 signature with the server's public key, expiry, and
// the presence of the slug claim. The key is fetched once and cached; a token whose signature
// does not match is retried once against a freshly fetched key (the server may have a new key),
// but no more often than every RefetchEvery so forged tokens cannot make the service hammer the
// server.
//
// Offline checks cannot see revocation: a token revoked on the server stays valid here until
// it expires. A service that must honour logout at once asks the server instead
// (client.Whoami with the caller's token).
type Verifier struct {
	fetch        func(ctx context.Context) (string, error)
	RefetchEvery time.Duration // default one minute
	Leeway       time.Duration // clock skew allowed on expiry; default 5 s
	now          func() time.Time

	mu        sync.Mutex
	key       *rsa.PublicKey
	fetchedAt time.Time
}

// NewVerifier returns a verifier that fetches the public key from c's server.
func NewVerifier(c *client.Client) *Verifier {
	return &Verifier{fetch: c.PublicKey, RefetchEvery: time.Minute, Leeway: 5 * time.Second, now: time.Now}
}

// NewVerifierWithKey returns a verifier for a fixed PEM public key, for tests and for services
// that are given the key rather than fetching it.
func NewVerifierWithKey(pemKey string) (*Verifier, error) {
	key, err := jwt.ParseRSAPublicKeyFromPEM([]byte(pemKey))
	if err != nil {
		return nil, fmt.Errorf("parsing the public key: %w", err)
	}
	return &Verifier{
		fetch:        func(context.Context) (string, error) { return pemKey, nil },
		RefetchEvery: time.Minute, Leeway: 5 * time.Second, now: time.Now,
		key: key, fetchedAt: time.Now(),
	}, nil
}

type ooClaims struct {
	api.TokenClaims
	jwt.RegisteredClaims
}

// currentKey returns the cached key, fetching it when there is none or when refresh is asked
// and the last fetch is old enough. It reports whether the key changed.
func (v *Verifier) currentKey(ctx context.Context, refresh bool) (*rsa.PublicKey, bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.key != nil && (!refresh || v.now().Sub(v.fetchedAt) < v.RefetchEvery) {
		return v.key, false, nil
	}
	// Holding the lock while fetching makes concurrent requests share one fetch.
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pemKey, err := v.fetch(fctx)
	if err != nil {
		if v.key != nil {
			return v.key, false, nil
		}
		return nil, false, fmt.Errorf("%w: %v", ErrKeyUnavailable, err)
	}
	key, err := jwt.ParseRSAPublicKeyFromPEM([]byte(pemKey))
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrKeyUnavailable, err)
	}
	changed := v.key == nil || !v.key.Equal(key)
	v.key, v.fetchedAt = key, v.now()
	return key, changed, nil
}

// Verify checks token and returns its caller.
func (v *Verifier) Verify(ctx context.Context, token string) (*Caller, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	key, _, err := v.currentKey(ctx, false)
	if err != nil {
		return nil, err
	}
	c, err := v.parse(token, key)
	if err != nil && errors.Is(err, jwt.ErrTokenSignatureInvalid) && isRS256(token) {
		key2, changed, kerr := v.currentKey(ctx, true)
		if kerr == nil && changed {
			c, err = v.parse(token, key2)
		}
	}
	return c, err
}

func (v *Verifier) parse(token string, key *rsa.PublicKey) (*Caller, error) {
	// A token is one exact string, as on the server: base64 decoding would otherwise skip CR/LF
	// and ignore the unused low bits of the last character.
	if strings.Trim(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != "" {
		return nil, errors.New("invalid token: not a JWT")
	}
	var cl ooClaims
	_, err := jwt.ParseWithClaims(token, &cl, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithStrictDecoding(),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(v.Leeway),
		jwt.WithTimeFunc(v.now),
	)
	if err != nil {
		return nil, fmt.Errorf("invalid token: %w", err)
	}
	if cl.Slug == "" {
		return nil, errors.New("invalid token: no slug claim")
	}
	c := &Caller{UserID: cl.UserID, Slug: cl.Slug, Roles: cl.Roles, TokenID: cl.ID, Token: token}
	if cl.ExpiresAt != nil {
		c.ExpiresAt = cl.ExpiresAt.Time
	}
	return c, nil
}

// isRS256 reads the token's header, so that a token signed some other way never triggers a
// key fetch.
func isRS256(token string) bool {
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	return err == nil && tok.Method != nil && tok.Method.Alg() == jwt.SigningMethodRS256.Alg()
}

// VerifyRequest verifies the request's "Authorization: Bearer" token.
func (v *Verifier) VerifyRequest(r *http.Request) (*Caller, error) {
	return v.Verify(r.Context(), BearerToken(r))
}

// BearerToken returns the request's bearer token, or "".
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

type callerKey struct{}

// ContextWithCaller returns ctx carrying c.
func ContextWithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller that Require put in the request's context.
func CallerFrom(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok && c != nil
}

// Require is middleware that lets only requests with a valid token through, with their Caller
// in the context. Others get 401 (503 when the key cannot be fetched) with a JSON error in the
// API's {"error": "..."} shape.
func (v *Verifier) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := v.VerifyRequest(r)
		if err != nil {
			status := http.StatusUnauthorized
			if errors.Is(err, ErrKeyUnavailable) {
				status = http.StatusServiceUnavailable
			} else {
				w.Header().Set("WWW-Authenticate", `Bearer realm="oo"`)
			}
			writeJSONError(w, status, err.Error())
			return
		}
		next.ServeHTTP(w, r.WithContext(ContextWithCaller(r.Context(), c)))
	})
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorResponse{Error: msg})
}
