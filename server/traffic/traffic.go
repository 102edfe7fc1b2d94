// Package traffic records what the proxy served, as it happens: per-slug counters, a latency
// histogram and in-flight gauge, per-instance request and error counts, recent rates and
// percentiles over a sliding window, and a live feed of requests for followers.
//
// Both data paths of server/proxy report each routed request once: Begin when the slug was
// found in the route table, End when the exchange is over. The hot path costs atomic adds on
// per-slug state found through a copy-on-write map (no lock, no allocation); a follower that
// cannot keep up loses events (counted) rather than slowing the proxy.
//
// A nil *Recorder records nothing: every method is nil-safe, which is how the server runs
// with --metrics off.
package traffic

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Failure says what went wrong with the backend of one exchange.
type Failure uint8

const (
	NoFailure   Failure = iota
	FailDial            // no connection to any instance tried
	FailTimeout         // the backend did not answer within --proxy-response-timeout
	FailReset           // the backend closed or broke the connection mid-exchange
)

// Failures are the kinds with a name, in label order.
var Failures = [...]Failure{FailDial, FailTimeout, FailReset}

// String is the failure's name as a metric label and in log events; "" for NoFailure.
func (f Failure) String() string {
	switch f {
	case FailDial:
		return "dial"
	case FailTimeout:
		return "timeout"
	case FailReset:
		return "reset"
	}
	return ""
}

// Exchange is one proxied request, reported once when it ends. The recorder keeps neither the
// pointer nor its strings beyond End (the fast path reuses them: Method and Path may point into
// a connection's buffer), so End copies what a log event needs.
type Exchange struct {
	Start     time.Time
	Duration  time.Duration
	Slug      string // a routed slug (found in the route table), so the set is bounded
	Instance  string // instance id that answered; "" when none was reached
	Method    string
	Path      string // log events only, never a metric label
	Status    int    // status sent to the client (502/503/504 included); 0 = aborted
	BytesIn   int64  // request body bytes read from the client
	BytesOut  int64  // response body bytes written to the client
	Upstream  Failure
	Retries   int    // extra attempts (a failed dial on another instance, a replayed keep-alive)
	RequestID string // X-Request-Id
	Caller    string // caller slug when the bearer token was valid, else ""
	Client    string // client address as the server saw it
}

// Failed reports whether the exchange counts as an error: answered 5xx or failed upstream.
func (e *Exchange) Failed() bool { return e.Status >= 500 || e.Upstream != NoFailure }

// Methods are the values of the method dimension; any other method counts as "other", so a
// client cannot grow the label set.
var Methods = [...]string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "other"}

// Codes are the values of the status-class dimension: "aborted" is a request whose client went
// away before any status was sent (Status 0).
var Codes = [...]string{"aborted", "1xx", "2xx", "3xx", "4xx", "5xx"}

// Buckets are the upper bounds, in seconds, of the latency histogram: from a loopback
// round trip (100 µs) to a slow request (10 s); anything longer falls in +Inf.
var Buckets = [...]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// bucketNs are Buckets in nanoseconds, compared on the hot path.
var bucketNs = func() (b [len(Buckets)]int64) {
	for i, s := range Buckets {
		b[i] = int64(s * 1e9)
	}
	return b
}()

const nBuckets = len(Buckets) + 1 // the last one is +Inf

func methodIndex(m string) int {
	switch m {
	case "GET":
		return 0
	case "POST":
		return 1
	case "PUT":
		return 2
	case "DELETE":
		return 3
	case "PATCH":
		return 4
	case "HEAD":
		return 5
	case "OPTIONS":
		return 6
	}
	return 7
}

func codeIndex(status int) int {
	switch {
	case status <= 0:
		return 0
	case status < 200:
		return 1
	case status >= 500:
		return 5
	}
	return status / 100
}

func bucketIndex(d time.Duration) int {
	ns := int64(d)
	for i, b := range bucketNs {
		if ns <= b {
			return i
		}
	}
	return len(bucketNs)
}

