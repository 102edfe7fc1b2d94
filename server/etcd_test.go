package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ooctl/oo/internal/etcdtest"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
	"github.com/ooctl/oo/server/store/etcd"
)

// onEtcd makes a test server a replica on e under prefix.
func onEtcd(e *etcdtest.Etcd, prefix string) func(*server.Config) {
	return func(c *server.Config) {
		c.Store = server.StoreEtcd
		c.Etcd = etcd.Config{Endpoints: e.Endpoints(), Prefix: prefix, RequestTimeout: 2 * time.Second}
		c.DataDir = "" // never opened with etcd
	}
}

// within polls cond every 5ms until it holds, and fails the test when that takes longer than d.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("%s: %s", what, time.Since(start).Round(time.Millisecond))
}

func whoamiStatus(t *testing.T, s *servertest.Server, token string) int {
	return s.Do(t, http.MethodPost, api.PathUserByToken, token, nil, nil)
}

// One state across replicas: an account and token made on A work on B at once; a logout, a
// password change and an account removal on A are refused on B within a second.
func TestEtcdReplicasShareAccountsAndRevocations(t *testing.T) {
	e := etcdtest.Start(t)
	prefix := etcdtest.Prefix(t)
	dir := t.TempDir()
	a := servertest.Start(t, onEtcd(e, prefix), func(c *server.Config) { c.DataDir = dir })
	b := servertest.Start(t, onEtcd(e, prefix))

	tok := a.Register(t, "ann", "ann-password")
	if _, err := os.Stat(filepath.Join(dir, server.DBFile)); !os.IsNotExist(err) {
		t.Errorf("with etcd the bbolt file was created (stat: %v)", err)
	}
	if code := whoamiStatus(t, b, tok); code != http.StatusOK {
		t.Fatalf("a token issued by A, used on B at once: HTTP %d", code)
	}
	if code := a.Do(t, http.MethodDelete, api.PathToken, tok, nil, nil); code != http.StatusNoContent {
		t.Fatalf("logout on A: HTTP %d", code)
	}
	within(t, time.Second, "logout on A refused on B", func() bool { return whoamiStatus(t, b, tok) == http.StatusUnauthorized })

	keep, other := b.Login(t, "ann", "ann-password"), b.Login(t, "ann", "ann-password")
	if code := whoamiStatus(t, a, other); code != http.StatusOK {
		t.Fatalf("a token issued by B, used on A: HTTP %d", code)
	}
	req := api.ChangePasswordRequest{Slug: "ann", CurrentPassword: "ann-password", NewPassword: "ann-password-2"}
	if code := a.Do(t, http.MethodPost, api.PathChangePassword, keep, req, nil); code != http.StatusOK {
		t.Fatalf("password change on A: HTTP %d", code)
	}
	within(t, time.Second, "password change on A revokes the other token on B", func() bool {
		return whoamiStatus(t, b, other) == http.StatusUnauthorized
	})
	if code := whoamiStatus(t, b, keep); code != http.StatusOK {
		t.Errorf("the token that changed the password is refused on B: HTTP %d", code)
	}

	bob := b.Register(t, "bob", "bob-password")
	if code := a.Do(t, http.MethodDelete, api.UserPath("bob"), a.AdminToken(t), nil, nil); code != http.StatusNoContent {
		t.Fatalf("removing bob on A: HTTP %d", code)
	}
	within(t, time.Second, "an account removed on A is refused on B", func() bool {
		return whoamiStatus(t, b, bob) == http.StatusUnauthorized
	})
	if code := b.Do(t, http.MethodPost, api.PathLogin, "", api.LoginRequest{Slug: "bob", Password: "bob-password"}, nil); code != http.StatusBadRequest {
		t.Errorf("login as the removed bob on B: HTTP %d, want 400 (no such account)", code)
	}
}

// Replicas starting at once on an empty etcd: one signing key for all, one admin account, and
// only the replica that created it prints the generated password, which works.
func TestEtcdReplicasStartingTogetherMakeOneKeyAndOneAdmin(t *testing.T) {
	e := etcdtest.Start(t)
	prefix := etcdtest.Prefix(t)
	const n = 4
	srvs := make([]*server.Server, n)
	outs := make([]bytes.Buffer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := server.Config{Addr: "127.0.0.1:0", BcryptCost: bcrypt.MinCost, Stderr: &outs[i],
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			onEtcd(e, prefix)(&cfg)
			srvs[i], errs[i] = server.New(cfg)
		}()
	}
	wg.Wait()
	keys := map[string]bool{}
	var printed []string
	pwRE := regexp.MustCompile(`generated password:\s+(\S+)`)
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		defer srvs[i].Close()
		keys[publicKey(t, srvs[i])] = true
		if m := pwRE.FindStringSubmatch(outs[i].String()); m != nil {
			printed = append(printed, m[1])
		}
	}
	if len(keys) != 1 {
		t.Fatalf("%d replicas starting together made %d signing keys", n, len(keys))
	}
	if len(printed) != 1 {
		t.Fatalf("%d replicas printed a generated admin password, want 1", len(printed))
	}
	s := servertest.Start(t, onEtcd(e, prefix))
	s.Login(t, "admin", printed[0])
}

