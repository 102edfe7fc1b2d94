package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/config"
	"github.com/ooctl/oo/internal/credstore"
	"github.com/ooctl/oo/internal/fakeclock"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmd/root"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

const adminPW = servertest.AdminPassword

func login(t *testing.T, h *cmdtest.Harness, slug, pw string, extra ...string) cmdtest.Result {
	t.Helper()
	args := append([]string{"login", slug, "--password-stdin"}, extra...)
	return cmdtest.MustOK(t, h.Run(cmdtest.Piped, pw+"\n", args...), "login "+slug)
}

func TestLoginStoresTokenInKeyringNotConfig(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	r := login(t, h, "admin", adminPW)
	if r.Out != "" {
		t.Errorf("login prints nothing on stdout, got %q", r.Out)
	}
	if !strings.Contains(r.Err, "Logged in to local") || !strings.Contains(r.Err, "as admin") {
		t.Errorf("stderr: %q", r.Err)
	}
	tok, err := h.Keyring.Get("local", "admin")
	if err != nil {
		t.Fatalf("token not in the keyring: %v", err)
	}
	var me api.ReadUserByTokenResponse
	if code := srv.Do(t, http.MethodPost, api.PathUserByToken, tok, nil, &me); code != 200 || me.User.Slug != "admin" {
		t.Fatalf("stored token does not work: HTTP %d %+v", code, me)
	}
	raw, err := os.ReadFile(h.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), tok) || strings.Contains(string(raw), adminPW) {
		t.Fatalf("config file holds a secret:\n%s", raw)
	}
	if st, _ := os.Stat(h.ConfigPath); st.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600", st.Mode().Perm())
	}
	c := h.Config()
	if c.Environments["local"].User != "admin" || c.Environments["local"].Accounts["admin"].Storage != config.StorageKeyring {
		t.Fatalf("config: %+v", c.Environments["local"])
	}
}

func TestLoginPromptsOnTerminal(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	r := cmdtest.MustOK(t, h.Run(cmdtest.Terminal, "admin\n"+adminPW+"\n", "login"), "login")
	if !strings.Contains(r.Err, "Slug: ") || !strings.Contains(r.Err, "Password for admin") {
		t.Fatalf("want prompts on stderr, got %q", r.Err)
	}
	if strings.Contains(r.Err, adminPW) || strings.Contains(r.Out, adminPW) {
		t.Fatal("password echoed")
	}
	if _, err := h.Keyring.Get("local", "admin"); err != nil {
		t.Fatal(err)
	}
}

func TestLoginErrors(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)

	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "nope-nope-nope\n", "login", "admin", "--password-stdin"),
		cmdutil.ExitAuth, "wrong password for admin on env local")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "whatever-pass\n", "login", "ghost", "--password-stdin"),
		cmdutil.ExitAuth, "oo register ghost")
	// No terminal and no --password-stdin: say how to pass it rather than block on stdin.
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "login", "admin"), cmdutil.ExitUsage, "--password-stdin")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, adminPW+"\n", "login", "admin", "--password-stdin", "-e", "nowhere"),
		cmdutil.ExitUsage, `no environment named "nowhere"`)
	// There is deliberately no way to pass a password in argv.
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "login", "admin", "--password", "x"), cmdutil.ExitUsage, "unknown flag")
	if h.Keyring.Len() != 0 {
		t.Fatal("a failed login stored something")
	}
}

func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func TestServerDown(t *testing.T) {
	t.Parallel()
	u := deadURL(t)
	h := cmdtest.New(t, u)
	r := h.Run(cmdtest.Piped, adminPW+"\n", "login", "admin", "--password-stdin")
	cmdtest.MustFail(t, r, cmdutil.ExitUnreached, "cannot reach the oo server at "+u, "is `oo server start` running?")
	if strings.Count(strings.TrimSpace(r.Err), "\n") != 0 {
		t.Fatalf("want one line, got %q", r.Err)
	}
	// OO_URL points one command elsewhere (login refuses it: TestLoginRefusesOOURLOtherThanEnv).
	h2 := cmdtest.New(t, "")
	h2.Vars["OO_URL"], h2.Vars["OO_TOKEN"] = u, "x"
	cmdtest.MustFail(t, h2.Run(cmdtest.Piped, "", "whoami"), cmdutil.ExitUnreached, u)
	// The root words every command's API errors, also those of a command that never asked
	// (token refresh did not, and said only "cannot reach ... dial tcp ...").
	h.Vars["OO_TOKEN"] = "x"
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "token", "refresh"), cmdutil.ExitUnreached, "cannot reach the oo server at "+u+":", "is `oo server start` running?")
}

