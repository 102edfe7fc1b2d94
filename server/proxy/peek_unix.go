//go:build unix && !linux

package proxy

import "syscall"

// peekSocket looks at a socket without blocking or consuming a byte: n > 0 when something
// waits to be read, (0, nil) at EOF, EAGAIN when it is open and silent.
func peekSocket(fd uintptr) (int, error) {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return n, err
}
