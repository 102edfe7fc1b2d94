package registry

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/ooctl/oo/internal/growtest"
	"github.com/ooctl/oo/pkg/api"
)

// BenchmarkRegisterGrown registers b.N more instances, from 32 goroutines as the HTTP load
// does, into a registry on a real bbolt file that already holds 0 or 9 000. With -benchtime
// 1000x the two are the first and the last 1 000 of 10 000, and what a registration costs
// (allocs/op, B/op, the CPU profile) must not grow with what the registry holds (issue 12):
// wall time here is mostly fsync, so compare the allocations, which no other load moves.
//
//	go test ./server/registry -run XXX -bench RegisterGrown -benchtime 1000x -benchmem
func BenchmarkRegisterGrown(b *testing.B) {
	growtest.Run(b, func(b *testing.B, many bool, held int) {
		r, _ := newReg(b, Options{})
		// reqs[k] is registration from+k, built before the timed part.
		reqs := func(from, to int) []api.RegisterInstanceRequest {
			out := make([]api.RegisterInstanceRequest, to-from)
			for k := range out {
				out[k] = api.RegisterInstanceRequest{URL: growtest.URL(from + k)}
				if many {
					out[k].Slug = growtest.Slug(from + k)
				}
			}
			return out
		}
		register := func(from, to int, reqs []api.RegisterInstanceRequest) {
			growtest.Register(b, from, to, func(i int) error {
				_, err := r.Register(admin, reqs[i-from])
				return err
			})
		}
		register(0, held, reqs(0, held))
		timed := reqs(held, held+b.N)
		b.ReportAllocs()
		profile(b, "before")
		wrote, writes := procIO()
		stopCPU := cpuProfile(b)
		b.ResetTimer()
		register(held, held+b.N, timed)
		b.StopTimer()
		stopCPU()
		if wrote2, writes2 := procIO(); wrote >= 0 && wrote2 >= 0 {
			// What the commits wrote: pages dirtied per registration.
			b.ReportMetric(float64(wrote2-wrote)/float64(b.N), "wbytes/op")
			b.ReportMetric(float64(writes2-writes)/float64(b.N), "writes/op")
		}
		profile(b, "after")
		if got := len(r.List(Filter{})); got != held+b.N {
			b.Fatalf("%d instances registered, want %d", got, held+b.N)
		}
	})
}

// profile writes the allocations so far to $OO_BENCH_ALLOCS/allocs-NAME-WHEN.pprof when that is
// set (cpuProfile the CPU profile of the timed part next to it): `go tool pprof -sample_index alloc_space -base ...-before.pprof ...-after.pprof` then
// shows where the timed registrations allocated (run with -memprofilerate 1 for exact counts).
func profile(b *testing.B, when string) {
	dir := os.Getenv("OO_BENCH_ALLOCS")
	if dir == "" {
		return
	}
	runtime.GC() // the profile is as of the last GC
	f, err := os.Create(filepath.Join(dir, "allocs-"+strings.NewReplacer("/", "-", "=", "").Replace(b.Name())+"-"+when+".pprof"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// cpuProfile profiles the CPU into $OO_BENCH_ALLOCS/cpu-NAME.pprof, when that is set, until
// the function it returns is called.
func cpuProfile(b *testing.B) func() {
	dir := os.Getenv("OO_BENCH_ALLOCS")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, "cpu-"+strings.NewReplacer("/", "-", "=", "").Replace(b.Name())+".pprof"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// procIO is the bytes this process passed to write calls and the number of those calls, from
// /proc/self/io (Linux); -1 where it cannot be read.
func procIO() (wchar, syscw int64) {
	wchar, syscw = -1, -1
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(raw), "\n") {
		k, v, _ := strings.Cut(l, ": ")
		switch k {
		case "wchar":
			fmt.Sscan(v, &wchar)
		case "syscw":
			fmt.Sscan(v, &syscw)
		}
	}
	return
}
