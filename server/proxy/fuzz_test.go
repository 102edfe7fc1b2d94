package proxy

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// FuzzSetXForwarded: for any client address, Host and X-Forwarded-For lines, the proxy's
// hand-written X-Forwarded-* equal what httputil.ProxyRequest.SetXForwarded produces (with the
// inbound chain kept), and the last X-Forwarded-For entry is always the address the connection
// came from: whatever a client writes, it cannot make a service see another peer address in the
// one place a service may trust.
func FuzzSetXForwarded(f *testing.F) {
	f.Fuzz(func(t *testing.T, remote, host, xff string, hasXFF, isTLS bool) {
		in := httptest.NewRequest(http.MethodGet, "http://oo.example/svc/x", nil)
		in.RemoteAddr, in.Host = remote, host
		if isTLS {
			in.TLS = &tls.ConnectionState{}
		}
		if hasXFF {
			in.Header["X-Forwarded-For"] = strings.Split(xff, "\n")
		}

		want := stdXForwarded(in)
		got := http.Header{}
		setXForwarded(in, got)
		if len(got) != len(want) {
			t.Fatalf("got %q, SetXForwarded gives %q", got, want)
		}
		for k, v := range want {
			if !slices.Equal(got[k], v) {
				t.Fatalf("%s: got %q, SetXForwarded gives %q", k, got[k], v)
			}
		}

		ip, _, err := net.SplitHostPort(remote)
		if err != nil {
			if _, ok := got["X-Forwarded-For"]; ok {
				t.Fatalf("RemoteAddr %q has no host:port, yet X-Forwarded-For %q was sent", remote, got["X-Forwarded-For"])
			}
			return
		}
		chain := got["X-Forwarded-For"]
		if len(chain) != 1 || !strings.HasSuffix(chain[0], ip) || (chain[0] != ip && !strings.HasSuffix(chain[0], ", "+ip)) {
			t.Fatalf("X-Forwarded-For %q does not end with the peer address %q", chain, ip)
		}
	})
}
