package top

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
)

var fixed = time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC)

func sample() *api.TopResponse {
	return &api.TopResponse{Window: "10s", Slugs: []api.SlugTop{
		{Slug: "alpha", RPS: 1, P50Ms: 2, P99Ms: 50, ErrorRate: 0.5, InFlight: 0, Healthy: 1, Instances: 1},
		{Slug: "bravo", RPS: 30, P50Ms: 1, P99Ms: 5, ErrorRate: 0, InFlight: 7, Healthy: 2, Instances: 2},
		{Slug: "charlie", RPS: 5, P50Ms: 9, P99Ms: 900, ErrorRate: 0.01, InFlight: 2, Healthy: 0, Instances: 3},
	}}
}

// slugOrder is the order the slugs appear in a frame.
func slugOrder(frame string) string {
	var got []string
	for _, line := range strings.Split(frame, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == "alpha" || f[0] == "bravo" || f[0] == "charlie") {
			got = append(got, f[0])
		}
	}
	return strings.Join(got, " ")
}

func TestRenderSorts(t *testing.T) {
	cases := []struct {
		key    sortKey
		order  string
		marked string
	}{
		{byRPS, "bravo charlie alpha", "▼REQ/S"},
		{byP99, "charlie alpha bravo", "▼P99"},
		{byErrors, "alpha charlie bravo", "▼ERR%"},
		{byInFlight, "bravo charlie alpha", "▼IN-FLIGHT"},
		{byHealthy, "charlie alpha bravo", "▼HEALTHY"},
		{byName, "alpha bravo charlie", "▼SLUG"},
	}
	for _, c := range cases {
		out := render(view{target: "http://x", top: sample(), sortBy: c.key, now: fixed}, styles{}, 100, 20)
		if got := slugOrder(out); got != c.order {
			t.Errorf("sort %s: order %q, want %q\n%s", sortNames[c.key], got, c.order, out)
		}
		if strings.Count(out, "▼") != 1 || !strings.Contains(out, c.marked) {
			t.Errorf("sort %s: header should mark only %s:\n%s", sortNames[c.key], c.marked, out)
		}
	}
}

func TestRenderFitsTheWindow(t *testing.T) {
	top := sample()
	top.Slugs[0].Slug = strings.Repeat("a-very-long-slug-", 10)
	for i := range 30 {
		top.Slugs = append(top.Slugs, api.SlugTop{Slug: "extra-" + string(rune('a'+i%26)) + string(rune('a'+i/26))})
	}
	for _, size := range [][2]int{{40, 10}, {80, 24}, {25, 6}} {
		out := render(view{target: "http://127.0.0.1:9000/a/long/url", top: top, now: fixed}, styles{}, size[0], size[1])
		lines := strings.Split(out, "\n")
		if len(lines) != size[1] {
			t.Errorf("%dx%d: %d lines", size[0], size[1], len(lines))
		}
		for _, l := range lines {
			if n := len([]rune(l)); n > size[0] {
				t.Errorf("%dx%d: line of %d runes: %q", size[0], size[1], n, l)
			}
		}
		if !strings.Contains(out, " more (make") {
			t.Errorf("%dx%d: no note of the rows left out:\n%s", size[0], size[1], out)
		}
		if !strings.HasPrefix(lines[len(lines)-1], "q: quit") {
			t.Errorf("%dx%d: footer missing:\n%s", size[0], size[1], out)
		}
	}
	wide := render(view{top: top, now: fixed}, styles{}, 200, 50)
	if !strings.Contains(wide, "…") {
		t.Errorf("the long slug should be cut with …:\n%s", wide)
	}
}

func TestRenderEmptyWaitingMetricsOffAndErrors(t *testing.T) {
	out := render(view{top: &api.TopResponse{Window: "10s"}, now: fixed}, styles{}, 80, 10)
	if !strings.Contains(out, "no slugs: no instances registered") {
		t.Errorf("empty: %s", out)
	}
	out = render(view{now: fixed}, styles{}, 80, 10)
	if !strings.Contains(out, "waiting for the first answer") {
		t.Errorf("before the first answer: %s", out)
	}
	off := sample()
	off.MetricsOff = true
	out = render(view{top: off, now: fixed}, styles{}, 120, 10)
	if !strings.Contains(out, "metrics are off on this server") || slugOrder(out) == "" {
		t.Errorf("metricsOff: %s", out)
	}
	out = render(view{top: sample(), status: "cannot reach http://x: connection refused", now: fixed}, styles{}, 120, 10)
	if !strings.Contains(strings.Split(out, "\n")[1], "connection refused (retrying every second)") || slugOrder(out) == "" {
		t.Errorf("an error goes on the status line and the last figures stay:\n%s", out)
	}
}

