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

func TestNeverSeenUpGoesDownOnFirstFailure(t *testing.T) {
	var s State
	s.Observe(time.Now(), Result{Outcome: BadStatus}, Policy{})
	if got := s.Status(time.Now()); got != api.StatusError {
		t.Fatalf("status %s, want Error", got)
	}
}

func TestSlowPassIsDegradedAndDialFailureIsImmediate(t *testing.T) {
	now := time.Now()
	var s State
	s.Observe(now, Result{Outcome: Slow}, Policy{})
	if got := s.Status(now); got != api.StatusDegraded {
		t.Fatalf("status %s, want Degraded", got)
	}
	s.DialFailed()
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
	s.DialFailed()
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
