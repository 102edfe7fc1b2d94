package proxy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/proxy"
	"github.com/ooctl/oo/server/proxy/proxytest"
	"github.com/ooctl/oo/server/registry"
	"github.com/ooctl/oo/server/store/bolt"
	"github.com/ooctl/oo/server/traffic"
)

var svc = auth.Principal{UserID: "usr_s", Slug: "echo-svc", Roles: []string{api.RoleUser}}

// setup starts a registry (real store in a temp dir) and the proxy on a loopback server.
// Probing is off unless opts asks for it, so a test decides when instances change state.
func setup(t testing.TB, opts registry.Options) (*registry.Registry, *served) {
	t.Helper()
	return setupMode(t, opts, fastMode(t))
}

func setupMode(t testing.TB, opts registry.Options, fast bool) (*registry.Registry, *served) {
	t.Helper()
	var fo *proxy.FastOptions
	if fast {
		fo = &proxy.FastOptions{}
	}
	reg, srv, _ := setupTraffic(t, opts, fo, traffic.New())
	return reg, srv
}

// setupTraffic is setupMode with the traffic recorder the proxy reports to (every test runs
// with one, as the server does by default; nil is --metrics off), and the fast path's options
// (nil: the net/http path). It is closed with the rest.
func setupTraffic(t testing.TB, opts registry.Options, fast *proxy.FastOptions, rec *traffic.Recorder) (*registry.Registry, *served, *traffic.Recorder) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "oo.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if opts.ProbeInterval == 0 {
		opts.ProbeInterval = -1
	}
	reg, err := registry.New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); reg.Run(ctx) }()
	px := proxy.New(reg, proxy.Options{Traffic: rec})
	var srv *served
	if fast != nil {
		srv = serveFast(t, px, *fast)
	} else {
		srv = serve(t, px)
	}
	t.Cleanup(func() {
		srv.Close()
		px.Close()
		cancel()
		<-done
		reg.Close()
		st.Close()
		rec.Close()
	})
	return reg, srv, rec
}

