package service_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// The server's own address, under any name that reaches it from its machine, is refused
// before anything is created: registered, it would only ever answer 508.
func TestRegisterRefusesTheServersOwnURL(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	h := cmdtest.New(t, srv.URL)
	su, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port := su.Port()
	for _, u := range []string{
		srv.URL, srv.URL + "/", "http://localhost:" + port, "http://LOCALHOST:" + port + "/x",
		"http://[::1]:" + port, "http://0.0.0.0:" + port, "http://127.0.0.2:" + port,
	} {
		r := h.Run(cmdtest.Piped, "", "service", "register", "self-svc", "--url", u)
		cmdtest.MustFail(t, r, cmdutil.ExitUsage, "--url "+u+" is the oo server itself", "508")
	}
	if h.Keyring.Len() != 0 {
		t.Fatal("an account password was stored for a refused registration")
	}
	admin := client.New(srv.URL).WithToken(srv.AdminToken(t))
	if list, err := admin.ListInstances(t.Context(), client.InstanceFilter{}); err != nil || len(list) != 0 {
		t.Fatalf("instances after refusals: %+v %v", list, err)
	}
	// Another port on the same host is another server.
	other := "http://127.0.0.1:9"
	if port == "9" {
		other = "http://127.0.0.1:10"
	}
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "service", "register", "self-svc", "--url", other), "register another port")
	if !strings.Contains(r.Err, "Registered "+other) {
		t.Fatalf("stderr: %q", r.Err)
	}
}
