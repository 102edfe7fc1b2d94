package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/httpapi"
	"github.com/ooctl/oo/server/servertest"
)

// logsSSEEvent is one event of a stream: kind "" for data, "dropped", or ":" for a comment.
type logsSSEEvent struct{ kind, data string }

// logsStream is an open GET /proxy-svc/logs/{slug}.
type logsStream struct {
	rsp    *http.Response
	events chan logsSSEEvent // closed when the stream ends
}

// openLogs follows slug with token through c and fails the test unless the stream starts.
func openLogs(t *testing.T, c *http.Client, baseURL, slug, token string) *logsStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+api.LogsPath(slug), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rsp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rsp.Body.Close() })
	if rsp.StatusCode != http.StatusOK || rsp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(rsp.Body)
		t.Fatalf("follow %s: HTTP %d %q %s", slug, rsp.StatusCode, rsp.Header.Get("Content-Type"), body)
	}
	return &logsStream{rsp: rsp}
}

// read parses the stream in the background (call once, when the test wants to read).
func (s *logsStream) read() *logsStream {
	s.events = make(chan logsSSEEvent, 1024)
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(s.rsp.Body)
		sc.Buffer(nil, 1<<20)
		var ev logsSSEEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.kind != "" || ev.data != "" {
					s.events <- ev
				}
				ev = logsSSEEvent{}
			case strings.HasPrefix(line, ":"):
				ev = logsSSEEvent{kind: ":", data: strings.TrimSpace(line[1:])}
			case strings.HasPrefix(line, "event: "):
				ev.kind = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return s
}

// next returns the next data or dropped event (comments skipped), failing after within.
func (s *logsStream) next(t *testing.T, within time.Duration) logsSSEEvent {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if ev.kind != ":" {
				return ev
			}
		case <-timeout:
			t.Fatalf("no event within %s", within)
		}
	}
}

func decodeLogEvent(t *testing.T, ev logsSSEEvent) api.LogEvent {
	t.Helper()
	if ev.kind != "" {
		t.Fatalf("want a request, got event %q: %s", ev.kind, ev.data)
	}
	var le api.LogEvent
	if err := json.Unmarshal([]byte(ev.data), &le); err != nil {
		t.Fatalf("data %q: %v", ev.data, err)
	}
	return le
}

// registerInstance registers url for token's slug and returns the instance id.
func registerInstance(t *testing.T, s *servertest.Server, token, url string) string {
	t.Helper()
	var out api.RegisterInstanceResponse
	if code := s.Do(t, http.MethodPut, api.PathInstance, token, api.RegisterInstanceRequest{URL: url}, &out); code != http.StatusCreated {
		t.Fatalf("register instance: HTTP %d", code)
	}
	return out.Instance.ID
}

func TestLogsOwnerSeesProxiedRequests(t *testing.T) { bothPaths(t, testLogsOwnerSeesProxiedRequests) }

