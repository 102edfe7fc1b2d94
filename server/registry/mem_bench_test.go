package registry

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/store/bolt"
)

// BenchmarkRegistryMemory reports the Go heap the registry holds per instance once 10 000 are
// registered (after a GC), under one slug or one slug each: what the server's resident memory
// grows by, twice over with the GC's default headroom (issue 12: 10 000 instances in under
// 64 MiB of RSS).
func BenchmarkRegistryMemory(b *testing.B) {
	const n = 10000
	for _, many := range []bool{false, true} {
		b.Run(fmt.Sprintf("slugs=%v", map[bool]string{false: "1", true: "N"}[many]), func(b *testing.B) {
			for b.Loop() {
				st, err := bolt.Open(filepath.Join(b.TempDir(), "oo.db"), bolt.Options{})
				if err != nil {
					b.Fatal(err)
				}
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				r, err := New(st, Options{ProbeInterval: -1})
				if err != nil {
					b.Fatal(err)
				}
				reqs := make([]api.RegisterInstanceRequest, n)
				for i := range reqs {
					reqs[i] = api.RegisterInstanceRequest{URL: fmt.Sprintf("http://127.1.%d.%d:%d", i/250%250, i%250+1, 10000+i%7)}
					if many {
						reqs[i].Slug = fmt.Sprintf("svc-%d", i)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&before)
				var wg sync.WaitGroup
				for c := range 32 {
					wg.Go(func() {
						for i := c; i < n; i += 32 {
							if _, err := r.Register(admin, reqs[i]); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				runtime.GC()
				runtime.ReadMemStats(&after)
				if dir := os.Getenv("OO_BENCH_HEAP"); dir != "" {
					f, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%v.pprof", many)))
					if err != nil {
						b.Fatal(err)
					}
					pprof.WriteHeapProfile(f)
					f.Close()
				}
				runtime.KeepAlive(reqs)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heapB/instance")
				runtime.KeepAlive(r)
				r.Close()
				st.Close()
			}
		})
	}
}
