//go:build unix

package supervisor

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// groupGone waits (bounded) until nothing is left in the process group of cmd.
func groupGone(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(-cmd.Process.Pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatal("process group still there 5s after endGroup returned")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEndGroupStopsWhatTheProgramLeft: after the program's main process exits, what it left in
// its group gets SIGTERM, and SIGKILL after the grace period (or at once on kill) if it ignores
// that.
func TestEndGroupStopsWhatTheProgramLeft(t *testing.T) {
	run := func(script string) *exec.Cmd {
		cmd := exec.Command("sh", "-c", script)
		setProcAttrs(cmd)
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	cmd := run("sleep 30 & sleep 0.2; exit 0")
	start := time.Now()
	endGroup(cmd, 10*time.Second, nil)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a group that obeys SIGTERM took %v", d)
	}
	groupGone(t, cmd)

	const grace = 400 * time.Millisecond
	cmd = run("(trap '' TERM; sleep 30) & sleep 0.2; exit 0")
	start = time.Now()
	endGroup(cmd, grace, nil)
	if d := time.Since(start); d < grace {
		t.Errorf("SIGKILL after %v, before the grace period of %v", d, grace)
	}
	groupGone(t, cmd)

	cmd = run("(trap '' TERM; sleep 30) & sleep 0.2; exit 0")
	kill := make(chan struct{})
	close(kill)
	start = time.Now()
	endGroup(cmd, time.Minute, kill)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a closed kill channel still waited %v", d)
	}
	groupGone(t, cmd)

	cmd = run("exit 0")
	endGroup(cmd, time.Minute, nil) // nothing left: returns at once
}
