// Package registry keeps service instances: who owns which URL, their health and heartbeats,
// and the route table the proxy reads.
//
// All state lives in memory behind one mutex and is mirrored to the store. Registrations and
// deletions are committed before they are acknowledged; health state (status, lastHeartbeat,
// heartbeat times) changes far more often and is written lazily in batches, since losing a few
// seconds of it in a crash costs nothing but one probe after restart. Every change that affects
// routing is published at once as a new immutable Table.
package registry

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/btree"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/egress"
	"github.com/ooctl/oo/server/health"
	"github.com/ooctl/oo/server/store"
)

// Defaults the server, its flags and the registry share; defined here, where they take effect.
const (
	DefaultProbeInterval  = 5 * time.Second
	DefaultInstanceExpiry = 24 * time.Hour
)

// Options tune the registry. Zero values mean the defaults.
type Options struct {
	ProbeInterval  time.Duration // default DefaultProbeInterval; negative disables active probing
	InstanceExpiry time.Duration // down longer than this is removed; default DefaultInstanceExpiry
	Logger         *slog.Logger
	// Targets is the outbound policy: what an instance URL may point at, checked at
	// registration and on every probe. nil refuses only egress.Builtin.
	Targets *egress.Policy
	// MaxInstances is how many instances one slug may register; admins are exempt. 0 means no
	// limit (Config and the CLI default it to 100).
	MaxInstances int

	ProbeTimeout  time.Duration // one probe's bound; default 2s, at most the interval
	SlowProbe     time.Duration // a passing probe slower than this is Degraded; default ProbeTimeout/2
	MaxProbes     int           // probes in flight at once; default 64
	FailThreshold int           // consecutive failed probes that take a Healthy instance down; default 2
	PassThreshold int           // consecutive passing probes that bring a down instance back; default 1
	// StartPeriod is how long a newly registered instance that has not answered yet stays
	// Unknown (and routable when nothing better is) while its probes fail; default two probe
	// intervals (10s without probing); negative: none.
	StartPeriod time.Duration
	// StartBackoff is the first delay between probes of an instance that has not answered
	// since it registered; the delay grows with the time since registration up to the
	// interval. Default 25ms.
	StartBackoff  time.Duration
	FlushInterval time.Duration // how often lazily kept health state is written; default 2s
	// Tick is how often TTLs and expiry are checked and due probes started; default a tenth
	// of the probe interval, between 10ms and 250ms.
	Tick time.Duration
	// Shared, when set, is the store this registry shares with other replicas (etcd), which
	// is then authoritative; see Shared. Such a registry probes only after SetProbing(true).
	// nil: this registry is the only one, its memory authoritative and mirrored to its Store.
	Shared Shared
}

func (o *Options) defaults() {
	if o.ProbeInterval == 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	if o.InstanceExpiry <= 0 {
		o.InstanceExpiry = DefaultInstanceExpiry
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 2 * time.Second
		if o.ProbeInterval > 0 && o.ProbeInterval < o.ProbeTimeout {
			o.ProbeTimeout = o.ProbeInterval
		}
	}
	if o.SlowProbe == 0 {
		o.SlowProbe = o.ProbeTimeout / 2
	}
	if o.MaxProbes <= 0 {
		o.MaxProbes = 64
	}
	if o.StartPeriod == 0 {
		o.StartPeriod = 10 * time.Second
		if o.ProbeInterval > 0 {
			o.StartPeriod = 2 * o.ProbeInterval
		}
	}
	if o.StartBackoff <= 0 {
		o.StartBackoff = 25 * time.Millisecond
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 2 * time.Second
	}
	if o.Tick <= 0 {
		o.Tick = 250 * time.Millisecond
		if o.ProbeInterval > 0 {
			o.Tick = min(max(o.ProbeInterval/10, 10*time.Millisecond), o.Tick)
		}
	}
}

