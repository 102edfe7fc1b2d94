package service_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/proctest"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// TestMain lets the test binary play the supervised program: with SVC_TEST_CHILD set it serves
// GET /$OO_SLUG/hello on $PORT for a while (2s, or SVC_TEST_CHILD_FOR) and exits with 3 (or
// SVC_TEST_CHILD_CODE).
func TestMain(m *testing.M) {
	if os.Getenv("SVC_TEST_CHILD") == "1" {
		ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		life, code := 2*time.Second, 3
		if d, err := time.ParseDuration(os.Getenv("SVC_TEST_CHILD_FOR")); err == nil {
			life = d
		}
		if c, err := strconv.Atoi(os.Getenv("SVC_TEST_CHILD_CODE")); err == nil {
			code = c
		}
		go func() {
			time.Sleep(life)
			os.Exit(code)
		}()
		fmt.Println("child up as", os.Getenv("OO_SLUG"), "replica", os.Getenv("OO_REPLICA"))
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, os.Getenv("OO_REPLICA"))
		}))
		return
	}
	// Nothing a test here starts (the supervised copies of this binary) may outlive the tests.
	os.Exit(proctest.Main(m.Run))
}

// TestRunInProcess runs the supervisor under the race detector: two replicas are registered,
// heartbeat, are reached through the proxy, and when they exit oo deregisters them and exits
// with their code.
func TestRunInProcess(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	h := cmdtest.New(t, srv.URL)
	t.Setenv("SVC_TEST_CHILD", "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	var reached atomic.Int32
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		seen := map[string]bool{}
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			rsp, err := http.Get(srv.URL + "/inproc-svc/hello")
			if err != nil {
				continue
			}
			var b [8]byte
			n, _ := rsp.Body.Read(b[:])
			rsp.Body.Close()
			if rsp.StatusCode == 200 && !seen[string(b[:n])] {
				seen[string(b[:n])] = true
				reached.Add(1)
			}
		}
	}()
	r := h.Run(cmdtest.Piped, "", "service", "run", "--slug", "inproc-svc", "--replicas", "2", "--heartbeat", "100ms", "--", exe)
	close(stop)
	<-polled
	if r.Code != 3 {
		t.Fatalf("exit %d, want the children's 3\nstdout: %s\nstderr: %s", r.Code, r.Out, r.Err)
	}
	if n := reached.Load(); n != 2 {
		t.Errorf("the proxy reached %d distinct replicas, want 2\nstderr: %s", n, r.Err)
	}
	if !strings.Contains(r.Out, "[inproc-svc-1] child up as inproc-svc replica 1") || !strings.Contains(r.Out, "[inproc-svc-2] child up") {
		t.Errorf("stdout not prefixed per replica: %q", r.Out)
	}
	list, err := client.New(srv.URL, client.WithToken(srv.AdminToken(t))).ListInstances(t.Context(), client.InstanceFilter{Slug: "inproc-svc"})
	if err != nil || len(list) != 0 {
		t.Fatalf("instances left: %+v, %v", list, err)
	}
}
