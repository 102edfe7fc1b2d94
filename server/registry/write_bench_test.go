package registry

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/store/bolt"
)

// BenchmarkRegisterConcurrent registers OO_BENCH_N (default 2000) instances from 32 goroutines
// into a registry on a real bbolt file (every registration durable before it returns) and
// reports the rate of the first and the last 1000: the write path must not slow down as the
// registry grows (issue 12). One slug, or one slug per instance.
func BenchmarkRegisterConcurrent(b *testing.B) {
	const clients, window = 32, 1000
	n := 2000
	if s := os.Getenv("OO_BENCH_N"); s != "" {
		fmt.Sscan(s, &n)
	}
	for _, many := range []bool{false, true} {
		b.Run(fmt.Sprintf("slugs=%v", map[bool]string{false: "1", true: "N"}[many]), func(b *testing.B) {
			for b.Loop() {
				st, err := bolt.Open(filepath.Join(b.TempDir(), "oo.db"), bolt.Options{})
				if err != nil {
					b.Fatal(err)
				}
				r, err := New(st, Options{ProbeInterval: -1})
				if err != nil {
					b.Fatal(err)
				}
				done := make([]time.Time, n)
				var next atomic.Int64
				var wg sync.WaitGroup
				start := time.Now()
				for range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := int(next.Add(1)) - 1
							if i >= n {
								return
							}
							req := api.RegisterInstanceRequest{URL: fmt.Sprintf("http://127.0.%d.%d:%d", i/250%250, i%250+1, 10000+i/62500)}
							if many {
								req.Slug = fmt.Sprintf("svc-%d", i)
							}
							if _, err := r.Register(admin, req); err != nil {
								b.Error(err)
								return
							}
							done[i] = time.Now()
						}
					}()
				}
				wg.Wait()
				total := time.Since(start)
				first := rate(start, done[:window])
				last := rate(done[n-window-1], done[n-window:])
				b.ReportMetric(float64(n)/total.Seconds(), "reg/s")
				b.ReportMetric(first, "first1k/s")
				b.ReportMetric(last, "last1k/s")
				r.Close()
				st.Close()
			}
		})
	}
}

// rate is how many of done per second, counted from since to the latest of done.
func rate(since time.Time, done []time.Time) float64 {
	end := since
	for _, t := range done {
		if t.After(end) {
			end = t
		}
	}
	return float64(len(done)) / end.Sub(since).Seconds()
}
