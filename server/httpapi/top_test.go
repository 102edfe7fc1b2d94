package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// topServer runs a server probing every 500 ms (a probe is Degraded only past 250 ms, which a
// loaded machine does not reach) with two accounts, each with one backend
// registered and Healthy: "busy-svc" answers 500 on paths ending in /fail and 200 "ok" elsewhere, "idle-svc" is
// never called. It returns the server and the two accounts' tokens.
func topServer(t *testing.T, mutate ...func(*server.Config)) (s *servertest.Server, busy, idle string) {
	t.Helper()
	s = servertest.Start(t, append([]func(*server.Config){pathMode(t), func(c *server.Config) {
		c.ProbeInterval = 500 * time.Millisecond
	}}, mutate...)...)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/fail") {
			http.Error(w, "failing on purpose", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
	for _, slug := range []string{"busy-svc", "idle-svc"} {
		tok := s.Register(t, slug, slug+"-password-1234")
		backend := httptest.NewServer(handler)
		t.Cleanup(backend.Close)
		var out api.RegisterInstanceResponse
		if code := s.Do(t, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: backend.URL}, &out); code != http.StatusCreated {
			t.Fatalf("register %s's instance: HTTP %d", slug, code)
		}
		s.AwaitStatus(t, tok, out.Instance.ID, api.StatusHealthy)
		if slug == "busy-svc" {
			busy = tok
		} else {
			idle = tok
		}
	}
	return s, busy, idle
}

// proxied sends n GETs to path through the server and fails the test on a transport error.
func proxied(t *testing.T, s *servertest.Server, path string, n int) {
	t.Helper()
	for range n {
		rsp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, rsp.Body)
		rsp.Body.Close()
	}
}

func getTop(t *testing.T, s *servertest.Server, token string) api.TopResponse {
	t.Helper()
	var top api.TopResponse
	if code := s.Do(t, http.MethodGet, api.PathTop, token, nil, &top); code != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", api.PathTop, code)
	}
	return top
}

func slugsOf(top api.TopResponse) []string {
	var out []string
	for _, r := range top.Slugs {
		out = append(out, r.Slug)
	}
	return out
}

func rowOf(t *testing.T, top api.TopResponse, slug string) api.SlugTop {
	t.Helper()
	for _, r := range top.Slugs {
		if r.Slug == slug {
			return r
		}
	}
	t.Fatalf("no row for %s in %+v", slug, top)
	return api.SlugTop{}
}

// Traffic proxied to a slug shows in its row (rates, percentiles, errors, counts) next to its
// instance counts; a slug with instances and no traffic is listed with zero rates; an admin
// sees both, each owner only their own; no token is a 401.
func TestTopTrafficAndVisibility(t *testing.T) {
	s, busy, idle := topServer(t)
	proxied(t, s, "/busy-svc/hello", 30)
	proxied(t, s, "/busy-svc/fail", 10)

	top := getTop(t, s, s.AdminToken(t))
	if top.Window != api.TopWindow.String() || top.MetricsOff || time.Since(top.Time) > time.Minute {
		t.Fatalf("header: time %s, window %q, metricsOff %v", top.Time, top.Window, top.MetricsOff)
	}
	if got := strings.Join(slugsOf(top), " "); got != "busy-svc idle-svc" {
		t.Fatalf("admin sees %q, want busy-svc idle-svc", got)
	}
	b := rowOf(t, top, "busy-svc")
	if b.Requests != 40 || b.Errors != 10 || b.RPS <= 0 || b.P50Ms <= 0 || b.P99Ms < b.P50Ms ||
		b.ErrorRate < 0.2 || b.ErrorRate > 0.3 || b.BytesOut == 0 || b.Healthy != 1 || b.Instances != 1 || b.InFlight != 0 {
		t.Fatalf("busy-svc after 30 OK and 10 failing requests: %+v", b)
	}
	if i := rowOf(t, top, "idle-svc"); i.RPS != 0 || i.Requests != 0 || i.Healthy != 1 || i.Instances != 1 {
		t.Fatalf("idle-svc, never called: %+v", i)
	}

	if got := slugsOf(getTop(t, s, busy)); len(got) != 1 || got[0] != "busy-svc" {
		t.Fatalf("busy-svc's owner sees %q, want only busy-svc", got)
	}
	if got := slugsOf(getTop(t, s, idle)); len(got) != 1 || got[0] != "idle-svc" {
		t.Fatalf("idle-svc's owner sees %q, want only idle-svc", got)
	}
	// An account without instances sees an empty list, not someone else's.
	if got := getTop(t, s, s.Register(t, "empty-svc", "empty-svc-password-1234")); len(got.Slugs) != 0 {
		t.Fatalf("an account without instances sees %+v", got.Slugs)
	}

	rsp, err := http.Get(s.URL + api.PathTop)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusUnauthorized || rsp.Header.Get("WWW-Authenticate") == "" || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("without a token: HTTP %d %s", rsp.StatusCode, body)
	}
	var e api.ErrorResponse
	if code := s.Do(t, http.MethodGet, api.PathTop+"?stream=maybe", busy, nil, &e); code != http.StatusBadRequest || !strings.Contains(e.Error, "stream") {
		t.Fatalf("?stream=maybe: HTTP %d %q", code, e.Error)
	}
}

