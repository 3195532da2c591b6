//go:build linux

package netnstest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Watcher records what the kernel announces about one interface of a
// namespace, in the order it happened, as the host would see it: its
// addresses (without IPv6 link-local ones), its default routes (in every
// table), its MTU, and whether it is up and running. It is the kernel's
// own account, independent of whatever made the changes, so a test can
// prove "no write at all" or "these writes in this order".
//
// Events read:
//
//	addr-add 198.51.100.6/30          RTM_NEWADDR of an address not there before
//	addr-del 198.51.100.2/30          RTM_DELADDR of an address that was there
//	route-add 0.0.0.0/0 via 198.51.100.5 table 254 metric 50   RTM_NEWROUTE (added or replaced)
//	route-add ::/0 dev table 254 metric 1024                   (a device route)
//	route-del ...                     RTM_DELROUTE
//	link-mtu 1400
//	link-down, link-up                IFF_UP and IFF_RUNNING together, so a
//	                                  dormant interface is down
//
// Addresses are followed as a set: the kernel announces an IPv6 address
// again when the link becomes ready (after a carrier loss or dormancy)
// without any change to it, and that is not an event here. Routes are
// not: replacing a route with the same one is announced, and shown.
// The kernel deletes routes through an interface that goes
// administratively down without announcing it for IPv4: a Watcher sees
// only what the kernel says.
type Watcher struct {
	t    testing.TB
	ns   *NS
	name string
	sock *nl.NetlinkSocket

	mu      sync.Mutex
	addrs   map[netip.Prefix]bool
	index   int
	mtu     int
	up      bool
	events  []string
	marks   map[string]bool
	readErr error
	done    chan struct{}
}

// Watch starts recording the events of the interface name in ns (which
// must exist) until the test ends.
func Watch(t testing.TB, ns *NS, name string) *Watcher {
	t.Helper()
	link := ns.Link(name)
	s, err := nl.SubscribeAt(ns.h, netns.None(), unix.NETLINK_ROUTE,
		unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR,
		unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE)
	if err != nil {
		t.Fatalf("netnstest: subscribe to netlink in %s: %v", ns, err)
	}
	a := link.Attrs()
	w := &Watcher{
		t: t, ns: ns, name: name, sock: s,
		addrs: map[netip.Prefix]bool{},
		index: a.Index, mtu: a.MTU,
		up:    a.RawFlags&unix.IFF_UP != 0 && a.RawFlags&unix.IFF_RUNNING != 0,
		marks: map[string]bool{},
		done:  make(chan struct{}),
	}
	// Subscribed first, listed second: an address added in between is
	// in the list and announced, and the set makes that one event.
	addrs, err := ns.nl.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		s.Close()
		t.Fatalf("netnstest: list addresses of %s in %s: %v", name, ns, err)
	}
	for _, ad := range addrs {
		if p, ok := prefixOf(ad.IPNet); ok && !(p.Addr().Is6() && p.Addr().IsLinkLocalUnicast()) {
			w.addrs[p] = true
		}
	}
	go w.read()
	t.Cleanup(func() {
		s.Close() // unblocks Receive
		<-w.done
	})
	return w
}

func (w *Watcher) read() {
	defer close(w.done)
	for {
		msgs, _, err := w.sock.Receive()
		if err != nil {
			w.mu.Lock()
			if w.readErr == nil && !errors.Is(err, os.ErrClosed) {
				w.readErr = err
			}
			w.mu.Unlock()
			return
		}
		w.mu.Lock()
		for _, m := range msgs {
			w.handle(m)
		}
		w.mu.Unlock()
	}
}

