package cmdutil

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/config"
	"github.com/ooctl/oo/internal/credstore"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/iostreams"
)

func testFactory(t *testing.T, vars map[string]string) *Factory {
	ios, _, _, _ := iostreams.Test()
	return &Factory{IOStreams: ios, ConfigPath: filepath.Join(t.TempDir(), "config.json"),
		Keyring: credstore.NewMemory(), Insecure: credstore.NewMemory(),
		Getenv: func(k string) string { return vars[k] }, Now: time.Now}
}

func TestURLPrecedence(t *testing.T) {
	vars := map[string]string{"OPENORCH_URL": "http://c", "OB_URL": "http://b"}
	f := testFactory(t, vars)
	s, err := f.Target()
	if err != nil || s.URL != "http://b" || s.URLFrom != "OB_URL" {
		t.Fatalf("%+v %v", s, err)
	}
	vars["OO_URL"] = "http://a"
	if s, _ := f.Target(); s.URL != "http://a" {
		t.Fatalf("OO_URL must win: %+v", s)
	}
	f = testFactory(t, nil)
	if s, _ := f.Target(); s.Env != "local" || s.URLFrom != "env local" {
		t.Fatalf("default: %+v", s)
	}
	f.EnvFlag = "nope"
	if _, err := f.Target(); ExitCode(err) != ExitUsage {
		t.Fatalf("unknown -e: %v", err)
	}
}

func TestSessionTokenSources(t *testing.T) {
	vars := map[string]string{}
	f := testFactory(t, vars)
	if _, err := f.Session(true); ExitCode(err) != ExitAuth || !strings.Contains(err.Error(), "not logged in to env local: run `oo login`") {
		t.Fatalf("no login: %v", err)
	}
	cfg, _ := f.Config()
	cfg.AddAccount("local", "alice", config.StorageKeyring)
	if _, err := f.Session(true); ExitCode(err) != ExitAuth || !strings.Contains(err.Error(), "oo login alice") {
		t.Fatalf("account without a stored token: %v", err)
	}
	f.Keyring.Set("local", "alice", "stored-token")
	s, err := f.Session(true)
	if err != nil || s.Token != "stored-token" || s.Slug != "alice" || s.FromEnvVar {
		t.Fatalf("stored: %+v %v", s, err)
	}
	vars["OO_TOKEN"] = "env-token"
	if s, _ := f.Session(true); s.Token != "env-token" || !s.FromEnvVar {
		t.Fatalf("OO_TOKEN must win: %+v", s)
	}
	delete(vars, "OO_TOKEN")
	f.Keyring.(*credstore.Memory).Err = errors.New("locked")
	if _, err := f.Session(true); ExitCode(err) != ExitError || !strings.Contains(err.Error(), "OO_TOKEN") {
		t.Fatalf("unreadable keyring (this machine's problem, exit 1): %v", err)
	}
	if s, err := f.Session(false); err != nil || s.Token != "" {
		t.Fatalf("optional session with an unreadable keyring: %+v %v", s, err)
	}
}

func TestExplainKeepsExitCodes(t *testing.T) {
	f := testFactory(t, nil)
	cfg, _ := f.Config()
	cfg.Environments["local"].URL = "http://127.0.0.1:1"
	cfg.AddAccount("local", "alice", config.StorageKeyring)
	f.Keyring.Set("local", "alice", "tok")
	s, err := f.Session(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		err  error
		code int
		want string
	}{
		{&client.Error{Status: 0, Message: "connection refused"}, ExitUnreached, "cannot reach the oo server at http://127.0.0.1:1: connection refused (is `oo server start` running?)"},
		{&client.Error{Status: 401, Message: "token revoked"}, ExitAuth, "the token of alice on env local is expired or revoked (token revoked): run `oo login alice`"},
		{&client.Error{Status: 403, Message: "this needs the admin role"}, ExitAuth, "(you are alice on env local)"},
		{&client.Error{Status: 404, Message: "no such instance"}, ExitNotFound, "no such instance"},
		{errors.New("plain"), ExitError, "plain"},
		{&client.Error{Status: 400, Message: "bad slug"}, ExitUsage, "bad slug"},
		{&config.UnknownEnvError{Name: "x"}, ExitUsage, `no environment named "x"`},
	} {
		got := f.Explain(s, c.err)
		if ExitCode(got) != c.code || !strings.Contains(got.Error(), c.want) {
			t.Errorf("Explain(%v) = %q (exit %d), want %q (exit %d)", c.err, got, ExitCode(got), c.want, c.code)
		}
	}
	if f.Explain(s, nil) != nil {
		t.Fatal("nil")
	}
}

