//go:build unix

package service

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttrs puts the child in its own process group: a terminal's Ctrl-C then reaches only
// oo, which forwards it once, and a stop reaches everything the program spawned (`go run`
// starts the real binary as a grandchild).
func setProcAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func signalProc(cmd *exec.Cmd, sig os.Signal) {
	if cmd.Process == nil {
		return
	}
	s, ok := sig.(syscall.Signal)
	if !ok {
		s = syscall.SIGTERM
	}
	if syscall.Kill(-cmd.Process.Pid, s) != nil {
		_ = cmd.Process.Signal(s)
	}
}

func killProc(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	if syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) != nil {
		_ = cmd.Process.Kill()
	}
}

// exitCode is the program's exit status, or 128+N when signal N ended it, as shells report.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return 1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
