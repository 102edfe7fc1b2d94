package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/proctest"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/proxy/proxytest"
	"github.com/ooctl/oo/server/servertest"
)

// bothPaths runs a proxy test with the server's fast path in front ("fast", the default) and
// with every request served by net/http ("nethttp", --proxy-net-http-only).
func bothPaths(t *testing.T, test func(t *testing.T)) {
	t.Run("nethttp", test)
	t.Run("fast", test)
}

// pathMode configures the server for the path bothPaths named the test after.
func pathMode(t testing.TB) func(*server.Config) {
	netHTTP := strings.Contains(t.Name(), "/nethttp")
	return func(c *server.Config) { c.ProxyNetHTTPOnly = netHTTP }
}

// pxStart runs a server (probing off) with handler registered as the only instance of slug.
func pxStart(t testing.TB, slug string, handler http.Handler, mutate ...func(*server.Config)) *servertest.Server {
	t.Helper()
	s := servertest.Start(t, append([]func(*server.Config){pathMode(t)}, mutate...)...)
	tok := s.Register(t, slug, slug+"-password-1234")
	backend := httptest.NewServer(handler)
	t.Cleanup(backend.Close)
	var out api.RegisterInstanceResponse
	if code := s.Do(t, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: backend.URL}, &out); code != http.StatusCreated {
		t.Fatalf("register instance: HTTP %d", code)
	}
	return s
}

func TestPxUnknownSlugIsJSON404(t *testing.T) { bothPaths(t, testPxUnknownSlugIsJSON404) }

func testPxUnknownSlugIsJSON404(t *testing.T) {
	s := servertest.Start(t, pathMode(t))
	rsp, err := http.Get(s.URL + "/no-such-svc/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusNotFound || rsp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("HTTP %d %q %s", rsp.StatusCode, rsp.Header.Get("Content-Type"), body)
	}
}

// The server's middleware wraps the ResponseWriter; upgrades and flushes must get through it.
func TestPxWebSocketThroughServer(t *testing.T) { bothPaths(t, testPxWebSocketThroughServer) }

func testPxWebSocketThroughServer(t *testing.T) {
	s := pxStart(t, "ws-svc", http.HandlerFunc(proxytest.WSEchoHandler))
	proxytest.WSEchoRoundTrip(t, strings.TrimPrefix(s.URL, "http://"), "/ws-svc/socket")
}

func TestPxSSEThroughServer(t *testing.T) { bothPaths(t, testPxSSEThroughServer) }

func testPxSSEThroughServer(t *testing.T) {
	ack := make(chan struct{})
	s := pxStart(t, "sse-svc", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			http.NewResponseController(w).Flush()
			select {
			case <-ack:
			case <-r.Context().Done():
				return
			}
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/sse-svc/events", nil)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	sc := bufio.NewScanner(rsp.Body)
	n := 0
	for n < 3 && sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			n++
			if n < 3 {
				ack <- struct{}{}
			}
		}
	}
	if n != 3 {
		t.Fatalf("got %d of 3 events before the deadline (%v): not flushed one by one", n, sc.Err())
	}
}

