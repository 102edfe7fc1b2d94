package instance_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/server/servertest"
)

// registerInstance registers url for the account behind token and returns the instance id.
func registerInstance(t *testing.T, srv *servertest.Server, token, url string) string {
	t.Helper()
	var rsp api.RegisterInstanceResponse
	if code := srv.Do(t, http.MethodPut, api.PathInstance, token, api.RegisterInstanceRequest{URL: url}, &rsp); code/100 != 2 {
		t.Fatalf("register %s: HTTP %d", url, code)
	}
	list, err := client.New(srv.URL, client.WithToken(token)).ListInstances(context.Background(), client.InstanceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		if strings.TrimRight(in.URL, "/") == strings.TrimRight(url, "/") {
			return in.ID
		}
	}
	t.Fatalf("%s not listed after registering: %+v", url, list)
	return ""
}

func adminHarness(t *testing.T) (*servertest.Server, *cmdtest.Harness) {
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	h.Vars["OO_TOKEN"] = srv.AdminToken(t)
	return srv, h
}

func TestLsEmptyIsSuccess(t *testing.T) {
	t.Parallel()
	_, h := adminHarness(t)
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "instance", "ls"), "ls")
	if r.Out != "ID\tURL\tSTATUS\tOWNER SLUG\tLAST HEARTBEAT\n" {
		t.Fatalf("empty piped list: %q", r.Out)
	}
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "instance", "ls", "-o", "json"), "ls json")
	if strings.TrimSpace(r.Out) != "{\n  \"instances\": []\n}" {
		t.Fatalf("empty json: %q", r.Out)
	}
}

func TestLsShowsInstances(t *testing.T) {
	t.Parallel()
	srv, h := adminHarness(t)
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer svc.Close()
	tok := srv.Register(t, "skeleton-svc", "skeleton-password-1")
	id := registerInstance(t, srv, tok, svc.URL)
	other := srv.Register(t, "other-svc", "other-password-1")
	id2 := registerInstance(t, srv, other, "http://127.0.0.1:9")
	if code := srv.Do(t, http.MethodPut, api.HeartbeatPath(id), tok, api.HeartbeatRequest{}, nil); code/100 != 2 {
		t.Fatalf("heartbeat: HTTP %d", code)
	}

	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "instance", "ls"), "ls")
	lines := strings.Split(strings.TrimSpace(r.Out), "\n")
	if lines[0] != "ID\tURL\tSTATUS\tOWNER SLUG\tLAST HEARTBEAT" || len(lines) != 3 {
		t.Fatalf("table: %q", r.Out)
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		rows[f[0]] = f
	}
	if row := rows[id]; row == nil || row[3] != "skeleton-svc" || !regexp.MustCompile(`^\d+s ago$`).MatchString(row[4]) {
		t.Fatalf("row of %s: %q", id, row)
	}
	if row := rows[id2]; row == nil || row[3] != "other-svc" || row[4] != "-" {
		t.Fatalf("row of %s (never heartbeated): %q", id2, row)
	}
	// --slug filters on the server.
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "instance", "ls", "--slug", "other-svc", "-o", "json"), "ls --slug")
	var rsp api.ListInstancesResponse
	if err := json.Unmarshal([]byte(r.Out), &rsp); err != nil {
		t.Fatal(err)
	}
	// -o json keeps oo's extensions (createdAt), which the server sends only when asked.
	if len(rsp.Instances) != 1 || rsp.Instances[0].ID != id2 || rsp.Instances[0].CreatedAt.IsZero() {
		t.Fatalf("--slug: %+v", rsp.Instances)
	}
	// On a terminal: aligned, no tabs, colour only when allowed.
	r = cmdtest.MustOK(t, h.Run(cmdtest.Terminal, "", "instance", "ls"), "ls tty")
	if strings.Contains(r.Out, "\t") || strings.Contains(r.Out, "\x1b[") || !strings.Contains(r.Out, "OWNER SLUG") {
		t.Fatalf("tty table without colour: %q", r.Out)
	}
	color := cmdtest.Terminal
	color.Color = true
	r = cmdtest.MustOK(t, h.Run(color, "", "instance", "ls"), "ls colour")
	if !strings.Contains(r.Out, "\x1b[") {
		t.Fatalf("tty table with colour has no styling: %q", r.Out)
	}
}

