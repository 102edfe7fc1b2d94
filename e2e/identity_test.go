package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The real server in front of a real backend that records what it receives: identity headers a
// client forges never reach the service, in any spelling; a valid token makes the server add
// the verified identity; an invalid or revoked one adds nothing.
func TestProxyAddsVerifiedCallerAndDropsSpoofedOnes(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen http.Header
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
	}))
	t.Cleanup(backend.Close)
	e := newEnv(t)
	srv := e.StartServer("--probe-interval", "0")
	serverAddInstance(t, srv.URL, "who-svc", backend.URL)
	code, callerTok := serverRegister(t, srv.URL, "caller-app")
	if code != http.StatusOK {
		t.Fatalf("register caller-app: HTTP %d", code)
	}

	call := func(token string) http.Header {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/who-svc/me", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		// Forged identity, in the spellings a service framework may read as the real header.
		req.Header["X-Oo-Caller-Slug"] = []string{"admin"}
		req.Header["x-oo-caller-roles"] = []string{"user-svc:admin"}
		req.Header["X_Oo_Caller_User_Id"] = []string{"usr_forged"}
		req.Header["X-OO-CALLER-ANYTHING"] = []string{"forged"}
		req.Header.Set("X-Real-Ip", "203.0.113.66")
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rsp.Body.Close()
		if rsp.StatusCode != http.StatusOK {
			t.Fatalf("proxied GET: HTTP %d", rsp.StatusCode)
		}
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
	// family is every header the service got that a framework could read as a caller header.
	family := func(h http.Header) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			if strings.HasPrefix(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "x-oo-caller-") {
				out[k] = strings.Join(v, "|")
			}
		}
		return out
	}

	h := call(callerTok)
	got := family(h)
	userID := got["X-Oo-Caller-User-Id"]
	want := map[string]string{"X-Oo-Caller-Slug": "caller-app", "X-Oo-Caller-User-Id": userID, "X-Oo-Caller-Roles": "user-svc:user"}
	if !strings.HasPrefix(userID, "usr_") || !maps.Equal(got, want) {
		t.Errorf("caller headers the service got: %q, want exactly the verified %q", got, want)
	}
	if got := h.Get("X-Real-Ip"); got != "127.0.0.1" {
		t.Errorf("X-Real-Ip %q, want the peer address, not the client's claim", got)
	}

	for name, tok := range map[string]string{"no token": "", "bad token": callerTok[:len(callerTok)-2] + "xx"} {
		if got := family(call(tok)); len(got) != 0 {
			t.Errorf("%s: caller headers reached the service: %q, want none", name, got)
		}
	}

	// A revoked token no longer identifies anyone.
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/user-svc/token", nil)
	req.Header.Set("Authorization", "Bearer "+callerTok)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: HTTP %d", rsp.StatusCode)
	}
	if got := family(call(callerTok)); len(got) != 0 {
		t.Errorf("revoked token: caller headers reached the service: %q, want none", got)
	}
}

// The Python example knows its caller from the headers alone: the admin's token makes it
// answer "admin", forged headers without a token make it answer null.
func TestExamplePythonWhoami(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		svcExampleNeed(t, "python3")
	}
	script, _ := filepath.Abs("../examples/python/first_service.py")
	e := newEnv(t)
	srv := e.StartServer()
	e = e.With("OO_URL="+srv.URL, "OO_SLUG=whoami-py", "SELF_URL="+svcExampleFreeURL(t))
	p := svcStartProc(t, e, py, script)
	svcEventually(t, 60*time.Second, "GET /whoami-py/hello through the proxy", func() bool {
		h, _, err := svcGetHello(srv.URL, "whoami-py")
		return err == nil && h.Hello == "world"
	}, p.Out, p.Err)
	_, adminTok := serverLogin(t, srv.URL, "admin", adminPassword)

	whoami := func(token string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/whoami-py/whoami", nil)
		req.Header.Set("X-Oo-Caller-Slug", "forged")
		req.Header.Set("X-Oo-Caller-Roles", "user-svc:admin")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer rsp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(rsp.Body).Decode(&out); err != nil || rsp.StatusCode != http.StatusOK {
			t.Fatalf("whoami: HTTP %d %v", rsp.StatusCode, err)
		}
		return out
	}
	got := whoami(adminTok)
	roles, _ := got["roles"].([]any)
	if got["caller"] != "admin" || !strings.HasPrefix(fmt.Sprint(got["userId"]), "usr_") || !slices.Contains(roles, any("user-svc:admin")) {
		t.Errorf("whoami with the admin's token: %v", got)
	}
	if got := whoami(""); got["caller"] != nil {
		t.Errorf("whoami with forged headers and no token: %v, want caller null", got)
	}
}

// The target policy from the environment of the real binary: OO_ALLOW_TARGETS narrows what may
// be registered, and a refusal is a JSON 403 naming the rule. Probing is off and nothing is
// proxied, so the allowed non-loopback address is never dialed.
func TestServerTargetPolicyFromEnv(t *testing.T) {
	t.Parallel()
	e := newEnv(t).With("OO_ALLOW_TARGETS=10.0.0.0/8", "OO_DENY_TARGETS=10.9.0.0/16")
	srv := e.StartServer("--probe-interval", "0")
	code, tok := serverRegister(t, srv.URL, "pol-svc")
	if code != http.StatusOK {
		t.Fatalf("register: HTTP %d", code)
	}
	for url, want := range map[string]struct {
		code int
		msg  string
	}{
		"http://127.0.0.1:9": {http.StatusForbidden, "not on --allow-targets 10.0.0.0/8"},
		"http://10.9.0.1:9":  {http.StatusForbidden, "on --deny-targets 10.9.0.0/16"},
		"http://10.1.2.3:9":  {http.StatusCreated, ""},
	} {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/registry-svc/instance", strings.NewReader(`{"url":"`+url+`"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(rsp.Body).Decode(&body)
		rsp.Body.Close()
		if rsp.StatusCode != want.code || !strings.Contains(body.Error, want.msg) {
			t.Errorf("%s: HTTP %d %q, want %d containing %q", url, rsp.StatusCode, body.Error, want.code, want.msg)
		}
	}
}
