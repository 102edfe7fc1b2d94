package traffic

import (
	"encoding/json"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

func ex(slug, inst, method string, status int, d time.Duration) *Exchange {
	return &Exchange{Start: time.Now(), Duration: d, Slug: slug, Instance: inst, Method: method, Path: "/" + slug + "/x", Status: status}
}

func find(t *testing.T, cs []Counters, slug string) Counters {
	t.Helper()
	for _, c := range cs {
		if c.Slug == slug {
			return c
		}
	}
	t.Fatalf("no counters for %q in %+v", slug, cs)
	return Counters{}
}

func TestCounters(t *testing.T) {
	r := New()
	defer r.Close()
	r.Begin("a")
	r.Begin("a")
	if c := find(t, r.Counters(), "a"); c.InFlight != 2 {
		t.Fatalf("in flight = %d, want 2", c.InFlight)
	}
	r.End(ex("a", "inst_1", "GET", 200, 3*time.Millisecond))
	e := ex("a", "inst_2", "BREW", 502, 40*time.Millisecond)
	e.Upstream, e.Retries, e.BytesIn, e.BytesOut = FailDial, 1, 10, 20
	r.End(e)
	r.Begin("b")
	e = ex("b", "", "POST", 0, time.Second)
	e.BytesIn = 5
	r.End(e)

	cs := r.Counters()
	if len(cs) != 2 || cs[0].Slug != "a" || cs[1].Slug != "b" {
		t.Fatalf("slugs = %+v, want a and b in order", cs)
	}
	a := cs[0]
	if a.InFlight != 0 || a.Requests[2][0] != 1 || a.Requests[5][7] != 1 || a.Errors != 1 {
		t.Errorf("a: in flight %d, 2xx GET %d, 5xx other %d, errors %d; want 0 1 1 1", a.InFlight, a.Requests[2][0], a.Requests[5][7], a.Errors)
	}
	if a.Upstream != [3]uint64{1, 0, 0} || a.Retries != 1 || a.BytesIn != 10 || a.BytesOut != 20 {
		t.Errorf("a: upstream %v retries %d bytes %d/%d", a.Upstream, a.Retries, a.BytesIn, a.BytesOut)
	}
	// 3 ms falls in (2.5ms, 5ms], 40 ms in (25ms, 50ms].
	if a.Buckets[5] != 1 || a.Buckets[8] != 1 {
		t.Errorf("a buckets = %v", a.Buckets)
	}
	if math.Abs(a.DurationSum-0.043) > 1e-9 {
		t.Errorf("a duration sum = %v, want 0.043", a.DurationSum)
	}
	if a.Instances["inst_1"] != (InstanceCounts{1, 0}) || a.Instances["inst_2"] != (InstanceCounts{1, 1}) {
		t.Errorf("a instances = %v", a.Instances)
	}
	b := cs[1]
	if b.Requests[0][1] != 1 || b.Errors != 0 || len(b.Instances) != 0 {
		t.Errorf("b: aborted POST %d errors %d instances %v; want 1 0 none", b.Requests[0][1], b.Errors, b.Instances)
	}
	if got := r.Instance("inst_2"); got != (InstanceCounts{Requests: 1, Errors: 1}) {
		t.Errorf("Instance(inst_2) = %+v", got)
	}
	if got := r.Instance("inst_none"); got != (InstanceCounts{}) {
		t.Errorf("Instance(inst_none) = %+v", got)
	}

	r.Forget(func(slug, id string) bool { return id != "inst_2" })
	if got := r.Instance("inst_2"); got != (InstanceCounts{}) {
		t.Errorf("after Forget, Instance(inst_2) = %+v", got)
	}
	if got := r.Instance("inst_1"); got.Requests != 1 {
		t.Errorf("Forget dropped inst_1 too: %+v", got)
	}
}

func TestQuantileFromBuckets(t *testing.T) {
	var b [nBuckets]uint64
	b[3] = 100 // 100 requests in (0.5ms, 1ms]
	if got := quantile(0.5, &b); math.Abs(got-0.00075) > 1e-12 {
		t.Errorf("p50 = %v, want 0.00075 (middle of the bucket)", got)
	}
	b[9] = 100 // and 100 in (50ms, 100ms]
	if got := quantile(0.99, &b); math.Abs(got-0.099) > 1e-12 {
		t.Errorf("p99 = %v, want 0.099", got)
	}
	if got := quantile(0.5, &b); math.Abs(got-0.001) > 1e-12 {
		t.Errorf("p50 = %v, want 0.001 (top of the first bucket)", got)
	}
	var inf [nBuckets]uint64
	inf[nBuckets-1] = 1
	if got := quantile(0.5, &inf); got != 10 {
		t.Errorf("p50 beyond the last bound = %v, want 10", got)
	}
	if got := quantile(0.5, &[nBuckets]uint64{}); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
}

func TestStatsWindow(t *testing.T) {
	r := New()
	r.Close() // the test ticks the sampler itself
	t0 := time.Now().Add(-20 * time.Second)
	for range 10 {
		r.Begin("a")
		r.End(ex("a", "i", "GET", 200, 200*time.Millisecond))
	}
	r.sample(t0)
	for i := 1; i <= 9; i++ {
		r.sample(t0.Add(time.Duration(i) * time.Second))
	}
	// In the window: 99 fast ones and one 503.
	for range 99 {
		r.Begin("a")
		r.End(ex("a", "i", "GET", 200, 700*time.Microsecond))
	}
	r.Begin("a")
	r.End(ex("a", "i", "GET", 503, 700*time.Microsecond))
	r.Begin("a") // one in flight
	r.sample(t0.Add(10 * time.Second))

	st := r.Stats(10 * time.Second)
	if len(st) != 1 {
		t.Fatalf("stats = %+v", st)
	}
	s := st[0]
	if s.Requests != 110 || s.Errors != 1 || s.InFlight != 1 {
		t.Errorf("totals %+v", s)
	}
	// The window starts at the tick of t0+1s: about 19 s ago, 100 requests since.
	if s.RPS < 100.0/20 || s.RPS > 100.0/18 {
		t.Errorf("rps = %v, want 100 over ~19 s", s.RPS)
	}
	if s.ErrorRate != 0.01 {
		t.Errorf("error rate = %v, want 0.01", s.ErrorRate)
	}
	if s.P50Ms < 0.5 || s.P50Ms > 1 || s.P99Ms > 1 {
		t.Errorf("p50 %v p99 %v ms, want both in (0.5, 1] (the slow ones are before the window)", s.P50Ms, s.P99Ms)
	}
	// A window longer than the samples kept reaches back to the server's start.
	all := r.Stats(time.Hour)[0]
	if all.P99Ms < 100 {
		t.Errorf("p99 over everything = %v ms, want the 200 ms ones in it", all.P99Ms)
	}
}

func TestStatsYoungRecorder(t *testing.T) {
	r := New()
	defer r.Close()
	if st := r.Stats(10 * time.Second); len(st) != 0 {
		t.Fatalf("stats of nothing = %+v", st)
	}
	r.Subscribe("followed", 1) // followed but never routed: not a slug with traffic
	r.Begin("a")
	r.End(ex("a", "i", "GET", 200, time.Millisecond))
	st := r.Stats(10 * time.Second)
	if len(st) != 1 || st[0].Requests != 1 || st[0].RPS <= 0 {
		t.Fatalf("stats before the first tick = %+v, want a's request counted", st)
	}
	if cs := r.Counters(); len(cs) != 1 {
		t.Errorf("counters = %+v, want only a", cs)
	}
}

func TestSamplerTicks(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the sampler")
	}
	r := New()
	defer r.Close()
	r.Begin("a")
	r.End(ex("a", "i", "GET", 200, time.Millisecond))
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		n := r.ticked
		r.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sampler took no sample in 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSubscribeDropsWhenFull(t *testing.T) {
	r := New()
	defer r.Close()
	sub := r.Subscribe("a", 2)
	other := r.Subscribe("b", 2)
	defer other.Close()
	for i := range 5 {
		e := ex("a", "inst_1", "GET", 200, 1500*time.Microsecond)
		e.RequestID = "r" + string(rune('0'+i))
		e.Upstream = FailReset
		r.Begin("a")
		r.End(e) // must not block on the full channel
	}
	if got := sub.Dropped(); got != 3 {
		t.Errorf("dropped = %d, want 3", got)
	}
	ev := <-sub.C
	if ev.RequestID != "r0" || ev.Method != "GET" || ev.Path != "/a/x" || ev.Instance != "inst_1" || ev.DurationMs != 1.5 || ev.Upstream != "reset" {
		t.Errorf("first event = %+v", ev)
	}
	if len(other.C) != 0 {
		t.Errorf("b's follower got a's events")
	}
	b, _ := json.Marshal(ev)
	for _, k := range []string{`"time":`, `"method":"GET"`, `"path":"/a/x"`, `"status":200`, `"durationMs":1.5`,
		`"instance":"inst_1"`, `"requestId":"r0"`, `"caller":""`, `"bytesIn":0`, `"bytesOut":0`, `"upstream":"reset"`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("event JSON %s lacks %s", b, k)
		}
	}
	sub.Close()
	sub.Close()
	<-sub.C // the buffered one
	if _, ok := <-sub.C; ok {
		t.Error("C still open after Close")
	}
	r.Begin("a")
	r.End(ex("a", "", "GET", 200, 0)) // no send on the closed channel
}

