package e2e

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestServerSIGTERMDrainsInFlightProxyRequest: SIGTERM while a proxied request is in flight
// stops new connections at once, lets the request finish with the backend's answer, and then
// the server exits 0 within --shutdown-timeout. The backend answers only once the test has seen
// new connections refused, so a slow machine cannot end the request too early.
func TestServerSIGTERMDrainsInFlightProxyRequest(t *testing.T) {
	t.Parallel()
	const shutdownTimeout = 8 * time.Second
	reached := make(chan struct{}, 1)
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/slow") { // the proxy forwards the path as sent: /drain-svc/slow
			select {
			case reached <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		_, _ = io.WriteString(w, "done")
	}))
	defer backend.Close()
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	defer free() // before backend.Close, which waits for the held request

	e := newEnv(t)
	p := e.StartServer("--probe-interval", "0", "--shutdown-timeout", shutdownTimeout.String())
	serverAddInstance(t, p.URL, "drain-svc", backend.URL)
	http.DefaultClient.CloseIdleConnections()

	// The in-flight request, on a client of its own so that nothing else shares its connection.
	type result struct {
		status int
		body   string
		err    error
	}
	inflight := make(chan result, 1)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	go func() {
		rsp, err := client.Get(p.URL + "/drain-svc/slow")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer rsp.Body.Close()
		b, err := io.ReadAll(rsp.Body)
		inflight <- result{status: rsp.StatusCode, body: string(b), err: err}
	}()
	select {
	case <-reached:
	case r := <-inflight:
		t.Fatalf("the slow request ended before reaching the backend: %+v; log:\n%s", r, p.Log)
	case <-time.After(10 * time.Second):
		t.Fatalf("the slow request did not reach the backend; log:\n%s", p.Log)
	}

	exited := make(chan error, 1)
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	go func() { exited <- p.Cmd.Wait() }()

	// Once the server says it is shutting down, new connections are refused while the slow
	// request is still being served.
	var got *result
	for !strings.Contains(p.Log.String(), "shutting down") {
		if time.Since(signalled) > 15*time.Second {
			t.Fatalf("no shutdown line within 15s of SIGTERM; log:\n%s", p.Log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for refused := false; !refused; {
		select {
		case r := <-inflight:
			got = &r
		default:
		}
		conn, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err != nil {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial during shutdown: %v, want connection refused", err)
			}
			refused = true
			break
		}
		conn.Close()
		if got != nil {
			t.Fatalf("new connections were still accepted after the in-flight request finished (%+v); log:\n%s", *got, p.Log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got != nil {
		t.Errorf("the in-flight request finished before new connections were refused: %+v", *got)
	}
	free()

	// The in-flight request completes with the backend's answer.
	if got == nil {
		select {
		case r := <-inflight:
			got = &r
		case <-time.After(shutdownTimeout + 5*time.Second):
			t.Fatalf("in-flight request not answered; log:\n%s", p.Log)
		}
	}
	if got.err != nil || got.status != http.StatusOK || got.body != "done" {
		t.Errorf("in-flight request across SIGTERM: HTTP %d %q err %v, want 200 \"done\"; log:\n%s",
			got.status, got.body, got.err, p.Log)
	}

	// The server exits 0, within its shutdown bound (plus slack for closing the store).
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v; log:\n%s", err, p.Log)
		}
	case <-time.After(shutdownTimeout + 5*time.Second - time.Since(signalled)):
		_ = p.Cmd.Process.Kill()
		<-exited
		t.Fatalf("no exit within the shutdown timeout (%s) of SIGTERM; log:\n%s", shutdownTimeout, p.Log)
	}
	if strings.Contains(p.Log.String(), "cut off") {
		t.Errorf("the server says it cut off in-flight requests:\n%s", p.Log)
	}

	// After exit, nothing listens any more.
	conn, err := net.DialTimeout("tcp", p.Addr, time.Second)
	if err == nil {
		conn.Close()
		t.Fatal("a connection was accepted after the server exited")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after exit: %v, want connection refused", err)
	}
}