func register(t testing.TB, reg *registry.Registry, url string) api.Instance {
	t.Helper()
	inst, err := reg.Register(svc, api.RegisterInstanceRequest{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func get(t testing.TB, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	body, err := io.ReadAll(rsp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rsp, string(body)
}

func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// echoBackend answers with what it received, as JSON.
func echoBackend(t testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"requestURI": r.RequestURI,
			"host":       r.Host,
			"headers":    r.Header,
			"body":       string(body),
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

type echoed struct {
	RequestURI string      `json:"requestURI"`
	Host       string      `json:"host"`
	Headers    http.Header `json:"headers"`
	Body       string      `json:"body"`
}

func TestForwardsPathQueryAndHeaders(t *testing.T) { bothPaths(t, testForwardsPathQueryAndHeaders) }

func testForwardsPathQueryAndHeaders(t *testing.T) {
	backend := echoBackend(t)
	reg, px := setup(t, registry.Options{})
	register(t, reg, backend.URL)

	for _, uri := range []string{
		"/echo-svc/echo?a=1&b=two",
		"/echo-svc/a%2Fb/c%20d?q=%2F&x=&x=2",
		"/echo-svc",
		"/echo-svc/",
	} {
		rsp, body := get(t, px.URL+uri,
			"Authorization", "Bearer abc",
			"X-Forwarded-For", "203.0.113.7",
			"Connection", "X-Hop",
			"X-Hop", "must not pass",
			"X-Request-Id", "req-123")
		if rsp.StatusCode != http.StatusOK {
			t.Fatalf("%s: HTTP %d %s", uri, rsp.StatusCode, body)
		}
		var e echoed
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatal(err)
		}
		if e.RequestURI != uri {
			t.Errorf("backend saw %q, want %q unchanged", e.RequestURI, uri)
		}
		h := e.Headers
		if got := h.Get("Authorization"); got != "Bearer abc" {
			t.Errorf("Authorization %q not passed through", got)
		}
		if got := h.Get("X-Forwarded-For"); got != "203.0.113.7, 127.0.0.1" {
			t.Errorf("X-Forwarded-For %q, want the chain plus the client", got)
		}
		if got := h.Get("X-Forwarded-Proto"); got != "http" {
			t.Errorf("X-Forwarded-Proto %q", got)
		}
		if got := h.Get("X-Forwarded-Host"); got != strings.TrimPrefix(px.URL, "http://") {
			t.Errorf("X-Forwarded-Host %q, want the proxy's host", got)
		}
		if got := h.Get("X-Request-Id"); got != "req-123" {
			t.Errorf("X-Request-Id %q not forwarded", got)
		}
		if got := h.Get("X-Hop"); got != "" {
			t.Errorf("hop-by-hop header X-Hop reached the backend: %q", got)
		}
		if e.Host != strings.TrimPrefix(backend.URL, "http://") {
			t.Errorf("backend saw Host %q, want its own address", e.Host)
		}
	}
}

func TestUnknownSlugIs404AndDownSlugIs503(t *testing.T) {
	bothPaths(t, testUnknownSlugIs404AndDownSlugIs503)
}

func testUnknownSlugIs404AndDownSlugIs503(t *testing.T) {
	reg, px := setup(t, registry.Options{})
	rsp, body := get(t, px.URL+"/nobody-svc/hello")
	if rsp.StatusCode != http.StatusNotFound || rsp.Header.Get("Content-Type") != "application/json" ||
		!strings.Contains(body, `"error"`) || !strings.Contains(body, "nobody-svc") {
		t.Fatalf("unknown slug: HTTP %d %q %s", rsp.StatusCode, rsp.Header.Get("Content-Type"), body)
	}

	inst := register(t, reg, "http://127.0.0.1:9")
	seenUp(t, reg, inst.ID)
	reg.ReportDialFailure(inst.ID, nil)
	rsp, body = get(t, px.URL+"/echo-svc/hello")
	if rsp.StatusCode != http.StatusServiceUnavailable || rsp.Header.Get("Retry-After") == "" ||
		rsp.Header.Get("Content-Type") != "application/json" || !strings.Contains(body, `"error"`) {
		t.Fatalf("slug with no routable instance: HTTP %d Retry-After %q %s", rsp.StatusCode, rsp.Header.Get("Retry-After"), body)
	}
}

// An instance whose URL is the proxy itself must not make a request loop until memory runs out:
// the request that comes back is refused with 508, and that answer reaches the client.
func TestInstancePointingAtTheProxyIs508(t *testing.T) {
	bothPaths(t, testInstancePointingAtTheProxyIs508)
}

func testInstancePointingAtTheProxyIs508(t *testing.T) {
	reg, px := setup(t, registry.Options{})
	register(t, reg, px.URL)
	rsp, body := get(t, px.URL+"/echo-svc/hello")
	if rsp.StatusCode != http.StatusLoopDetected || rsp.Header.Get("Content-Type") != "application/json" ||
		!strings.Contains(body, "loop") || !strings.Contains(body, "echo-svc") {
		t.Fatalf("HTTP %d %q %s", rsp.StatusCode, rsp.Header.Get("Content-Type"), body)
	}
}

// Via keeps the chain a client or an upstream proxy sent and adds this proxy once.
func TestViaChainIsKept(t *testing.T) { bothPaths(t, testViaChainIsKept) }

func testViaChainIsKept(t *testing.T) {
	seenc := make(chan []string, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenc <- r.Header.Values("Via")
	}))
	defer backend.Close()
	reg, px := setup(t, registry.Options{})
	register(t, reg, backend.URL)
	for _, sent := range [][]string{nil, {"1.0 edge"}, {"1.0 edge, 1.1 lb", "2 cdn"}} {
		hdr := []string{}
		for _, v := range sent {
			hdr = append(hdr, "Via", v)
		}
		if rsp, body := get(t, px.URL+"/echo-svc/x", hdr...); rsp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d %s", rsp.StatusCode, body)
		}
		seen := <-seenc
		if len(seen) != 1 {
			t.Fatalf("sent %q: backend saw %d Via lines %q", sent, len(seen), seen)
		}
		prefix := strings.Join(sent, ", ")
		if prefix != "" {
			prefix += ", "
		}
		if !strings.HasPrefix(seen[0], prefix+"1.1 oo-") || strings.Count(seen[0], "oo-") != 1 {
			t.Errorf("sent %q: backend saw Via %q", sent, seen[0])
		}
	}
}

// deadURL is a loopback address nothing listens on.
func deadURL(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String()
}

// seenUp makes instance id Healthy in a registry without probing, where a heartbeat is the
// evidence of life: its failures are then those of a service that was up, not one starting.
func seenUp(t testing.TB, reg *registry.Registry, id string) {
	t.Helper()
	if got, err := reg.Heartbeat(svc, id, ""); err != nil || got.Status != api.StatusHealthy {
		t.Fatalf("heartbeat: %+v, %v", got, err)
	}
}

func TestDialFailureRetriesOnAnotherInstance(t *testing.T) {
	bothPaths(t, testDialFailureRetriesOnAnotherInstance)
}

func testDialFailureRetriesOnAnotherInstance(t *testing.T) {
	backend := echoBackend(t)
	reg, px := setup(t, registry.Options{})
	dead := register(t, reg, deadURL(t))
	live := register(t, reg, backend.URL)
	// Both are Unknown and in their start period, so round-robin sends every other request to
	// the dead one, whose refused dial is retried on the other. POST bodies must survive that.
	postAll := func() {
		t.Helper()
		for i := range 6 {
			want := fmt.Sprintf("payload %d", i)
			rsp, err := http.Post(px.URL+"/echo-svc/post", "text/plain", strings.NewReader(want))
			if err != nil {
				t.Fatal(err)
			}
			var e echoed
			json.NewDecoder(rsp.Body).Decode(&e)
			rsp.Body.Close()
			if rsp.StatusCode != http.StatusOK || e.Body != want {
				t.Fatalf("POST %d: HTTP %d body %q", i, rsp.StatusCode, e.Body)
			}
		}
	}
	postAll()
	// A refused dial says a starting instance is not listening yet, not that it is gone.
	if got, _ := reg.Get(dead.ID); got.Status != api.StatusUnknown || !strings.Contains(got.Details, "could not connect") {
		t.Fatalf("starting instance after a failed dial: %s %q, want Unknown, tried", got.Status, got.Details)
	}
	// Once both have been up, the failed dial takes the dead one out at once.
	seenUp(t, reg, dead.ID)
	seenUp(t, reg, live.ID)
	postAll()
	if got, _ := reg.Get(dead.ID); got.Status != api.StatusUnreachable {
		t.Fatalf("dead instance is %s after a failed dial, want Unreachable", got.Status)
	}
}

// A service registers before it listens (the seed document's program does). A request that
// comes before it listens is tried (the instance is Unknown) and answered 503 with Retry-After;
// that refused dial must not take the instance out, so the first request after it listens is
// served. It used to be marked Unreachable and answered 503 until something else revived it.
func TestStartingInstanceIsTriedAndServesOnceItListens(t *testing.T) {
	bothPaths(t, testStartingInstanceIsTriedAndServesOnceItListens)
}

func testStartingInstanceIsTriedAndServesOnceItListens(t *testing.T) {
	reg, px := setup(t, registry.Options{})
	url := deadURL(t)
	inst := register(t, reg, url)
	for range 3 {
		rsp, body := get(t, px.URL+"/echo-svc/x")
		if rsp.StatusCode != http.StatusServiceUnavailable || rsp.Header.Get("Retry-After") == "" {
			t.Fatalf("before it listens: HTTP %d %s, want 503 with Retry-After", rsp.StatusCode, body)
		}
	}
	if got, _ := reg.Get(inst.ID); got.Status != api.StatusUnknown || !strings.Contains(got.Details, "could not connect") {
		t.Fatalf("after refused dials: %s %q, want Unknown and tried", got.Status, got.Details)
	}
	ln, err := net.Listen("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	backend := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "up")
	})}}
	backend.Start()
	defer backend.Close()
	if rsp, body := get(t, px.URL+"/echo-svc/x"); rsp.StatusCode != http.StatusOK || body != "up" {
		t.Fatalf("first request after it listens: HTTP %d %s", rsp.StatusCode, body)
	}
}

func TestOnlyInstanceDownIs503(t *testing.T) { bothPaths(t, testOnlyInstanceDownIs503) }

func testOnlyInstanceDownIs503(t *testing.T) {
	reg, px := setup(t, registry.Options{})
	register(t, reg, deadURL(t))
	rsp, body := get(t, px.URL+"/echo-svc/x")
	if rsp.StatusCode != http.StatusServiceUnavailable || rsp.Header.Get("Retry-After") == "" {
		t.Fatalf("HTTP %d %s, want 503 with Retry-After", rsp.StatusCode, body)
	}
}

func TestBackendBreakingMidRequestIs502(t *testing.T) {
	bothPaths(t, testBackendBreakingMidRequestIs502)
}

func testBackendBreakingMidRequestIs502(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer backend.Close()
	reg, px := setup(t, registry.Options{})
	register(t, reg, backend.URL)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, _ := http.NewRequest(method, px.URL+"/echo-svc/x", strings.NewReader("body"))
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode != http.StatusBadGateway || rsp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"error"`) {
			t.Fatalf("%s: HTTP %d %s, want a JSON 502", method, rsp.StatusCode, body)
		}
	}
}

func TestFailoverDuringLoad(t *testing.T) { bothPaths(t, testFailoverDuringLoad) }

func testFailoverDuringLoad(t *testing.T) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"hello":"world"}`)
	})
	a := httptest.NewServer(hello)
	defer a.Close()
	b := httptest.NewServer(hello)
	defer b.Close()
	reg, px := setup(t, registry.Options{ProbeInterval: 100 * time.Millisecond})
	ia := register(t, reg, a.URL)
	ib := register(t, reg, b.URL)
	eventually(t, 5*time.Second, "both Healthy", func() bool {
		x, _ := reg.Get(ia.ID)
		y, _ := reg.Get(ib.ID)
		return x.Status == api.StatusHealthy && y.Status == api.StatusHealthy
	})

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	const total, workers = 1000, 4
	var sent, failed atomic.Int64
	var once sync.Once
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for sent.Add(1) <= total {
				if sent.Load() == total/4 {
					// Kill a like a crashed process: no new connections, open ones cut.
					once.Do(func() { a.Listener.Close(); a.CloseClientConnections() })
				}
				rsp, err := client.Get(px.URL + "/echo-svc/hello")
				if err == nil {
					body, _ := io.ReadAll(rsp.Body)
					rsp.Body.Close()
					if rsp.StatusCode != http.StatusOK || string(body) != `{"hello":"world"}` {
						err = fmt.Errorf("HTTP %d %s", rsp.StatusCode, body)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed during failover; first: %v", n, total, firstErr.Load())
	}
	if x, _ := reg.Get(ia.ID); x.Status != api.StatusUnreachable {
		t.Fatalf("killed instance is %s, want Unreachable", x.Status)
	}
}

func TestSSEEventsArriveOneByOne(t *testing.T) { bothPaths(t, testSSEEventsArriveOneByOne) }

func testSSEEventsArriveOneByOne(t *testing.T) {
	const events = 5
	ack := make(chan struct{})
	sentAt := make(chan time.Time, events)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range events {
			sentAt <- time.Now()
			fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
			rc.Flush()
			// The next event is only sent once the client has this one: a proxy that buffers
			// makes this test time out instead of passing late.
			select {
			case <-ack:
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Second):
				return
			}
		}
	}))
	defer backend.Close()
	reg, px := setup(t, registry.Options{})
	register(t, reg, backend.URL)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, px.URL+"/echo-svc/events", nil)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	sc := bufio.NewScanner(rsp.Body)
	got := 0
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		at := time.Now()
		if line != fmt.Sprintf("data: event %d", got) {
			t.Fatalf("event %d: %q", got, line)
		}
		sent := <-sentAt
		t.Logf("event %d sent %s, received %s later", got, sent.Format("15:04:05.000000"), at.Sub(sent))
		got++
		if got == events {
			break
		}
		ack <- struct{}{}
	}
	if got != events {
		t.Fatalf("received %d of %d events (%v): the stream was not flushed event by event", got, events, sc.Err())
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	bothPaths(t, testClientDisconnectCancelsUpstream)
}

func testClientDisconnectCancelsUpstream(t *testing.T) {
	backend := newWaitingBackend(t)
	reg, px := setup(t, registry.Options{})
	register(t, reg, backend.URL)
	cancel := requestInBackground(px.URL + "/echo-svc/slow")
	<-backend.started
	cancel()
	backend.awaitCancel(t, "the backend request was not cancelled when the client went away")
}

// waitingBackend holds each request for a path ending in /slow until the request is cancelled
// (or for 20 s), telling when the first one arrived and when one was cancelled; it answers
// other paths at once.
type waitingBackend struct {
	URL       string
	started   chan struct{}
	cancelled chan time.Time
}

func newWaitingBackend(t testing.TB) *waitingBackend {
	t.Helper()
	wb := &waitingBackend{started: make(chan struct{}), cancelled: make(chan time.Time, 1)}
	var first sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/slow") {
			return
		}
		first.Do(func() { close(wb.started) })
		select {
		case <-r.Context().Done():
			select {
			case wb.cancelled <- time.Now():
			default:
			}
		case <-time.After(20 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	wb.URL = srv.URL
	return wb
}

// awaitCancel returns when a request was cancelled at the backend, failing the test with msg
// if none is within 5 s.
func (wb *waitingBackend) awaitCancel(t testing.TB, msg string) time.Time {
	t.Helper()
	select {
	case at := <-wb.cancelled:
		return at
	case <-time.After(5 * time.Second):
		t.Fatal(msg)
		return time.Time{}
	}
}

// requestInBackground GETs url from a goroutine; cancel makes the client go away.
func requestInBackground(url string) (cancel func()) {
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	go func() {
		if rsp, err := http.DefaultClient.Do(req); err == nil {
			rsp.Body.Close()
		}
	}()
	return cancel
}

// A client that leaves long after its request began (when the fast path looks at it only
// every second or so) still cancels the backend request, within a little more than that.
func TestClientLeavingLateCancelsUpstream(t *testing.T) {
	bothPaths(t, testClientLeavingLateCancelsUpstream)
}

func testClientLeavingLateCancelsUpstream(t *testing.T) {
	backend := newWaitingBackend(t)
	reg, px := setup(t, registry.Options{})
	register(t, reg, backend.URL)
	cancel := requestInBackground(px.URL + "/echo-svc/slow")
	<-backend.started
	time.Sleep(1500 * time.Millisecond)
	left := time.Now()
	cancel()
	at := backend.awaitCancel(t, "the backend request was not cancelled when the client went away")
	t.Logf("backend request cancelled %v after the client left", at.Sub(left).Round(time.Millisecond))
}

func TestWebSocketEcho(t *testing.T) { bothPaths(t, testWebSocketEcho) }

func testWebSocketEcho(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(proxytest.WSEchoHandler))
	defer backend.Close()
	reg, px := setup(t, registry.Options{})
	register(t, reg, backend.URL)
	proxytest.WSEchoRoundTrip(t, strings.TrimPrefix(px.URL, "http://"), "/echo-svc/ws")
}

