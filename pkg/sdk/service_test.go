package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// startServer runs a real server with active probing off, so only heartbeats can make an
// instance Healthy.
func startServer(t *testing.T) *servertest.Server {
	t.Helper()
	return servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
}

// cleanEnv keeps the developer's own OO_* variables out of the test.
func cleanEnv(t *testing.T) {
	for _, k := range []string{EnvURL, EnvURLOB, EnvURLOpenOrch, EnvSelfURL, EnvPort, EnvToken, EnvTokenFile, EnvSlug} {
		t.Setenv(k, "")
	}
	t.Setenv("XDG_DATA_HOME", t.TempDir())
}

// admins caches one admin client per server: logging in hashes a password, which is slow on
// purpose, and polling loops list instances many times.
var admins sync.Map

func instancesOf(t *testing.T, srv *servertest.Server, slug string) []api.Instance {
	t.Helper()
	c, ok := admins.Load(srv)
	if !ok {
		c, _ = admins.LoadOrStore(srv, client.New(srv.URL, client.WithToken(srv.AdminToken(t))))
	}
	list, err := c.(*client.Client).ListInstances(context.Background(), client.InstanceFilter{Slug: slug})
	if err != nil {
		t.Fatalf("list instances: %v", err)
	}
	return list
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func helloMux(slug string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+slug+"/hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"hello":"world"}`)
	})
	return mux
}

func TestStartRegistersHeartbeatsAndDeregisters(t *testing.T) {
	cleanEnv(t)
	srv := startServer(t)
	t.Setenv(EnvURL, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	svc, err := Start(ctx, "hello-svc", WithHeartbeat(100*time.Millisecond, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	served := make(chan error, 1)
	go func() { served <- svc.Serve(helloMux(svc.Slug())) }()

	if !strings.HasPrefix(svc.URL(), "http://127.0.0.1:") {
		t.Fatalf("self URL %q", svc.URL())
	}
	list := instancesOf(t, srv, "hello-svc")
	if len(list) != 1 || list[0].ID != svc.InstanceID() || list[0].Slug != "hello-svc" {
		t.Fatalf("instances %+v, want one with id %s", list, svc.InstanceID())
	}
	// Probing is off: only the SDK's beats can make and keep it Healthy, across several TTLs.
	first := list[0].LastHeartbeat
	if first == nil {
		t.Fatalf("no heartbeat recorded at registration: %+v", list[0])
	}
	waitFor(t, 30*time.Second, "a heartbeat 2.5 TTLs after the first", func() bool {
		list = instancesOf(t, srv, "hello-svc")
		return len(list) == 1 && list[0].LastHeartbeat != nil && list[0].LastHeartbeat.After(first.Add(2500*time.Millisecond))
	})
	if list[0].Status != api.StatusHealthy {
		t.Fatalf("after 2.5 TTLs: %+v, want one Healthy", list)
	}

	rsp, err := http.Get(srv.URL + "/hello-svc/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	var got map[string]string
	if rsp.StatusCode != 200 || json.Unmarshal(body, &got) != nil || got["hello"] != "world" {
		t.Fatalf("through the proxy: %d %s", rsp.StatusCode, body)
	}

	// The password the SDK made up for itself is private to the user.
	fi, err := os.Stat(filepath.Join(os.Getenv("XDG_DATA_HOME"), "oo", "services", "hello-svc.json"))
	if err != nil {
		t.Fatalf("stored credentials: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials mode %o", fi.Mode().Perm())
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	closeDeregisters(t, srv, svc)
}

// TestStartDeregistersWhenContextEnds: ending the context given to Start, with no Close,
// deregisters the instance and closes Done.
func TestStartDeregistersWhenContextEnds(t *testing.T) {
	cleanEnv(t)
	srv := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Beats far apart: only a deregistration, not an expiry, can empty the registry in time.
	svc, err := Start(ctx, "ctx-svc", WithServerURL(srv.URL), WithHeartbeat(time.Minute, 3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Listener().Close() })
	if list := instancesOf(t, srv, "ctx-svc"); len(list) != 1 || list[0].ID != svc.InstanceID() {
		t.Fatalf("instances %+v, want one with id %s", list, svc.InstanceID())
	}

	cancel()
	select {
	case <-svc.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed within 10s of the context ending")
	}
	waitFor(t, 5*time.Second, "the instance to leave the registry", func() bool {
		return len(instancesOf(t, srv, "ctx-svc")) == 0
	})
}

// TestStartAgainLogsIn: a second run finds the stored password and logs in instead of failing
// on the taken slug, and a dead instance the SDK never deregistered goes Unreachable by TTL.
func TestStartAgainLogsInAndTTLExpires(t *testing.T) {
	cleanEnv(t)
	srv := startServer(t)
	store := FileStore{Dir: t.TempDir()}
	ctx := context.Background()

	a, err := Start(ctx, "again-svc", WithServerURL(srv.URL), WithPasswordStore(store), WithHeartbeat(100*time.Millisecond, 600*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	cut := &cuttableTransport{}
	b, err := Start(ctx, "again-svc", WithServerURL(srv.URL), WithPasswordStore(store),
		WithHeartbeat(100*time.Millisecond, 600*time.Millisecond), WithHTTPClient(&http.Client{Transport: cut, Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatalf("second start: %v", err)
	}
	defer b.Close()
	// From the server's side a killed process is one that stops talking: no beats, no
	// deregistration.
	cut.dead.Store(true)
	b.Listener().Close()
	id := b.InstanceID()
	waitFor(t, 10*time.Second, "the silent instance to become Unreachable", func() bool {
		for _, in := range instancesOf(t, srv, "again-svc") {
			if in.ID == id {
				return in.Status == api.StatusUnreachable
			}
		}
		return false
	})
}

func TestStartWithTokenFromEnv(t *testing.T) {
	cleanEnv(t)
	srv := startServer(t)
	tok := srv.Register(t, "token-svc", "token-svc-password")
	t.Setenv(EnvURL, "")
	t.Setenv(EnvURLOB, srv.URL) // the 1Backend name works too
	t.Setenv(EnvToken, tok)

	svc, err := Start(context.Background(), "token-svc")
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if svc.Token() != tok {
		t.Error("the given token was not used")
	}
	if ents, _ := os.ReadDir(filepath.Join(os.Getenv("XDG_DATA_HOME"), "oo", "services")); len(ents) != 0 {
		t.Errorf("stored credentials although a token was given: %v", ents)
	}
	if _, err := Start(context.Background(), "other-svc"); err == nil || !strings.Contains(err.Error(), "token-svc") {
		t.Fatalf("token of another slug: %v", err)
	}
}

func TestStartSlugTakenIsClear(t *testing.T) {
	cleanEnv(t)
	srv := startServer(t)
	srv.Register(t, "taken-svc", "someone-elses-password")
	_, err := Start(context.Background(), "taken-svc", WithServerURL(srv.URL))
	var te *AccountTakenError
	if !errors.As(err, &te) || te.Slug != "taken-svc" {
		t.Fatalf("got %v, want AccountTakenError", err)
	}
}

// cuttableTransport fails every request once dead is set.
type cuttableTransport struct{ dead atomic.Bool }

func (c *cuttableTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.dead.Load() {
		return nil, errors.New("cut off by the test")
	}
	return http.DefaultTransport.RoundTrip(r)
}
