package registry

import (
	"maps"
	"net/url"
	"sync/atomic"

	"github.com/ooctl/oo/pkg/api"
)

// Table is the proxy's view of the registry: slug → where to send requests. A Table is never
// modified after it is published; the registry builds a new one on every change and swaps it in
// atomically, so the proxy reads it with no lock and no store access.
//
// The slugs are spread over tableShards maps by a hash of the slug, and a new table shares every
// shard it did not change with the one before: publishing a change to one slug copies one
// shard, not a map of every slug, so its cost does not grow with the number of slugs.
type Table struct {
	shards [tableShards]map[string]*Route
	n      int // slugs in all shards
}

const tableShards = 256

// shardOf is FNV-1a of slug: stable, and it does not allocate.
func shardOf(slug string) int {
	h := uint32(2166136261)
	for i := 0; i < len(slug); i++ {
		h ^= uint32(slug[i])
		h *= 16777619
	}
	return int(h % tableShards)
}

// newTable builds a table holding routes.
func newTable(routes map[string]*Route) *Table {
	return (&Table{}).with(routes)
}

// with returns a copy of t where each slug of changes has its route, or none when it maps to
// nil. t is left as it was; the shards changes does not touch are shared.
func (t *Table) with(changes map[string]*Route) *Table {
	next := *t
	copied := [tableShards]bool{}
	for slug, route := range changes {
		i := shardOf(slug)
		if !copied[i] {
			next.shards[i] = maps.Clone(t.shards[i])
			if next.shards[i] == nil {
				next.shards[i] = map[string]*Route{}
			}
			copied[i] = true
		}
		_, had := next.shards[i][slug]
		switch {
		case route == nil && had:
			delete(next.shards[i], slug)
			next.n--
		case route != nil:
			next.shards[i][slug] = route
			if !had {
				next.n++
			}
		}
	}
	return &next
}

// Lookup returns the route of slug, or nil when no instance of slug is registered. It does not
// allocate.
func (t *Table) Lookup(slug string) *Route {
	if t == nil {
		return nil
	}
	return t.shards[shardOf(slug)][slug]
}

// Route returns the route of the slug that is the first segment of path (an absolute URL
// path), or nil. It does not allocate.
func (t *Table) Route(path string) *Route { return t.Lookup(api.PathSlug(path)) }

// SlugOf is the slug a request URL addresses: the first segment of its path exactly as the
// client sent it (RawPath when the path holds escapes that decoding would change). The first
// segment is never decoded: "/echo%2fx" names the slug "echo%2fx", which no slug can be (404),
// instead of routing to echo a path whose first segment the service reads as "echo%2fx" or
// "echo/x" depending on its router. The path is forwarded as sent, so routing and the service
// see the same first segment. It does not allocate.
func SlugOf(u *url.URL) string {
	if u.RawPath != "" {
		return api.PathSlug(u.RawPath)
	}
	return api.PathSlug(u.Path)
}

// Len is the number of slugs with at least one registered instance.
func (t *Table) Len() int { return t.n }

// Target is one routable instance.
type Target struct {
	ID     string
	Scheme string // http or https
	Host   string // host:port, port explicit
	Status api.InstanceStatus
}

// Route holds the routable instances of one slug by tier: Healthy, else Degraded, else Unknown
// (a just-registered instance nobody has probed yet is worth a try when there is nothing
// better). Unreachable and Error instances are never routed to. Each tier is a list of chunks
// that later routes of the slug share where they did not change (see slugRoutes).
type Route struct {
	tiers [3][][]Target
	n     [3]uint32
	best  uint8 // 1 + the tier round-robin spreads over; 0: nothing is routable
	next  atomic.Uint32
}

// Routable reports whether any instance may be tried.
func (r *Route) Routable() bool { return r != nil && r.best > 0 }

// Pick returns the next target of the best tier, round-robin, or nil when none is routable.
func (r *Route) Pick() *Target {
	if r == nil || r.best == 0 {
		return nil
	}
	t := r.best - 1
	n, chunks := r.n[t], r.tiers[t]
	if n == 1 {
		return &chunks[0][0]
	}
	i := r.next.Add(1) % n
	return &chunks[i>>chunkBits][i&(chunkSize-1)]
}

// each calls f with every target, best tier first, until f returns true, and returns that
// target.
func (r *Route) each(f func(*Target) bool) *Target {
	if r == nil {
		return nil
	}
	for t := range r.tiers {
		for _, ch := range r.tiers[t] {
			for i := range ch {
				if f(&ch[i]) {
					return &ch[i]
				}
			}
		}
	}
	return nil
}

// Find returns the target at host, or nil.
func (r *Route) Find(host string) *Target {
	return r.each(func(t *Target) bool { return t.Host == host })
}

// Alternative returns a routable target other than the one at host, best tier first, or nil.
func (r *Route) Alternative(host string) *Target {
	return r.each(func(t *Target) bool { return t.Host != host })
}

func tier(s api.InstanceStatus) int {
	switch s {
	case api.StatusHealthy:
		return 0
	case api.StatusDegraded:
		return 1
	case api.StatusUnknown:
		return 2
	default:
		return -1
	}
}

// newRoute builds the route of one slug from its instances' targets, in the order given within
// each tier.
func newRoute(all []Target) *Route {
	var s slugRoutes
	for _, tg := range all {
		e := &entry{url: entryURL{Scheme: tg.Scheme, HostPort: tg.Host}}
		e.rec.ID, e.rec.Status = tg.ID, tg.Status
		s.place(e)
	}
	return s.freeze()
}
