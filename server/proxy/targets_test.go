package proxy_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ooctl/oo/server/egress"
	"github.com/ooctl/oo/server/egress/egresstest"
	"github.com/ooctl/oo/server/proxy"
	"github.com/ooctl/oo/server/registry"
	"github.com/ooctl/oo/server/store/bolt"
)

// setupWith is setup with the proxy's options given (probing off).
func setupWith(t testing.TB, ropts registry.Options, popts proxy.Options) (*registry.Registry, *served) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "oo.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ropts.ProbeInterval = -1
	reg, err := registry.New(st, ropts)
	if err != nil {
		t.Fatal(err)
	}
	px := proxy.New(reg, popts)
	srv := serve(t, px)
	t.Cleanup(func() {
		srv.Close()
		px.Close()
		reg.Close()
		st.Close()
	})
	return reg, srv
}

// A name that pointed at an allowed address when it was registered and points at a refused one
// now is refused on the proxy's dial: the client gets a 502 saying so, the address gets no
// connection. The same name resolving to an allowed address reaches the backend, so the
// refusal is the policy's doing.
func TestProxyChecksPolicyAtDialTime(t *testing.T) { bothPaths(t, testProxyChecksPolicyAtDialTime) }

func testProxyChecksPolicyAtDialTime(t *testing.T) {
	var hits atomic.Int32
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("reached"))
	}))
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("127.0.0.2 (loopback on Linux) cannot be listened on: %v", err)
	}
	backend.Listener = ln
	backend.Start()
	t.Cleanup(backend.Close)
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	deny, _ := egress.ParseList("127.0.0.2")
	for _, c := range []struct {
		name    string
		deny    []netip.Prefix
		want    int
		reached int32
	}{
		{"denied after rebinding", deny, http.StatusBadGateway, 0},
		{"allowed", nil, http.StatusOK, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			hits.Store(0)
			flip := &egresstest.Rebinding{Before: netip.MustParseAddr("127.0.0.1"), After: netip.MustParseAddr("127.0.0.2")}
			policy := egress.New(nil, c.deny).WithLookup(flip.Lookup)
			reg, px := setupWith(t, registry.Options{Targets: policy}, proxy.Options{Targets: policy})
			register(t, reg, "http://flip.test:"+port) // resolves to 127.0.0.1 here
			flip.Rebind()
			rsp, body := get(t, px.URL+"/echo-svc/x")
			if rsp.StatusCode != c.want {
				t.Fatalf("HTTP %d %s, want %d", rsp.StatusCode, body, c.want)
			}
			if c.want == http.StatusBadGateway && (!strings.Contains(body, "target policy refuses flip.test (127.0.0.2)") ||
				rsp.Header.Get("Content-Type") != "application/json") {
				t.Errorf("502 body %q does not say the policy refused the address", body)
			}
			if n := hits.Load(); n != c.reached {
				t.Fatalf("backend on the refused address got %d requests, want %d", n, c.reached)
			}
		})
	}
}
