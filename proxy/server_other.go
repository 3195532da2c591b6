//go:build !linux

package proxy

import (
	"errors"
	"net"
)

func listenAbstract(name string) (net.Listener, error) {
	return nil, errors.New("proxy: abstract unix sockets exist only on Linux")
}

func peerUID(c net.Conn) (uint32, bool) {
	if _, ok := c.(*net.UnixConn); ok {
		return ^uint32(0), true // no SO_PEERCRED: refuse unless AllowUID says otherwise
	}
	return 0, false
}
