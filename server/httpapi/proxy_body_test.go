package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/server"
)

// bodyBackend reads each request's body to the end and reports what it read and how reading
// ended (nil after the whole body).
type bodyResult struct {
	n   int64
	err error
}

func bodyBackend(results chan<- bodyResult) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		results <- bodyResult{n, err}
		fmt.Fprintf(w, `{"read":%d}`, n)
	})
}

// rawRequest sends head (and whatever of the body follows) on a new connection and returns it
// with a reader for the answer. The connection is closed when the test ends.
func rawRequest(t *testing.T, s string, head string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	return conn, bufio.NewReader(conn)
}

func readAnswer(t *testing.T, conn net.Conn, br *bufio.Reader, within time.Duration) (*http.Response, string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(within))
	rsp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", within, err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	return rsp, string(body)
}

// A client that announces a body, sends one byte and stops would hold its connection and a
// backend request forever (issue 11). After the idle timeout it gets a 408, its connection is
// closed, and the backend's request ends.
func TestPxStalledBodyIs408(t *testing.T) { bothPaths(t, testPxStalledBodyIs408) }

func testPxStalledBodyIs408(t *testing.T) {
	results := make(chan bodyResult, 1)
	s := pxStart(t, "stall-svc", bodyBackend(results), func(c *server.Config) {
		c.Proxy.BodyIdleTimeout = 300 * time.Millisecond
	})
	conn, br := rawRequest(t, s.URL, "POST /stall-svc/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\na")
	rsp, body := readAnswer(t, conn, br, 10*time.Second)
	if rsp.StatusCode != http.StatusRequestTimeout || rsp.Header.Get("Content-Type") != "application/json" ||
		!strings.Contains(body, `"error"`) || !rsp.Close {
		t.Fatalf("HTTP %d %q close=%v %s, want a JSON 408 closing the connection", rsp.StatusCode, rsp.Header.Get("Content-Type"), rsp.Close, body)
	}
	select {
	case r := <-results:
		if r.err == nil {
			t.Fatalf("backend read a complete body of %d bytes", r.n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the backend's request is still open 10 s after the 408")
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection still open after the 408: read %d, %v", n, err)
	}
}

// The idle timeout is between bytes, not a bound on the whole body: an upload that keeps
// flowing for several times the timeout goes through.
func TestPxFlowingBodyOutlivesIdleTimeout(t *testing.T) {
	bothPaths(t, testPxFlowingBodyOutlivesIdleTimeout)
}

func testPxFlowingBodyOutlivesIdleTimeout(t *testing.T) {
	results := make(chan bodyResult, 1)
	const idle = time.Second
	s := pxStart(t, "flow-svc", bodyBackend(results), func(c *server.Config) { c.Proxy.BodyIdleTimeout = idle })
	const chunks = 12 // one every idle/6: about twice the timeout in all
	conn, br := rawRequest(t, s.URL, fmt.Sprintf("POST /flow-svc/upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", chunks*1000))
	start := time.Now()
	for range chunks {
		time.Sleep(idle / 6)
		if _, err := conn.Write([]byte(strings.Repeat("z", 1000))); err != nil {
			t.Fatalf("after %v: %v", time.Since(start), err)
		}
	}
	rsp, body := readAnswer(t, conn, br, 10*time.Second)
	if rsp.StatusCode != http.StatusOK || body != fmt.Sprintf(`{"read":%d}`, chunks*1000) {
		t.Fatalf("HTTP %d %s after %v", rsp.StatusCode, body, time.Since(start))
	}
	if r := <-results; r.err != nil {
		t.Fatalf("backend: %v", r.err)
	}
}

// A response that streams long after the body arrived is not cut by the body's idle deadline.
func TestPxIdleTimeoutDoesNotCutTheResponse(t *testing.T) {
	bothPaths(t, testPxIdleTimeoutDoesNotCutTheResponse)
}

func testPxIdleTimeoutDoesNotCutTheResponse(t *testing.T) {
	const idle = 300 * time.Millisecond
	s := pxStart(t, "slow-svc", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		time.Sleep(4 * idle)
		io.WriteString(w, "done")
	}), func(c *server.Config) { c.Proxy.BodyIdleTimeout = idle })
	rsp, err := http.Post(s.URL+"/slow-svc/x", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK || string(body) != "done" || err != nil {
		t.Fatalf("HTTP %d %q %v", rsp.StatusCode, body, err)
	}
}

// A chunked body the client got wrong is the client's 400, not a 502 that blames the backend
// (issue 11).
func TestPxMalformedChunkedBodyIs400(t *testing.T) { bothPaths(t, testPxMalformedChunkedBodyIs400) }

func testPxMalformedChunkedBodyIs400(t *testing.T) {
	results := make(chan bodyResult, 1)
	s := pxStart(t, "chunk-svc", bodyBackend(results))
	for _, bad := range []string{"zz\r\nhello\r\n0\r\n\r\n", "5\r\nhelloXX0\r\n\r\n"} {
		conn, br := rawRequest(t, s.URL, "POST /chunk-svc/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+bad)
		rsp, body := readAnswer(t, conn, br, 10*time.Second)
		if rsp.StatusCode != http.StatusBadRequest || rsp.Header.Get("Content-Type") != "application/json" || !strings.Contains(body, "malformed request body") {
			t.Errorf("%q: HTTP %d %q %s, want a JSON 400 about the body", bad, rsp.StatusCode, rsp.Header.Get("Content-Type"), body)
		}
		select {
		case <-results:
		case <-time.After(10 * time.Second):
			t.Fatal("the backend's request is still open")
		}
	}
}
