package auth_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// recorder is another server on loopback that keeps every request's Authorization header and
// body: what a client sent to a server that is not its environment's.
type recorder struct {
	URL  string
	mu   sync.Mutex
	seen []string // "METHOD PATH | Authorization | body"
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.seen = append(rec.seen, r.Method+" "+r.URL.Path+" | "+r.Header.Get("Authorization")+" | "+string(body))
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(ts.Close)
	rec.URL = ts.URL
	return rec
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// No secret kept for env local reaches the server OO_URL points at: not the stored login token
// (whatever the command), not a stored service account password.
func TestStoredSecretsNotSentToAnotherOOURL(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	h := cmdtest.New(t, srv.URL)
	login(t, h, "admin", adminPW)
	tok, err := h.Keyring.Get("local", "admin")
	if err != nil {
		t.Fatal(err)
	}
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "service", "register", "fx-svc", "--url", "http://127.0.0.1:9"), "register on the env's server")
	pw, err := h.Keyring.Get("local", "service-password:fx-svc")
	if err != nil || pw == "" {
		t.Fatalf("no stored service password: %v", err)
	}

	rec := newRecorder(t)
	h.Vars["OO_URL"] = rec.URL
	for _, args := range [][]string{
		{"instance", "ls"}, {"instance", "rm", "inst_x"}, {"whoami"}, {"token"}, {"user", "ls"},
		{"call", "get", "/fx-svc/x"}, {"service", "deregister", "fx-svc"},
		{"service", "register", "fx-svc", "--url", "http://127.0.0.1:9"},
	} {
		r := h.Run(cmdtest.Piped, "", args...)
		if strings.Contains(r.Out, tok) {
			t.Errorf("oo %v printed env local's token for %s", args, rec.URL)
		}
	}
	for _, req := range rec.requests() {
		if strings.Contains(req, tok) || strings.Contains(req, pw) {
			t.Errorf("a secret of env local reached %s: %s", rec.URL, req)
		}
	}

	// The refusal says why and what to do, as an auth error (nothing to authenticate with).
	r := h.Run(cmdtest.Piped, "", "instance", "ls")
	cmdtest.MustFail(t, r, cmdutil.ExitAuth, "OO_URL points at "+rec.URL, "not at env local", "OO_TOKEN", "oo env add NAME "+rec.URL)

	// OO_TOKEN is meant for that server, and it alone is sent.
	h.Vars["OO_TOKEN"] = "token-for-the-other-server"
	before := len(rec.requests())
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "instance", "ls"), "instance ls with OO_TOKEN")
	got := rec.requests()[before:]
	if len(got) != 1 || !strings.Contains(got[0], "| Bearer token-for-the-other-server |") {
		t.Fatalf("want one request with OO_TOKEN, got %q", got)
	}
}

// The same server spelled differently is not another server: the stored token is used.
func TestOOURLSameServerKeepsStoredToken(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	login(t, h, "admin", adminPW)
	h.Vars["OO_URL"] = strings.Replace(srv.URL, "http://", "HTTP://", 1) + "/"
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "instance", "ls"), "instance ls, OO_URL = the env's URL")
}

// logout under another OO_URL refuses like login: no revoke sent there, nothing deleted here.
func TestLogoutRefusesOOURLOtherThanEnv(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	login(t, h, "admin", adminPW)
	rec := newRecorder(t)
	h.Vars["OO_URL"] = rec.URL
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "logout"), cmdutil.ExitUsage,
		"OO_URL points at "+rec.URL+" but env local is "+srv.URL, "oo env add NAME "+rec.URL)
	if got := rec.requests(); len(got) != 0 {
		t.Fatalf("logout sent %q to %s", got, rec.URL)
	}
	if _, err := h.Keyring.Get("local", "admin"); err != nil || h.Config().Environments["local"].User != "admin" {
		t.Fatalf("logout under another OO_URL removed the local login: %v", err)
	}
}

// A malformed OO_URL is a usage error (2) named as such, before any token is looked at.
func TestMalformedOOURLIsUsageError(t *testing.T) {
	t.Parallel()
	h := cmdtest.New(t, "")
	for _, u := range []string{"::bad", "127.0.0.1:58231", "ftp://host", "http://[::1"} {
		h.Vars["OO_URL"] = u
		for _, args := range [][]string{{"instance", "ls"}, {"call", "get", "/x"}, {"whoami"}, {"login", "admin", "--password-stdin"}} {
			cmdtest.MustFail(t, h.Run(cmdtest.Piped, "pw\n", args...), cmdutil.ExitUsage, "OO_URL=")
		}
	}
}

// A keyring that went away after login is this machine's problem, not a bad credential: exit
// 1, as the README's table says, not 4.
func TestUnreadableKeyringIsNotAnAuthError(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	login(t, h, "admin", adminPW)
	h.Keyring.Err = errors.New("no D-Bus session")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "instance", "ls"), cmdutil.ExitError, "reading the token of admin on env local", "OO_TOKEN")
}

// On a server with registration closed, `oo register` says which command gets an account, as
// an auth error, and names no raw endpoint.
func TestRegisterClosedNamesUserCreate(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, func(c *server.Config) { c.Registration = "closed" })
	h := cmdtest.New(t, srv.URL)
	login(t, h, "admin", adminPW)
	r := h.Run(cmdtest.Piped, "bob-password-1\n", "register", "bob", "--password-stdin")
	cmdtest.MustFail(t, r, cmdutil.ExitAuth, "registration is closed on env local", "`oo user create bob`")
	if strings.Contains(r.Err, "/user-svc") || strings.Contains(r.Err, "you are admin") || strings.Count(r.Err, "\n") != 1 {
		t.Fatalf("stderr: %q", r.Err)
	}
	// What it names works.
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "bob-password-1\n", "user", "create", "bob", "--password-stdin"), "user create")
}
