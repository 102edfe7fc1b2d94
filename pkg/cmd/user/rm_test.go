package user_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

func TestUserRm(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	tok := srv.Register(t, "old-svc", "old-svc-password")
	if code := srv.Do(t, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: "http://127.0.0.1:39021"}, nil); code != http.StatusCreated {
		t.Fatalf("register instance: %d", code)
	}
	h := cmdtest.New(t, srv.URL)
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "old-svc-password\n", "login", "old-svc", "--password-stdin"), "login old-svc")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "user", "rm", "old-svc"), cmdutil.ExitAuth)
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, servertest.AdminPassword+"\n", "login", "admin", "--password-stdin"), "login admin")

	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "user", "rm"), cmdutil.ExitUsage, "oo user rm needs SLUG")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "user", "rm", "nobody"), cmdutil.ExitNotFound, `no account "nobody"`)
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "user", "rm", "old-svc"), cmdutil.ExitConflict, "owns 1 instance(s)", "--remove-instances")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "user", "rm", "admin"), cmdutil.ExitUsage, "cannot remove your own account")

	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "user", "rm", "old-svc", "--remove-instances"), "rm")
	if !strings.Contains(r.Err, "Removed account old-svc") || !strings.Contains(r.Err, "Forgot the local login of old-svc") {
		t.Errorf("rm messages: %q", r.Err)
	}
	if h.Config().HasAccount("local", "old-svc") {
		t.Error("the removed account is still a local login")
	}
	if code := srv.Do(t, http.MethodPost, api.PathUserByToken, tok, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("token of the removed account: %d", code)
	}
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "instance", "ls", "-o", "json", "--jq", ".instances | length"), "instance ls")
	if strings.TrimSpace(r.Out) != "0" {
		t.Errorf("instances left: %s", r.Out)
	}
}