// BenchmarkPxProxiedRequest is one GET through the whole server (middleware, dispatch, route
// lookup, ReverseProxy, shared Transport) to a loopback backend, all in this process; "direct"
// is the same request without the server, for the overhead.
func BenchmarkPxProxiedRequest(b *testing.B) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"hello":"world"}`)
	})
	s := pxStart(b, "bench-svc", hello)
	slow := pxStart(b, "bench-svc", hello, func(c *server.Config) { c.ProxyNetHTTPOnly = true })
	direct := httptest.NewServer(hello)
	defer direct.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	for _, c := range []struct{ name, url string }{
		{"direct", direct.URL + "/bench-svc/hello"},
		{"proxied", s.URL + "/bench-svc/hello"},
		{"proxied-nethttp", slow.URL + "/bench-svc/hello"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				rsp, err := client.Get(c.url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, rsp.Body)
				rsp.Body.Close()
				if rsp.StatusCode != http.StatusOK {
					b.Fatalf("HTTP %d", rsp.StatusCode)
				}
			}
		})
	}
}

// BenchmarkPxStreams compares the two paths on what the fast path leaves to net/http
// (WebSocket: the connection is handed over after its first bytes) and on what it streams
// itself (SSE: each event flushed as it arrives): one op is a WebSocket session (upgrade, three
// echoes of 5 B, 300 B and 70 kB, close) or an SSE response of 20 events.
func BenchmarkPxStreams(b *testing.B) {
	sse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 20 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			http.NewResponseController(w).Flush()
		}
	})
	for _, mode := range []string{"nethttp", "fast"} {
		b.Run(mode, func(b *testing.B) {
			ws := pxStart(b, "ws-svc", http.HandlerFunc(proxytest.WSEchoHandler))
			ev := pxStart(b, "sse-svc", sse)
			b.Run("websocket", func(b *testing.B) {
				b.ReportAllocs()
				defer reportCPU(b)()
				for b.Loop() {
					proxytest.WSEchoRoundTrip(b, strings.TrimPrefix(ws.URL, "http://"), "/ws-svc/socket")
				}
			})
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			defer client.CloseIdleConnections()
			b.Run("sse", func(b *testing.B) {
				b.ReportAllocs()
				defer reportCPU(b)()
				for b.Loop() {
					rsp, err := client.Get(ev.URL + "/sse-svc/events")
					if err != nil {
						b.Fatal(err)
					}
					body, _ := io.ReadAll(rsp.Body)
					rsp.Body.Close()
					if n := strings.Count(string(body), "data: "); n != 20 {
						b.Fatalf("%d events", n)
					}
				}
			})
		})
	}
}

// reportCPU reports the process's CPU time (user and system, client, server and backend
// together) per op when the returned function runs: on a shared machine, wall time per op
// mostly measures the neighbours.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A proxied request carries the caller's verified identity to the backend and leaves one
// access-log line with its request id, on both paths; so does a proxy error.
func TestPxIdentityAndAccessLog(t *testing.T) { bothPaths(t, testPxIdentityAndAccessLog) }

func testPxIdentityAndAccessLog(t *testing.T) {
	logs := &proctest.Output{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := pxStart(t, "who-svc", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s", r.Header.Get(api.HeaderCallerSlug), r.Header.Get("X-Request-Id"))
	}), func(c *server.Config) { c.Logger = logger })
	tok := s.Register(t, "caller-svc", "caller-svc-password-1234")
	for _, c := range []struct {
		path, token, body string
		status            int
	}{
		{"/who-svc/x?y=1", tok, "caller-svc|", http.StatusOK},
		{"/who-svc/anon", "", "|", http.StatusOK},
		{"/nobody-svc/x", "", "", http.StatusNotFound},
	} {
		logs.Reset()
		req, _ := http.NewRequest(http.MethodGet, s.URL+c.path, nil)
		req.Header.Set("X-Oo-Caller-Slug", "forged")
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		id := rsp.Header.Get("X-Request-Id")
		if rsp.StatusCode != c.status || id == "" {
			t.Fatalf("GET %s: HTTP %d, X-Request-Id %q", c.path, rsp.StatusCode, id)
		}
		if c.status == http.StatusOK && string(body) != c.body+id {
			t.Errorf("GET %s: the backend saw %q, want %q", c.path, body, c.body+id)
		}
		var lines []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
				lines = append(lines, m)
			}
		}
		wantPath, _, _ := strings.Cut(c.path, "?")
		if len(lines) != 1 || lines[0]["method"] != "GET" || lines[0]["path"] != wantPath ||
			lines[0]["status"] != float64(c.status) || lines[0]["request_id"] != id {
			t.Errorf("GET %s: access log %v, want one line GET %s %d %s", c.path, lines, wantPath, c.status, id)
		}
		// Who asked, from where, which instance answered, and the bytes: the same keys on both
		// paths.
		l := lines[0]
		caller, _, _ := strings.Cut(c.body, "|")
		routed := c.status == http.StatusOK
		if cl, _ := l["client"].(string); !strings.HasPrefix(cl, "127.0.0.1:") || l["caller"] != caller ||
			(l["instance"] != "") != routed || l["bytes_in"] != float64(0) || l["bytes_out"] != float64(len(body)) {
			t.Errorf("GET %s: access log %v, want client, caller %q, an instance: %v, bytes out %d", c.path, l, caller, routed, len(body))
		}
	}
}
