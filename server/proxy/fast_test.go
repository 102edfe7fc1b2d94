package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/server/proxy"
	"github.com/ooctl/oo/server/registry"
	"github.com/ooctl/oo/server/traffic"
)

// fastSetup is setup on the fast path whatever the test's name, with its default options or
// the given ones.
func fastSetup(t testing.TB, opts ...proxy.FastOptions) (*registry.Registry, *served) {
	t.Helper()
	fo := proxy.FastOptions{}
	if len(opts) > 0 {
		fo = opts[0]
	}
	reg, srv, _ := setupTraffic(t, registry.Options{}, &fo, traffic.New())
	return reg, srv
}

// rawExchange sends raw request bytes on a new connection and reads one response.
func rawExchange(t testing.TB, url, req string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	rsp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response to %q: %v", req, err)
	}
	body, _ := io.ReadAll(rsp.Body)
	return rsp, string(body)
}

// Plain requests are the fast path's own: none is handed to net/http.
func TestFastPathServesPlainRequests(t *testing.T) {
	backend := echoBackend(t)
	reg, px := fastSetup(t)
	register(t, reg, backend.URL)
	reqs := []string{
		"GET /echo-svc/a?b=c HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /echo-svc/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"POST /echo-svc/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"DELETE /echo-svc/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	}
	for _, r := range reqs {
		rsp, body := rawExchange(t, px.URL, r)
		if rsp.StatusCode != http.StatusOK {
			t.Fatalf("%q: HTTP %d %s", r, rsp.StatusCode, body)
		}
	}
	// The count follows the response by a moment.
	eventually(t, 5*time.Second, "the fast path to count every request", func() bool {
		served, _ := px.Fast.Stats()
		return served == uint64(len(reqs))
	})
	if _, handed := px.Fast.Stats(); handed != 0 {
		t.Fatalf("fast path handed %d requests to net/http", handed)
	}
}

// What the strict parser does not decide is net/http's, with the bytes already read.
func TestFastPathHandsUnusualRequestsToNetHTTP(t *testing.T) {
	backend := echoBackend(t)
	reg, px := fastSetup(t)
	register(t, reg, backend.URL)
	for _, c := range []struct{ name, req string }{
		{"HTTP/1.0", "GET /echo-svc/a HTTP/1.0\r\nHost: x\r\n\r\n"},
		{"Expect", "POST /echo-svc/a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi"},
		{"API", "GET /registry-svc/instances HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"bare LF", "GET /echo-svc/a HTTP/1.1\nHost: x\n\n"},
		{"CL+TE", "POST /echo-svc/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"two CL", "POST /echo-svc/a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi"},
		{"obs-fold", "GET /echo-svc/a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n"},
		{"escape in slug", "GET /echo%2Dsvc/a HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"head over 16 kB", "GET /echo-svc/a HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20000) + "\r\n\r\n"},
		{"absolute form", "GET http://x/echo-svc/a HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"TE gzip", "POST /echo-svc/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, before := px.Fast.Stats()
			rawExchange(t, px.URL, c.req)
			if _, after := px.Fast.Stats(); after != before+1 {
				t.Fatalf("not handed to net/http")
			}
		})
	}
}

// BenchmarkFastPathGET is one plain GET through the fast path, with a raw client and a raw
// backend that allocate nothing themselves, so that allocs/op is the proxy's alone.
func BenchmarkFastPathGET(b *testing.B) {
	backend := rawBackend(b)
	reg, px := fastSetup(b)
	register(b, reg, "http://"+backend)
	c, err := net.Dial("tcp", strings.TrimPrefix(px.URL, "http://"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /echo-svc/hello HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	buf := make([]byte, 4096)
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			k, err := c.Read(buf[n:])
			if err != nil {
				b.Fatal(err)
			}
			n += k
			if complete(buf[:n]) {
				return
			}
		}
	}
	roundTrip() // the backend connection is dialed here
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		roundTrip()
	}
	b.StopTimer()
	if served, handed := px.Fast.Stats(); handed != 0 || served < 2 {
		b.Fatalf("fast path served %d, handed %d", served, handed)
	}
}

