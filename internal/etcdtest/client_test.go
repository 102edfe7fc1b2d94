package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// These tests pin what oo needs of the Go client (go.mod's go.etcd.io/etcd/client/v3) against
// the server the tests run (Debian's etcd 3.4 in CI): if a client upgrade stops speaking to it,
// they fail here rather than somewhere in the store.

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestClientAgainstServer(t *testing.T) {
	e := Start(t)
	c := e.Client(t)
	t.Run("kv", func(t *testing.T) { clientKV(t, c, Prefix(t)) })
	t.Run("txn", func(t *testing.T) { clientTxn(t, c, Prefix(t)) })
	t.Run("watch", func(t *testing.T) { clientWatch(t, c, Prefix(t)) })
	t.Run("lease", func(t *testing.T) { clientLease(t, c, Prefix(t)) })
	t.Run("election", func(t *testing.T) { clientElection(t, c, Prefix(t)) })
}

func clientKV(t *testing.T, c *clientv3.Client, p string) {
	ctx := ctxT(t, 30*time.Second)
	for i := 0; i < 3; i++ {
		if _, err := c.Put(ctx, fmt.Sprintf("%sa/%d", p, i), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Put(ctx, p+"b", "x"); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(ctx, p+"a/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 3 || string(resp.Kvs[0].Key) != p+"a/2" {
		t.Fatalf("prefix get: %d keys, first %q", len(resp.Kvs), resp.Kvs[0].Key)
	}
	page, err := c.Get(ctx, p+"a/", clientv3.WithRange(clientv3.GetPrefixRangeEnd(p+"a/")), clientv3.WithLimit(2))
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Kvs) != 2 || !page.More || page.Count != 3 {
		t.Errorf("limited get: %d keys, more %v, count %d; want 2, true, 3", len(page.Kvs), page.More, page.Count)
	}
	del, err := c.Delete(ctx, p+"a/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	if err != nil {
		t.Fatal(err)
	}
	if del.Deleted != 3 || len(del.PrevKvs) != 3 {
		t.Errorf("prefix delete: deleted %d, prev %d; want 3, 3", del.Deleted, len(del.PrevKvs))
	}
	left, err := c.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if left.Count != 1 {
		t.Errorf("after delete %d keys left, want 1", left.Count)
	}
}

func clientTxn(t *testing.T, c *clientv3.Client, p string) {
	ctx := ctxT(t, 30*time.Second)
	k := p + "k"
	putIfAbsent := func(v string) *clientv3.TxnResponse {
		r, err := c.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, v)).
			Else(clientv3.OpGet(k)).Commit()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := putIfAbsent("first"); !r.Succeeded {
		t.Fatal("put-if-absent on an absent key did not succeed")
	}
	r := putIfAbsent("second")
	if r.Succeeded {
		t.Fatal("put-if-absent on a present key succeeded")
	}
	kv := r.Responses[0].GetResponseRange().Kvs[0]
	if string(kv.Value) != "first" {
		t.Fatalf("else branch read %q, want first", kv.Value)
	}
	// Compare-and-swap on the revision read.
	cas := func(mod int64, v string) bool {
		r, err := c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", mod)).Then(clientv3.OpPut(k, v)).Commit()
		if err != nil {
			t.Fatal(err)
		}
		return r.Succeeded
	}
	if !cas(kv.ModRevision, "third") {
		t.Error("CAS with the current mod revision failed")
	}
	if cas(kv.ModRevision, "fourth") {
		t.Error("CAS with a stale mod revision succeeded")
	}
	byValue, err := c.Txn(ctx).If(clientv3.Compare(clientv3.Value(k), "=", "third")).Then(clientv3.OpDelete(k)).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if !byValue.Succeeded || byValue.Responses[0].GetResponseDeleteRange().Deleted != 1 {
		t.Error("compare on value then delete did not delete")
	}
}

