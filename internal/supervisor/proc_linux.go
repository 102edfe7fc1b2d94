//go:build linux

package supervisor

import "syscall"

// orphanSignal makes the kernel send SIGTERM to the program when oo itself dies without a
// chance to stop it (SIGKILL, OOM killer): otherwise the program keeps its port and keeps
// serving, unregistered, with nobody left to restart or stop it. SIGTERM, not SIGKILL, so
// that a program that registered itself can still deregister.
func orphanSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGTERM }
