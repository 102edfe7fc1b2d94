package proxy

import (
	"syscall"
	"unsafe"
)

// peekIdle looks at an idle socket without blocking or consuming: nothing to read (EAGAIN)
// means open and silent.
func peekIdle(fd uintptr) bool {
	var b [1]byte
	_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptrOf(&b[0]), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return errno == syscall.EAGAIN
}

func uintptrOf(b *byte) uintptr { return uintptr(unsafe.Pointer(b)) }
