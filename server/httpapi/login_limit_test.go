package httpapi_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/servertest"
)

// loginFrom posts a login from the loopback address src (any 127.x.y.z works on Linux), so a
// test can play several clients.
func loginFrom(t *testing.T, s *servertest.Server, src, slug, password string) (int, http.Header, string) {
	t.Helper()
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}).DialContext}
	defer tr.CloseIdleConnections()
	body := fmt.Sprintf(`{"slug":%q,"password":%q}`, slug, password)
	rsp, err := (&http.Client{Transport: tr}).Post(s.URL+api.PathLogin, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("login from %s: %v", src, err)
	}
	raw, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	return rsp.StatusCode, rsp.Header, string(raw)
}

func want429(t *testing.T, what string, code int, h http.Header, body, mentions string) {
	t.Helper()
	ra, err := strconv.Atoi(h.Get("Retry-After"))
	if code != http.StatusTooManyRequests || h.Get("Content-Type") != "application/json" || err != nil || ra < 1 || ra > 60 ||
		!strings.Contains(body, `"error"`) || !strings.Contains(body, mentions) {
		t.Fatalf("%s: HTTP %d Retry-After %q %s, want a JSON 429 with Retry-After 1..60 mentioning %s",
			what, code, h.Get("Retry-After"), body, mentions)
	}
}

// One client guessing passwords is stopped after its budget of failures (issue 11: about 30
// wrong passwords a second were accepted), whatever slugs it tries, and even its right password
// waits; other clients are not affected.
func TestLoginFailuresPerClientAre429(t *testing.T) {
	s := userStart(t)
	s.Register(t, "alice-svc", "alice-password-1")
	for i := range 10 {
		// Unknown slugs count too: they are the other half of guessing.
		slug := "alice-svc"
		if i%2 == 1 {
			slug = fmt.Sprintf("nobody-%d", i)
		}
		if code, _, body := loginFrom(t, s, "127.0.0.2", slug, "wrong-password"); code != http.StatusUnauthorized && code != http.StatusBadRequest {
			t.Fatalf("failure %d: HTTP %d %s", i+1, code, body)
		}
	}
	code, h, body := loginFrom(t, s, "127.0.0.2", "admin", servertest.AdminPassword)
	want429(t, "11th attempt", code, h, body, "client address")
	if code, _, body := loginFrom(t, s, "127.0.0.3", "admin", servertest.AdminPassword); code != http.StatusOK {
		t.Fatalf("another client: HTTP %d %s", code, body)
	}
}

// Guessing one slug's password from many addresses is stopped by the slug's budget.
func TestLoginFailuresPerSlugAre429(t *testing.T) {
	s := userStart(t)
	s.Register(t, "alice-svc", "alice-password-1")
	for i := range 10 {
		if code, _, body := loginFrom(t, s, fmt.Sprintf("127.0.1.%d", i+1), "alice-svc", "wrong-password"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: HTTP %d %s", i+1, code, body)
		}
	}
	code, h, body := loginFrom(t, s, "127.0.2.1", "alice-svc", "wrong-password")
	want429(t, "11th address", code, h, body, `"alice-svc`)
	if code, _, body := loginFrom(t, s, "127.0.2.1", "admin", servertest.AdminPassword); code != http.StatusOK {
		t.Fatalf("another slug from that address: HTTP %d %s", code, body)
	}
}

// Successful logins cost nothing: a service that logs in on every start is never throttled.
func TestLoginSuccessesAreNotThrottled(t *testing.T) {
	s := userStart(t)
	for i := range 30 {
		if code, _, body := loginFrom(t, s, "127.0.0.4", "admin", servertest.AdminPassword); code != http.StatusOK {
			t.Fatalf("login %d: HTTP %d %s", i+1, code, body)
		}
	}
}
