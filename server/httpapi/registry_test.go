package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// regStart runs a server whose health probes run every probe (negative: off).
func regStart(t *testing.T, probe time.Duration, mutate ...func(*server.Config)) *servertest.Server {
	t.Helper()
	return servertest.Start(t, append([]func(*server.Config){func(c *server.Config) { c.ProbeInterval = probe }}, mutate...)...)
}

// regBackend serves an echo of what it received (path, query, a few headers) on a loopback
// listener at addr ("127.0.0.1:0" for any port) until stopped.
type regBackend struct {
	URL  string
	Addr string
	srv  *http.Server
}

func regServe(t *testing.T, addr string) *regBackend {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := &regBackend{URL: "http://" + ln.Addr().String(), Addr: ln.Addr().String()}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"path":          r.URL.Path,
			"query":         r.URL.RawQuery,
			"xForwardedFor": r.Header.Get("X-Forwarded-For"),
			"authorization": r.Header.Get("Authorization"),
			"requestId":     r.Header.Get("X-Request-Id"),
		})
	})}
	go b.srv.Serve(ln)
	t.Cleanup(b.stop)
	return b
}

// stop ends the backend like a process exit: listener and connections closed at once.
func (b *regBackend) stop() { b.srv.Close() }

type regResult struct {
	status int
	header http.Header
	body   []byte
}

func regCall(t *testing.T, s *servertest.Server, method, path, token string, body any) regResult {
	t.Helper()
	return regCallH(t, s, method, path, token, body, nil)
}

// extrasHeader asks for oo's extensions, as oo's own client does.
var extrasHeader = http.Header{api.HeaderPrefer: {api.PreferExtras}}

// regCallH is regCall with extra request headers.
func regCallH(t *testing.T, s *servertest.Server, method, path, token string, body any, hdr http.Header) regResult {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	raw, _ := io.ReadAll(rsp.Body)
	return regResult{status: rsp.StatusCode, header: rsp.Header, body: raw}
}

func (r regResult) errMsg(t *testing.T) string {
	t.Helper()
	var e api.ErrorResponse
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		t.Fatalf("HTTP %d body %q is not a JSON error", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
	return e.Error
}

func regPut(t *testing.T, s *servertest.Server, token string, req api.RegisterInstanceRequest) (api.Instance, regResult) {
	t.Helper()
	res := regCall(t, s, http.MethodPut, api.PathInstance, token, req)
	var out api.RegisterInstanceResponse
	if res.status == http.StatusCreated {
		if err := json.Unmarshal(res.body, &out); err != nil || out.Instance == nil {
			t.Fatalf("201 body %q: %v", res.body, err)
		}
		return *out.Instance, res
	}
	return api.Instance{}, res
}

func regList(t *testing.T, s *servertest.Server, token, query string) []api.Instance {
	t.Helper()
	return regListH(t, s, token, query, nil)
}

func regListH(t *testing.T, s *servertest.Server, token, query string, hdr http.Header) []api.Instance {
	t.Helper()
	res := regCallH(t, s, http.MethodGet, api.PathInstances+query, token, nil, hdr)
	if res.status != http.StatusOK {
		t.Fatalf("list: HTTP %d %s", res.status, res.body)
	}
	var out api.ListInstancesResponse
	if err := json.Unmarshal(res.body, &out); err != nil {
		t.Fatal(err)
	}
	return out.Instances
}

func regStatus(t *testing.T, s *servertest.Server, token, id string) api.InstanceStatus {
	t.Helper()
	list := regList(t, s, token, "?id="+url.QueryEscape(id))
	if len(list) != 1 {
		t.Fatalf("instance %s: %d listed", id, len(list))
	}
	return list[0].Status
}

func regEventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func regGet(t *testing.T, rawURL string, hdr ...string) regResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	raw, _ := io.ReadAll(rsp.Body)
	return regResult{status: rsp.StatusCode, header: rsp.Header, body: raw}
}

