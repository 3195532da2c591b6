//go:build linux

// Package netnstest gives tests network namespaces of their own, and what
// to build in them: veth pairs, addresses, TCP echo servers and clients.
//
// Every namespace is new and anonymous, made on a goroutine locked to its
// thread; the thread returns to the namespace it came from, or, if it
// cannot, ends with its goroutine. The test's own threads and the host's
// namespace are never touched, and a namespace disappears when the test
// ends (its handle is closed after everything that lived in it). Tests
// need root (CAP_SYS_ADMIN and CAP_NET_ADMIN): without it, or where
// namespaces are not available, New skips the test with the reason,
// unless WWAN_REQUIRE_NETNS=1, in which case it fails (for CI, which is
// root and must run them).
//
// Use documentation ranges inside the namespaces (192.0.2.0/24,
// 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).
package netnstest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// RequireEnv names the environment variable that turns a skip for lack of
// privilege or kernel support into a failure.
const RequireEnv = "WWAN_REQUIRE_NETNS"

// Timeout bounds every wait in this package (dial, echo, polling).
const Timeout = 10 * time.Second

// Skip skips the test (or fails it, with WWAN_REQUIRE_NETNS=1) with a
// reason saying what is missing.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (and %s=1 requires these tests to run)", msg, RequireEnv)
	}
	t.Skip(msg)
}

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "netnstest: not root: network namespace tests need CAP_SYS_ADMIN and CAP_NET_ADMIN (run the test binary as root)")
	}
}

// NS is a network namespace made for one test.
type NS struct {
	t  testing.TB
	h  netns.NsHandle
	nl *netlink.Handle
}

// New makes a new network namespace with its loopback up. It is deleted
// when the test ends.
func New(t testing.TB) *NS {
	t.Helper()
	RequireRoot(t)
	var h netns.NsHandle
	err := onLockedThread(func() (err error) {
		h, err = netns.New() // unshare(CLONE_NEWNET) on this thread only
		return err
	})
	if err != nil {
		if h.IsOpen() {
			h.Close()
		}
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			Skip(t, "netnstest: network namespaces unavailable: %v", err)
		}
		t.Fatalf("netnstest: new network namespace: %v", err)
	}
	n := &NS{t: t, h: h}
	checkThreads(t)
	t.Cleanup(func() { h.Close() })
	nh, err := netlink.NewHandleAt(h, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netnstest: netlink in the new namespace: %v", err)
	}
	n.nl = nh
	t.Cleanup(nh.Close)
	n.LinkUp("lo")
	return n
}

// Handle is the namespace's handle, valid until the test ends.
func (n *NS) Handle() netns.NsHandle { return n.h }

// Netlink is a netlink handle in the namespace, closed when the test ends.
func (n *NS) Netlink() *netlink.Handle { return n.nl }

// String names the namespace by its inode, for messages.
func (n *NS) String() string { return n.h.UniqueId() }

// Do runs fn on a thread in the namespace and returns its error. Sockets
// fn opens belong to the namespace and keep working after Do returns.
// fn runs on another goroutine: it must not call t.Fatal (return an error
// instead).
func (n *NS) Do(fn func() error) error { return inNS(n.h, fn) }

// Run runs fn on a thread in the namespace and fails the test if fn
// returns an error.
func (n *NS) Run(fn func() error) {
	n.t.Helper()
	if err := n.Do(fn); err != nil {
		n.t.Fatalf("netnstest: in namespace %s: %v", n, err)
	}
}

// Link returns the named link of the namespace, failing the test if it is
// missing.
func (n *NS) Link(name string) netlink.Link {
	n.t.Helper()
	l, err := n.nl.LinkByName(name)
	if err != nil {
		n.t.Fatalf("netnstest: link %s in %s: %v", name, n, err)
	}
	return l
}

// LinkUp sets the named link administratively up.
func (n *NS) LinkUp(name string) {
	n.t.Helper()
	if err := n.nl.LinkSetUp(n.Link(name)); err != nil {
		n.t.Fatalf("netnstest: set %s up in %s: %v", name, n, err)
	}
}

// LinkDown sets the named link administratively down.
func (n *NS) LinkDown(name string) {
	n.t.Helper()
	if err := n.nl.LinkSetDown(n.Link(name)); err != nil {
		n.t.Fatalf("netnstest: set %s down in %s: %v", name, n, err)
	}
}

// AddAddr adds p to the named link (IPv6 without duplicate address
// detection, so it is usable at once).
func (n *NS) AddAddr(name string, p netip.Prefix) {
	n.t.Helper()
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := n.nl.AddrAdd(n.Link(name), a); err != nil {
		n.t.Fatalf("netnstest: add %s to %s in %s: %v", p, name, n, err)
	}
}

// AddRoute adds a route to dst through the named link, via gw when valid.
func (n *NS) AddRoute(name string, dst netip.Prefix, gw netip.Addr) {
	n.t.Helper()
	r := &netlink.Route{
		LinkIndex: n.Link(name).Attrs().Index,
		Dst:       &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen())},
	}
	if gw.IsValid() {
		r.Gw = gw.AsSlice()
	} else {
		r.Scope = netlink.SCOPE_LINK
	}
	if err := n.nl.RouteAdd(r); err != nil {
		n.t.Fatalf("netnstest: add route %s via %v dev %s in %s: %v", dst, gw, name, n, err)
	}
}

