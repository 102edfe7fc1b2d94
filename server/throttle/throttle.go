// Package throttle limits how often something may fail per key (a client address, a slug):
// each key has a token bucket of Burst tokens that refills Burst tokens per Window. A caller
// takes a token before the attempt and gives it back when the attempt succeeded, so only
// failures use up the budget, and concurrent attempts cannot overshoot it.
package throttle

import (
	"math"
	"net/netip"
	"sync"
	"time"
)

// MaxKeys bounds the memory a flood of distinct keys (addresses, slugs) can take. Full buckets
// carry no information and are dropped first.
const MaxKeys = 100_000

// Limiter is a set of token buckets. A nil *Limiter allows everything.
type Limiter struct {
	burst  float64
	refill time.Duration // time for one token to come back
	now    func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

// New allows burst failures per key, refilled at burst per window. It returns nil (no limit)
// when burst or window is not positive.
func New(burst int, window time.Duration) *Limiter {
	if burst <= 0 || window <= 0 {
		return nil
	}
	return &Limiter{
		burst: float64(burst), refill: window / time.Duration(burst), now: time.Now,
		buckets: map[string]*bucket{},
	}
}

// SetClock replaces time.Now, for tests.
func (l *Limiter) SetClock(now func() time.Time) { l.now = now }

// level brings b up to date and returns it; a missing key is a full bucket.
func (l *Limiter) level(key string, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		return &bucket{tokens: l.burst, at: now}
	}
	b.tokens = math.Min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.refill))
	b.at = now
	return b
}

// Take takes one token from the bucket of every key, or from none. When a bucket is empty it
// returns that key and how long until it holds a token again.
func (l *Limiter) Take(keys ...string) (blocked string, retry time.Duration) {
	if l == nil {
		return "", 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	bs := make([]*bucket, len(keys))
	for i, k := range keys {
		bs[i] = l.level(k, now)
		if bs[i].tokens < 1 {
			return k, time.Duration((1 - bs[i].tokens) * float64(l.refill))
		}
	}
	for i, k := range keys {
		bs[i].tokens--
		if l.buckets[k] == nil {
			l.store(k, bs[i], now)
		}
	}
	return "", 0
}

// Refund gives back a token taken for keys: the attempt did not fail.
func (l *Limiter) Refund(keys ...string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		if b := l.buckets[k]; b != nil {
			l.level(k, now)
			if b.tokens++; b.tokens >= l.burst {
				delete(l.buckets, k)
			}
		}
	}
}

// store adds a bucket, first making room: full buckets go, and if that is not enough, arbitrary
// others (forgetting some failures beats unbounded memory).
func (l *Limiter) store(key string, b *bucket, now time.Time) {
	if len(l.buckets) >= MaxKeys {
		for k := range l.buckets {
			if l.level(k, now).tokens >= l.burst {
				delete(l.buckets, k)
			}
		}
		for k := range l.buckets {
			if len(l.buckets) < MaxKeys*9/10 {
				break
			}
			delete(l.buckets, k)
		}
	}
	l.buckets[key] = b
}

// Len is the number of keys with a bucket that is not full, for tests.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// AddrKey turns a "host:port" remote address into the key of its client: the IP, or for IPv6
// its /64, since one host usually holds a whole /64 and could rotate through it.
func AddrKey(remoteAddr string) string {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
