package service_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// accountExists tells whether slug has an account, by trying to create it (the test's server
// is throwaway).
func accountExists(t *testing.T, srvURL, slug string) bool {
	t.Helper()
	_, err := client.New(srvURL).Register(context.Background(), api.RegisterRequest{Slug: slug, Name: slug, Password: "probe-password-123"})
	return err != nil
}

// TestRegisterOwnedURLCreatesNoAccount: a URL owned by another slug fails with 6 before an
// account is created when oo can list the registry (logged in); without a token the error says
// that the account was created and is kept.
func TestRegisterOwnedURLCreatesNoAccount(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	u := startBackend(t)
	cmdtest.MustOK(t, cmdtest.New(t, srv.URL).Run(cmdtest.Piped, "", "service", "register", "legacy-svc", "--url", u), "register legacy-svc")

	srv.Register(t, "bob", "bob-password-123")
	h := cmdtest.New(t, srv.URL)
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "bob-password-123\n", "login", "bob", "--password-stdin"), "login bob")
	r := h.Run(cmdtest.Piped, "", "service", "register", "other-svc", "--url", u+"/")
	cmdtest.MustFail(t, r, cmdutil.ExitConflict, `"legacy-svc"`, "another --url")
	if strings.Contains(r.Err, "Created") || strings.Count(strings.TrimSpace(r.Err), "\n") != 0 {
		t.Fatalf("want one error line and nothing created: %q", r.Err)
	}
	if accountExists(t, srv.URL, "other-svc") {
		t.Fatal("the failed register created the account other-svc")
	}

	anon := cmdtest.New(t, srv.URL)
	r = anon.Run(cmdtest.Piped, "", "service", "register", "third-svc", "--url", u)
	cmdtest.MustFail(t, r, cmdutil.ExitConflict, "legacy-svc", "third-svc was created and is kept")
}

// TestRegisterBadHealthPathCreatesNothing: flags are checked before anything is created.
func TestRegisterBadHealthPathCreatesNothing(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	h := cmdtest.New(t, srv.URL)
	r := h.Run(cmdtest.Piped, "", "service", "register", "hp-svc", "--url", startBackend(t), "--health-path", "healthz")
	cmdtest.MustFail(t, r, cmdutil.ExitUsage, "--health-path", "/healthz")
	r = h.Run(cmdtest.Piped, "", "service", "run", "--slug", "hp-svc", "--health-path", "healthz", "--", "true")
	cmdtest.MustFail(t, r, cmdutil.ExitUsage, "--health-path")
	r = h.Run(cmdtest.Piped, "", "service", "run", "--slug", "hp-svc", "--", "no-such-program-here")
	cmdtest.MustFail(t, r, 127, "no-such-program-here")
	if accountExists(t, srv.URL, "hp-svc") {
		t.Fatal("a command that failed its checks created the account hp-svc")
	}
}

// TestDeregisterTwiceIsSafe: deregistering what is not registered says so and exits 0.
func TestDeregisterTwiceIsSafe(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	h := cmdtest.New(t, srv.URL)
	u := startBackend(t)
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "service", "register", "dd-svc", "--url", u), "register")
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "service", "deregister", "dd-svc"), "deregister")
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "service", "deregister", "dd-svc"), "deregister again")
	if !strings.Contains(r.Err, "nothing to deregister") {
		t.Fatalf("stderr: %q", r.Err)
	}
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "service", "deregister", "dd-svc", "--url", u), "deregister --url again")
	if !strings.Contains(r.Err, "nothing to deregister") {
		t.Fatalf("stderr: %q", r.Err)
	}
}

