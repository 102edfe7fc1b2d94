package user_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/store/bolt"
	"github.com/ooctl/oo/server/user"
)

// tokenParts are the pieces a token template is made of: {T} is the one live token; the others
// are parts of it and tokens that must never be accepted.
type tokenParts map[string]string

func (tp tokenParts) expand(template string) string {
	args := make([]string, 0, 2*len(tp))
	for k, v := range tp {
		args = append(args, "{"+k+"}", v)
	}
	return strings.NewReplacer(args...).Replace(template)
}

func signClaims(f *testing.F, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// fuzzTokens sets up a user service on a real store at a fixed time with one live token, and
// builds the parts: the live token split in three ({H}.{P}.{S}; {S-}, its signature without
// the last character; {S~}, its signature with the last character's unused low bit flipped), a revoked token {R}, and tokens signed by the server's own key that are
// expired {E}, name an unknown token id {U}, or another user for the live id {W}; forged ones
// signed by another key {F}, with HS256 keyed by the public key {A}, and alg none {N}.
func fuzzTokens(f *testing.F) (*user.Service, tokenParts, auth.Principal) {
	st, err := bolt.Open(filepath.Join(f.TempDir(), "oo.db"), bolt.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	svc, err := user.New(st, user.Options{TokenTTL: time.Hour, AdminPassword: adminPW, BcryptCost: bcrypt.MinCost,
		Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	live, err := svc.Register(api.RegisterRequest{Slug: "fuzz-svc", Password: "fuzz-svc-password"})
	if err != nil {
		f.Fatal(err)
	}
	p, err := svc.Authenticate(live.Token)
	if err != nil {
		f.Fatal(err)
	}
	revoked, err := svc.Login(api.LoginRequest{Slug: "fuzz-svc", Password: "fuzz-svc-password"})
	if err != nil {
		f.Fatal(err)
	}
	rp, err := svc.Authenticate(revoked.Token)
	if err != nil {
		f.Fatal(err)
	}
	if err := svc.RevokeToken(rp); err != nil {
		f.Fatal(err)
	}

	// The server's signing key, as user.New stored it ("signingKey" in the meta bucket).
	raw, err := st.GetMeta("signingKey")
	if err != nil {
		f.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		f.Fatal(err)
	}
	key := k.(*rsa.PrivateKey)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	claims := func(userID, jti string, exp time.Time) jwt.MapClaims {
		return jwt.MapClaims{"oui": userID, "olu": p.Slug, "ori": p.Roles, "jti": jti, "iat": now.Unix(), "exp": exp.Unix()}
	}
	admin := jwt.MapClaims{"oui": p.UserID, "olu": "admin", "ori": []string{api.RoleUser, api.RoleAdmin}, "jti": p.TokenID,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	parts := strings.Split(live.Token, ".")
	tp := tokenParts{
		"T": live.Token, "H": parts[0], "P": parts[1], "S": parts[2], "S-": parts[2][:len(parts[2])-1],
		"S~": parts[2][:len(parts[2])-1] + flipLowBit(parts[2][len(parts[2])-1:]),
		"R":  revoked.Token,
		"E":  signClaims(f, jwt.SigningMethodRS256, key, claims(p.UserID, p.TokenID, now.Add(-time.Second))),
		"U":  signClaims(f, jwt.SigningMethodRS256, key, claims(p.UserID, "tok_unknown", now.Add(time.Hour))),
		"W":  signClaims(f, jwt.SigningMethodRS256, key, claims("usr_other", p.TokenID, now.Add(time.Hour))),
		"F":  signClaims(f, jwt.SigningMethodRS256, other, admin),
		"A":  signClaims(f, jwt.SigningMethodHS256, []byte(svc.PublicKeyPEM()), admin),
		"N":  signClaims(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, admin),
	}
	return svc, tp, p
}

// flipLowBit changes one base64url character to the one whose 6-bit value differs in the
// lowest bit: an RS256 signature is 256 bytes, so the last character's 4 low bits are unused.
func flipLowBit(c string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c[0])
	return string(alphabet[i^1])
}

// FuzzAuthenticate: of everything built from the parts of tokens, exactly the live token as
// issued is accepted, as its owner; every other string is a 401. A second spelling of the live
// token (say, different base64 padding bits) is refused too: a token is one string, so that
// whatever a client or service keys on it cannot be sidestepped.
func FuzzAuthenticate(f *testing.F) {
	svc, tp, want := fuzzTokens(f)
	f.Fuzz(func(t *testing.T, template string) {
		tok := tp.expand(template)
		got, err := svc.Authenticate(tok)
		if err != nil {
			if apierr.Status(err) != 401 {
				t.Fatalf("Authenticate(%q): %v is HTTP %d, want 401", template, err, apierr.Status(err))
			}
			return
		}
		if tok != tp["T"] {
			t.Fatalf("Authenticate accepted %q (from %q), which is not the issued token %q", tok, template, tp["T"])
		}
		if got.UserID != want.UserID || got.Slug != want.Slug || got.TokenID != want.TokenID || !slices.Equal(got.Roles, want.Roles) {
			t.Fatalf("Authenticate(live token) = %+v, want %+v", got, want)
		}
	})
}
