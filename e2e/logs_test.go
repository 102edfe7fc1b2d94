package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// The real binary follows a slug's requests as JSON lines, ends with 0 on SIGINT, and with 7
// and one line on stderr when the server goes away; the server's shutdown does not wait for it.
func TestLogsFollowsTheRealServer(t *testing.T) {
	t.Parallel()
	e, srv, _ := newSlugEnv(t, "e2e-logs")

	get := func(path string) string {
		rsp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, rsp.Body)
		rsp.Body.Close()
		return rsp.Header.Get("X-Request-Id")
	}
	// Requests until the follower shows one: it is connected from some point on.
	awaitLine := func(p *bgProc, path string) []string {
		t.Helper()
		var ids []string
		for deadline := time.Now().Add(15 * time.Second); !strings.Contains(p.Out.String(), "\n"); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no line from oo logs\nstderr: %s", p.Err.String())
			}
			ids = append(ids, get(path))
		}
		return ids
	}

	p := e.Start("logs", "-o", "json")
	ids := awaitLine(p, "/e2e-logs/hello?x=1")
	_ = p.Cmd.Process.Signal(os.Interrupt)
	if code := p.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("SIGINT: exit %d\nstderr: %s", code, p.Err.String())
	}
	first, _, _ := strings.Cut(p.Out.String(), "\n")
	var ev struct {
		Method, Path, RequestID, Instance string
		Status                            int
		BytesOut                          int64
	}
	if err := json.Unmarshal([]byte(first), &ev); err != nil || ev.Method != "GET" || ev.Path != "/e2e-logs/hello" ||
		ev.Status != 200 || ev.BytesOut != 2 || !strings.HasPrefix(ev.Instance, "inst_") || !contains(ids, ev.RequestID) {
		t.Fatalf("first line %q: %+v %v", first, ev, err)
	}

	p = e.Start("logs") // the logged-in slug's own, lines for people
	awaitLine(p, "/e2e-logs/again")
	start := time.Now()
	srv.Stop()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the server took %s to stop with a follower", took)
	}
	if code := p.Wait(t, 10*time.Second); code != 7 {
		t.Fatalf("server gone: exit %d\nstderr: %s", code, p.Err.String())
	}
	if msg := p.Err.String(); strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "oo: the server at "+srv.URL+" ended the stream") {
		t.Fatalf("stderr: %q", msg)
	}
	if l, _, _ := strings.Cut(p.Out.String(), "\n"); !strings.Contains(l, " GET ") || !strings.Contains(l, " 200 ") || !strings.Contains(l, "/e2e-logs/again") {
		t.Fatalf("line: %q", l)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