func TestNoKeyringNeedsExplicitInsecureStorage(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	h.Keyring.Err = errors.New("no D-Bus session")
	r := h.Run(cmdtest.Piped, adminPW+"\n", "login", "admin", "--password-stdin")
	// Exit 1, not 4: the password was right; this machine has nowhere to keep the token.
	cmdtest.MustFail(t, r, cmdutil.ExitError, "keyring is not available", "--insecure-storage", "dbus-run-session")
	if _, err := os.Stat(h.Insecure.Path); !os.IsNotExist(err) {
		t.Fatal("no silent plain-text fallback: the credentials file must not exist")
	}
	if h.Config().Environments["local"].User != "" {
		t.Fatal("a failed login selected an account")
	}

	login(t, h, "admin", adminPW, "--insecure-storage")
	st, err := os.Stat(h.Insecure.Path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode %v", st.Mode().Perm())
	}
	if h.Config().Environments["local"].Accounts["admin"].Storage != config.StorageFile {
		t.Fatal("config does not record the file storage")
	}
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "whoami"), "whoami")
	if !strings.Contains(r.Out, "insecure storage") {
		t.Fatalf("whoami must say where the token is: %s", r.Out)
	}
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "logout"), "logout")
	if _, err := h.Insecure.Get("local", "admin"); !errors.Is(err, credstore.ErrNotFound) {
		t.Fatalf("logout left the token in the file: %v", err)
	}
}

// OO_INSECURE_STORAGE=1 is the flag for a whole shell session; any other value is not.
func TestInsecureStorageFromEnv(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	h.Keyring.Err = errors.New("no D-Bus session")
	h.Vars["OO_INSECURE_STORAGE"] = "no"
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, adminPW+"\n", "login", "admin", "--password-stdin"), cmdutil.ExitError, "OO_INSECURE_STORAGE=1")
	if _, err := os.Stat(h.Insecure.Path); !os.IsNotExist(err) {
		t.Fatal("OO_INSECURE_STORAGE=no must not store in the plain file")
	}
	h.Vars["OO_INSECURE_STORAGE"] = "1"
	login(t, h, "admin", adminPW)
	if tok, err := h.Insecure.Get("local", "admin"); err != nil || tok == "" {
		t.Fatalf("token not in the plain file: %q %v", tok, err)
	}
	if h.Config().Environments["local"].Accounts["admin"].Storage != config.StorageFile {
		t.Fatal("config does not record the file storage")
	}
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "whoami"), "whoami")
}

func TestWhoami(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "whoami"), cmdutil.ExitAuth, "not logged in to env local: run `oo login`")

	login(t, h, "admin", adminPW)
	r := cmdtest.MustOK(t, h.Run(cmdtest.Terminal, "", "whoami"), "whoami")
	for _, want := range []string{"slug:       admin", "usr_", api.RoleAdmin, "env:        local", srv.URL, "expires:", "credential:", "local/admin", "signature:  valid"} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("whoami lacks %q:\n%s", want, r.Out)
		}
	}
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "whoami", "-o", "json"), "whoami json")
	var out struct {
		User              api.User  `json:"user"`
		Roles             []string  `json:"roles"`
		Env               string    `json:"env"`
		Server            string    `json:"server"`
		ExpiresAt         time.Time `json:"expiresAt"`
		SignatureVerified bool      `json:"signatureVerified"`
	}
	if err := json.Unmarshal([]byte(r.Out), &out); err != nil {
		t.Fatalf("%v: %s", err, r.Out)
	}
	if out.User.Slug != "admin" || out.Env != "local" || out.Server != srv.URL || !out.SignatureVerified || out.ExpiresAt.Before(time.Now()) {
		t.Fatalf("json: %+v", out)
	}

	// OO_TOKEN wins over the stored account.
	bob := srv.Register(t, "bob", "bob-password-1")
	h.Vars["OO_TOKEN"] = bob
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "whoami"), "whoami OO_TOKEN")
	if !strings.Contains(r.Out, "slug:       bob") || !strings.Contains(r.Out, "OO_TOKEN") {
		t.Fatalf("OO_TOKEN not used: %s", r.Out)
	}
	h.Vars["OO_TOKEN"] = "not-a-jwt"
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "whoami"), cmdutil.ExitAuth, "OO_TOKEN")
}

