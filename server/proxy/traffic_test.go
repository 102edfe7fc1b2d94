package proxy_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/proxy"
	"github.com/ooctl/oo/server/registry"
	"github.com/ooctl/oo/server/traffic"
)

type tokens map[string]auth.Principal

func (f tokens) Authenticate(tok string) (auth.Principal, error) {
	if p, ok := f[tok]; ok {
		return p, nil
	}
	return auth.Principal{}, errors.New("invalid token")
}

// withTraffic is setupWith with a recorder the test reads.
func withTraffic(t *testing.T, popts proxy.Options) (*registry.Registry, *served, *traffic.Recorder) {
	t.Helper()
	rec := traffic.New()
	t.Cleanup(rec.Close)
	popts.Traffic = rec
	reg, px := setupWith(t, registry.Options{}, popts)
	return reg, px, rec
}

// counters returns slug's figures once every request begun has ended (the net/http path
// records after the response is out).
func counters(t *testing.T, rec *traffic.Recorder, slug string, requests uint64) traffic.Counters {
	t.Helper()
	var c traffic.Counters
	eventually(t, 5*time.Second, "requests recorded", func() bool {
		for _, c = range rec.Counters() {
			if c.Slug == slug {
				var n uint64
				for _, byMethod := range c.Requests {
					for _, k := range byMethod {
						n += k
					}
				}
				return n == requests && c.InFlight == 0
			}
		}
		return false
	})
	return c
}

func do(t *testing.T, method, url, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body = nil
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(rsp.Body)
	return rsp, string(b)
}

// Each routed request is recorded once, on both paths: status class and method, bytes both
// ways, the instance, the caller, and an event for followers with the path without its query.
func TestTrafficRecordsExchanges(t *testing.T) { bothPaths(t, testTrafficRecordsExchanges) }

func testTrafficRecordsExchanges(t *testing.T) {
	backend := echoBackend(t)
	reg, px, rec := withTraffic(t, proxy.Options{Identity: tokens{"good": {Slug: "alice", UserID: "usr_a"}}})
	inst := register(t, reg, backend.URL)
	sub := rec.Subscribe("echo-svc", 8)
	defer sub.Close()

	rsp1, body1 := do(t, http.MethodGet, px.URL+"/echo-svc/x?secret=1", "", "X-Request-Id", "rid-1", "Authorization", "Bearer good")
	rsp2, body2 := do(t, http.MethodPost, px.URL+"/echo-svc/up", "payload")
	rsp3, _ := do(t, http.MethodGet, px.URL+"/nobody-svc/x", "") // not routed: not recorded
	big := strings.Repeat("b", 300_000)                          // streamed, not all in the fast path's buffer
	rsp4, body4 := do(t, http.MethodPut, px.URL+"/echo-svc/big", big)
	if rsp1.StatusCode != 200 || rsp2.StatusCode != 200 || rsp3.StatusCode != 404 || rsp4.StatusCode != 200 {
		t.Fatalf("HTTP %d %d %d %d", rsp1.StatusCode, rsp2.StatusCode, rsp3.StatusCode, rsp4.StatusCode)
	}
	c := counters(t, rec, "echo-svc", 3)
	if c.Requests[2][0] != 1 || c.Requests[2][1] != 1 || c.Requests[2][2] != 1 || c.Errors != 0 || c.Retries != 0 {
		t.Errorf("2xx GET %d, POST %d, PUT %d, errors %d, retries %d; want 1 1 1 0 0", c.Requests[2][0], c.Requests[2][1], c.Requests[2][2], c.Errors, c.Retries)
	}
	if in, out := len("payload")+len(big), len(body1)+len(body2)+len(body4); c.BytesIn != uint64(in) || c.BytesOut != uint64(out) {
		t.Errorf("bytes in %d out %d, want %d and %d", c.BytesIn, c.BytesOut, in, out)
	}
	if got := rec.Instance(inst.ID); got != (traffic.InstanceCounts{Requests: 3}) {
		t.Errorf("instance counts %+v, want 3 requests", got)
	}
	if len(rec.Counters()) != 1 {
		t.Errorf("slugs recorded: %+v, want only echo-svc", rec.Counters())
	}
	ev := <-sub.C
	if ev.Method != "GET" || ev.Path != "/echo-svc/x" || ev.Status != 200 || ev.RequestID != "rid-1" ||
		ev.Instance != inst.ID || ev.Caller != "alice" || ev.BytesOut != int64(len(body1)) || ev.Upstream != "" || ev.DurationMs <= 0 {
		t.Errorf("first event %+v", ev)
	}
	ev = <-sub.C
	// An id is generated for a request without one (on net/http by the server's middleware,
	// which this test does not run).
	if ev.Method != "POST" || ev.BytesIn != 7 || ev.Caller != "" || (ev.RequestID == "") == fastMode(t) {
		t.Errorf("second event %+v", ev)
	}
}

