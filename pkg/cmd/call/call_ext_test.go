package call_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

func TestCallServerAPI(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, servertest.AdminPassword+"\n", "login", "admin", "--password-stdin"), "login")

	// Piped: the exact bytes. Terminal: indented.
	raw := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "call", "get", "/registry-svc/instances"), "get piped").Out
	if raw != "{\"instances\":[]}\n" && raw != "{\"instances\":[]}" {
		t.Fatalf("piped body: %q", raw)
	}
	pretty := cmdtest.MustOK(t, h.Run(cmdtest.Terminal, "", "call", "get", "/registry-svc/instances"), "get tty").Out
	if pretty != "{\n  \"instances\": []\n}\n" {
		t.Fatalf("tty body: %q", pretty)
	}

	body := `{"query":{"limit":1}}`
	for name, run := range map[string]func() cmdtest.Result{
		"-d literal": func() cmdtest.Result { return h.Run(cmdtest.Piped, "", "call", "post", "/user-svc/users", "-d", body) },
		"-d @-": func() cmdtest.Result {
			return h.Run(cmdtest.Piped, body, "call", "POST", "/user-svc/users", "-d", "@-")
		},
		"-d @file": func() cmdtest.Result {
			p := filepath.Join(t.TempDir(), "q.json")
			os.WriteFile(p, []byte(body), 0o600)
			return h.Run(cmdtest.Piped, "", "call", "post", "/user-svc/users", "-d", "@"+p)
		},
	} {
		r := cmdtest.MustOK(t, run(), name)
		var rsp api.ListUsersResponse
		if err := json.Unmarshal([]byte(r.Out), &rsp); err != nil || len(rsp.Users) != 1 {
			t.Fatalf("%s: %v %q", name, err, r.Out)
		}
	}

	r := h.Run(cmdtest.Piped, "", "call", "get", "/registry-svc/nothing-here")
	cmdtest.MustFail(t, r, cmdutil.ExitNotFound, "oo: ")
	if r.Out != "" {
		t.Fatalf("an error body goes to stderr, not stdout: %q", r.Out)
	}
	r = h.Run(cmdtest.Piped, "", "call", "get", "/registry-svc/nothing-here", "-i")
	if r.Code != cmdutil.ExitNotFound || !strings.HasPrefix(r.Out, "HTTP/1.1 404") || !strings.Contains(r.Out, "Content-Type: application/json") {
		t.Fatalf("-i: %+v", r)
	}
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "call", "get", "no-slash"), cmdutil.ExitUsage, "must start with '/'")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "call", "get", "/x", "-H", "nocolon"), cmdutil.ExitUsage, "Key: Value")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "call", "post", "/x", "-d", "@/does/not/exist"), cmdutil.ExitUsage)

	// A 401 that is the endpoint's own answer (here a wrong password) is shown as such while the
	// stored token is alive, not as "your token is expired or revoked".
	r = h.Run(cmdtest.Piped, "", "call", "post", "/user-svc/login", "-d", `{"slug":"admin","password":"not-the-password"}`)
	cmdtest.MustFail(t, r, cmdutil.ExitAuth, "HTTP 401 from POST /user-svc/login: wrong password")
	if strings.Contains(r.Err, "expired") {
		t.Fatalf("a wrong password in the body blamed on the token: %q", r.Err)
	}

	// Not logged in: the request goes out without a token and the 401 says how to log in.
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "logout"), "logout")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "call", "get", "/registry-svc/instances"), cmdutil.ExitAuth, "oo login")
}

func TestCallThroughProxy(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = 100 * time.Millisecond })
	var seen http.Header
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path, "method": r.Method, "body": string(b)})
	}))
	defer svc.Close()
	tok := srv.Register(t, "echo-svc", "echo-password-1")
	if code := srv.Do(t, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: svc.URL}, nil); code/100 != 2 {
		t.Fatalf("register: HTTP %d", code)
	}
	h := cmdtest.New(t, srv.URL)
	h.Vars["OO_TOKEN"] = tok
	deadline := time.Now().Add(20 * time.Second)
	var r cmdtest.Result
	for {
		r = h.Run(cmdtest.Piped, `{"a":1}`, "call", "put", "/echo-svc/hello", "-d", "@-", "-H", "X-Trace: abc")
		if r.Code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmdtest.MustOK(t, r, "call through the proxy")
	var got map[string]string
	if err := json.Unmarshal([]byte(r.Out), &got); err != nil {
		t.Fatalf("%v: %q", err, r.Out)
	}
	if got["path"] != "/echo-svc/hello" || got["method"] != "PUT" || got["body"] != `{"a":1}` {
		t.Fatalf("service saw %+v", got)
	}
	if seen.Get("X-Trace") != "abc" || seen.Get("Authorization") != "Bearer "+tok || seen.Get("Content-Type") != "application/json" {
		t.Fatalf("headers at the service: %v", seen)
	}
}
