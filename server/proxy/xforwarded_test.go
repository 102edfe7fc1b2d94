package proxy

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"slices"
	"testing"
)

// setXForwarded replaces ProxyRequest.SetXForwarded on the hot path; it must produce the same
// headers in every case, including the ones the end-to-end tests do not reach.
func TestSetXForwardedMatchesStdlib(t *testing.T) {
	cases := []struct {
		name   string
		remote string
		tls    bool
		chain  []string
	}{
		{"plain", "192.0.2.1:5000", false, nil},
		{"tls", "192.0.2.1:5000", true, nil},
		{"one hop", "192.0.2.1:5000", false, []string{"203.0.113.7"}},
		{"two header lines", "[2001:db8::1]:5000", false, []string{"203.0.113.7, 198.51.100.2", "198.51.100.3"}},
		{"empty chain", "192.0.2.1:5000", false, []string{}},
		{"no port in RemoteAddr", "192.0.2.1", false, []string{"203.0.113.7"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := httptest.NewRequest(http.MethodGet, "http://oo.example:8080/svc/x", nil)
			in.RemoteAddr = c.remote
			if c.tls {
				in.TLS = &tls.ConnectionState{}
			}
			if c.chain != nil {
				in.Header["X-Forwarded-For"] = c.chain
			}

			want := stdXForwarded(in)
			got := http.Header{}
			setXForwarded(in, got)
			if len(got) != len(want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			for k, v := range want {
				if !slices.Equal(got[k], v) {
					t.Errorf("%s: got %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// stdXForwarded is what the proxy did before setXForwarded: copy the client's chain, then the
// standard library's method.
func stdXForwarded(in *http.Request) http.Header {
	want := httputil.ProxyRequest{In: in, Out: in.Clone(in.Context())}
	want.Out.Header = http.Header{}
	if xff, ok := in.Header["X-Forwarded-For"]; ok {
		want.Out.Header["X-Forwarded-For"] = xff
	}
	want.SetXForwarded()
	return want.Out.Header
}

// The three values share one backing array; appending to one must not overwrite another.
func TestSetXForwardedValuesIndependent(t *testing.T) {
	in := httptest.NewRequest(http.MethodGet, "http://oo.example/svc/x", nil)
	in.RemoteAddr = "192.0.2.1:5000"
	h := http.Header{}
	setXForwarded(in, h)
	h.Add("X-Forwarded-For", "extra")
	h.Add("X-Forwarded-Host", "extra")
	if got := h["X-Forwarded-Host"]; !slices.Equal(got, []string{"oo.example", "extra"}) {
		t.Errorf("X-Forwarded-Host %q", got)
	}
	if got := h["X-Forwarded-Proto"]; !slices.Equal(got, []string{"http"}) {
		t.Errorf("X-Forwarded-Proto %q", got)
	}
}
