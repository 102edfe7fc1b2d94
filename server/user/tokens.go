package user

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/store"
)

// metaSigningKey holds the PKCS#8 PEM of the RSA key that signs tokens.
const metaSigningKey = "signingKey"

// pruneEvery bounds how often issuing a token also sweeps expired ones from disk and memory:
// often enough that the set stays small, rarely enough that logins do not pay for a scan.
const pruneEvery = 10 * time.Minute

// Claims is the payload of an oo token: oo's claims (named in pkg/api, the wire contract with
// services that verify tokens offline) and the registered ones.
type Claims struct {
	api.TokenClaims
	jwt.RegisteredClaims
}

// activeToken is what the in-memory set knows about a live token.
type activeToken struct {
	userID    string
	expiresAt time.Time
}

// loadOrCreateKey returns the persisted signing key, making and storing one on first boot.
func loadOrCreateKey(st store.Meta) (*rsa.PrivateKey, error) {
	raw, err := st.GetMeta(metaSigningKey)
	if errors.Is(err, store.ErrNotFound) {
		key, gerr := rsa.GenerateKey(rand.Reader, 2048)
		if gerr != nil {
			return nil, fmt.Errorf("generate signing key: %w", gerr)
		}
		der, merr := x509.MarshalPKCS8PrivateKey(key)
		if merr != nil {
			return nil, merr
		}
		// If another goroutine stored a key first, use that one: every token must verify with
		// the key that is on disk.
		raw, err = st.PutMetaIfAbsent(metaSigningKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("stored signing key is not PEM")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse stored signing key: %w", err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("stored signing key is %T, not RSA", parsed)
	}
	return key, nil
}

func publicKeyPEM(key *rsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// PublicKeyPEM is the PKIX PEM of the key that signs tokens.
func (s *Service) PublicKeyPEM() string { return s.publicPEM }

// loadActive fills the in-memory set from the store, dropping tokens that expired while the
// server was down.
func (s *Service) loadActive() error {
	if _, err := s.st.DeleteExpiredTokens(s.now()); err != nil {
		return fmt.Errorf("prune expired tokens: %w", err)
	}
	recs, err := s.st.ListTokens()
	if err != nil {
		return fmt.Errorf("load tokens: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range recs {
		s.active[t.ID] = activeToken{userID: t.UserID, expiresAt: t.ExpiresAt}
	}
	s.lastPrune = s.now()
	return nil
}

// newToken signs a token for u without recording it.
func (s *Service) newToken(u store.UserRecord) (api.AuthToken, store.TokenRecord, error) {
	// JWT times have one-second resolution; truncating keeps the record and the claims equal.
	now := s.now().UTC().Truncate(time.Second)
	rec := store.TokenRecord{ID: newID("tok_"), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.opts.TokenTTL)}
	claims := Claims{
		TokenClaims: api.TokenClaims{UserID: u.ID, Slug: u.Slug, Roles: append([]string(nil), u.Roles...)},
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        rec.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(rec.ExpiresAt),
		},
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(s.key)
	if err != nil {
		return api.AuthToken{}, store.TokenRecord{}, fmt.Errorf("sign token: %w", err)
	}
	return api.AuthToken{
		ID: rec.ID, UserID: u.ID, Token: signed, Active: true,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: rec.ExpiresAt,
	}, rec, nil
}

// issue signs, records (committed before it returns) and activates a token for u.
func (s *Service) issue(u store.UserRecord) (api.AuthToken, error) {
	tok, rec, err := s.newToken(u)
	if err != nil {
		return api.AuthToken{}, err
	}
	defer s.lockWrites()()
	if err := s.st.PutToken(rec); err != nil {
		return api.AuthToken{}, fmt.Errorf("record token: %w", err)
	}
	s.activate(rec)
	s.maybePrune()
	return tok, nil
}

// lockWrites takes writeMu, which orders token writes with the active set, and returns its
// unlock. With a shared store it takes nothing: the set follows the store's watch there (see
// activate and deactivate), and holding a lock across an etcd round trip would queue every
// token write behind the slowest, for seconds when etcd is down.
func (s *Service) lockWrites() func() {
	if s.opts.Shared != nil {
		return func() {}
	}
	s.writeMu.Lock()
	return s.writeMu.Unlock
}

// activate adds a token this replica has just stored. With a shared store it does nothing: a
// late local add could undo a revocation the watch has already applied, so the token enters
// memory from the watch, or on first use from a revision-guarded read (lookupShared).
func (s *Service) activate(rec store.TokenRecord) {
	if s.opts.Shared != nil {
		return
	}
	s.mu.Lock()
	s.active[rec.ID] = activeToken{userID: rec.UserID, expiresAt: rec.ExpiresAt}
	s.mu.Unlock()
}

// deactivate drops tokens this replica has just revoked in the store. With a shared store each
// also leaves a tombstone until the watch reports the deletion, so that a put of the same token
// still on its way through the watch cannot bring it back.
func (s *Service) deactivate(ids ...string) {
	s.mu.Lock()
	for _, id := range ids {
		delete(s.active, id)
		if s.opts.Shared != nil {
			s.tomb[id] = true
		}
	}
	s.mu.Unlock()
}

// maybePrune sweeps expired tokens at most every pruneEvery; a sweep already running is not
// waited for. A failed sweep is only logged: expired tokens are refused by their exp claim
// anyway.
func (s *Service) maybePrune() {
	if !s.pruneMu.TryLock() {
		return
	}
	defer s.pruneMu.Unlock()
	now := s.now()
	if now.Sub(s.lastPrune) < pruneEvery {
		return
	}
	s.lastPrune = now
	ids, err := s.st.DeleteExpiredTokens(now)
	if err != nil {
		s.log.Warn("pruning expired tokens", "err", err)
		return
	}
	s.deactivate(ids...)
	// Also drop memory-only leftovers, e.g. a token whose disk delete raced a restart.
	s.mu.Lock()
	for id, t := range s.active {
		if !t.expiresAt.After(now) {
			delete(s.active, id)
		}
	}
	s.mu.Unlock()
}

// ActiveTokens is the size of the in-memory active set (for tests and metrics).
func (s *Service) ActiveTokens() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.active)
}

