package registry

import (
	"maps"
	"slices"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/health"
	"github.com/ooctl/oo/server/store"
)

// entry is one instance's full state. Guarded by Registry.mu.
type entry struct {
	rec       store.InstanceRecord // rec.Status and rec.LastHeartbeat follow h
	url       entryURL
	h         health.State
	nextProbe time.Time
	probing   bool
	gen       uint64 // bumped when what is probed changes, so a stale probe result is dropped
	rtier     int8   // 1 + the tier of its slug's route it is in, 0 for none (see slugRoutes)
	pos       int32  // its place in that tier

	// Shared mode: the revision of the stored record this entry reflects, and of the stored
	// beat, with that beat's time and TTL (what thins the beats this replica writes).
	rev, beatRev int64
	storedBeat   time.Time
	storedTTL    string
	storedSeen   time.Time // lastSeen of the stored record: what thins the prober's writes of it

	trans *transitions // its recent status changes (observe.go); nil until the first
}

// entryURL is what an entry keeps of its parsed URL (api.TargetURL): the key of byURL and what
// probes and the proxy dial. The rest of the parse is in rec or not needed again.
type entryURL struct {
	Canonical string
	Scheme    string // http or https
	HostPort  string
}

func urlOf(pu api.TargetURL) entryURL {
	scheme := "https"
	if pu.Scheme == "http" {
		scheme = "http" // a constant, rather than a slice of the request that parsed it
	}
	return entryURL{Canonical: pu.Canonical, Scheme: scheme, HostPort: pu.HostPort}
}

// refresh recomputes e's status; a change is logged, scheduled for writing and published.
func (r *Registry) refresh(e *entry, now time.Time, reason string) {
	old := e.rec.Status
	if !r.sync(e, now) {
		return
	}
	e.noteReason(reason, e.rec.Details)
	r.dirty[e] = struct{}{}
	if s := r.bySlug[e.rec.Slug]; s != nil && int(e.rtier)-1 != tier(e.rec.Status) {
		s.unplace(e)
		s.place(e)
	}
	if r.sh != nil {
		r.sh.urgent = true // a status change is written now, not lazily
		r.sh.changed[e] = struct{}{}
		select {
		case r.sh.kick <- struct{}{}:
		default:
		}
	}
	r.log.Info("instance status changed", "id", e.rec.ID, "url", e.rec.URL, "slug", e.rec.Slug,
		"from", old, "to", e.rec.Status, "reason", reason, "details", e.rec.Details)
	r.publish(e.rec.Slug)
}

// sync copies e's health into its record and reports whether the status changed.
func (r *Registry) sync(e *entry, now time.Time) bool {
	e.rec.LastHeartbeat = timePtr(e.rec.LastHeartbeat, e.h.LastHeartbeat)
	e.rec.LastSeen = timePtr(e.rec.LastSeen, e.h.LastSeen)
	e.rec.LastBeat = e.h.LastBeat
	st := e.h.Status(now)
	if st == e.rec.Status {
		return false
	}
	e.noteTransition(e.rec.Status, st, now)
	e.rec.Status = st
	if tier(st) >= 0 {
		e.rec.DownSince = time.Time{}
	} else if e.rec.DownSince.IsZero() {
		e.rec.DownSince = now
	}
	return true
}

// timePtr returns old if it already points at t, else a pointer to a copy of t (nil for zero),
// so that records handed out earlier are never changed under their readers.
func timePtr(old *time.Time, t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	if old != nil && old.Equal(t) {
		return old
	}
	return &t
}

func (r *Registry) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Registry) index(e *entry) {
	r.byID[e.rec.ID] = e
	if r.byURL[e.url.Canonical] == nil {
		r.byURL[e.url.Canonical] = e
	}
	s := r.bySlug[e.rec.Slug]
	if s == nil {
		s = &slugRoutes{}
		r.bySlug[e.rec.Slug] = s
	}
	s.n++
	s.place(e)
	r.ordered.ReplaceOrInsert(e)
}

func (r *Registry) unindex(e *entry) {
	r.ordered.Delete(e)
	delete(r.byID, e.rec.ID)
	if r.byURL[e.url.Canonical] == e {
		delete(r.byURL, e.url.Canonical)
	}
	if s := r.bySlug[e.rec.Slug]; s != nil {
		s.unplace(e)
		if s.n--; s.n == 0 {
			delete(r.bySlug, e.rec.Slug)
		}
	}
}

func (r *Registry) remove(e *entry) {
	r.unindex(e)
	delete(r.dirty, e)
	e.gen++ // drop the result of a probe in flight
	r.publish(e.rec.Slug)
}

// publish swaps in a table with the current routes of slugs. The other slugs' routes, and every
// shard of the table none of slugs falls in, are shared with the previous table, and each route
// shares with the slug's previous one the chunks that did not change, so a publish costs what
// changed, not the number of slugs or instances. Called with r.mu held, which keeps publishes
// in order.
func (r *Registry) publish(slugs ...string) {
	changes := make([]tableSlot, 0, len(slugs))
	for _, slug := range slugs {
		delete(r.unpublished, slug)
		if slug == "" {
			continue
		}
		c := tableSlot{slug: slug}
		if s := r.bySlug[slug]; s != nil {
			c.route = s.freeze()
		}
		changes = append(changes, c)
	}
	r.table.Store(r.table.Load().with(changes))
	r.publishes++
}

// publishPending makes the install numbered seq (Registry.installs) routable: unless a publish
// since covered it, it publishes the routes of every slug registrations changed since the last
// time, which covers every install so far.
func (r *Registry) publishPending(seq uint64) {
	r.mu.Lock()
	defer r.unlock()
	if r.published >= seq {
		return // published by another registration of the same group
	}
	if len(r.unpublished) > 0 {
		r.publish(slices.Collect(maps.Keys(r.unpublished))...)
	}
	r.published = r.installs
}

// beat records a heartbeat at at. With probing, a down instance that says it is alive is
// probed again now rather than an interval later.
func (r *Registry) beat(e *entry, at time.Time, ttl time.Duration) {
	e.h.Beat(at, ttl, r.probing())
	if r.Probing() && (e.h.Verdict == api.StatusUnreachable || e.h.Verdict == api.StatusError) {
		e.nextProbe = time.Now()
		r.wake()
	}
}
