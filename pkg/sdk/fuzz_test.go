package sdk

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ooctl/oo/pkg/api"
)

// FuzzVerify is the offline twin of the server's FuzzAuthenticate: from the parts of one valid
// token ({T} = {H}.{P}.{S}; {S~} is its signature with an unused bit of the last character
// flipped) and of tokens that must fail (expired {E}, no slug {Z}, another key {F}, HS256 keyed
// by the public key {A}, alg none {N}), only the valid token as issued verifies, as its caller.
func FuzzVerify(f *testing.F) {
	key, pub := newKey(f)
	v, err := NewVerifierWithKey(pub)
	if err != nil {
		f.Fatal(err)
	}
	other, _ := newKey(f)
	now := time.Now()
	claims := func(slug string, exp time.Time) jwt.MapClaims {
		return jwt.MapClaims{"oui": "usr_1", "olu": slug, "ori": []string{api.RoleUser}, "jti": "tok_1", "iat": now.Unix(), "exp": exp.Unix()}
	}
	admin := claims("admin", now.Add(time.Hour))
	admin["ori"] = []string{api.RoleUser, api.RoleAdmin}
	live := sign(f, jwt.SigningMethodRS256, key, claims("fuzz-svc", now.Add(time.Hour)))
	p := strings.Split(live, ".")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, p[2][len(p[2])-1])
	parts := strings.NewReplacer(
		"{T}", live, "{H}", p[0], "{P}", p[1], "{S}", p[2],
		"{S~}", p[2][:len(p[2])-1]+string(alphabet[last^1]),
		"{E}", sign(f, jwt.SigningMethodRS256, key, claims("fuzz-svc", now.Add(-time.Minute))),
		"{Z}", sign(f, jwt.SigningMethodRS256, key, claims("", now.Add(time.Hour))),
		"{F}", sign(f, jwt.SigningMethodRS256, other, admin),
		"{A}", sign(f, jwt.SigningMethodHS256, []byte(pub), admin),
		"{N}", sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, admin),
	)
	f.Fuzz(func(t *testing.T, template string) {
		tok := parts.Replace(template)
		c, err := v.Verify(context.Background(), tok)
		if err != nil {
			return
		}
		if tok != live {
			t.Fatalf("Verify accepted %q (from %q), which is not the issued token", tok, template)
		}
		if c.Slug != "fuzz-svc" || c.UserID != "usr_1" || c.TokenID != "tok_1" || !slices.Equal(c.Roles, []string{api.RoleUser}) {
			t.Fatalf("Verify(live token) = %+v", c)
		}
	})
}
