package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
	"github.com/ooctl/oo/server/store"
	"github.com/ooctl/oo/server/store/bolt"
)

func quietConfig(dataDir string) server.Config {
	return server.Config{
		Addr:          "127.0.0.1:0",
		DataDir:       dataDir,
		AdminPassword: servertest.AdminPassword,
		BcryptCost:    bcrypt.MinCost,
		ProbeInterval: -1,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		Stderr:        io.Discard,
	}
}

func TestRestartKeepsAccountsKeyAndTokens(t *testing.T) {
	dir := t.TempDir()
	s1 := servertest.StartConfig(t, quietConfig(dir))
	t.Cleanup(func() { s1.Stop(t) })
	token := s1.Register(t, "alice", "alice-password")
	loggedOut := s1.Login(t, "alice", "alice-password")
	if code := s1.Do(t, http.MethodDelete, api.PathToken, loggedOut, nil, nil); code != http.StatusNoContent {
		t.Fatalf("logout: HTTP %d", code)
	}
	var key1 api.PublicKeyResponse
	s1.Do(t, http.MethodGet, api.PathPublicKey, "", nil, &key1)
	s1.Stop(t)

	// The admin password from a later boot must not replace the first one.
	cfg := quietConfig(dir)
	cfg.AdminPassword = "a-different-admin-password"
	s2 := servertest.StartConfig(t, cfg)
	t.Cleanup(func() { s2.Stop(t) })

	s2.Login(t, "alice", "alice-password")
	s2.AdminToken(t)
	var me api.ReadUserByTokenResponse
	if code := s2.Do(t, http.MethodPost, api.PathUserByToken, token, nil, &me); code != http.StatusOK || me.User.Slug != "alice" {
		t.Errorf("token from before the restart: HTTP %d, user %+v", code, me.User)
	}
	if code := s2.Do(t, http.MethodPost, api.PathUserByToken, loggedOut, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("token revoked before the restart: HTTP %d, want 401", code)
	}
	var key2 api.PublicKeyResponse
	s2.Do(t, http.MethodGet, api.PathPublicKey, "", nil, &key2)
	if key1.PublicKey == "" || key1.PublicKey != key2.PublicKey {
		t.Error("the public key changed across a restart")
	}
	if code := s2.Do(t, http.MethodPost, api.PathRegister, "", api.RegisterRequest{Slug: "alice", Password: "password-2"}, nil); code != http.StatusConflict {
		t.Errorf("re-register after restart: HTTP %d, want 409", code)
	}
}

func TestSecondServerOnOneDataDirFailsFast(t *testing.T) {
	dir := t.TempDir()
	s1 := servertest.StartConfig(t, quietConfig(dir))
	t.Cleanup(func() { s1.Stop(t) })

	start := time.Now()
	srv, err := server.New(quietConfig(dir))
	if err == nil {
		srv.Close()
		t.Fatal("a second server opened a data dir that is in use")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second server took %s to fail", d)
	}
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "another oo server") {
		t.Errorf("error = %q; want ErrLocked naming the likely cause", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
	// The first server is unaffected.
	s1.Login(t, "admin", servertest.AdminPassword)
}

func TestRunFailsFastOnBusyPortOrLockedDir(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := quietConfig(t.TempDir())
	cfg.Addr = busy.Addr().String()
	start := time.Now()
	err = server.Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), cfg.Addr) {
		t.Errorf("Run on a busy port: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("busy port took %s to fail", d)
	}

	dir := t.TempDir()
	s1 := servertest.StartConfig(t, quietConfig(dir))
	t.Cleanup(func() { s1.Stop(t) })
	cfg = quietConfig(dir)
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = free.Addr().String()
	free.Close()
	start = time.Now()
	if err := server.Run(context.Background(), cfg); !errors.Is(err, store.ErrLocked) {
		t.Errorf("Run on a locked data dir: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("locked data dir took %s to fail", d)
	}
	// Run must give the port back when it gives up.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		t.Errorf("port still held after Run failed: %v", err)
	} else {
		ln.Close()
	}
}

func TestRunStopsCleanlyAndReleasesTheDataDir(t *testing.T) {
	dir := t.TempDir()
	cfg := quietConfig(dir)
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = free.Addr().String()
	free.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg) }()

	url := "http://" + cfg.Addr + api.PathPublicKey
	deadline := time.Now().Add(15 * time.Second)
	for {
		rsp, err := http.Get(url)
		if err == nil {
			rsp.Body.Close()
			if rsp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server did not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	st, err := bolt.Open(filepath.Join(dir, server.DBFile), bolt.Options{LockTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("data dir still locked after Run returned: %v", err)
	}
	st.Close()
}

// Stopping the server must not leave its keep-alive connections to instances open: an
// instance would hold a socket (and a goroutine) per stopped server until its own idle timeout.
func TestStopClosesProxyConnectionsToInstances(t *testing.T) {
	closed := make(chan struct{}, 16)
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	backend.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- struct{}{}
		}
	}
	backend.Start()
	t.Cleanup(backend.Close)

	s := servertest.StartConfig(t, quietConfig(t.TempDir()))
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			s.Stop(t)
		}
	})
	tok := s.Register(t, "keepalive", "keepalive-password")
	if code := s.Do(t, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: backend.URL}, nil); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("register instance: HTTP %d", code)
	}
	resp, err := http.Get(s.URL + "/keepalive/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("proxied GET: HTTP %d", resp.StatusCode)
	}
	s.Stop(t)
	stopped = true
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy's connection to the instance is still open after the server stopped")
	}
}
