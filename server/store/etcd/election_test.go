package etcd_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/etcdtest"
	"github.com/ooctl/oo/server/store/etcd"
)

// member is one replica's RunMember, with what it was told about probing.
type member struct {
	st      *etcd.Store
	id      string
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	probing bool
	flips   []bool
}

func (m *member) onProber(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.probing = on
	m.flips = append(m.flips, on)
}

func (m *member) isProbing() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.probing
}

func (m *member) stop() {
	m.cancel()
	<-m.done
}

// startMembers runs a member on each store, numbered from first.
func startMembers(t *testing.T, stores []*etcd.Store, ttl time.Duration, first int) []*member {
	out := make([]*member, len(stores))
	for i, st := range stores {
		i += first
		ctx, cancel := context.WithCancel(context.Background())
		m := &member{st: st, id: fmt.Sprintf("rep_%d", i), cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(m.done)
			st.RunMember(ctx, etcd.Member{ID: m.id, Address: fmt.Sprintf("127.0.0.1:%d", 9000+i), Version: "test", StartedAt: time.Now()}, ttl, m.onProber, nil)
		}()
		t.Cleanup(m.stop)
		out[i-first] = m
	}
	return out
}

// await polls cond until it holds or the deadline passes.
func await(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// probers returns the members that believe they probe.
func probers(ms []*member) []*member {
	var out []*member
	for _, m := range ms {
		if m.isProbing() {
			out = append(out, m)
		}
	}
	return out
}

// Three replicas: all listed, exactly one probes and the listing names it; when it leaves (a
// clean stop) another takes over at once and the list shrinks.
func TestMembersAndOneProber(t *testing.T) {
	e := etcdtest.Start(t)
	stores := replicaStores(t, e, 3)
	ms := startMembers(t, stores, etcd.DefaultReplicaTTL, 0)
	await(t, 30*time.Second, "three members and one prober", func() bool {
		list, prober, err := stores[0].Members(context.Background())
		return err == nil && len(list) == 3 && prober != "" && len(probers(ms)) == 1 && probers(ms)[0].id == prober
	})
	list, _, _ := stores[1].Members(context.Background())
	for i, m := range list {
		if m.ID != fmt.Sprintf("rep_%d", i) || m.Address == "" || m.Version != "test" || m.StartedAt.IsZero() {
			t.Errorf("member %d = %+v", i, m)
		}
	}
	// Held over a few renewals, still one prober.
	for range 10 {
		if n := len(probers(ms)); n != 1 {
			t.Fatalf("%d probers at once", n)
		}
		time.Sleep(100 * time.Millisecond)
	}

	first := probers(ms)[0]
	first.stop()
	if first.isProbing() || len(first.flips) != 2 {
		t.Fatalf("a stopped prober was told %v; want true then false", first.flips)
	}
	took := await(t, 10*time.Second, "another prober after a clean stop", func() bool {
		list, prober, err := stores[0].Members(context.Background())
		return err == nil && len(list) == 2 && prober != "" && prober != first.id && len(probers(ms)) == 1
	})
	// A clean stop resigns and revokes: no lease to wait out.
	if took > etcd.DefaultReplicaTTL {
		t.Errorf("takeover after a clean stop took %s, more than the lease TTL: the lease was not revoked", took)
	}
}

// A prober that dies without a word (its etcd connection gone, as with kill -9) keeps the role
// only until its lease expires; then another replica probes.
func TestProberThatDiesIsReplacedWithinTheLease(t *testing.T) {
	e := etcdtest.Start(t)
	// The first replica reaches etcd through a relay the test can cut, as a kill -9 or a
	// partition would: no resign, no revoke, the lease must run out.
	relay := newRelay(t, e.Endpoints()[0])
	cut := replicaStores(t, &relayed{e, relay.url}, 1)[0]
	other := replicaStores(t, e, 1)[0]
	const ttl = 2 * time.Second
	ms := startMembers(t, []*etcd.Store{cut}, ttl, 0)
	await(t, 30*time.Second, "the first replica probes", func() bool { return ms[0].isProbing() })
	ms = append(ms, startMembers(t, []*etcd.Store{other}, ttl, 1)...)
	relay.cut()
	took := await(t, 30*time.Second, "takeover", func() bool { return ms[1].isProbing() })
	t.Logf("takeover after the prober's connection was cut: %s (lease TTL %s)", took, ttl)
	if took < ttl/2 {
		t.Errorf("takeover in %s: before the cut prober's lease could expire", took)
	}
	// The cut-off one stops probing by itself once its lease cannot have been renewed.
	await(t, 3*ttl, "the cut-off prober stops", func() bool { return !ms[0].isProbing() })
}

// relayed is e with its endpoint replaced by a relay's.
type relayed struct {
	*etcdtest.Etcd
	url string
}

func (r *relayed) Endpoints() []string { return []string{r.url} }

// relay forwards TCP to an etcd endpoint until cut, which closes every connection and refuses
// new ones.
type relay struct {
	url   string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	dead  bool
}

func newRelay(t *testing.T, endpoint string) *relay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(endpoint, "http://")
	r := &relay{url: "http://" + ln.Addr().String(), ln: ln}
	t.Cleanup(r.cut)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			r.mu.Lock()
			if r.dead {
				c.Close()
				up.Close()
			}
			r.conns = append(r.conns, c, up)
			r.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return r
}

func (r *relay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dead = true
	r.ln.Close()
	for _, c := range r.conns {
		c.Close()
	}
}
