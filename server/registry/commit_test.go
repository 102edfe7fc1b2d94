package registry

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/store"
)

// TestConcurrentRegistrationsAreDurableAndGrouped registers from 32 goroutines at once. Each
// registration must be committed when Register returns (the store has it, before any Flush or
// Close), a copy of the bbolt file taken then must hold every acknowledged one, and
// registrations that arrive during a commit must share the next transaction instead of each
// fsyncing alone under the registry's lock. Each is routable when Register returns.
func TestConcurrentRegistrationsAreDurableAndGrouped(t *testing.T) {
	const clients, perClient = 32, 10
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	r, err := New(st, Options{ProbeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	acked := make(chan api.Instance, clients*perClient)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				in, err := r.Register(admin, api.RegisterInstanceRequest{
					URL: fmt.Sprintf("http://127.0.0.%d:%d", c+1, 20000+i), Slug: fmt.Sprintf("svc-%d", i%3),
				})
				if err != nil {
					t.Error(err)
					return
				}
				got, err := st.GetInstance(in.ID)
				if err != nil || got.URL != in.URL || got.Slug != in.Slug {
					t.Errorf("acknowledged %s (%s) not committed: stored %+v, %v", in.ID, in.URL, got.Instance, err)
				}
				if r.Table().Lookup(in.Slug).Find(fmt.Sprintf("127.0.0.%d:%d", c+1, 20000+i)) == nil {
					t.Errorf("acknowledged %s (%s) is not in the route table", in.ID, in.URL)
				}
				acked <- in
			}
		}()
	}
	wg.Wait()
	close(acked)

	// The file as a crash would leave it: no Flush, no Close.
	raw, err := os.ReadFile(filepath.Join(dir, "oo.db"))
	if err != nil {
		t.Fatal(err)
	}
	copyDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(copyDir, "oo.db"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	reopened := openStore(t, copyDir)
	defer reopened.Close()
	recs, err := reopened.Instances()
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]store.InstanceRecord{}
	for _, rec := range recs {
		stored[rec.ID] = rec
	}
	n := 0
	for in := range acked {
		n++
		if rec, ok := stored[in.ID]; !ok || rec.URL != in.URL {
			t.Errorf("acknowledged %s (%s) missing from the reopened file", in.ID, in.URL)
		}
	}
	if n != clients*perClient || len(stored) != n {
		t.Errorf("acknowledged %d, reopened file holds %d; want %d", n, len(stored), clients*perClient)
	}
	if r.w.largest < 2 {
		t.Errorf("%d concurrent registrations were committed one transaction each; want them grouped", n)
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
}

// TestPublishPendingOncePerGroup: a registration whose install an earlier publish covered
// returns without publishing, even when registrations installed since wait to be published:
// a group commit's waiters publish once between them, not once each as they wake while the
// next group installs (each publish copies the table's top and what changed).
func TestPublishPendingOncePerGroup(t *testing.T) {
	r, _ := newReg(t, Options{})
	var batches []*commitBatch
	reg := func(slug string) uint64 {
		pu, err := parseInstanceURL(fmt.Sprintf("http://127.0.3.%d:8080", len(batches)+1))
		if err != nil {
			t.Fatal(err)
		}
		_, b, seq, err := r.register(admin, api.RegisterInstanceRequest{URL: pu.Canonical, Slug: slug}, pu, 0)
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
		return seq
	}
	published := func() uint64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.publishes
	}
	a, b := reg("svc-a"), reg("svc-b") // one group
	r.publishPending(a)
	if r.Table().Lookup("svc-a") == nil || r.Table().Lookup("svc-b") == nil {
		t.Fatal("the first waiter's publish left out a registration of its group")
	}
	c := reg("svc-c") // the next group installs before b's waiter wakes
	before := published()
	r.publishPending(b)
	if got := published() - before; got != 0 || r.Table().Lookup("svc-c") != nil {
		t.Errorf("b, already published, published %d more tables (svc-c routable: %v); want none", got, r.Table().Lookup("svc-c") != nil)
	}
	r.publishPending(c)
	if got := published() - before; got != 1 || r.Table().Lookup("svc-c") == nil {
		t.Errorf("c's waiter published %d tables (svc-c routable: %v); want 1 with svc-c", got, r.Table().Lookup("svc-c") != nil)
	}
	for _, b := range batches {
		if err := r.w.wait(b); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPublishSharesUnchangedShards: a registration publishes a table that shares every node
// and leaf but its slug's with the previous one, so the cost of a publish does not grow with
// the number of slugs, and the other slugs keep routing.
func TestPublishSharesUnchangedShards(t *testing.T) {
	r, _ := newReg(t, Options{})
	for i := range 300 {
		if _, err := r.Register(admin, api.RegisterInstanceRequest{URL: fmt.Sprintf("http://127.0.1.%d:8080", i%250+1) + fmt.Sprintf("/%d", i), Slug: fmt.Sprintf("svc-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	before := r.Table()
	if _, err := r.Register(admin, api.RegisterInstanceRequest{URL: "http://127.0.2.1:8080", Slug: "svc-7"}); err != nil {
		t.Fatal(err)
	}
	after := r.Table()
	node, leaf := place("svc-7")
	for i := range tableFan {
		if same := before.top[i] == after.top[i]; i != node && !same {
			t.Errorf("node %d was copied though svc-7 is in node %d", i, node)
		} else if i == node && same {
			t.Errorf("node %d of svc-7 was changed in place under the proxy", i)
		}
	}
	for i := range tableFan {
		if same := before.top[node].leaves[i] == after.top[node].leaves[i]; i != leaf && !same {
			t.Errorf("leaf %d was copied though svc-7 is in leaf %d", i, leaf)
		} else if i == leaf && same {
			t.Errorf("leaf %d of svc-7 was changed in place under the proxy", i)
		}
	}
	if after.Len() != 300 || routeLen(after.Lookup("svc-7")) != 2 || before.Lookup("svc-7") == nil || routeLen(before.Lookup("svc-7")) != 1 || after.Lookup("svc-299") == nil {
		t.Errorf("routes after one more svc-7 instance: %d slugs, svc-7 %+v (was %+v)", after.Len(), after.Lookup("svc-7"), before.Lookup("svc-7"))
	}
}