// TestRegSeedFlow is the reference document's first service: a service account registers its
// URL and is reached through the server with path and query intact.
func TestRegSeedFlow(t *testing.T) {
	s := regStart(t, 100*time.Millisecond)
	tok := s.Register(t, "py-svc", "py-svc-password-1234")
	backend := regServe(t, "127.0.0.1:0")

	inst, res := regPut(t, s, tok, api.RegisterInstanceRequest{URL: backend.URL})
	if res.status != http.StatusCreated || res.header.Get("Content-Type") != "application/json" {
		t.Fatalf("register: HTTP %d %q %s", res.status, res.header.Get("Content-Type"), res.body)
	}
	if !strings.HasPrefix(inst.ID, "inst_") || inst.URL != backend.URL || inst.Slug != "py-svc" {
		t.Fatalf("registered %+v", inst)
	}
	// A live service is probed at once, not after a full interval.
	regEventually(t, 10*time.Second, "Healthy", func() bool { return regStatus(t, s, tok, inst.ID) == api.StatusHealthy })

	got := regGet(t, s.URL+"/py-svc/echo?a=1&b=two", "Authorization", "Bearer abc", "X-Request-Id", "seed-1")
	if got.status != http.StatusOK {
		t.Fatalf("through the proxy: HTTP %d %s", got.status, got.body)
	}
	var seen map[string]string
	if err := json.Unmarshal(got.body, &seen); err != nil {
		t.Fatal(err)
	}
	if seen["path"] != "/py-svc/echo" || seen["query"] != "a=1&b=two" {
		t.Fatalf("backend saw path %q query %q", seen["path"], seen["query"])
	}
	if seen["xForwardedFor"] == "" || seen["authorization"] != "Bearer abc" || seen["requestId"] != "seed-1" {
		t.Fatalf("forwarded headers: %v", seen)
	}
	if got.header.Get("X-Request-Id") != "seed-1" {
		t.Fatalf("X-Request-Id not echoed: %q", got.header.Get("X-Request-Id"))
	}

	// Without a request id the server makes one, and the backend and client see the same.
	got = regGet(t, s.URL+"/py-svc/echo")
	json.Unmarshal(got.body, &seen)
	if id := got.header.Get("X-Request-Id"); id == "" || id != seen["requestId"] {
		t.Fatalf("generated request id: client %q, backend %q", id, seen["requestId"])
	}

	// Another user sees the instance too (listing is open to any token). lastHeartbeat is what
	// the service sent, so this one, which never sent a heartbeat, has none; lastSeen is when a
	// probe last got an answer (an extra).
	other := s.Register(t, "viewer", "viewer-password-1234")
	list := regListH(t, s, other, "?slug=py-svc", extrasHeader)
	if len(list) != 1 || list[0].LastHeartbeat != nil || list[0].LastSeen == nil || list[0].Status != api.StatusHealthy {
		t.Fatalf("listed %+v", list)
	}
}

