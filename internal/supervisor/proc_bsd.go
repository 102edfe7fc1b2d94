//go:build unix && !linux

package supervisor

import "syscall"

// orphanSignal: only Linux can tie a child's life to its parent's; elsewhere a program whose
// oo was killed keeps running until stopped by hand.
func orphanSignal(*syscall.SysProcAttr) {}