func TestRm(t *testing.T) {
	t.Parallel()
	srv, h := adminHarness(t)
	tok := srv.Register(t, "rm-svc", "rm-password-1")
	id := registerInstance(t, srv, tok, "http://127.0.0.1:9")
	mallory := srv.Register(t, "mallory", "mallory-password-1")

	h.Vars["OO_TOKEN"] = mallory
	r1 := h.Run(cmdtest.Piped, "", "instance", "rm", id)
	cmdtest.MustFail(t, r1, cmdutil.ExitAuth, "oo: "+id+":")
	if strings.Count(r1.Err, "\n") != 1 {
		t.Fatalf("one id, one line: %q", r1.Err)
	}

	h.Vars["OO_TOKEN"] = tok
	r := h.Run(cmdtest.Piped, "", "instance", "rm", id, "inst_doesnotexist")
	cmdtest.MustFail(t, r, cmdutil.ExitNotFound, "Removed "+id, "oo: inst_doesnotexist:", "1 of 2 not removed")
	r = cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "instance", "ls", "-o", "json"), "ls")
	if strings.Contains(r.Out, id) {
		t.Fatalf("still listed: %s", r.Out)
	}
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "instance", "rm"), cmdutil.ExitUsage)
}

func TestLsErrors(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "instance", "ls"), cmdutil.ExitAuth, "not logged in to env local: run `oo login`")
	h.Vars["OO_TOKEN"] = "garbage"
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "instance", "ls"), cmdutil.ExitAuth, "the token in OO_TOKEN was rejected")
	h.Vars["OO_TOKEN"] = srv.AdminToken(t)
	h.Vars["OO_URL"] = "http://127.0.0.1:1"
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "instance", "ls"), cmdutil.ExitUnreached, "cannot reach the oo server at http://127.0.0.1:1", "oo server start")
}

// TestLsPages: ls fetches the list a page at a time and shows all of it, in order; --limit
// stops early; nonsense sizes are usage errors.
func TestLsPages(t *testing.T) {
	t.Parallel()
	srv, h := adminHarness(t)
	tok := srv.Register(t, "pages-svc", "pages-password-1")
	var want []string
	for _, u := range []string{"http://127.0.0.1:5001", "http://127.0.0.1:5002", "http://127.0.0.1:5003", "http://127.0.0.1:5004", "http://127.0.0.1:5005"} {
		want = append(want, registerInstance(t, srv, tok, u))
	}
	listed := func(args ...string) []string {
		t.Helper()
		r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", append([]string{"instance", "ls", "-o", "json"}, args...)...), "ls")
		var rsp api.ListInstancesResponse
		if err := json.Unmarshal([]byte(r.Out), &rsp); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(r.Out, "nextCursor") {
			t.Fatalf("the cursor leaked into the output: %s", r.Out)
		}
		var ids []string
		for _, in := range rsp.Instances {
			ids = append(ids, in.ID)
		}
		return ids
	}
	if got := listed("--page-size", "2"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("pages of 2: %v, want %v", got, want)
	}
	if got := listed("--page-size", "2", "--limit", "3"); strings.Join(got, " ") != strings.Join(want[:3], " ") {
		t.Fatalf("--limit 3: %v, want %v", got, want[:3])
	}
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "instance", "ls", "--limit", "-1"), cmdutil.ExitUsage, "--limit")
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "instance", "ls", "--page-size", "-2"), cmdutil.ExitUsage, "--page-size")
}
