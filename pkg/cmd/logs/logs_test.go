package logs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/credstore"
	"github.com/ooctl/oo/internal/proctest"
	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/pkg/iostreams"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// fixture is a server with slug "tail-svc" served by a backend, and a logged-in owner.
type fixture struct {
	srv   *servertest.Server
	token string
}

func newFixture(t *testing.T, mutate ...func(*server.Config)) *fixture {
	t.Helper()
	srv := servertest.Start(t, mutate...)
	tok := srv.Register(t, "tail-svc", "tail-svc-password-1234")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/boom") {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "hello")
	}))
	t.Cleanup(backend.Close)
	if code := srv.Do(t, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: backend.URL}, nil); code != http.StatusCreated {
		t.Fatalf("register instance: HTTP %d", code)
	}
	return &fixture{srv: srv, token: tok}
}

// get sends one proxied request and returns its request id.
func (fx *fixture) get(t *testing.T, path string) string {
	t.Helper()
	rsp, err := http.Get(fx.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rsp.Body)
	rsp.Body.Close()
	return rsp.Header.Get("X-Request-Id")
}

// follow runs `oo logs` (run, with options o) against fx as token's owner, in the background.
type follow struct {
	out, errOut *proctest.Output
	cancel      context.CancelFunc
	done        chan error
}

func (fx *fixture) follow(t *testing.T, token string, out io.Writer, tty bool, set func(*Options)) *follow {
	t.Helper()
	ios, _, _, _ := iostreams.Test()
	fw := &follow{out: &proctest.Output{}, errOut: &proctest.Output{}, done: make(chan error, 1)}
	ios.Out, ios.ErrOut = fw.out, fw.errOut
	if out != nil {
		ios.Out = out
	}
	ios.SetStdoutTTY(tty)
	ios.SetStderrTTY(tty)
	ios.SetNoColor(true)
	vars := map[string]string{"OO_URL": fx.srv.URL, "OO_TOKEN": token}
	f := &cmdutil.Factory{IOStreams: ios, ConfigPath: filepath.Join(t.TempDir(), "config.json"),
		Keyring: credstore.NewMemory(), Getenv: func(k string) string { return vars[k] }, Now: time.Now}
	o := &Options{Deps: f.Deps()}
	if set != nil {
		set(o)
	}
	var ctx context.Context
	ctx, fw.cancel = context.WithCancel(context.Background())
	o.Ctx = ctx
	go func() { fw.done <- run(o) }()
	t.Cleanup(func() { fw.cancel(); <-fw.done })
	return fw
}

// await polls cond every 20 ms, sending a proxied request each time with send (nil: none), and
// fails the test after 10 s.
func await(t *testing.T, what string, cond func() bool, send func()) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		if send != nil {
			send()
		}
	}
}

// stop is Ctrl-C: the command must end with no error (exit 0).
func (fw *follow) stop(t *testing.T) {
	t.Helper()
	fw.cancel()
	select {
	case err := <-fw.done:
		fw.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("after Ctrl-C: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop within 10s of Ctrl-C")
	}
}

func TestLogsPrintsLinesForPeople(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fw := fx.follow(t, fx.token, nil, true, nil) // no SLUG: the logged-in account's own
	await(t, "connected", func() bool { return strings.Contains(fw.errOut.String(), "Following the requests to tail-svc") }, nil)
	id := fx.get(t, "/tail-svc/hello?q=1")
	boom := fx.get(t, "/tail-svc/boom")
	await(t, "two lines", func() bool { return strings.Count(fw.out.String(), "\n") >= 2 }, nil)
	fw.stop(t)

	lines := strings.Split(strings.TrimSpace(fw.out.String()), "\n")
	for i, want := range []struct{ method, status, path, id string }{
		{"GET", "200", "/tail-svc/hello", id},
		{"GET", "500", "/tail-svc/boom", boom},
	} {
		l := lines[i]
		f := strings.Fields(l)
		// 15:04:05.000 GET 200 1.23ms /path instance=… request=… caller=- in=0B out=5B
		if len(f) < 10 || len(f[0]) != len("15:04:05.000") || f[1] != want.method || f[2] != want.status ||
			!strings.HasSuffix(f[3], "s") || f[4] != want.path || !strings.HasPrefix(f[5], "instance=inst") ||
			f[6] != "request="+want.id || f[7] != "caller=-" || f[8] != "in=0B" {
			t.Errorf("line %d: %q", i, l)
		}
	}
	if !strings.Contains(lines[0], "out=5B") {
		t.Errorf("bytes out: %q", lines[0])
	}
}

