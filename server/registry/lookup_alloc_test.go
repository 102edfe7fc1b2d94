package registry

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
)

// allocTable publishes a table of n slugs svc-0 … svc-(n-1) in a bare Registry. Slug svc-i has
// targets of the given statuses (hosts 127.0.0.x:10000+i), so a test picks which branch of
// Pick runs: one target, round-robin over several, or nothing routable.
func allocTable(n int, statuses ...api.InstanceStatus) *Registry {
	routes := make(map[string]*Route, n)
	for i := range n {
		targets := make([]Target, len(statuses))
		for j, s := range statuses {
			targets[j] = Target{ID: fmt.Sprintf("i-%d-%d", i, j), Scheme: "http",
				Host: fmt.Sprintf("127.0.0.%d:%d", j+1, 10000+i), Status: s}
		}
		routes[fmt.Sprintf("svc-%d", i)] = newRoute(targets)
	}
	r := &Registry{}
	r.table.Store(newTable(routes))
	return r
}

// TestLookupDoesNotAllocate: what the proxy does per request to route it (proxy.ServeHTTP:
// FirstSegment, Table().Lookup, Routable; proxy.rewrite: Table().Route(path).Pick(); the
// retrier's Lookup(slug).Find and Alternative) allocates nothing, at any table size.
func TestLookupDoesNotAllocate(t *testing.T) {
	shapes := []struct {
		name     string
		statuses []api.InstanceStatus
		routable bool
	}{
		{"one healthy", []api.InstanceStatus{api.StatusHealthy}, true},
		{"round robin", []api.InstanceStatus{api.StatusHealthy, api.StatusHealthy, api.StatusDegraded}, true},
		{"unknown only", []api.InstanceStatus{api.StatusUnknown}, true},
		{"none routable", []api.InstanceStatus{api.StatusUnreachable}, false},
	}
	for _, n := range []int{1, 1000, 10000} {
		for _, sh := range shapes {
			t.Run(fmt.Sprintf("slugs=%d/%s", n, sh.name), func(t *testing.T) {
				r := allocTable(n, sh.statuses...)
				if got := r.Table().Len(); got != n {
					t.Fatalf("table has %d slugs, want %d", got, n)
				}
				slug := fmt.Sprintf("svc-%d", n/2)
				path := "/" + slug + "/hello/world?x=1"
				port := fmt.Sprintf(":%d", 10000+n/2)
				host := "127.0.0.1" + port

				// The lookup finds the right route before its cost means anything.
				tg := r.Table().Route(path).Pick()
				if sh.routable != (tg != nil) || (tg != nil && !strings.HasSuffix(tg.Host, port)) {
					t.Fatalf("Route(%q).Pick() = %v, routable %v", path, tg, sh.routable)
				}
				if r.Table().Lookup(api.PathSlug(path)) != r.Table().Route(path) {
					t.Fatal("Lookup(api.PathSlug(path)) and Route(path) disagree")
				}

				var sink *Target
				var ok bool
				allocs := testing.AllocsPerRun(1000, func() {
					rt := r.Table().Lookup(api.PathSlug(path))
					ok = rt.Routable()
					sink = r.Table().Route(path).Pick()
					if rt.Find(host) != nil {
						sink = rt.Alternative(host)
					}
				})
				if allocs != 0 {
					t.Errorf("route lookup allocates %v times per request, want 0", allocs)
				}
				if ok != sh.routable {
					t.Errorf("Routable() = %v, want %v", ok, sh.routable)
				}
				_ = sink

				// A slug nobody registered: the 404 path must not allocate either.
				missing := "/no-such-svc/hello"
				allocs = testing.AllocsPerRun(1000, func() {
					sink = r.Table().Route(missing).Pick()
					ok = r.Table().Lookup(api.PathSlug(missing)).Routable()
				})
				if allocs != 0 {
					t.Errorf("missing-slug lookup allocates %v times per request, want 0", allocs)
				}
				if sink != nil || ok {
					t.Errorf("missing slug routed to %v (routable %v)", sink, ok)
				}
			})
		}
	}
}

// A nil table (before the registry published one) answers nil without allocating or panicking.
func TestLookupNilTableDoesNotAllocate(t *testing.T) {
	r := &Registry{}
	var sink *Target
	allocs := testing.AllocsPerRun(100, func() {
		sink = r.Table().Route("/svc/x").Pick()
	})
	if allocs != 0 || sink != nil {
		t.Errorf("nil table: %v allocs, target %v; want 0 and nil", allocs, sink)
	}
}
