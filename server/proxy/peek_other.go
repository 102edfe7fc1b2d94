//go:build !unix

package proxy

import "syscall"

// peekSocket cannot look here; the socket is taken as open and silent (the fast path does not
// serve connections on these systems: see rawSteps).
func peekSocket(uintptr) (int, error) { return 0, syscall.EAGAIN }
