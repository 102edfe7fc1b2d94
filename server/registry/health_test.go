package registry

import (
	"slices"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
)

// Health counts each slug's instances and the Healthy ones among them, as statuses change and
// instances come and go, and agrees with a walk of every instance (Stats).
func TestHealthCounts(t *testing.T) {
	r, _ := newReg(t, Options{})
	a1 := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9001"})
	register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9002"})
	b1 := register(t, r, bob, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9003"})
	seenUp(t, r, a1.ID)

	sorted := func(hs []SlugHealth) []SlugHealth {
		slices.SortFunc(hs, func(x, y SlugHealth) int { return strings.Compare(x.Slug, y.Slug) })
		return hs
	}
	want := []SlugHealth{{Slug: "alice-svc", Instances: 2, Healthy: 1}, {Slug: "bob-svc", Instances: 1}}
	if got := sorted(r.Health("")); !slices.Equal(got, want) {
		t.Fatalf("Health(\"\") = %+v, want %+v", got, want)
	}
	if got := r.Health("alice-svc"); !slices.Equal(got, want[:1]) {
		t.Fatalf("Health(alice-svc) = %+v, want %+v", got, want[:1])
	}
	if got := r.Health("nobody-svc"); got != nil {
		t.Fatalf("Health of a slug without instances = %+v, want nil", got)
	}
	// The same counts from every instance.
	walked := map[string]SlugHealth{}
	for _, in := range r.Stats().Instances {
		h := walked[in.Slug]
		h.Slug = in.Slug
		h.Instances++
		if in.Status == api.StatusHealthy {
			h.Healthy++
		}
		walked[in.Slug] = h
	}
	for _, h := range want {
		if walked[h.Slug] != h {
			t.Fatalf("Stats walk gives %+v for %s, Health %+v", walked[h.Slug], h.Slug, h)
		}
	}

	seenUp(t, r, b1.ID)
	if got := r.Health("bob-svc"); len(got) != 1 || got[0].Healthy != 1 {
		t.Fatalf("after bob's heartbeat: %+v, want 1 healthy", got)
	}
	if err := r.Delete(bob, b1.ID); err != nil {
		t.Fatal(err)
	}
	if got := sorted(r.Health("")); !slices.Equal(got, want[:1]) {
		t.Fatalf("after bob's instance left: %+v, want %+v", got, want[:1])
	}
}
