package registry

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/ooctl/oo/pkg/api"
)

// routeLen is how many targets rt holds, in every tier.
func routeLen(rt *Route) int {
	n := 0
	rt.each(func(*Target) bool { n++; return false })
	return n
}

// routeIDs lists rt's targets as "tier:id", sorted.
func routeIDs(rt *Route) []string {
	var out []string
	for t := range rt.tiers {
		k := 0
		for _, ch := range rt.tiers[t] {
			for _, tg := range ch {
				out = append(out, fmt.Sprintf("%d:%s", t, tg.ID))
				k++
			}
		}
		if uint32(k) != rt.n[t] {
			out = append(out, fmt.Sprintf("tier %d holds %d targets, n says %d", t, k, rt.n[t]))
		}
	}
	slices.Sort(out)
	return out
}

// TestSlugRoutesMatchEntries drives one slug's route through random adds, removals and status
// changes, freezing now and then, and checks after every step that the route holds exactly the
// routable entries in their tiers, that every route frozen earlier still holds what it held
// (published routes are read by the proxy without a lock and must never change), and that
// Pick stays in the best tier.
func TestSlugRoutesMatchEntries(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	statuses := []api.InstanceStatus{api.StatusHealthy, api.StatusDegraded, api.StatusUnknown, api.StatusUnreachable, api.StatusError}
	var s slugRoutes
	live := map[string]*entry{}
	type frozen struct {
		rt   *Route
		want []string
	}
	var published []frozen
	want := func() []string {
		var out []string
		for id, e := range live {
			if tg := tier(e.rec.Status); tg >= 0 {
				out = append(out, fmt.Sprintf("%d:%s", tg, id))
			}
		}
		slices.Sort(out)
		return out
	}
	for step := range 6000 {
		switch op := rng.IntN(10); {
		case op < 5 || len(live) < 3: // add
			e := &entry{url: entryURL{Scheme: "http", HostPort: fmt.Sprintf("h%d:1", step)}}
			e.rec.ID, e.rec.Status = fmt.Sprintf("i%d", step), statuses[rng.IntN(len(statuses))]
			live[e.rec.ID] = e
			s.n++
			s.place(e)
		case op < 8: // remove
			for id, e := range live {
				s.unplace(e)
				s.n--
				delete(live, id)
				break
			}
		default: // status change, as refresh does it
			for _, e := range live {
				e.rec.Status = statuses[rng.IntN(len(statuses))]
				if int(e.rtier)-1 != tier(e.rec.Status) {
					s.unplace(e)
					s.place(e)
				}
				break
			}
		}
		if rng.IntN(7) == 0 {
			rt := s.freeze()
			published = append(published, frozen{rt, want()})
			if best := rt.Pick(); best != nil && tier(best.Status) != int(rt.best)-1 {
				t.Fatalf("step %d: Pick gave %+v from tier %d", step, best, rt.best-1)
			}
		}
		if step%500 == 499 {
			for i, p := range published {
				if got := routeIDs(p.rt); !reflect.DeepEqual(got, p.want) {
					t.Fatalf("step %d: route frozen %d changed afterwards:\n got %v\nwant %v", step, i, got, p.want)
				}
			}
		}
	}
	if got, w := routeIDs(s.freeze()), want(); !reflect.DeepEqual(got, w) {
		t.Fatalf("final route:\n got %v\nwant %v", got, w)
	}
}

// TestOneSlugPublishCopiesOneChunk: one more instance of a slug with a thousand publishes a
// route sharing every full chunk of the previous one, so a publish does not cost the size of the
// slug (it rebuilt and sorted the slug's whole route before). The earlier route is unchanged.
func TestOneSlugPublishCopiesOneChunk(t *testing.T) {
	r, _ := newReg(t, Options{})
	for i := range 1000 {
		if _, err := r.Register(admin, api.RegisterInstanceRequest{URL: fmt.Sprintf("http://127.0.3.%d:%d", i%250+1, 8000+i/250), Slug: "one"}); err != nil {
			t.Fatal(err)
		}
	}
	before := r.Table().Lookup("one")
	if _, err := r.Register(admin, api.RegisterInstanceRequest{URL: "http://127.0.4.1:8000", Slug: "one"}); err != nil {
		t.Fatal(err)
	}
	after := r.Table().Lookup("one")
	tb, ta := before.tiers[2], after.tiers[2] // registered, never probed: Unknown
	if before.n[2] != 1000 || after.n[2] != 1001 || routeLen(before) != 1000 || routeLen(after) != 1001 {
		t.Fatalf("Unknown tier before %d (%d in all), after %d (%d in all)", before.n[2], routeLen(before), after.n[2], routeLen(after))
	}
	shared := 0
	for c := range tb {
		if len(tb[c]) == chunkSize && &tb[c][0] == &ta[c][0] {
			shared++
		}
	}
	if want := 1000 / chunkSize; shared != want {
		t.Errorf("%d full chunks shared between consecutive routes, want %d", shared, want)
	}
	if &tb[0] == &ta[0] {
		t.Error("the chunk list of a published route was written in place")
	}
}
