// Package servertest starts a real oo server (real bbolt file in a temp dir, real HTTP on
// loopback) for tests of the server and of its clients.
package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server"
)

// AdminPassword is the password of the "admin" account of every test server.
const AdminPassword = "admin-password-for-tests"

// Server is a running test server.
type Server struct {
	URL     string
	DataDir string
	Config  server.Config
	srv     *server.Server
	cancel  context.CancelFunc
	done    chan error
}

// Start runs a server on 127.0.0.1 with a fresh data dir until the test ends. mutate, if given,
// adjusts the config first (DataDir may be set to reuse one).
func Start(t testing.TB, mutate ...func(*server.Config)) *Server {
	t.Helper()
	cfg := server.Config{
		Addr:          "127.0.0.1:0",
		DataDir:       t.TempDir(),
		AdminPassword: AdminPassword,
		// The minimum cost keeps tests fast: one default-cost hash takes seconds under -race.
		BcryptCost: bcrypt.MinCost,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Stderr:     io.Discard,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	s := StartConfig(t, cfg)
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// StartConfig runs a server with exactly cfg; the caller stops it (Stop is idempotent).
func StartConfig(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Every answer the test provokes is held to the wire contract (see conformance.go).
	rec := &recorder{t: t}
	t.Cleanup(rec.report)
	served := cfg
	served.Middleware = rec.wrap
	srv, err := server.New(served)
	if err != nil {
		ln.Close()
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{URL: "http://" + ln.Addr().String(), DataDir: cfg.DataDir, Config: cfg, srv: srv,
		cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(ctx, ln) }()
	return s
}

// Stop shuts the server down and waits for the store to close.
func (s *Server) Stop(t testing.TB) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("server stopped with error: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("server did not stop within 15s")
	}
}

// Server is the underlying server.
func (s *Server) Server() *server.Server { return s.srv }

// Do sends a JSON request (body may be nil) with an optional bearer token and decodes a JSON
// response into out (may be nil). It returns the status code.
func (s *Server) Do(t testing.TB, method, path, token string, body, out any) int {
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
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer rsp.Body.Close()
	raw, _ := io.ReadAll(rsp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: HTTP %d: decode %q: %v", method, path, rsp.StatusCode, raw, err)
		}
	}
	return rsp.StatusCode
}

// Login returns a bearer token for slug, failing the test otherwise.
func (s *Server) Login(t testing.TB, slug, password string) string {
	t.Helper()
	var rsp api.LoginResponse
	if code := s.Do(t, http.MethodPost, api.PathLogin, "", api.LoginRequest{Slug: slug, Password: password}, &rsp); code != http.StatusOK {
		t.Fatalf("login %s: HTTP %d", slug, code)
	}
	return rsp.Token.Token
}

// AdminToken logs in as the admin.
func (s *Server) AdminToken(t testing.TB) string { return s.Login(t, "admin", AdminPassword) }

// Register creates an account and returns its token, failing the test otherwise.
func (s *Server) Register(t testing.TB, slug, password string) string {
	t.Helper()
	var rsp api.RegisterResponse
	req := api.RegisterRequest{Slug: slug, Name: slug, Password: password}
	if code := s.Do(t, http.MethodPost, api.PathRegister, "", req, &rsp); code != http.StatusOK {
		t.Fatalf("register %s: HTTP %d", slug, code)
	}
	return rsp.Token.Token
}

// AwaitStatus polls instance id until its status is st, failing the test after 10 s (a loaded
// machine probes late).
func (s *Server) AwaitStatus(t testing.TB, token, id string, st api.InstanceStatus) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rsp api.HeartbeatResponse
		s.Do(t, http.MethodGet, api.InstancePath(id), token, nil, &rsp)
		if rsp.Instance.Status == st {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s is %s, not %s, after 10s", id, rsp.Instance.Status, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