// Registry is the set of registered instances. It is safe for concurrent use.
type Registry struct {
	st     Store
	w      *committer // every instance write goes through it, in order
	opts   Options
	log    *slog.Logger
	prober *health.Prober
	policy health.Policy

	mu     sync.Mutex
	byID   map[string]*entry
	byURL  map[string]*entry
	bySlug map[string]*slugRoutes // slug → its count of instances and its route, kept current
	// ordered holds every entry in list order (see listKey), so a page of the list is read
	// in order from where it starts, without sorting the registry.
	ordered *btree.BTreeG[*entry]
	dirty   map[*entry]struct{} // health state not yet written
	// unpublished holds slugs registrations changed whose routes are not yet published:
	// concurrent registrations publish once for all of them (publishPending), so a burst to
	// one slug does not rebuild that slug's routes once per instance.
	unpublished map[string]struct{}
	// installs counts registrations installed, and published how many of them the last
	// publishPending covered: a registration whose install a publish already covered returns
	// without publishing, so a group commit's waiters publish once between them, not once each
	// (each publish copies the table's top and the changed parts).
	installs, published uint64
	publishes           uint64 // tables published, so tests can see a group publishes once

	kick chan struct{} // wakes Run when a probe is due now
	// scans counts expire passes over every entry, so tests can see a burst of
	// registrations does not cost a scan each.
	scans   atomic.Int64
	sh      *sharedState // nil unless Options.Shared is set (shared.go)
	active  atomic.Bool  // this replica probes: always without Shared, after SetProbing with it
	reports chan report  // the proxy's reports, applied by whoever holds mu (reports.go)
	table   atomic.Pointer[Table]

	counters counters // what observers count (observe.go)
}

// New loads the registered instances from st and publishes the first route table. Health state
// is restored as it was last flushed; Run re-probes everything at once.
func New(st Store, opts Options) (*Registry, error) {
	opts.defaults()
	r := &Registry{
		st:          st,
		w:           newCommitter(st),
		opts:        opts,
		log:         opts.Logger,
		prober:      health.NewProber(opts.ProbeTimeout, opts.SlowProbe).UseDial(opts.Targets.Dialer(net.Dialer{})),
		policy:      health.Policy{FailThreshold: opts.FailThreshold, PassThreshold: opts.PassThreshold, StartPeriod: max(opts.StartPeriod, 0)},
		byID:        map[string]*entry{},
		byURL:       map[string]*entry{},
		bySlug:      map[string]*slugRoutes{},
		ordered:     btree.NewG(32, listLess),
		dirty:       map[*entry]struct{}{},
		unpublished: map[string]struct{}{},
		kick:        make(chan struct{}, 1),
		reports:     make(chan report, reportQueue),
	}
	r.active.Store(opts.Shared == nil)
	if opts.Shared != nil {
		if err := r.newShared(opts.Shared); err != nil {
			return nil, err
		}
		return r, nil
	}
	recs, err := st.Instances()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for _, rec := range recs {
		pu, err := parseInstanceURL(rec.URL)
		if err != nil {
			r.log.Warn("ignoring stored instance with an invalid url", "id", rec.ID, "url", rec.URL, "err", err)
			continue
		}
		if other := r.byURL[pu.Canonical]; other != nil {
			// Stored before localhost and ::ffff:a.b.c.d were canonicalized: two records now name
			// one target. Both keep routing; the first one owns the URL for new registrations.
			r.log.Warn("two stored instances are the same target; remove one (oo instance rm ID)",
				"url", pu.Canonical, "id", rec.ID, "slug", rec.Slug, "other_id", other.rec.ID, "other_slug", other.rec.Slug)
		}
		if pu.IP.IsValid() {
			if err := opts.Targets.Check(pu.IP); err != nil {
				r.log.Warn("stored instance is refused by the target policy; it will not be probed or proxied to", "id", rec.ID, "url", rec.URL, "slug", rec.Slug, "err", err)
			}
		}
		e := &entry{rec: rec, url: urlOf(pu)}
		if rec.HealthFormat < store.HealthFormatSplit {
			splitLastHeartbeat(&e.rec)
			r.dirty[e] = struct{}{}
		}
		e.h = restoredHealth(e.rec, now)
		r.index(e)
	}
	r.table.Store(&Table{})
	r.mu.Lock()
	r.publish(slices.Collect(maps.Keys(r.bySlug))...)
	r.unlock()
	return r, nil
}

// restoredHealth is the health state of an instance loaded from its record: its verdict as it
// was, with a fresh start period (its process may be starting along with this server).
func restoredHealth(rec store.InstanceRecord, now time.Time) health.State {
	h := health.State{Verdict: store.VerdictOf(rec), Start: now, LastBeat: rec.LastBeat}
	if tier(h.Verdict) < 0 && h.Verdict != api.StatusUnreachable && h.Verdict != api.StatusError {
		h.Verdict = api.StatusUnknown
	}
	h.TTL, _ = time.ParseDuration(rec.HeartbeatTTL)
	if rec.LastHeartbeat != nil {
		h.LastHeartbeat = *rec.LastHeartbeat
	}
	if rec.LastSeen != nil {
		h.LastSeen = *rec.LastSeen
	}
	return h
}

