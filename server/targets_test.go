package server_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/egress"
	"github.com/ooctl/oo/server/servertest"
)

// Registering the cloud metadata service, or another spelling of someone else's URL, is
// answered over HTTP with a JSON error a client can show.
func TestRegisterRefusalsOverHTTP(t *testing.T) {
	s := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	a := s.Register(t, "a-svc", "a-svc-password-1234")
	b := s.Register(t, "b-svc", "b-svc-password-1234")
	var e api.ErrorResponse
	if code := s.Do(t, http.MethodPut, api.PathInstance, a, api.RegisterInstanceRequest{URL: "http://169.254.169.254/latest"}, &e); code != http.StatusForbidden ||
		!strings.Contains(e.Error, "target policy refuses 169.254.169.254") {
		t.Fatalf("metadata URL: HTTP %d %q, want 403 from the target policy", code, e.Error)
	}
	if code := s.Do(t, http.MethodPut, api.PathInstance, a, api.RegisterInstanceRequest{URL: "http://127.0.0.1:29999"}, nil); code != http.StatusCreated {
		t.Fatalf("a-svc registering 127.0.0.1:29999: HTTP %d", code)
	}
	for _, u := range []string{"http://localhost:29999", "http://[::ffff:127.0.0.1]:29999"} {
		e = api.ErrorResponse{}
		if code := s.Do(t, http.MethodPut, api.PathInstance, b, api.RegisterInstanceRequest{URL: u}, &e); code != http.StatusConflict ||
			!strings.Contains(e.Error, `"a-svc"`) {
			t.Errorf("b-svc registering %s: HTTP %d %q, want 409 naming a-svc", u, code, e.Error)
		}
	}
}

func tcpAddr(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

func TestExposureWarningConditions(t *testing.T) {
	narrowed := egress.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, nil)
	denyOnly := egress.New(nil, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	cases := []struct {
		addr   string
		reg    string
		policy *egress.Policy
		warn   bool
	}{
		{"127.0.0.1:58231", "open", nil, false},
		{"[::1]:58231", "open", nil, false},
		{"127.0.0.2:58231", "open", nil, false},
		{"0.0.0.0:58231", "open", nil, true},
		{"[::]:58231", "open", nil, true},
		{"192.0.2.10:58231", "open", nil, true},
		{"[::ffff:0.0.0.0]:58231", "open", nil, true},
		{"0.0.0.0:58231", "open", denyOnly, true}, // a deny list does not narrow what is reachable
		{"0.0.0.0:58231", "closed", nil, false},
		{"0.0.0.0:58231", "open", narrowed, false},
	}
	for _, c := range cases {
		w := server.ExposureWarning(tcpAddr(c.addr), c.reg, c.policy)
		if (w != "") != c.warn {
			t.Errorf("%s registration=%s policy=%v: warning %q, want warn=%v", c.addr, c.reg, c.policy, w, c.warn)
		}
		if w != "" && (strings.Contains(w, "\n") || !strings.Contains(w, "anyone who can reach") || !strings.Contains(w, "--allow-targets")) {
			t.Errorf("warning %q is not one line saying who can do what and how to narrow it", w)
		}
	}
}

// wideListener serves on loopback but reports a wildcard address, so the server behaves as if
// bound beyond loopback without being reachable from anywhere else.
type wideListener struct{ net.Listener }

func (wideListener) Addr() net.Addr { return tcpAddr("0.0.0.0:58231") }

func TestServePrintsExposureWarningOnce(t *testing.T) {
	for _, c := range []struct {
		name  string
		wide  bool
		count int
	}{{"wildcard", true, 1}, {"loopback", false, 0}} {
		t.Run(c.name, func(t *testing.T) {
			// Read only after Serve returned, so a plain buffer is not raced.
			var stderr bytes.Buffer
			cfg := quietConfig(t.TempDir())
			cfg.Stderr = &stderr
			srv, err := server.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var l net.Listener = ln
			if c.wide {
				l = wideListener{ln}
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ctx, l) }()
			// Serve prints before it serves; a served request proves it got that far.
			deadline := time.Now().Add(10 * time.Second)
			for {
				rsp, err := http.Get("http://" + ln.Addr().String() + api.PathHealthz)
				if err == nil {
					rsp.Body.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("server not serving: %v", err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(stderr.String(), "warning: listening on 0.0.0.0:58231 with open registration"); got != c.count {
				t.Fatalf("stderr %q: %d warnings, want %d", stderr.String(), got, c.count)
			}
		})
	}
}
