package instance_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmd/instance"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

func TestDescribeShowsWhyAndTransitions(t *testing.T) {
	t.Parallel()
	// A probe slower than half the interval is Degraded: at 50 ms a loaded CI machine made the
	// first probe Degraded and the transitions one longer than the test expects.
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = 500 * time.Millisecond })
	h := cmdtest.New(t, srv.URL)
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/describe-svc/fail" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer svc.Close()
	tok := srv.Register(t, "describe-svc", "describe-password-1")
	h.Vars["OO_TOKEN"] = tok
	var reg api.RegisterInstanceResponse
	if code := srv.Do(t, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: svc.URL, HealthPath: "/healthz", HeartbeatTTL: "1h"}, &reg); code/100 != 2 {
		t.Fatalf("register: HTTP %d", code)
	}
	id := reg.Instance.ID
	if code := srv.Do(t, http.MethodPut, api.HeartbeatPath(id), tok, api.HeartbeatRequest{}, nil); code/100 != 2 {
		t.Fatalf("heartbeat: HTTP %d", code)
	}
	srv.AwaitStatus(t, tok, id, api.StatusHealthy)
	// Two proxied requests, one answered 500.
	for _, p := range []string{"/describe-svc/ok", "/describe-svc/fail"} {
		rsp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		rsp.Body.Close()
	}
	svc.Close()
	srv.AwaitStatus(t, tok, id, api.StatusUnreachable)

	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "instance", "describe", id), "describe")
	for _, want := range []string{
		"ID:             " + id + "\n",
		"URL:            " + svc.URL,
		"Owner:          describe-svc\n",
		"Status:         Unreachable\n",
		"Health check:   GET /healthz\n",
		"Heartbeat TTL:  1h\n",
		"Requests:       2 since the server started, 1 errors (50.0%)\n",
		"Transitions:    last 2 of 2, oldest first\n",
		"Unknown -> Healthy  probe\n",
		"Healthy -> Unreachable  probe: ",
	} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("describe lacks %q:\n%s", want, r.Out)
		}
	}
	// Why: the probe's error, not a dash.
	for _, l := range strings.Split(r.Out, "\n") {
		if strings.HasPrefix(l, "Why:") && strings.TrimSpace(strings.TrimPrefix(l, "Why:")) == "-" {
			t.Errorf("an Unreachable instance without a reason: %q", l)
		}
		if strings.HasPrefix(l, "Last heartbeat:") && !strings.HasSuffix(l, "Z") {
			t.Errorf("piped, times are RFC 3339: %q", l)
		}
	}

	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "instance", "describe", id, "-o", "json"), "describe json")
	var d instance.Description
	if err := json.Unmarshal([]byte(r.Out), &d); err != nil {
		t.Fatal(err)
	}
	if d.Instance.ID != id || d.Instance.Details == "" || d.Instance.HeartbeatTTL != "1h" || d.Instance.LastHeartbeat == nil ||
		len(d.Transitions) != 2 || d.TransitionsTotal != 2 || d.Transitions[1].To != api.StatusUnreachable ||
		d.Traffic == nil || *d.Traffic != (api.InstanceTraffic{Requests: 2, Errors: 1}) {
		t.Fatalf("describe -o json: %+v", d)
	}

	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "instance", "describe", "inst_nope"), cmdutil.ExitNotFound, "inst_nope")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "instance", "describe"), cmdutil.ExitUsage)
}

func TestDescribeWithoutTransitions(t *testing.T) {
	t.Parallel()
	srv, h := adminHarness(t) // probing at its default interval: nothing changes within the test
	tok := srv.Register(t, "quiet-svc", "quiet-password-1")
	id := registerInstance(t, srv, tok, "http://127.0.0.1:9")
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "instance", "describe", id), "describe")
	for _, want := range []string{"Status:         Unknown\n", "Health check:   TCP connect (no health path)\n",
		"Heartbeat TTL:  none (probes alone decide)\n", "Last heartbeat: never\n",
		"Requests:       none since the server started\n"} {
		if !strings.Contains(r.Out, want) {
			t.Errorf("describe lacks %q:\n%s", want, r.Out)
		}
	}
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "instance", "describe", id, "-o", "json"), "json")
	if !strings.Contains(r.Out, `"transitions": []`) || !strings.Contains(r.Out, `"traffic": {`) {
		t.Errorf("no transitions is an empty list in JSON, traffic counts at zero: %s", r.Out)
	}
}

// A server that records no traffic (--metrics off) says so rather than showing zero.
func TestDescribeWithMetricsOff(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, func(c *server.Config) { c.Metrics = "off" })
	h := cmdtest.New(t, srv.URL)
	h.Vars["OO_TOKEN"] = srv.AdminToken(t)
	tok := srv.Register(t, "dark-svc", "dark-password-1")
	id := registerInstance(t, srv, tok, "http://127.0.0.1:9")
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "instance", "describe", id), "describe")
	if !strings.Contains(r.Out, "Requests:       not recorded (the server runs with --metrics off)\n") {
		t.Errorf("describe with metrics off:\n%s", r.Out)
	}
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "instance", "describe", id, "-o", "json"), "json")
	if !strings.Contains(r.Out, `"traffic": null`) {
		t.Errorf("describe -o json with metrics off: %s", r.Out)
	}
}
