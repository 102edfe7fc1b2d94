// Package health decides whether an instance is up: it runs one probe (TCP connect, or an HTTP
// GET when the instance names a health path) and folds probes, heartbeats and the proxy's dial
// failures into one status with fail/pass thresholds, so one slow or lost probe does not flap a
// route. Scheduling probes is the registry's job; this package holds no goroutines.
package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

// Check names what to probe.
type Check struct {
	Scheme string // "http" or "https"
	Addr   string // host:port, port always explicit
	Path   string // when set, GET Scheme://Addr/Path; otherwise a TCP connect
}

// Outcome classifies one probe.
type Outcome int

const (
	Pass        Outcome = iota // answered in time
	Slow                       // answered, but slower than the prober's Slow bound
	Unreachable                // could not connect, or no answer before the timeout
	BadStatus                  // connected, but the health path answered outside 2xx/3xx
)

// Result is one probe's outcome.
type Result struct {
	Outcome Outcome
	Took    time.Duration
	Detail  string // why it failed; empty on Pass
}

// Prober runs probes. It is safe for concurrent use.
type Prober struct {
	timeout time.Duration
	slow    time.Duration
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	client  *http.Client
}

// NewProber makes a prober whose probes give up after timeout and count as Slow beyond slow
// (slow <= 0 disables Degraded).
func NewProber(timeout, slow time.Duration) *Prober {
	p := &Prober{timeout: timeout, slow: slow, dial: (&net.Dialer{}).DialContext}
	p.client = &http.Client{
		// No keep-alive: a probe must see a restarted process on a fresh connection, and
		// holding one idle connection per instance buys nothing at one probe per interval.
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       func(ctx context.Context, network, addr string) (net.Conn, error) { return p.dial(ctx, network, addr) },
			DisableKeepAlives: true,
		},
		// A redirect is an answer: the instance is up. Following it could probe someone else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p
}

// UseDial makes every probe connect with dial (the server's target policy wraps it) and
// returns p. Call it before the first probe.
func (p *Prober) UseDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *Prober {
	p.dial = dial
	return p
}

// Probe checks c once, bounded by the prober's timeout and ctx.
func (p *Prober) Probe(ctx context.Context, c Check) Result {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := time.Now()
	var res Result
	if c.Path == "" {
		res = p.tcp(ctx, c)
	} else {
		res = p.http(ctx, c)
	}
	res.Took = time.Since(start)
	if res.Outcome == Pass && p.slow > 0 && res.Took > p.slow {
		res.Outcome = Slow
		res.Detail = fmt.Sprintf("health check took %s (slow above %s)", res.Took.Round(time.Millisecond), p.slow)
	}
	return res
}

func (p *Prober) tcp(ctx context.Context, c Check) Result {
	conn, err := p.dial(ctx, "tcp", c.Addr)
	if err != nil {
		return Result{Outcome: Unreachable, Detail: describe(err)}
	}
	conn.Close()
	return Result{Outcome: Pass}
}

func (p *Prober) http(ctx context.Context, c Check) Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Scheme+"://"+c.Addr+c.Path, nil)
	if err != nil {
		return Result{Outcome: BadStatus, Detail: "bad health path: " + err.Error()}
	}
	req.Header.Set("User-Agent", "oo-health")
	rsp, err := p.client.Do(req)
	if err != nil {
		return Result{Outcome: Unreachable, Detail: describe(err)}
	}
	// Drain a little so the server is not cut off mid-write; the body itself means nothing.
	_, _ = io.CopyN(io.Discard, rsp.Body, 4<<10)
	rsp.Body.Close()
	if rsp.StatusCode >= 200 && rsp.StatusCode < 400 {
		return Result{Outcome: Pass}
	}
	return Result{Outcome: BadStatus, Detail: fmt.Sprintf("GET %s answered %d", c.Path, rsp.StatusCode)}
}

func describe(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "health check timed out"
	}
	return err.Error()
}

// Policy holds the thresholds that keep one bad probe from flapping a route.
type Policy struct {
	FailThreshold int // consecutive failures that take an instance down; default 2
	PassThreshold int // consecutive passes that bring a down instance back; default 1
	// StartPeriod is how long after State.Start an instance that has never answered stays
	// Unknown whatever its probes say: a service may register before it listens. 0: none.
	StartPeriod time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.FailThreshold <= 0 {
		p.FailThreshold = 2
	}
	if p.PassThreshold <= 0 {
		p.PassThreshold = 1
	}
	return p
}

