package registry

import (
	"context"
	"sync"
	"time"

	"github.com/ooctl/oo/server/health"
	"github.com/ooctl/oo/server/store"
)

// notYet prefixes why an instance in its start period failed: it is Unknown, not down.
const notYet = "not answering yet (starting?): "

// Run probes instances, applies TTLs and expiry and flushes health state until ctx is done.
// Probes still running when ctx ends are abandoned and their results dropped.
func (r *Registry) Run(ctx context.Context) {
	// The loop wakes every Tick, or sooner when a probe is due sooner (an instance that has
	// not answered since it registered is probed every few tens of milliseconds).
	tick := time.NewTimer(r.opts.Tick)
	defer tick.Stop()
	flush := time.NewTicker(r.opts.FlushInterval)
	defer flush.Stop()
	sem := make(chan struct{}, r.opts.MaxProbes)
	var wg sync.WaitGroup
	defer wg.Wait()
	if r.sh != nil {
		wg.Add(1)
		go func() { defer wg.Done(); r.runShared(ctx) }()
	}
	// Every pass scans every entry under the lock (TTLs and expiry in maintain, due probes in
	// due). Each registration kicks the loop, so unbounded a burst of N registrations would cost
	// N scans of a growing registry: O(N²), the writers waiting on the lock meanwhile. TTLs and
	// expiry are therefore checked once per Tick, as without kicks, and kicked passes are at
	// least minPass apart.
	var lastMaintain time.Time
	for {
		now := time.Now()
		if now.Sub(lastMaintain) >= r.opts.Tick {
			r.maintain(now)
			lastMaintain = now
		}
		jobs, soonest := r.due(now)
		for _, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				res := r.prober.Probe(ctx, j.check)
				<-sem
				if ctx.Err() == nil {
					r.applyProbe(j, res)
				}
			}()
		}
		wait := r.opts.Tick
		if !soonest.IsZero() {
			wait = max(min(wait, soonest.Sub(now)), time.Millisecond)
		}
		tick.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-r.kick:
			if d := minPass - time.Since(now); d > 0 {
				tick.Reset(d)
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		case <-flush.C:
			if r.sh != nil {
				break // runShared writes
			}
			if err := r.Flush(); err != nil {
				r.log.Error("writing instance health state", "err", err)
			}
		}
	}
}

// minPass is the least time between two passes of Run woken by kicks: a probe asked for "now"
// starts within it, and a burst of registrations costs at most one scan per minPass.
const minPass = 10 * time.Millisecond

type probeJob struct {
	id    string
	gen   uint64
	check health.Check
}

// due marks and returns the probes to start now, and when the next one not yet started is
// due (zero when none is).
func (r *Registry) due(now time.Time) (jobs []probeJob, soonest time.Time) {
	if !r.Probing() {
		return nil, time.Time{}
	}
	r.mu.Lock()
	defer r.unlock()
	for _, e := range r.byID {
		if e.probing {
			continue
		}
		if now.Before(e.nextProbe) {
			if soonest.IsZero() || e.nextProbe.Before(soonest) {
				soonest = e.nextProbe
			}
			continue
		}
		e.probing = true
		jobs = append(jobs, probeJob{id: e.rec.ID, gen: e.gen, check: health.Check{
			Scheme: e.url.Scheme, Addr: e.url.HostPort, Path: e.rec.HealthPath,
		}})
	}
	return jobs, soonest
}

func (r *Registry) applyProbe(j probeJob, res health.Result) {
	r.mu.Lock()
	defer r.unlock()
	e, ok := r.byID[j.id]
	if !ok || e.gen != j.gen {
		return
	}
	now := time.Now()
	e.probing = false
	starting := e.h.Starting(now, r.policy)
	e.h.Observe(now, res, r.policy)
	next := r.nextProbeIn(e, now)
	e.nextProbe = now.Add(next)
	if next < r.opts.Tick {
		r.wake() // Run sleeps up to a Tick; make it plan for this probe
	}
	e.rec.Details = res.Detail
	if res.Outcome == health.Pass {
		e.rec.Details = ""
	} else if starting {
		e.rec.Details = notYet + res.Detail
	}
	r.dirty[e] = struct{}{}
	r.refresh(e, now, "probe")
}