func testLogsOwnerSeesProxiedRequests(t *testing.T) {
	s := servertest.Start(t, pathMode(t))
	owner := s.Register(t, "logs-svc", "logs-svc-password-1234")
	caller := s.Register(t, "logs-caller", "logs-caller-password-1234")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch {
		case strings.HasSuffix(r.URL.Path, "/fail"):
			w.WriteHeader(http.StatusServiceUnavailable)
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, "created")
		default:
			io.WriteString(w, "hello")
		}
	}))
	t.Cleanup(backend.Close)
	id := registerInstance(t, s, owner, backend.URL)
	other := httptest.NewServer(backend.Config.Handler)
	t.Cleanup(other.Close)
	registerInstance(t, s, caller, other.URL) // a URL belongs to one slug

	st := openLogs(t, http.DefaultClient, s.URL, "logs-svc", owner).read()

	send := func(method, path, token, body string) string {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, rsp.Body)
		rsp.Body.Close()
		return rsp.Header.Get(httpapi.RequestIDHeader)
	}
	send(http.MethodGet, "/logs-caller/not-mine", "", "") // another slug: not in this stream
	id1 := send(http.MethodGet, "/logs-svc/a?x=1", "", "")
	id2 := send(http.MethodPost, "/logs-svc/b", caller, "12345678")
	id3 := send(http.MethodGet, "/logs-svc/fail", "", "")

	type want struct {
		method, path, reqID, caller string
		status                      int
		in, out                     int64
	}
	for i, w := range []want{
		{http.MethodGet, "/logs-svc/a", id1, "", 200, 0, 5},
		{http.MethodPost, "/logs-svc/b", id2, "logs-caller", 201, 8, 7},
		{http.MethodGet, "/logs-svc/fail", id3, "", 503, 0, 0},
	} {
		ev := decodeLogEvent(t, st.next(t, 10*time.Second))
		if ev.Method != w.method || ev.Path != w.path || ev.Status != w.status || ev.RequestID != w.reqID || w.reqID == "" ||
			ev.Caller != w.caller || ev.Instance != id || ev.BytesIn != w.in || ev.BytesOut != w.out {
			t.Errorf("request %d: got %+v, want %+v (instance %s)", i, ev, w, id)
		}
		if ev.DurationMs <= 0 || time.Since(ev.Time) > time.Minute || ev.Upstream != "" {
			t.Errorf("request %d: duration %v, time %v, upstream %q", i, ev.DurationMs, ev.Time, ev.Upstream)
		}
	}
}

func TestLogsAccess(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t)
	owner := s.Register(t, "access-svc", "access-svc-password-1234")
	other := s.Register(t, "access-other", "access-other-password-1234")
	admin := s.AdminToken(t)

	refused := func(slug, token string, status int, mentions string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.URL+api.LogsPath(slug), nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rsp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer rsp.Body.Close()
		var er api.ErrorResponse
		err = json.NewDecoder(rsp.Body).Decode(&er)
		if rsp.StatusCode != status || rsp.Header.Get("Content-Type") != "application/json" || err != nil ||
			!strings.Contains(er.Error, mentions) {
			t.Errorf("%s with token %.8s: HTTP %d %q %+v %v, want %d mentioning %q", slug, token, rsp.StatusCode,
				rsp.Header.Get("Content-Type"), er, err, status, mentions)
		}
		if status == http.StatusUnauthorized && rsp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("401 without WWW-Authenticate")
		}
	}
	refused("access-svc", "", http.StatusUnauthorized, "")
	refused("access-svc", "not-a-token", http.StatusUnauthorized, "")
	refused("access-svc", other, http.StatusForbidden, "only access-svc and admins")
	refused("Not_A_Slug", owner, http.StatusBadRequest, "slug")
	refused("user-svc", admin, http.StatusBadRequest, "reserved")

	// The owner, and an admin for any slug (one that has no instance yet included).
	openLogs(t, http.DefaultClient, s.URL, "access-svc", owner)
	openLogs(t, http.DefaultClient, s.URL, "access-svc", admin)
	openLogs(t, http.DefaultClient, s.URL, "no-instances-yet", admin)
}

func TestLogsOffWithMetricsOff(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, func(c *server.Config) { c.Metrics = server.MetricsOff })
	tok := s.Register(t, "off-svc", "off-svc-password-1234")
	var er api.ErrorResponse
	if code := s.Do(t, http.MethodGet, api.LogsPath("off-svc"), tok, nil, &er); code != http.StatusNotFound ||
		!strings.Contains(er.Error, "--metrics off") {
		t.Fatalf("HTTP %d %+v", code, er)
	}
}