// splitLastHeartbeat converts a record stored when lastHeartbeat was the last passing probe or
// heartbeat, whichever came last: that time becomes lastSeen (the best estimate of the last
// answer there is), and lastHeartbeat keeps only an explicit beat (the TTL clock of then, which
// a registration with a TTL also started), or goes.
func splitLastHeartbeat(rec *store.InstanceRecord) {
	if rec.LastSeen == nil {
		rec.LastSeen = rec.LastHeartbeat
	}
	rec.LastHeartbeat = nil
	if !rec.LastBeat.IsZero() {
		t := rec.LastBeat
		rec.LastHeartbeat = &t
	}
	rec.HealthFormat = store.HealthFormatSplit
}

// Table is the current route table. The proxy calls it on every request; it never blocks.
func (r *Registry) Table() *Table { return r.table.Load() }

// probing reports whether instances are probed at all (by this replica or, in shared mode,
// by the one elected); Probing whether this replica probes.
func (r *Registry) probing() bool { return r.opts.ProbeInterval > 0 }

// Filter narrows List; empty fields match anything.
type Filter struct {
	ID, Slug, Scheme, Host, IP, Path, DeploymentID string
}

func (f Filter) match(in *api.Instance) bool {
	return (f.ID == "" || f.ID == in.ID) &&
		(f.Slug == "" || f.Slug == in.Slug) &&
		(f.Scheme == "" || strings.EqualFold(f.Scheme, in.Scheme)) &&
		(f.Host == "" || strings.EqualFold(f.Host, in.Host)) &&
		(f.IP == "" || f.IP == in.IP) &&
		(f.Path == "" || f.Path == in.Path) &&
		(f.DeploymentID == "" || f.DeploymentID == in.DeploymentID)
}

// List returns the instances matching f, ordered by slug then URL.
//
// Visibility: every authenticated caller sees every instance. Routing information is not a
// secret on a dev box (anyone who can reach the server can already reach each slug through the
// proxy), services discover their peers by listing by slug, and the reference document shows a
// plain user listing instances. What a caller may change is restricted, not what it may read.
func (r *Registry) List(f Filter) []api.Instance {
	list, _, _ := r.ListPage(f, Page{}) // no cursor, no limit: nothing to refuse
	return list
}

// Get returns one instance.
func (r *Registry) Get(id string) (api.Instance, error) {
	r.mu.Lock()
	defer r.unlock()
	e, ok := r.byID[id]
	if !ok {
		return api.Instance{}, notFound(id)
	}
	return e.rec.Instance, nil
}

// Register creates or updates the instance at req.URL for the caller (or, for an admin, for
// req.Slug). Re-registering the same URL is idempotent and keeps the id. The first slug to
// register a URL owns it; any other non-admin slug gets a 409 naming the owner.
func (r *Registry) Register(p auth.Principal, req api.RegisterInstanceRequest) (api.Instance, error) {
	checked, err := checkRegistration(req)
	if err != nil {
		return api.Instance{}, err
	}
	pu, ttl := checked.Target, checked.TTL
	if req.Slug != "" && req.Slug != p.Slug {
		if !p.IsAdmin() {
			return api.Instance{}, apierr.Forbidden("only an admin may register an instance for another slug (you are %q, the request names %q)", p.Slug, req.Slug)
		}
		if err := validSlug(req.Slug); err != nil {
			return api.Instance{}, err
		}
	}
	if err := r.opts.Targets.CheckHost(context.Background(), pu.Host, resolveTimeout); err != nil {
		return api.Instance{}, apierr.Forbidden("url %q: %s", pu.Canonical, err.Error())
	}

	if r.isShared() {
		in, err := r.registerShared(p, req, pu, ttl)
		if err == nil {
			r.counters.registrations.Add(1)
		}
		return in, err
	}
	in, b, seq, err := r.register(p, req, pu, ttl)
	if err != nil {
		return api.Instance{}, err
	}
	// Committed in a group with concurrent registrations, without r.mu: the answer waits for
	// the fsync, the other writers do not. Should the commit fail, the caller gets the error
	// (the outcome unknown, as with any failed commit) while the registry keeps the instance.
	err = r.w.wait(b)
	r.publishPending(seq) // routable once acknowledged
	if err != nil {
		return api.Instance{}, err
	}
	r.counters.registrations.Add(1)
	return in, nil
}

