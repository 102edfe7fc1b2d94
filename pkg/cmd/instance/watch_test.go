package instance

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/credstore"
	"github.com/ooctl/oo/internal/proctest"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
	"github.com/ooctl/oo/server/servertest"
)

// watchFactory is a factory for srv as the admin, for tests that call runLs directly.
func watchFactory(t *testing.T, srv *servertest.Server, ios *iostreams.IOStreams) *cmdutil.Factory {
	vars := map[string]string{"OO_URL": srv.URL, "OO_TOKEN": srv.AdminToken(t)}
	return &cmdutil.Factory{IOStreams: ios, ConfigPath: filepath.Join(t.TempDir(), "config.json"),
		Keyring: credstore.NewMemory(), Getenv: func(k string) string { return vars[k] }, Now: time.Now}
}

func register(t *testing.T, srv *servertest.Server, token, url string) {
	t.Helper()
	if code := srv.Do(t, http.MethodPut, api.PathInstance, token, api.RegisterInstanceRequest{URL: url}, nil); code/100 != 2 {
		t.Fatalf("register %s: HTTP %d", url, code)
	}
}

func TestWatchPipedPrintsChangedSnapshots(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	tok := srv.Register(t, "watch-svc", "watch-password-1")
	ios, _, _, _ := iostreams.Test()
	out := &proctest.Output{}
	ios.Out = out
	f := watchFactory(t, srv, ios)
	o := &LsOptions{Deps: f.Deps(), watch: true, interval: 100 * time.Millisecond, output: "json", snapshots: 40}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- lsRun(withCtx(o, ctx)) }()
	// The instance appears while watching: the stream has the empty snapshot, then one with it.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "\n") {
		if time.Now().After(deadline) {
			t.Fatal("no first snapshot within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	register(t, srv, tok, "http://127.0.0.1:9")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("want ≥2 snapshots (one per change), got %q", out.String())
	}
	var first, last api.ListInstancesResponse
	if json.Unmarshal([]byte(lines[0]), &first) != nil || json.Unmarshal([]byte(lines[len(lines)-1]), &last) != nil {
		t.Fatalf("not one JSON document per line: %q", out.String())
	}
	if len(first.Instances) != 0 || len(last.Instances) != 1 {
		t.Fatalf("snapshots: first %+v last %+v", first, last)
	}
	// Unchanged lists are not repeated: far fewer lines than refreshes.
	if len(lines) > 5 {
		t.Fatalf("unchanged snapshots repeated: %d lines", len(lines))
	}
}

func TestWatchOnTTYRedrawsInPlace(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	ios, _, out, _ := iostreams.Test()
	ios.SetStdoutTTY(true)
	o := &LsOptions{Deps: watchFactory(t, srv, ios).Deps(), watch: true, interval: 100 * time.Millisecond, snapshots: 2}
	if err := lsRun(withCtx(o, context.Background())); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\x1b[H\x1b[2J"); n != 2 {
		t.Fatalf("want 2 redraws, got %d: %q", n, out.String())
	}
}

// withCtx gives o the context a command would have had from cobra.
func withCtx(o *LsOptions, ctx context.Context) *LsOptions {
	o.Ctx = ctx
	return o
}
