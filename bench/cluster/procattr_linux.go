//go:build linux

package main

import "syscall"

// procAttr puts a started process in a group of its own, killed on exit, on failure and on
// Ctrl-C; and has the kernel kill it with this program should that die without cleaning up.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