func (w *Watcher) handle(m syscall.NetlinkMessage) {
	switch m.Header.Type {
	case unix.RTM_NEWLINK, unix.RTM_DELLINK:
		hdr := unix.NlMsghdr(m.Header)
		link, err := netlink.LinkDeserialize(&hdr, m.Data)
		if err != nil {
			return
		}
		a := link.Attrs()
		if strings.HasPrefix(a.Alias, syncAliasPrefix) {
			w.marks[a.Alias] = true
			return
		}
		if a.Name != w.name {
			return
		}
		w.index = a.Index
		info := nl.DeserializeIfInfomsg(m.Data)
		up := m.Header.Type == unix.RTM_NEWLINK && info.Flags&unix.IFF_UP != 0 && info.Flags&unix.IFF_RUNNING != 0
		if a.MTU != w.mtu && a.MTU != 0 {
			w.mtu = a.MTU
			w.events = append(w.events, fmt.Sprintf("link-mtu %d", a.MTU))
		}
		if up != w.up {
			w.up = up
			if up {
				w.events = append(w.events, "link-up")
			} else {
				w.events = append(w.events, "link-down")
			}
		}
	case unix.RTM_NEWADDR, unix.RTM_DELADDR:
		if len(m.Data) < unix.SizeofIfAddrmsg {
			return
		}
		msg := nl.DeserializeIfAddrmsg(m.Data)
		if int(msg.Index) != w.index {
			return
		}
		attrs, err := nl.ParseRouteAttr(m.Data[unix.SizeofIfAddrmsg:])
		if err != nil {
			return
		}
		var local, address netip.Addr
		for _, at := range attrs {
			switch at.Attr.Type {
			case unix.IFA_LOCAL:
				local, _ = netip.AddrFromSlice(at.Value)
			case unix.IFA_ADDRESS:
				address, _ = netip.AddrFromSlice(at.Value)
			}
		}
		a := local
		if !a.IsValid() {
			a = address
		}
		if !a.IsValid() || (a.Is6() && a.IsLinkLocalUnicast()) {
			return
		}
		p := netip.PrefixFrom(a, int(msg.Prefixlen))
		switch add := m.Header.Type == unix.RTM_NEWADDR; {
		case add && !w.addrs[p]:
			w.addrs[p] = true
			w.events = append(w.events, "addr-add "+p.String())
		case !add && w.addrs[p]:
			delete(w.addrs, p)
			w.events = append(w.events, "addr-del "+p.String())
		}
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		if len(m.Data) < unix.SizeofRtMsg {
			return
		}
		msg := nl.DeserializeRtMsg(m.Data)
		if msg.Dst_len != 0 || msg.Type != unix.RTN_UNICAST ||
			(msg.Family != unix.AF_INET && msg.Family != unix.AF_INET6) {
			return
		}
		attrs, err := nl.ParseRouteAttr(m.Data[msg.Len():])
		if err != nil {
			return
		}
		native := nl.NativeEndian()
		table, metric, oif := int(msg.Table), 0, 0
		var gw netip.Addr
		for _, at := range attrs {
			switch at.Attr.Type {
			case unix.RTA_OIF:
				oif = int(native.Uint32(at.Value))
			case unix.RTA_TABLE:
				table = int(native.Uint32(at.Value))
			case unix.RTA_PRIORITY:
				metric = int(native.Uint32(at.Value))
			case unix.RTA_GATEWAY:
				gw, _ = netip.AddrFromSlice(at.Value)
			}
		}
		if oif != w.index {
			return
		}
		verb := "route-add"
		if m.Header.Type == unix.RTM_DELROUTE {
			verb = "route-del"
		}
		dst := "0.0.0.0/0"
		if msg.Family == unix.AF_INET6 {
			dst = "::/0"
		}
		via := "dev"
		if gw.IsValid() {
			via = "via " + gw.String()
		}
		w.events = append(w.events, fmt.Sprintf("%s %s %s table %d metric %d", verb, dst, via, table, metric))
	}
}

const syncAliasPrefix = "netnstest-sync-"

var syncSeq struct {
	sync.Mutex
	n int
}

// Sync waits until every change made before it was called has been
// recorded: it sets a marker alias on the namespace's loopback and waits
// for the kernel's announcement of it, which comes after all earlier ones
// on the same socket.
func (w *Watcher) Sync() {
	w.t.Helper()
	syncSeq.Lock()
	syncSeq.n++
	mark := fmt.Sprintf("%s%d", syncAliasPrefix, syncSeq.n)
	syncSeq.Unlock()
	if err := w.ns.nl.LinkSetAlias(w.ns.Link("lo"), mark); err != nil {
		w.t.Fatalf("netnstest: watcher sync: %v", err)
	}
	deadline := time.Now().Add(Timeout)
	for {
		w.mu.Lock()
		seen, err := w.marks[mark], w.readErr
		delete(w.marks, mark)
		w.mu.Unlock()
		switch {
		case seen:
			return
		case err != nil:
			w.t.Fatalf("netnstest: watcher: %v", err)
		case time.Now().After(deadline):
			w.t.Fatalf("netnstest: watcher sync: no announcement within %v", Timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// Events syncs and returns the events recorded so far.
func (w *Watcher) Events() []string {
	w.t.Helper()
	w.Sync()
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.events...)
}

// Await syncs, waits until at least n events are recorded or Timeout
// passes, and returns the events recorded so far and forgets them. Use it
// when an expected event comes late: the kernel announces an IPv6
// address (even one without duplicate address detection) from a work
// queue, after the request that added it has returned, so Sync alone does
// not wait for it.
func (w *Watcher) Await(n int) []string {
	w.t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		w.Sync()
		w.mu.Lock()
		got := len(w.events)
		w.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			return w.Take()
		}
		time.Sleep(time.Millisecond)
	}
}

// Take syncs, returns the events recorded so far and forgets them.
func (w *Watcher) Take() []string {
	w.t.Helper()
	w.Sync()
	w.mu.Lock()
	defer w.mu.Unlock()
	ev := w.events
	w.events = nil
	return ev
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}
