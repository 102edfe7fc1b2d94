package user_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/server/servertest"
)

func TestUserLsAdminOnly(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	srv.Register(t, "bob", "bob-password-1")
	h := cmdtest.New(t, srv.URL)
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "user", "ls"), cmdutil.ExitAuth, "not logged in to env local: run `oo login`")

	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "bob-password-1\n", "login", "bob", "--password-stdin"), "login bob")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "user", "ls"), cmdutil.ExitAuth, "you are bob on env local")

	cmdtest.MustOK(t, h.Run(cmdtest.Piped, servertest.AdminPassword+"\n", "login", "admin", "--password-stdin"), "login admin")
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "user", "ls"), "ls")
	lines := strings.Split(strings.TrimSpace(r.Out), "\n")
	if lines[0] != "ID\tSLUG\tNAME\tROLES\tCREATED" || len(lines) != 3 {
		t.Fatalf("piped table: %q", r.Out)
	}
	if !strings.Contains(r.Out, "\tbob\t") || !strings.Contains(r.Out, "\tadmin\t") {
		t.Fatalf("missing users: %q", r.Out)
	}
	r = cmdtest.MustOK(t, h.Run(cmdtest.Terminal, "", "user", "ls"), "ls tty")
	if strings.Contains(r.Out, "\t") || !strings.Contains(r.Out, "ago") {
		t.Fatalf("tty table: %q", r.Out)
	}
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "user", "ls", "-o", "json"), "ls json")
	var rsp api.ListUsersResponse
	if err := json.Unmarshal([]byte(r.Out), &rsp); err != nil || len(rsp.Users) != 2 {
		t.Fatalf("json: %v %s", err, r.Out)
	}
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "user", "ls", "-o", "yaml"), cmdutil.ExitUsage, "unknown output format")
}

func TestUserCreate(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, servertest.AdminPassword+"\n", "login", "admin", "--password-stdin"), "login admin")
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "dave-password-1\n", "user", "create", "dave", "--password-stdin", "-o", "json"), "create")
	var rsp api.CreateUserResponse
	if err := json.Unmarshal([]byte(r.Out), &rsp); err != nil || rsp.User.Slug != "dave" {
		t.Fatalf("json: %v %s", err, r.Out)
	}
	srv.Login(t, "dave", "dave-password-1")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "dave-password-1\n", "user", "create", "dave", "--password-stdin"), cmdutil.ExitConflict)
	// The admin stays the selected account: creating a user does not log in as them.
	if h.Config().Environments["local"].User != "admin" {
		t.Fatal("create switched accounts")
	}
}
