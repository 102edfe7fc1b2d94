package sdk

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"
)

// TestTokensRenewAThirdIntoTheirLife, on an injected clock: a token is kept until a third of
// its life has passed since it arrived, then renewed; a refused token is renewed at once; a
// refusal of a token already replaced changes nothing.
func TestTokensRenewAThirdIntoTheirLife(t *testing.T) {
	mk := func(iat int64) string {
		claims := fmt.Sprintf(`{"iat":%d,"exp":%d}`, iat, iat+90)
		return "e30." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".sig"
	}
	now := time.Unix(1000, 0)
	renewals := 0
	tk := &Tokens{now: func() time.Time { return now }, renew: func(context.Context) (string, error) {
		renewals++
		return mk(now.Unix()), nil
	}}
	tk.set(mk(1000)) // lives 90 s: due 30 s after it arrived
	ctx := context.Background()
	first := tk.Current()

	now = now.Add(29 * time.Second)
	if tok, err := tk.Token(ctx); err != nil || tok != first || renewals != 0 {
		t.Fatalf("at 29 s: renewed early (%d renewals, err %v)", renewals, err)
	}
	now = now.Add(2 * time.Second)
	second, err := tk.Token(ctx)
	if err != nil || second == first || renewals != 1 {
		t.Fatalf("at 31 s: not renewed (%d renewals, err %v)", renewals, err)
	}
	tk.Refused(first) // an old token: nothing to do
	if tok, _ := tk.Token(ctx); tok != second || renewals != 1 {
		t.Fatalf("a refusal of a replaced token renewed again (%d renewals)", renewals)
	}
	now = now.Add(time.Second)
	tk.Refused(second)
	if tok, _ := tk.Token(ctx); tok == second || renewals != 2 {
		t.Fatalf("a refused current token was not renewed (%d renewals)", renewals)
	}
	if FixedToken("x").CanRenew() || !TokenFile("/nonexistent").CanRenew() || !tk.CanRenew() {
		t.Error("CanRenew")
	}
}
