package proxy

import (
	"net"

	"golang.org/x/sys/unix"
)

func listenAbstract(name string) (net.Listener, error) {
	return net.Listen("unix", name)
}

// peerUID returns the uid of a unix socket peer (SO_PEERCRED).
func peerUID(c net.Conn) (uint32, bool) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		// A unix socket whose credentials cannot be read is refused.
		return ^uint32(0), true
	}
	return cred.Uid, true
}
