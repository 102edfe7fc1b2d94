package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// The first path segment names the slug exactly as the client sent it; it is never decoded, and
// the path is forwarded as sent (issue 11). So a percent-encoded slash or dot in the first
// segment never routes to a service (or to the API) under another reading, and what routing
// saw is what the service sees.
func TestPxFirstSegmentIsTakenAsSent(t *testing.T) { bothPaths(t, testPxFirstSegmentIsTakenAsSent) }

func testPxFirstSegmentIsTakenAsSent(t *testing.T) {
	var mu sync.Mutex
	var got []string
	s := pxStart(t, "echo-svc", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.RequestURI)
		mu.Unlock()
		io.WriteString(w, "reached")
	}))
	for _, c := range []struct {
		method, path string
		status       int
		forwarded    string // the RequestURI the service sees; "" when it must see nothing
	}{
		// Escapes in the first segment: no slug can hold '%', so nothing is routed.
		{"GET", "/echo-svc%2fx", 404, ""},
		{"GET", "/echo-svc%2Fx/y", 404, ""},
		{"GET", "/%65cho-svc/x", 404, ""},
		{"GET", "/%2e%2e/echo-svc/x", 404, ""},
		{"GET", "/echo-svc%2f..%2fuser-svc/login", 404, ""},
		// A first segment that decodes to a reserved name is the API's, whose router does not
		// match the escaped form: 404 either way, and never a service.
		{"POST", "/user-svc%2flogin", 404, ""},
		{"GET", "/%2e%2e/user-svc/public-key", 404, ""},
		// Past the first segment, escapes are the service's business: forwarded untouched.
		{"GET", "/echo-svc/a%2fb/%2e%2e/c?q=%2f", 200, "/echo-svc/a%2fb/%2e%2e/c?q=%2f"},
		{"GET", "/echo-svc/%2e%2e/%2e%2e/user-svc/login", 200, "/echo-svc/%2e%2e/%2e%2e/user-svc/login"},
		{"GET", "/echo-svc/", 200, "/echo-svc/"},
	} {
		mu.Lock()
		got = nil
		mu.Unlock()
		req, err := http.NewRequest(c.method, s.URL+"/", strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = c.path // sent exactly as written
		rsp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		mu.Lock()
		seen := append([]string(nil), got...)
		mu.Unlock()
		switch {
		case rsp.StatusCode != c.status:
			t.Errorf("%s %s: HTTP %d %s, want %d", c.method, c.path, rsp.StatusCode, body, c.status)
		case c.status == 404 && (rsp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"error"`)):
			t.Errorf("%s %s: %q %s, want a JSON 404", c.method, c.path, rsp.Header.Get("Content-Type"), body)
		case c.forwarded == "" && len(seen) != 0:
			t.Errorf("%s %s reached the service as %q", c.method, c.path, seen)
		case c.forwarded != "" && (len(seen) != 1 || seen[0] != c.forwarded):
			t.Errorf("%s %s: the service saw %q, want %q", c.method, c.path, seen, c.forwarded)
		}
	}
}
