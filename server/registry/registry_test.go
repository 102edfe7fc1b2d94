package registry

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/randid"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/store"
	"github.com/ooctl/oo/server/store/bolt"
)

var (
	alice = auth.Principal{UserID: "usr_a", Slug: "alice-svc", Roles: []string{api.RoleUser}}
	bob   = auth.Principal{UserID: "usr_b", Slug: "bob-svc", Roles: []string{api.RoleUser}}
	admin = auth.Principal{UserID: "usr_admin", Slug: "admin", Roles: []string{api.RoleUser, api.RoleAdmin}}
)

func openStore(t testing.TB, dir string) *bolt.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(dir, "oo.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newReg makes a registry on a real store in a temp dir. Probing is off unless opts says
// otherwise, so tests that do not care about health are not racing probes.
func newReg(t testing.TB, opts Options) (*Registry, *bolt.Store) {
	t.Helper()
	st := openStore(t, t.TempDir())
	if opts.ProbeInterval == 0 {
		opts.ProbeInterval = -1
	}
	r, err := New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	return r, st
}

// run runs r's background loop until the test ends.
func run(t testing.TB, r *Registry) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func register(t *testing.T, r *Registry, p auth.Principal, req api.RegisterInstanceRequest) api.Instance {
	t.Helper()
	inst, err := r.Register(p, req)
	if err != nil {
		t.Fatalf("register %+v as %s: %v", req, p.Slug, err)
	}
	return inst
}

func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	if got := apierr.Status(err); err == nil || got != status {
		t.Fatalf("err %v (HTTP %d), want HTTP %d", err, got, status)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// seenUp makes instance id Healthy in a registry without probing (a heartbeat is then the
// evidence of life), so that a later failure is the failure of an instance that was up rather
// than one still starting.
func seenUp(t *testing.T, r *Registry, id string) {
	t.Helper()
	inst, err := r.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	p := auth.Principal{Slug: inst.Slug, Roles: []string{api.RoleUser, api.RoleAdmin}}
	if got, err := r.Heartbeat(p, id, ""); err != nil || got.Status != api.StatusHealthy {
		t.Fatalf("heartbeat of %s: %+v, %v", id, got, err)
	}
}

func statusOf(t *testing.T, r *Registry, id string) api.InstanceStatus {
	t.Helper()
	inst, err := r.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return inst.Status
}

func TestNormalizeURL(t *testing.T) {
	cases := map[string]string{
		"http://127.0.0.1:9311":         "http://127.0.0.1:9311",
		"http://127.0.0.1:9311/":        "http://127.0.0.1:9311",
		"HTTP://LocalHost:9311/":        "http://127.0.0.1:9311",
		"http://localhost":              "http://127.0.0.1:80",
		"https://Example.COM/":          "https://example.com:443",
		"https://example.com:8443/a/b/": "https://example.com:8443/a/b",
		"http://[::1]:9311":             "http://[::1]:9311",
		"http://[::1]":                  "http://[::1]:80",
		"  http://127.0.0.1:9311  ":     "http://127.0.0.1:9311",
		"http://h:1/Case/Kept":          "http://h:1/Case/Kept",
	}
	for in, want := range cases {
		got, err := NormalizeURL(in)
		if err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestBadURLsAre400(t *testing.T) {
	r, _ := newReg(t, Options{})
	for _, u := range []string{
		"", "127.0.0.1:9311", "localhost:9311", "ftp://127.0.0.1:21", "http://", "http:///x",
		"http://:80", "http://u:p@127.0.0.1:1", "http://127.0.0.1:99999", "http://127.0.0.1:1/?a=1",
		"://127.0.0.1", "unix:///sock",
	} {
		_, err := r.Register(alice, api.RegisterInstanceRequest{URL: u})
		if apierr.Status(err) != http.StatusBadRequest {
			t.Errorf("url %q: err %v, want 400", u, err)
		} else if !strings.Contains(err.Error(), "url") {
			t.Errorf("url %q: message %q does not say what is wrong with the url", u, err)
		}
	}
	if got := r.List(Filter{}); len(got) != 0 {
		t.Fatalf("bad registrations left %d instances", len(got))
	}
}

func TestRegisterFillsFieldsAndIsIdempotent(t *testing.T) {
	r, st := newReg(t, Options{})
	a := register(t, r, alice, api.RegisterInstanceRequest{URL: "HTTP://127.0.0.1:9311/"})
	if !strings.HasPrefix(a.ID, "inst_") || len(a.ID) != 5+randid.TimeChars+10 {
		t.Errorf("id %q, want inst_ + the time + 10 characters", a.ID)
	}
	for _, c := range a.ID[5:] {
		if !strings.ContainsRune(randid.Alphabet, c) {
			t.Errorf("id %q is not base62", a.ID)
		}
	}
	if a.URL != "http://127.0.0.1:9311" || a.Slug != "alice-svc" || a.Status != api.StatusUnknown ||
		a.Host != "127.0.0.1" || a.IP != "127.0.0.1" || a.Port != 9311 || a.Scheme != "http" {
		t.Errorf("instance %+v", a)
	}
	again := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311", DeploymentID: "dep1"})
	if again.ID != a.ID {
		t.Fatalf("re-registering changed the id: %s → %s", a.ID, again.ID)
	}
	if n := len(r.List(Filter{})); n != 1 {
		t.Fatalf("%d instances after re-registering, want 1", n)
	}
	rec, err := st.GetInstance(a.ID)
	if err != nil || rec.DeploymentID != "dep1" {
		t.Fatalf("stored %+v, %v: the update was not committed", rec, err)
	}
}

func TestOwnership(t *testing.T) {
	r, _ := newReg(t, Options{})
	inst := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})

	_, err := r.Register(bob, api.RegisterInstanceRequest{URL: "http://127.0.0.2:9311"})
	if err != nil {
		t.Fatalf("another address is another URL: %v", err)
	}
	_, err = r.Register(bob, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311/"})
	wantStatus(t, err, http.StatusConflict)
	for _, want := range []string{`"alice-svc"`, inst.ID, "oo instance rm " + inst.ID, "admin"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("409 message %q does not mention %q", err, want)
		}
	}
	_, err = r.Register(bob, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9999", ID: inst.ID})
	wantStatus(t, err, http.StatusConflict)
	_, err = r.Register(bob, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9998", Slug: "alice-svc"})
	wantStatus(t, err, http.StatusForbidden)
	wantStatus(t, r.Delete(bob, inst.ID), http.StatusForbidden)
	_, err = r.Heartbeat(bob, inst.ID, "")
	wantStatus(t, err, http.StatusForbidden)
	if got, _ := r.Get(inst.ID); got.Slug != "alice-svc" || got.URL != inst.URL {
		t.Fatalf("after refused attempts the instance is %+v", got)
	}

	// An admin registering for a slug is held to the slug rule of account registration.
	for _, bad := range []string{"-x-", "Bob", "user-svc", strings.Repeat("a", 64)} {
		_, err = r.Register(admin, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9500", Slug: bad})
		wantStatus(t, err, http.StatusBadRequest)
	}

	// The admin may update any instance, including handing it to another slug.
	moved := register(t, r, admin, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311", Slug: "bob-svc"})
	if moved.ID != inst.ID || moved.Slug != "bob-svc" {
		t.Fatalf("admin update gave %+v", moved)
	}
	if r.Table().Lookup("alice-svc").Find("127.0.0.1:9311") != nil || r.Table().Lookup("bob-svc").Find("127.0.0.1:9311") == nil {
		t.Fatal("route table does not follow the change of owner")
	}
	wantStatus(t, r.Delete(alice, inst.ID), http.StatusForbidden)
	if err := r.Delete(bob, inst.ID); err != nil {
		t.Fatalf("owner delete: %v", err)
	}
	wantStatus(t, r.Delete(bob, inst.ID), http.StatusNotFound)

	other := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9400"})
	if err := r.Delete(admin, other.ID); err != nil {
		t.Fatalf("admin delete: %v", err)
	}
	if r.Table().Lookup("alice-svc") != nil {
		t.Fatal("alice-svc has no instances left but is still in the route table")
	}
}

func TestRegisterByIDMovesTheInstance(t *testing.T) {
	r, _ := newReg(t, Options{})
	a := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	b := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9312", ID: a.ID})
	if b.ID != a.ID || b.URL != "http://127.0.0.1:9312" {
		t.Fatalf("got %+v", b)
	}
	if got := r.List(Filter{}); len(got) != 1 {
		t.Fatalf("%d instances, want 1", len(got))
	}
	// The old URL is free again.
	if _, err := r.Register(bob, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"}); err != nil {
		t.Fatalf("old URL still taken: %v", err)
	}
}

func TestListFilters(t *testing.T) {
	r, _ := newReg(t, Options{})
	register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:1001", DeploymentID: "d1"})
	b := register(t, r, bob, api.RegisterInstanceRequest{URL: "http://localhost:1002/api", IP: "127.0.0.1"})
	register(t, r, bob, api.RegisterInstanceRequest{URL: "http://10.0.0.1:1003"})
	cases := []struct {
		f    Filter
		want int
	}{
		{Filter{}, 3},
		{Filter{Slug: "bob-svc"}, 2},
		{Filter{Host: "LOCALHOST"}, 1},
		{Filter{IP: "127.0.0.1"}, 2},
		{Filter{Path: "/api"}, 1},
		{Filter{DeploymentID: "d1"}, 1},
		{Filter{ID: b.ID}, 1},
		{Filter{Slug: "nobody"}, 0},
	}
	for _, c := range cases {
		if got := r.List(c.f); len(got) != c.want {
			t.Errorf("List(%+v) = %d instances, want %d", c.f, len(got), c.want)
		}
	}
}

// stoppedAddr is a loopback host:port nothing listens on (yet).
func stoppedAddr(t *testing.T) string {
	ln := listen(t, "127.0.0.1:0")
	defer ln.Close()
	return ln.Addr().String()
}

// listen returns a TCP listener on a free loopback port.
func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

func TestProbesFollowTheProcess(t *testing.T) {
	const interval = 50 * time.Millisecond
	r, _ := newReg(t, Options{ProbeInterval: interval})
	run(t, r)
	ln := listen(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	inst := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://" + addr})
	// Deadlines here are generous on purpose: this test is about following the process, not
	// about latency (TestStartingInstanceIsProbedWithBackoff covers "probed at once" with a
	// one-minute interval, where an interval later would be obvious), and a loaded CI machine
	// must not fail it.
	eventually(t, 10*time.Second, "new instance Healthy", func() bool { return statusOf(t, r, inst.ID) == api.StatusHealthy })
	got, _ := r.Get(inst.ID)
	if got.LastSeen == nil || time.Since(*got.LastSeen) > time.Second {
		t.Fatalf("lastSeen %v does not record the successful probe", got.LastSeen)
	}
	// lastHeartbeat is what the service sent, and this one sent nothing (it used to show the
	// last successful probe).
	if got.LastHeartbeat != nil {
		t.Fatalf("lastHeartbeat %v for an instance that never sent a heartbeat", got.LastHeartbeat)
	}

	ln.Close()
	eventually(t, 10*time.Second, "stopped instance Unreachable", func() bool {
		return statusOf(t, r, inst.ID) == api.StatusUnreachable
	})
	if r.Table().Lookup("alice-svc").Routable() {
		t.Fatal("an Unreachable instance is still routable")
	}
	if d, _ := r.Get(inst.ID); d.Details == "" {
		t.Error("no details say why it is down")
	}

	ln = listen(t, addr)
	defer ln.Close()
	eventually(t, 10*time.Second, "restarted instance Healthy", func() bool {
		return statusOf(t, r, inst.ID) == api.StatusHealthy
	})
	if r.Table().Lookup("alice-svc").Pick().ID != inst.ID {
		t.Fatal("restarted instance not routed to")
	}
}

// The bound, at the default tick: an instance that dies right after a successful probe
// (the worst moment) is Unreachable within two probe intervals.
func TestDeadInstanceDownWithinTwoIntervals(t *testing.T) {
	const interval = time.Second
	r, _ := newReg(t, Options{ProbeInterval: interval})
	run(t, r)
	ln := listen(t, "127.0.0.1:0")
	inst := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://" + ln.Addr().String()})
	eventually(t, 5*interval, "new instance Healthy", func() bool { return statusOf(t, r, inst.ID) == api.StatusHealthy })
	first, _ := r.Get(inst.ID)
	eventually(t, 3*interval, "the next successful probe", func() bool {
		got, _ := r.Get(inst.ID)
		return got.LastSeen != nil && got.LastSeen.After(*first.LastSeen)
	})
	ln.Close()
	stopped := time.Now()
	eventually(t, 4*interval, "stopped instance Unreachable", func() bool {
		return statusOf(t, r, inst.ID) == api.StatusUnreachable
	})
	if took := time.Since(stopped); took > 2*interval {
		t.Errorf("Unreachable %v after the process stopped, want within two intervals (%v)", took, 2*interval)
	} else {
		t.Logf("Unreachable %v after the process stopped (interval %v)", took, interval)
	}
}

// The seed document's program registers, then starts listening. Its first probes fail; that
// must leave it Unknown (routable when nothing better is), and it must be seen Healthy soon
// after it listens, not an interval later. It used to be Unreachable after the first refused
// probe and stay so until the next interval's probe.
func TestStartingInstanceIsProbedWithBackoff(t *testing.T) {
	r, _ := newReg(t, Options{ProbeInterval: time.Minute})
	run(t, r)
	addr := stoppedAddr(t)
	registered := time.Now()
	inst := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://" + addr})
	eventually(t, 5*time.Second, "a failed probe 300ms after registering", func() bool {
		got, _ := r.Get(inst.ID)
		return strings.HasPrefix(got.Details, notYet) && time.Since(registered) > 300*time.Millisecond
	})
	if got := statusOf(t, r, inst.ID); got != api.StatusUnknown || !r.Table().Lookup("alice-svc").Routable() {
		t.Fatalf("a starting instance whose probes fail is %s, want Unknown and routable", got)
	}
	ln := listen(t, addr)
	defer ln.Close()
	listening := time.Now()
	// The bound is loose for a loaded machine: the point is seconds, not the minute-long
	// interval. bench/startup.sh measures the real delay.
	eventually(t, 10*time.Second, "Healthy after it listens", func() bool { return statusOf(t, r, inst.ID) == api.StatusHealthy })
	t.Logf("Healthy %v after it started listening (%v after registering)", time.Since(listening), listening.Sub(registered))
	if got, _ := r.Get(inst.ID); got.Details != "" || got.LastSeen == nil {
		t.Fatalf("after it answered: details %q, lastSeen %v", got.Details, got.LastSeen)
	}
}

// After its start period, an instance that never answered is Unreachable like any other, and
// still probed often enough to be seen when it does start.
func TestStartPeriodEnds(t *testing.T) {
	r, _ := newReg(t, Options{ProbeInterval: time.Minute, StartPeriod: 200 * time.Millisecond})
	run(t, r)
	addr := stoppedAddr(t)
	inst := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://" + addr})
	eventually(t, 5*time.Second, "Unreachable after the start period", func() bool { return statusOf(t, r, inst.ID) == api.StatusUnreachable })
	if r.Table().Lookup("alice-svc").Routable() {
		t.Fatal("an Unreachable instance is routable")
	}
	ln := listen(t, addr)
	defer ln.Close()
	eventually(t, 10*time.Second, "Healthy after it listens", func() bool { return statusOf(t, r, inst.ID) == api.StatusHealthy })
}

// Registering with a TTL is not a heartbeat: the instance starts Unknown with no lastHeartbeat
// (it used to start Healthy, before anything had answered).
func TestRegisterWithTTLStartsUnknown(t *testing.T) {
	r, _ := newReg(t, Options{})
	inst := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311", HeartbeatTTL: "1m"})
	if inst.Status != api.StatusUnknown || inst.LastHeartbeat != nil || statusOf(t, r, inst.ID) != api.StatusUnknown {
		t.Fatalf("registered with a TTL: %+v", inst)
	}
	hb, err := r.Heartbeat(alice, inst.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if hb.Status != api.StatusHealthy || hb.LastHeartbeat == nil {
		t.Fatalf("after its first heartbeat (no probing): %+v", hb)
	}
}

func TestHealthPathErrorStatus(t *testing.T) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/health" {
			t.Errorf("probed %s, want /health", req.URL.Path)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	r, _ := newReg(t, Options{ProbeInterval: 30 * time.Millisecond})
	run(t, r)
	inst := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://" + ln.Addr().String(), HealthPath: "/health"})
	eventually(t, 10*time.Second, "503 health path gives Error", func() bool { return statusOf(t, r, inst.ID) == api.StatusError })
	if r.Table().Lookup("alice-svc").Routable() {
		t.Fatal("an Error instance is routable")
	}
	if d, _ := r.Get(inst.ID); !strings.Contains(d.Details, "503") {
		t.Errorf("details %q do not name the status", d.Details)
	}
}

func TestSlowProbeIsDegraded(t *testing.T) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		time.Sleep(60 * time.Millisecond)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	r, _ := newReg(t, Options{ProbeInterval: 30 * time.Millisecond, SlowProbe: 20 * time.Millisecond, ProbeTimeout: 2 * time.Second})
	run(t, r)
	inst := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://" + ln.Addr().String(), HealthPath: "/"})
	eventually(t, 10*time.Second, "slow instance Degraded", func() bool { return statusOf(t, r, inst.ID) == api.StatusDegraded })
	if !r.Table().Lookup("alice-svc").Routable() {
		t.Fatal("a Degraded instance is the only one and must stay routable")
	}
}

func TestHeartbeatTTL(t *testing.T) {
	r, _ := newReg(t, Options{Tick: 10 * time.Millisecond})
	run(t, r)
	inst := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	if inst.Status != api.StatusUnknown {
		t.Fatalf("status %s before any heartbeat, want Unknown", inst.Status)
	}
	hb, err := r.Heartbeat(alice, inst.ID, "200ms")
	if err != nil {
		t.Fatal(err)
	}
	if hb.Status != api.StatusHealthy || hb.HeartbeatTTL != "200ms" || hb.LastHeartbeat == nil {
		t.Fatalf("after a heartbeat: %+v", hb)
	}
	eventually(t, 10*time.Second, "missed heartbeats make it Unreachable", func() bool {
		return statusOf(t, r, inst.ID) == api.StatusUnreachable
	})
	if r.Table().Lookup("alice-svc").Routable() {
		t.Fatal("route still open after the TTL ran out")
	}
	if _, err := r.Heartbeat(alice, inst.ID, ""); err != nil {
		t.Fatal(err)
	}
	if statusOf(t, r, inst.ID) != api.StatusHealthy || !r.Table().Lookup("alice-svc").Routable() {
		t.Fatal("a heartbeat did not bring it back at once")
	}
	_, err = r.Heartbeat(alice, inst.ID, "soon")
	wantStatus(t, err, http.StatusBadRequest)
	_, err = r.Heartbeat(alice, "inst_nope", "")
	wantStatus(t, err, http.StatusNotFound)
}

func TestHeartbeatsAreWrittenInBatches(t *testing.T) {
	r, st := newReg(t, Options{FlushInterval: time.Hour})
	inst := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311", HeartbeatTTL: "1m"})
	before, err := st.GetInstance(inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	var last api.Instance
	for range 50 {
		time.Sleep(time.Millisecond)
		if last, err = r.Heartbeat(alice, inst.ID, ""); err != nil {
			t.Fatal(err)
		}
	}
	stored, _ := st.GetInstance(inst.ID)
	if !stored.LastBeat.Equal(before.LastBeat) {
		t.Fatal("a heartbeat was written to the store at once; beats must be batched")
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	stored, _ = st.GetInstance(inst.ID)
	if stored.LastHeartbeat == nil || !stored.LastHeartbeat.Equal(*last.LastHeartbeat) {
		t.Fatalf("after Flush the store has lastHeartbeat %v, want %v", stored.LastHeartbeat, last.LastHeartbeat)
	}
}

func TestStatePersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	r, err := New(st, Options{ProbeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	inst := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	seenUp(t, r, inst.ID)
	r.ReportDialFailure(inst.ID, nil)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st = openStore(t, dir)
	defer st.Close()
	r, err = New(st, Options{ProbeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Get(inst.ID)
	if err != nil || got.Status != api.StatusUnreachable || got.Slug != "alice-svc" {
		t.Fatalf("after restart: %+v, %v", got, err)
	}
	if rt := r.Table().Lookup("alice-svc"); rt == nil || rt.Routable() {
		t.Fatal("restored route should exist and not be routable")
	}
}

// Records stored before lastHeartbeat meant heartbeats only had the last passing probe in it.
// Loading them moves that time to lastSeen and keeps only an explicit beat as lastHeartbeat,
// so an upgraded server does not show a probe as a heartbeat forever.
func TestLegacyLastHeartbeatIsSplit(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	probed := time.Now().Add(-time.Minute).UTC().Round(time.Second)
	beat := probed.Add(-10 * time.Second)
	legacy := []store.InstanceRecord{
		{Instance: api.Instance{ID: "inst_probed", URL: "http://127.0.0.1:9311", Slug: "alice-svc", Status: api.StatusHealthy, LastHeartbeat: &probed}},
		{Instance: api.Instance{ID: "inst_beat", URL: "http://127.0.0.1:9312", Slug: "alice-svc", Status: api.StatusHealthy, LastHeartbeat: &probed}, LastBeat: beat},
	}
	for _, rec := range legacy {
		if err := st.PutInstance(rec); err != nil {
			t.Fatal(err)
		}
	}
	r, err := New(st, Options{ProbeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := r.Get("inst_probed")
	b, _ := r.Get("inst_beat")
	if p.LastHeartbeat != nil || p.LastSeen == nil || !p.LastSeen.Equal(probed) {
		t.Errorf("never beat: lastHeartbeat %v lastSeen %v, want none and %v", p.LastHeartbeat, p.LastSeen, probed)
	}
	if b.LastHeartbeat == nil || !b.LastHeartbeat.Equal(beat) || b.LastSeen == nil || !b.LastSeen.Equal(probed) {
		t.Errorf("beat: lastHeartbeat %v lastSeen %v, want %v and %v", b.LastHeartbeat, b.LastSeen, beat, probed)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	stored, err := st.GetInstance("inst_probed")
	st.Close()
	if err != nil || stored.HealthFormat != store.HealthFormatSplit || stored.LastHeartbeat != nil {
		t.Fatalf("converted record not written back: %+v, %v", stored, err)
	}
}

func TestUnreachableInstancesExpire(t *testing.T) {
	r, st := newReg(t, Options{InstanceExpiry: 100 * time.Millisecond, Tick: 10 * time.Millisecond})
	run(t, r)
	inst := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	keep := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9312"})
	seenUp(t, r, inst.ID)
	r.ReportDialFailure(inst.ID, nil)
	eventually(t, 10*time.Second, "expired instance removed", func() bool {
		_, err := r.Get(inst.ID)
		return err != nil
	})
	// Removed from memory first, then committed without the registry's lock.
	eventually(t, 10*time.Second, "expired instance removed from the store", func() bool {
		_, err := st.GetInstance(inst.ID)
		return err != nil
	})
	if _, err := r.Get(keep.ID); err != nil {
		t.Fatal("a routable instance expired")
	}
}

func TestRouteTiers(t *testing.T) {
	rt := newRoute([]Target{
		{ID: "u", Host: "u:1", Status: api.StatusUnknown},
		{ID: "h1", Host: "h1:1", Status: api.StatusHealthy},
		{ID: "d", Host: "d:1", Status: api.StatusDegraded},
		{ID: "x", Host: "x:1", Status: api.StatusUnreachable},
		{ID: "h2", Host: "h2:1", Status: api.StatusHealthy},
	})
	seen := map[string]int{}
	for range 100 {
		seen[rt.Pick().ID]++
	}
	if seen["h1"] != 50 || seen["h2"] != 50 || len(seen) != 2 {
		t.Fatalf("round-robin over Healthy gave %v", seen)
	}
	if alt := rt.Alternative("h1:1"); alt == nil || alt.ID != "h2" {
		t.Fatalf("alternative to h1: %+v", alt)
	}
	if rt.Find("x:1") != nil {
		t.Fatal("an Unreachable instance is in the route")
	}

	only := newRoute([]Target{{ID: "u", Host: "u:1", Status: api.StatusUnknown}, {ID: "d", Host: "d:1", Status: api.StatusDegraded}})
	if got := only.Pick(); got.ID != "d" {
		t.Fatalf("picked %s; Degraded must win over Unknown", got.ID)
	}
	if alt := only.Alternative("d:1"); alt == nil || alt.ID != "u" {
		t.Fatalf("a retry should fall back to the Unknown instance, got %+v", alt)
	}
	none := newRoute([]Target{{ID: "x", Status: api.StatusError}})
	if none.Routable() || none.Pick() != nil {
		t.Fatal("an Error-only route is routable")
	}
}

func TestStoppedInstanceRoutesToTheOther(t *testing.T) {
	r, _ := newReg(t, Options{})
	a := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	b := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9312"})
	seenUp(t, r, a.ID)
	r.ReportDialFailure(a.ID, nil)
	for range 10 {
		if got := r.Table().Lookup("alice-svc").Pick(); got == nil || got.ID != b.ID {
			t.Fatalf("picked %+v after %s failed", got, a.ID)
		}
	}
	// Without probing, a heartbeat is what brings an instance back.
	if _, err := r.Heartbeat(alice, a.ID, ""); err != nil {
		t.Fatal(err)
	}
	if statusOf(t, r, a.ID) != api.StatusHealthy {
		t.Fatalf("status %s after heartbeat", statusOf(t, r, a.ID))
	}
}

func TestReRegisteringWithoutProbingClearsAPassiveFailure(t *testing.T) {
	r, _ := newReg(t, Options{})
	a := register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	seenUp(t, r, a.ID)
	r.ReportDialFailure(a.ID, nil)
	if statusOf(t, r, a.ID) != api.StatusUnreachable {
		t.Fatal("dial failure did not mark it down")
	}
	register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	if got := statusOf(t, r, a.ID); got != api.StatusUnknown || !r.Table().Lookup("alice-svc").Routable() {
		t.Fatalf("after re-registering: %s", got)
	}
}

// A healthPath that no probe could ever send (control characters, CR/LF that would try to add a
// header, spaces, a fragment) is a 400 when it is registered (issue 11), not a probe that fails
// forever.
func TestBadHealthPathsAre400(t *testing.T) {
	r, _ := newReg(t, Options{})
	for _, p := range []string{
		"health", "/health\r\nX-Injected: 1", "/health\x00", "/he\x7flth", "/a b", "/tab\there",
		"/health#frag", "/" + strings.Repeat("h", 1024),
	} {
		_, err := r.Register(alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311", HealthPath: p})
		if apierr.Status(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "healthPath") {
			t.Errorf("healthPath %.60q: err %.80v, want a 400 naming healthPath", p, err)
		}
	}
	if got := r.List(Filter{}); len(got) != 0 {
		t.Fatalf("bad registrations left %d instances", len(got))
	}
	for _, p := range []string{"/", "/health", "/health?full=1", "/a%20b", "/caf\u00e9"} {
		if _, err := r.Register(alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311", HealthPath: p}); err != nil {
			t.Errorf("healthPath %q: %v", p, err)
		}
	}
}

// One account may register at most MaxInstances instances (issue 11: one account registered
// 11 000, all probed); updating one it has is still fine, removing one makes room, and admins
// are exempt (what they register for the slug counts towards its quota).
func TestInstanceQuota(t *testing.T) {
	r, _ := newReg(t, Options{MaxInstances: 3})
	var last api.Instance
	for i := range 3 {
		last = register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:" + strconv.Itoa(9100+i)})
	}
	overQuota := func(what, url string) {
		t.Helper()
		_, err := r.Register(alice, api.RegisterInstanceRequest{URL: url})
		if apierr.Status(err) != http.StatusForbidden || !strings.Contains(err.Error(), "--max-instances") {
			t.Fatalf("%s: %v, want a 403 naming --max-instances", what, err)
		}
	}
	overQuota("4th instance", "http://127.0.0.1:9200")
	register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9100", HealthPath: "/health"})
	register(t, r, alice, api.RegisterInstanceRequest{ID: last.ID, URL: "http://127.0.0.1:9300"})
	register(t, r, bob, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9400"})
	if err := r.Delete(alice, last.ID); err != nil {
		t.Fatal(err)
	}
	register(t, r, alice, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9600"})
	overQuota("4th instance after a removal and a registration", "http://127.0.0.1:9700")
	for i := range 5 {
		register(t, r, admin, api.RegisterInstanceRequest{URL: "http://127.0.0.1:" + strconv.Itoa(9500+i), Slug: "alice-svc"})
	}
	if got := len(r.List(Filter{Slug: "alice-svc"})); got != 8 {
		t.Fatalf("alice-svc has %d instances, want 8", got)
	}
}
