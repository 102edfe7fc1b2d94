package cmdutil

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ooctl/oo/pkg/api"
)

// Claims are the parts of an oo token the CLI shows.
type Claims struct {
	UserID    string    `json:"userId"`
	Slug      string    `json:"slug"`
	Roles     []string  `json:"roles"`
	TokenID   string    `json:"tokenId"`
	IssuedAt  time.Time `json:"issuedAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

type ooClaims struct {
	api.TokenClaims
	jwt.RegisteredClaims
}

func (c *ooClaims) claims() *Claims {
	out := &Claims{UserID: c.UserID, Slug: c.Slug, Roles: c.Roles, TokenID: c.ID}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time
	}
	if c.ExpiresAt != nil {
		out.ExpiresAt = c.ExpiresAt.Time
	}
	return out
}

// ParseClaims reads a token's claims WITHOUT checking its signature: for messages only (which
// slug, when it expires), never for a decision that grants anything.
func ParseClaims(token string) (*Claims, error) {
	c := &ooClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, c); err != nil {
		return nil, err
	}
	return c.claims(), nil
}

// ErrTokenExpired is returned by VerifyToken for a well-signed token past its expiry.
var ErrTokenExpired = errors.New("token expired")

// VerifyToken checks the token's RS256 signature with the server's public key (PKIX PEM) and
// its expiry at now, and returns its claims.
func VerifyToken(token, publicKeyPEM string, now time.Time) (*Claims, error) {
	key, err := jwt.ParseRSAPublicKeyFromPEM([]byte(publicKeyPEM))
	if err != nil {
		return nil, fmt.Errorf("the server's public key: %w", err)
	}
	c := &ooClaims{}
	_, err = jwt.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return (*rsa.PublicKey)(key), nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }))
	if errors.Is(err, jwt.ErrTokenExpired) {
		return c.claims(), ErrTokenExpired
	}
	if err != nil {
		return nil, err
	}
	return c.claims(), nil
}