func TestLogsKeepAlive(t *testing.T) {
	restore := httpapi.SetLogsKeepAlive(20 * time.Millisecond)
	defer restore()
	s := servertest.Start(t)
	tok := s.Register(t, "quiet-svc", "quiet-svc-password-1234")
	st := openLogs(t, http.DefaultClient, s.URL, "quiet-svc", tok).read()
	select {
	case ev := <-st.events:
		if ev.kind != ":" || ev.data != "keep-alive" {
			t.Fatalf("first thing on an idle stream: %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no keep-alive comment within 5s")
	}
}

// smallReceiveBuffer is an HTTP client whose connections take little before the sender
// blocks: a follower that stops reading fills up after a few KiB instead of megabytes.
func smallReceiveBuffer() *http.Client {
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// flood sends n GETs with long paths (so that their events are large) to slug, one after the
// other on one keep-alive connection, each bounded by 10 s: if a stalled follower could hold up
// the proxy, a request would time out.
func flood(t *testing.T, baseURL, slug string, n int) time.Duration {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	long := strings.Repeat("x", 4000)
	start := time.Now()
	for i := range n {
		rsp, err := c.Get(fmt.Sprintf("%s/%s/%d/%s", baseURL, slug, i, long))
		if err != nil {
			t.Fatalf("request %d of %d with a stalled follower: %v", i, n, err)
		}
		io.Copy(io.Discard, rsp.Body)
		rsp.Body.Close()
		if rsp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: HTTP %d", i, rsp.StatusCode)
		}
	}
	return time.Since(start)
}

// A follower that stops reading costs the proxy nothing: its events are dropped and counted,
// and when it reads again it gets what it was sent and how many it missed, which add up.
func TestLogsSlowFollowerDropsWithoutSlowingTheProxy(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t)
	tok := s.Register(t, "busy-svc", "busy-svc-password-1234")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(backend.Close)
	registerInstance(t, s, tok, backend.URL)

	// ~4 KiB an event: 3000 are about 12 MiB, well beyond the channel (512 events) and what the
	// kernel buffers for a connection (at most 4 MiB to send, 4 KiB to receive here).
	const n = 3000
	base := flood(t, s.URL, "busy-svc", n/10)
	st := openLogs(t, smallReceiveBuffer(), s.URL, "busy-svc", tok) // not read yet
	took := flood(t, s.URL, "busy-svc", n)
	t.Logf("%d requests took %s with a stalled follower (%s per request; %s without a follower)",
		n, took, took/n, base/(n/10))

	st.read()
	var got, dropped uint64
	for got+dropped < n {
		ev := st.next(t, 30*time.Second)
		switch ev.kind {
		case "":
			got++
		case api.LogsDroppedEvent:
			var d api.LogsDropped
			if err := json.Unmarshal([]byte(ev.data), &d); err != nil || d.Dropped < dropped {
				t.Fatalf("dropped event %q (%v) after %d", ev.data, err, dropped)
			}
			dropped = d.Dropped
		default:
			t.Fatalf("unexpected event %+v", ev)
		}
	}
	if got+dropped != n || dropped == 0 {
		t.Fatalf("received %d and dropped %d of %d requests", got, dropped, n)
	}
	t.Logf("received %d, dropped %d", got, dropped)
}

// Graceful shutdown does not wait for followers: one that reads and one that stalled with
// its buffers full both end at once, not at the shutdown timeout.
func TestLogsStreamsEndAtShutdown(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, func(c *server.Config) { c.ShutdownTimeout = 30 * time.Second })
	tok := s.Register(t, "bye-svc", "bye-svc-password-1234")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(backend.Close)
	registerInstance(t, s, tok, backend.URL)

	reading := openLogs(t, http.DefaultClient, s.URL, "bye-svc", tok).read()
	openLogs(t, smallReceiveBuffer(), s.URL, "bye-svc", tok) // never read
	flood(t, s.URL, "bye-svc", 2000)

	start := time.Now()
	s.Stop(t)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %s with two followers", took)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-reading.events:
			if !ok {
				return // ended, as it should
			}
		case <-timeout:
			t.Fatal("the reading follower's stream did not end")
		}
	}
}
