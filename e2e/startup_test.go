package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startupBackend does what the seed document's program does: it registers its URL with the
// server first, then (after wait) starts listening. listening is closed once it accepts
// connections; the backend is stopped when the test ends.
func startupBackend(t *testing.T, base, token, slug string, wait time.Duration) (addr string, listening <-chan time.Time) {
	t.Helper()
	addr = freeAddr(t)
	code := cliHTTP(t, http.MethodPut, base+"/registry-svc/instance", token, map[string]string{"url": "http://" + addr})
	if code != http.StatusCreated {
		t.Fatalf("register instance: HTTP %d", code)
	}
	ch := make(chan time.Time, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"hello":"world"}`)
	})}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-time.After(wait):
		case <-stop:
			return
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("backend listen: %v", err)
			close(ch)
			return
		}
		ch <- time.Now()
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		close(stop)
		srv.Close()
		<-done
	})
	return addr, ch
}

// The seed flow exactly as the document tells it: the program registers, then listens, and
// the first request through the server after it listens is answered by it. It used to be
// Unreachable one probe after registering and answered 503 for about one probe interval.
// Also: LAST HEARTBEAT shows what the service sent (nothing here), not probe successes.
func TestStartupFirstRequestAfterListenSucceeds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.StartServer() // default probe interval: the seed flow as a user runs it
	code, token := serverRegister(t, srv.URL, "skeleton-svc")
	if code != http.StatusOK {
		t.Fatalf("register account: HTTP %d", code)
	}
	addr, listening := startupBackend(t, srv.URL, token, "skeleton-svc", 700*time.Millisecond)
	at, ok := <-listening
	if !ok {
		t.FailNow()
	}
	rsp, err := http.Get(srv.URL + "/skeleton-svc/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK || string(body) != `{"hello":"world"}` {
		t.Fatalf("first request %v after the backend listens: HTTP %d %s\nserver log:\n%s", time.Since(at), rsp.StatusCode, body, srv.Log.String())
	}
	t.Logf("first request answered %v after the backend started listening", time.Since(at))

	// The probes see it too, and the listing keeps heartbeats and probes apart.
	cli := e.With("OO_URL="+srv.URL, "OO_TOKEN="+token)
	var listed struct {
		Instances []map[string]any `json:"instances"`
	}
	svcEventually(t, 10*time.Second, "instance Healthy", func() bool {
		r := cli.Run("", "instance", "ls", "-o", "json")
		return r.Code == 0 && json.Unmarshal([]byte(r.Stdout), &listed) == nil &&
			len(listed.Instances) == 1 && listed.Instances[0]["status"] == "Healthy"
	}, srv.Log)
	if hb, ok := listed.Instances[0]["lastHeartbeat"]; ok {
		t.Errorf("lastHeartbeat %v for an instance that never sent a heartbeat", hb)
	}
	r := cli.Run("", "instance", "ls")
	cliWant(t, r, 0)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if f := strings.Fields(lines[len(lines)-1]); len(lines) != 2 || !strings.Contains(lines[1], addr) || f[len(f)-1] != "-" {
		t.Fatalf("oo instance ls: LAST HEARTBEAT should be - for an instance that never sent one:\n%s", r.Stdout)
	}
}
