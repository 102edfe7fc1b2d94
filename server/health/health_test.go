package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

func TestThresholdsKeepOneLostProbeFromFlapping(t *testing.T) {
	now := time.Now()
	var s State
	pol := Policy{FailThreshold: 2, PassThreshold: 1}
	s.Observe(now, Result{Outcome: Pass}, pol)
	if got := s.Status(now); got != api.StatusHealthy {
		t.Fatalf("after a pass: %s, want Healthy", got)
	}
	s.Observe(now, Result{Outcome: Unreachable}, pol)
	if got := s.Status(now); got != api.StatusHealthy {
		t.Fatalf("after one failure: %s, want still Healthy", got)
	}
	s.Observe(now, Result{Outcome: Unreachable}, pol)
	if got := s.Status(now); got != api.StatusUnreachable {
		t.Fatalf("after two failures: %s, want Unreachable", got)
	}
	s.Observe(now, Result{Outcome: Pass}, pol)
	if got := s.Status(now); got != api.StatusHealthy {
		t.Fatalf("after one pass when down: %s, want Healthy", got)
	}
}

// The architecture promises two failed probes before an instance leaves rotation; an instance
// never seen up is no exception (it used to go down on its first failure).
func TestNeverSeenUpGoesDownOnSecondFailure(t *testing.T) {
	now := time.Now()
	var s State
	s.Observe(now, Result{Outcome: BadStatus}, Policy{})
	if got := s.Status(now); got != api.StatusUnknown {
		t.Fatalf("after one failure: %s, want still Unknown", got)
	}
	s.Observe(now, Result{Outcome: BadStatus}, Policy{})
	if got := s.Status(now); got != api.StatusError {
		t.Fatalf("after two failures: %s, want Error", got)
	}
}

// A service that registers before it listens fails its first probes and the proxy's first dials:
// during the start period that leaves it Unknown (routable as a last resort); after it, the
// thresholds apply as usual, and the first answer at any time makes it Healthy.
func TestStartPeriodKeepsANewInstanceUnknown(t *testing.T) {
	t0 := time.Now()
	pol := Policy{StartPeriod: time.Second}
	s := State{Start: t0}
	for i := range 5 {
		s.Observe(t0.Add(time.Duration(i)*100*time.Millisecond), Result{Outcome: Unreachable}, pol)
	}
	if s.DialFailed(t0.Add(600*time.Millisecond), pol) {
		t.Fatal("a dial failure in the start period took the instance down")
	}
	if got := s.Status(t0.Add(600 * time.Millisecond)); got != api.StatusUnknown || !s.Waiting() {
		t.Fatalf("in the start period after 6 failures: %s (waiting %v), want Unknown and waiting", got, s.Waiting())
	}
	late := t0.Add(1100 * time.Millisecond)
	s.Observe(late, Result{Outcome: Unreachable}, pol)
	if got := s.Status(late); got != api.StatusUnreachable {
		t.Fatalf("failing after the start period: %s, want Unreachable", got)
	}
	s.Observe(late, Result{Outcome: Pass}, pol)
	if got := s.Status(late); got != api.StatusHealthy || s.Waiting() || !s.LastSeen.Equal(late) {
		t.Fatalf("after its first answer: %s, waiting %v, last seen %v", got, s.Waiting(), s.LastSeen)
	}

	// Out of its start period, or once it has a verdict, a dial failure is down at once.
	up := State{Start: t0}
	up.Observe(t0, Result{Outcome: Pass}, pol)
	if !up.DialFailed(t0, pol) || up.Status(t0) != api.StatusUnreachable {
		t.Fatal("a dial failure on a Healthy instance did not take it down at once")
	}
}