func TestExpiredTokenOffline(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	login(t, h, "admin", adminPW)
	h.Now = func() time.Time { return time.Now().Add(365 * 24 * time.Hour) }
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "whoami"), cmdutil.ExitAuth, "expired", "oo login admin")
}

// TestExpiredTokenOnServer: a token that dies while the request is on its way (the offline
// check passed, the server refuses it) gets the same "expired" wording as one caught offline;
// with a server clock ahead of this machine's, the server's refusal is explained as expired or
// revoked. Server and client run on fake clocks: the test moves time instead of waiting.
func TestExpiredTokenOnServer(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := servertest.Start(t, func(c *server.Config) { c.TokenTTL, c.Now = time.Hour, clk.Now })
	h := cmdtest.New(t, srv.URL)
	h.Now = clk.Now
	login(t, h, "admin", adminPW)

	clk.Add(time.Hour - time.Second)
	r := runWithTransport(h, &movesClock{clk: clk, by: 2 * time.Second}, "user", "ls")
	cmdtest.MustFail(t, r, cmdutil.ExitAuth, "oo: the token of admin on env local expired 1s ago: run `oo login admin`")

	h.Now = func() time.Time { return clk.Now().Add(-2 * time.Hour) }
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "user", "ls"), cmdutil.ExitAuth,
		"oo: the token of admin on env local is expired or revoked (token has expired; log in again): run `oo login admin`")
}

// movesClock is a transport on which time passes: it moves clk by `by` before sending each
// request.
type movesClock struct {
	clk *fakeclock.Clock
	by  time.Duration
}

func (m *movesClock) RoundTrip(req *http.Request) (*http.Response, error) {
	m.clk.Add(m.by)
	return http.DefaultTransport.RoundTrip(req)
}

// runWithTransport is h.Run (piped, no stdin) with the commands' HTTP client sending through rt.
func runWithTransport(h *cmdtest.Harness, rt http.RoundTripper, args ...string) cmdtest.Result {
	ios, _, out, errOut := iostreams.Test()
	f := h.Factory(ios)
	f.HTTPClient = &http.Client{Transport: rt, Timeout: time.Minute}
	cmd := root.NewCmdFactory(f)
	cmd.SetArgs(args)
	code := root.Execute(context.Background(), f, cmd)
	return cmdtest.Result{Out: out.String(), Err: errOut.String(), Code: code}
}

func TestRevokedToken(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	login(t, h, "admin", adminPW)
	tok, _ := h.Keyring.Get("local", "admin")
	if code := srv.Do(t, http.MethodDelete, api.PathToken, tok, nil, nil); code/100 != 2 {
		t.Fatalf("revoke: HTTP %d", code)
	}
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "whoami"), cmdutil.ExitAuth, "expired or revoked", "oo login admin")
}

func TestTokenPrintsBearer(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "token"), cmdutil.ExitAuth, "oo login")
	login(t, h, "admin", adminPW)
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "token"), "token")
	tok, _ := h.Keyring.Get("local", "admin")
	if r.Out != tok+"\n" {
		t.Fatalf("token printed %q, stored %q", r.Out, tok)
	}
}

func TestLogoutRevokesAndDeletes(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "logout"), cmdutil.ExitAuth, "not logged in")
	login(t, h, "admin", adminPW)
	tok, _ := h.Keyring.Get("local", "admin")
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "logout"), "logout")
	if !strings.Contains(r.Err, "Logged out admin") {
		t.Errorf("stderr: %q", r.Err)
	}
	if code := srv.Do(t, http.MethodPost, api.PathUserByToken, tok, nil, nil); code != 401 {
		t.Fatalf("token still valid on the server after logout: HTTP %d", code)
	}
	if h.Keyring.Len() != 0 || h.Config().Environments["local"].User != "" {
		t.Fatal("logout left local state")
	}
}

func TestLogoutWhenServerDownStillDeletesLocally(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	login(t, h, "admin", adminPW)
	// The env's own server goes away (OO_URL elsewhere would be refused: another server).
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "add", "local", deadURL(t), "--force"), "env add")
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "logout"), "logout offline")
	if !strings.HasPrefix(r.Err, "oo: cannot reach") || !strings.Contains(r.Err, "only deleted locally") {
		t.Fatalf("want a warning, got %q", r.Err)
	}
	if h.Keyring.Len() != 0 {
		t.Fatal("token not deleted locally")
	}
}

