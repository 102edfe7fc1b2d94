package registry

import (
	"sync/atomic"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

// What the registry tells observers (metrics, `oo instance describe`, `oo server status`). It is
// read when asked for, never pushed: a scrape or a status request walks the entries under r.mu,
// so the hot paths pay nothing beyond two atomic counters and a status change appending to a
// small ring.

// TransitionsKept is how many status changes of each instance are kept (the latest ones).
const TransitionsKept = 8

// transitions is one instance's recent status changes: a ring of the last TransitionsKept and
// how many there were since this replica loaded the instance. Allocated at the first change,
// so an instance that never changes costs a nil pointer.
type transitions struct {
	ring [TransitionsKept]api.InstanceTransition
	n    uint64
}

func (t *transitions) add(tr api.InstanceTransition) {
	t.ring[t.n%TransitionsKept] = tr
	t.n++
}

// list returns the kept transitions, oldest first.
func (t *transitions) list() []api.InstanceTransition {
	if t == nil {
		return []api.InstanceTransition{}
	}
	k := min(t.n, TransitionsKept)
	out := make([]api.InstanceTransition, 0, k)
	for i := t.n - k; i < t.n; i++ {
		out = append(out, t.ring[i%TransitionsKept])
	}
	return out
}

// noteTransition records a status change of e. Called with r.mu held, by sync.
func (e *entry) noteTransition(from, to api.InstanceStatus, at time.Time) {
	if e.trans == nil {
		e.trans = &transitions{}
	}
	e.trans.add(api.InstanceTransition{At: at, From: from, To: to})
}

// noteReason says why the latest transition happened (refresh knows, sync does not).
func (e *entry) noteReason(reason, details string) {
	if e.trans == nil || e.trans.n == 0 {
		return
	}
	last := &e.trans.ring[(e.trans.n-1)%TransitionsKept]
	last.Reason, last.Details = reason, details
}

// counters are the registry's event counts since it started.
type counters struct {
	registrations atomic.Uint64
	heartbeats    atomic.Uint64
}

// InstanceStat is one instance as observers see it.
type InstanceStat struct {
	ID, Slug    string
	Status      api.InstanceStatus
	Transitions uint64 // status changes seen by this replica since it loaded the instance
}

// Stats is a snapshot of the registry for observers.
type Stats struct {
	Instances     []InstanceStat
	Slugs         int
	Registrations uint64 // accepted registrations since start (re-registrations included)
	Heartbeats    uint64 // accepted heartbeats since start
	// Probing: instances are probed at all; ProbingHere: by this replica (in shared mode only
	// the elected replica probes).
	Probing, ProbingHere bool
	ProbeInterval        time.Duration
	Shared               bool
}

// Stats reads the registry's state now. It allocates one small struct per instance, which a
// scrape every few seconds affords; it holds r.mu for the walk only.
func (r *Registry) Stats() Stats {
	s := Stats{
		Registrations: r.counters.registrations.Load(),
		Heartbeats:    r.counters.heartbeats.Load(),
		Probing:       r.probing(),
		ProbingHere:   r.Probing(),
		ProbeInterval: max(r.opts.ProbeInterval, 0),
		Shared:        r.isShared(),
	}
	r.mu.Lock()
	s.Instances = make([]InstanceStat, 0, len(r.byID))
	for _, e := range r.byID {
		st := InstanceStat{ID: e.rec.ID, Slug: e.rec.Slug, Status: e.rec.Status}
		if e.trans != nil {
			st.Transitions = e.trans.n
		}
		s.Instances = append(s.Instances, st)
	}
	s.Slugs = len(r.bySlug)
	r.unlock()
	return s
}

// Transitions returns the recent status changes of instance id, oldest first, and how many
// there were since this replica loaded it. Every authenticated caller may read them, as with
// List.
func (r *Registry) Transitions(id string) ([]api.InstanceTransition, uint64, error) {
	r.mu.Lock()
	defer r.unlock()
	e, ok := r.byID[id]
	if !ok {
		return nil, 0, notFound(id)
	}
	if e.trans == nil {
		return e.trans.list(), 0, nil
	}
	return e.trans.list(), e.trans.n, nil
}

// SlugHealth is how many instances one slug has and how many of them are Healthy.
type SlugHealth struct {
	Slug               string
	Instances, Healthy int
}

// Health lists every slug that has instances, or only slug when it is not "" (nothing when it
// has none), in no particular order. It walks the slugs, not the instances: the healthy
// instances of a slug are its first routing tier.
func (r *Registry) Health(slug string) []SlugHealth {
	r.mu.Lock()
	defer r.unlock()
	if slug != "" {
		s := r.bySlug[slug]
		if s == nil || s.n == 0 {
			return nil
		}
		return []SlugHealth{s.health(slug)}
	}
	out := make([]SlugHealth, 0, len(r.bySlug))
	for name, s := range r.bySlug {
		if s.n > 0 {
			out = append(out, s.health(name))
		}
	}
	return out
}

func (s *slugRoutes) health(slug string) SlugHealth {
	h := SlugHealth{Slug: slug, Instances: s.n}
	if t := s.tiers[tier(api.StatusHealthy)]; t != nil {
		h.Healthy = len(t.ents)
	}
	return h
}