// Registering with a TTL starts the TTL clock but is not a heartbeat: the instance is Unknown
// (it used to be reported Healthy before anything had answered) and lastHeartbeat stays unset.
func TestRegistrationWithTTLIsNotAHeartbeat(t *testing.T) {
	t0 := time.Now()
	var s State
	s.Expect(t0, time.Second)
	if got := s.Status(t0); got != api.StatusUnknown || !s.LastHeartbeat.IsZero() {
		t.Fatalf("after registering with a TTL: %s, last heartbeat %v; want Unknown and none", got, s.LastHeartbeat)
	}
	if got := s.Status(t0.Add(1001 * time.Millisecond)); got != api.StatusUnreachable {
		t.Fatalf("no heartbeat within the TTL: %s, want Unreachable", got)
	}
	s.Beat(t0.Add(time.Second), 0, true)
	if got := s.Status(t0.Add(time.Second)); got != api.StatusUnknown || !s.LastHeartbeat.Equal(t0.Add(time.Second)) {
		t.Fatalf("a heartbeat with probing on: %s, last heartbeat %v; want Unknown until a probe decides", got, s.LastHeartbeat)
	}
	if !s.LastSeen.IsZero() {
		t.Fatal("a heartbeat counted as a probe answer")
	}
}

func TestSlowPassIsDegradedAndDialFailureIsImmediate(t *testing.T) {
	now := time.Now()
	var s State
	s.Observe(now, Result{Outcome: Slow}, Policy{})
	if got := s.Status(now); got != api.StatusDegraded {
		t.Fatalf("status %s, want Degraded", got)
	}
	s.DialFailed(now, Policy{})
	if got := s.Status(now); got != api.StatusUnreachable {
		t.Fatalf("status %s after a dial failure, want Unreachable", got)
	}
}

func TestTTLExpiryOverridesProbes(t *testing.T) {
	t0 := time.Now()
	var s State
	s.Beat(t0, time.Second, true)
	s.Observe(t0, Result{Outcome: Pass}, Policy{})
	if got := s.Status(t0.Add(999 * time.Millisecond)); got != api.StatusHealthy {
		t.Fatalf("within TTL: %s, want Healthy", got)
	}
	if got := s.Status(t0.Add(1001 * time.Millisecond)); got != api.StatusUnreachable {
		t.Fatalf("past TTL: %s, want Unreachable even though probes pass", got)
	}
}

func TestBeatWithoutProbingClearsPassiveFailure(t *testing.T) {
	var s State
	s.DialFailed(time.Now(), Policy{})
	s.Beat(time.Now(), 0, false)
	if got := s.Status(time.Now()); got != api.StatusHealthy {
		t.Fatalf("status %s, want Healthy after a beat with probing off", got)
	}
}

func TestProbeTCPAndHTTP(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.WriteHeader(http.StatusNoContent)
		case "/moved":
			http.Redirect(w, r, "http://192.0.2.1/elsewhere", http.StatusFound)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer ok.Close()
	addr := ok.Listener.Addr().String()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	p := NewProber(2*time.Second, 0)
	ctx := context.Background()
	cases := []struct {
		c    Check
		want Outcome
	}{
		{Check{Scheme: "http", Addr: addr}, Pass},
		{Check{Scheme: "http", Addr: addr, Path: "/healthz"}, Pass},
		{Check{Scheme: "http", Addr: addr, Path: "/moved"}, Pass},
		{Check{Scheme: "http", Addr: addr, Path: "/broken"}, BadStatus},
		{Check{Scheme: "http", Addr: dead}, Unreachable},
		{Check{Scheme: "http", Addr: dead, Path: "/healthz"}, Unreachable},
	}
	for _, c := range cases {
		if got := p.Probe(ctx, c.c); got.Outcome != c.want {
			t.Errorf("probe %+v: outcome %d (%s), want %d", c.c, got.Outcome, got.Detail, c.want)
		}
	}
}

func TestSlowProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
	}))
	defer srv.Close()
	p := NewProber(2*time.Second, 10*time.Millisecond)
	res := p.Probe(context.Background(), Check{Scheme: "http", Addr: srv.Listener.Addr().String(), Path: "/"})
	if res.Outcome != Slow {
		t.Fatalf("outcome %d, want Slow", res.Outcome)
	}
}
