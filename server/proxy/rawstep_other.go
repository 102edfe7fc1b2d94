//go:build !unix

package proxy

// rawSteps is false where a socket is not a file descriptor that syscall.Read and Write take
// (Windows): the request goes out with a plain Write and the answer comes with a plain Read.
const rawSteps = false

// rawStep is never bound here (rawSteps is false); it ends the call at once if it were.
func (bc *bconn) rawStep(uintptr) bool { return true }