// Authenticate verifies a bearer token: RS256 signature by this server's key, expiry, and that
// its id is still active. It reads only memory, so it is cheap enough for every request.
//
// With a shared store (Options.Shared), a token that verifies but that memory does not know is
// looked up in the store once (see Shared); AuthenticateLocal never does.
func (s *Service) Authenticate(token string) (auth.Principal, error) {
	return s.authenticate(token, s.opts.Shared != nil)
}

// AuthenticateLocal is Authenticate from memory only: the proxy's hot path, which must not
// wait for the store on any request. A token issued on another replica is known here once the
// watch delivers it, milliseconds later.
func (s *Service) AuthenticateLocal(token string) (auth.Principal, error) {
	return s.authenticate(token, false)
}

func (s *Service) authenticate(token string, lookup bool) (auth.Principal, error) {
	if token == "" {
		return auth.Principal{}, apierr.Unauthorized("missing bearer token: send the header \"Authorization: Bearer TOKEN\" (log in to get a token)")
	}
	// A token is one exact string: base64 decoding would otherwise skip CR/LF and ignore the
	// unused low bits of the last character, so several strings would pass for one token.
	if !jwtAlphabet(token) {
		return auth.Principal{}, apierr.Unauthorized("malformed token: not a JWT")
	}
	if p, ok, err := s.cached(token); ok {
		if err == errRevoked && lookup {
			err = s.lookupShared(p)
		}
		if err != nil {
			return auth.Principal{}, err
		}
		return p, nil
	}
	var c Claims
	parsed, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithTimeFunc(s.now),
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(),
	)
	if err != nil {
		return auth.Principal{}, tokenError(parsed, err)
	}
	if c.ID == "" || c.UserID == "" {
		return auth.Principal{}, apierr.Unauthorized("invalid token: it carries no token or user id")
	}
	p := auth.Principal{
		UserID: c.UserID, Slug: c.Slug, Roles: c.Roles, TokenID: c.ID, ExpiresAt: c.ExpiresAt.Time,
	}
	s.mu.RLock()
	t, ok := s.active[c.ID]
	s.mu.RUnlock()
	if !ok || t.userID != c.UserID {
		if !lookup {
			return auth.Principal{}, errRevoked
		}
		if err := s.lookupShared(p); err != nil {
			return auth.Principal{}, err
		}
	}
	s.mu.Lock()
	if len(s.verified) >= maxVerified {
		clear(s.verified) // crude, but a refill costs one verification per live token
	}
	s.verified[token] = p
	s.mu.Unlock()
	return p, nil
}

// maxVerified bounds the verified-token cache. Only tokens that verified and are active enter
// it, so filling it takes as many logins.
const maxVerified = 4096

// cached answers for a token whose signature was verified before: ok is false when it was not,
// and then err means nothing. Expiry and revocation are checked as on the slow path. The
// principal's Roles are shared between callers, which only read them.
func (s *Service) cached(token string) (p auth.Principal, ok bool, err error) {
	s.mu.RLock()
	p, ok = s.verified[token]
	t, active := s.active[p.TokenID]
	s.mu.RUnlock()
	switch {
	case !ok:
		return auth.Principal{}, false, nil
	case !s.now().Before(p.ExpiresAt):
		return auth.Principal{}, true, apierr.Unauthorized("token has expired; log in again")
	case !active || t.userID != p.UserID:
		return p, true, errRevoked // p: the caller may look it up in a shared store
	}
	return p, true, nil
}

// jwtAlphabet reports whether token holds only what a compact JWT may: base64url and dots.
func jwtAlphabet(token string) bool {
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

var errRevoked = apierr.Unauthorized("token has been revoked (logged out, refreshed or password changed); log in again")

// tokenError turns a jwt parse error into a 401 that says what was wrong with the token.
func tokenError(t *jwt.Token, err error) error {
	switch {
	case t != nil && t.Method != nil && t.Method.Alg() != jwt.SigningMethodRS256.Alg():
		return apierr.Unauthorized("invalid token: signed with alg %q; only RS256 is accepted", t.Method.Alg())
	case errors.Is(err, jwt.ErrTokenExpired):
		return apierr.Unauthorized("token has expired; log in again")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return apierr.Unauthorized("invalid token: signature does not verify with this server's key")
	case errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return apierr.Unauthorized("invalid token: %s (only RS256 tokens issued by this server are accepted)", err.Error())
	case errors.Is(err, jwt.ErrTokenMalformed):
		return apierr.Unauthorized("malformed token: not a JWT")
	}
	return apierr.Unauthorized("invalid token: %s", err.Error())
}