// complete reports whether b holds a whole response with a Content-Length.
func complete(b []byte) bool {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return false
	}
	j := bytes.Index(b, []byte("Content-Length: "))
	if j < 0 || j > i {
		return false
	}
	k := bytes.IndexByte(b[j:], '\r')
	n, _ := strconv.Atoi(string(b[j+16 : j+k]))
	return len(b) >= i+4+n
}

// rawBackend answers every request head it reads with the same small response.
func rawBackend(t testing.TB) string {
	rsp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Wed, 02 Dec 2026 07:00:00 GMT\r\nContent-Length: 17\r\n\r\n{\"hello\":\"world\"}")
	return listen(t, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 16<<10)
		n := 0
		for {
			k, err := c.Read(buf[n:])
			if err != nil {
				return
			}
			n += k
			for {
				i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
				if i < 0 {
					break
				}
				n = copy(buf, buf[i+4:n])
				if _, err := c.Write(rsp); err != nil {
					return
				}
			}
		}
	})
}

// listen serves every connection to a new loopback listener with serve, on its own goroutine,
// until the test ends.
func listen(t testing.TB, serve func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln.Addr().String()
}

// A backend slower than the response-header timeout is a 504, on both paths.
func TestResponseHeaderTimeoutIs504(t *testing.T) { bothPaths(t, testResponseHeaderTimeoutIs504) }

func testResponseHeaderTimeoutIs504(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer backend.Close()
	reg, px := setupWith(t, registry.Options{}, proxy.Options{ResponseHeaderTimeout: 100 * time.Millisecond})
	register(t, reg, backend.URL)
	rsp, body := get(t, px.URL+"/echo-svc/slow")
	if rsp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, "did not answer in time") {
		t.Fatalf("HTTP %d %s, want 504", rsp.StatusCode, body)
	}
}

// closingBackend answers each request and then closes the connection without saying so
// (no Connection: close), as a backend whose keep-alive timeout just ran out does. closed
// receives once the close is done.
func closingBackend(t testing.TB, closed chan<- struct{}) string {
	return "http://" + listen(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err == nil {
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
		c.Close()
		closed <- struct{}{}
	})
}

// A kept-alive backend connection the backend has closed is never used for a request that
// cannot be sent twice, and an idempotent request that meets one is retried: every request
// succeeds, on both paths.
func TestClosedKeepAliveConnectionIsNotAFailure(t *testing.T) {
	bothPaths(t, testClosedKeepAliveConnectionIsNotAFailure)
}

func testClosedKeepAliveConnectionIsNotAFailure(t *testing.T) {
	closed := make(chan struct{}, 100)
	reg, px := setup(t, registry.Options{})
	register(t, reg, closingBackend(t, closed))
	c, err := net.Dial("tcp", strings.TrimPrefix(px.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i, req := range []string{
		"GET /echo-svc/1 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /echo-svc/2 HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /echo-svc/3 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"POST /echo-svc/4 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"DELETE /echo-svc/5 HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		rsp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(rsp.Body)
		if rsp.StatusCode != http.StatusOK || string(body) != "ok" {
			t.Fatalf("request %d: HTTP %d %q", i, rsp.StatusCode, body)
		}
		// The backend's close has happened before the next request goes out: what is
		// tested is that it is noticed, not how fast.
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatal("the backend did not close")
		}
		if !fastMode(t) {
			// net/http's Transport learns of the close on its connection's own read
			// goroutine, and until that has run it may hand the dead connection to a POST,
			// which it then must not resend (a 502). On a loaded machine that goroutine can
			// lag; the fast path checks the connection itself before reusing it.
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// Large responses, with a length, chunked, or read to the backend's close, and a response head
// larger than the fast path's buffer arrive whole, on both paths.
func TestLargeResponses(t *testing.T) { bothPaths(t, testLargeResponses) }

func testLargeResponses(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 1<<18) // 4 MiB
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo-svc/length":
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		case "/echo-svc/bighead":
			w.Header().Set("X-Big", strings.Repeat("h", 40000))
			io.WriteString(w, "small")
			return
		case "/echo-svc/close":
			// No length and no chunking: the body ends when the backend closes.
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			brw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + big)
			brw.Flush()
			c.Close()
			return
		}
		io.WriteString(w, big) // chunked: too large for net/http to measure first
	}))
	defer backend.Close()
	reg, px := setup(t, registry.Options{})
	register(t, reg, backend.URL)
	for _, p := range []string{"length", "chunked", "close"} {
		rsp, body := get(t, px.URL+"/echo-svc/"+p)
		if rsp.StatusCode != http.StatusOK || body != big {
			t.Fatalf("%s: HTTP %d, %d bytes (want %d)", p, rsp.StatusCode, len(body), len(big))
		}
	}
	rsp, body := get(t, px.URL+"/echo-svc/bighead")
	if rsp.StatusCode != http.StatusOK || body != "small" || len(rsp.Header.Get("X-Big")) != 40000 {
		t.Fatalf("big head: HTTP %d %q, X-Big of %d bytes", rsp.StatusCode, body, len(rsp.Header.Get("X-Big")))
	}
}

