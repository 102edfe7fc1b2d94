package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The examples under examples/ are run here as a user would: directly against `oo server start`
// and under `oo service run`, and reached through the proxy at SERVER/<slug>/hello.

// svcExampleFreeURL is a loopback URL on a port nothing listens on now.
func svcExampleFreeURL(t *testing.T) string { return "http://" + freeAddr(t) }

// svcExampleCheck runs one example until it answers through the proxy, stops it with sig and
// checks that it deregistered and exited with 0.
func svcExampleCheck(t *testing.T, e *env, srv *serverProc, slug string, sig os.Signal, name string, args ...string) {
	t.Helper()
	admin := svcAdmin(t, srv)
	p := svcStartProc(t, e, name, args...)
	svcEventually(t, 60*time.Second, "GET /"+slug+"/hello through the proxy", func() bool {
		h, _, err := svcGetHello(srv.URL, slug)
		return err == nil && h.Hello == "world"
	}, p.Out, p.Err)
	if list := svcInstances(t, admin, slug); len(list) != 1 {
		t.Fatalf("instances of %s: %+v", slug, list)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Errorf("exit code %d after %v\nstdout:\n%s\nstderr:\n%s", code, sig, p.Out, p.Err)
	}
	svcEventually(t, 10*time.Second, slug+" to leave the registry", func() bool {
		return len(svcInstances(t, admin, slug)) == 0
	}, p.Out, p.Err)
}

// svcExampleCredsPrivate checks the password a service stored for itself.
func svcExampleCredsPrivate(t *testing.T, e *env, slug string) {
	t.Helper()
	path := filepath.Join(e.Home, "data", "oo", "services", slug+".json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the service stored no credentials: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %o, want 600", filepath.Base(path), fi.Mode().Perm())
	}
}

func TestExampleGo(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "go-svc")
	if out, err := exec.Command("go", "build", "-o", bin, "../examples/go").CombinedOutput(); err != nil {
		t.Fatalf("building examples/go: %v\n%s", err, out)
	}
	e := newEnv(t)
	srv := e.StartServer()
	e = e.With("OO_URL=" + srv.URL)

	t.Run("direct", func(t *testing.T) {
		svcExampleCheck(t, e, srv, "go-svc", os.Interrupt, bin)
		svcExampleCredsPrivate(t, e, "go-svc")
	})
	t.Run("service run", func(t *testing.T) {
		svcExampleCheck(t, e, srv, "go-svc", os.Interrupt, ooBin, "service", "run", "--insecure-storage", "--slug", "go-svc", "--", bin)
	})
}

func TestExamplePython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		svcExampleNeed(t, "python3")
	}
	script, _ := filepath.Abs("../examples/python/first_service.py")
	e := newEnv(t)
	srv := e.StartServer()
	e = e.With("OO_URL=" + srv.URL)

	t.Run("direct", func(t *testing.T) {
		svcExampleCheck(t, e.With("SELF_URL="+svcExampleFreeURL(t)), srv, "py-svc", os.Interrupt, py, script)
		svcExampleCredsPrivate(t, e, "py-svc")
	})
	t.Run("service run", func(t *testing.T) {
		svcExampleCheck(t, e, srv, "py-svc", os.Interrupt, ooBin, "service", "run", "--insecure-storage", "--slug", "py-svc", "--", py, script)
	})
}

func TestExampleShell(t *testing.T) {
	for _, tool := range []string{"sh", "curl", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			svcExampleNeed(t, tool)
		}
	}
	script, _ := filepath.Abs("../examples/shell/first-service.sh")
	e := newEnv(t)
	srv := e.StartServer()
	e = e.With("OO_URL=" + srv.URL)

	t.Run("direct", func(t *testing.T) {
		svcExampleCheck(t, e.With("SELF_URL="+svcExampleFreeURL(t)), srv, "sh-svc", syscall.SIGTERM, "sh", script)
		svcExampleCredsPrivate(t, e, "sh-svc")
	})
	t.Run("service run", func(t *testing.T) {
		svcExampleCheck(t, e, srv, "sh-svc", os.Interrupt, ooBin, "service", "run", "--insecure-storage", "--slug", "sh-svc", "--", "sh", script)
	})
}

// svcExampleNeed skips on a developer's machine without tool, but fails in CI, which must have
// it (.ci/run installs it).
func svcExampleNeed(t *testing.T, tool string) {
	t.Helper()
	if os.Getenv("CI") != "" || strings.EqualFold(os.Getenv("OO_REQUIRE_EXAMPLES"), "1") {
		t.Fatalf("%s is needed to run this example", tool)
	}
	t.Skipf("%s not installed", tool)
}
