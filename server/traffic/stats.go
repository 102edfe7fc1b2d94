package traffic

import (
	"sort"
	"time"
)

// SlugStats are one slug's figures: rates and percentiles over a recent window, totals since
// the server started.
type SlugStats struct {
	Slug      string  `json:"slug"`
	RPS       float64 `json:"rps"`       // requests/s over the window
	P50Ms     float64 `json:"p50Ms"`     // latency percentiles over the window, from the histogram's buckets
	P99Ms     float64 `json:"p99Ms"`     //
	ErrorRate float64 `json:"errorRate"` // fraction (0..1) of the window's requests that failed (Exchange.Failed)
	InFlight  int64   `json:"inFlight"`
	Requests  uint64  `json:"requests"` // since this server started
	Errors    uint64  `json:"errors"`
	BytesIn   uint64  `json:"bytesIn"`
	BytesOut  uint64  `json:"bytesOut"`
}

// seen reports whether a request was ever routed to the slug (a slug only followed is not).
func (s *slugState) seen() bool {
	if s.inFlight.Load() != 0 {
		return true
	}
	for i := range s.buckets {
		if s.buckets[i].Load() != 0 {
			return true
		}
	}
	return false
}

// now reads the slug's cumulative sample from the live counters.
func (s *slugState) now() *sample {
	c := &sample{errors: s.errors.Load()}
	for i := range s.buckets {
		c.buckets[i] = s.buckets[i].Load()
		c.requests += c.buckets[i]
	}
	return c
}

func (r *Recorder) sampler() {
	defer close(r.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			r.sample(now)
		}
	}
}

// sample takes one tick's cumulative figures of every slug. An idle slug's entry points at its
// previous sample, so idle slugs cost no memory per tick.
func (r *Recorder) sample(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.ticked % ringSize
	prev := (r.ticked + ringSize - 1) % ringSize
	for _, s := range *r.slugs.Load() {
		c := s.now()
		if p := s.ring[prev]; p != nil && r.ticked > 0 && *p == *c {
			c = p
		}
		s.ring[i] = c
	}
	r.ticks[i] = now
	r.ticked++
}

// Stats returns the figures of every slug a request was routed to, sorted by slug. Rates and
// percentiles cover the last window (whole seconds, at most MaxWindow; shorter while the
// server is younger than the window), measured against the sampler's tick a window ago.
func (r *Recorder) Stats(window time.Duration) []SlugStats {
	if r == nil {
		return nil
	}
	n := int((window + time.Second - 1) / time.Second)
	n = max(1, min(n, ringSize-1))
	now := time.Now()
	r.mu.Lock()
	base, since := -1, r.born
	if r.ticked >= n {
		base = (r.ticked - n) % ringSize
		since = r.ticks[base]
	}
	type pair struct {
		s    *slugState
		base *sample
	}
	var slugs []pair
	for _, s := range *r.slugs.Load() {
		p := pair{s: s}
		if base >= 0 {
			p.base = s.ring[base] // nil for a slug that appeared since
		}
		slugs = append(slugs, p)
	}
	r.mu.Unlock()

	secs := now.Sub(since).Seconds()
	out := make([]SlugStats, 0, len(slugs))
	for _, p := range slugs {
		s := p.s
		if !s.seen() {
			continue
		}
		cur := s.now()
		st := SlugStats{Slug: s.slug, InFlight: s.inFlight.Load(), Requests: cur.requests, Errors: cur.errors,
			BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load()}
		d := *cur
		if b := p.base; b != nil {
			d.requests -= b.requests
			d.errors -= b.errors
			for i := range d.buckets {
				d.buckets[i] -= b.buckets[i]
			}
		}
		if secs > 0 {
			st.RPS = float64(d.requests) / secs
		}
		if d.requests > 0 {
			st.ErrorRate = float64(d.errors) / float64(d.requests)
			st.P50Ms = quantile(0.5, &d.buckets) * 1000
			st.P99Ms = quantile(0.99, &d.buckets) * 1000
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out
}

// quantile estimates the q-quantile, in seconds, of the durations counted in buckets (not
// cumulative), interpolating linearly inside the bucket it falls in, as Prometheus's
// histogram_quantile does. Beyond the last bound it answers the last bound.
func quantile(q float64, buckets *[nBuckets]uint64) float64 {
	var total uint64
	for _, c := range buckets {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum float64
	for i, c := range buckets {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= rank {
			if i == len(Buckets) {
				return Buckets[len(Buckets)-1]
			}
			lo := 0.0
			if i > 0 {
				lo = Buckets[i-1]
			}
			return lo + (Buckets[i]-lo)*(rank-cum)/float64(c)
		}
		cum += float64(c)
	}
	return Buckets[len(Buckets)-1]
}