// WaitLocal waits until the kernel delivers packets addressed to a
// locally to the namespace: until a has its route in the local table.
// An IPv6 address added to an interface whose link is not ready yet (a
// TUN just set up) gets that route only when the link becomes ready, a
// few milliseconds later, even without duplicate address detection.
func (n *NS) WaitLocal(a netip.Addr) {
	n.t.Helper()
	family := netlink.FAMILY_V4
	if a.Is6() {
		family = netlink.FAMILY_V6
	}
	err := Eventually(func() error {
		routes, err := n.nl.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_LOCAL}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Type == unix.RTN_LOCAL && r.Dst != nil && r.Dst.IP.Equal(a.AsSlice()) {
				return nil
			}
		}
		return fmt.Errorf("no local route for %s", a)
	})
	if err != nil {
		n.t.Fatalf("netnstest: %v in %s after %v", err, n, Timeout)
	}
}

// Veth makes a veth pair with one end, nameA, in a and the other, nameB,
// in b, both up, and waits until both have a carrier (the kernel reports
// it asynchronously, and IPv6 re-announces addresses when it comes), so
// a test starts from a settled link. The pair is created in a (never in
// the host's namespace) with its peer put straight into b.
func Veth(t testing.TB, a, b *NS, nameA, nameB string) {
	t.Helper()
	v := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: nameA},
		PeerName:      nameB,
		PeerNamespace: netlink.NsFd(int(b.h)),
	}
	if err := a.nl.LinkAdd(v); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			Skip(t, "netnstest: this kernel has no veth driver: %v", err)
		}
		t.Fatalf("netnstest: veth %s/%s: %v", nameA, nameB, err)
	}
	a.LinkUp(nameA)
	b.LinkUp(nameB)
	a.WaitOperUp(nameA)
	b.WaitOperUp(nameB)
}

// WaitOperUp waits until the named link is operationally up (or unknown,
// as a TUN with its descriptor open is), within Timeout.
func (n *NS) WaitOperUp(name string) {
	n.t.Helper()
	err := Eventually(func() error {
		st := n.Link(name).Attrs().OperState
		if st != netlink.OperUp && st != netlink.OperUnknown {
			return fmt.Errorf("%s is %v", name, st)
		}
		return nil
	})
	if err != nil {
		n.t.Fatalf("netnstest: %v in %s after %v", err, n, Timeout)
	}
}

// EchoServer listens on addr ("[2001:db8::1]:7", "198.51.100.1:0") in ns
// and echoes every connection until the test ends. It returns the address
// it listens on.
func EchoServer(t testing.TB, ns *NS, addr string) netip.AddrPort {
	t.Helper()
	var ln net.Listener
	ns.Run(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed at cleanup
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

// Dial connects to addr over TCP from ns, from the address local when
// valid. The connection is closed when the test ends.
func Dial(t testing.TB, ns *NS, addr netip.AddrPort, local ...netip.Addr) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: Timeout}
	if len(local) > 0 && local[0].IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: local[0].AsSlice()}
	}
	var c net.Conn
	ns.Run(func() (err error) {
		c, err = d.Dial("tcp", addr.String())
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// Echo writes payload to c and reads it back, within Timeout; the
// connection must lead to an echo server.
func Echo(c net.Conn, payload []byte) error {
	if err := c.SetDeadline(time.Now().Add(Timeout)); err != nil {
		return err
	}
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(payload); err != nil {
		return fmt.Errorf("echo: write: %w", err)
	}
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("echo: read: %w", err)
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("echo: got back %d bytes that differ from those sent", len(got))
	}
	return nil
}

// Eventually polls cond every few milliseconds until it returns nil or
// Timeout passes, and returns its last error.
func Eventually(cond func() error) error {
	deadline := time.Now().Add(Timeout)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkThreads makes the test fail, when it ends, if any thread of the
// process is then in another network namespace than the process's main
// thread: a namespace of a test must never leak into the threads that run
// everything else.
func checkThreads(t testing.TB) {
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return // no procfs: nothing to check with
	}
	t.Cleanup(func() {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return
		}
		for _, task := range tasks {
			ns, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net")
			if err != nil {
				continue // the thread ended meanwhile
			}
			if ns != host {
				t.Errorf("netnstest: thread %s is left in network namespace %s, not the process's %s", task.Name(), ns, host)
			}
		}
	})
}

// onLockedThread runs fn on a new goroutine locked to its thread, and
// moves the thread back to its original namespace afterwards (fn may
// unshare or setns). If that fails, the thread ends with the goroutine.
func onLockedThread(fn func() error) error {
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
		ferr := fn()
		if cur, err := netns.Get(); err == nil {
			same := cur.Equal(orig)
			cur.Close()
			if same { // fn did not move (or failed to): nothing to undo
				runtime.UnlockOSThread()
				errc <- ferr
				return
			}
		}
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return to the original network namespace: %w", err))
			return // stays locked: the thread exits with the goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func inNS(h netns.NsHandle, fn func() error) error {
	return onLockedThread(func() error {
		if err := netns.Set(h); err != nil {
			return fmt.Errorf("enter network namespace: %w", err)
		}
		return fn()
	})
}
