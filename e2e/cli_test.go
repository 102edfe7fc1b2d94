package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/keyringtest"
	"github.com/ooctl/oo/internal/proctest"
)

// cliNoKeyring is a D-Bus address that fails at once: the binary sees "no keyring" instead of
// auto-launching a session bus of its own.
const cliNoKeyring = "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/oo-e2e-bus"

func cliWant(t *testing.T, r result, code int, stderrHas ...string) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("want exit %d, got %d\nstdout: %s\nstderr: %s", code, r.Code, r.Stdout, r.Stderr)
	}
	for _, s := range stderrHas {
		if !strings.Contains(r.Stderr, s) {
			t.Fatalf("stderr lacks %q:\n%s", s, r.Stderr)
		}
	}
}

// cliHTTP sends a JSON request straight to the server, as a service would.
func cliHTTP(t *testing.T, method, url, token string, body any) int {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	return rsp.StatusCode
}

func cliLoginToken(t *testing.T, url, slug, pw string) string {
	t.Helper()
	raw, _ := json.Marshal(map[string]string{"slug": slug, "password": pw})
	rsp, err := http.Post(url+"/user-svc/login", "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	var out struct{ Token struct{ Token string } }
	if err := json.NewDecoder(rsp.Body).Decode(&out); err != nil || out.Token.Token == "" {
		t.Fatalf("login %s: HTTP %d %v", slug, rsp.StatusCode, err)
	}
	return out.Token.Token
}

// cliPointLocal points the built-in env local at the test's server. (OO_URL would not do for
// login: a token is stored only under an env whose own URL issued it.)
func cliPointLocal(t *testing.T, e *env, url string) {
	t.Helper()
	cliWant(t, e.Run("", "env", "add", "local", url, "--force"), 0)
}

// TestCLISession is the README session done by a script: no keyring on the box, so the token
// goes to a 0600 file only when asked for.
func TestCLISession(t *testing.T) {
	t.Parallel()
	e := newEnv(t).With(cliNoKeyring)
	srv := e.StartServer()
	cliWant(t, e.Run("", "env", "add", "dev", srv.URL, "--use"), 0, "Added environment dev")

	r := e.Run(adminPassword+"\n", "login", "admin", "--password-stdin")
	cliWant(t, r, 1, "keyring is not available", "--insecure-storage")
	r = e.Run(adminPassword+"\n", "login", "admin", "--password-stdin", "--insecure-storage")
	cliWant(t, r, 0, "Logged in to dev")
	cred := filepath.Join(e.Home, "config", "oo", "credentials.json")
	if st, err := os.Stat(cred); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", st, err)
	}

	r = e.Run("", "whoami")
	cliWant(t, r, 0)
	for _, s := range []string{"slug:       admin", "env:        dev", srv.URL, "insecure storage", "signature:  valid"} {
		if !strings.Contains(r.Stdout, s) {
			t.Fatalf("whoami lacks %q:\n%s", s, r.Stdout)
		}
	}
	cliWant(t, e.Run("", "whoami", "-o", "json"), 0)

	r = e.Run("", "instance", "ls")
	cliWant(t, r, 0)
	if r.Stdout != "ID\tURL\tSTATUS\tOWNER SLUG\tLAST HEARTBEAT\n" {
		t.Fatalf("empty ls without a TTY: %q", r.Stdout)
	}
	svcTok := cliLoginToken(t, srv.URL, "admin", adminPassword)
	if code := cliHTTP(t, http.MethodPut, srv.URL+"/registry-svc/instance", svcTok, map[string]string{"url": "http://127.0.0.1:9"}); code/100 != 2 {
		t.Fatalf("register instance: HTTP %d", code)
	}
	r = e.Run("", "instance", "ls")
	cliWant(t, r, 0)
	if !strings.Contains(r.Stdout, "\thttp://127.0.0.1:9\t") || !strings.Contains(r.Stdout, "\tadmin\t") {
		t.Fatalf("ls: %q", r.Stdout)
	}
	r = e.Run("", "instance", "ls", "-o", "json")
	cliWant(t, r, 0)
	var list struct {
		Instances []struct{ ID, URL, Status, Slug string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil || len(list.Instances) != 1 || list.Instances[0].Slug != "admin" {
		t.Fatalf("ls -o json: %v %s", err, r.Stdout)
	}

	r = e.Run("", "call", "get", "/registry-svc/instances?slug=admin")
	cliWant(t, r, 0)
	if !strings.Contains(r.Stdout, list.Instances[0].ID) {
		t.Fatalf("call: %s", r.Stdout)
	}
	cliWant(t, e.Run("", "call", "get", "/no-such-svc/hello"), 5, "oo: ")
	cliWant(t, e.Run("", "instance", "rm", list.Instances[0].ID), 0, "Removed")

	tok := strings.TrimSpace(e.Run("", "token").Stdout)
	cliWant(t, e.Run("", "logout"), 0, "Logged out admin")
	if code := cliHTTP(t, http.MethodPost, srv.URL+"/user-svc/user/by-token", tok, nil); code != 401 {
		t.Fatalf("token still valid after logout: HTTP %d", code)
	}
	if _, err := os.Stat(cred); !os.IsNotExist(err) {
		t.Fatal("logout left the credentials file")
	}
	cliWant(t, e.Run("", "whoami"), 4, "not logged in to env dev: run `oo login`")
}

func TestCLIWrongPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t).With(cliNoKeyring)
	srv := e.StartServer()
	cliPointLocal(t, e, srv.URL)
	r := e.Run("not-the-password\n", "login", "admin", "--password-stdin", "--insecure-storage")
	cliWant(t, r, 4, "wrong password for admin")
	if strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Fatalf("error is not one line: %q", r.Stderr)
	}
}

func TestCLIServerDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t).With(cliNoKeyring, "OO_URL=http://"+freeAddr(t), "OO_TOKEN=whatever")
	r := e.Run("", "instance", "ls")
	cliWant(t, r, 7, "cannot reach the oo server at http://127.0.0.1:", "is `oo server start` running?")
	cliWant(t, e.Run("", "call", "get", "/x-svc/y"), 7, "cannot reach")
}

func TestCLIExpiredToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t).With(cliNoKeyring)
	srv := e.StartServer("--token-ttl", "2s")
	cliPointLocal(t, e, srv.URL)
	cliWant(t, e.Run(adminPassword+"\n", "login", "admin", "--password-stdin", "--insecure-storage"), 0)
	cliWant(t, e.Run("", "instance", "ls"), 0)
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := e.Run("", "instance", "ls")
		if r.Code == 4 {
			cliWant(t, r, 4, "expired", "oo login admin")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token never expired: %+v", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cliWant(t, e.Run("", "whoami"), 4, "expired", "oo login admin")
}

func TestCLIEnvToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t).With(cliNoKeyring)
	srv := e.StartServer()
	tok := cliLoginToken(t, srv.URL, "admin", adminPassword)
	e = e.With("OO_URL="+srv.URL, "OO_TOKEN="+tok)
	r := e.Run("", "instance", "ls", "-o", "json")
	cliWant(t, r, 0)
	if strings.TrimSpace(r.Stdout) != "{\n  \"instances\": []\n}" {
		t.Fatalf("ls json: %q", r.Stdout)
	}
	if got := strings.TrimSpace(e.Run("", "token").Stdout); got != tok {
		t.Fatalf("oo token printed %q", got)
	}
	if r := e.Run("", "whoami"); r.Code != 0 || !strings.Contains(r.Stdout, "OO_TOKEN") {
		t.Fatalf("whoami with OO_TOKEN: %+v", r)
	}
	// Nothing was written: OO_TOKEN needs no config and no store.
	if _, err := os.Stat(filepath.Join(e.Home, "config", "oo", "credentials.json")); !os.IsNotExist(err) {
		t.Fatal("OO_TOKEN caused a credentials file")
	}
}

