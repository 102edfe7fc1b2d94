package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/proctest"
)

// Nothing etcdtest starts may outlive the tests.
func TestMain(m *testing.M) { os.Exit(proctest.Main(m.Run)) }

// failingTB is a real test's TB whose cleanups the test runs itself and which reports itself
// failed, so that what Start's cleanup does for a failed test can be observed.
type failingTB struct {
	testing.TB
	cleanups []func()
	logs     []string
}

func (f *failingTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *failingTB) Failed() bool      { return true }
func (f *failingTB) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}
func (f *failingTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil && !proctest.Zombie(pid) }

// The cleanup of a failed test kills etcd's process group, reaps it and prints the tail of
// etcd's log.
func TestCleanupKillsGroupAndPrintsLogOnFailure(t *testing.T) {
	f := &failingTB{TB: t}
	e := Start(f)
	pid := e.Pid()
	if pid == 0 || !alive(pid) {
		t.Fatalf("etcd not running after Start (pid %d)", pid)
	}
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
		t.Errorf("etcd's process group = %d (%v), want its own (%d)", pgid, err, pid)
	}
	f.runCleanups()
	if alive(pid) {
		t.Errorf("etcd (pid %d) still running after cleanup", pid)
	}
	logs := strings.Join(f.logs, "\n")
	if !strings.Contains(logs, "etcd log") || !strings.Contains(logs, "127.0.0.1") {
		t.Errorf("cleanup of a failed test did not print etcd's log tail; logged:\n%s", logs)
	}
}

// Stop kills etcd; Restart brings it back on the same ports with the data written before.
func TestStopRestartKeepsDataAndPorts(t *testing.T) {
	e := Start(t)
	c := e.Client(t)
	ctx := context.Background()
	if _, err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err := c.Get(short, "k")
	cancel()
	if err == nil {
		t.Fatal("Get succeeded with etcd stopped")
	}
	before := e.Endpoints()[0]
	e.Restart(t)
	if e.Endpoints()[0] != before {
		t.Fatalf("endpoint moved from %s to %s", before, e.Endpoints()[0])
	}
	ctx10, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The same client reconnects on its own.
	resp, err := c.Get(ctx10, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("after restart k = %v, want v", resp.Kvs)
	}
}

// A paused etcd hangs requests (they end by their deadline, not by a refused connection);
// resumed, it answers again.
func TestPauseHangsResumeAnswers(t *testing.T) {
	e := Start(t)
	c := e.Client(t)
	ctx := context.Background()
	if _, err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	e.Pause()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := c.Get(short, "k")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get on a paused etcd: %v, want the deadline", err)
	}
	e.Resume()
	ctx30, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := c.Get(ctx30, "k"); err != nil {
		t.Fatalf("Get after Resume: %v", err)
	}
}

// recorder is a TB that records Skipf and Fatalf instead of ending the test.
type recorder struct {
	testing.TB
	skipped, fatal string
}

func (r *recorder) Helper()                          {}
func (r *recorder) Skipf(format string, args ...any) { r.skipped = fmt.Sprintf(format, args...) }
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
}

// No binary: a skip with the reason, or a failure when OO_REQUIRE_ETCD=1.
func TestMissingBinarySkipsUnlessRequired(t *testing.T) {
	t.Setenv(BinEnv, "/nonexistent/etcd")
	t.Setenv(RequireEnv, "")
	r := &recorder{TB: t}
	if e := Start(r); e != nil || !strings.Contains(r.skipped, "/nonexistent/etcd") || r.fatal != "" {
		t.Errorf("without %s: skipped %q, fatal %q; want a skip naming the binary", RequireEnv, r.skipped, r.fatal)
	}
	t.Setenv(RequireEnv, "1")
	r = &recorder{TB: t}
	if e := Start(r); e != nil || r.skipped != "" || !strings.Contains(r.fatal, RequireEnv) {
		t.Errorf("with %s=1: skipped %q, fatal %q; want a failure", RequireEnv, r.skipped, r.fatal)
	}
}
