//go:build !unix

package proxy

// rawSteps is false where a socket is not a file descriptor that syscall.Read and Write take
// (Windows): net/http serves every connection there (see serve).
const rawSteps = false

// shutdownSocket is never called here (no connection has a RawConn on the fast path).
func shutdownSocket(uintptr) error { return errWouldBlock }

// rawRead is never called here (rawSteps is false).
func rawRead(int, []byte) (int, error) { return 0, errWouldBlock }

// rawStep is never bound here (rawSteps is false); it ends the call at once if it were.
func (bc *bconn) rawStep(uintptr) bool { return true }
