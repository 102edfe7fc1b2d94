package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	t.Parallel()
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
	t.Parallel()
	svcExampleNeed(t, "python3")
	py, _ := exec.LookPath("python3")
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
	t.Parallel()
	svcExampleNeed(t, "sh", "curl", "python3")
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

// svcExampleNeed skips on a developer's machine without one of tools, but fails in CI, which
// must have them (.ci/run installs them).
func svcExampleNeed(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err == nil {
			continue
		}
		if os.Getenv("CI") != "" || strings.EqualFold(os.Getenv("OO_REQUIRE_EXAMPLES"), "1") {
			t.Fatalf("%s is needed to run this example", tool)
		}
		t.Skipf("%s not installed", tool)
	}
}

// TestExamplesOutliveTheirTokens: with tokens that live 10 s, each example keeps heartbeating
// past its first token's expiry (a new login with its stored password, or the token file of
// `oo service run`) and deregisters with a valid token when stopped.
func TestExamplesOutliveTheirTokens(t *testing.T) {
	t.Parallel()
	svcExampleNeed(t, "sh", "curl", "python3")
	goBin := filepath.Join(t.TempDir(), "go-svc")
	if out, err := exec.Command("go", "build", "-o", goBin, "../examples/go").CombinedOutput(); err != nil {
		t.Fatalf("building examples/go: %v\n%s", err, out)
	}
	py, _ := filepath.Abs("../examples/python/first_service.py")
	sh, _ := filepath.Abs("../examples/shell/first-service.sh")
	e := newEnv(t)
	// Tokens of 10 s, not the 3 s of TestServiceRunOutlivesItsToken: under `oo service run` a
	// program holds the token oo renewed last, and on a loaded machine running the tests in
	// parallel a renewal (a login, hashed within the server's bound), or the way from a login
	// to the first use of its token, can take seconds.
	// Five services renewing short-lived tokens want more bcrypt than the default bound on
	// concurrent hashing (half the CPUs, kept for the proxy's sake) gives on a loaded 2-core
	// machine; this test is about renewal, not that bound.
	srv := e.StartServer("--token-ttl", "10s", "--hash-concurrency", "8")
	e = e.With("OO_URL="+srv.URL, "OO_HEARTBEAT_SECONDS=1")
	run := []string{ooBin, "service", "run", "--insecure-storage", "--heartbeat", "1s", "--slug"}
	for _, c := range []struct {
		name, slug string
		argv       []string
	}{
		{"go", "go-long", []string{goBin}},
		{"python", "py-long", []string{"python3", py}},
		{"shell", "sh-long", []string{"sh", sh}},
		{"python under service run", "py-run-long", append(run, "py-run-long", "--", "python3", py)},
		{"shell under service run", "sh-run-long", append(run, "sh-run-long", "--", "sh", sh)},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ce := e.With("OO_SLUG="+c.slug, "SELF_URL="+svcExampleFreeURL(t))
			p := svcStartProc(t, ce, c.argv[0], c.argv[1:]...)
			svcEventually(t, 60*time.Second, "GET /"+c.slug+"/hello through the proxy", func() bool {
				h, _, err := svcGetHello(srv.URL, c.slug)
				return err == nil && h.Hello == "world"
			}, p.Out, p.Err)
			// The first token expires within 10 s of now; the Go SDK beats every 10 s, so for it
			// only the deregistration below shows the renewal.
			expired := time.Now().Add(10 * time.Second)
			svcEventually(t, 30*time.Second, "a heartbeat after the first token expired", func() bool {
				if c.name == "go" {
					return time.Now().After(expired.Add(2 * time.Second))
				}
				list := svcInstances(t, svcAdmin(t, srv), c.slug)
				return len(list) == 1 && list[0].LastHeartbeat != nil && list[0].LastHeartbeat.After(expired.Add(time.Second))
			}, p.Out, p.Err)
			if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			if code := p.Wait(t, 30*time.Second); code != 0 {
				t.Errorf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, p.Out, p.Err)
			}
			if list := svcInstances(t, svcAdmin(t, srv), c.slug); len(list) != 0 {
				t.Errorf("instances left after it stopped: %+v\nstdout:\n%s\nstderr:\n%s", list, p.Out, p.Err)
			}
			// A beat slowed down by a loaded machine may fail now and then; a refused token may not.
			for _, bad := range []*regexp.Regexp{regexp.MustCompile(`\b401\b`), regexp.MustCompile(`token`), regexp.MustCompile(`could not deregister`)} {
				if bad.MatchString(p.Err.String()) { // \b: a port such as 40135 is not a 401
					t.Errorf("%q in its output:\n%s", bad.String(), p.Err)
					break
				}
			}
		})
	}
}

// TestExampleShellStopsWhenServerGone: the shell example stops (exit 1) once its server has
// not answered for OO_GIVE_UP_SECONDS, rather than heartbeat into the void forever.
func TestExampleShellStopsWhenServerGone(t *testing.T) {
	t.Parallel()
	svcExampleNeed(t, "sh", "curl", "python3")
	script, _ := filepath.Abs("../examples/shell/first-service.sh")
	e := newEnv(t)
	srv := e.StartServer()
	e = e.With("OO_URL="+srv.URL, "SELF_URL="+svcExampleFreeURL(t), "OO_HEARTBEAT_SECONDS=1", "OO_GIVE_UP_SECONDS=3")
	p := svcStartProc(t, e, "sh", script)
	svcEventually(t, 60*time.Second, "GET /sh-svc/hello through the proxy", func() bool {
		h, _, err := svcGetHello(srv.URL, "sh-svc")
		return err == nil && h.Hello == "world"
	}, p.Out, p.Err)
	srv.Stop()
	if code := p.Wait(t, 30*time.Second); code != 1 {
		t.Errorf("exit code %d, want 1\nstderr:\n%s", code, p.Err)
	}
	if !strings.Contains(p.Err.String(), "has not answered for") {
		t.Errorf("no word on why it stopped:\n%s", p.Err)
	}
}