// `oo server ls` with etcd: every replica, one prober; a replica that stops leaves the list
// and the role moves.
func TestEtcdServerLsListsReplicasAndTheProber(t *testing.T) {
	e := etcdtest.Start(t)
	prefix := etcdtest.Prefix(t)
	a := servertest.Start(t, onEtcd(e, prefix), func(c *server.Config) { c.Advertise = "oo-a.test:58231" })
	b := servertest.Start(t, onEtcd(e, prefix))
	tok := a.AdminToken(t)
	var rsp api.ListReplicasResponse
	list := func(s *servertest.Server) api.ListReplicasResponse {
		rsp = api.ListReplicasResponse{}
		if code := s.Do(t, http.MethodGet, api.PathReplicas, tok, nil, &rsp); code != http.StatusOK {
			t.Fatalf("HTTP %d", code)
		}
		return rsp
	}
	probers := func(r api.ListReplicasResponse) (out []api.Replica) {
		for _, x := range r.Replicas {
			if x.Prober {
				out = append(out, x)
			}
		}
		return out
	}
	within(t, 30*time.Second, "two replicas, one prober", func() bool {
		r := list(b)
		return len(r.Replicas) == 2 && len(probers(r)) == 1
	})
	if rsp.Store != "etcd" {
		t.Errorf("store %q", rsp.Store)
	}
	var sawA bool
	for _, r := range rsp.Replicas {
		if r.Address == "oo-a.test:58231" {
			sawA = true
			if r.Self {
				t.Error("B's answer marks A as self")
			}
		} else if !r.Self || "http://"+r.Address != b.URL {
			t.Errorf("B as listed by B: %+v (B is %s)", r, b.URL)
		}
	}
	if !sawA {
		t.Errorf("A's advertised address is not listed: %+v", rsp.Replicas)
	}

	prober, rest := a, b
	if probers(rsp)[0].Address != "oo-a.test:58231" {
		prober, rest = b, a
	}
	prober.Stop(t)
	within(t, 10*time.Second, "the other replica alone, and the prober", func() bool {
		r := list(rest)
		return len(r.Replicas) == 1 && r.Replicas[0].Self && r.Replicas[0].Prober
	})
}

// etcd frozen: logins and registrations answer 503 JSON within the request timeout, tokens
// already known keep working from memory, and when etcd is back everything works again
// without a restart.
func TestEtcdDownUserServiceFailsFastAndVerifiesFromMemory(t *testing.T) {
	e := etcdtest.Start(t)
	a := servertest.Start(t, onEtcd(e, etcdtest.Prefix(t)))
	tok := a.Register(t, "cy", "cy-password")
	if code := a.Do(t, http.MethodGet, api.PathInstances, tok, nil, nil); code != http.StatusOK {
		t.Fatalf("listing instances: HTTP %d", code)
	}
	e.Pause()
	resumed := false
	defer func() {
		if !resumed {
			e.Resume()
		}
	}()
	for _, c := range []struct {
		path string
		body any
	}{
		{api.PathLogin, api.LoginRequest{Slug: "cy", Password: "cy-password"}},
		{api.PathRegister, api.RegisterRequest{Slug: "dee", Password: "dee-password"}},
	} {
		start := time.Now()
		var er api.ErrorResponse
		code := a.Do(t, http.MethodPost, c.path, "", c.body, &er)
		took := time.Since(start)
		t.Logf("%s with etcd frozen: HTTP %d in %s", c.path, code, took.Round(time.Millisecond))
		if code != http.StatusServiceUnavailable || er.Error == "" {
			t.Errorf("%s with etcd frozen: HTTP %d %q, want 503 with an error", c.path, code, er.Error)
		}
		// The request timeout is 2s; a loaded machine may add some.
		if took > 6*time.Second {
			t.Errorf("%s with etcd frozen took %s: it should fail within the request timeout", c.path, took)
		}
	}
	if code := a.Do(t, http.MethodGet, api.PathInstances, tok, nil, nil); code != http.StatusOK {
		t.Errorf("a known token with etcd frozen: HTTP %d, want 200 (verified from memory)", code)
	}
	e.Resume()
	resumed = true
	within(t, 30*time.Second, "login works again after etcd is back", func() bool {
		return a.Do(t, http.MethodPost, api.PathLogin, "", api.LoginRequest{Slug: "cy", Password: "cy-password"}, nil) == http.StatusOK
	})
}

// Misconfigurations are one clear error at start, and an etcd that is not there is reported
// within seconds; with etcd no bbolt file is opened.
func TestEtcdStoreConfigErrors(t *testing.T) {
	base := func() server.Config {
		return server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stderr: io.Discard}
	}
	cfg := base()
	cfg.Store = server.StoreEtcd
	if _, err := server.New(cfg); err == nil || !strings.Contains(err.Error(), "--etcd-endpoints") {
		t.Errorf("etcd without endpoints: %v", err)
	}
	cfg = base()
	cfg.Store = "zookeeper"
	if _, err := server.New(cfg); err == nil || !strings.Contains(err.Error(), "bolt or etcd") {
		t.Errorf("an unknown store: %v", err)
	}

	e := etcdtest.Start(t)
	e.Stop()
	cfg = base()
	cfg.Store = server.StoreEtcd
	cfg.Etcd = etcd.Config{Endpoints: e.Endpoints(), DialTimeout: time.Second, RequestTimeout: time.Second}
	start := time.Now()
	_, err := server.New(cfg)
	if err == nil || !strings.Contains(err.Error(), "cannot reach etcd at "+e.Endpoints()[0]) {
		t.Errorf("etcd not running: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("reporting an unreachable etcd took %s", took)
	}
}

// publicKey asks srv's handler for the key that verifies its tokens.
func publicKey(t *testing.T, srv *server.Server) string {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, api.PathPublicKey, nil))
	var rsp api.PublicKeyResponse
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &rsp) != nil || rsp.PublicKey == "" {
		t.Fatalf("public key: HTTP %d %s", rec.Code, rec.Body)
	}
	return rsp.PublicKey
}
