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

	"github.com/ooctl/oo/internal/randid"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/egress"
	"github.com/ooctl/oo/server/health"
	"github.com/ooctl/oo/server/store"
)

// Options tune the registry. Zero values mean the defaults.
type Options struct {
	ProbeInterval  time.Duration // default 5s; negative disables active probing
	InstanceExpiry time.Duration // down longer than this is removed; default 24h
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
}

func (o *Options) defaults() {
	if o.ProbeInterval == 0 {
		o.ProbeInterval = 5 * time.Second
	}
	if o.InstanceExpiry <= 0 {
		o.InstanceExpiry = 24 * time.Hour
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

// resolveTimeout bounds the lookup of an instance's host name at registration. A name that does
// not resolve in time is accepted: every connection to it is checked again.
const resolveTimeout = 2 * time.Second

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
	bySlug map[string]map[string]*entry // slug → id → entry
	dirty  map[*entry]struct{}          // health state not yet written
	// unpublished holds slugs registrations changed whose routes are not yet published:
	// concurrent registrations publish once for all of them (publishPending), so a burst to
	// one slug does not rebuild that slug's routes once per instance.
	unpublished map[string]struct{}

	kick  chan struct{} // wakes Run when a probe is due now
	table atomic.Pointer[Table]
}

// entry is one instance's full state. Guarded by Registry.mu.
type entry struct {
	rec       store.InstanceRecord // rec.Status and rec.LastHeartbeat follow h
	url       api.TargetURL
	h         health.State
	nextProbe time.Time
	probing   bool
	gen       uint64 // bumped when what is probed changes, so a stale probe result is dropped
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
		bySlug:      map[string]map[string]*entry{},
		dirty:       map[*entry]struct{}{},
		unpublished: map[string]struct{}{},
		kick:        make(chan struct{}, 1),
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
		e := &entry{rec: rec, url: pu}
		if rec.HealthFormat < store.HealthFormatSplit {
			splitLastHeartbeat(&e.rec)
			r.dirty[e] = struct{}{}
		}
		e.h.Verdict = rec.Status
		if tier(rec.Status) < 0 && rec.Status != api.StatusUnreachable && rec.Status != api.StatusError {
			e.h.Verdict = api.StatusUnknown
		}
		// An instance not yet seen up gets a fresh start period: its process may be starting
		// along with this server.
		e.h.Start = now
		e.h.LastBeat = rec.LastBeat
		e.h.TTL, _ = time.ParseDuration(rec.HeartbeatTTL)
		if e.rec.LastHeartbeat != nil {
			e.h.LastHeartbeat = *e.rec.LastHeartbeat
		}
		if e.rec.LastSeen != nil {
			e.h.LastSeen = *e.rec.LastSeen
		}
		r.index(e)
	}
	r.table.Store(&Table{})
	r.mu.Lock()
	r.publish(slices.Collect(maps.Keys(r.bySlug))...)
	r.mu.Unlock()
	return r, nil
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
	r.mu.Lock()
	out := make([]api.Instance, 0, len(r.byID))
	for _, e := range r.byID {
		if f.match(&e.rec.Instance) {
			out = append(out, e.rec.Instance)
		}
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b api.Instance) int {
		return cmp.Or(cmp.Compare(a.Slug, b.Slug), cmp.Compare(a.URL, b.URL), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Get returns one instance.
func (r *Registry) Get(id string) (api.Instance, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
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
	pu, err := parseInstanceURL(req.URL)
	if err != nil {
		return api.Instance{}, err
	}
	if req.Slug != "" && req.Slug != p.Slug {
		if !p.IsAdmin() {
			return api.Instance{}, apierr.Forbidden("only an admin may register an instance for another slug (you are %q, the request names %q)", p.Slug, req.Slug)
		}
		if err := validSlug(req.Slug); err != nil {
			return api.Instance{}, err
		}
	}
	ttl, err := parseTTL(req.HeartbeatTTL)
	if err != nil {
		return api.Instance{}, err
	}
	if err := validHealthPath(req.HealthPath); err != nil {
		return api.Instance{}, err
	}
	if req.ID != "" && !validID(req.ID) {
		return api.Instance{}, apierr.BadRequest("id %q may hold only letters, digits, '_' and '-' (at most 64)", req.ID)
	}
	if err := r.opts.Targets.CheckHost(context.Background(), pu.Host, resolveTimeout); err != nil {
		return api.Instance{}, apierr.Forbidden("url %q: %s", pu.Canonical, err.Error())
	}

	in, b, err := r.register(p, req, pu, ttl)
	if err != nil {
		return api.Instance{}, err
	}
	// Committed in a group with concurrent registrations, without r.mu: the answer waits for
	// the fsync, the other writers do not. Should the commit fail, the caller gets the error
	// (the outcome unknown, as with any failed commit) while the registry keeps the instance.
	err = r.w.wait(b)
	r.publishPending() // routable once acknowledged
	if err != nil {
		return api.Instance{}, err
	}
	return in, nil
}

// register applies a validated registration to the registry under r.mu and queues its write.
func (r *Registry) register(p auth.Principal, req api.RegisterInstanceRequest, pu api.TargetURL, ttl time.Duration) (api.Instance, *commitBatch, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	e, err := r.target(p, pu.Canonical, req.ID)
	if err != nil {
		return api.Instance{}, nil, err
	}

	var next entry
	if e != nil {
		next = *e
	} else {
		if err := r.checkQuota(p); err != nil {
			return api.Instance{}, nil, err
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
	next.url = pu
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

	b := r.w.add(store.InstanceWrite{Rec: next.rec})
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
	r.unpublished[e.rec.Slug] = struct{}{}
	if oldSlug != "" {
		r.unpublished[oldSlug] = struct{}{}
	}
	r.wake()
	return e.rec.Instance, b, nil
}

// checkQuota refuses a new instance for a non-admin slug that has MaxInstances already: every
// instance is probed and routed, so one account must not be able to register thousands.
// Updating or moving an existing instance is always allowed. Called with r.mu held.
func (r *Registry) checkQuota(p auth.Principal) error {
	if r.opts.MaxInstances <= 0 || p.IsAdmin() {
		return nil
	}
	if n := len(r.bySlug[p.Slug]); n >= r.opts.MaxInstances {
		return apierr.Forbidden("slug %q already has %d instances, the most one account may register on this server (--max-instances); remove some first (oo instance ls, oo instance rm ID)", p.Slug, n)
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

// Delete removes an instance; only its owner or an admin may.
func (r *Registry) Delete(p auth.Principal, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byID[id]
	if !ok {
		return notFound(id)
	}
	if !p.IsAdmin() && p.Slug != e.rec.Slug {
		return apierr.Forbidden("instance %s belongs to slug %q; only that slug or an admin may delete it", id, e.rec.Slug)
	}
	if err := r.w.write(store.InstanceWrite{Rec: e.rec, Delete: true}); err != nil {
		return err
	}
	r.remove(e)
	r.log.Info("instance deleted", "id", id, "url", e.rec.URL, "slug", e.rec.Slug, "by", p.Slug)
	return nil
}

// Heartbeat records that the instance is alive; ttl (a Go duration, may be empty) sets how long
// until a missing next heartbeat makes it Unreachable. It is not written to the store at once.
func (r *Registry) Heartbeat(p auth.Principal, id, ttlText string) (api.Instance, error) {
	ttl, err := parseTTL(ttlText)
	if err != nil {
		return api.Instance{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byID[id]
	if !ok {
		return api.Instance{}, notFound(id)
	}
	if !p.IsAdmin() && p.Slug != e.rec.Slug {
		return api.Instance{}, apierr.Forbidden("instance %s belongs to slug %q; only that slug or an admin may send its heartbeats", id, e.rec.Slug)
	}
	now := time.Now()
	e.h.Beat(now, ttl, r.probing())
	if ttl > 0 {
		e.rec.HeartbeatTTL = ttlText
	}
	if r.probing() && (e.h.Verdict == api.StatusUnreachable || e.h.Verdict == api.StatusError) {
		// Alive by its own account but down by our probes: look again now, not in an interval.
		e.nextProbe = now
		r.wake()
	}
	r.dirty[e] = struct{}{}
	r.refresh(e, now, "heartbeat")
	return e.rec.Instance, nil
}

// ReportDialFailure is the proxy's passive health signal: it could not connect to instance id.
// The instance leaves the route table at once and is re-probed now.
func (r *Registry) ReportDialFailure(id string, cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byID[id]
	if !ok {
		return
	}
	now := time.Now()
	down := e.h.DialFailed(now, r.policy)
	if cause != nil {
		e.rec.Details = "proxy could not connect: " + cause.Error()
		if !down {
			e.rec.Details = notYet + e.rec.Details
		}
	}
	if r.probing() {
		e.nextProbe = now
		r.wake()
	}
	r.refresh(e, now, "proxy could not connect")
}

// ReportSuspect asks for a probe of id now, without marking it down: the proxy saw an error
// that may or may not mean the instance is gone.
func (r *Registry) ReportSuspect(id string) {
	if !r.probing() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.byID[id]; ok {
		e.nextProbe = time.Now()
		r.wake()
	}
}

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
	for {
		now := time.Now()
		r.maintain(now)
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
		case <-flush.C:
			if err := r.Flush(); err != nil {
				r.log.Error("writing instance health state", "err", err)
			}
		}
	}
}

type probeJob struct {
	id    string
	gen   uint64
	check health.Check
}

// due marks and returns the probes to start now, and when the next one not yet started is
// due (zero when none is).
func (r *Registry) due(now time.Time) (jobs []probeJob, soonest time.Time) {
	if !r.probing() {
		return nil, time.Time{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
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
	defer r.mu.Unlock()
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

// maintain applies heartbeat TTLs and removes instances that have been down too long.
func (r *Registry) maintain(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.byID {
		if e.h.TTL > 0 {
			r.refresh(e, now, "heartbeat TTL expired")
		}
		if !e.rec.DownSince.IsZero() && now.Sub(e.rec.DownSince) > r.opts.InstanceExpiry {
			if err := r.w.write(store.InstanceWrite{Rec: e.rec, Delete: true}); err != nil {
				r.log.Error("removing expired instance", "id", e.rec.ID, "err", err)
				continue
			}
			r.remove(e)
			r.log.Info("instance expired", "id", e.rec.ID, "url", e.rec.URL, "slug", e.rec.Slug,
				"down_since", e.rec.DownSince, "expiry", r.opts.InstanceExpiry)
		}
	}
}

// refresh recomputes e's status; a change is logged, scheduled for writing and published.
func (r *Registry) refresh(e *entry, now time.Time, reason string) {
	old := e.rec.Status
	if !r.sync(e, now) {
		return
	}
	r.dirty[e] = struct{}{}
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

// Flush writes health state changed since the last flush, in one transaction.
func (r *Registry) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.dirty) == 0 {
		return nil
	}
	ws := make([]store.InstanceWrite, 0, len(r.dirty))
	for e := range r.dirty {
		ws = append(ws, store.InstanceWrite{Rec: e.rec, IfStored: true})
	}
	if err := r.w.write(ws...); err != nil {
		return err
	}
	clear(r.dirty)
	return nil
}

// Close writes pending health state. Call it after Run has returned.
func (r *Registry) Close() error { return r.Flush() }

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
	m := r.bySlug[e.rec.Slug]
	if m == nil {
		m = map[string]*entry{}
		r.bySlug[e.rec.Slug] = m
	}
	m[e.rec.ID] = e
}

func (r *Registry) unindex(e *entry) {
	delete(r.byID, e.rec.ID)
	if r.byURL[e.url.Canonical] == e {
		delete(r.byURL, e.url.Canonical)
	}
	if m := r.bySlug[e.rec.Slug]; m != nil {
		delete(m, e.rec.ID)
		if len(m) == 0 {
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

// publish swaps in a table with the routes of slugs rebuilt from the current entries. The
// other slugs' routes, and every shard of the table none of slugs falls in, are shared with the
// previous table, so a change costs a copy of its shards, not of every slug. Called with r.mu held, which keeps publishes in order.
func (r *Registry) publish(slugs ...string) {
	changes := make(map[string]*Route, len(slugs))
	for _, slug := range slugs {
		delete(r.unpublished, slug)
		if slug == "" {
			continue
		}
		ents := r.bySlug[slug]
		if len(ents) == 0 {
			changes[slug] = nil
			continue
		}
		targets := make([]Target, 0, len(ents))
		for _, e := range ents {
			targets = append(targets, Target{ID: e.rec.ID, Scheme: e.url.Scheme, Host: e.url.HostPort, Status: e.rec.Status})
		}
		slices.SortFunc(targets, func(a, b Target) int { return cmp.Compare(a.ID, b.ID) })
		changes[slug] = newRoute(targets)
	}
	r.table.Store(r.table.Load().with(changes))
}

// publishPending publishes the routes of every slug registrations changed since the last time.
func (r *Registry) publishPending() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.unpublished) > 0 {
		r.publish(slices.Collect(maps.Keys(r.unpublished))...)
	}
}

func notFound(id string) error { return apierr.NotFound("no instance with id %q", id) }

func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, apierr.BadRequest("ttl %q must be a positive duration such as 15s", s)
	}
	return d, nil
}

// newID returns an unused "inst_" + 10 base62 characters (about 59 bits) from crypto/rand.
func (r *Registry) newID() string {
	for {
		id := randid.New("inst_", 10)
		if _, taken := r.byID[id]; !taken {
			return id
		}
	}
}

func validID(id string) bool {
	if len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// validSlug is api.CheckSlug as a 400: an admin registering for a slug is held to the same rule
// as the account's registration.
// MaxHealthPathLen bounds healthPath: it is stored, listed and requested on every probe.
const MaxHealthPathLen = 1024

// validHealthPath accepts "" (TCP probing) or an absolute path with an optional query. Control
// characters, spaces and '#' are refused here, where the client can be told, instead of failing
// every probe later (or, for CR/LF, trying to inject a header into them).
func validHealthPath(p string) error {
	if p == "" {
		return nil
	}
	if !strings.HasPrefix(p, "/") {
		return apierr.BadRequest("healthPath %q must start with /", p)
	}
	if len(p) > MaxHealthPathLen {
		return apierr.BadRequest("healthPath is %d bytes long; at most %d are allowed", len(p), MaxHealthPathLen)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f || c == '#' {
			return apierr.BadRequest("healthPath %q holds %q at byte %d; percent-encode spaces, and control characters and '#' have no place in a path", p, c, i)
		}
	}
	return nil
}

func validSlug(slug string) error {
	if err := api.CheckSlug(slug); err != nil {
		return apierr.BadRequest("%s", err.Error())
	}
	return nil
}
