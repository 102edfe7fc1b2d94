//go:build unix

package service_test

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/proctest"
	"github.com/ooctl/oo/pkg/client"
	"github.com/ooctl/oo/pkg/cmd/cmdtest"
	"github.com/ooctl/oo/pkg/cmd/root"
	"github.com/ooctl/oo/pkg/iostreams"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/servertest"
)

// TestRunRestartAlways: --restart always restarts a program that exited 0 after serving, with a
// growing backoff, and SIGINT during the wait stops oo at once with the last exit code (0)
// and no further start.
func TestRunRestartAlways(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { c.ProbeInterval = -1 })
	h := cmdtest.New(t, srv.URL)
	t.Setenv("SVC_TEST_CHILD", "1")
	t.Setenv("SVC_TEST_CHILD_FOR", "400ms")
	t.Setenv("SVC_TEST_CHILD_CODE", "0")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	// cmdtest.Run returns only at the end; this runs the same tree with streams readable meanwhile.
	out, errOut := &proctest.Output{}, &proctest.Output{}
	ios := &iostreams.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut}
	f := h.Factory(ios)
	cmd := root.NewCmdFactory(f)
	cmd.SetArgs([]string{"service", "run", "--slug", "always-svc", "--restart", "always", "--", exe})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- root.Execute(ctx, f, cmd) }()

	// The second wait is 1s: time enough to interrupt it.
	deadline := time.After(30 * time.Second)
	for !strings.Contains(errOut.String(), "restarting in 1s") {
		select {
		case code := <-done:
			t.Fatalf("oo exited %d before its second restart\nstdout: %s\nstderr: %s", code, out, errOut)
		case <-deadline:
			cancel()
			t.Fatalf("no second restart within 30s\nstdout: %s\nstderr: %s", out, errOut)
		case <-time.After(20 * time.Millisecond):
		}
	}
	// oo has caught SIGINT since before its first start, so this reaches it, not the test.
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var code int
	select {
	case code = <-done:
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatalf("oo did not stop within 5s of SIGINT during the backoff wait\nstderr: %s", errOut)
	}
	stderr := errOut.String()
	if code != 0 {
		t.Fatalf("exit %d, want the program's last 0\nstderr: %s", code, stderr)
	}
	if !strings.Contains(stderr, "always-svc exited with status 0; restarting in 500ms") ||
		!strings.Contains(stderr, "interrupt: stopping always-svc") {
		t.Fatalf("stderr: %s", stderr)
	}
	if n := strings.Count(out.String(), "child up as always-svc"); n != 2 {
		t.Fatalf("%d starts, want 2 (none after SIGINT)\nstdout: %s\nstderr: %s", n, out, stderr)
	}
	list, err := client.New(srv.URL, client.WithToken(srv.AdminToken(t))).ListInstances(t.Context(), client.InstanceFilter{Slug: "always-svc"})
	if err != nil || len(list) != 0 {
		t.Fatalf("instances left: %+v, %v", list, err)
	}
}
