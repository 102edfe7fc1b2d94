package root_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/server/servertest"
)

// complete runs cobra's hidden __complete command, as the shell scripts do on <TAB>, and returns
// the candidates (without descriptions) and the directive line.
func complete(t *testing.T, h *cmdtest.Harness, args ...string) ([]string, string) {
	t.Helper()
	r := h.Run(cmdtest.Piped, "", append([]string{"__complete"}, args...)...)
	lines := strings.Split(strings.TrimRight(r.Out, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], ":") {
		t.Fatalf("__complete %v: no directive in %q (stderr %q)", args, r.Out, r.Err)
	}
	var vals []string
	for _, l := range lines[:len(lines)-1] {
		v, _, _ := strings.Cut(l, "\t")
		vals = append(vals, v)
	}
	return vals, lines[len(lines)-1]
}

func TestCompletionOffersLiveValues(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	tok := srv.Register(t, "comp-svc", "password-for-comp")
	var rsp api.RegisterInstanceResponse
	if code := srv.Do(t, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: "http://127.0.0.1:39001"}, &rsp); code/100 != 2 {
		t.Fatalf("register: HTTP %d", code)
	}
	h.Vars["OO_TOKEN"] = tok

	ids, dir := complete(t, h, "instance", "rm", "")
	if len(ids) != 1 || !strings.HasPrefix(ids[0], "inst_") || dir != ":4" {
		t.Fatalf("instance rm <TAB>: %v %s", ids, dir)
	}
	if again, _ := complete(t, h, "instance", "rm", ids[0], ""); len(again) != 0 {
		t.Errorf("an ID already on the line is offered again: %v", again)
	}
	if none, _ := complete(t, h, "instance", "rm", "zz"); len(none) != 0 {
		t.Errorf("prefix zz offered %v", none)
	}
	if slugs, _ := complete(t, h, "instance", "ls", "--slug", "comp"); len(slugs) != 1 || slugs[0] != "comp-svc" {
		t.Errorf("--slug <TAB>: %v", slugs)
	}
	if slugs, _ := complete(t, h, "service", "deregister", ""); len(slugs) != 1 || slugs[0] != "comp-svc" {
		t.Errorf("service deregister <TAB>: %v", slugs)
	}
	// User names: the server's accounts for an admin (oo user rm), nothing for anyone else;
	// the accounts logged in locally for login, logout and user switch.
	if users, _ := complete(t, h, "user", "rm", ""); len(users) != 0 {
		t.Errorf("user rm <TAB> as a non-admin offered %v", users)
	}
	h.Vars["OO_TOKEN"] = srv.AdminToken(t)
	if users, _ := complete(t, h, "user", "rm", ""); strings.Join(users, " ") != "admin comp-svc" {
		t.Errorf("user rm <TAB> as admin: %v", users)
	}
	delete(h.Vars, "OO_TOKEN")
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "password-for-comp\n", "login", "comp-svc", "--password-stdin"), "login comp-svc")
	for _, args := range [][]string{{"user", "switch", ""}, {"login", "c"}, {"logout", ""}} {
		if got, _ := complete(t, h, args...); strings.Join(got, " ") != "comp-svc" {
			t.Errorf("%v: %v, want the local account comp-svc", args, got)
		}
	}
}

func TestCompletionOffersConfigAndFixedChoices(t *testing.T) {
	t.Parallel()
	h := cmdtest.New(t, "http://127.0.0.1:9")
	cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "env", "add", "staging", "http://127.0.0.1:9"), "env add")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"env", "use", ""}, "local staging"},
		{[]string{"env", "rm", "st"}, "staging"},
		{[]string{"instance", "ls", "-e", ""}, "local staging"},
		{[]string{"instance", "ls", "-o", ""}, "json"},
		{[]string{"server", "start", "--registration", ""}, "open closed"},
		{[]string{"server", "start", "--log-level", "w"}, "warn"},
		{[]string{"service", "run", "--restart", ""}, "no on-failure always"},
	}
	for _, c := range cases {
		got, dir := complete(t, h, c.args...)
		if strings.Join(got, " ") != c.want || dir != ":4" {
			t.Errorf("%v: got %v %s, want %q :4", c.args, got, dir, c.want)
		}
	}
	// A server that does not answer gives no candidates, quickly, and no error output.
	if got, dir := complete(t, h, "instance", "rm", ""); len(got) != 0 || dir != ":4" {
		t.Errorf("unreachable server: %v %s", got, dir)
	}
}
