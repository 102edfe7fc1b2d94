package proxy

import (
	"syscall"
	"unsafe"
)

// peekSocket looks at a socket without blocking or consuming a byte: n > 0 when something
// waits to be read, (0, nil) at EOF, EAGAIN when it is open and silent.
func peekSocket(fd uintptr) (int, error) {
	var b [1]byte
	n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptrOf(&b[0]), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func uintptrOf(b *byte) uintptr { return uintptr(unsafe.Pointer(b)) }