func clientWatch(t *testing.T, c *clientv3.Client, p string) {
	ctx := ctxT(t, 60*time.Second)
	var first *clientv3.PutResponse
	put := func(i int) {
		r, err := c.Put(ctx, fmt.Sprintf("%sw/%d", p, i), fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = r
		}
	}
	// From a past revision: the history since then, in order. The watch is then dropped, more
	// is written, and a new watch from the last revision seen + 1 gets exactly what it missed.
	next := int64(0)
	seen := 0
	for round := 0; round < 2; round++ {
		for i := 0; i < 3; i++ {
			put(round*3 + i)
		}
		if next == 0 {
			next = first.Header.Revision
		}
		wctx, cancel := context.WithCancel(ctx)
		wch := c.Watch(wctx, p+"w/", clientv3.WithPrefix(), clientv3.WithRev(next))
		for seen < 3*(round+1) {
			wr, ok := <-wch
			if !ok {
				t.Fatal("watch closed")
			}
			if err := wr.Err(); err != nil {
				t.Fatal(err)
			}
			for _, ev := range wr.Events {
				if want := fmt.Sprintf("%sw/%d", p, seen); string(ev.Kv.Key) != want {
					t.Fatalf("event %d is for %q, want %q", seen, ev.Kv.Key, want)
				}
				next = ev.Kv.ModRevision + 1
				seen++
			}
		}
		cancel()
	}
	if seen != 6 {
		t.Fatalf("saw %d events over two watches, want 6", seen)
	}
	// Compacted history: the watch is refused with the compaction revision, and a watch from
	// there works (a consumer reloads state, then watches on).
	last, err := c.Put(ctx, p+"w/6", "6")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compact(ctx, last.Header.Revision); err != nil {
		t.Fatal(err)
	}
	wr := <-c.Watch(ctx, p+"w/", clientv3.WithPrefix(), clientv3.WithRev(first.Header.Revision))
	if !errors.Is(wr.Err(), rpctypes.ErrCompacted) || wr.CompactRevision != last.Header.Revision {
		t.Fatalf("watch from a compacted revision: err %v, compact revision %d; want ErrCompacted at %d",
			wr.Err(), wr.CompactRevision, last.Header.Revision)
	}
	if _, err := c.Get(ctx, p+"w/0", clientv3.WithRev(first.Header.Revision)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("get at a compacted revision: %v, want ErrCompacted", err)
	}
	wch := c.Watch(ctx, p+"w/", clientv3.WithPrefix(), clientv3.WithRev(wr.CompactRevision))
	wr = <-wch
	if wr.Err() != nil || len(wr.Events) != 1 || string(wr.Events[0].Kv.Key) != p+"w/6" {
		t.Fatalf("watch from the compaction revision: err %v, %d events", wr.Err(), len(wr.Events))
	}
}

