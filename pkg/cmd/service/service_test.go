package service_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// passwordKey is where a service account's password lives in the credential store.
func passwordKey(slug string) string { return "service-password:" + slug }

func startBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: http.NotFoundHandler()}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return "http://" + ln.Addr().String()
}

// TestRegisterKeepsPasswordInKeyring: the service account's password goes to the credential
// store (the keyring), never the config, works for a later login, and a re-run reuses it.
func TestRegisterKeepsPasswordInKeyring(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	h := cmdtest.New(t, srv.URL)
	u := startBackend(t)

	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "service", "register", "kr-svc", "--url", u), "register")
	if !strings.Contains(r.Err, "Created service account kr-svc") || !strings.Contains(r.Err, "Registered "+u) ||
		!strings.Contains(r.Err, "oo user rm kr-svc --remove-instances") {
		t.Fatalf("stderr: %q", r.Err)
	}
	pw, err := h.Keyring.Get("local", passwordKey("kr-svc"))
	if err != nil || pw == "" {
		t.Fatalf("password not in the keyring: %q, %v", pw, err)
	}
	if _, err := client.New(srv.URL).Login(t.Context(), "kr-svc", pw); err != nil {
		t.Fatalf("stored password does not log in: %v", err)
	}
	if strings.Contains(r.Err+r.Out, pw) {
		t.Fatal("the password was printed")
	}

	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "service", "register", "kr-svc", "--url", u), "register again")
	if !strings.Contains(r.Err, "unchanged") || strings.Contains(r.Err, "Created") {
		t.Fatalf("second run: %q", r.Err)
	}
	if again, _ := h.Keyring.Get("local", passwordKey("kr-svc")); again != pw {
		t.Fatal("the password changed on a re-run")
	}

	// An unusable keyring is an error that says what to do, not a silent plain-text file.
	h2 := cmdtest.New(t, srv.URL)
	h2.Keyring.Err = errKeyringDown
	r = h2.Run(cmdtest.Piped, "", "service", "register", "kr2-svc", "--url", startBackend(t))
	cmdtest.MustFail(t, r, cmdutil.ExitError, "--insecure-storage") // this machine's problem, not auth

	// OO_INSECURE_STORAGE=1 is the explicit choice of the plain file for every command.
	h2.Vars["OO_INSECURE_STORAGE"] = "1"
	cmdtest.MustOK(t, h2.Run(cmdtest.Piped, "", "service", "register", "kr2-svc", "--url", startBackend(t)), "register with OO_INSECURE_STORAGE=1")
	if pw, err := h2.Insecure.Get("local", passwordKey("kr2-svc")); err != nil || pw == "" {
		t.Fatalf("password not in the plain file: %q, %v", pw, err)
	}
}

// TestRegisterByAdminOnBehalf: an admin without the service's password registers for it.
func TestRegisterByAdminOnBehalf(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	srv.Register(t, "owned-svc", "owned-svc-password")
	h := cmdtest.New(t, srv.URL)
	u := startBackend(t)

	r := h.Run(cmdtest.Piped, "", "service", "register", "owned-svc", "--url", u)
	cmdtest.MustFail(t, r, cmdutil.ExitConflict, "already taken")

	cmdtest.MustOK(t, h.Run(cmdtest.Piped, servertest.AdminPassword+"\n", "login", "admin", "--password-stdin"), "login")
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "service", "register", "owned-svc", "--url", u), "register as admin")
	if !strings.Contains(r.Err, "on its behalf") {
		t.Fatalf("stderr: %q", r.Err)
	}
	list, err := client.New(srv.URL, client.WithToken(srv.AdminToken(t))).ListInstances(t.Context(), client.InstanceFilter{Slug: "owned-svc"})
	if err != nil || len(list) != 1 || list[0].Slug != "owned-svc" {
		t.Fatalf("instances %+v, %v", list, err)
	}
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "service", "deregister", "owned-svc"), "deregister as admin")
}

func TestRunUsage(t *testing.T) {
	h := cmdtest.New(t, "http://127.0.0.1:1")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"service", "run", "--restart", "sometimes", "--", "true"}, cmdutil.ExitUsage, "--restart"},
		{[]string{"service", "run", "--replicas", "2", "--port", "9000", "--", "true"}, cmdutil.ExitUsage, "--port"},
		{[]string{"service", "run", "--slug", "Bad_Slug", "--", "true"}, cmdutil.ExitUsage, "slug"},
		{[]string{"service", "run", "--slug", "x-svc", "--", "no-such-program-here"}, 127, "no-such-program-here"},
		{[]string{"service", "run", "--", "/usr/bin/python3.11"}, cmdutil.ExitUsage, "--slug"},
		{[]string{"service", "run", "--", "npm", "start"}, cmdutil.ExitUsage, "--slug"},
		{[]string{"service", "register", "x-svc", "--url", "127.0.0.1:80"}, cmdutil.ExitUsage, "--url"},
	} {
		cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", c.args...), c.code, c.want)
	}
}

var errKeyringDown = &keyringDown{}

type keyringDown struct{}

func (*keyringDown) Error() string { return "no D-Bus session" }