// Shutdown on the fast path: an idle keep-alive connection is closed at once, an in-flight
// request finishes with its backend's answer (and Connection: close), then Shutdown returns.
func TestFastShutdownDrains(t *testing.T) {
	reached := make(chan struct{}, 1)
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/slow") {
			reached <- struct{}{}
			<-release
		}
		io.WriteString(w, "done")
	}))
	defer backend.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	reg, px := fastSetup(t)
	register(t, reg, backend.URL)
	addr := strings.TrimPrefix(px.URL, "http://")
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		return c, bufio.NewReader(c)
	}
	idle, idleR := dial()
	io.WriteString(idle, "GET /echo-svc/quick HTTP/1.1\r\nHost: x\r\n\r\n")
	if rsp, err := http.ReadResponse(idleR, nil); err != nil || rsp.StatusCode != http.StatusOK {
		t.Fatalf("first request: %v", err)
	} else {
		io.ReadAll(rsp.Body)
	}
	busy, busyR := dial()
	io.WriteString(busy, "GET /echo-svc/slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-reached

	done := make(chan error, 1)
	go func() { done <- px.Fast.Shutdown(context.Background()) }()
	if _, err := idleR.ReadByte(); err != io.EOF {
		t.Fatalf("idle keep-alive connection: read %v, want EOF (closed by Shutdown)", err)
	}
	eventually(t, 10*time.Second, "new connections to be refused", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	rsp, err := http.ReadResponse(busyR, nil)
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	body, _ := io.ReadAll(rsp.Body)
	if rsp.StatusCode != http.StatusOK || string(body) != "done" || !rsp.Close {
		t.Fatalf("in-flight request: HTTP %d %q, close %v", rsp.StatusCode, body, rsp.Close)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the last request")
	}
}

// A request pipelined while the backend is still working on the previous one (it arrives
// after the proxy read the first request, before the first response goes out) is answered at
// once, on both paths. The fast path waits for a client's next request in the poller: this is
// the case where that request is already in the socket when the wait begins.
func TestRequestPipelinedDuringBackendWork(t *testing.T) {
	bothPaths(t, testRequestPipelinedDuringBackendWork)
}

func testRequestPipelinedDuringBackendWork(t *testing.T) {
	// 30 ms is shorter than the fast path's watch delay; in 150 ms the client is looked at
	// while the backend works, and what it finds is the next request.
	for _, slow := range []time.Duration{30 * time.Millisecond, 150 * time.Millisecond} {
		t.Run(slow.String(), func(t *testing.T) { pipelineDuringBackendWork(t, slow) })
	}
}

func pipelineDuringBackendWork(t *testing.T, slow time.Duration) {
	reg, px := setupMode(t, registry.Options{}, fastMode(t))
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/slow") {
			time.Sleep(slow)
		}
		io.WriteString(w, r.URL.Path)
	}))
	t.Cleanup(backend.Close)
	register(t, reg, backend.URL)
	c, err := net.Dial("tcp", strings.TrimPrefix(px.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for round := 0; round < 3; round++ {
		if _, err := io.WriteString(c, "GET /echo-svc/slow HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // the proxy has read the first request by now
		if _, err := io.WriteString(c, "GET /echo-svc/next HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for _, want := range []string{"/echo-svc/slow", "/echo-svc/next"} {
			rsp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("round %d: reading the response for %s: %v", round, want, err)
			}
			body, _ := io.ReadAll(rsp.Body)
			if rsp.StatusCode != http.StatusOK || string(body) != want {
				t.Fatalf("round %d: HTTP %d %q, want 200 %q", round, rsp.StatusCode, body, want)
			}
		}
	}
}

// The fast path reads a client in the poller's rhythm (see cycle in fast.go): a head that comes
// in pieces, a body that comes after its head (served outside the cycle, by the body copier),
// and pipelined requests are all answered, in order, on one connection.
func TestFastRequestsArrivingInPieces(t *testing.T) {
	backend := echoBackend(t)
	reg, px := fastSetup(t)
	register(t, reg, backend.URL)
	c, err := net.Dial("tcp", strings.TrimPrefix(px.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	send := func(parts ...string) {
		t.Helper()
		for i, p := range parts {
			if i > 0 {
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := io.WriteString(c, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	expect := func(uri, body string) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		rsp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the response for %s: %v", uri, err)
		}
		var e echoed
		if err := json.NewDecoder(rsp.Body).Decode(&e); err != nil || rsp.StatusCode != http.StatusOK {
			t.Fatalf("%s: HTTP %d, decoding: %v", uri, rsp.StatusCode, err)
		}
		rsp.Body.Close()
		if e.RequestURI != uri || e.Body != body {
			t.Fatalf("the backend got %s with body %q, want %s with %q", e.RequestURI, e.Body, uri, body)
		}
	}
	send("GET /echo-svc/one HT", "TP/1.1\r\nHo", "st: x\r\n\r\n")
	expect("/echo-svc/one", "")
	send("POST /echo-svc/two HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhe", "llo")
	expect("/echo-svc/two", "hello")
	send("GET /echo-svc/three HTTP/1.1\r\nHost: x\r\n\r\nGET /echo-svc/four HTTP/1.1\r\nHost: x\r\n\r\n")
	expect("/echo-svc/three", "")
	expect("/echo-svc/four", "")
	eventually(t, 5*time.Second, "the fast path to count every request", func() bool {
		served, _ := px.Fast.Stats()
		return served == 4
	})
	if _, handed := px.Fast.Stats(); handed != 0 {
		t.Fatalf("fast path handed %d connections to net/http", handed)
	}
}

// A client that starts a request head and stops is cut off after ReadHeaderTimeout; one that
// sends nothing after its last request, after IdleTimeout. The fast path waits for both in the
// poller, where the connection's read deadline ends the wait.
func TestFastHeaderAndIdleTimeouts(t *testing.T) {
	backend := echoBackend(t)
	reg, px := fastSetup(t, proxy.FastOptions{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	register(t, reg, backend.URL)
	closedAfter := func(c net.Conn) time.Duration {
		t.Helper()
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(make([]byte, 1))
		if n != 0 || err != io.EOF {
			t.Fatalf("read %d bytes, %v; want EOF: the proxy closes the connection", n, err)
		}
		return time.Since(start)
	}
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", strings.TrimPrefix(px.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	partial := dial()
	io.WriteString(partial, "GET /echo-svc/a HTTP/1.1\r\nHost")
	if d := closedAfter(partial); d < 100*time.Millisecond {
		t.Fatalf("a partial head was cut off after %v, before the 200ms header timeout", d)
	}

	idle := dial()
	io.WriteString(idle, "GET /echo-svc/a HTTP/1.1\r\nHost: x\r\n\r\n")
	rsp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rsp.Body)
	if d := closedAfter(idle); d < 200*time.Millisecond {
		t.Fatalf("an idle keep-alive connection was closed after %v, before the 300ms idle timeout", d)
	}
}

// A client that sends its request and closes its side at once, then reads to the end (nc -N,
// scripts), gets its answer and then the end of the connection promptly, not after the idle
// timeout: its FIN comes behind the request, and the fast path, which waits without reading
// after a short read, looks for it (finChecks in fast.go).
func TestFastHalfClosingClientSeesTheEnd(t *testing.T) {
	backend := echoBackend(t)
	reg, px := fastSetup(t)
	register(t, reg, backend.URL)
	addr := strings.TrimPrefix(px.URL, "http://")
	for i := 0; i < 50; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET /echo-svc/half HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		start := time.Now()
		c.SetReadDeadline(start.Add(5 * time.Second))
		all, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Fatalf("try %d: reading to the end: %v after %v (read %q)", i, err, time.Since(start), all)
		}
		if !bytes.HasPrefix(all, []byte("HTTP/1.1 200 ")) || !bytes.Contains(all, []byte("/echo-svc/half")) {
			t.Fatalf("try %d: got %q", i, all)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("try %d: the connection ended %v after the request", i, d)
		}
	}
}

// Close ends every connection at once, one whose request is still with the backend
// included (it is served inside a RawConn.Read, which a close would wait for): the client
// sees the end, Close returns, and the backend request is cancelled.
func TestFastCloseDuringARequest(t *testing.T) {
	backend := newWaitingBackend(t)
	reg, px := fastSetup(t)
	register(t, reg, backend.URL)
	c := dialSend(t, px.URL, "GET /echo-svc/slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-backend.started
	// Long enough for the watch to look at the client only once a second (at about 1.6 s,
	// 2.6 s and 3.6 s into the request): Close must not wait for its next look.
	time.Sleep(2650 * time.Millisecond)
	closed := make(chan struct{})
	go func() { px.Fast.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(800 * time.Millisecond):
		t.Fatal("Close did not return at once while a request was with the backend")
	}
	c.SetReadDeadline(time.Now().Add(800 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
		t.Fatalf("the client read %d bytes, %v; want the connection ended", n, err)
	}
	backend.awaitCancel(t, "the backend request was not cancelled after Close")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Close cancels a request still with its backend even when the client pipelined its next
// request behind it (the client is no longer watched then, as on net/http's path).
func TestFastCloseCancelsARequestWithAnotherBehindIt(t *testing.T) {
	backend := newWaitingBackend(t)
	reg, px := fastSetup(t)
	register(t, reg, backend.URL)
	dialSend(t, px.URL, "GET /echo-svc/slow HTTP/1.1\r\nHost: x\r\n\r\nGET /echo-svc/next HTTP/1.1\r\nHost: x\r\n\r\n")
	<-backend.started
	time.Sleep(200 * time.Millisecond) // the watch has looked and found the next request
	px.Fast.Close()
	backend.awaitCancel(t, "the backend request was not cancelled after Close")
}

// dialSend opens a connection to the proxy at url and sends req on it; the connection is
// closed when the test ends.
func dialSend(t testing.TB, url, req string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return c
}

// A connection handed to net/http while the server shuts down (here: a request for an https
// instance, which is net/http's, whose head completes after Shutdown began) is closed, not
// left open: the hand-off may happen inside cycle's RawConn.Read, where closing the socket
// would wait for that very call.
func TestFastHandOffWhileShuttingDown(t *testing.T) {
	reg, px := fastSetup(t)
	register(t, reg, "https://127.0.0.1:9")
	c := dialSend(t, px.URL, "GET /echo-svc/a HTTP/1.1\r\nHost: x\r\n")
	time.Sleep(50 * time.Millisecond) // read: the connection is active, Shutdown waits for it
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- px.Fast.Shutdown(ctx)
	}()
	time.Sleep(100 * time.Millisecond) // net/http's side has stopped accepting by now
	io.WriteString(c, "\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("the connection was left open: %v", err)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
}
