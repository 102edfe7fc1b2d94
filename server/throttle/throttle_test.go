package throttle

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newLimiter(burst int, window time.Duration) (*Limiter, *clock) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(burst, window)
	l.SetClock(c.now)
	return l, c
}

func TestBurstThenRefill(t *testing.T) {
	l, c := newLimiter(3, time.Minute)
	for i := range 3 {
		if k, _ := l.Take("a"); k != "" {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	k, wait := l.Take("a")
	if k != "a" || wait != 20*time.Second {
		t.Fatalf("4th attempt: blocked %q for %v, want a for 20s (a minute / 3)", k, wait)
	}
	c.add(19 * time.Second)
	if k, wait := l.Take("a"); k != "a" || wait != time.Second {
		t.Fatalf("after 19s: blocked %q for %v, want 1s more", k, wait)
	}
	c.add(time.Second)
	if k, _ := l.Take("a"); k != "" {
		t.Fatal("one token should be back after 20s")
	}
	if k, _ := l.Take("b"); k != "" {
		t.Fatal("another key has its own bucket")
	}
}

// Successes give their token back: any number of them never blocks.
func TestRefundKeepsSuccessesFree(t *testing.T) {
	l, _ := newLimiter(2, time.Minute)
	for i := range 50 {
		if k, _ := l.Take("a", "s"); k != "" {
			t.Fatalf("attempt %d refused", i)
		}
		l.Refund("a", "s")
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("%d buckets kept for keys that never failed", n)
	}
}

// Take is all or nothing: a blocked slug does not use up the address's budget.
func TestTakeIsAllOrNothing(t *testing.T) {
	l, _ := newLimiter(2, time.Minute)
	l.Take("addr1", "slug")
	l.Take("addr2", "slug")
	if k, _ := l.Take("addr3", "slug"); k != "slug" {
		t.Fatalf("blocked %q, want slug", k)
	}
	for i := range 2 {
		if k, _ := l.Take("addr3", fmt.Sprint("other", i)); k != "" {
			t.Fatalf("addr3 lost budget to a refused attempt: blocked %q", k)
		}
	}
}

// Concurrent attempts cannot overshoot the budget.
func TestConcurrentTakes(t *testing.T) {
	l := New(10, time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 100 {
		wg.Go(func() {
			if k, _ := l.Take("a"); k == "" {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 10 {
		t.Fatalf("%d of 100 concurrent attempts allowed, want 10", allowed)
	}
}

func TestKeysAreBounded(t *testing.T) {
	l, c := newLimiter(2, time.Minute)
	for i := range MaxKeys + 1000 {
		l.Take(fmt.Sprint("k", i))
		if i == MaxKeys/2 {
			c.add(time.Minute) // the first half is full again and can go
		}
	}
	if n := l.Len(); n > MaxKeys {
		t.Fatalf("%d keys kept, bound is %d", n, MaxKeys)
	}
}

func TestNilLimiterAllowsAll(t *testing.T) {
	var l *Limiter = New(0, time.Minute)
	for range 100 {
		if k, _ := l.Take("a"); k != "" {
			t.Fatal("a disabled limiter refused")
		}
	}
	l.Refund("a")
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5555":             "127.0.0.1",
		"[::ffff:10.0.0.1]:80":       "10.0.0.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
		"[fe80::1%eth0]:1":           "fe80::/64",
		"not an address":             "not an address",
	} {
		if got := AddrKey(in); got != want {
			t.Errorf("AddrKey(%q) = %q, want %q", in, got, want)
		}
	}
}