// Recorder is the server's one record of proxied traffic. Build it with New; Close stops it.
type Recorder struct {
	slugs atomic.Pointer[map[string]*slugState]
	mu    sync.Mutex // serialises changes to the maps and subscriber lists, and the sampler's ring

	// The sampler's ring: ticks[i%ringSize] is when sample i was taken (each slugState keeps
	// its own samples at the same index); ticked is the number of samples taken.
	ticks  [ringSize]time.Time
	ticked int
	born   time.Time
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// ringSize bounds Stats' window: one sample a second for a minute, plus the one it starts from.
const ringSize = 61

// MaxWindow is the longest window Stats measures; a longer one is cut to it.
const MaxWindow = (ringSize - 1) * time.Second

type slugState struct {
	slug     string
	inFlight atomic.Int64
	requests [len(Codes)][len(Methods)]atomic.Uint64
	errors   atomic.Uint64
	buckets  [nBuckets]atomic.Uint64
	sumNs    atomic.Int64
	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64
	upstream [len(Failures)]atomic.Uint64
	retries  atomic.Uint64

	instances atomic.Pointer[map[string]*instState]
	subs      atomic.Pointer[[]*Subscription]

	// ring holds the sampler's cumulative samples (under Recorder.mu); an idle slug's entries
	// share one *sample.
	ring [ringSize]*sample
}

type instState struct{ requests, errors atomic.Uint64 }

// sample is a slug's cumulative figures at one tick.
type sample struct {
	requests, errors uint64
	buckets          [nBuckets]uint64
}

// New returns a recorder whose sampler (one goroutine, a tick a second, feeding Stats) runs
// until Close.
func New() *Recorder {
	r := &Recorder{born: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	empty := map[string]*slugState{}
	r.slugs.Store(&empty)
	go r.sampler()
	return r
}

// Close stops the sampler and ends every subscription (their channels are closed). Counting
// goes on: the proxy may still be finishing requests.
func (r *Recorder) Close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	close(r.stop)
	var subs []*Subscription
	for _, s := range *r.slugs.Load() {
		if l := s.subs.Load(); l != nil {
			subs = append(subs, *l...)
		}
		s.subs.Store(nil)
	}
	r.mu.Unlock()
	for _, s := range subs {
		s.end()
	}
	<-r.done
}

// Done is closed when the recorder closes (the server is shutting down): a handler that streams
// figures until its client goes should stop then too. A nil Recorder's never closes.
func (r *Recorder) Done() <-chan struct{} {
	if r == nil {
		return nil
	}
	return r.stop
}

// slug returns the state of slug, creating it on first use.
func (r *Recorder) slug(slug string) *slugState {
	if s := (*r.slugs.Load())[slug]; s != nil {
		return s // every request but the first (checked here, not in generic code, for speed)
	}
	return lookup(&r.mu, &r.slugs, slug, func(k string) *slugState {
		s := &slugState{slug: k}
		empty := map[string]*instState{}
		s.instances.Store(&empty)
		return s
	})
}

func (r *Recorder) instance(s *slugState, id string) *instState {
	if in := (*s.instances.Load())[id]; in != nil {
		return in
	}
	return lookup(&r.mu, &s.instances, id, func(string) *instState { return &instState{} })
}

// lookup returns m[key], adding mk(key) on first use: a copy of the map is stored under mu, so
// every later lookup, and every reader meanwhile, goes without a lock. The key is copied, as
// the caller's string may point into a connection buffer.
func lookup[V any](mu *sync.Mutex, m *atomic.Pointer[map[string]V], key string, mk func(key string) V) V {
	if v, ok := (*m.Load())[key]; ok {
		return v
	}
	mu.Lock()
	defer mu.Unlock()
	old := *m.Load()
	if v, ok := old[key]; ok {
		return v
	}
	key = strings.Clone(key)
	v := mk(key)
	c := make(map[string]V, len(old)+1)
	for k, o := range old {
		c[k] = o
	}
	c[key] = v
	m.Store(&c)
	return v
}

// Begin counts a routed request to slug as in flight; End of the same request ends it.
func (r *Recorder) Begin(slug string) {
	if r == nil {
		return
	}
	r.slug(slug).inFlight.Add(1)
}

// End records one finished exchange (Begin must have been called with its slug). It does not
// block: a follower whose channel is full loses the event and it is counted.
func (r *Recorder) End(e *Exchange) {
	if r == nil {
		return
	}
	s := r.slug(e.Slug)
	s.inFlight.Add(-1)
	s.requests[codeIndex(e.Status)][methodIndex(e.Method)].Add(1)
	failed := e.Failed()
	if failed {
		s.errors.Add(1)
	}
	s.buckets[bucketIndex(e.Duration)].Add(1)
	s.sumNs.Add(int64(e.Duration))
	if e.BytesIn > 0 {
		s.bytesIn.Add(uint64(e.BytesIn))
	}
	if e.BytesOut > 0 {
		s.bytesOut.Add(uint64(e.BytesOut))
	}
	if e.Upstream != NoFailure && int(e.Upstream) <= len(Failures) {
		s.upstream[e.Upstream-1].Add(1)
	}
	if e.Retries > 0 {
		s.retries.Add(uint64(e.Retries))
	}
	if e.Instance != "" {
		in := r.instance(s, e.Instance)
		in.requests.Add(1)
		if failed {
			in.errors.Add(1)
		}
	}
	if subs := s.subs.Load(); subs != nil && len(*subs) > 0 {
		ev := eventOf(e)
		for _, sub := range *subs {
			sub.send(&ev)
		}
	}
}

// InstanceCounts are one instance's requests and errors since this server started.
type InstanceCounts struct {
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
}

// Instance returns the counts of instance id (zero if it never answered a request here).
func (r *Recorder) Instance(id string) InstanceCounts {
	if r == nil {
		return InstanceCounts{}
	}
	for _, s := range *r.slugs.Load() {
		if in := (*s.instances.Load())[id]; in != nil {
			return InstanceCounts{Requests: in.requests.Load(), Errors: in.errors.Load()}
		}
	}
	return InstanceCounts{}
}

// Forget drops the counts of instances keep refuses (removed ones), so that a long-running
// server does not keep every instance id it ever routed to.
func (r *Recorder) Forget(keep func(slug, instance string) bool) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range *r.slugs.Load() {
		old := *s.instances.Load()
		var m map[string]*instState
		for id := range old {
			if keep(s.slug, id) {
				continue
			}
			if m == nil {
				m = make(map[string]*instState, len(old))
				for k, v := range old {
					m[k] = v
				}
			}
			delete(m, id)
		}
		if m != nil {
			s.instances.Store(&m)
		}
	}
}

