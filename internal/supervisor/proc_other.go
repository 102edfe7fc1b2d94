//go:build !unix

package supervisor

import (
	"fmt"
	"os"
	"os/exec"
	"time"
)

func setProcAttrs(*exec.Cmd) {}

// signalProc: Windows has no SIGINT to send to another console process; stopping means ending it.
func signalProc(cmd *exec.Cmd, sig os.Signal) {
	if cmd.Process != nil {
		if cmd.Process.Signal(sig) != nil {
			_ = cmd.Process.Kill()
		}
	}
}

// endGroup: there are no process groups to clean up after here.
func endGroup(*exec.Cmd, time.Duration, <-chan struct{}) {}

func killProc(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}

func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return 1
	}
	if c := ps.ExitCode(); c >= 0 {
		return c
	}
	return 1
}

func describeExit(ps *os.ProcessState) string {
	return fmt.Sprintf("exited with status %d", exitCode(ps))
}
