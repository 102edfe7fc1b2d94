//go:build unix && !linux

package etcdtest

import "syscall"

// procAttr puts etcd in a process group of its own, so that Stop, Pause and the cleanup reach
// everything it starts. Only Linux can tie a child's life to its parent's (Pdeathsig): here an
// etcd whose test binary was killed before its cleanups ran keeps running until stopped by hand.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