func TestSeveralAccountsAndSwitch(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "alice-password-1\n", "register", "alice", "--password-stdin", "--name", "Alice"), "register")
	if !strings.Contains(r.Err, "Registered alice") {
		t.Fatalf("stderr %q", r.Err)
	}
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "alice-password-2\n", "register", "alice", "--password-stdin"), cmdutil.ExitConflict, "oo login alice")
	login(t, h, "admin", adminPW)
	whoami := func() string {
		return cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "whoami"), "whoami").Out
	}
	if w := whoami(); !strings.Contains(w, "slug:       admin") || !strings.Contains(w, "also:") {
		t.Fatalf("after second login: %s", w)
	}
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "user", "switch", "alice"), "switch")
	if w := whoami(); !strings.Contains(w, "slug:       alice") {
		t.Fatalf("after switch: %s", w)
	}
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "user", "switch"), "switch list")
	if r.Out != "  admin\n* alice\n" {
		t.Fatalf("switch list: %q", r.Out)
	}
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "user", "switch", "carol"), cmdutil.ExitAuth, "carol is not logged in", "admin, alice")
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "logout"), "logout alice")
	if w := whoami(); !strings.Contains(w, "slug:       admin") {
		t.Fatalf("after logging alice out the other account is selected: %s", w)
	}
}

func TestPasswd(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	srv.Register(t, "carol", "carol-password-1")
	login(t, h, "carol", "carol-password-1")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "wrong-password-0\ncarol-password-2\n", "passwd", "--password-stdin"),
		cmdutil.ExitAuth, "not changed")
	r := cmdtest.MustOK(t, h.Run(cmdtest.Terminal, "carol-password-1\ncarol-password-2\ncarol-password-2\n", "passwd"), "passwd")
	if !strings.Contains(r.Err, "New password") || !strings.Contains(r.Err, "Again") {
		t.Fatalf("prompts: %q", r.Err)
	}
	var rsp api.LoginResponse
	if code := srv.Do(t, http.MethodPost, api.PathLogin, "", api.LoginRequest{Slug: "carol", Password: "carol-password-1"}, &rsp); code != 401 {
		t.Fatalf("old password still works: HTTP %d", code)
	}
	srv.Login(t, "carol", "carol-password-2")
	// The re-stored token works.
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "whoami"), "whoami after passwd")
	cmdtest.MustFail(t, h.Run(cmdtest.Terminal, "carol-password-2\nnew-pass-a\nnew-pass-b\n", "passwd"), cmdutil.ExitUsage, "do not match")
}

func TestHelpHasExamples(t *testing.T) {
	t.Parallel()
	h := cmdtest.New(t, "")
	for _, c := range []string{"login", "register", "logout", "whoami", "token", "passwd"} {
		r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", c, "--help"), c+" --help")
		if !strings.Contains(r.Out, "Examples:") {
			t.Errorf("%s --help has no examples", c)
		}
	}
}

// An OO_URL that differs from the env's URL must not get its token filed under that env: a
// later command on the env would send it to the other server.
func TestLoginRefusesOOURLOtherThanEnv(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, "http://127.0.0.1:1")
	h.Vars["OO_URL"] = srv.URL
	for _, args := range [][]string{{"login", "admin", "--password-stdin"}, {"register", "bob-x", "--password-stdin"}} {
		r := h.Run(cmdtest.Piped, adminPW+"\n", args...)
		cmdtest.MustFail(t, r, cmdutil.ExitUsage, "OO_URL points at "+srv.URL+" but env local is http://127.0.0.1:1", "oo env add NAME "+srv.URL)
	}
	if _, err := h.Keyring.Get("local", "admin"); err == nil {
		t.Fatal("token stored under env local")
	}
	// The same URL as the env's is fine.
	h2 := cmdtest.New(t, srv.URL)
	h2.Vars["OB_URL"] = srv.URL + "/"
	login(t, h2, "admin", adminPW)
}

