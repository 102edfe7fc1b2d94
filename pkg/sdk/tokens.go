package sdk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

// EnvTokenFile names a file holding the service's current token. `oo service run` keeps it
// fresh for its program (it logs in again before the token expires), so a program that reads
// it before each call, or again when a call is answered 401, never runs on a dead token.
const EnvTokenFile = api.EnvTokenFile

// Tokens keeps a service's bearer token usable for as long as the service runs. A token it can
// renew (it knows how to log in again) is renewed a third of the way through its life and whenever the
// server refuses it; a token file is read again on every use; a fixed token stays as it is.
// Its methods are safe for concurrent use.
type Tokens struct {
	renew func(context.Context) (string, error) // nil: the token cannot be renewed here
	file  string                                // read on every Token when set

	renewMu sync.Mutex // one renewal at a time; the others wait for its result

	mu       sync.Mutex
	tok      string
	renewAt  time.Time // zero: never renewed on schedule
	refused  bool
	onChange []func(string)
	now      func() time.Time
}

// FixedToken is a token nothing here can renew (WithToken, or OO_TOKEN alone).
func FixedToken(tok string) *Tokens { return &Tokens{tok: tok, now: time.Now} }

// TokenFile reads the token from path on every use (OO_TOKEN_FILE).
func TokenFile(path string) *Tokens { return &Tokens{file: path, now: time.Now} }

// RenewingToken starts from tok ("" to log in at first use) and gets a new one from renew,
// typically a login with the stored password, a third of the way through each token's life and whenever
// the server refuses the current one.
func RenewingToken(tok string, renew func(context.Context) (string, error)) *Tokens {
	t := &Tokens{renew: renew, now: time.Now}
	t.set(tok)
	return t
}

// CanRenew reports whether a refused or expired token can be replaced.
func (t *Tokens) CanRenew() bool { return t.renew != nil || t.file != "" }

// OnChange calls f with every new token (to hand it on, e.g. to a program's token file).
func (t *Tokens) OnChange(f func(string)) {
	t.mu.Lock()
	t.onChange = append(t.onChange, f)
	t.mu.Unlock()
}

// Current is the token as it is now, without renewing it.
func (t *Tokens) Current() string {
	if t.file != "" {
		if tok, ok := t.readFile(); ok {
			return tok
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tok
}

// Token returns a token to send now, renewing it first when it is due or was refused.
func (t *Tokens) Token(ctx context.Context) (string, error) {
	if t.renew == nil {
		return t.Current(), nil
	}
	t.mu.Lock()
	due := t.tok == "" || t.refused || (!t.renewAt.IsZero() && !t.now().Before(t.renewAt))
	tok := t.tok
	t.mu.Unlock()
	if !due {
		return tok, nil
	}
	return t.renewNow(ctx, tok)
}

// Refused tells t that the server answered 401 to tok: the next Token gets a new one if it can.
func (t *Tokens) Refused(tok string) {
	t.mu.Lock()
	if tok == t.tok {
		t.refused = true
	}
	t.mu.Unlock()
}

// renewNow renews unless another caller already replaced old meanwhile.
func (t *Tokens) renewNow(ctx context.Context, old string) (string, error) {
	t.renewMu.Lock()
	defer t.renewMu.Unlock()
	t.mu.Lock()
	if t.tok != old && !t.refused {
		tok := t.tok
		t.mu.Unlock()
		return tok, nil
	}
	t.mu.Unlock()
	tok, err := t.renew(ctx)
	if err != nil {
		return "", err
	}
	t.set(tok)
	return tok, nil
}

// set installs tok and schedules its renewal a third of the way through its life, measured on
// this machine's clock from now so that a skewed server clock does not matter. (A third, not a
// half: token times have one-second resolution, so a short-lived token may have lost up to a
// second of its life before it arrives.)
func (t *Tokens) set(tok string) {
	t.mu.Lock()
	changed := tok != t.tok
	t.tok, t.refused, t.renewAt = tok, false, time.Time{}
	if iat, exp := tokenTimes(tok); !exp.IsZero() && exp.After(iat) {
		t.renewAt = t.now().Add(exp.Sub(iat) / 3)
	}
	hooks := append([]func(string){}, t.onChange...)
	t.mu.Unlock()
	if changed && tok != "" {
		for _, f := range hooks {
			f(tok)
		}
	}
}

// KeepFresh renews the token on schedule until ctx ends, so that whoever holds a copy of it (a
// program reading the token file) never holds an expired one. A failed renewal is retried
// with backoff; report (may be nil) hears of failures and of the first success after them.
func (t *Tokens) KeepFresh(ctx context.Context, report func(error)) {
	if t.renew == nil {
		return
	}
	retry := time.Second
	failing := false
	for {
		t.mu.Lock()
		wait := time.Until(t.renewAt)
		if t.renewAt.IsZero() {
			wait = time.Hour // a token without an expiry is renewed only when refused
		}
		if t.refused || t.tok == "" {
			wait = 0
		}
		t.mu.Unlock()
		if failing {
			wait = retry
		}
		timer := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		_, err := t.Token(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing && report != nil {
				report(err)
			}
			failing = true
			retry = min(retry*2, 30*time.Second)
		case err == nil && failing:
			if report != nil {
				report(nil)
			}
			failing, retry = false, time.Second
		}
	}
}

func (t *Tokens) readFile() (string, bool) {
	raw, err := os.ReadFile(t.file)
	tok := strings.TrimSpace(string(raw))
	if err != nil || tok == "" {
		return "", false
	}
	return tok, true
}

// tokenTimes reads when a token was issued and expires, without verifying it: only to plan
// its renewal. The server decides whether it is valid.
func tokenTimes(tok string) (iat, exp time.Time) {
	var c struct {
		IssuedAt  int64 `json:"iat"`
		ExpiresAt int64 `json:"exp"`
	}
	if peekClaims(tok, &c) != nil || c.ExpiresAt == 0 {
		return time.Time{}, time.Time{}
	}
	return time.Unix(c.IssuedAt, 0), time.Unix(c.ExpiresAt, 0)
}

// peekClaims decodes a JWT's claims into v without verifying the signature.
func peekClaims(tok string, v any) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}
