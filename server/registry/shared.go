package registry

import (
	"context"
	"errors"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/store"
)

// Shared is what the registry needs from a store several replicas share (etcd), beyond Store.
// With Options.Shared set, the shared store is authoritative: each replica's entries, indexes
// and route table are a cache fed by Watch, every write is one conditional write to the
// shared store, and a replica applies its own writes at once (read-your-writes) when they are
// newer than what its cache holds.
type Shared interface {
	// Snapshot reads every instance and beat at one revision.
	Snapshot(ctx context.Context) (store.Snapshot, error)
	// Watch calls fn with the changes from revision from on, in revision order, and the
	// revision they bring the watcher to (no changes: a progress notification), until ctx ends
	// or the watch breaks; it returns store.ErrCompacted when from is no longer kept.
	Watch(ctx context.Context, from int64, fn func(cs []store.Change, rev int64)) error
	// RequestProgress makes the watch report the revision it reached even without changes.
	RequestProgress(ctx context.Context) error
	// PutInstance stores rec if the instance's stored revision is ifRev (0: it must not exist)
	// and rec.URL is not registered by another instance; it moves the URL's ownership from
	// oldURL (when not empty and not rec.URL). It returns the revision written, or a
	// *store.ConflictError.
	PutInstance(ctx context.Context, rec store.InstanceRecord, ifRev int64, oldURL string) (int64, error)
	// PutStatuses writes each record whose stored revision is still the one given, and returns
	// the revision written for each (0 for a record that changed meanwhile and was skipped).
	PutStatuses(ctx context.Context, recs []store.VersionedInstance) ([]int64, error)
	// DeleteInstance removes id, its beat and its URL's ownership if its stored revision is
	// ifRev; it returns the revision of the delete, or a *store.ConflictError.
	DeleteInstance(ctx context.Context, id, url string, ifRev int64) (int64, error)
	// PutBeats stores the beats of instances still stored, in as few transactions as the
	// store allows; it reports how many transactions it took.
	PutBeats(ctx context.Context, beats []store.Beat) (int, error)
}

// Timings of shared mode.
const (
	// beatBatch is how often a replica writes the heartbeats it received, in one transaction.
	beatBatch = 500 * time.Millisecond
	// beatThinNoTTL is how old the stored beat of an instance without a TTL may get: such a
	// beat only shows when the instance was last heard from.
	beatThinNoTTL = 10 * time.Second
	// catchUp is how long a conditional write that lost waits for the watch to show why
	// before trying once more.
	catchUp = 2 * time.Second
	// seenThin is how far the prober lets the stored lastSeen of an instance whose status did
	// not change fall behind before writing it: lastSeen is only shown, and writing every
	// probe's would cost etcd a write per instance per probe interval.
	seenThin = 30 * time.Second
	// sharedTimeout bounds one write to the shared store as the registry sees it (the store
	// bounds each request itself too).
	sharedTimeout = 5 * time.Second
)

// sharedState is the cache bookkeeping of shared mode. Guarded by Registry.mu.
type sharedState struct {
	st Shared
	// rev is the revision the cache reflects: the snapshot it was loaded at, then the last
	// watched change. caught is closed and replaced whenever rev advances.
	rev    int64
	caught chan struct{}
	// tombs holds the revision of deletes applied before the watch reached them, so that a
	// watched write older than the delete does not bring the instance back.
	tombs map[string]int64
	// beats are the heartbeats received here and not yet written.
	beats map[string]store.Beat
	// thinned are the instances with a TTL whose latest beat here was not written (thinning):
	// the other replicas see only the stored one, older.
	thinned map[string]struct{}
	// urgent is set, and kick signalled, when a status changed: written at once, not lazily.
	urgent bool
	kick   chan struct{}
	// changed holds the entries whose status changed since the last write of their record.
	changed map[*entry]struct{}
	// beatTxns counts the transactions beats took, so tests see they are batched.
	beatTxns int
}

func (r *Registry) isShared() bool { return r.sh != nil }

