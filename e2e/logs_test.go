package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// logsProc is a running `oo logs`.
type logsProc struct {
	cmd         *exec.Cmd
	out, errOut *syncBuffer
	done        chan error
}

func startLogs(t *testing.T, e *env, args ...string) *logsProc {
	t.Helper()
	cmd := exec.Command(ooBin, append([]string{"logs"}, args...)...)
	cmd.Env = e.Vars
	inOwnGroup(cmd)
	p := &logsProc{cmd: cmd, out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		p.done <- nil
		checkGroup(t, cmd)
	})
	return p
}

// wait returns the exit code, failing the test after within.
func (p *logsProc) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		t.Fatalf("oo logs still running after %s\nstdout: %s\nstderr: %s", within, p.out.String(), p.errOut.String())
	}
	return -1
}

// The real binary follows a slug's requests as JSON lines, ends with 0 on SIGINT, and with 7
// and one line on stderr when the server goes away; the server's shutdown does not wait for it.
func TestLogsFollowsTheRealServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t).With(cliNoKeyring)
	srv := e.StartServer()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	t.Cleanup(backend.Close)
	code, tok := serverRegister(t, srv.URL, "e2e-logs")
	if code != http.StatusOK {
		t.Fatalf("register: HTTP %d", code)
	}
	serverPutInstance(t, srv.URL, tok, backend.URL)
	e = e.With("OO_URL="+srv.URL, "OO_TOKEN="+tok)

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
	awaitLine := func(p *logsProc, path string) []string {
		t.Helper()
		var ids []string
		for deadline := time.Now().Add(15 * time.Second); !strings.Contains(p.out.String(), "\n"); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no line from oo logs\nstderr: %s", p.errOut.String())
			}
			ids = append(ids, get(path))
		}
		return ids
	}

	p := startLogs(t, e, "-o", "json")
	ids := awaitLine(p, "/e2e-logs/hello?x=1")
	_ = p.cmd.Process.Signal(os.Interrupt)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("SIGINT: exit %d\nstderr: %s", code, p.errOut.String())
	}
	first, _, _ := strings.Cut(p.out.String(), "\n")
	var ev struct {
		Method, Path, RequestID, Instance string
		Status                            int
		BytesOut                          int64
	}
	if err := json.Unmarshal([]byte(first), &ev); err != nil || ev.Method != "GET" || ev.Path != "/e2e-logs/hello" ||
		ev.Status != 200 || ev.BytesOut != 2 || !strings.HasPrefix(ev.Instance, "inst_") || !contains(ids, ev.RequestID) {
		t.Fatalf("first line %q: %+v %v", first, ev, err)
	}

	p = startLogs(t, e) // the logged-in slug's own, lines for people
	awaitLine(p, "/e2e-logs/again")
	start := time.Now()
	srv.Stop()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the server took %s to stop with a follower", took)
	}
	if code := p.wait(t, 10*time.Second); code != 7 {
		t.Fatalf("server gone: exit %d\nstderr: %s", code, p.errOut.String())
	}
	if msg := p.errOut.String(); strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "oo: the server at "+srv.URL+" ended the stream") {
		t.Fatalf("stderr: %q", msg)
	}
	if l, _, _ := strings.Cut(p.out.String(), "\n"); !strings.Contains(l, " GET ") || !strings.Contains(l, " 200 ") || !strings.Contains(l, "/e2e-logs/again") {
		t.Fatalf("line: %q", l)
	}
}

// serverPutInstance registers instanceURL with token.
func serverPutInstance(t *testing.T, base, token, instanceURL string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, base+"/registry-svc/instance", strings.NewReader(`{"url":"`+instanceURL+`"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusCreated {
		t.Fatalf("register instance %s: HTTP %d", instanceURL, rsp.StatusCode)
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
