package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serverLogin posts a login to a running server and returns the HTTP status and token.
func serverLogin(t *testing.T, base, slug, password string) (int, string) {
	t.Helper()
	return postForToken(t, base+"/user-svc/login", map[string]string{"slug": slug, "password": password})
}

// serverRegister registers slug (password slug+"-password") and returns the status and token.
func serverRegister(t *testing.T, base, slug string) (int, string) {
	t.Helper()
	return postForToken(t, base+"/user-svc/register", map[string]string{"slug": slug, "name": slug, "password": slug + "-password"})
}

// serverAddInstance registers a new account slug and puts instanceURL in the registry under it;
// it returns the account's token.
func serverAddInstance(t *testing.T, base, slug, instanceURL string) string {
	t.Helper()
	code, tok := serverRegister(t, base, slug)
	if code != http.StatusOK {
		t.Fatalf("register %s: HTTP %d", slug, code)
	}
	req, _ := http.NewRequest(http.MethodPut, base+"/registry-svc/instance", strings.NewReader(`{"url":"`+instanceURL+`"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusCreated {
		t.Fatalf("register instance %s: HTTP %d", instanceURL, rsp.StatusCode)
	}
	return tok
}

func postForToken(t *testing.T, url string, req map[string]string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(req)
	rsp, err := http.Post(url, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer rsp.Body.Close()
	var out struct {
		Token struct {
			Token string `json:"token"`
		} `json:"token"`
	}
	_ = json.NewDecoder(rsp.Body).Decode(&out)
	return rsp.StatusCode, out.Token.Token
}

// serverWantOneLineFailure checks what a user sees when the server cannot start: a non-zero
// exit, quickly, with one line on stderr that contains want.
func serverWantOneLineFailure(t *testing.T, r result, took time.Duration, want string) {
	t.Helper()
	if r.Code == 0 {
		t.Errorf("exit code 0; stderr %q", r.Stderr)
	}
	// Generous for a loaded machine running tests in parallel; a server that waited or
	// retried instead of failing would run into the 60 s bound of e.Run.
	if took > 10*time.Second {
		t.Errorf("took %s to fail, want < 10s", took)
	}
	msg := strings.TrimRight(r.Stderr, "\n")
	if strings.Contains(msg, "\n") || !strings.Contains(msg, want) {
		t.Errorf("stderr = %q, want one line containing %q", r.Stderr, want)
	}
}

func TestServerPortInUseFailsFast(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	e := newEnv(t)
	start := time.Now()
	r := e.Run("", "server", "start", "--addr", busy.Addr().String())
	serverWantOneLineFailure(t, r, time.Since(start), "address already in use")
	if !strings.Contains(r.Stderr, busy.Addr().String()) {
		t.Errorf("stderr does not name the address: %q", r.Stderr)
	}
}

func TestServerDataDirHeldFailsFast(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.StartServer()
	start := time.Now()
	r := e.Run("", "server", "start", "--addr", "127.0.0.1:0")
	serverWantOneLineFailure(t, r, time.Since(start), "another oo server")
	if code, _ := serverLogin(t, first.URL, "admin", adminPassword); code != http.StatusOK {
		t.Errorf("the first server stopped working: login HTTP %d", code)
	}
}

func TestServerSIGTERMExitsCleanlyAndKeepsData(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.StartServer()
	body := `{"slug":"alice","name":"Alice","password":"alice-password"}`
	rsp, err := http.Post(p.URL+"/user-svc/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK {
		t.Fatalf("register: HTTP %d", rsp.StatusCode)
	}

	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v; log:\n%s", err, p.Log)
		}
	case <-time.After(15 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-done
		t.Fatalf("no exit within 15s of SIGTERM; log:\n%s", p.Log)
	}
	if !strings.Contains(p.Log.String(), "shutting down") {
		t.Errorf("no shutdown line in the log:\n%s", p.Log)
	}

	// The lock is released and the account survived.
	p2 := e.StartServer()
	if code, _ := serverLogin(t, p2.URL, "alice", "alice-password"); code != http.StatusOK {
		t.Errorf("login after restart: HTTP %d", code)
	}
}

// serverAwaitLog waits (bounded) until the server's output matches re and returns the match.
// The server writes before it answers HTTP, but the test reads its output through a pipe and a
// copying goroutine, which may not have caught up when the first request succeeds.
func serverAwaitLog(t *testing.T, p *serverProc, re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if m := re.FindStringSubmatch(p.Log.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the server's output within %s:\n%s", re, within, p.Log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServerGeneratedAdminPasswordIsPrintedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t).With("OO_ADMIN_PASSWORD=")
	p := e.StartServer()
	m := serverAwaitLog(t, p, regexp.MustCompile(`(?m)^\s+([0-9A-Za-z]{20,})\s*$`), 15*time.Second)
	if code, _ := serverLogin(t, p.URL, "admin", m[1]); code != http.StatusOK {
		t.Fatalf("login with the printed password: HTTP %d", code)
	}
	p.Stop()

	p2 := e.StartServer()
	if code, _ := serverLogin(t, p2.URL, "admin", m[1]); code != http.StatusOK {
		t.Errorf("printed password after restart: HTTP %d", code)
	}
	p2.Stop() // its whole output is in p2.Log once it has exited
	if strings.Contains(p2.Log.String(), m[1]) || strings.Contains(p2.Log.String(), "generated password") {
		t.Errorf("second start printed the password again:\n%s", p2.Log)
	}
}

// OO_ADMIN_PASSWORD on a later start changes nothing, and the server says so once, with how
// to change the password; the first start, which used it, says nothing of the kind.
func TestServerIgnoredAdminPasswordWarnsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.StartServer()
	p.Stop()
	const warning = "OO_ADMIN_PASSWORD was ignored"
	if strings.Contains(p.Log.String(), warning) {
		t.Fatalf("the first start used OO_ADMIN_PASSWORD but warned:\n%s", p.Log)
	}

	p2 := e.With("OO_ADMIN_PASSWORD=another-admin-password").StartServer()
	serverAwaitLog(t, p2, regexp.MustCompile(regexp.QuoteMeta(warning)), 15*time.Second)
	if code, _ := serverLogin(t, p2.URL, "admin", "another-admin-password"); code != http.StatusUnauthorized {
		t.Errorf("login with the ignored password: HTTP %d, want 401", code)
	}
	if code, _ := serverLogin(t, p2.URL, "admin", adminPassword); code != http.StatusOK {
		t.Errorf("login with the first password: HTTP %d", code)
	}
	p2.Stop()
	var lines []string
	for _, l := range strings.Split(p2.Log.String(), "\n") {
		if strings.Contains(l, warning) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "oo passwd") {
		t.Fatalf("want one warning line naming `oo passwd`, got %q in:\n%s", lines, p2.Log)
	}
}

// TestServerProxyResponseTimeout: --proxy-response-timeout reaches the proxy; a backend slower
// than it is a 504 JSON answer, a faster one is served.
func TestServerProxyResponseTimeout(t *testing.T) {
	t.Parallel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("slow") != "" {
			select {
			case <-time.After(30 * time.Second):
			case <-r.Context().Done():
			}
		}
		w.Write([]byte(`{"hello":"world"}`))
	}))
	defer backend.Close()
	e := newEnv(t)
	// Long enough that the fast answer is in time on a loaded machine.
	p := e.StartServer("--proxy-response-timeout", "2s", "--probe-interval", "0")
	serverAddInstance(t, p.URL, "slow-svc", backend.URL)

	for _, c := range []struct {
		query  string
		status int
		want   string
	}{{"", http.StatusOK, "world"}, {"?slow=1", http.StatusGatewayTimeout, `"error"`}} {
		rsp, err := http.Get(p.URL + "/slow-svc/x" + c.query)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode != c.status || !strings.Contains(string(b), c.want) {
			t.Errorf("GET%s: HTTP %d %s, want %d with %s", c.query, rsp.StatusCode, b, c.status, c.want)
		}
	}
}

// TestServerBadEnvDurationIsAUsageError: a malformed duration in the environment stops the
// server with exit 2 and names the variable, instead of quietly running on the default.
func TestServerBadEnvDurationIsAUsageError(t *testing.T) {
	t.Parallel()
	e := newEnv(t).With("OO_PROXY_DIAL_TIMEOUT=soon")
	start := time.Now()
	r := e.Run("", "server", "start", "--addr", "127.0.0.1:0")
	serverWantOneLineFailure(t, r, time.Since(start), "OO_PROXY_DIAL_TIMEOUT")
	if r.Code != 2 {
		t.Errorf("exit %d, want 2", r.Code)
	}
	// Other commands never look at the server's variables.
	if r := e.Run("", "version"); r.Code != 0 || r.Stderr != "" {
		t.Errorf("oo version with a bad server variable: exit %d, stderr %q", r.Code, r.Stderr)
	}
}
