//go:build linux

package etcdtest

import "syscall"

// procAttr puts etcd in a process group of its own, so that Stop, Pause and the cleanup reach
// everything it starts; and has the kernel kill it with the test binary should that die without
// running cleanups.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
