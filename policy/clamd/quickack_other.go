//go:build !linux

package clamd

import "net"

// quickAck does nothing here: only Linux has TCP_QUICKACK.
func quickAck(net.Conn) {}
