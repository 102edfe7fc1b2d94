package top_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/server/servertest"
)

// trafficServer is a real server with the account top-svc, one instance behind it and 6
// requests proxied through it, 2 of them answered 500.
func trafficServer(t *testing.T) (*servertest.Server, *cmdtest.Harness) {
	t.Helper()
	srv := servertest.Start(t)
	tok := srv.Register(t, "top-svc", "top-svc-password-1234")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/fail") {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(backend.Close)
	if code := srv.Do(t, http.MethodPut, api.PathInstance, tok, api.RegisterInstanceRequest{URL: backend.URL}, nil); code != http.StatusCreated {
		t.Fatalf("register: HTTP %d", code)
	}
	for _, p := range []string{"a", "b", "c", "d", "fail", "fail"} {
		rsp, err := http.Get(srv.URL + "/top-svc/" + p)
		if err != nil {
			t.Fatal(err)
		}
		rsp.Body.Close()
	}
	h := cmdtest.New(t, srv.URL)
	h.Vars["OO_TOKEN"] = tok
	return srv, h
}

func TestTopOnce(t *testing.T) {
	t.Parallel()
	_, h := trafficServer(t)

	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "top", "--once"), "top --once")
	lines := strings.Split(strings.TrimSpace(r.Out), "\n")
	if len(lines) != 2 || lines[0] != "SLUG\tREQ/S\tP50\tP99\tERR%\tIN-FLIGHT\tHEALTHY" {
		t.Fatalf("piped table: %q", r.Out)
	}
	cells := strings.Split(lines[1], "\t")
	if cells[0] != "top-svc" || cells[4] != "33.3" || cells[6] != "1/1" || cells[2] == "-" {
		t.Fatalf("row: %q (want top-svc, 33.3%% errors, a p50, 1/1 healthy)", cells)
	}

	r = cmdtest.MustOK(t, h.Run(cmdtest.Terminal, "", "top", "--once"), "top --once on a terminal")
	if !strings.Contains(r.Out, "SLUG") || !strings.Contains(r.Out, "top-svc") || strings.Contains(r.Out, "\t") {
		t.Fatalf("terminal table: %q", r.Out)
	}
}

func TestTopJSONOnce(t *testing.T) {
	t.Parallel()
	_, h := trafficServer(t)
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "top", "-o", "json", "--once"), "top -o json --once")
	var top api.TopResponse
	if err := json.Unmarshal([]byte(r.Out), &top); err != nil {
		t.Fatalf("%v: %q", err, r.Out)
	}
	if top.Window != "10s" || len(top.Slugs) != 1 {
		t.Fatalf("snapshot: %+v", top)
	}
	s := top.Slugs[0]
	if s.Slug != "top-svc" || s.Requests != 6 || s.Errors != 2 || s.RPS <= 0 || s.Healthy != 1 || s.Instances != 1 {
		t.Fatalf("slug: %+v", s)
	}
}

// Without --once, -o json prints one compact snapshot per line (the hidden --snapshots ends it).
func TestTopJSONLines(t *testing.T) {
	t.Parallel()
	_, h := trafficServer(t)
	r := cmdtest.MustOK(t, h.Run(cmdtest.Piped, "", "top", "-o", "json", "--interval", "100ms", "--snapshots", "3"), "top -o json")
	sc := bufio.NewScanner(strings.NewReader(r.Out))
	n := 0
	for sc.Scan() {
		var top api.TopResponse
		if err := json.Unmarshal(sc.Bytes(), &top); err != nil || len(top.Slugs) != 1 {
			t.Fatalf("line %d: %v %q", n, err, sc.Text())
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d lines, want 3: %q", n, r.Out)
	}
}

func TestTopNeedsATerminal(t *testing.T) {
	t.Parallel()
	_, h := trafficServer(t)
	cmdtest.MustFail(t, h.Run(cmdtest.Piped, "", "top"), cmdutil.ExitUsage, "needs a terminal", "oo top -o json --once")
	// stdout a terminal but stdin not (oo top < file) is no better.
	cmdtest.MustFail(t, h.Run(cmdtest.TTY{Out: true, Err: true}, "", "top"), cmdutil.ExitUsage, "oo top -o json --once")
	r := h.Run(cmdtest.Piped, "", "top", "-o", "yaml", "--once")
	cmdtest.MustFail(t, r, cmdutil.ExitUsage, "unknown output format")
}

func TestTopNotLoggedIn(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t)
	h := cmdtest.New(t, srv.URL)
	r := h.Run(cmdtest.Piped, "", "top", "--once")
	cmdtest.MustFail(t, r, cmdutil.ExitAuth, "oo login")
	if strings.Count(strings.TrimSpace(r.Err), "\n") != 0 {
		t.Fatalf("want one line: %q", r.Err)
	}
}