// nextProbeIn is how long after a probe (whose result is in e.h) to probe e again.
func (r *Registry) nextProbeIn(e *entry, now time.Time) time.Duration {
	next := r.opts.ProbeInterval
	if e.h.Confirming() {
		// A failure that has not yet taken the instance down is confirmed after half an
		// interval (HAProxy's "fastinter"), so that a dead instance leaves rotation within two
		// intervals of dying even with two failures required and the tick's delay on each.
		next /= 2
	}
	if e.h.Waiting() {
		// The process registered at Start has not answered yet: it is most likely starting,
		// and it should be routable as soon as it listens. Probe again after a quarter of the
		// time it has been waiting (StartBackoff at first), so that it is seen within about a
		// quarter of its start-up time, at a cost of a few dozen refused connections, until
		// the delay reaches the interval.
		next = min(next, max(now.Sub(e.h.Start)/4, r.opts.StartBackoff))
	}
	return next
}

// maintain applies heartbeat TTLs and removes instances that have been down too long. The
// removals are committed after r.mu is released.
func (r *Registry) maintain(now time.Time) {
	expired := r.expire(now)
	if expired == nil {
		return
	}
	if err := r.w.wait(expired); err != nil {
		// Gone from memory, maybe still stored: a restart loads them, and they expire again.
		r.log.Error("removing expired instances", "err", err)
	}
}

// expire applies TTLs, removes the expired instances and queues their deletion; nil when none.
func (r *Registry) expire(now time.Time) *commitBatch {
	r.scans.Add(1)
	r.mu.Lock()
	defer r.unlock()
	var b *commitBatch
	for _, e := range r.byID {
		if e.h.TTL > 0 {
			r.refresh(e, now, "heartbeat TTL expired")
		}
		if r.sh == nil && !e.rec.DownSince.IsZero() && now.Sub(e.rec.DownSince) > r.opts.InstanceExpiry {
			b = r.w.add(store.InstanceWrite{Rec: e.rec, Delete: true})
			r.remove(e)
			r.log.Info("instance expired", "id", e.rec.ID, "url", e.rec.URL, "slug", e.rec.Slug,
				"down_since", e.rec.DownSince, "expiry", r.opts.InstanceExpiry)
		}
	}
	return b
}

// Flush writes health state changed since the last flush, in one transaction. The writes are
// queued under r.mu and committed without it; should the commit fail, the entries still
// registered are marked for the next flush.
func (r *Registry) Flush() error {
	if r.sh != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		defer cancel()
		r.writeBeats(ctx)
		return r.flushShared(ctx)
	}
	b, ents := r.queueDirty()
	if b == nil {
		return nil
	}
	err := r.w.wait(b)
	if err != nil {
		r.mu.Lock()
		for _, e := range ents {
			if r.byID[e.rec.ID] == e {
				r.dirty[e] = struct{}{}
			}
		}
		r.unlock()
	}
	return err
}

func (r *Registry) queueDirty() (*commitBatch, []*entry) {
	r.mu.Lock()
	defer r.unlock()
	if len(r.dirty) == 0 {
		return nil, nil
	}
	ws := make([]store.InstanceWrite, 0, len(r.dirty))
	ents := make([]*entry, 0, len(r.dirty))
	for e := range r.dirty {
		ws = append(ws, store.InstanceWrite{Rec: e.rec, IfStored: true})
		ents = append(ents, e)
	}
	clear(r.dirty)
	return r.w.add(ws...), ents
}

// Close writes pending health state. Call it after Run has returned.
func (r *Registry) Close() error { return r.Flush() }