// TestCLIRealKeyring: the real binary stores the token in a real Secret Service, a later run
// (another process) reads it, logout removes it.
func TestCLIRealKeyring(t *testing.T) {
	t.Parallel()
	bus := keyringtest.Start(t)
	e := newEnv(t).With("DBUS_SESSION_BUS_ADDRESS=" + bus)
	srv := e.StartServer()
	cliPointLocal(t, e, srv.URL)
	cliWant(t, e.Run(adminPassword+"\n", "login", "admin", "--password-stdin"), 0, "OS keyring")
	r := e.Run("", "whoami")
	if r.Code != 0 || !strings.Contains(r.Stdout, `OS keyring (service "oo", account "local/admin")`) {
		t.Fatalf("whoami: %+v", r)
	}
	tok := strings.TrimSpace(e.Run("", "token").Stdout)
	if code := cliHTTP(t, http.MethodPost, srv.URL+"/user-svc/user/by-token", tok, nil); code != 200 {
		t.Fatalf("token from the keyring: HTTP %d", code)
	}
	raw, _ := os.ReadFile(filepath.Join(e.Home, "config", "oo", "config.json"))
	if strings.Contains(string(raw), tok) {
		t.Fatal("token in the config file")
	}
	cliWant(t, e.Run("", "logout"), 0)
	cliWant(t, e.Run("", "token"), 4, "not logged in")
}

// cliPTY runs script with sh on a real pseudo-terminal (python3's pty module), typing keys
// once the output shows prompt, and returns everything the terminal showed.
func cliPTY(t *testing.T, e *env, script, prompt, keys string) string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is needed for a pseudo-terminal")
	}
	const driver = `
import os, pty, sys, time
script, prompt, keys = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp("sh", ["sh", "-c", script])
out, sent, deadline = b"", False, time.time() + 30
while time.time() < deadline:
    try:
        b = os.read(fd, 4096)
    except OSError:
        break
    if not b:
        break
    out += b
    if not sent and prompt in out:
        time.sleep(0.2)
        os.write(fd, keys)
        sent = True
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
`
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "-c", driver, script, prompt, keys)
	cmd.Env = append(e.Vars, "OO="+ooBin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pty driver: %v\n%s", err, out)
	}
	return string(out)
}

// Ctrl-C at a hidden password prompt on a real terminal is "interrupted" (exit 3) and leaves
// echo on; ^D is a one-line error, not a hang.
func TestCLIPasswordPromptOnTTY(t *testing.T) {
	t.Parallel()
	e := newEnv(t).With(cliNoKeyring)
	echoOn := regexp.MustCompile(`(^|\s)echo(\s|$)`)
	for _, c := range []struct {
		keys, rc, msg string
	}{
		{"\x03", "rc=3", "oo: interrupted"},
		{"\x04", "rc=2", "oo: no password given"},
	} {
		out := cliPTY(t, e, `"$OO" login admin; echo "rc=$?"; stty -a`, "Password for admin", c.keys)
		if !strings.Contains(out, c.rc) || !strings.Contains(out, c.msg) {
			t.Fatalf("keys %q: want %s and %q:\n%s", c.keys, c.rc, c.msg, out)
		}
		if !echoOn.MatchString(out[strings.Index(out, c.rc):]) {
			t.Fatalf("keys %q: echo left off:\n%s", c.keys, out)
		}
	}
	// At the echoed Slug: prompt Ctrl-C is a real SIGINT (the shell ignores it, so that it can
	// print oo's exit code): oo catches it and exits 3 instead of dying of it.
	out := cliPTY(t, e, `trap "" INT; "$OO" login; echo "rc=$?"`, "Slug: ", "\x03")
	if !strings.Contains(out, "rc=3") || !strings.Contains(out, "oo: interrupted") {
		t.Fatalf("Ctrl-C at Slug: %s", out)
	}
}

// `oo instance ls --watch` stops cleanly, exit 0, on SIGINT even when the script that started
// it ignores SIGINT (as shells do for background jobs), and on SIGTERM.
func TestCLIWatchStopsOnSignal(t *testing.T) {
	t.Parallel()
	e := newEnv(t).With(cliNoKeyring)
	srv := e.StartServer()
	e = e.With("OO_URL="+srv.URL, "OO_TOKEN="+cliLoginToken(t, srv.URL, "admin", adminPassword))
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		cmd := exec.Command("sh", "-c", `trap "" INT; exec "$OO" instance ls --watch --interval 200ms`)
		cmd.Env = append(e.Vars, "OO="+ooBin)
		out := &proctest.Output{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "ID"); {
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				t.Fatalf("no table: %s", out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%v: want exit 0, got %v\n%s", sig, err, out.String())
			}
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("%v did not stop the watch", sig)
		}
	}
}
