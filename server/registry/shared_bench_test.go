package registry

import (
	"context"
	"fmt"
	"runtime"
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
	c := newCluster(b)
	var rs []*Registry
	for range replicas {
		st := c.open(b, 10*time.Second)
		r, err := New(st, Options{ProbeInterval: -1, Shared: st})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); r.Run(ctx) }()
		b.Cleanup(func() { cancel(); <-done })
		rs = append(rs, r)
	}
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