// At a terminal prompt, Ctrl-C is "interrupted" (exit 3) and ^D a one-line error, never a
// hang or a bare "EOF".
func TestPromptCtrlCAndCtrlD(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	r := h.Run(cmdtest.Terminal, "admin\n\x03", "login")
	cmdtest.MustFail(t, r, cmdutil.ExitCancel, "oo: interrupted")
	r = h.Run(cmdtest.Terminal, "", "login")
	cmdtest.MustFail(t, r, cmdutil.ExitUsage, "oo: no slug given")
	r = h.Run(cmdtest.Terminal, "\x04", "login", "admin")
	cmdtest.MustFail(t, r, cmdutil.ExitUsage, "oo: no password given")
	login(t, h, "admin", adminPW)
	r = h.Run(cmdtest.Terminal, adminPW+"\n\x03", "passwd")
	cmdtest.MustFail(t, r, cmdutil.ExitCancel, "oo: interrupted")
	r = h.Run(cmdtest.Piped, adminPW+"\n", "passwd", "--password-stdin")
	cmdtest.MustFail(t, r, cmdutil.ExitUsage, "second line of stdin (the new password) is missing")
}

// One wording of "expired" for every command, offline, with a login hint that keeps -e; and
// `oo token` does not print a dead token.
func TestExpiredTokenSameMessageEverywhere(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	login(t, h, "admin", adminPW)
	h.Now = func() time.Time { return time.Now().Add(31 * 24 * time.Hour) }
	for _, args := range [][]string{{"token"}, {"whoami"}, {"instance", "ls"}, {"user", "ls"}} {
		r := h.Run(cmdtest.Piped, "", args...)
		cmdtest.MustFail(t, r, cmdutil.ExitAuth, "oo: the token of admin on env local expired ", " ago: run `oo login admin`\n")
		if r.Out != "" {
			t.Fatalf("%v printed %q", args, r.Out)
		}
		r = h.Run(cmdtest.Piped, "", append(args, "-e", "local")...)
		cmdtest.MustFail(t, r, cmdutil.ExitAuth, " ago: run `oo login admin -e local`\n")
	}
	tok, _ := h.Keyring.Get("local", "admin")
	h.Vars["OO_TOKEN"] = tok
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "token"), cmdutil.ExitAuth, "the token in OO_TOKEN expired")
}

// The server's 400 (bad input) is exit 2 for every command, like a bad flag.
func TestRegisterBadInputIsUsage(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	for _, c := range []struct{ slug, pw string }{{"Bob_X", "long-enough-1"}, {"user-svc", "long-enough-1"}, {"bob-y", "short"}} {
		r := h.Run(cmdtest.Piped, c.pw+"\n", "register", c.slug, "--password-stdin")
		cmdtest.MustFail(t, r, cmdutil.ExitUsage, "oo: ")
	}
}

func TestRegisterTakenSaysItOnce(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	r := h.Run(cmdtest.Piped, "long-enough-1\n", "register", "admin", "--password-stdin")
	cmdtest.MustFail(t, r, cmdutil.ExitConflict, "oo: the slug admin is already taken on env local (yours? `oo login admin`)")
	if strings.Count(r.Err, "taken") != 1 {
		t.Fatalf("said twice: %q", r.Err)
	}
}

// `oo token refresh` replaces the stored token with a fresh one and the old one stops working;
// with OO_TOKEN it prints the new token instead of storing it.
func TestTokenRefresh(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	srv.Register(t, "ref-svc", "ref-svc-password")
	h := cmdtest.New(t, srv.URL)
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "ref-svc-password\n", "login", "ref-svc", "--password-stdin"), "login")
	old := strings.TrimSpace(cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "token"), "token").Out)
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "token", "refresh"), "token refresh")
	if r.Out != "" || !strings.Contains(r.Err, "Refreshed the token of ref-svc on local") {
		t.Errorf("refresh output: %q / %q", r.Out, r.Err)
	}
	fresh := strings.TrimSpace(cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "token"), "token").Out)
	if fresh == old || fresh == "" {
		t.Fatal("the stored token did not change")
	}
	if code := srv.Do(t, http.MethodPost, api.PathUserByToken, old, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("old token after refresh: %d, want 401", code)
	}
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "whoami"), "whoami with the fresh token")

	h.Vars["OO_TOKEN"] = fresh
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "token", "refresh"), "refresh with OO_TOKEN")
	third := strings.TrimSpace(r.Out)
	if third == "" || third == fresh {
		t.Fatalf("OO_TOKEN refresh printed %q", r.Out)
	}
	if code := srv.Do(t, http.MethodPost, api.PathUserByToken, third, nil, nil); code != http.StatusOK {
		t.Errorf("printed token: %d", code)
	}
}