// keysThen gives keys, then blocks until ctx ends (a terminal nobody types on any more).
type keysThen struct {
	keys string
	ctx  context.Context
	done atomic.Bool
}

func (k *keysThen) Read(p []byte) (int, error) {
	if !k.done.Swap(true) {
		return copy(p, k.keys), nil
	}
	<-k.ctx.Done()
	return 0, k.ctx.Err()
}

// atomicBuf is a strings.Builder safe to read while the loop writes.
type atomicBuf struct {
	b    strings.Builder
	lock chan struct{}
}

func newBuf() *atomicBuf { return &atomicBuf{lock: make(chan struct{}, 1)} }

func (a *atomicBuf) Write(p []byte) (int, error) {
	a.lock <- struct{}{}
	defer func() { <-a.lock }()
	return a.b.Write(p)
}

func (a *atomicBuf) String() string {
	a.lock <- struct{}{}
	defer func() { <-a.lock }()
	return a.b.String()
}

func runLoop(t *testing.T, ctx context.Context, keys string, fetch func(context.Context) (*api.TopResponse, error)) (string, error) {
	t.Helper()
	out := newBuf()
	kctx, stop := context.WithCancel(context.Background())
	defer stop()
	term := terminal{keys: &keysThen{keys: keys, ctx: kctx}, out: out, size: func() (int, int) { return 100, 20 }}
	src := source{fetch: fetch, target: "http://x", interval: 100 * time.Millisecond, now: func() time.Time { return fixed },
		explain: func(err error) string { return err.Error() }}
	done := make(chan error, 1)
	go func() { done <- loop(ctx, term, src) }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(10 * time.Second):
		t.Fatalf("the loop did not end; output so far:\n%q", out.String())
	}
	return "", nil
}

func assertRestored(t *testing.T, out string) {
	t.Helper()
	if !strings.HasPrefix(out, enterScreen) {
		t.Errorf("should enter the alternate screen first: %q", out[:min(len(out), 40)])
	}
	if !strings.HasSuffix(out, leaveScreen) {
		t.Errorf("should end by showing the cursor and leaving the alternate screen: %q", out[max(0, len(out)-40):])
	}
}

func TestLoopQuitsOnQAndRestores(t *testing.T) {
	var calls atomic.Int32
	fetch := func(context.Context) (*api.TopResponse, error) { calls.Add(1); return sample(), nil }
	// n sorts by name before q quits: the last frame drawn must show that.
	out, err := runLoop(t, context.Background(), "nq", fetch)
	if err != nil {
		t.Fatal(err)
	}
	assertRestored(t, out)
	if !strings.Contains(out, "▼SLUG") {
		t.Errorf("the n key should have sorted by slug:\n%q", out)
	}
}

func TestLoopQuitsOnCtrlCAndOnCancel(t *testing.T) {
	fetch := func(context.Context) (*api.TopResponse, error) { return sample(), nil }
	out, err := runLoop(t, context.Background(), "\x03", fetch)
	if err != nil {
		t.Fatal(err)
	}
	assertRestored(t, out)

	// SIGTERM reaches the loop as the end of its context.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	out, err = runLoop(t, ctx, "\t", fetch)
	if err != nil {
		t.Fatal(err)
	}
	assertRestored(t, out)
	if !strings.Contains(out, "▼P99") {
		t.Errorf("Tab after req/s should sort by p99:\n%q", out)
	}
}

func TestLoopShowsErrorsAndStopsOnAuth(t *testing.T) {
	var calls atomic.Int32
	unreachable := errors.New("cannot reach http://x: connection refused")
	auth := &authErr{}
	fetch := func(context.Context) (*api.TopResponse, error) {
		if calls.Add(1) < 3 {
			return nil, unreachable
		}
		return nil, auth
	}
	out, err := runLoop(t, context.Background(), "", fetch)
	if !errors.Is(err, auth) {
		t.Fatalf("an auth error should end the loop: %v", err)
	}
	if !strings.Contains(out, "connection refused (retrying every second)") {
		t.Errorf("the unreachable server should show in the status line:\n%q", out)
	}
	if calls.Load() != 3 {
		t.Errorf("fetched %d times, want 3 (two retries, then the auth error)", calls.Load())
	}
	assertRestored(t, out)
}

// authErr stands for the client's 401.
type authErr struct{}

func (*authErr) Error() string   { return "401 unauthorized" }
func (*authErr) StatusCode() int { return 401 }
