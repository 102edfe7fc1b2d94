//go:build unix && !linux

package main

import "syscall"

// procAttr puts a started process in a group of its own, killed on exit, on failure and on
// Ctrl-C. Only Linux can tie a child's life to its parent's (Pdeathsig): here what this program
// started keeps running if it is killed before it can clean up.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
