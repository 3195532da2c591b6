//go:build linux

package handoff

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// tunPath is the TUN clone device.
const tunPath = "/dev/net/tun"

// TUN is a TUN network interface (IFF_TUN|IFF_NO_PI) and the file
// descriptor that is its other side: a Read returns one IP packet the host
// sent through the interface, a Write hands one IP packet to the host as
// if it had arrived on it. While the descriptor is open the interface has
// a carrier. It stands in for a modem's wwan0 in the daemon's simulated
// mode and in tests.
//
// Reads and writes go through the runtime's poller, so Close unblocks a
// Read, and SetReadDeadline works.
type TUN struct {
	f    *os.File
	name string
}

// CreateTUN creates a TUN interface called name (a name ending in "%d"
// lets the kernel number it), in the network namespace ns when one is
// given (at most one; 0 and netns.None() mean the caller's), and returns
// its descriptor. The interface is not persistent: it goes away on Close,
// unless SetPersist(true) was called. If /dev/net/tun is missing and we
// are root, it is created (character device 10, 200).
//
// The interface is created administratively down, with no address.
func CreateTUN(name string, ns ...netns.NsHandle) (*TUN, error) {
	if len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("handoff: create TUN %q: name longer than %d bytes", name, unix.IFNAMSIZ-1)
	}
	if len(ns) > 1 {
		return nil, fmt.Errorf("handoff: create TUN %q: more than one namespace", name)
	}
	if err := ensureTUNDevice(); err != nil {
		return nil, fmt.Errorf("handoff: create TUN %q: %w", name, err)
	}
	// The kernel puts the interface in the namespace of the thread that
	// opened /dev/net/tun, whichever thread issues TUNSETIFF.
	var fd int
	open := func() error {
		var err error
		fd, err = unix.Open(tunPath, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return &fs.PathError{Op: "open", Path: tunPath, Err: err}
		}
		return nil
	}
	var err error
	if len(ns) == 1 && ns[0] > 0 {
		err = inNetNS(ns[0], open)
	} else {
		err = open()
	}
	if err != nil {
		return nil, fmt.Errorf("handoff: create TUN %q: %w", name, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("handoff: create TUN %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("handoff: create TUN %q: TUNSETIFF: %w", name, err)
	}
	t := &TUN{f: os.NewFile(uintptr(fd), tunPath), name: ifr.Name()}
	return t, nil
}

// Name is the interface's name.
func (t *TUN) Name() string { return t.name }

// Read reads one IP packet sent by the host; p should hold the MTU.
func (t *TUN) Read(p []byte) (int, error) { return t.f.Read(p) }

// Write hands one IP packet to the host.
func (t *TUN) Write(p []byte) (int, error) { return t.f.Write(p) }

// SetReadDeadline sets the deadline of pending and future Reads.
func (t *TUN) SetReadDeadline(d time.Time) error { return t.f.SetReadDeadline(d) }

// Close closes the descriptor: a non-persistent interface is deleted, a
// persistent one loses its carrier.
func (t *TUN) Close() error { return t.f.Close() }

// SetPersist makes the interface outlive the descriptor (TUNSETPERSIST),
// or not.
func (t *TUN) SetPersist(on bool) error {
	rc, err := t.f.SyscallConn()
	if err != nil {
		return fmt.Errorf("handoff: TUN %s: set persist: %w", t.name, err)
	}
	v := 0
	if on {
		v = 1
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		ierr = unix.IoctlSetInt(int(fd), unix.TUNSETPERSIST, v)
	}); err != nil {
		return fmt.Errorf("handoff: TUN %s: set persist: %w", t.name, err)
	}
	if ierr != nil {
		return fmt.Errorf("handoff: TUN %s: set persist: TUNSETPERSIST: %w", t.name, ierr)
	}
	return nil
}

// ensureTUNDevice creates /dev/net/tun when it is missing and we are root
// (a minimal container or initramfs may lack it).
func ensureTUNDevice() error {
	if _, err := os.Stat(tunPath); !errors.Is(err, fs.ErrNotExist) {
		return nil // there, or an error that opening it will report better
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s is missing (and only root may create it)", tunPath)
	}
	if err := os.MkdirAll("/dev/net", 0o755); err != nil {
		return err
	}
	err := unix.Mknod(tunPath, unix.S_IFCHR|0o666, int(unix.Mkdev(10, 200)))
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return &fs.PathError{Op: "mknod", Path: tunPath, Err: err}
	}
	return nil
}

// inNetNS runs fn on a thread of its own moved into ns, and moves the
// thread back. If it cannot move back, the thread stays locked to the
// goroutine and so ends with it: no other goroutine ever runs in ns by
// accident, and the caller's thread is never touched.
func inNetNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return to the original network namespace: %w", err))
			return // stays locked: the thread exits with the goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
