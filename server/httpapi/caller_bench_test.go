package httpapi_test

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkPxCallerIdentity is BenchmarkPxProxiedRequest with and without a valid bearer token:
// the difference is what verifying the token and adding the X-Oo-Caller-* headers costs.
func BenchmarkPxCallerIdentity(b *testing.B) {
	s := pxStart(b, "bench-svc", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Oo-Caller-Slug") == "" && r.Header.Get("Authorization") != "" {
			w.WriteHeader(http.StatusTeapot)
		}
		io.WriteString(w, `{"hello":"world"}`)
	}))
	tok := s.Register(b, "caller-app", "caller-app-password-1234")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	for _, c := range []struct{ name, authz string }{
		{"anonymous", ""},
		{"token", "Bearer " + tok},
	} {
		b.Run(c.name, func(b *testing.B) {
			req, _ := http.NewRequest(http.MethodGet, s.URL+"/bench-svc/hello", nil)
			if c.authz != "" {
				req.Header.Set("Authorization", c.authz)
			}
			b.ReportAllocs()
			for b.Loop() {
				rsp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, rsp.Body)
				rsp.Body.Close()
				if rsp.StatusCode != http.StatusOK {
					b.Fatalf("HTTP %d (418: the token did not identify the caller)", rsp.StatusCode)
				}
			}
		})
	}
}