// Upstream failures are recorded by kind with the status the client got, on both paths.
func TestTrafficRecordsUpstreamFailures(t *testing.T) {
	bothPaths(t, testTrafficRecordsUpstreamFailures)
}

func testTrafficRecordsUpstreamFailures(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	breaking := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
	}))
	defer breaking.Close()
	for _, c := range []struct {
		url    string
		status int
		kind   traffic.Failure
	}{
		{deadURL(t), http.StatusServiceUnavailable, traffic.FailDial},
		{breaking.URL, http.StatusBadGateway, traffic.FailReset},
		{slow.URL, http.StatusGatewayTimeout, traffic.FailTimeout},
	} {
		reg, px, rec := withTraffic(t, proxy.Options{ResponseHeaderTimeout: 200 * time.Millisecond})
		inst := register(t, reg, c.url)
		sub := rec.Subscribe("echo-svc", 1)
		if rsp, body := do(t, http.MethodGet, px.URL+"/echo-svc/x", ""); rsp.StatusCode != c.status {
			t.Fatalf("%s: HTTP %d %s, want %d", c.kind, rsp.StatusCode, body, c.status)
		}
		got := counters(t, rec, "echo-svc", 1)
		want := [3]uint64{}
		want[c.kind-1] = 1
		if got.Upstream != want || got.Errors != 1 || got.Requests[5][0] != 1 {
			t.Errorf("%s: upstream %v errors %d 5xx GET %d; want %v 1 1", c.kind, got.Upstream, got.Errors, got.Requests[5][0], want)
		}
		// The instance tried is charged with the error, a failed dial included.
		if ic := rec.Instance(inst.ID); ic != (traffic.InstanceCounts{Requests: 1, Errors: 1}) {
			t.Errorf("%s: instance %+v", c.kind, ic)
		}
		if ev := <-sub.C; ev.Upstream != c.kind.String() || ev.Status != c.status {
			t.Errorf("%s: event %+v", c.kind, ev)
		}
	}
}

// A failed dial retried on another instance is one successful request with one retry; a slug
// with no routable instance is a 503 without an instance.
func TestTrafficRecordsRetries(t *testing.T) { bothPaths(t, testTrafficRecordsRetries) }

func testTrafficRecordsRetries(t *testing.T) {
	backend := echoBackend(t)
	reg, px, rec := withTraffic(t, proxy.Options{})
	dead := register(t, reg, deadURL(t))
	live := register(t, reg, backend.URL)
	for range 4 {
		if rsp, body := do(t, http.MethodGet, px.URL+"/echo-svc/x", ""); rsp.StatusCode != 200 {
			t.Fatalf("HTTP %d %s", rsp.StatusCode, body)
		}
	}
	c := counters(t, rec, "echo-svc", 4)
	if c.Retries < 1 || c.Errors != 0 || c.Upstream != [3]uint64{} || c.Requests[2][0] != 4 {
		t.Errorf("retries %d errors %d upstream %v 2xx %d; want >=1 0 none 4", c.Retries, c.Errors, c.Upstream, c.Requests[2][0])
	}
	if got := rec.Instance(live.ID); got.Requests != 4 || got.Errors != 0 {
		t.Errorf("live instance %+v, want 4 requests (the retried ones answered there)", got)
	}
	if got := rec.Instance(dead.ID); got.Requests != 0 {
		t.Errorf("dead instance %+v: a retried request is the instance's that answered", got)
	}
}

// A client that goes away before the answer is recorded as aborted (status 0), not as an
// error of the service.
func TestTrafficRecordsAbortedRequests(t *testing.T) { bothPaths(t, testTrafficRecordsAbortedRequests) }

func testTrafficRecordsAbortedRequests(t *testing.T) {
	started := make(chan struct{}, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer backend.Close()
	reg, px, rec := withTraffic(t, proxy.Options{})
	register(t, reg, backend.URL)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, px.URL+"/echo-svc/slow", nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if rsp, err := http.DefaultClient.Do(req); err == nil {
			rsp.Body.Close()
		}
	}()
	<-started
	if c := rec.Counters(); len(c) != 1 || c[0].InFlight != 1 {
		t.Errorf("while the backend works: %+v, want one in flight", c)
	}
	cancel()
	<-done
	c := counters(t, rec, "echo-svc", 1)
	if c.Requests[0][0] != 1 || c.Errors != 0 {
		t.Errorf("aborted GET %d errors %d, want 1 0", c.Requests[0][0], c.Errors)
	}
}