var pattern = func() (b [4096]byte) {
	for i := range b {
		b[i] = byte(i * 7)
	}
	return
}()

// patternReader yields n bytes without holding them: the test's own memory stays flat.
type patternReader struct{ left int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := 0
	for n < len(b) {
		n += copy(b[n:], pattern[:])
	}
	p.left -= int64(len(b))
	return len(b), nil
}

func TestLargeUploadStreams(t *testing.T) { bothPaths(t, testLargeUploadStreams) }

func testLargeUploadStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 256 MiB")
	}
	const size = 256 << 20
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, n)
	}))
	defer backend.Close()
	reg, px := setup(t, registry.Options{})
	register(t, reg, backend.URL)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	// Unknown length: sent chunked, so nothing on the way can size a buffer from it.
	req, _ := http.NewRequest(http.MethodPost, px.URL+"/echo-svc/upload", io.NopCloser(&patternReader{left: size}))
	rsp, err := http.DefaultClient.Do(req)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK || string(body) != fmt.Sprint(size) {
		t.Fatalf("HTTP %d, backend received %s bytes, want %d", rsp.StatusCode, body, size)
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("heap in use grew by at most %d KiB while %d MiB passed through", grew>>10, size>>20)
	if grew > 32<<20 {
		t.Fatalf("heap grew by %d MiB for a %d MiB upload: the body is being buffered", grew>>20, size>>20)
	}
}

func TestPickSpreadsOverInstances(t *testing.T) { bothPaths(t, testPickSpreadsOverInstances) }

func testPickSpreadsOverInstances(t *testing.T) {
	var hits [2]atomic.Int64
	mk := func(i int) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits[i].Add(1) }))
	}
	a, b := mk(0), mk(1)
	defer a.Close()
	defer b.Close()
	reg, px := setup(t, registry.Options{})
	register(t, reg, a.URL)
	register(t, reg, b.URL)
	for range 10 {
		if rsp, _ := get(t, px.URL+"/echo-svc/"); rsp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d", rsp.StatusCode)
		}
	}
	if hits[0].Load() != 5 || hits[1].Load() != 5 {
		t.Fatalf("round-robin gave %d and %d", hits[0].Load(), hits[1].Load())
	}
}

// BenchmarkProxyRequest is one GET through the proxy handler alone (no server middleware) to a
// loopback backend, client and both servers in this process.
func BenchmarkProxyRequest(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"hello":"world"}`)
	}))
	defer backend.Close()
	reg, px := setup(b, registry.Options{})
	register(b, reg, backend.URL)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	b.ReportAllocs()
	for b.Loop() {
		rsp, err := client.Get(px.URL + "/echo-svc/hello")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode != http.StatusOK {
			b.Fatalf("HTTP %d", rsp.StatusCode)
		}
	}
}
