package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// logBuffer collects a server's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// requests returns the access-log lines of requests whose path starts with prefix.
func (b *logBuffer) requests(t *testing.T, prefix string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(b.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "request" {
			continue
		}
		if p, _ := m["path"].(string); strings.HasPrefix(p, prefix) {
			out = append(out, m)
		}
	}
	return out
}

func send(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	return rsp.StatusCode, string(b)
}

// Proxied traffic shows in /metrics per slug and per instance, and each request's access-log
// line names the client, the instance, the caller and the bytes, on both data paths.
func TestProxyTrafficInMetricsAndAccessLog(t *testing.T) {
	for _, path := range []string{"fast", "nethttp"} {
		t.Run(path, func(t *testing.T) {
			logs := &logBuffer{}
			s := servertest.Start(t, func(c *server.Config) {
				c.ProxyNetHTTPOnly = path == "nethttp"
				c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			})
			backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if r.URL.Path == "/alice/fail" {
					w.WriteHeader(http.StatusInternalServerError)
					io.WriteString(w, "no")
					return
				}
				io.WriteString(w, "hello")
			}))
			defer backend.Close()
			token := s.Register(t, "alice", "alice-password")
			id := registerInstance(t, s, token, backend.URL)

			for range 3 {
				if code, body := send(t, http.MethodGet, s.URL+"/alice/x?q=1", "", ""); code != 200 || body != "hello" {
					t.Fatalf("GET: HTTP %d %q", code, body)
				}
			}
			if code, _ := send(t, http.MethodPost, s.URL+"/alice/up", token, "payload"); code != 200 {
				t.Fatalf("POST: HTTP %d", code)
			}
			if code, _ := send(t, http.MethodGet, s.URL+"/alice/fail", "", ""); code != 500 {
				t.Fatalf("GET /alice/fail: HTTP %d", code)
			}
			if code, _ := send(t, http.MethodGet, s.URL+"/nobody/x", "", ""); code != 404 {
				t.Fatalf("unknown slug: HTTP %d", code)
			}

			slug := map[string]string{"slug": "alice"}
			inst := map[string]string{"slug": "alice", "instance": id}
			var fams = scrape(t, s, "")
			deadline := time.Now().Add(5 * time.Second)
			for value(fams, "oo_proxy_request_duration_seconds", slug) != 5 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond) // the net/http path records once the response is out
				fams = scrape(t, s, "")
			}
			for _, c := range []struct {
				name   string
				labels map[string]string
				want   float64
			}{
				{"oo_proxy_requests_total", map[string]string{"slug": "alice", "code": "2xx", "method": "GET"}, 3},
				{"oo_proxy_requests_total", map[string]string{"slug": "alice", "code": "2xx", "method": "POST"}, 1},
				{"oo_proxy_requests_total", map[string]string{"slug": "alice", "code": "5xx", "method": "GET"}, 1},
				{"oo_proxy_requests_total", map[string]string{"slug": "nobody"}, -1}, // not routed: no series
				{"oo_proxy_request_duration_seconds", slug, 5},
				{"oo_proxy_requests_in_flight", slug, 0},
				{"oo_proxy_request_bytes_total", slug, float64(len("payload"))},
				{"oo_proxy_response_bytes_total", slug, float64(4*len("hello") + len("no"))},
				{"oo_proxy_upstream_errors_total", map[string]string{"slug": "alice", "kind": "dial"}, 0},
				{"oo_proxy_upstream_errors_total", map[string]string{"slug": "alice", "kind": "reset"}, 0},
				{"oo_proxy_retries_total", slug, 0},
				{"oo_instance_requests_total", inst, 5},
				{"oo_instance_errors_total", inst, 1},
			} {
				if got := value(fams, c.name, c.labels); got != c.want {
					t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
				}
			}
			if h := fams["oo_proxy_request_duration_seconds"]; h == nil || len(h.Metric[0].Histogram.Bucket) < 10 || h.Metric[0].Histogram.GetSampleSum() <= 0 {
				t.Errorf("duration histogram %v", h)
			}

			lines := logs.requests(t, "/alice/up")
			if len(lines) != 1 {
				t.Fatalf("access log lines of the POST: %v", lines)
			}
			post := lines[0]
			if c, _ := post["client"].(string); !strings.HasPrefix(c, "127.0.0.1:") || post["instance"] != id ||
				post["caller"] != "alice" || post["bytes_in"] != float64(7) || post["bytes_out"] != float64(5) || post["status"] != float64(200) {
				t.Errorf("access log of the POST: %v", post)
			}
			lines = logs.requests(t, "/nobody/")
			if len(lines) != 1 || lines[0]["instance"] != "" || lines[0]["caller"] != "" || lines[0]["bytes_out"].(float64) == 0 {
				t.Errorf("access log of the unknown slug: %v", lines)
			}
			// The same keys on every line, API requests included.
			for _, l := range logs.requests(t, "/") {
				for _, k := range []string{"method", "path", "status", "duration", "request_id", "client", "instance", "caller", "bytes_in", "bytes_out"} {
					if _, ok := l[k]; !ok {
						t.Errorf("access log line without %s: %v", k, l)
					}
				}
			}
		})
	}
}

// With --metrics off nothing is recorded, and the proxy and its access log work as before.
func TestMetricsOffRecordsNoTraffic(t *testing.T) {
	logs := &logBuffer{}
	s := servertest.Start(t, func(c *server.Config) {
		c.Metrics = "off"
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	defer backend.Close()
	token := s.Register(t, "alice", "alice-password")
	id := registerInstance(t, s, token, backend.URL)
	if code, _ := send(t, http.MethodGet, s.URL+"/alice/x", "", ""); code != 200 {
		t.Fatalf("GET: HTTP %d", code)
	}
	if code, _ := send(t, http.MethodGet, s.URL+api.PathMetrics, "", ""); code != http.StatusNotFound {
		t.Errorf("/metrics with --metrics off: HTTP %d", code)
	}
	if l := logs.requests(t, "/alice/x"); len(l) != 1 || l[0]["instance"] != id || l[0]["bytes_out"] != float64(2) {
		t.Errorf("access log %v", l)
	}
}
