//go:build unix

package clamd

import (
	"net"
	"syscall"
)

// open reports whether a kept connection is still open and has nothing
// to read: a look at the socket that does not wait (MSG_PEEK|MSG_DONTWAIT).
// End of file means clamd closed it; bytes nobody asked for mean the
// session is not in a state to use.
func open(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var rerr error
	var b [1]byte
	if err := rc.Read(func(fd uintptr) bool {
		_, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	}); err != nil {
		return false
	}
	return rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
}