func TestLogsJSONLinesForScripts(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	admin := fx.srv.AdminToken(t)
	// An admin may follow any slug; piped, nothing goes to stderr.
	fw := fx.follow(t, admin, nil, false, func(o *Options) { o.slug, o.output = "tail-svc", "json" })
	var ids []string
	await(t, "a JSON line", func() bool { return strings.Contains(fw.out.String(), "\n") },
		func() { ids = append(ids, fx.get(t, "/tail-svc/x")) })
	fw.stop(t)
	first, _, _ := strings.Cut(fw.out.String(), "\n")
	var ev api.LogEvent
	if err := json.Unmarshal([]byte(first), &ev); err != nil {
		t.Fatalf("%q: %v", first, err)
	}
	if ev.Path != "/tail-svc/x" || ev.Status != 200 || ev.Method != "GET" || ev.BytesOut != 5 || !contains(ids, ev.RequestID) {
		t.Fatalf("event %+v (sent %v)", ev, ids)
	}
	if fw.errOut.String() != "" {
		t.Fatalf("stderr, piped: %q", fw.errOut.String())
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestLogsRefusals(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	other := fx.srv.Register(t, "tail-other", "tail-other-password-1234")
	fw := fx.follow(t, other, nil, false, func(o *Options) { o.slug = "tail-svc" })
	err := <-fw.done
	fw.done <- err
	if cmdutil.ExitCode(err) != cmdutil.ExitAuth || !strings.Contains(err.Error(), "only tail-svc and admins") {
		t.Fatalf("another slug: exit %d, %v", cmdutil.ExitCode(err), err)
	}
	fw = fx.follow(t, other, nil, false, func(o *Options) { o.slug = "Bad_Slug" })
	err = <-fw.done
	fw.done <- err
	if cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Fatalf("a bad slug: exit %d, %v", cmdutil.ExitCode(err), err)
	}
}

// When the server goes away, oo logs says so in one line and exits 7, promptly.
func TestLogsServerGoesAway(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, func(c *server.Config) { c.ShutdownTimeout = 30 * time.Second })
	fw := fx.follow(t, fx.token, nil, false, nil)
	await(t, "a line", func() bool { return strings.Contains(fw.out.String(), "\n") }, func() { fx.get(t, "/tail-svc/x") })
	start := time.Now()
	fx.srv.Stop(t)
	select {
	case err := <-fw.done:
		fw.done <- err
		if cmdutil.ExitCode(err) != cmdutil.ExitUnreached || !strings.Contains(err.Error(), "ended the stream") ||
			strings.Contains(err.Error(), "\n") {
			t.Fatalf("exit %d: %v", cmdutil.ExitCode(err), err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("oo logs still running 10s after the server stopped")
	}
	if took := time.Since(start); took > 8*time.Second { // the shutdown timeout is 30 s
		t.Fatalf("server stop and oo logs end took %s", took)
	}
}

// gate is a terminal that stops taking output until it is opened.
type gate struct {
	open chan struct{}
	out  *proctest.Output
}

func (g *gate) Write(p []byte) (int, error) {
	<-g.open
	return g.out.Write(p)
}

// A terminal that cannot keep up: the server drops what oo logs cannot take, and oo logs
// says how many on stderr.
func TestLogsWarnsOfDroppedRequests(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	g := &gate{open: make(chan struct{}), out: &proctest.Output{}}
	fw := fx.follow(t, fx.token, g, true, nil)
	await(t, "connected", func() bool { return strings.Contains(fw.errOut.String(), "Following") }, nil)
	// The first event blocks the printer; from then on nothing is read from the stream.
	c := &http.Client{Timeout: 10 * time.Second}
	long := strings.Repeat("y", 4000)
	for i := range 3000 {
		rsp, err := c.Get(fmt.Sprintf("%s/tail-svc/%d/%s", fx.srv.URL, i, long))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, rsp.Body)
		rsp.Body.Close()
	}
	close(g.open)
	await(t, "a warning", func() bool { return strings.Contains(fw.errOut.String(), "not shown") }, nil)
	fw.stop(t)
	if w := fw.errOut.String(); !strings.Contains(w, "oo: warning: ") || !strings.Contains(w, "requests to tail-svc not shown") {
		t.Fatalf("warning: %q", w)
	}
}
