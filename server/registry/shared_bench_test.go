package registry

import (
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

// BenchmarkSharedRegister registers new instances from 32 goroutines through two (and three)
// registries sharing one real etcd (each registration one conditional transaction, acknowledged once etcd
// committed it), and reports the rate. The target for 3 replicas of the real binary
// is 1 000/s; this is the in-process figure.
//
//	OO_REQUIRE_ETCD=1 go test ./server/registry/ -run '^$' -bench SharedRegister -benchtime 5000x
func BenchmarkSharedRegister(b *testing.B) {
	for _, n := range []int{2, 3} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) { benchSharedRegister(b, n) })
	}
}

func benchSharedRegister(b *testing.B, replicas int) {
	rs := benchReplicas(b, replicas)
	var n atomic.Int64
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0))) // 32 clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			_, err := rs[int(i)%len(rs)].Register(admin, api.RegisterInstanceRequest{
				URL:  fmt.Sprintf("http://127.%d.%d.%d:9000", i>>16&255, i>>8&255, i&255),
				Slug: fmt.Sprintf("svc-%d", i%100),
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "regs/s")
}

// BenchmarkSharedPropagation registers instances one at a time through one registry and
// measures how long until another registry on the same etcd routes each one: the in-process
// figure for "a registration on A is routable on B within 100 ms".
//
//	OO_REQUIRE_ETCD=1 go test ./server/registry/ -run '^$' -bench SharedPropagation -benchtime 200x
func BenchmarkSharedPropagation(b *testing.B) {
	rs := benchReplicas(b, 2)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		in, err := rs[0].Register(admin, api.RegisterInstanceRequest{URL: fmt.Sprintf("http://127.0.%d.%d:9000", i>>8&255, i&255), Slug: "prop-svc"})
		if err != nil {
			b.Fatal(err)
		}
		for !routable(rs[1], "prop-svc", in.ID) {
			if time.Since(start) > 10*time.Second {
				b.Fatalf("instance %s not routable on the other replica after 10s", in.ID)
			}
			time.Sleep(100 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// benchReplicas starts n registries, their loops running, on one new etcd.
func benchReplicas(b *testing.B, n int) []*Registry {
	c := newCluster(b)
	rs := make([]*Registry, n)
	for i := range rs {
		rs[i] = c.replica(b, Options{}, true)
	}
	return rs
}