// register applies a validated registration to the registry under r.mu and queues its write;
// seq is its install's number, for publishPending.
func (r *Registry) register(p auth.Principal, req api.RegisterInstanceRequest, pu api.TargetURL, ttl time.Duration) (_ api.Instance, _ *commitBatch, seq uint64, _ error) {
	r.mu.Lock()
	defer r.unlock()
	e, next, err := r.prepare(p, req, pu, ttl, time.Now())
	if err != nil {
		return api.Instance{}, nil, 0, err
	}
	b := r.w.add(store.InstanceWrite{Rec: next.rec})
	e = r.install(e, next)
	return e.rec.Instance, b, r.installs, nil
}

// prepare computes what a registration makes of the registry: the entry it updates (nil for a
// new one) and that entry's next state. It changes nothing. Called with r.mu held.
func (r *Registry) prepare(p auth.Principal, req api.RegisterInstanceRequest, pu api.TargetURL, ttl time.Duration, now time.Time) (*entry, entry, error) {
	e, err := r.target(p, pu.Canonical, req.ID)
	if err != nil {
		return nil, entry{}, err
	}

	var next entry
	if e != nil {
		next = *e
	} else {
		if err := r.checkQuota(p); err != nil {
			return nil, entry{}, err
		}
		id := req.ID
		if id == "" {
			id = r.newID()
		}
		next.rec = store.InstanceRecord{Instance: api.Instance{ID: id, Status: api.StatusUnknown, CreatedAt: now}, HealthFormat: store.HealthFormatSplit}
		next.rec.Slug = p.Slug
	}
	if req.Slug != "" {
		next.rec.Slug = req.Slug
	}
	if next.url.Canonical != pu.Canonical || next.rec.HealthPath != req.HealthPath {
		// Another address or check: what we knew about the old one says nothing about this.
		next.h = health.State{TTL: next.h.TTL, LastBeat: next.h.LastBeat, LastHeartbeat: next.h.LastHeartbeat}
		next.gen++
		next.probing = false
		next.rec.Details = ""
	}
	if tier(next.rec.Status) < 0 {
		// Registering is evidence the process is back (a service registers as it starts):
		// a down instance starts afresh as Unknown with a start period, rather than stay down
		// until an interval's probe (or, without probing, until it expires). An instance
		// that is up keeps its status, so a service that re-registers periodically does not
		// flap; the probe scheduled now checks it.
		next.h.Verdict, next.h.Fails, next.h.Passes = api.StatusUnknown, 0, 0
	}
	// Until the process registered now answers, it is probed with a short backoff.
	next.h.Start = now
	next.url = urlOf(pu)
	fillInstance(&next.rec.Instance, pu, req)
	// The request describes the instance in full, so a TTL it leaves out is no longer expected.
	next.h.TTL = ttl
	next.rec.HeartbeatTTL = ""
	if ttl > 0 {
		next.h.Expect(now, ttl)                  // the TTL starts counting at registration
		next.rec.HeartbeatTTL = req.HeartbeatTTL // as the client wrote it: "1h", not "1h0m0s"
	}
	next.nextProbe = now
	r.sync(&next, now)
	return e, next, nil
}

// install puts next in place of e (nil: next is a new instance), reindexes it and marks its
// slugs for publishing. Called with r.mu held.
func (r *Registry) install(e *entry, next entry) *entry {
	oldSlug := ""
	if e == nil {
		e = &next
		r.index(e)
		r.log.Info("instance registered", "id", e.rec.ID, "url", e.rec.URL, "slug", e.rec.Slug)
	} else {
		oldSlug = e.rec.Slug
		r.unindex(e)
		*e = next
		r.index(e)
	}
	delete(r.dirty, e) // just written in full
	r.installs++
	r.unpublished[e.rec.Slug] = struct{}{}
	if oldSlug != "" {
		r.unpublished[oldSlug] = struct{}{}
	}
	r.wake()
	return e
}

// checkQuota refuses a new instance for a non-admin slug that has MaxInstances already: every
// instance is probed and routed, so one account must not be able to register thousands.
// Updating or moving an existing instance is always allowed. Called with r.mu held.
func (r *Registry) checkQuota(p auth.Principal) error {
	if r.opts.MaxInstances <= 0 || p.IsAdmin() {
		return nil
	}
	if s := r.bySlug[p.Slug]; s != nil && s.n >= r.opts.MaxInstances {
		return apierr.Forbidden("slug %q already has %d instances, the most one account may register on this server (--max-instances); remove some first (oo instance ls, oo instance rm ID)", p.Slug, s.n)
	}
	return nil
}