func clientLease(t *testing.T, c *clientv3.Client, p string) {
	ctx := ctxT(t, 60*time.Second)
	kept, err := c.Grant(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := c.Grant(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	granted := time.Now()
	if _, err := c.Put(ctx, p+"kept", "x", clientv3.WithLease(kept.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, p+"dropped", "x", clientv3.WithLease(dropped.ID)); err != nil {
		t.Fatal(err)
	}
	kctx, stop := context.WithCancel(ctx)
	defer stop()
	ka, err := c.KeepAlive(kctx, kept.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The lease without keep-alive expires and takes its key; by then the kept one has outlived
	// its TTL.
	for {
		r, err := c.Get(ctx, p+"dropped")
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Kvs) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("key of an expired lease still there")
		case <-time.After(100 * time.Millisecond):
		}
	}
	for time.Since(granted) < 3*time.Second {
		if resp, ok := <-ka; !ok || resp.TTL <= 0 {
			t.Fatalf("keep-alive ended: %v %v", resp, ok)
		}
	}
	r, err := c.Get(ctx, p+"kept")
	if err != nil || len(r.Kvs) != 1 {
		t.Fatalf("key of a kept-alive lease gone after %s: %v", time.Since(granted), err)
	}
	ttl, err := c.TimeToLive(ctx, kept.ID, clientv3.WithAttachedKeys())
	if err != nil || ttl.TTL <= 0 || len(ttl.Keys) != 1 {
		t.Fatalf("time to live: %+v %v", ttl, err)
	}
	if _, err := c.Revoke(ctx, kept.ID); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Get(ctx, p+"kept"); len(r.Kvs) != 0 {
		t.Error("key of a revoked lease still there")
	}
}

func clientElection(t *testing.T, c *clientv3.Client, p string) {
	ctx := ctxT(t, 60*time.Second)
	s1, err := concurrency.NewSession(c, concurrency.WithTTL(5))
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2, err := concurrency.NewSession(c, concurrency.WithTTL(5))
	if err != nil {
		t.Fatal(err)
	}
	e1 := concurrency.NewElection(s1, p+"prober")
	e2 := concurrency.NewElection(s2, p+"prober")
	observed := concurrency.NewElection(s1, p+"prober").Observe(ctx)
	if err := e1.Campaign(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	won := make(chan error, 1)
	go func() { won <- e2.Campaign(ctx, "b") }()
	leader, err := e1.Leader(ctx)
	if err != nil || string(leader.Kvs[0].Value) != "a" {
		t.Fatalf("leader: %v %v, want a", leader, err)
	}
	awaitLeader(t, observed, "a")
	select {
	case err := <-won:
		t.Fatalf("second campaign returned (%v) while the first leader holds", err)
	default:
	}
	if err := e1.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-won; err != nil {
		t.Fatal(err)
	}
	awaitLeader(t, observed, "b")
	// The leader's session ends (its lease revoked, as when the replica's lease expires): the
	// election has no leader until someone campaigns again.
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e1.Leader(ctx); !errors.Is(err, concurrency.ErrElectionNoLeader) {
		t.Errorf("leader after the leader's session closed: %v, want ErrElectionNoLeader", err)
	}
}

func awaitLeader(t *testing.T, ch <-chan *clientv3.GetResponse, want string) {
	t.Helper()
	for r := range ch {
		if len(r.Kvs) > 0 && string(r.Kvs[0].Value) == want {
			return
		}
	}
	t.Fatalf("observe ended before leader %q", want)
}

// TLS with client certificates and password authentication, together as a hardened etcd runs
// them: each missing piece is refused.
func TestClientTLSAndAuth(t *testing.T) {
	e := Start(t, WithTLS(), WithAuth())
	ctx := context.Background()
	good := e.Client(t)
	if _, err := good.Put(ctxT(t, 30*time.Second), "k", "v"); err != nil {
		t.Fatalf("with certificate and password: %v", err)
	}

	refused := func(name string, mutate func(*clientv3.Config)) {
		t.Helper()
		cfg := e.ClientConfig()
		cfg.DialTimeout = time.Second
		mutate(&cfg)
		c, err := clientv3.New(cfg)
		if err != nil {
			return // refused at dial (wrong password is checked when connecting)
		}
		defer c.Close()
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := c.Get(short, "k"); err == nil {
			t.Errorf("%s: Get succeeded", name)
		}
	}
	refused("no client certificate", func(c *clientv3.Config) {
		c.TLS = c.TLS.Clone()
		c.TLS.Certificates = nil
	})
	refused("plain HTTP", func(c *clientv3.Config) {
		c.TLS = nil
		c.Endpoints = []string{"http" + e.Endpoints()[0][len("https"):]}
	})
	refused("wrong password", func(c *clientv3.Config) { c.Password = "wrong" })
	refused("no credentials (certificate name is no user)", func(c *clientv3.Config) { c.Username, c.Password = "", "" })

	// A user limited to a prefix, as an operator would give oo.
	if _, err := good.RoleAdd(ctx, "oo"); err != nil {
		t.Fatal(err)
	}
	if _, err := good.RoleGrantPermission(ctx, "oo", "/oo/", clientv3.GetPrefixRangeEnd("/oo/"), clientv3.PermissionType(clientv3.PermReadWrite)); err != nil {
		t.Fatal(err)
	}
	if _, err := good.UserAdd(ctx, "oo", "oo-pass"); err != nil {
		t.Fatal(err)
	}
	if _, err := good.UserGrantRole(ctx, "oo", "oo"); err != nil {
		t.Fatal(err)
	}
	cfg := e.ClientConfig()
	cfg.Username, cfg.Password = "oo", "oo-pass"
	oo, err := clientv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer oo.Close()
	if _, err := oo.Put(ctxT(t, 30*time.Second), "/oo/x", "1"); err != nil {
		t.Errorf("user oo inside its prefix: %v", err)
	}
	if _, err := oo.Put(ctxT(t, 30*time.Second), "/other/x", "1"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Errorf("user oo outside its prefix: %v, want permission denied", err)
	}
}
