package registry

import (
	"fmt"
	"testing"

	"github.com/ooctl/oo/pkg/api"
)

// BenchmarkLookup measures what the proxy does per request to choose an instance: load the
// table, find the slug, round-robin pick. It must not allocate, and must not grow with the
// number of slugs.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1, 1000, 10000} {
		b.Run(fmt.Sprintf("slugs=%d", n), func(b *testing.B) {
			routes := make(map[string]*Route, n)
			for i := range n {
				routes[fmt.Sprintf("svc-%d", i)] = newRoute([]Target{
					{ID: "a", Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", 10000+i), Status: api.StatusHealthy},
					{ID: "b", Scheme: "http", Host: fmt.Sprintf("127.0.0.2:%d", 10000+i), Status: api.StatusHealthy},
				})
			}
			r := &Registry{}
			r.table.Store(newTable(routes))
			path := fmt.Sprintf("/svc-%d/hello", n/2)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if r.Table().Route(path).Pick() == nil {
					b.Fatal("no target")
				}
			}
		})
	}
}