// newShared loads the cache from the shared store; Run keeps it current.
func (r *Registry) newShared(s Shared) error {
	r.sh = &sharedState{
		st:      s,
		caught:  make(chan struct{}),
		tombs:   map[string]int64{},
		beats:   map[string]store.Beat{},
		changed: map[*entry]struct{}{},
		thinned: map[string]struct{}{},
		kick:    make(chan struct{}, 1),
	}
	r.table.Store(&Table{})
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	return r.load(ctx)
}

// SetProbing makes this replica the one that probes (true) or stops it probing (false). Only
// in shared mode: a registry on its own store always probes (when ProbeInterval > 0). A replica
// that starts probing starts from the stored statuses and probes every instance soon.
func (r *Registry) SetProbing(on bool) {
	if !r.isShared() {
		return
	}
	if r.active.Swap(on) == on {
		return
	}
	r.mu.Lock()
	defer r.unlock()
	now := time.Now()
	for _, e := range r.byID {
		e.nextProbe = now
	}
	r.log.Info("probing", "on", on)
	r.wake()
}

// Probing reports whether this replica probes.
func (r *Registry) Probing() bool { return r.probing() && r.active.Load() }

// load replaces the cache by a snapshot: entries it does not hold go, unless this replica
// applied them after the snapshot's revision.
func (r *Registry) load(ctx context.Context) error {
	snap, err := r.sh.st.Snapshot(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.unlock()
	now := time.Now()
	seen := make(map[string]bool, len(snap.Instances))
	for _, v := range snap.Instances {
		seen[v.Rec.ID] = true
		r.applyInstance(v.Rec, v.Rev, now)
	}
	for _, e := range r.byID {
		if !seen[e.rec.ID] && e.rev <= snap.Rev {
			r.remove(e)
		}
	}
	for _, b := range snap.Beats {
		r.applyBeat(b, now)
	}
	r.advance(snap.Rev)
	return nil
}

// watch keeps the cache current until ctx ends: it watches from the revision after the one the
// cache reflects, resumes after a broken watch and reloads everything after a compaction. The
// route table meanwhile stays as it was: the proxy keeps routing while the store is away.
func (r *Registry) watch(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		r.mu.Lock()
		from := r.sh.rev + 1
		r.unlock()
		err := r.sh.st.Watch(ctx, from, r.applyChanges)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, store.ErrCompacted) {
			r.log.Warn("instance watch fell behind a compaction; reloading", "from", from)
			if err = r.load(ctx); err == nil {
				backoff = 50 * time.Millisecond
				continue
			}
		}
		r.log.Warn("instance watch broken; keeping the last routes and retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (r *Registry) applyChanges(cs []store.Change, rev int64) {
	r.mu.Lock()
	defer r.unlock()
	now := time.Now()
	for _, c := range cs {
		switch {
		case c.Beat != nil:
			r.applyBeat(*c.Beat, now)
		case c.Deleted:
			r.applyDelete(c.Instance.ID, c.Rev)
		case c.Instance != nil:
			r.applyInstance(*c.Instance, c.Rev, now)
		}
	}
	r.advance(rev)
}

// advance records that the cache reflects rev, and wakes writers waiting for it.
func (r *Registry) advance(rev int64) {
	if rev <= r.sh.rev {
		return
	}
	r.sh.rev = rev
	for id, t := range r.sh.tombs {
		if t <= rev {
			delete(r.sh.tombs, id)
		}
	}
	close(r.sh.caught)
	r.sh.caught = make(chan struct{})
}

// awaitRev waits until the cache reflects rev, or d passes; it reports whether it does.
func (r *Registry) awaitRev(rev int64, d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for asked := false; ; asked = true {
		r.mu.Lock()
		cur, ch := r.sh.rev, r.sh.caught
		r.unlock()
		if cur >= rev {
			return true
		}
		if !asked {
			// What changed may be a delete, or a write the watch has not sent yet: ask the
			// store to tell the watch how far it is.
			ctx, cancel := context.WithTimeout(context.Background(), d)
			err := r.sh.st.RequestProgress(ctx)
			cancel()
			if err != nil {
				return false
			}
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// newer reports whether a write of id at rev is news to the cache: the watch has not brought
// it (or anything after it) yet, and no later delete of id was applied.
func (r *Registry) newer(id string, rev int64) bool {
	t, deleted := r.sh.tombs[id]
	return rev > r.sh.rev && (!deleted || rev > t)
}

// applyInstance brings the entry of rec up to revision rev, unless it is there already.
// Called with r.mu held.
func (r *Registry) applyInstance(rec store.InstanceRecord, rev int64, now time.Time) {
	if t, ok := r.sh.tombs[rec.ID]; ok && rev <= t {
		return
	}
	e := r.byID[rec.ID]
	if e != nil && rev <= e.rev {
		return
	}
	pu, err := parseInstanceURL(rec.URL)
	if err != nil {
		r.log.Warn("ignoring a shared instance with an invalid url", "id", rec.ID, "url", rec.URL, "err", err)
		return
	}
	var next entry
	if e != nil {
		next = *e
	}
	if e == nil || next.url.Canonical != pu.Canonical || next.rec.HealthPath != rec.HealthPath {
		next.h = restoredHealth(rec, now)
		next.gen++
		next.probing = false
		next.nextProbe = now
	} else {
		if v := store.VerdictOf(rec); v != next.h.Verdict {
			next.h.Verdict = v
			next.nextProbe = now // another replica's view: the prober checks it soon
		}
		next.h.TTL, _ = time.ParseDuration(rec.HeartbeatTTL)
		next.h.LastSeen = later(next.h.LastSeen, rec.LastSeen)
		next.h.LastHeartbeat = later(next.h.LastHeartbeat, rec.LastHeartbeat)
		if rec.LastBeat.After(next.h.LastBeat) {
			next.h.LastBeat = rec.LastBeat
		}
	}
	next.rec, next.url, next.rev = rec, urlOf(pu), rev
	next.storedSeen = later(time.Time{}, rec.LastSeen)
	r.sync(&next, now)
	oldSlug := ""
	if e != nil {
		oldSlug = e.rec.Slug
		r.unindex(e)
		*e = next
	} else {
		e = &next
	}
	r.index(e)
	delete(r.dirty, e)
	r.publish(e.rec.Slug, oldSlug)
	r.wake()
}

func later(t time.Time, p *time.Time) time.Time {
	if p != nil && p.After(t) {
		return *p
	}
	return t
}

func (r *Registry) applyDelete(id string, rev int64) {
	if e := r.byID[id]; e != nil && e.rev < rev {
		r.remove(e)
	}
	if rev > r.sh.rev {
		r.sh.tombs[id] = rev
	}
}

// applyBeat folds a heartbeat another replica (or this one) wrote into the entry.
func (r *Registry) applyBeat(b store.Beat, now time.Time) {
	e := r.byID[b.ID]
	if e == nil || b.Rev <= e.beatRev {
		return
	}
	e.beatRev, e.storedBeat = b.Rev, b.At
	if !b.At.After(e.h.LastBeat) {
		return
	}
	ttl, _ := time.ParseDuration(b.TTL)
	if ttl > 0 {
		e.rec.HeartbeatTTL = b.TTL
	}
	r.beat(e, b.At, ttl)
	r.refresh(e, now, "heartbeat")
}

// registerShared makes a registration one conditional write to the shared store.
func (r *Registry) registerShared(p auth.Principal, req api.RegisterInstanceRequest, pu api.TargetURL, ttl time.Duration) (api.Instance, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		r.mu.Lock()
		e, next, err := r.prepare(p, req, pu, ttl, time.Now())
		ifRev, oldURL := int64(0), ""
		if e != nil {
			ifRev, oldURL = e.rev, e.url.Canonical
		}
		r.unlock()
		if err != nil {
			return api.Instance{}, err
		}
		next.rec.Verdict = next.h.Verdict
		rev, err := r.sh.st.PutInstance(ctx, next.rec, ifRev, oldURL)
		if retry, err := r.lost(err, attempt); retry {
			continue
		} else if err != nil {
			return api.Instance{}, err
		}
		r.mu.Lock()
		if cur := r.byID[next.rec.ID]; r.newer(next.rec.ID, rev) && (cur == nil || cur.rev < rev) {
			next.rev = rev
			r.install(cur, next)
		}
		seq := r.installs
		r.unlock()
		r.publishPending(seq)
		return next.rec.Instance, nil
	}
}

// lost decides what a conditional write that failed does: a conflict is retried once, after
// the watch has caught up with what caused it; a second one, or a conflict the watch does not
// explain in time, is a 409.
func (r *Registry) lost(err error, attempt int) (retry bool, _ error) {
	var ce *store.ConflictError
	if !errors.As(err, &ce) {
		return false, err
	}
	if attempt == 0 && r.awaitRev(ce.Rev, catchUp) {
		return true, nil
	}
	return false, apierr.Conflict("another replica changed this instance or its url at the same time (%s); look at it again (oo instance ls) and retry", ce.Error())
}

func (r *Registry) deleteShared(p auth.Principal, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		r.mu.Lock()
		e, ok := r.byID[id]
		var rev int64
		var url, slug string
		if ok {
			rev, url, slug = e.rev, e.url.Canonical, e.rec.Slug
		}
		r.unlock()
		if !ok {
			return notFound(id)
		}
		if !p.IsAdmin() && p.Slug != slug {
			return apierr.Forbidden("instance %s belongs to slug %q; only that slug or an admin may delete it", id, slug)
		}
		drev, err := r.sh.st.DeleteInstance(ctx, id, url, rev)
		if retry, err := r.lost(err, attempt); retry {
			continue
		} else if err != nil {
			return err
		}
		r.mu.Lock()
		r.applyDelete(id, drev)
		r.unlock()
		r.log.Info("instance deleted", "id", id, "url", url, "slug", slug, "by", p.Slug)
		return nil
	}
}

// expireShared removes, on the prober only, instances down longer than the expiry. A removal
// that loses to a concurrent write is dropped: the next pass looks again.
func (r *Registry) expireShared(ctx context.Context, now time.Time) {
	type victim struct {
		id, url string
		rev     int64
	}
	var vs []victim
	r.mu.Lock()
	for _, e := range r.byID {
		if !e.rec.DownSince.IsZero() && now.Sub(e.rec.DownSince) > r.opts.InstanceExpiry {
			vs = append(vs, victim{e.rec.ID, e.url.Canonical, e.rev})
		}
	}
	r.unlock()
	for _, v := range vs {
		rev, err := r.sh.st.DeleteInstance(ctx, v.id, v.url, v.rev)
		if err != nil {
			if !errors.Is(err, store.ErrConflict) {
				r.log.Error("removing expired instance", "id", v.id, "err", err)
			}
			continue
		}
		r.mu.Lock()
		r.applyDelete(v.id, rev)
		r.unlock()
		r.log.Info("instance expired", "id", v.id, "url", v.url, "expiry", r.opts.InstanceExpiry)
	}
}

// flushShared writes, on the prober only, the health state of the dirty entries, each on the
// condition that nobody changed the instance since this replica saw it; one that changed is
// dropped, and its new record, which the watch brings, is what the prober goes on from.
func (r *Registry) flushShared(ctx context.Context) error {
	r.mu.Lock()
	r.sh.urgent = false
	if !r.active.Load() || len(r.dirty) == 0 {
		clear(r.dirty) // another replica's probes decide what is stored
		r.unlock()
		return nil
	}
	vs := make([]store.VersionedInstance, 0, len(r.dirty))
	for e := range r.dirty {
		if _, changed := r.sh.changed[e]; !changed && e.h.LastSeen.Sub(e.storedSeen) < seenThin {
			continue // only lastSeen moved, and not by much
		}
		rec := e.rec
		rec.Verdict = e.h.Verdict
		vs = append(vs, store.VersionedInstance{Rec: rec, Rev: e.rev})
	}
	clear(r.dirty)
	clear(r.sh.changed)
	r.unlock()
	if len(vs) == 0 {
		return nil
	}
	revs, err := r.sh.st.PutStatuses(ctx, vs)
	r.mu.Lock()
	defer r.unlock()
	for i, v := range vs {
		e := r.byID[v.Rec.ID]
		switch {
		case e == nil:
		case err != nil && e.rev == v.Rev:
			r.dirty[e] = struct{}{} // not written: try again, in full
			r.sh.changed[e] = struct{}{}
		case err == nil && revs[i] > 0 && e.rev == v.Rev:
			e.rev = revs[i]
			e.storedSeen = later(time.Time{}, v.Rec.LastSeen)
		}
	}
	return err
}

// queueBeat decides whether a heartbeat received here is worth writing: only when the stored
// beat is older than a third of the TTL (a tenth of a minute without one), or the TTL changed,
// so a service beating every second with a 30s TTL costs one write every 10s. Called with
// r.mu held.
func (r *Registry) queueBeat(e *entry, now time.Time, ttlText string, ttl time.Duration) {
	thin := beatThinNoTTL
	if e.h.TTL > 0 {
		thin = e.h.TTL / 3
	}
	if now.Sub(e.storedBeat) < thin && (ttl <= 0 || ttlText == e.storedTTL) {
		if e.h.TTL > 0 {
			r.sh.thinned[e.rec.ID] = struct{}{}
		}
		return
	}
	b := store.Beat{ID: e.rec.ID, At: now}
	if ttl > 0 {
		b.TTL = ttlText
	}
	r.sh.beats[e.rec.ID] = b
}

// writeBeats writes the queued heartbeats in as few transactions as the store allows. Beats
// that could not be written are kept for the next round, unless a newer one replaced them.
func (r *Registry) writeBeats(ctx context.Context) {
	r.mu.Lock()
	r.queueTrailingBeats(time.Now())
	if len(r.sh.beats) == 0 {
		r.unlock()
		return
	}
	bs := make([]store.Beat, 0, len(r.sh.beats))
	for _, b := range r.sh.beats {
		bs = append(bs, b)
	}
	clear(r.sh.beats)
	r.unlock()
	n, err := r.sh.st.PutBeats(ctx, bs)
	r.mu.Lock()
	defer r.unlock()
	r.sh.beatTxns += n
	for _, b := range bs {
		e := r.byID[b.ID]
		if e == nil {
			continue
		}
		if err != nil {
			if _, newer := r.sh.beats[b.ID]; !newer {
				r.sh.beats[b.ID] = b
			}
			continue
		}
		if b.At.After(e.storedBeat) {
			e.storedBeat = b.At
		}
		if b.TTL != "" {
			e.storedTTL = b.TTL
		}
	}
	if err != nil {
		r.log.Warn("writing heartbeats", "err", err, "beats", len(bs))
	}
}

// queueTrailingBeats queues the last beat of each thinned instance whose stored beat is about
// to lapse on the other replicas. Thinning writes the first beat of every third of the TTL; if
// the beats then stop, the stored one is up to a third of the TTL older than the last, and the
// other replicas would take the instance down that much before its TTL has passed since its
// last beat. So the last beat is written too, two batches before the stored one lapses: one
// more write when a service stops beating, none while it beats. Called with r.mu held.
func (r *Registry) queueTrailingBeats(now time.Time) {
	for id := range r.sh.thinned {
		e := r.byID[id]
		if e == nil || e.h.TTL <= 0 || !e.h.LastBeat.After(e.storedBeat) {
			delete(r.sh.thinned, id)
			continue
		}
		if _, queued := r.sh.beats[id]; queued || now.Before(e.storedBeat.Add(e.h.TTL-2*beatBatch)) {
			continue
		}
		r.sh.beats[id] = store.Beat{ID: id, At: e.h.LastBeat}
		delete(r.sh.thinned, id)
	}
}

// runShared is Run's shared-mode companion: the watch, the beat batches, and on the prober the
// prompt status writes and the expiry.
func (r *Registry) runShared(ctx context.Context) {
	watching := make(chan struct{})
	go func() { defer close(watching); r.watch(ctx) }()
	defer func() { <-watching }()
	beats := time.NewTicker(beatBatch)
	defer beats.Stop()
	flush := time.NewTicker(r.opts.FlushInterval)
	defer flush.Stop()
	expiry := time.NewTicker(max(4*r.opts.Tick, 50*time.Millisecond))
	defer expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beats.C:
			r.writeBeats(ctx)
			continue
		case <-expiry.C:
			if r.active.Load() {
				r.expireShared(ctx, time.Now())
			}
			continue
		case <-r.sh.kick:
		case <-flush.C:
		}
		if err := r.flushShared(ctx); err != nil {
			r.log.Error("writing instance health state", "err", err)
		}
	}
}
