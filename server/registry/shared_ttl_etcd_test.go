package registry

import (
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

// A service that stops beating lapses on another replica a TTL after its last beat, not a TTL
// after the last beat that thinning let through to etcd (up to a third of the TTL earlier): the
// replica that thinned writes the last beat before the stored one lapses.
func TestSharedThinnedBeatsDoNotLapseEarlyElsewhere(t *testing.T) {
	c := newCluster(t)
	opts := Options{Tick: 20 * time.Millisecond, FlushInterval: 100 * time.Millisecond}
	a := c.replica(t, opts, true)
	b := c.replica(t, opts, true)
	a.SetProbing(true) // probing is off; a keeps the stored status
	const ttl = 3 * time.Second
	in := register(t, b, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311", HeartbeatTTL: ttl.String()})
	if _, err := b.Heartbeat(alice, in.ID, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a sees the first beat", func() bool {
		got, err := a.Get(in.ID)
		return err == nil && got.Status == api.StatusHealthy
	})
	// Beats on b until just under a third of the TTL after the stored one: thinned, only kept
	// on b.
	// a may see Healthy from the status write before b's beat batch commits and b notes the
	// stored beat, so that is awaited too.
	var stored time.Time
	eventually(t, 10*time.Second, "b stores the first beat", func() bool {
		b.mu.Lock()
		stored = b.byID[in.ID].storedBeat
		b.unlock()
		return !stored.IsZero()
	})
	var last time.Time
	for end := stored.Add(ttl/3 - 100*time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		last = time.Now()
		if _, err := b.Heartbeat(alice, in.ID, ""); err != nil {
			t.Fatal(err)
		}
	}
	var lapsed time.Duration
	eventually(t, 3*ttl, "a shows the lapse", func() bool {
		lapsed = time.Since(last)
		return statusOf(t, a, in.ID) == api.StatusUnreachable
	})
	t.Logf("Unreachable on the other replica %v after the last beat (TTL %v)", lapsed, ttl)
	if lapsed < ttl {
		t.Errorf("Unreachable on the other replica %v after the last beat, before the %v TTL", lapsed, ttl)
	}
}
