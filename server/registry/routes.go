package registry

import (
	"cmp"
	"net/url"
	"slices"
	"sync/atomic"

	"github.com/ooctl/oo/pkg/api"
)

// Table is the proxy's view of the registry: slug → where to send requests. A Table is never
// modified after it is published; the registry builds a new one on every change and swaps it in
// atomically, so the proxy reads it with no lock and no store access.
//
// The slugs are spread by a hash of the slug over a two-level tree of tableFan × tableFan
// leaves, each a short list sorted by slug, and a new table shares every node it did not change
// with the one before: publishing a change to one slug copies the top (tableFan pointers), one
// node below it and one leaf, whatever the number of slugs. (A leaf holds about one slug per
// 4 096 slugs; a fixed number of flat shards, as before, made every publish copy a map of
// slugs/256 entries, so its cost grew with the registry.)
type Table struct {
	top [tableFan]*tableNode
	n   int // slugs in all leaves
}

const (
	tableFanBits = 6
	tableFan     = 1 << tableFanBits
)

type tableNode struct{ leaves [tableFan]*tableLeaf }

// tableLeaf is the slugs of one hash bucket, sorted by slug.
type tableLeaf struct{ slots []tableSlot }

type tableSlot struct {
	slug  string
	route *Route // nil in a change: the slug has no route any more
}

// slugHash is FNV-1a of slug with a final mix, so that its low bits, which choose the node and
// the leaf, depend on every byte: stable, and it does not allocate.
func slugHash(slug string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(slug); i++ {
		h ^= uint32(slug[i])
		h *= 16777619
	}
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	return h
}

// place is where slug lives in a table: the top's node and that node's leaf.
func place(slug string) (node, leaf int) {
	h := slugHash(slug)
	return int(h & (tableFan - 1)), int(h >> tableFanBits & (tableFan - 1))
}

// newTable builds a table holding routes.
func newTable(routes map[string]*Route) *Table {
	changes := make([]tableSlot, 0, len(routes))
	for slug, rt := range routes {
		changes = append(changes, tableSlot{slug, rt})
	}
	return (&Table{}).with(changes)
}

// with returns a copy of t where each slug of changes has its route, or none when its route is
// nil (a slug given twice gets its last route). with may reorder changes. t is left as it was;
// the nodes and leaves changes does not touch are shared.
func (t *Table) with(changes []tableSlot) *Table {
	next := *t
	// Grouped by leaf, so that each changed node and leaf is copied once.
	type change struct {
		node, leaf int
		tableSlot
	}
	byLeaf := make([]change, len(changes))
	// Stable, so that of a slug given twice the last route is applied last.
	for i, c := range changes {
		n, l := place(c.slug)
		byLeaf[i] = change{n, l, c}
	}
	slices.SortStableFunc(byLeaf, func(a, b change) int {
		return cmp.Or(cmp.Compare(a.node, b.node), cmp.Compare(a.leaf, b.leaf))
	})
	var copied [tableFan]bool
	for i := 0; i < len(byLeaf); {
		c := byLeaf[i]
		node := next.top[c.node]
		if !copied[c.node] {
			node = &tableNode{}
			if old := t.top[c.node]; old != nil {
				*node = *old
			}
			next.top[c.node] = node
			copied[c.node] = true
		}
		var slots []tableSlot
		if old := node.leaves[c.leaf]; old != nil {
			slots = append(make([]tableSlot, 0, len(old.slots)+1), old.slots...)
		}
		for ; i < len(byLeaf) && byLeaf[i].node == c.node && byLeaf[i].leaf == c.leaf; i++ {
			ch := byLeaf[i]
			k, had := findSlot(slots, ch.slug)
			switch {
			case ch.route == nil && had:
				slots = slices.Delete(slots, k, k+1)
				next.n--
			case ch.route != nil && had:
				slots[k].route = ch.route
			case ch.route != nil:
				slots = slices.Insert(slots, k, ch.tableSlot)
				next.n++
			}
		}
		if len(slots) == 0 {
			node.leaves[c.leaf] = nil
		} else {
			node.leaves[c.leaf] = &tableLeaf{slots: slots}
		}
	}
	return &next
}

// findSlot is where slug is, or would be inserted, in slots, sorted by slug. It does not
// allocate.
func findSlot(slots []tableSlot, slug string) (int, bool) {
	lo, hi := 0, len(slots)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if slots[m].slug < slug {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(slots) && slots[lo].slug == slug
}

// Lookup returns the route of slug, or nil when no instance of slug is registered. It does not
// allocate.
func (t *Table) Lookup(slug string) *Route {
	if t == nil {
		return nil
	}
	n, l := place(slug)
	node := t.top[n]
	if node == nil {
		return nil
	}
	leaf := node.leaves[l]
	if leaf == nil {
		return nil
	}
	if k, ok := findSlot(leaf.slots, slug); ok {
		return leaf.slots[k].route
	}
	return nil
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