// TestRunTakenSlugWithoutPassword: an existing account oo has no password for stops `service
// run` before the program starts (it would run unregistered), unless --self-register.
func TestRunTakenSlugWithoutPassword(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	srv.Register(t, "carol", "carol-password-123")
	srv.Register(t, "bob", "bob-password-123")
	t.Setenv("SVC_TEST_CHILD", "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := cmdtest.New(t, srv.URL)
	r := h.Run(cmdtest.Piped, "", "service", "run", "--slug", "carol", "--", exe)
	cmdtest.MustFail(t, r, cmdutil.ExitAuth, "oo login carol", "--slug", "--self-register")
	if strings.Contains(r.Out, "child up") {
		t.Fatalf("the program was started: %q", r.Out)
	}
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "bob-password-123\n", "login", "bob", "--password-stdin"), "login bob")
	r = h.Run(cmdtest.Piped, "", "service", "run", "--slug", "carol", "--", exe)
	cmdtest.MustFail(t, r, cmdutil.ExitAuth, "logged in as bob", "oo login carol")

	r = h.Run(cmdtest.Piped, "", "service", "run", "--self-register", "--slug", "carol", "--", exe)
	if r.Code != 3 || !strings.Contains(r.Out, "child up as carol") || !strings.Contains(r.Err, "must register itself") {
		t.Fatalf("--self-register: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Out, r.Err)
	}
}

// TestRunRestartsEarlyExitsBounded: --restart on-failure restarts a program that exits before it
// ever listened, and gives up after a bounded number of starts; --restart no does not restart.
func TestRunRestartsEarlyExitsBounded(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	h := cmdtest.New(t, srv.URL)
	r := h.Run(cmdtest.Piped, "", "service", "run", "--slug", "early-svc", "--restart", "on-failure", "--max-backoff", "20ms", "--", "false")
	cmdtest.MustFail(t, r, 1, "early-svc (false) exited with status 1 before listening", "5 times in a row")
	if n := strings.Count(r.Err, "restarting in"); n != 4 {
		t.Fatalf("%d restarts, want 4:\n%s", n, r.Err)
	}
	if strings.Contains(r.Err, "output is above") {
		t.Fatalf("mentions output there was none of:\n%s", r.Err)
	}
	r = h.Run(cmdtest.Piped, "", "service", "run", "--slug", "early-svc", "--", "false")
	cmdtest.MustFail(t, r, 1, "exited with status 1 before listening")
	if strings.Contains(r.Err, "restarting") {
		t.Fatalf("--restart no restarted:\n%s", r.Err)
	}
	// A program that exits 0 is not a failure: on-failure leaves it alone.
	r = h.Run(cmdtest.Piped, "", "service", "run", "--slug", "early-svc", "--restart", "on-failure", "--", "true")
	if r.Code == 0 || strings.Contains(r.Err, "restarting") || !strings.Contains(r.Err, "exited with status 0 before listening") {
		t.Fatalf("true under on-failure: exit %d\n%s", r.Code, r.Err)
	}
}

// TestRunReportsSignalAndOneTimeoutLine: a program killed by a signal is named as such, and a
// start timeout is one line that mentions output only when there was some.
func TestRunReportsSignalAndOneTimeoutLine(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	h := cmdtest.New(t, srv.URL)
	r := h.Run(cmdtest.Piped, "", "service", "run", "--slug", "kill-svc", "--", "sh", "-c", "echo dying; kill -9 $$")
	cmdtest.MustFail(t, r, 128+9, "was killed by signal KILL before listening", "its output is above")
	if strings.Contains(r.Err, "status 137") {
		t.Fatalf("stderr: %q", r.Err)
	}

	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "service", "register", "s-svc", "--url", startBackend(t)), "create s-svc")
	r = h.Run(cmdtest.Piped, "", "service", "run", "--slug", "s-svc", "--start-timeout", "300ms", "--grace", "2s", "--", "sleep", "5")
	cmdtest.MustFail(t, r, 1, "s-svc (sleep) did not listen", "within 300ms", "$PORT")
	if lines := strings.Split(strings.TrimSpace(r.Err), "\n"); len(lines) != 1 || strings.Contains(r.Err, "output is above") {
		t.Fatalf("want one line, no output mentioned:\n%s", r.Err)
	}
	r = h.Run(cmdtest.Piped, "", "service", "run", "--slug", "s-svc", "--start-timeout", "300ms", "--", "sh", "-c", "echo waiting; sleep 5")
	cmdtest.MustFail(t, r, 1, "did not listen", "its output is above")
}