func TestEventCopiesStrings(t *testing.T) {
	r := New()
	defer r.Close()
	sub := r.Subscribe("a", 1)
	buf := []byte("/a/path")
	e := ex("a", "", "GET", 200, 0)
	e.Path = string(buf) // a copy here; the fast path passes an unsafe string: Clone must copy
	r.Begin("a")
	r.End(e)
	ev := <-sub.C
	if ev.Path != "/a/path" {
		t.Fatalf("path = %q", ev.Path)
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	r := New()
	sub := r.Subscribe("a", 1)
	r.Close()
	if _, ok := <-sub.C; ok {
		t.Error("subscription open after the recorder closed")
	}
	late := r.Subscribe("a", 1)
	if _, ok := <-late.C; ok {
		t.Error("subscription to a closed recorder is open")
	}
	sub.Close()
	r.Close()
}

func TestNilRecorder(t *testing.T) {
	var r *Recorder
	r.Begin("a")
	r.End(ex("a", "i", "GET", 200, 0))
	if r.Stats(time.Second) != nil || r.Counters() != nil || r.Instance("i") != (InstanceCounts{}) {
		t.Error("a nil recorder reported something")
	}
	r.Forget(func(string, string) bool { return false })
	sub := r.Subscribe("a", 1)
	if _, ok := <-sub.C; ok {
		t.Error("a nil recorder's subscription is open")
	}
	if sub.Dropped() != 0 {
		t.Error("dropped on nil")
	}
	sub.Close()
	r.Close()
	var ns *Subscription
	ns.Close()
	_ = ns.Dropped()
}

func TestConcurrent(t *testing.T) {
	r := New()
	defer r.Close()
	const workers, each = 8, 500
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// A slow follower, a reader of stats and one that comes and goes, all during the load.
	sub := r.Subscribe("s0", 1)
	go func() {
		for range sub.C {
			time.Sleep(time.Millisecond)
		}
	}()
	var side sync.WaitGroup
	side.Add(1)
	go func() {
		defer side.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r.Stats(5 * time.Second)
			r.Counters()
			r.sample(time.Now())
			s := r.Subscribe("s1", 4)
			s.Close()
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slug := "s" + string(rune('0'+w%3))
			inst := "inst_" + string(rune('a'+w))
			for range each {
				r.Begin(slug)
				r.End(ex(slug, inst, "GET", 200, time.Millisecond))
			}
		}()
	}
	wg.Wait()
	close(stop)
	side.Wait()
	var total uint64
	for _, c := range r.Counters() {
		total += c.Requests[2][0]
		if c.InFlight != 0 {
			t.Errorf("%s in flight %d", c.Slug, c.InFlight)
		}
	}
	if total != workers*each {
		t.Errorf("counted %d requests, want %d", total, workers*each)
	}
	got := r.Instance("inst_a").Requests
	if got != each {
		t.Errorf("inst_a counted %d, want %d", got, each)
	}
	sub.Close()
}

func BenchmarkEnd(b *testing.B) {
	r := New()
	defer r.Close()
	e := ex("svc", "inst_1", "GET", 200, 800*time.Microsecond)
	e.BytesOut = 100
	r.Begin("svc")
	r.End(e) // the slug and instance exist from here on
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.Begin("svc")
		r.End(e)
	}
}

func BenchmarkEndParallel(b *testing.B) {
	r := New()
	defer r.Close()
	r.Begin("svc")
	r.End(ex("svc", "inst_1", "GET", 200, 0))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		e := ex("svc", "inst_1", "GET", 200, 800*time.Microsecond)
		for pb.Next() {
			r.Begin("svc")
			r.End(e)
		}
	})
}

func TestEndAllocs(t *testing.T) {
	r := New()
	defer r.Close()
	e := ex("svc", "inst_1", "GET", 200, time.Millisecond)
	r.Begin("svc")
	r.End(e)
	if n := testing.AllocsPerRun(1000, func() { r.Begin("svc"); r.End(e) }); n != 0 {
		t.Errorf("Begin+End allocate %v times with no follower, want 0", n)
	}
}