// With metrics off the server records no traffic: top still answers, with the instance counts,
// zero rates and metricsOff set.
func TestTopMetricsOff(t *testing.T) {
	s, busy, _ := topServer(t, func(c *server.Config) { c.Metrics = server.MetricsOff })
	proxied(t, s, "/busy-svc/hello", 5)
	top := getTop(t, s, busy)
	if !top.MetricsOff || len(top.Slugs) != 1 {
		t.Fatalf("metrics off: %+v", top)
	}
	if b := top.Slugs[0]; b.Slug != "busy-svc" || b.Requests != 0 || b.RPS != 0 || b.Healthy != 1 || b.Instances != 1 {
		t.Fatalf("metrics off: %+v", b)
	}
}

// sseEvent is one server-sent event: its name ("" for the default) and its data.
type sseEvent struct{ name, data string }

// readEvents parses server-sent events from r onto a channel, closed at the end of the stream.
func readEvents(r io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.data != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return ch
}

// openTopStream opens the stream with Accept (or ?stream=1 when query is set).
func openTopStream(t *testing.T, ctx context.Context, s *servertest.Server, token string, query bool) (*http.Response, <-chan sseEvent) {
	t.Helper()
	url := s.URL + api.PathTop
	if query {
		url += "?stream=1"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if !query {
		req.Header.Set("Accept", "text/event-stream")
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rsp.Body.Close() })
	if rsp.StatusCode != http.StatusOK || rsp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: HTTP %d, Content-Type %q", rsp.StatusCode, rsp.Header.Get("Content-Type"))
	}
	return rsp, readEvents(rsp.Body)
}

// nextSnapshot waits for the next event and decodes it as a snapshot.
func nextSnapshot(t *testing.T, events <-chan sseEvent, within time.Duration) api.TopResponse {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		var top api.TopResponse
		if ev.name != "" || json.Unmarshal([]byte(ev.data), &top) != nil || top.Window == "" {
			t.Fatalf("event %q: %q is not a snapshot", ev.name, ev.data)
		}
		return top
	case <-time.After(within):
		t.Fatalf("no snapshot within %s", within)
	}
	return api.TopResponse{}
}

// The stream sends a snapshot at once and another every second, which see new traffic; it
// works through both of the server's paths, by Accept and by ?stream=1.
func TestTopStream(t *testing.T) { bothPaths(t, testTopStream) }

func testTopStream(t *testing.T) {
	s, busy, _ := topServer(t)
	for _, query := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, events := openTopStream(t, ctx, s, busy, query)
		first := nextSnapshot(t, events, 5*time.Second)
		proxied(t, s, "/busy-svc/hello", 3)
		var later api.TopResponse
		for range 3 { // the snapshot after the requests, at most a few ticks on a loaded machine
			later = nextSnapshot(t, events, 5*time.Second)
			if rowOf(t, later, "busy-svc").Requests >= rowOf(t, first, "busy-svc").Requests+3 {
				break
			}
		}
		if !later.Time.After(first.Time) || rowOf(t, later, "busy-svc").Requests < rowOf(t, first, "busy-svc").Requests+3 {
			t.Fatalf("query %v: first %+v, later %+v: the 3 requests in between do not show", query, first, later)
		}
		if len(later.Slugs) != 1 {
			t.Fatalf("the owner's stream shows %q", slugsOf(later))
		}
		cancel()
	}
}

// A graceful shutdown ends open streams at once instead of waiting its timeout for them.
func TestTopStreamEndsAtShutdown(t *testing.T) { bothPaths(t, testTopStreamEndsAtShutdown) }

func testTopStreamEndsAtShutdown(t *testing.T) {
	s, busy, _ := topServer(t, func(c *server.Config) { c.ShutdownTimeout = 8 * time.Second })
	_, events := openTopStream(t, context.Background(), s, busy, false)
	nextSnapshot(t, events, 5*time.Second)
	start := time.Now()
	s.Stop(t)
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("shutdown took %s with a stream open (its timeout is 8s)", d)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return // the stream ended
			}
		case <-deadline:
			t.Fatal("the stream is still open after the shutdown")
		}
	}
}

// Logging out ends a stream opened with that token, with an error event saying why.
func TestTopStreamEndsWhenTheTokenIsRevoked(t *testing.T) {
	s, busy, _ := topServer(t)
	_, events := openTopStream(t, context.Background(), s, busy, false)
	nextSnapshot(t, events, 5*time.Second)
	if code := s.Do(t, http.MethodDelete, api.PathToken, busy, nil, nil); code/100 != 2 {
		t.Fatalf("logout: HTTP %d", code)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended without an error event")
			}
			if ev.name == "error" {
				var e api.ErrorResponse
				if json.Unmarshal([]byte(ev.data), &e) != nil || e.Error == "" {
					t.Fatalf("error event %q", ev.data)
				}
				if _, more := <-events; more {
					t.Fatal("the stream went on after its error event")
				}
				return
			}
		case <-deadline:
			t.Fatal("the stream outlived its revoked token by 10s")
		}
	}
}
