//go:build unix

package proxy

import (
	"io"
	"os"
	"syscall"
)

// rawSteps: sockets are file descriptors here, which the fast path reads and writes from
// inside RawConn.Read (see cycle and writeRead).
const rawSteps = true

// shutdownSocket ends both directions of a connected socket at once, whoever holds it.
func shutdownSocket(fd uintptr) error { return syscall.Shutdown(int(fd), syscall.SHUT_RDWR) }

// rawRead is read(2) on a non-blocking socket: errWouldBlock when it has nothing yet, io.EOF
// when the peer closed, n >= 0 always.
func rawRead(fd int, b []byte) (int, error) {
	n, err := syscall.Read(fd, b)
	for err == syscall.EINTR {
		n, err = syscall.Read(fd, b)
	}
	switch {
	case err == syscall.EAGAIN:
		return 0, errWouldBlock
	case err != nil:
		return 0, os.NewSyscallError("read", err)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// rawStep is writeRead's RawConn.Read callback: true ends the call, false waits for the socket
// to be readable and calls again.
func (bc *bconn) rawStep(fd uintptr) bool {
	if bc.pend != nil {
		n, err := syscall.Write(int(fd), bc.pend)
		for err == syscall.EINTR {
			n, err = syscall.Write(int(fd), bc.pend)
		}
		if n > 0 {
			bc.pend = bc.pend[n:]
		}
		if err != nil && err != syscall.EAGAIN {
			bc.pend = nil
			bc.rerr = bc.opError("write", err)
			return true
		}
		if len(bc.pend) > 0 {
			return true // the rest by a plain Write
		}
		bc.pend = nil
		return false // sent: nothing to read before the backend answers
	}
	n, err := syscall.Read(int(fd), bc.buf[bc.b1:])
	for err == syscall.EINTR {
		n, err = syscall.Read(int(fd), bc.buf[bc.b1:])
	}
	switch {
	case err == syscall.EAGAIN:
		return false
	case err != nil:
		bc.rerr = bc.opError("read", err)
	case n == 0:
		bc.rerr = io.EOF
	}
	bc.rn = max(n, 0)
	return true
}
