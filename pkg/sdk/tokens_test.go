package sdk

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// shortTokens runs a server whose tokens live 3 s, with probing off.
func shortTokens(t *testing.T) *servertest.Server {
	t.Helper()
	return servertest.Start(t, func(c *server.Config) {
		c.ProbeInterval = -1
		c.TokenTTL = 3 * time.Second
	})
}

// TestStartRenewsTokenBeforeItExpires: with beats far apart, only a renewal on schedule keeps
// the service's token alive; once the first token has expired, the service can still call the
// server and deregisters with a valid token.
func TestStartRenewsTokenBeforeItExpires(t *testing.T) {
	cleanEnv(t)
	srv := shortTokens(t)
	svc, err := Start(context.Background(), "renew-svc", WithServerURL(srv.URL), WithHeartbeat(time.Minute, 3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(); svc.Listener().Close() })
	first := svc.Token()
	_, exp := tokenTimes(first)
	if exp.IsZero() {
		t.Fatalf("token without an expiry: %q", first)
	}
	waitFor(t, 15*time.Second, "the first token to expire", func() bool { return time.Now().After(exp.Add(500 * time.Millisecond)) })

	if svc.Token() == first {
		t.Fatal("the token was not renewed")
	}
	if _, err := svc.Client().Whoami(context.Background()); err != nil {
		t.Fatalf("calling the server after the first token expired: %v", err)
	}
	closeDeregisters(t, srv, svc)
}

// TestStartReadsTokenFile: with OO_TOKEN_FILE (what `oo service run` passes) the service reads
// its token from the file on every use, so a token replaced there and revoked on the server
// does not stop its heartbeats or its deregistration.
func TestStartReadsTokenFile(t *testing.T) {
	cleanEnv(t)
	srv := startServer(t)
	const pw = "file-svc-password"
	old := srv.Register(t, "file-svc", pw)
	path := filepath.Join(t.TempDir(), "token")
	writeToken := func(tok string) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	writeToken(old)
	t.Setenv(EnvTokenFile, path)

	svc, err := Start(context.Background(), "file-svc", WithServerURL(srv.URL), WithHeartbeat(100*time.Millisecond, 3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(); svc.Listener().Close() })

	next := srv.Login(t, "file-svc", pw)
	writeToken(next)
	if err := client.New(srv.URL, client.WithToken(old)).RevokeToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	waitFor(t, 10*time.Second, "a heartbeat after the old token was revoked", func() bool {
		list := instancesOf(t, srv, "file-svc")
		return len(list) == 1 && list[0].Status == api.StatusHealthy && list[0].LastHeartbeat != nil && list[0].LastHeartbeat.After(revoked.Add(time.Second))
	})
	if svc.Token() != next {
		t.Errorf("Token() is not the file's token")
	}
	closeDeregisters(t, srv, svc)
}

// closeDeregisters closes svc and checks that no instance of it is left.
func closeDeregisters(t *testing.T, srv *servertest.Server, svc *Service) {
	t.Helper()
	if err := svc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if list := instancesOf(t, srv, svc.Slug()); len(list) != 0 {
		t.Fatalf("instances left after Close: %+v", list)
	}
}

// TestLeaseReplacesRevokedToken: a token revoked on the server (a logout elsewhere) is replaced
// by one new login, and the beat that met the 401 still succeeds; so does the deregistration.
func TestLeaseReplacesRevokedToken(t *testing.T) {
	cleanEnv(t)
	srv := startServer(t)
	const pw = "lease-svc-password"
	first := srv.Register(t, "lease-svc", pw)
	base := client.New(srv.URL)
	var logins atomic.Int32
	tokens := RenewingToken(first, func(ctx context.Context) (string, error) {
		logins.Add(1)
		tok, err := base.Login(ctx, "lease-svc", pw)
		if err != nil {
			return "", err
		}
		return tok.Token, nil
	})
	l := &Lease{Client: base, Tokens: tokens, Slug: "lease-svc", URL: "http://127.0.0.1:9", TTL: time.Minute}
	ctx := context.Background()
	if err := l.Register(ctx); err != nil {
		t.Fatal(err)
	}
	if err := base.WithToken(first).RevokeToken(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Beat(ctx); err != nil {
		t.Fatalf("beat after the token was revoked: %v", err)
	}
	if tokens.Current() == first || logins.Load() != 1 {
		t.Fatalf("token replaced: %v, logins %d, want a new token from one login", tokens.Current() != first, logins.Load())
	}
	if err := l.Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	if list := instancesOf(t, srv, "lease-svc"); len(list) != 0 {
		t.Fatalf("instances left: %+v", list)
	}
}
