package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/etcdtest"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/store"
	"github.com/ooctl/oo/server/store/etcd"
)

var _ Shared = (*etcd.Store)(nil)

// cluster is one real etcd and the prefix a test's replicas share.
type cluster struct {
	e      *etcdtest.Etcd
	prefix string
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	return &cluster{e: etcdtest.Start(t), prefix: etcdtest.Prefix(t)}
}

func (c *cluster) open(t testing.TB, timeout time.Duration) *etcd.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := etcd.Open(ctx, etcd.Config{Endpoints: c.e.Endpoints(), Prefix: c.prefix, RequestTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// replica is a registry on its own connection to the cluster's etcd, as another server
// process would have. Its loop runs unless start is false.
func (c *cluster) replica(t testing.TB, opts Options, start bool) *Registry {
	t.Helper()
	st := c.open(t, 2*time.Second)
	if opts.ProbeInterval == 0 {
		opts.ProbeInterval = -1
	}
	opts.Shared = st
	r, err := New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	if start {
		run(t, r)
	}
	return r
}

// revision is etcd's current revision: it grows by one with every write transaction.
func (c *cluster) revision(t *testing.T) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.e.Client(t).Get(ctx, "/none")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func TestSharedRoutesPropagate(t *testing.T) {
	c := newCluster(t)
	a := c.replica(t, Options{}, true)
	b := c.replica(t, Options{}, true)

	in := register(t, a, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	if !routable(a, "alice-svc", in.ID) {
		t.Fatal("not routable on the replica that took the registration as it answered")
	}
	eventually(t, 10*time.Second, "registration routable on the other replica", func() bool { return routable(b, "alice-svc", in.ID) })
	if got, err := b.Get(in.ID); err != nil || got.URL != in.URL || got.Slug != "alice-svc" {
		t.Fatalf("the other replica has %+v, %v", got, err)
	}

	// Moving it to another URL through b moves the URL's ownership: a's view follows, and the
	// old URL is free for anyone.
	moved := register(t, b, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9312", ID: in.ID})
	eventually(t, 10*time.Second, "move seen on a", func() bool {
		got, err := a.Get(in.ID)
		return err == nil && got.URL == moved.URL
	})
	register(t, a, bob, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})

	if err := b.Delete(alice, in.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(in.ID); err == nil {
		t.Fatal("deleted instance still there on the replica that deleted it")
	}
	eventually(t, 10*time.Second, "delete seen on a", func() bool {
		_, err := a.Get(in.ID)
		return err != nil && a.Table().Lookup("alice-svc") == nil
	})
}

// A replica whose view is stale (its watch not running) cannot take a URL another replica's
// slug registered: the URL index in etcd decides, and the answer is a 409, not two owners.
func TestSharedURLOwnershipAcrossReplicas(t *testing.T) {
	c := newCluster(t)
	a := c.replica(t, Options{}, true)
	stale := c.replica(t, Options{}, false)

	in := register(t, a, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	_, err := stale.Register(bob, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	wantStatus(t, err, http.StatusConflict)
	if recs, _ := stale.sh.st.Snapshot(context.Background()); len(recs.Instances) != 1 || recs.Instances[0].Rec.Slug != "alice-svc" {
		t.Fatalf("etcd holds %+v after the refused registration", recs.Instances)
	}

	// Once its watch runs, it knows the owner and names it.
	run(t, stale)
	eventually(t, 10*time.Second, "stale replica catches up", func() bool { _, err := stale.Get(in.ID); return err == nil })
	_, err = stale.Register(bob, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	wantStatus(t, err, http.StatusConflict)
}

// The same URL registered at once through two replicas by its owner makes one instance: the
// loser of the conditional write catches up with the winner and updates it.
func TestSharedConcurrentRegistrationsMakeOneInstance(t *testing.T) {
	c := newCluster(t)
	rs := []*Registry{c.replica(t, Options{}, true), c.replica(t, Options{}, true)}
	var wg sync.WaitGroup
	ids := make(chan string, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in, err := rs[i%2].Register(alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
			if err != nil {
				if errors.Is(err, store.ErrUnavailable) {
					t.Error(err)
				}
				return // a 409 is a fair answer to a race lost twice
			}
			ids <- in.ID
		}()
	}
	wg.Wait()
	close(ids)
	first := ""
	for id := range ids {
		if first == "" {
			first = id
		}
		if id != first {
			t.Fatalf("one URL registered as two instances: %s and %s", first, id)
		}
	}
	snap, err := rs[0].sh.st.Snapshot(context.Background())
	if err != nil || len(snap.Instances) != 1 {
		t.Fatalf("etcd holds %d instances, want 1 (%v)", len(snap.Instances), err)
	}
}

// Heartbeats are batched per replica and thinned: many beats of many instances cost a few
// transactions, and beats well within a third of the TTL are not written at all, through
// either replica. Every replica sees them. Replica a's loop does not run, so that the test
// decides when its batch is written.
func TestSharedBeatsAreBatchedAndThinned(t *testing.T) {
	const n = 150 // more than etcd's 128 operations per transaction
	c := newCluster(t)
	a := c.replica(t, Options{}, false)
	b := c.replica(t, Options{}, true)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = register(t, a, admin, api.RegisterInstanceRequest{URL: fmt.Sprintf("http://127.0.0.1:%d", 10000+i), Slug: "alice-svc", HeartbeatTTL: "30s"}).ID
	}
	eventually(t, 10*time.Second, "b sees every instance", func() bool { return len(b.List(Filter{})) == n })

	before := c.revision(t)
	for _, id := range ids {
		for range 3 {
			if _, err := a.Heartbeat(admin, id, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	a.writeBeats(context.Background())
	if written := c.revision(t) - before; written != 2 || a.sh.beatTxns != 2 {
		t.Fatalf("%d beats of %d instances took %d etcd writes (%d transactions), want 2 (127 + 23)", 3*n, n, written, a.sh.beatTxns)
	}
	eventually(t, 10*time.Second, "b sees every beat", func() bool {
		for _, in := range b.List(Filter{}) {
			if in.LastHeartbeat == nil {
				return false
			}
		}
		return true
	})

	// Beats within a third of the TTL of the stored one are not written, through either
	// replica; a changed TTL is, whatever the age of the stored beat.
	before = c.revision(t)
	for _, id := range ids {
		if _, err := b.Heartbeat(admin, id, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Heartbeat(admin, id, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Heartbeat(admin, ids[1], "45s"); err != nil {
		t.Fatal(err)
	}
	a.writeBeats(context.Background())
	eventually(t, 10*time.Second, "the new TTL is stored", func() bool {
		snap, err := a.sh.st.Snapshot(context.Background())
		if err != nil {
			return false
		}
		for _, bt := range snap.Beats {
			if bt.ID == ids[1] && bt.TTL == "45s" {
				return true
			}
		}
		return false
	})
	if written := c.revision(t) - before; written != 1 {
		t.Fatalf("%d beats within a third of their TTL and one TTL change took %d etcd writes, want 1", 2*n+1, written)
	}
}

// probeCounter is an instance that counts the probes it answers.
func probeCounter(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestSharedOnlyTheProberProbesAndEveryReplicaShowsItsStatus(t *testing.T) {
	c := newCluster(t)
	opts := Options{ProbeInterval: 50 * time.Millisecond, FailThreshold: 1, StartPeriod: -1, FlushInterval: 100 * time.Millisecond}
	a := c.replica(t, opts, true)
	b := c.replica(t, opts, true)
	srv, hits := probeCounter(t)

	in := register(t, b, alice, api.RegisterInstanceRequest{URL: srv.URL, HealthPath: "/health"})
	eventually(t, 10*time.Second, "a sees the instance", func() bool { _, err := a.Get(in.ID); return err == nil })
	time.Sleep(300 * time.Millisecond) // six probe intervals: a prober would have probed
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d probes while no replica was elected to probe", n)
	}

	a.SetProbing(true)
	eventually(t, 10*time.Second, "b shows the status a's probes found", func() bool {
		got, err := b.Get(in.ID)
		return err == nil && got.Status == api.StatusHealthy && got.LastSeen != nil
	})
	if b.Probing() || !a.Probing() {
		t.Fatal("Probing() does not say which replica probes")
	}

	srv.Close() // the instance dies
	eventually(t, 10*time.Second, "b shows it Unreachable and stops routing to it", func() bool {
		return statusOf(t, b, in.ID) == api.StatusUnreachable && !routable(b, "alice-svc", in.ID)
	})

	// The prober changes: b takes over from the stored status and probes.
	a.SetProbing(false)
	srv2, hits2 := probeCounter(t)
	in = register(t, b, alice, api.RegisterInstanceRequest{URL: srv2.URL, ID: in.ID, HealthPath: "/health"})
	time.Sleep(300 * time.Millisecond)
	if n := hits2.Load(); n != 0 {
		t.Fatalf("%d probes after the prober stepped down", n)
	}
	b.SetProbing(true)
	eventually(t, 10*time.Second, "a shows the status b's probes found", func() bool {
		got, err := a.Get(in.ID)
		return err == nil && got.Status == api.StatusHealthy && hits2.Load() > 0
	})
}

// etcd going away does not take routing with it: both replicas keep their routes while it is
// down, writes fail fast with ErrUnavailable (the API's 503), and when etcd is back the
// replicas catch up without a restart.
func TestSharedRoutesSurviveEtcdOutage(t *testing.T) {
	c := newCluster(t)
	a := c.replica(t, Options{}, true)
	b := c.replica(t, Options{}, true)
	in := register(t, a, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	eventually(t, 10*time.Second, "b routes it", func() bool { return routable(b, "alice-svc", in.ID) })

	c.e.Stop()
	start := time.Now()
	_, err := a.Register(alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9312"})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("register with etcd down: %v, want store.ErrUnavailable", err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("register with etcd down took %v", d)
	}
	if !routable(a, "alice-svc", in.ID) || !routable(b, "alice-svc", in.ID) {
		t.Fatal("a replica dropped its routes while etcd was down")
	}

	c.e.Restart(t)
	var late api.Instance
	eventually(t, 20*time.Second, "a registers again", func() bool {
		late, err = a.Register(alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9313"})
		return err == nil
	})
	eventually(t, 20*time.Second, "b catches up after the outage", func() bool { return routable(b, "alice-svc", late.ID) })

	c.e.Pause()
	_, err = a.Register(alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9314"})
	c.e.Resume()
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("register with etcd paused: %v, want store.ErrUnavailable", err)
	}
	var after api.Instance
	eventually(t, 20*time.Second, "a registers after the pause", func() bool {
		after, err = a.Register(alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9315"})
		return err == nil
	})
	eventually(t, 20*time.Second, "b catches up after the pause", func() bool { return routable(b, "alice-svc", after.ID) })
}

// A replica whose watch starts behind a compaction reloads everything instead of missing what
// was compacted away.
func TestSharedWatchReloadsAfterCompaction(t *testing.T) {
	c := newCluster(t)
	a := c.replica(t, Options{}, true)
	gone := register(t, a, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	behind := c.replica(t, Options{}, false) // loaded now, watches later
	kept := register(t, a, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9312"})
	if err := a.Delete(alice, gone.ID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.e.Client(t).Compact(ctx, c.revision(t)); err != nil {
		t.Fatal(err)
	}
	run(t, behind)
	eventually(t, 10*time.Second, "the replica behind the compaction reloads", func() bool {
		_, errGone := behind.Get(gone.ID)
		_, errKept := behind.Get(kept.ID)
		return errGone != nil && errKept == nil
	})
}

// A heartbeat TTL holds cluster-wide: beats sent to one replica keep the instance up on all,
// when they stop every replica shows it Unreachable (and the prober stores that), and the next
// beat, through any replica, brings it back everywhere.
func TestSharedHeartbeatTTLHoldsOnEveryReplica(t *testing.T) {
	c := newCluster(t)
	opts := Options{Tick: 20 * time.Millisecond, FlushInterval: 100 * time.Millisecond}
	a := c.replica(t, opts, true)
	b := c.replica(t, opts, true)
	a.SetProbing(true) // elected, though probing is off: it still keeps the stored status
	in := register(t, b, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311", HeartbeatTTL: "1s"})
	if _, err := b.Heartbeat(alice, in.ID, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a sees the beat", func() bool {
		got, err := a.Get(in.ID)
		return err == nil && got.Status == api.StatusHealthy
	})

	eventually(t, 10*time.Second, "both show the lapsed TTL", func() bool {
		return statusOf(t, a, in.ID) == api.StatusUnreachable && statusOf(t, b, in.ID) == api.StatusUnreachable &&
			!routable(a, "alice-svc", in.ID) && !routable(b, "alice-svc", in.ID)
	})
	eventually(t, 10*time.Second, "the prober stores the lapse", func() bool {
		snap, err := a.sh.st.Snapshot(context.Background())
		return err == nil && len(snap.Instances) == 1 && snap.Instances[0].Rec.Status == api.StatusUnreachable
	})

	if _, err := a.Heartbeat(alice, in.ID, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the beat brings it back on b", func() bool {
		return statusOf(t, b, in.ID) == api.StatusHealthy && routable(b, "alice-svc", in.ID)
	})
}

// Passive ejection stays on the replica whose proxy failed to connect: it stops routing there
// at once, and the other replica, whose proxy did connect, keeps routing.
func TestSharedDialFailureIsLocal(t *testing.T) {
	c := newCluster(t)
	a := c.replica(t, Options{}, true)
	b := c.replica(t, Options{}, true)
	in := register(t, a, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	seenUp(t, a, in.ID)
	// Seen up on b too (the beat reached it): a dial failure then takes it down at once.
	eventually(t, 10*time.Second, "b sees it up", func() bool {
		got, err := b.Get(in.ID)
		return err == nil && got.Status == api.StatusHealthy
	})
	b.ReportDialFailure(in.ID, errors.New("connection refused"))
	if routable(b, "alice-svc", in.ID) {
		t.Fatal("the replica that failed to connect still routes to the instance")
	}
	if !routable(a, "alice-svc", in.ID) {
		t.Fatal("another replica's failed dial took the instance out of this one's routes")
	}
}

// The prober writes a status change at once, but not every probe's lastSeen: an instance that
// stays Healthy costs etcd no write per probe.
func TestSharedProberThinsLastSeenWrites(t *testing.T) {
	c := newCluster(t)
	opts := Options{ProbeInterval: 20 * time.Millisecond, FlushInterval: 20 * time.Millisecond}
	a := c.replica(t, opts, true)
	srv, hits := probeCounter(t)
	in := register(t, a, alice, api.RegisterInstanceRequest{URL: srv.URL, HealthPath: "/health"})
	a.SetProbing(true)
	eventually(t, 10*time.Second, "the Healthy status stored", func() bool {
		snap, err := a.sh.st.Snapshot(context.Background())
		return err == nil && len(snap.Instances) == 1 && snap.Instances[0].Rec.Status == api.StatusHealthy
	})
	transitions := func() uint64 {
		_, n, err := a.Transitions(in.ID)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before, probes, changes := c.revision(t), hits.Load(), transitions()
	eventually(t, 20*time.Second, "20 more probes", func() bool { return hits.Load() >= probes+20 })
	// A probe slower than 10 ms (half the 20 ms interval) is Degraded: on a loaded machine one
	// may be, and each such change is rightly written at once. What must not be written is
	// a passing probe that changes nothing.
	changed := int64(transitions() - changes)
	if written := c.revision(t) - before; written > 1+changed {
		t.Fatalf("%d etcd writes during 20 probes of a Healthy instance with %d status changes, want at most %d", written, changed, 1+changed)
	}
	if got, _ := a.Get(in.ID); got.LastSeen == nil {
		t.Fatal("lastSeen not kept locally")
	}
}
