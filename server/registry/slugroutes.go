package registry

import "slices"

// chunkSize is how many targets one chunk of a route holds (a power of two, so that Pick
// indexes with a shift and a mask). A change to a route copies one chunk and the slice of chunk
// headers: for 10 000 instances of one slug that is 64 targets and 157 headers, where rebuilding
// the route copied and sorted all 10 000.
const (
	chunkBits = 6
	chunkSize = 1 << chunkBits
)

// slugRoutes is one slug's instances as its route holds them, kept up to date as entries
// change (under Registry.mu) so that publishing the slug costs O(changes), not O(instances).
// Each tier is a list in no particular order (removal moves the last target into the hole);
// freeze hands the current lists to a new Route, and the next change copies what it writes.
type slugRoutes struct {
	n     int          // entries of the slug, routable or not
	tiers [3]*tierList // nil until a target enters the tier: most slugs use one
}

// tierList is one tier's targets, chunked: chunks[i/chunkSize][i%chunkSize] is the target of
// ents[i]. chunks and every chunk in it may be shared with published routes, which must never
// change, so they are copied before their first write after a freeze.
type tierList struct {
	ents     []*entry
	chunks   [][]Target
	own      []bool // own[c]: chunks[c] was copied since the last freeze and may be written
	ownOuter bool   // the chunks slice itself was copied since the last freeze
}

// place adds e to the tier its status puts it in, if any. Any route position e held before
// is forgotten: call unplace first for an entry that is placed.
func (s *slugRoutes) place(e *entry) {
	e.rtier = 0
	t := tier(e.rec.Status)
	if t < 0 {
		return
	}
	e.rtier = int8(t + 1)
	if s.tiers[t] == nil {
		s.tiers[t] = &tierList{}
	}
	s.tiers[t].add(e, Target{ID: e.rec.ID, Scheme: e.url.Scheme, Host: e.url.HostPort, Status: e.rec.Status})
}

// unplace removes e from its tier, if it is in one.
func (s *slugRoutes) unplace(e *entry) {
	if e.rtier > 0 {
		s.tiers[e.rtier-1].remove(e)
		e.rtier = 0
	}
}

// freeze returns a Route holding the current targets. The lists are shared with it from now
// on: the next change copies what it writes.
func (s *slugRoutes) freeze() *Route {
	rt := &Route{}
	for t, l := range s.tiers {
		if l == nil {
			continue
		}
		rt.tiers[t] = l.chunks
		rt.n[t] = uint32(len(l.ents))
		if rt.best == 0 && len(l.ents) > 0 {
			rt.best = uint8(t + 1)
		}
		l.ownOuter = false
		clear(l.own)
	}
	return rt
}

func (l *tierList) ensureOuter() {
	if !l.ownOuter {
		l.chunks = slices.Clone(l.chunks)
		l.ownOuter = true
	}
}

// writable makes chunk c safe to write, with room for extra more targets.
func (l *tierList) writable(c, extra int) []Target {
	l.ensureOuter()
	ch := l.chunks[c]
	if !l.own[c] || len(ch)+extra > cap(ch) {
		// Grow by doubling, as append would, up to a full chunk: a slug receiving a burst
		// copies its last chunk a logarithmic number of times, not once per target.
		n := len(ch) + extra
		if extra > 0 {
			n = min(max(n, 2*len(ch)), chunkSize)
		}
		ch = append(make([]Target, 0, n), ch...)
		l.chunks[c] = ch
		l.own[c] = true
	}
	return ch
}

func (l *tierList) add(e *entry, t Target) {
	i := len(l.ents)
	e.pos = int32(i)
	l.ents = append(l.ents, e)
	c := i >> chunkBits
	if c == len(l.chunks) {
		l.ensureOuter()
		l.chunks = append(l.chunks, nil)
		l.own = append(l.own, false)
	}
	l.chunks[c] = append(l.writable(c, 1), t)
}

func (l *tierList) remove(e *entry) {
	i, last := int(e.pos), len(l.ents)-1
	if i != last {
		moved := l.ents[last]
		l.ents[i], moved.pos = moved, int32(i)
		l.writable(i>>chunkBits, 0)[i&(chunkSize-1)] = l.chunks[last>>chunkBits][last&(chunkSize-1)]
	}
	l.ents[last] = nil
	l.ents = l.ents[:last]
	c, k := last>>chunkBits, last&(chunkSize-1)
	l.ensureOuter()
	if k == 0 {
		l.chunks[c] = nil
		l.chunks, l.own = l.chunks[:c], l.own[:c]
		return
	}
	if l.own[c] {
		l.chunks[c][k] = Target{} // let go of its strings; no published route sees this array
	}
	l.chunks[c] = l.chunks[c][:k]
}
