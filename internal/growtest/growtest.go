// Package growtest is what the "grown registry" benchmarks share (issue 12): server/registry's
// BenchmarkRegisterGrown and server/httpapi's BenchmarkRegisterHTTPGrown run the same cases on
// the same instances, registered the same way, so that their numbers compare. It is a package
// of its own, not a _test file or server/servertest, because server/servertest imports the
// server and with it the registry, which registry's own tests cannot import.
package growtest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// Clients is how many goroutines register at once, as the HTTP load does.
const Clients = 32

// Run runs body as one sub-benchmark per case: every instance under one slug or each under its
// own (many), into a registry that already holds 0 or 9 000 (held). With -benchtime 1000x the
// two are the first and the last 1 000 of 10 000.
func Run(b *testing.B, body func(b *testing.B, many bool, held int)) {
	for _, many := range []bool{false, true} {
		for _, held := range []int{0, 9000} {
			b.Run(fmt.Sprintf("slugs=%s/held=%d", map[bool]string{false: "1", true: "N"}[many], held), func(b *testing.B) {
				body(b, many, held)
			})
		}
	}
}

// URL is instance i's URL, a different one for every i below 15 000 000 (loopback addresses,
// a few ports).
func URL(i int) string {
	return fmt.Sprintf("http://127.%d.%d.%d:%d", 1+i/62500, i/250%250, i%250+1, 10000+i%7)
}

// Slug is instance i's slug when each has its own.
func Slug(i int) string { return fmt.Sprintf("svc-%d", i) }

// Register calls register(i) for every i in [from, to) from Clients goroutines. A goroutine
// stops at its first error, which fails the benchmark.
func Register(b *testing.B, from, to int, register func(i int) error) {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for range Clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= to {
					return
				}
				if err := register(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
