package clamd

import (
	"net"
	"syscall"
)

// quickAck asks the kernel to acknowledge what arrives next on a TCP
// connection at once. clamd writes each verdict of a session as a small
// packet of its own, with Nagle's algorithm on: a second verdict waits
// until the first is acknowledged, and on a connection that has left
// TCP's quick-acknowledgement start (one kept for a later message) the
// acknowledgement waits 40 ms for data to ride with. Set before each read
// of the verdicts, it keeps a kept session as fast as a new one.
func quickAck(conn net.Conn) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	if rc, err := tc.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
}
