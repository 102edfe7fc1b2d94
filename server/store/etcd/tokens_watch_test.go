package etcd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/etcdtest"
	"github.com/ooctl/oo/server/store"
	"github.com/ooctl/oo/server/store/etcd"
)

// replicaStores opens n stores (n clients, as n replicas would) on one prefix of e.
func replicaStores(t *testing.T, e interface{ Endpoints() []string }, n int) []*etcd.Store {
	t.Helper()
	prefix := "/oo-test/"
	out := make([]*etcd.Store, n)
	for i := range out {
		cfg := etcd.Config{Endpoints: e.Endpoints(), Prefix: prefix, RequestTimeout: 3 * time.Second}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		st, err := etcd.Open(ctx, cfg)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		out[i] = st
	}
	return out
}

// watchEvents runs st.WatchTokens from afterRev until the test ends and hands over its events.
func watchEvents(t *testing.T, st *etcd.Store, afterRev int64) <-chan store.TokenEvent {
	ch := make(chan store.TokenEvent, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); st.WatchTokens(ctx, afterRev, func(ev store.TokenEvent) { ch <- ev }) }()
	t.Cleanup(func() { cancel(); <-done })
	return ch
}

func nextEvent(t *testing.T, ch <-chan store.TokenEvent) store.TokenEvent {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no token event within 30s")
		return store.TokenEvent{}
	}
}

func token(id string) store.TokenRecord {
	now := time.Now().UTC().Truncate(time.Second)
	return store.TokenRecord{ID: id, UserID: "usr_1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
}

// A token written through one replica's store reaches another's watch, in order, and its
// linearizable read sees it at once.
func TestWatchTokensSeesOtherReplicasWrites(t *testing.T) {
	e := etcdtest.Start(t)
	r := replicaStores(t, e, 2)
	a, b := r[0], r[1]
	live, rev, err := b.ListTokensAt()
	if err != nil || len(live) != 0 || rev == 0 {
		t.Fatalf("ListTokensAt = %v, %d, %v", live, rev, err)
	}
	events := watchEvents(t, b, rev)

	if err := a.PutToken(token("tok_1")); err != nil {
		t.Fatal(err)
	}
	if got, readRev, err := b.ReadToken("tok_1"); err != nil || got.UserID != "usr_1" || readRev <= rev {
		t.Fatalf("ReadToken on B = %+v at %d, %v; want it, at a later revision than %d", got, readRev, err, rev)
	}
	if err := a.DeleteToken("tok_1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.ReadToken("tok_1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ReadToken of a revoked token: %v, want ErrNotFound", err)
	}
	put, del := nextEvent(t, events), nextEvent(t, events)
	if put.Put == nil || put.Put.ID != "tok_1" || del.Deleted != "tok_1" || del.Rev <= put.Rev || put.Rev <= rev {
		t.Fatalf("events %+v then %+v; want put then delete of tok_1 at rising revisions", put, del)
	}
}

// A watch that must start from a compacted revision cannot resume: it lists again and says so
// with a Reset holding exactly the live tokens.
func TestWatchTokensReloadsAfterCompaction(t *testing.T) {
	e := etcdtest.Start(t)
	r := replicaStores(t, e, 2)
	a, b := r[0], r[1]
	_, rev, err := b.ListTokensAt()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"tok_gone", "tok_kept"} {
		if err := a.PutToken(token(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.DeleteToken("tok_gone"); err != nil {
		t.Fatal(err)
	}
	c := e.Client(t)
	now, err := c.Get(context.Background(), "compact-me")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compact(context.Background(), now.Header.Revision); err != nil {
		t.Fatal(err)
	}
	events := watchEvents(t, b, rev) // rev+1 is compacted away
	ev := nextEvent(t, events)
	if !ev.Reset || len(ev.Live) != 1 || ev.Live[0].ID != "tok_kept" || ev.Rev < now.Header.Revision {
		t.Fatalf("first event %+v; want a Reset with exactly tok_kept at revision >= %d", ev, now.Header.Revision)
	}
	// And it follows changes after the reload.
	if err := a.DeleteToken("tok_kept"); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events); ev.Deleted != "tok_kept" {
		t.Fatalf("after the reload: %+v, want the deletion of tok_kept", ev)
	}
}

// When etcd goes away and comes back, the watch starts over with a Reset that includes what
// changed meanwhile, without a restart of the replica.
func TestWatchTokensCatchesUpAfterEtcdRestart(t *testing.T) {
	e := etcdtest.Start(t)
	r := replicaStores(t, e, 2)
	a, b := r[0], r[1]
	_, rev, err := b.ListTokensAt()
	if err != nil {
		t.Fatal(err)
	}
	events := watchEvents(t, b, rev)
	if err := a.PutToken(token("tok_before")); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events); ev.Put == nil {
		t.Fatalf("%+v, want the put", ev)
	}
	e.Stop()
	e.Restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := a.DeleteToken("tok_before")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd did not come back: %v", err)
		}
	}
	for {
		ev := nextEvent(t, events)
		if ev.Deleted == "tok_before" || (ev.Reset && len(ev.Live) == 0) {
			return // resumed or reloaded: either way the revocation arrived
		}
	}
}
