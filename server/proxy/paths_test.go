package proxy_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/server/proxy"
)

// bothPaths runs a proxy test twice: with net/http and httputil.ReverseProxy serving every
// request ("nethttp"), and with the fast path in front, handing to the same net/http server
// what it does not serve itself ("fast"). serve picks the path from the subtest's name.
func bothPaths(t *testing.T, test func(t *testing.T)) {
	t.Run("nethttp", test)
	t.Run("fast", test)
}

func fastMode(t testing.TB) bool { return strings.Contains(t.Name(), "/fast") }

// served is a proxy listening on loopback.
type served struct {
	URL   string
	Close func()
	Fast  *proxy.FastServer // nil on the net/http path
}

// serve runs px on a loopback listener, through the fast path when the test runs as "fast".
func serve(t testing.TB, px *proxy.Proxy) *served {
	t.Helper()
	if !fastMode(t) {
		srv := httptest.NewServer(px)
		return &served{URL: srv.URL, Close: srv.Close}
	}
	return serveFast(t, px, proxy.FastOptions{})
}

func serveFast(t testing.TB, px *proxy.Proxy, opts proxy.FastOptions) *served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := proxy.NewFastServer(px, &http.Server{Handler: px}, opts)
	done := make(chan struct{})
	go func() { defer close(done); fs.Serve(ln) }()
	stopped := false
	return &served{URL: "http://" + ln.Addr().String(), Fast: fs, Close: func() {
		if stopped {
			return
		}
		stopped = true
		served, handed := fs.Stats()
		t.Logf("fast path: %d requests served, %d connections handed to net/http", served, handed)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := fs.Shutdown(ctx); err != nil {
			fs.Close()
		}
		<-done
	}}
}
