package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// scrape reads /metrics from the server as a loopback client with the given token (may be
// empty) and parses it; it fails the test unless the answer is a 200.
func scrape(t *testing.T, s *servertest.Server, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+api.PathMetrics, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d", rsp.StatusCode)
	}
	if ct := rsp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the text exposition format", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(rsp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value is the value of the series of family name whose labels include want; -1 when absent.
// A histogram's value is its sample count.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func registerInstance(t *testing.T, s *servertest.Server, token, url string) string {
	t.Helper()
	var rsp api.HeartbeatResponse
	if code := s.Do(t, http.MethodPut, api.PathInstance, token, api.RegisterInstanceRequest{URL: url}, &rsp); code != http.StatusCreated {
		t.Fatalf("register %s: HTTP %d", url, code)
	}
	return rsp.Instance.ID
}

func TestMetricsExposeRegistryUsersAndStore(t *testing.T) {
	s := servertest.Start(t, func(c *server.Config) {
		c.ProbeInterval = 500 * time.Millisecond
		c.LoginFailures = 1
	})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()

	token := s.Register(t, "alice", "alice-password")
	for _, want := range []int{http.StatusUnauthorized, http.StatusTooManyRequests} {
		if code := s.Do(t, http.MethodPost, api.PathLogin, "", api.LoginRequest{Slug: "alice", Password: "wrong-password"}, nil); code != want {
			t.Fatalf("wrong password: HTTP %d, want %d", code, want)
		}
	}
	id := registerInstance(t, s, token, backend.URL)
	if code := s.Do(t, http.MethodPut, api.HeartbeatPath(id), token, api.HeartbeatRequest{}, nil); code != http.StatusOK {
		t.Fatalf("heartbeat: HTTP %d", code)
	}
	s.AwaitStatus(t, token, id, api.StatusHealthy)

	fams := scrape(t, s, "") // a loopback client needs no token by default
	inst := map[string]string{"slug": "alice", "instance": id}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"oo_registry_instances", map[string]string{"status": "Healthy"}, 1},
		{"oo_registry_instances", map[string]string{"status": "Unreachable"}, 0},
		{"oo_registry_slugs", nil, 1},
		{"oo_registry_registrations_total", nil, 1},
		{"oo_registry_heartbeats_total", nil, 1},
		{"oo_registry_probing", nil, 1},
		{"oo_instance_status", map[string]string{"slug": "alice", "instance": id, "status": "Healthy"}, 1},
		{"oo_instance_status", map[string]string{"slug": "alice", "instance": id, "status": "Unknown"}, 0},
		{"oo_instance_up", inst, 1},
		{"oo_instance_transitions_total", inst, 1}, // Unknown → Healthy
		{"oo_user_logins_total", map[string]string{"outcome": "rejected"}, 1},
		{"oo_user_logins_total", map[string]string{"outcome": "throttled"}, 1},
		{"oo_user_logins_total", map[string]string{"outcome": "success"}, 0},
		{"oo_user_throttled_requests_total", map[string]string{"limit": "login_address"}, 1},
	} {
		if got := value(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, op := range []string{"create_user", "write_instances", "put_token"} {
		if n := value(fams, "oo_store_write_duration_seconds", map[string]string{"op": op}); n < 1 {
			t.Errorf("oo_store_write_duration_seconds{op=%q} counted %v writes, want at least 1", op, n)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("%s missing: the Go and process collectors are not registered", name)
		}
	}

	// The instance goes down: its series say so, and its transitions say why.
	backend.Close()
	s.AwaitStatus(t, token, id, api.StatusUnreachable)
	fams = scrape(t, s, "")
	if got := value(fams, "oo_instance_up", inst); got != 0 {
		t.Errorf("oo_instance_up of a dead instance = %v", got)
	}
	if got := value(fams, "oo_instance_transitions_total", inst); got < 2 {
		t.Errorf("oo_instance_transitions_total = %v after going down, want at least 2", got)
	}
	var tr api.InstanceTransitions
	if code := s.Do(t, http.MethodGet, api.TransitionsPath(id), token, nil, &tr); code != http.StatusOK {
		t.Fatalf("transitions: HTTP %d", code)
	}
	if len(tr.Transitions) < 2 || tr.Total != uint64(len(tr.Transitions)) {
		t.Fatalf("transitions %+v", tr)
	}
	first, last := tr.Transitions[0], tr.Transitions[len(tr.Transitions)-1]
	if first.From != api.StatusUnknown || first.To != api.StatusHealthy || first.Reason != "probe" || first.At.IsZero() {
		t.Errorf("first transition %+v, want Unknown → Healthy by probe", first)
	}
	if last.To != api.StatusUnreachable || last.Details == "" || last.At.Before(first.At) {
		t.Errorf("last transition %+v, want → Unreachable with the probe's error, after the first", last)
	}
	if code := s.Do(t, http.MethodGet, api.TransitionsPath("no-such-id"), token, nil, nil); code != http.StatusNotFound {
		t.Errorf("transitions of an unknown instance: HTTP %d", code)
	}
}

// TestMetricsAccess holds each --metrics mode to who may read /metrics. The handler is called
// directly so that a request can come from a non-loopback address.
func TestMetricsAccess(t *testing.T) {
	for _, c := range []struct {
		mode                              string
		localAnon, remoteAnon, remoteUser int
		remoteAdmin                       int
	}{
		{server.MetricsLocal, 200, 401, 403, 200},
		{server.MetricsOpen, 200, 200, 200, 200},
		{server.MetricsAdmin, 401, 401, 403, 200},
		{server.MetricsOff, 404, 404, 404, 404},
	} {
		t.Run(c.mode, func(t *testing.T) {
			s := servertest.Start(t, func(cfg *server.Config) { cfg.Metrics = c.mode; cfg.ProbeInterval = -1 })
			user, admin := s.Register(t, "alice", "alice-password"), s.AdminToken(t)
			for _, r := range []struct {
				name, from, token string
				want              int
			}{
				{"loopback without a token", "127.0.0.1:40000", "", c.localAnon},
				{"remote without a token", "192.0.2.7:40000", "", c.remoteAnon},
				{"remote with a user token", "192.0.2.7:40000", user, c.remoteUser},
				{"remote with an admin token", "192.0.2.7:40000", admin, c.remoteAdmin},
			} {
				req := httptest.NewRequest(http.MethodGet, api.PathMetrics, nil)
				req.RemoteAddr = r.from
				if r.token != "" {
					req.Header.Set("Authorization", "Bearer "+r.token)
				}
				w := httptest.NewRecorder()
				s.Server().Handler().ServeHTTP(w, req)
				if w.Code != r.want {
					t.Errorf("%s: HTTP %d, want %d", r.name, w.Code, r.want)
				}
				if w.Code == 200 && !strings.Contains(w.Body.String(), "oo_registry_instances") {
					t.Errorf("%s: 200 without the metrics", r.name)
				}
			}
		})
	}
}

func TestMetricsModeIsValidated(t *testing.T) {
	cfg := quietConfig(t.TempDir())
	cfg.Metrics = "public"
	if _, err := server.New(cfg); err == nil || !strings.Contains(err.Error(), "--metrics") {
		t.Fatalf("server.New with --metrics public: %v", err)
	}
}

func TestServerStatus(t *testing.T) {
	s := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = 500 * time.Millisecond; c.Version = "v1.2.3" })
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	token := s.Register(t, "alice", "alice-password")
	id := registerInstance(t, s, token, backend.URL)
	s.AwaitStatus(t, token, id, api.StatusHealthy)

	if code := s.Do(t, http.MethodGet, api.PathServerStatus, "", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("status without a token: HTTP %d", code)
	}
	var st api.ServerStatus
	if code := s.Do(t, http.MethodGet, api.PathServerStatus, token, nil, &st); code != http.StatusOK {
		t.Fatalf("status: HTTP %d", code)
	}
	if st.Version != "v1.2.3" || st.Users != 2 || st.Slugs != 1 || st.Metrics != "local" ||
		!strings.Contains(st.Store, server.DBFile) || st.StartedAt.IsZero() || st.UptimeSeconds < 0 {
		t.Errorf("status %+v", st)
	}
	if st.Instances[api.StatusHealthy] != 1 || len(st.Instances) != len(api.Statuses) {
		t.Errorf("instances by status %v, want every status and one Healthy", st.Instances)
	}
	if !st.Probing.Enabled || !st.Probing.Here || st.Probing.IntervalSeconds != 0.5 {
		t.Errorf("probing %+v", st.Probing)
	}
}