// Counters is one slug's cumulative figures, for the Prometheus collector.
type Counters struct {
	Slug string
	// Requests[c][m] counts requests of status class Codes[c] and method Methods[m].
	Requests [len(Codes)][len(Methods)]uint64
	Errors   uint64
	// Buckets[i] counts requests that took at most Buckets[i] seconds and more than the
	// previous bound (not cumulative); the last entry is +Inf.
	Buckets     [nBuckets]uint64
	DurationSum float64 // seconds
	InFlight    int64
	BytesIn     uint64
	BytesOut    uint64
	Upstream    [len(Failures)]uint64 // by Failures
	Retries     uint64
	Instances   map[string]InstanceCounts
}

// Counters returns every slug's figures, sorted by slug, read from the live counters (a
// scrape sees each counter exactly, though not all at the same instant).
func (r *Recorder) Counters() []Counters {
	if r == nil {
		return nil
	}
	m := *r.slugs.Load()
	out := make([]Counters, 0, len(m))
	for _, s := range m {
		if !s.seen() {
			continue // a followed slug nothing was routed to yet
		}
		c := Counters{Slug: s.slug, Errors: s.errors.Load(), InFlight: s.inFlight.Load(),
			BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(), Retries: s.retries.Load(),
			DurationSum: float64(s.sumNs.Load()) / 1e9}
		for i := range s.requests {
			for j := range s.requests[i] {
				c.Requests[i][j] = s.requests[i][j].Load()
			}
		}
		for i := range s.buckets {
			c.Buckets[i] = s.buckets[i].Load()
		}
		for i := range s.upstream {
			c.Upstream[i] = s.upstream[i].Load()
		}
		insts := *s.instances.Load()
		c.Instances = make(map[string]InstanceCounts, len(insts))
		for id, in := range insts {
			c.Instances[id] = InstanceCounts{Requests: in.requests.Load(), Errors: in.errors.Load()}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out
}