// The session is a value the caller holds and passes: resolving one leaves nothing behind in
// the factory that a later Explain would read instead of the session it is given.
func TestExplainUsesTheSessionItIsGiven(t *testing.T) {
	f := testFactory(t, nil)
	cfg, _ := f.Config()
	cfg.AddAccount("local", "alice", config.StorageKeyring)
	f.Keyring.Set("local", "alice", "tok")
	if _, err := f.Session(true); err != nil {
		t.Fatal(err)
	}
	other := &Session{Env: "staging", URL: "http://127.0.0.1:2", Slug: "bob", Token: "tok2"}
	got := f.Explain(other, &client.Error{Status: 403, Message: "this needs the admin role"})
	if !strings.Contains(got.Error(), "you are bob on env staging") {
		t.Fatalf("explained for a session it was not given: %q", got)
	}
	got = f.Explain(nil, &client.Error{Status: 0, Message: "connection refused", URL: "http://127.0.0.1:3/x"})
	if !strings.Contains(got.Error(), "cannot reach the oo server at http://127.0.0.1:3/x") {
		t.Fatalf("no session: the error's own URL: %q", got)
	}
	if got := f.Explain(nil, &client.Error{Status: 401, Message: "no token"}); got.Error() != "no token" {
		t.Fatalf("no session, nothing to add: %q", got)
	}
}

// A malformed server URL, from OO_URL or a hand-edited config, is a usage error (2) that
// names where it came from, not "cannot reach the server" (7).
func TestMalformedServerURLIsUsage(t *testing.T) {
	vars := map[string]string{"OO_URL": "127.0.0.1:58231"}
	f := testFactory(t, vars)
	if _, err := f.Target(); ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), `OO_URL="127.0.0.1:58231"`) {
		t.Fatalf("OO_URL: %v", err)
	}
	delete(vars, "OO_URL")
	cfg, _ := f.Config()
	cfg.Environments["local"].URL = "localhost:58231"
	if _, err := f.Session(false); ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "oo env add local URL --force") {
		t.Fatalf("env URL: %v", err)
	}
}

func TestSameServer(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"http://127.0.0.1:58231", "http://127.0.0.1:58231/", true},
		{"HTTP://LocalHost:80", "http://localhost", true},
		{"https://oo.example", "https://oo.example:443/", true},
		{"http://127.0.0.1:58231", "http://127.0.0.1:58232", false},
		{"http://127.0.0.1:58231", "https://127.0.0.1:58231", false},
		{"http://127.0.0.1:58231", "http://localhost:58231", false}, // a token is issued for a name
		{"http://oo.example/a", "http://oo.example/b", false},
	} {
		if got := SameServer(c.a, c.b); got != c.same {
			t.Errorf("SameServer(%q, %q) = %v, want %v", c.a, c.b, got, c.same)
		}
	}
}

// A foreign OO_URL has no selected account and its own secret scope, which no env name can be.
func TestForeignURLSession(t *testing.T) {
	vars := map[string]string{}
	f := testFactory(t, vars)
	cfg, _ := f.Config()
	cfg.AddAccount("local", "alice", config.StorageKeyring)
	f.Keyring.Set("local", "alice", "stored-token")
	vars["OO_URL"] = "http://127.0.0.1:58231/" // the env's own URL
	if s, err := f.Session(true); err != nil || s.Foreign || s.Token != "stored-token" || s.SecretScope() != "local" {
		t.Fatalf("same server: %+v %v", s, err)
	}
	vars["OO_URL"] = "http://127.0.0.1:9"
	s, err := f.Session(false)
	if err != nil || !s.Foreign || s.Token != "" || s.Slug != "" {
		t.Fatalf("foreign, optional: %+v %v", s, err)
	}
	if sc := s.SecretScope(); sc != "@http://127.0.0.1:9" || config.ValidName(sc) == nil {
		t.Fatalf("secret scope %q must be no env name", sc)
	}
	if _, err := f.Session(true); ExitCode(err) != ExitAuth {
		t.Fatalf("foreign, required: %v", err)
	}
	vars["OO_TOKEN"] = "env-token"
	if s, err := f.Session(true); err != nil || s.Token != "env-token" {
		t.Fatalf("foreign with OO_TOKEN: %+v %v", s, err)
	}
}

func TestAge(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for d, want := range map[time.Duration]string{10 * time.Second: "10s ago", 3 * time.Minute: "3m ago", 5 * time.Hour: "5h ago", 72 * time.Hour: "3d ago", -time.Second: "0s ago"} {
		if got := Age(now, now.Add(-d)); got != want {
			t.Errorf("Age(-%s) = %q, want %q", d, got, want)
		}
	}
	if got := Until(now, now.Add(30*24*time.Hour)); got != "in 30d" {
		t.Errorf("Until = %q", got)
	}
	if got := Until(now, now.Add(-time.Minute)); got != "expired 1m ago" {
		t.Errorf("Until past = %q", got)
	}
}
