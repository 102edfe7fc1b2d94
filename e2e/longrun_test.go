package e2e

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestServiceRunOutlivesItsToken: with tokens that live 3 s, `oo service run` keeps its
// program routable for a 15 s run (it logs in again with the password it keeps, and hands the
// program a token file it keeps current), and deregisters with a valid token when stopped.
func TestServiceRunOutlivesItsToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.StartServer("--token-ttl", "3s")
	e = e.With("OO_URL=" + srv.URL)

	// Beats every 2 s with a 6 s TTL: a service whose beats stop at the first token's expiry
	// is Unreachable well within the run.
	p := svcRun(t, e, "--slug", "long-svc", "--heartbeat", "2s", "--", svcTestServer(t))
	svcWaitHello(t, srv, "long-svc", p)
	start := time.Now()
	var failures []string
	for n := 0; time.Since(start) < 15*time.Second; n++ {
		if _, _, err := svcGetHello(srv.URL, "long-svc"); err != nil {
			failures = append(failures, time.Since(start).Round(time.Millisecond).String()+": "+err.Error())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(failures) > 0 {
		t.Errorf("not routable throughout the run (%d failures):\n%s\nstderr:\n%s", len(failures), strings.Join(failures, "\n"), p.Err)
	}
	// The program's own token (from the file oo keeps) works after five token lifetimes too.
	rsp, err := svcHTTP.Get(srv.URL + "/long-svc/whoami")
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK {
		t.Errorf("the program's token after 15 s: HTTP %d, want 200", rsp.StatusCode)
	}

	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Errorf("exit code %d\nstderr:\n%s", code, p.Err)
	}
	// A fresh admin login: the tokens of this server expire within the test.
	if list := svcInstances(t, svcAdmin(t, srv), "long-svc"); len(list) != 0 {
		t.Errorf("instances left after oo stopped: %+v\nstderr:\n%s", list, p.Err)
	}
	if strings.Contains(p.Err.String(), "failed") {
		t.Errorf("oo reported failures:\n%s", p.Err)
	}
}
