package registry

import (
	"sync"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/store"
)

// gateStore is a real store whose commits can be held, to stand for a slow fsync (or etcd
// round trip): while a commit is held, the registry must keep answering.
type gateStore struct {
	Store
	mu      sync.Mutex
	hold    chan struct{} // non-nil: commits wait for it to close
	entered chan struct{} // gets a value when a held commit starts waiting
}

func (g *gateStore) WriteInstances(ws []store.InstanceWrite) error {
	g.mu.Lock()
	hold := g.hold
	g.mu.Unlock()
	if hold != nil {
		g.entered <- struct{}{}
		<-hold
	}
	return g.Store.WriteInstances(ws)
}

// close holds the following commits until the returned function is called (at the latest in
// cleanup, so that a failing test does not leave a goroutine waiting).
func (g *gateStore) close(t *testing.T) (release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold, g.entered = make(chan struct{}), make(chan struct{}, 16)
	var once sync.Once
	release = func() {
		once.Do(func() {
			g.mu.Lock()
			close(g.hold)
			g.hold = nil
			g.mu.Unlock()
		})
	}
	t.Cleanup(release)
	return release
}

func newGatedReg(t *testing.T, opts Options) (*Registry, *gateStore) {
	t.Helper()
	st := openStore(t, t.TempDir())
	g := &gateStore{Store: st}
	if opts.ProbeInterval == 0 {
		opts.ProbeInterval = -1
	}
	r, err := New(g, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return r, g
}

// whileCommitHeld starts op, waits until its commit is being held, and checks that the
// registry still answers reads, heartbeats and proxy reports meanwhile.
func whileCommitHeld(t *testing.T, r *Registry, g *gateStore, other api.Instance, op func() error) {
	t.Helper()
	release := g.close(t)
	done := make(chan error, 1)
	go func() { done <- op() }()
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the operation never reached the store")
	}
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		r.List(Filter{})
		_, _ = r.Get(other.ID)
		_, _ = r.Heartbeat(alice, other.ID, "")
		r.ReportSuspect(other.ID)
	}()
	select {
	case <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("the registry stopped answering while a commit was held: its lock is held across the commit")
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDeleteDoesNotHoldTheLockAcrossItsCommit(t *testing.T) {
	r, g := newGatedReg(t, Options{})
	gone := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	other := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9312"})
	whileCommitHeld(t, r, g, other, func() error { return r.Delete(alice, gone.ID) })
	if _, err := g.GetInstance(gone.ID); err == nil {
		t.Fatal("the deleted instance is still stored after Delete returned")
	}
}

func TestFlushDoesNotHoldTheLockAcrossItsCommit(t *testing.T) {
	r, g := newGatedReg(t, Options{})
	in := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	beat, err := r.Heartbeat(alice, in.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	whileCommitHeld(t, r, g, in, r.Flush)
	stored, err := g.GetInstance(in.ID)
	if err != nil || stored.LastHeartbeat == nil || stored.LastHeartbeat.Before(*beat.LastHeartbeat) {
		t.Fatalf("flushed heartbeat not stored: %+v, %v", stored.LastHeartbeat, err)
	}
}

func TestExpiryDoesNotHoldTheLockAcrossItsCommit(t *testing.T) {
	r, g := newGatedReg(t, Options{InstanceExpiry: time.Minute})
	gone := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	other := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9312"})
	seenUp(t, r, gone.ID)
	r.ReportDialFailure(gone.ID, nil)
	whileCommitHeld(t, r, g, other, func() error {
		r.maintain(time.Now().Add(time.Hour))
		return nil
	})
	if _, err := g.GetInstance(gone.ID); err == nil {
		t.Fatal("the expired instance is still stored")
	}
	if _, err := r.Get(other.ID); err != nil {
		t.Fatal("the instance that was up expired too")
	}
}

// A failed flush keeps the health state to write for the next one.
func TestFailedFlushIsRetried(t *testing.T) {
	r, g := newGatedReg(t, Options{})
	in := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	if _, err := r.Heartbeat(alice, in.ID, ""); err != nil {
		t.Fatal(err)
	}
	g.Store.(interface{ Close() error }).Close()
	if err := r.Flush(); err == nil {
		t.Fatal("flush to a closed store succeeded")
	}
	r.mu.Lock()
	n := len(r.dirty)
	r.unlock()
	if n != 1 {
		t.Fatalf("%d entries left to flush after a failed flush, want 1", n)
	}
}

// The proxy's failed-dial path must not wait for a writer: with the registry's lock held (a
// writer in the middle of a change), ReportDialFailure returns at once, and the instance is out
// of the routes as soon as the writer lets go.
func TestDialFailureDoesNotWaitForWriters(t *testing.T) {
	r, _ := newReg(t, Options{})
	a := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	b := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9312"})
	seenUp(t, r, a.ID)
	seenUp(t, r, b.ID)

	r.mu.Lock() // a writer holds the lock
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		r.ReportDialFailure(a.ID, nil)
		r.ReportSuspect(b.ID)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		r.unlock()
		t.Fatal("ReportDialFailure waited for the registry lock")
	}
	r.unlock() // the writer is done
	for range 10 {
		if got := r.Table().Lookup("alice-svc").Pick(); got == nil || got.ID != b.ID {
			t.Fatalf("picked %+v after %s failed and the writer released the lock", got, a.ID)
		}
	}
	if statusOf(t, r, a.ID) != api.StatusUnreachable {
		t.Fatalf("status %s after a dial failure", statusOf(t, r, a.ID))
	}
}
