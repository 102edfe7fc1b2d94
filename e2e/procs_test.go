package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ooctl/oo/internal/proctest"
)

// Every process a test starts is owned by it: it runs in a process group of its own, which is
// killed when the test ends, and it carries a mark in its environment, inherited by everything
// it starts (even in other process groups, as `oo service run` puts its programs). When the
// test's processes have been stopped, anything still running with the mark outlived the test:
// the test fails and the process is killed.

// inOwnGroup makes cmd the leader of a new process group, so that the group can be signalled
// as a whole.
func inOwnGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// checkGroup, called once cmd (started with inOwnGroup) has been stopped, fails the test if
// anything is left in its process group, and kills it.
func checkGroup(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if cmd.Process == nil {
		return
	}
	pgid := cmd.Process.Pid
	if !awaitGone(5*time.Second, func() bool { return syscall.Kill(-pgid, 0) == nil }) {
		t.Errorf("processes left running in the group of %s (pid %d): %s", filepath.Base(cmd.Path), pgid, describeGroup(pgid))
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// checkLeftovers fails the test for every process still running with mark, and kills it.
func checkLeftovers(t *testing.T, mark string) {
	left := proctest.Leftovers(mark, 5*time.Second)
	for _, pid := range left {
		t.Errorf("process %s outlived the test that started it", proctest.Describe(pid))
	}
	proctest.Kill(left)
}

// awaitGone polls alive until it is false or d passes; it reports whether it became false.
func awaitGone(d time.Duration, alive func() bool) bool {
	deadline := time.Now().Add(d)
	for alive() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// describeGroup names the members of process group pgid where /proc tells them.
func describeGroup(pgid int) string {
	if runtime.GOOS != "linux" {
		return "(members unknown)"
	}
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if g, err := syscall.Getpgid(pid); err == nil && g == pgid && !proctest.Zombie(pid) {
			out = append(out, strconv.Itoa(pid)+" "+proctest.Cmdline(pid))
		}
	}
	if len(out) == 0 {
		return "(exited meanwhile)"
	}
	return strings.Join(out, "; ")
}

// TestHarnessFindsLeftovers: the leftover check finds a process that its parent left running
// in another process group, and the group check one left in the group.
func TestHarnessFindsLeftovers(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	mark := proctest.NewMark()
	// The sleep moves to a session (and group) of its own, as `oo service run` moves its
	// programs to groups of their own.
	cmd := exec.Command("sh", "-c", `setsid sleep 60 >/dev/null 2>&1 & echo $!`)
	cmd.Env = append(os.Environ(), mark)
	inOwnGroup(cmd)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("pid %q: %v", out, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	var found []int
	awaitGone(5*time.Second, func() bool { found = proctest.Marked(mark); return len(found) == 0 })
	if len(found) != 1 || found[0] != pid {
		t.Fatalf("marked processes %v, want [%d]", found, pid)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if left := proctest.Leftovers(mark, 5*time.Second); len(left) > 0 {
		t.Fatalf("still marked after SIGKILL: %v", left)
	}

	// Left in the group: the group is still signallable after its leader is gone.
	cmd = exec.Command("sh", "-c", `sleep 60 >/dev/null 2>&1 &`)
	inOwnGroup(cmd)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		t.Fatal("the group check does not see the sleep its leader left running")
	}
	if d := describeGroup(pgid); !strings.Contains(d, "sleep 60") {
		t.Errorf("describeGroup: %q", d)
	}
}