// target finds the entry a registration updates, or nil for a new one, and checks the caller
// may change it.
func (r *Registry) target(p auth.Principal, canonical, id string) (*entry, error) {
	byURL := r.byURL[canonical]
	var byID *entry
	if id != "" {
		byID = r.byID[id]
	}
	switch {
	case byURL != nil:
		if err := mayChange(p, byURL, canonical); err != nil {
			return nil, err
		}
		if byID != nil && byID != byURL {
			return nil, apierr.Conflict("%s is already registered as instance %s; id %s names another instance", canonical, byURL.rec.ID, id)
		}
		return byURL, nil
	case byID != nil:
		// A known id with a new URL moves that instance.
		if err := mayChange(p, byID, byID.rec.URL); err != nil {
			return nil, err
		}
		return byID, nil
	}
	return nil, nil
}

func mayChange(p auth.Principal, e *entry, url string) error {
	if p.IsAdmin() || p.Slug == e.rec.Slug {
		return nil
	}
	return apierr.Conflict("%s is already registered by slug %q as instance %s; only %s or an admin may change it (an admin can remove it with: oo instance rm %s)",
		url, e.rec.Slug, e.rec.ID, e.rec.Slug, e.rec.ID)
}

// fillInstance copies the request's descriptive fields, deriving from the URL what it leaves out
// so that filtering by host or path works for clients that send only a URL.
func fillInstance(in *api.Instance, pu api.TargetURL, req api.RegisterInstanceRequest) {
	in.URL = pu.Canonical
	in.DeploymentID = req.DeploymentID
	in.Scheme = cmp.Or(strings.ToLower(req.Scheme), pu.Scheme)
	in.Host = cmp.Or(req.Host, pu.Hostname)
	in.Port = cmp.Or(req.Port, pu.Port)
	in.Path = cmp.Or(req.Path, pu.Path)
	in.IP = req.IP
	if in.IP == "" && pu.IP.IsValid() && pu.Hostname != "localhost" {
		in.IP = pu.Host // an address as written; a name, even localhost, leaves ip to the client
	}
	in.HealthPath = req.HealthPath
	in.Tags = slices.Clone(req.Tags)
}

// Delete removes an instance; only its owner or an admin may. The instance leaves the
// registry and its routes at once; the answer waits for the commit, without r.mu.
func (r *Registry) Delete(p auth.Principal, id string) error {
	if r.isShared() {
		return r.deleteShared(p, id)
	}
	b, err := r.delete(p, id)
	if err != nil {
		return err
	}
	return r.w.wait(b)
}

func (r *Registry) delete(p auth.Principal, id string) (*commitBatch, error) {
	r.mu.Lock()
	defer r.unlock()
	e, ok := r.byID[id]
	if !ok {
		return nil, notFound(id)
	}
	if !p.IsAdmin() && p.Slug != e.rec.Slug {
		return nil, apierr.Forbidden("instance %s belongs to slug %q; only that slug or an admin may delete it", id, e.rec.Slug)
	}
	b := r.w.add(store.InstanceWrite{Rec: e.rec, Delete: true})
	r.remove(e)
	r.log.Info("instance deleted", "id", id, "url", e.rec.URL, "slug", e.rec.Slug, "by", p.Slug)
	return b, nil
}

// Heartbeat records that the instance is alive; ttl (a Go duration, may be empty) sets how long
// until a missing next heartbeat makes it Unreachable. It is not written to the store at once.
func (r *Registry) Heartbeat(p auth.Principal, id, ttlText string) (api.Instance, error) {
	ttl, err := parseTTL(ttlText)
	if err != nil {
		return api.Instance{}, err
	}
	r.mu.Lock()
	defer r.unlock()
	e, ok := r.byID[id]
	if !ok {
		return api.Instance{}, notFound(id)
	}
	if !p.IsAdmin() && p.Slug != e.rec.Slug {
		return api.Instance{}, apierr.Forbidden("instance %s belongs to slug %q; only that slug or an admin may send its heartbeats", id, e.rec.Slug)
	}
	now := time.Now()
	r.counters.heartbeats.Add(1)
	if ttl > 0 {
		e.rec.HeartbeatTTL = ttlText
	}
	r.beat(e, now, ttl)
	if r.isShared() {
		r.queueBeat(e, now, ttlText, ttl) // written in the next batch, if at all
	} else {
		r.dirty[e] = struct{}{} // written lazily
	}
	r.refresh(e, now, "heartbeat")
	return e.rec.Instance, nil
}