// State is one instance's health as seen by probes, heartbeats and the proxy.
type State struct {
	// Verdict is the verdict of probes, proxy reports and (without probing) heartbeats:
	// Unknown until the first one.
	Verdict api.InstanceStatus
	Fails   int
	Passes  int
	// Start is when the instance was last registered (or, after a restart, loaded): the start
	// of its start period, and what LastSeen is compared with to tell whether the process
	// registered now has answered yet.
	Start time.Time
	// LastBeat starts the TTL clock: the last heartbeat, or the registration that set the TTL.
	// Zero when neither happened.
	LastBeat time.Time
	// TTL, when set, makes the instance Unreachable once LastBeat is older than it.
	TTL time.Duration
	// LastHeartbeat is the last heartbeat the instance sent (the wire's lastHeartbeat); zero
	// when it never sent one. Registration is not a heartbeat.
	LastHeartbeat time.Time
	// LastSeen is the last probe the instance answered in time (Pass or Slow).
	LastSeen time.Time
}

func isDown(s api.InstanceStatus) bool {
	return s == api.StatusUnreachable || s == api.StatusError
}

// Observe folds one probe result in.
func (s *State) Observe(now time.Time, r Result, pol Policy) {
	pol = pol.withDefaults()
	switch r.Outcome {
	case Pass, Slow:
		s.Fails = 0
		s.Passes++
		s.LastSeen = now
		up := api.StatusHealthy
		if r.Outcome == Slow {
			up = api.StatusDegraded
		}
		if !isDown(s.Verdict) || s.Passes >= pol.PassThreshold {
			s.Verdict = up
		}
	default:
		s.Passes = 0
		s.Fails++
		if s.Starting(now, pol) {
			return // not listening yet is what starting looks like, not a failure
		}
		down := api.StatusUnreachable
		if r.Outcome == BadStatus {
			down = api.StatusError
		}
		// Only an instance already down goes (or stays) down on one failure: a healthy one,
		// and one never seen up, ride out a single lost probe.
		if isDown(s.Verdict) || s.Fails >= pol.FailThreshold {
			s.Verdict = down
		}
	}
}

// Starting reports whether the instance is in its start period: it has no verdict yet, and
// less than pol.StartPeriod has passed since Start. Failures then leave it Unknown.
func (s *State) Starting(now time.Time, pol Policy) bool {
	return !s.hasVerdict() && !s.Start.IsZero() && now.Sub(s.Start) < pol.StartPeriod
}

// Waiting reports whether the process registered at Start has not answered a probe yet, so
// it is worth probing again soon rather than an interval later.
func (s *State) Waiting() bool { return s.LastSeen.Before(s.Start) }

// Confirming reports a failed probe on an instance still counted up: the failure threshold is
// not reached yet, so the next probe decides whether it goes down.
func (s *State) Confirming() bool { return s.Fails > 0 && !isDown(s.Verdict) }

// DialFailed records that the proxy could not connect. An instance in its start period stays
// Unknown (it has not started listening yet); any other is down at once, since a refused
// connection is not the kind of failure a threshold should smooth over. It reports whether the
// instance went down.
func (s *State) DialFailed(now time.Time, pol Policy) bool {
	s.Passes = 0
	s.Fails++
	if s.Starting(now, pol) {
		return false
	}
	s.Verdict = api.StatusUnreachable
	return true
}

// Beat records a heartbeat. ttl > 0 replaces the TTL. Without active probing the beat is the
// only evidence of life, so it makes the instance Healthy (clearing, say, a proxy dial
// failure); with probing, the probe the registry schedules next decides.
func (s *State) Beat(now time.Time, ttl time.Duration, probing bool) {
	s.LastBeat = now
	s.LastHeartbeat = now
	if ttl > 0 {
		s.TTL = ttl
	}
	if !probing {
		s.Verdict = api.StatusHealthy
		s.Fails = 0
	}
}

// Expect starts the TTL clock at registration: a heartbeat is due within ttl of now. Unlike
// Beat it is no evidence that the instance is up.
func (s *State) Expect(now time.Time, ttl time.Duration) {
	s.LastBeat = now
	s.TTL = ttl
}

// hasVerdict reports whether any probe, proxy report or probe-less heartbeat has been folded
// in; the zero State has none.
func (s *State) hasVerdict() bool {
	return s.Verdict != "" && s.Verdict != api.StatusUnknown
}

// Expired reports whether a TTL is set and the last beat is older than it.
func (s *State) Expired(now time.Time) bool {
	return s.TTL > 0 && !s.LastBeat.IsZero() && now.Sub(s.LastBeat) > s.TTL
}

// Status is the status clients see and routing uses at time now.
func (s *State) Status(now time.Time) api.InstanceStatus {
	switch {
	case s.Expired(now):
		return api.StatusUnreachable
	case s.hasVerdict():
		return s.Verdict
	default:
		return api.StatusUnknown
	}
}