func TestRegOwnership(t *testing.T) {
	s := regStart(t, -1)
	owner := s.Register(t, "owner-svc", "owner-password-1234")
	mallory := s.Register(t, "mallory", "mallory-password-1")
	admin := s.AdminToken(t)

	inst, res := regPut(t, s, owner, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	if res.status != http.StatusCreated {
		t.Fatalf("HTTP %d %s", res.status, res.body)
	}

	_, res = regPut(t, s, mallory, api.RegisterInstanceRequest{URL: "HTTP://127.0.0.1:9311/"})
	if res.status != http.StatusConflict {
		t.Fatalf("another slug registering an owned URL: HTTP %d %s", res.status, res.body)
	}
	msg := res.errMsg(t)
	for _, want := range []string{"owner-svc", "oo instance rm " + inst.ID, "admin"} {
		if !strings.Contains(msg, want) {
			t.Errorf("409 message %q does not mention %q", msg, want)
		}
	}
	if res := regCall(t, s, http.MethodDelete, api.InstancePath(inst.ID), mallory, nil); res.status != http.StatusForbidden {
		t.Fatalf("another slug deleting: HTTP %d", res.status)
	}
	if res := regCall(t, s, http.MethodPut, api.HeartbeatPath(inst.ID), mallory, nil); res.status != http.StatusForbidden {
		t.Fatalf("another slug heartbeating: HTTP %d", res.status)
	}

	again, res := regPut(t, s, owner, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311", DeploymentID: "v2"})
	if res.status != http.StatusCreated || again.ID != inst.ID || again.DeploymentID != "v2" {
		t.Fatalf("owner update: HTTP %d %+v", res.status, again)
	}
	byAdmin, res := regPut(t, s, admin, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311", DeploymentID: "v3"})
	if res.status != http.StatusCreated || byAdmin.ID != inst.ID || byAdmin.Slug != "owner-svc" {
		t.Fatalf("admin update: HTTP %d %+v", res.status, byAdmin)
	}
	onBehalf, res := regPut(t, s, admin, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9400", Slug: "owner-svc"})
	if res.status != http.StatusCreated || onBehalf.Slug != "owner-svc" {
		t.Fatalf("admin registering for a slug: HTTP %d %+v", res.status, onBehalf)
	}

	if res := regCall(t, s, http.MethodDelete, api.InstancePath(inst.ID), admin, nil); res.status != http.StatusNoContent {
		t.Fatalf("admin delete: HTTP %d %s", res.status, res.body)
	}
	if res := regCall(t, s, http.MethodDelete, api.InstancePath(inst.ID), admin, nil); res.status != http.StatusNotFound {
		t.Fatalf("deleting again: HTTP %d", res.status)
	}
	if res := regCall(t, s, http.MethodDelete, api.InstancePath(onBehalf.ID), owner, nil); res.status != http.StatusNoContent {
		t.Fatalf("owner delete: HTTP %d %s", res.status, res.body)
	}
	// Once deleted, the URL is free for anyone.
	if _, res := regPut(t, s, mallory, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"}); res.status != http.StatusCreated {
		t.Fatalf("registering a freed URL: HTTP %d %s", res.status, res.body)
	}
}

func TestRegBadRequests(t *testing.T) {
	s := regStart(t, -1)
	tok := s.Register(t, "bad-svc", "bad-svc-password-1")
	for _, u := range []string{"", "127.0.0.1:9311", "ftp://127.0.0.1:21", "http://", "http://:80/x"} {
		_, res := regPut(t, s, tok, api.RegisterInstanceRequest{URL: u})
		if res.status != http.StatusBadRequest {
			t.Errorf("url %q: HTTP %d, want 400", u, res.status)
			continue
		}
		res.errMsg(t)
	}
	if res := regCall(t, s, http.MethodPut, api.PathInstance, "", api.RegisterInstanceRequest{URL: "http://127.0.0.1:1"}); res.status != http.StatusUnauthorized {
		t.Fatalf("no token: HTTP %d", res.status)
	}
	if res := regCall(t, s, http.MethodGet, api.PathInstances, "", nil); res.status != http.StatusUnauthorized {
		t.Fatalf("listing without a token: HTTP %d", res.status)
	}
	raw, _ := http.NewRequest(http.MethodPut, s.URL+api.PathInstance, strings.NewReader(`{"url":`))
	raw.Header.Set("Authorization", "Bearer "+tok)
	rsp, err := http.DefaultClient.Do(raw)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed JSON: HTTP %d", rsp.StatusCode)
	}
	if res := regCall(t, s, http.MethodPut, api.HeartbeatPath("inst_none"), tok, api.HeartbeatRequest{}); res.status != http.StatusNotFound {
		t.Fatalf("heartbeat of an unknown instance: HTTP %d", res.status)
	}
	if res := regCall(t, s, http.MethodPost, api.PathInstance, tok, nil); res.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST on the instance path: HTTP %d", res.status)
	}
}

func TestRegListFilters(t *testing.T) {
	s := regStart(t, -1)
	a := s.Register(t, "a-svc", "a-svc-password-1234")
	b := s.Register(t, "b-svc", "b-svc-password-1234")
	regPut(t, s, a, api.RegisterInstanceRequest{URL: "http://127.0.0.1:1001", DeploymentID: "d1"})
	regPut(t, s, b, api.RegisterInstanceRequest{URL: "http://localhost:1002/p"})
	cases := map[string]int{
		"":                  2,
		"?slug=a-svc":       1,
		"?host=localhost":   1,
		"?ip=127.0.0.1":     1,
		"?path=%2Fp":        1,
		"?deploymentId=d1":  1,
		"?slug=nobody":      0,
		"?slug=b-svc&ip=x":  0,
		"?host=127.0.0.1":   1,
		"?deploymentId=d2x": 0,
	}
	for q, want := range cases {
		if got := regList(t, s, a, q); len(got) != want {
			t.Errorf("list%s: %d instances, want %d", q, len(got), want)
		}
	}
	// An empty list is [], not null: clients iterate it.
	res := regCall(t, s, http.MethodGet, api.PathInstances+"?slug=nobody", a, nil)
	if !bytes.Contains(res.body, []byte(`"instances":[]`)) {
		t.Fatalf("empty list body %s", res.body)
	}
}

// TestRegHealthFollowsTheProcess: a stopped service is Unreachable within two probe intervals
// and answered with 503; when it returns on the same URL it is Healthy and routed again.
func TestRegHealthFollowsTheProcess(t *testing.T) {
	const interval = 100 * time.Millisecond
	s := regStart(t, interval)
	tok := s.Register(t, "hc-svc", "hc-svc-password-1234")
	backend := regServe(t, "127.0.0.1:0")
	inst, _ := regPut(t, s, tok, api.RegisterInstanceRequest{URL: backend.URL})
	regEventually(t, 10*time.Second, "Healthy", func() bool { return regStatus(t, s, tok, inst.ID) == api.StatusHealthy })

	backend.stop()
	stopped := time.Now()
	// Two intervals, plus scheduling slack for a loaded machine and the race detector.
	regEventually(t, 2*interval+400*time.Millisecond, "Unreachable after the process stopped", func() bool {
		return regStatus(t, s, tok, inst.ID) == api.StatusUnreachable
	})
	t.Logf("Unreachable %s after the process stopped (probe interval %s)", time.Since(stopped).Round(time.Millisecond), interval)
	res := regGet(t, s.URL+"/hc-svc/echo")
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Fatalf("dead service: HTTP %d Retry-After %q %s", res.status, res.header.Get("Retry-After"), res.body)
	}
	res.errMsg(t)

	regServe(t, backend.Addr)
	regEventually(t, 10*time.Second, "Healthy again on the same URL", func() bool {
		return regStatus(t, s, tok, inst.ID) == api.StatusHealthy
	})
	if res := regGet(t, s.URL+"/hc-svc/echo"); res.status != http.StatusOK {
		t.Fatalf("after the return: HTTP %d %s", res.status, res.body)
	}
}

func TestRegHeartbeatTTL(t *testing.T) {
	s := regStart(t, -1)
	tok := s.Register(t, "hb-svc", "hb-svc-password-1234")
	backend := regServe(t, "127.0.0.1:0")
	inst, _ := regPut(t, s, tok, api.RegisterInstanceRequest{URL: backend.URL})

	beat := func(ttl string) api.Instance {
		t.Helper()
		res := regCallH(t, s, http.MethodPut, api.HeartbeatPath(inst.ID), tok, api.HeartbeatRequest{TTL: ttl}, extrasHeader)
		if res.status != http.StatusOK {
			t.Fatalf("heartbeat: HTTP %d %s", res.status, res.body)
		}
		var out api.HeartbeatResponse
		if err := json.Unmarshal(res.body, &out); err != nil {
			t.Fatal(err)
		}
		return out.Instance
	}
	got := beat("300ms")
	if got.Status != api.StatusHealthy || got.LastHeartbeat == nil || got.HeartbeatTTL != "300ms" {
		t.Fatalf("after a heartbeat: %+v", got)
	}
	regEventually(t, 10*time.Second, "Unreachable once heartbeats stop", func() bool {
		return regStatus(t, s, tok, inst.ID) == api.StatusUnreachable
	})
	if res := regGet(t, s.URL+"/hb-svc/echo"); res.status != http.StatusServiceUnavailable {
		t.Fatalf("expired heartbeat: HTTP %d", res.status)
	}
	if got := beat(""); got.Status != api.StatusHealthy {
		t.Fatalf("a new heartbeat left it %s", got.Status)
	}
	if res := regGet(t, s.URL+"/hb-svc/echo"); res.status != http.StatusOK {
		t.Fatalf("after the heartbeat: HTTP %d", res.status)
	}
	if res := regCall(t, s, http.MethodPut, api.HeartbeatPath(inst.ID), tok, api.HeartbeatRequest{TTL: "-1s"}); res.status != http.StatusBadRequest {
		t.Fatalf("negative ttl: HTTP %d", res.status)
	}
}

func TestRegRegistrationsSurviveRestart(t *testing.T) {
	s := regStart(t, -1)
	tok := s.Register(t, "keep-svc", "keep-svc-password-1")
	inst, _ := regPut(t, s, tok, api.RegisterInstanceRequest{URL: "http://127.0.0.1:9311"})
	if res := regCall(t, s, http.MethodPut, api.HeartbeatPath(inst.ID), tok, api.HeartbeatRequest{TTL: "1h"}); res.status != http.StatusOK {
		t.Fatalf("heartbeat: HTTP %d", res.status)
	}
	s.Stop(t)

	cfg := s.Config
	s2 := servertest.StartConfig(t, cfg)
	defer s2.Stop(t)
	tok = s2.Login(t, "keep-svc", "keep-svc-password-1")
	list := regListH(t, s2, tok, "", extrasHeader)
	if len(list) != 1 || list[0].ID != inst.ID || list[0].HeartbeatTTL != "1h" || list[0].LastHeartbeat == nil {
		t.Fatalf("after restart: %+v", list)
	}
}

// The default per-account quota holds through the API: the 101st instance of one account is a
// JSON 403 (on the old code one account registered 11 000).
func TestRegistryDefaultInstanceQuota(t *testing.T) {
	s := userStart(t)
	tok := s.Register(t, "many-svc", "many-password-1")
	for i := range 100 {
		req := api.RegisterInstanceRequest{URL: fmt.Sprintf("http://127.0.0.1:%d", 20000+i)}
		if code := s.Do(t, http.MethodPut, api.PathInstance, tok, req, nil); code != http.StatusCreated {
			t.Fatalf("instance %d: HTTP %d", i+1, code)
		}
	}
	var e api.ErrorResponse
	code := s.Do(t, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: "http://127.0.0.1:20100"}, &e)
	if code != http.StatusForbidden || !strings.Contains(e.Error, "100 instances") {
		t.Fatalf("101st instance: HTTP %d %q, want 403 naming the quota", code, e.Error)
	}
	admin := s.AdminToken(t)
	req := api.RegisterInstanceRequest{URL: "http://127.0.0.1:20100", Slug: "many-svc"}
	if code := s.Do(t, http.MethodPut, api.PathInstance, admin, req, nil); code != http.StatusCreated {
		t.Fatalf("admin registering past the quota: HTTP %d", code)
	}
}
