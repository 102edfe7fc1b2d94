package registry

import (
	"context"
	"sync"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/store"
)

// memShared is an in-memory Shared for unit tests of the cache's bookkeeping: writes succeed
// with growing revisions and the watch sends nothing unless the test feeds the registry
// changes itself. The conditional writes are tested against real etcd (shared_etcd_test.go).
type memShared struct {
	mu  sync.Mutex
	rev int64
}

func (m *memShared) next() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++
	return m.rev
}

func (m *memShared) Snapshot(context.Context) (store.Snapshot, error) { return store.Snapshot{}, nil }
func (m *memShared) Watch(ctx context.Context, _ int64, _ func([]store.Change, int64)) error {
	<-ctx.Done()
	return nil
}
func (m *memShared) RequestProgress(context.Context) error { return nil }
func (m *memShared) PutInstance(context.Context, store.InstanceRecord, int64, string) (int64, error) {
	return m.next(), nil
}
func (m *memShared) PutStatuses(_ context.Context, vs []store.VersionedInstance) ([]int64, error) {
	revs := make([]int64, len(vs))
	for i := range revs {
		revs[i] = m.next()
	}
	return revs, nil
}
func (m *memShared) DeleteInstance(context.Context, string, string, int64) (int64, error) {
	return m.next(), nil
}
func (m *memShared) PutBeats(context.Context, []store.Beat) (int, error) { return 1, nil }

func newMemShared(t *testing.T) (*Registry, *memShared) {
	t.Helper()
	m := &memShared{}
	r, err := New(nil, Options{ProbeInterval: -1, Shared: m})
	if err != nil {
		t.Fatal(err)
	}
	return r, m
}

// Watched changes arrive after this replica's own writes were applied: one older than what an
// entry holds, or than a delete applied here, must not undo it.
func TestSharedCacheIgnoresStaleChanges(t *testing.T) {
	r, m := newMemShared(t)
	in := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"}) // rev 1
	rec := store.InstanceRecord{Instance: in}

	moved := rec
	moved.URL = "http://127.0.0.1:9312"
	register(t, r, alice, api.RegisterInstanceRequest{URL: moved.URL, ID: in.ID}) // rev 2
	r.applyChanges([]store.Change{{Rev: 1, Instance: &rec}}, 1)
	if got, _ := r.Get(in.ID); got.URL != moved.URL {
		t.Fatalf("a watched write older than the entry moved it back to %s", got.URL)
	}

	if err := r.Delete(alice, in.ID); err != nil { // rev 3
		t.Fatal(err)
	}
	r.applyChanges([]store.Change{{Rev: 2, Instance: &moved}}, 2)
	if _, err := r.Get(in.ID); err == nil || r.Table().Lookup("alice-svc") != nil {
		t.Fatal("a watched write older than a delete applied here brought the instance back")
	}

	// Once the watch has passed the delete, the tombstone goes, and a later write is applied.
	r.applyChanges([]store.Change{{Rev: 3, Deleted: true, Instance: &store.InstanceRecord{Instance: api.Instance{ID: in.ID}}}}, 3)
	if len(r.sh.tombs) != 0 {
		t.Fatalf("tombstones left after the watch passed them: %v", r.sh.tombs)
	}
	again := moved
	r.applyChanges([]store.Change{{Rev: m.next(), Instance: &again}}, m.rev)
	if !routable(r, "alice-svc", in.ID) {
		t.Fatal("a write newer than the delete was not applied")
	}
}

// A registry on a shared store does not probe until it is elected to, and a bolt-mode
// registry (no Shared) probes without being asked.
func TestSharedRegistryProbesOnlyWhenElected(t *testing.T) {
	m := &memShared{}
	r, err := New(nil, Options{ProbeInterval: 10_000_000, Shared: m})
	if err != nil {
		t.Fatal(err)
	}
	if r.Probing() {
		t.Fatal("a shared-mode registry probes before SetProbing(true)")
	}
	r.SetProbing(true)
	if !r.Probing() {
		t.Fatal("SetProbing(true) did not start probing")
	}
	b, _ := newReg(t, Options{ProbeInterval: 10_000_000})
	if !b.Probing() {
		t.Fatal("a registry on its own store does not probe")
	}
}

// routable reports whether r's route table may send a request for slug to instance id.
func routable(r *Registry, slug, id string) bool {
	return r.Table().Lookup(slug).each(func(t *Target) bool { return t.ID == id }) != nil
}
