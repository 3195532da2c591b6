//go:build linux

package handoff

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrNotSupported is returned where the host side has no implementation
// (NewLinuxHost and CreateTUN on other systems than Linux).
var ErrNotSupported = errors.New("handoff: not supported on this system")

// DefaultNetlinkTimeout bounds one netlink request when
// LinuxHostConfig.Timeout is zero.
const DefaultNetlinkTimeout = 5 * time.Second

// RFC 2863 operational states and link modes (linux/if.h), which
// golang.org/x/sys/unix does not name.
const (
	ifOperDormant     = 5 // IF_OPER_DORMANT
	ifOperUp          = 6 // IF_OPER_UP
	ifLinkModeDefault = 0 // IF_LINK_MODE_DEFAULT
	ifLinkModeDormant = 1 // IF_LINK_MODE_DORMANT
)

// ipv6DefaultMetric is the metric the kernel gives an IPv6 route added
// with metric 0 (IP6_RT_PRIO_USER).
const ipv6DefaultMetric = 1024

// LinuxHostConfig configures a LinuxHost.
type LinuxHostConfig struct {
	// Interface is the name of the modem's network interface ("wwan0").
	// It is looked up by name, so it may appear after NewLinuxHost, and
	// may be deleted and created again (a modem reset) between calls.
	Interface string
	// Table is the routing table of the default routes; 0 means main.
	Table int
	// Metric is the metric (priority) of the default routes. Replacing a
	// default route replaces the one with the same table and metric, on
	// whatever interface it is (the kernel matches IPv4 routes by table,
	// destination, TOS and metric), so choose a metric no other
	// interface's default route uses. For IPv6 the kernel turns 0 into
	// 1024.
	Metric int
	// DNS says where SetDNS writes the servers.
	DNS DNSTarget
	// NetNS is the network namespace of the interface. The zero value and
	// netns.None() mean the namespace the calling thread is in when
	// NewLinuxHost runs. The handle is used only during NewLinuxHost and
	// may be closed after it.
	NetNS netns.NsHandle
	// Timeout bounds each netlink request (sending it and waiting for the
	// kernel's answer); 0 means DefaultNetlinkTimeout.
	Timeout time.Duration
}

// LinuxHost is the Host of a Linux network interface, driven over
// rtnetlink (github.com/vishvananda/netlink, on a handle of its own: it
// never uses the package's global handle).
//
// What it does, method by method:
//   - State reads the link (MTU, up), its addresses (without IPv6
//     link-local ones, which the kernel manages) and its default routes
//     in the configured table and metric: three requests.
//   - AddAddress adds with IFA_F_NODAD for IPv6, so the address is never
//     tentative, and waits (briefly, bounded) until the kernel delivers to
//     it; an address that is there already is success.
//   - DeleteAddress: an address that is not there is success.
//   - ReplaceDefaultRoute replaces the default route of a family (proto
//     static, the configured table and metric), via the gateway when
//     valid, else as a device route. A gateway outside every prefix on
//     the link is installed "onlink" (the kernel refuses it otherwise).
//   - DeleteDefaultRoute: a route that is not there is success.
//   - SetMTU reads the MTU and sets it only when it differs.
//   - SetLink changes the interface's operational state (RFC 2863, as
//     the contract's media connect/disconnect): down marks it dormant and
//     clears IFF_RUNNING, as wpa_supplicant does, while the addresses and
//     routes stay. It does not set it administratively down: the kernel
//     would then delete the IPv6 addresses and every route through the
//     interface, and bring none of them back. Up also sets it
//     administratively up if it was not. One request either way.
//   - SetDNS writes to the configured DNSTarget.
//
// Every method takes one lock, so a LinuxHost is safe for concurrent use,
// and checks the context before each request; a request itself is bounded
// by LinuxHostConfig.Timeout. Stats counts every request sent.
type LinuxHost struct {
	cfg     LinuxHostConfig
	table   int
	timeout time.Duration

	mu    sync.Mutex
	h     *netlink.Handle
	raw   *nl.SocketHandle  // RTM_NEWLINK with IFLA_OPERSTATE, which netlink has no call for
	ev    *nl.NetlinkSocket // IPv6 address announcements, listened to while adding one
	evBuf []byte
	index int // cached interface index; 0 when unknown

	stats hostCounters
}

// LinuxHostStats counts the requests a LinuxHost sent, per operation,
// successful or not (a retry counts again).
type LinuxHostStats struct {
	// Netlink reads.
	LinkGets   uint64 // RTM_GETLINK
	AddrDumps  uint64 // RTM_GETADDR dump
	RouteDumps uint64 // RTM_GETROUTE dump

	// Netlink writes.
	AddrAdds      uint64 // RTM_NEWADDR
	AddrDels      uint64 // RTM_DELADDR
	RouteReplaces uint64 // RTM_NEWROUTE (replace)
	RouteDels     uint64 // RTM_DELROUTE
	MTUSets       uint64 // RTM_NEWLINK (MTU)
	LinkSets      uint64 // RTM_NEWLINK (operational and administrative state)

	// DNS, outside netlink.
	DNSFileWrites uint64 // files replaced (an unchanged file is not rewritten)
	DNSHookRuns   uint64
}

// NetlinkReads is the number of netlink requests that only read.
func (s LinuxHostStats) NetlinkReads() uint64 { return s.LinkGets + s.AddrDumps + s.RouteDumps }

// NetlinkWrites is the number of netlink requests that change the kernel's
// state (or tried to).
func (s LinuxHostStats) NetlinkWrites() uint64 {
	return s.AddrAdds + s.AddrDels + s.RouteReplaces + s.RouteDels + s.MTUSets + s.LinkSets
}

// NetlinkRequests is the number of netlink requests sent.
func (s LinuxHostStats) NetlinkRequests() uint64 { return s.NetlinkReads() + s.NetlinkWrites() }

// Writes is every change made to the host: netlink writes, DNS files and
// DNS hooks. A transparent handoff leaves it unchanged.
func (s LinuxHostStats) Writes() uint64 { return s.NetlinkWrites() + s.DNSFileWrites + s.DNSHookRuns }

// Sub returns the counts since an earlier snapshot.
func (s LinuxHostStats) Sub(earlier LinuxHostStats) LinuxHostStats {
	return LinuxHostStats{
		LinkGets:      s.LinkGets - earlier.LinkGets,
		AddrDumps:     s.AddrDumps - earlier.AddrDumps,
		RouteDumps:    s.RouteDumps - earlier.RouteDumps,
		AddrAdds:      s.AddrAdds - earlier.AddrAdds,
		AddrDels:      s.AddrDels - earlier.AddrDels,
		RouteReplaces: s.RouteReplaces - earlier.RouteReplaces,
		RouteDels:     s.RouteDels - earlier.RouteDels,
		MTUSets:       s.MTUSets - earlier.MTUSets,
		LinkSets:      s.LinkSets - earlier.LinkSets,
		DNSFileWrites: s.DNSFileWrites - earlier.DNSFileWrites,
		DNSHookRuns:   s.DNSHookRuns - earlier.DNSHookRuns,
	}
}

type hostCounters struct {
	linkGets, addrDumps, routeDumps                                 atomic.Uint64
	addrAdds, addrDels, routeReplaces, routeDels, mtuSets, linkSets atomic.Uint64
	dnsFileWrites, dnsHookRuns                                      atomic.Uint64
}

var _ Host = (*LinuxHost)(nil)

// NewLinuxHost opens three rtnetlink sockets in the configured namespace.
// It does not look the interface up: that happens on first use.
func NewLinuxHost(cfg LinuxHostConfig) (*LinuxHost, error) {
	if cfg.Interface == "" || len(cfg.Interface) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("handoff: invalid interface name %q", cfg.Interface)
	}
	if cfg.Table < 0 || cfg.Metric < 0 {
		return nil, fmt.Errorf("handoff: invalid table %d or metric %d", cfg.Table, cfg.Metric)
	}
	ns := cfg.NetNS
	if ns <= 0 {
		ns = netns.None()
	}
	l := &LinuxHost{cfg: cfg, table: cfg.Table, timeout: cfg.Timeout}
	if l.table == 0 {
		l.table = unix.RT_TABLE_MAIN
	}
	if l.timeout <= 0 {
		l.timeout = DefaultNetlinkTimeout
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("handoff: open netlink for %s: %w", cfg.Interface, err)
	}
	if err := h.SetSocketTimeout(l.timeout); err != nil {
		h.Close()
		return nil, fmt.Errorf("handoff: open netlink for %s: %w", cfg.Interface, err)
	}
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("handoff: open netlink for %s: %w", cfg.Interface, err)
	}
	tv := unix.NsecToTimeval(l.timeout.Nanoseconds())
	if err := errors.Join(s.SetSendTimeout(&tv), s.SetReceiveTimeout(&tv)); err != nil {
		s.Close()
		h.Close()
		return nil, fmt.Errorf("handoff: open netlink for %s: %w", cfg.Interface, err)
	}
	_ = s.SetExtAck(true) // better error messages where the kernel has them
	// Joins the IPv6 address group only while AddAddress waits.
	ev, err := nl.SubscribeAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		s.Close()
		h.Close()
		return nil, fmt.Errorf("handoff: open netlink for %s: %w", cfg.Interface, err)
	}
	l.h = h
	l.raw = &nl.SocketHandle{Socket: s}
	l.ev = ev
	l.evBuf = make([]byte, 8192)
	return l, nil
}

// Close closes the netlink sockets. The interface is left as it is.
func (l *LinuxHost) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.h != nil {
		l.h.Close()
		l.raw.Close()
		l.ev.Close()
		l.h, l.raw, l.ev = nil, nil, nil
	}
	return nil
}

// Interface is the configured interface name.
func (l *LinuxHost) Interface() string { return l.cfg.Interface }

// Stats returns the request counts so far.
func (l *LinuxHost) Stats() LinuxHostStats {
	c := &l.stats
	return LinuxHostStats{
		LinkGets:      c.linkGets.Load(),
		AddrDumps:     c.addrDumps.Load(),
		RouteDumps:    c.routeDumps.Load(),
		AddrAdds:      c.addrAdds.Load(),
		AddrDels:      c.addrDels.Load(),
		RouteReplaces: c.routeReplaces.Load(),
		RouteDels:     c.routeDels.Load(),
		MTUSets:       c.mtuSets.Load(),
		LinkSets:      c.linkSets.Load(),
		DNSFileWrites: c.dnsFileWrites.Load(),
		DNSHookRuns:   c.dnsHookRuns.Load(),
	}
}

// dumpRetries bounds the retries of a dump the kernel reports as
// interrupted (NLM_F_DUMP_INTR: the table changed while it was read).
const dumpRetries = 3

// State reads the interface's addresses, default routes, MTU and state.
// Up is true when the interface is administratively up and SetLink has
// not marked it down (dormant); whether it has a carrier is not part of
// it, since SetLink cannot change that.
func (l *LinuxHost) State(ctx context.Context) (HostState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var st HostState
	if err := l.check(ctx); err != nil {
		return st, l.errorf(err, "read state")
	}
	link, err := l.linkLocked()
	if err != nil {
		return st, l.errorf(err, "read state")
	}
	attrs := link.Attrs()
	st.MTU = attrs.MTU
	st.Up = attrs.Flags&net.FlagUp != 0 && attrs.OperState != netlink.OperDormant

	if err := l.check(ctx); err != nil {
		return st, l.errorf(err, "read state")
	}
	var addrs []netlink.Addr
	for try := 0; ; try++ {
		l.stats.addrDumps.Add(1)
		addrs, err = l.h.AddrList(link, netlink.FAMILY_ALL)
		if !errors.Is(err, netlink.ErrDumpInterrupted) || try == dumpRetries {
			break
		}
	}
	if err != nil {
		return st, l.errorf(err, "list addresses")
	}
	for _, a := range addrs {
		p, ok := prefixOf(a.IPNet)
		if !ok || (p.Addr().Is6() && p.Addr().IsLinkLocalUnicast()) {
			continue
		}
		st.Addresses = append(st.Addresses, p)
	}
	slices.SortFunc(st.Addresses, comparePrefix)

	if err := l.check(ctx); err != nil {
		return st, l.errorf(err, "read state")
	}
	filter := &netlink.Route{LinkIndex: attrs.Index, Table: l.table}
	var routes []netlink.Route
	for try := 0; ; try++ {
		l.stats.routeDumps.Add(1)
		routes, err = l.h.RouteListFiltered(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
		if !errors.Is(err, netlink.ErrDumpInterrupted) || try == dumpRetries {
			break
		}
	}
	if err != nil {
		return st, l.errorf(err, "list routes")
	}
	for _, r := range routes {
		if r.Type != unix.RTN_UNICAST || len(r.MultiPath) > 0 || !isDefault(r.Dst) {
			continue
		}
		var f Family
		switch r.Family {
		case netlink.FAMILY_V4:
			f = IPv4
		case netlink.FAMILY_V6:
			f = IPv6
		default:
			continue
		}
		if r.Priority != l.metric(f) {
			continue
		}
		rt := Route{Family: f}
		if gw, ok := netip.AddrFromSlice(r.Gw); ok {
			rt.Gateway = gw.Unmap()
		}
		st.Routes = append(st.Routes, rt)
	}
	slices.SortFunc(st.Routes, func(a, b Route) int {
		if a.Family != b.Family {
			return int(a.Family) - int(b.Family)
		}
		return a.Gateway.Compare(b.Gateway)
	})
	return st, nil
}

// AddAddress adds p to the interface; an address already there is success.
func (l *LinuxHost) AddAddress(ctx context.Context, p netip.Prefix) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ipnet, err := ipNetOf(p)
	if err != nil {
		return l.errorf(err, "add address %s", p)
	}
	watch := p.Addr().Is6() && l.h != nil && l.watchIPv6Addrs()
	if watch {
		defer l.unwatchIPv6Addrs()
	}
	err = l.withIndex(ctx, func(index int) error {
		a := &netlink.Addr{IPNet: ipnet, LinkIndex: index}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		l.stats.addrAdds.Add(1)
		return l.h.AddrAdd(nil, a)
	})
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil {
		return l.errorf(err, "add address %s", p)
	}
	if watch {
		l.awaitAnnounced(ctx, p.Addr())
	}
	return nil
}

// ipv6SettleTimeout bounds how long AddAddress waits for the kernel to
// finish adding an IPv6 address; ipv6CarrierCheck is when it looks
// whether the link has a carrier at all.
const (
	ipv6SettleTimeout = 250 * time.Millisecond
	ipv6CarrierCheck  = 10 * time.Millisecond
)

// watchIPv6Addrs starts listening to the kernel's IPv6 address
// announcements, dropping what an earlier call left unread. It reports
// whether listening works; unwatchIPv6Addrs must follow.
func (l *LinuxHost) watchIPv6Addrs() bool {
	fd := l.ev.GetFd()
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, unix.RTNLGRP_IPV6_IFADDR); err != nil {
		return false
	}
	for range 1024 { // bounded: the socket holds what a few changes announce
		if _, _, err := unix.Recvfrom(fd, l.evBuf, unix.MSG_DONTWAIT); err != nil {
			break
		}
	}
	return true
}

func (l *LinuxHost) unwatchIPv6Addrs() {
	unix.SetsockoptInt(l.ev.GetFd(), unix.SOL_NETLINK, unix.NETLINK_DROP_MEMBERSHIP, unix.RTNLGRP_IPV6_IFADDR)
}

// awaitAnnounced waits until the kernel announces a, an IPv6 address just
// added. The kernel finishes an IPv6 address, even one without duplicate
// address detection, from a work queue after it has acknowledged the
// request (tens of microseconds later, at times milliseconds): only then
// does it announce it (RTM_NEWADDR) and install its local route. Waiting
// keeps the contract's order visible to everyone who watches the kernel
// (the address before the route, both before the link events) and makes
// the address usable, not only present, when AddAddress returns.
//
// The wait listens (no polling), is bounded by ipv6SettleTimeout and by
// ctx, and ends early when the link turns out to have no carrier (the
// kernel then finishes the address when the link is ready). It is best
// effort: the address is there either way, so it reports nothing.
func (l *LinuxHost) awaitAnnounced(ctx context.Context, a netip.Addr) {
	start := time.Now()
	deadline := start.Add(ipv6SettleTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	checked := false
	for {
		now := time.Now()
		wait := deadline.Sub(now)
		if !checked {
			wait = min(wait, start.Add(ipv6CarrierCheck).Sub(now))
		}
		if wait <= 0 {
			if checked || ctx.Err() != nil || !now.Before(deadline) {
				return
			}
			checked = true
			l.stats.linkGets.Add(1)
			link, err := l.h.LinkByIndex(l.index)
			const ready = unix.IFF_UP | unix.IFF_LOWER_UP
			if err != nil || link.Attrs().RawFlags&ready != ready {
				return
			}
			continue
		}
		tv := unix.NsecToTimeval(wait.Nanoseconds())
		l.ev.SetReceiveTimeout(&tv)
		msgs, _, err := l.ev.Receive()
		if errors.Is(err, unix.EAGAIN) {
			continue // this slice of the wait is over
		}
		if err != nil {
			return // ENOBUFS (announcements lost) or worse: stop waiting
		}
		for _, m := range msgs {
			if m.Header.Type == unix.RTM_NEWADDR && announces(m.Data, l.index, a) {
				return
			}
		}
	}
}

// announces reports whether an RTM_NEWADDR message is about address a on
// the interface index.
func announces(b []byte, index int, a netip.Addr) bool {
	if len(b) < unix.SizeofIfAddrmsg {
		return false
	}
	if msg := nl.DeserializeIfAddrmsg(b); int(msg.Index) != index {
		return false
	}
	attrs, err := nl.ParseRouteAttr(b[unix.SizeofIfAddrmsg:])
	if err != nil {
		return false
	}
	for _, at := range attrs {
		if at.Attr.Type == unix.IFA_ADDRESS {
			got, ok := netip.AddrFromSlice(at.Value)
			return ok && got == a.WithZone("")
		}
	}
	return false
}

// DeleteAddress deletes p from the interface; an address that is not there
// is success.
func (l *LinuxHost) DeleteAddress(ctx context.Context, p netip.Prefix) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ipnet, err := ipNetOf(p)
	if err != nil {
		return l.errorf(err, "delete address %s", p)
	}
	err = l.withIndex(ctx, func(index int) error {
		l.stats.addrDels.Add(1)
		return l.h.AddrDel(nil, &netlink.Addr{IPNet: ipnet, LinkIndex: index})
	})
	if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return l.errorf(err, "delete address %s", p)
	}
	return nil
}

// ReplaceDefaultRoute installs or replaces the default route of r.Family
// through the interface.
func (l *LinuxHost) ReplaceDefaultRoute(ctx context.Context, r Route) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	what := "replace default route"
	if r.Gateway.IsValid() {
		what += " via " + r.Gateway.String()
	}
	gw := r.Gateway
	if gw.Is4In6() {
		gw = gw.Unmap()
	}
	switch {
	case r.Family != IPv4 && r.Family != IPv6:
		return l.errorf(fmt.Errorf("invalid family %d", r.Family), "%s", what)
	case gw.IsValid() && gw.Is4() != (r.Family == IPv4):
		return l.errorf(fmt.Errorf("gateway is not an IPv%d address", r.Family), "%s", what)
	}
	err := l.withIndex(ctx, func(index int) error {
		rt := l.defaultRoute(r.Family, index)
		rt.Protocol = unix.RTPROT_STATIC
		rt.Type = unix.RTN_UNICAST
		if gw.IsValid() {
			rt.Gw = gw.AsSlice()
		} else if r.Family == IPv4 {
			rt.Scope = netlink.SCOPE_LINK
		}
		l.stats.routeReplaces.Add(1)
		err := l.h.RouteReplace(rt)
		if gw.IsValid() && (errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH)) {
			// The gateway is in no prefix on the link (a /32 or a
			// /128 from the modem, or a gateway the network put
			// elsewhere): on a point-to-point modem link every
			// address is on-link, so say so.
			if err := l.check(ctx); err != nil {
				return err
			}
			rt.Flags |= unix.RTNH_F_ONLINK
			l.stats.routeReplaces.Add(1)
			err = l.h.RouteReplace(rt)
		}
		return err
	})
	if errors.Is(err, unix.ENETDOWN) {
		return l.errorf(err, "%s (the kernel refuses routes through an interface that is administratively down: SetLink(true) first)", what)
	}
	if err != nil {
		return l.errorf(err, "%s", what)
	}
	return nil
}

// DeleteDefaultRoute deletes the default route of a family through the
// interface in the configured table and metric; a route that is not there
// is success.
func (l *LinuxHost) DeleteDefaultRoute(ctx context.Context, f Family) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f != IPv4 && f != IPv6 {
		return l.errorf(fmt.Errorf("invalid family %d", f), "delete default route")
	}
	err := l.withIndex(ctx, func(index int) error {
		rt := l.defaultRoute(f, index)
		rt.Scope = netlink.SCOPE_NOWHERE // any scope: gateway or device route
		l.stats.routeDels.Add(1)
		return l.h.RouteDel(rt)
	})
	if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return l.errorf(err, "delete IPv%d default route", f)
	}
	return nil
}

// SetMTU sets the interface's MTU when it differs; mtu 0 (none given) does
// nothing.
func (l *LinuxHost) SetMTU(ctx context.Context, mtu int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if mtu == 0 {
		return nil
	}
	if mtu < 0 {
		return l.errorf(fmt.Errorf("invalid MTU %d", mtu), "set MTU")
	}
	if err := l.check(ctx); err != nil {
		return l.errorf(err, "set MTU %d", mtu)
	}
	link, err := l.linkLocked()
	if err != nil {
		return l.errorf(err, "set MTU %d", mtu)
	}
	if link.Attrs().MTU == mtu {
		return nil
	}
	err = l.withIndex(ctx, func(index int) error {
		l.stats.mtuSets.Add(1)
		return l.h.LinkSetMTU(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index}}, mtu)
	})
	if err != nil {
		return l.errorf(err, "set MTU %d", mtu)
	}
	return nil
}

// SetLink sets the interface's operational state: up (and
// administratively up), or dormant. See LinuxHost.
func (l *LinuxHost) SetLink(ctx context.Context, up bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.withIndex(ctx, func(index int) error {
		req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
		req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: l.raw}
		msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
		msg.Index = int32(index)
		var oper, mode uint8
		if up {
			msg.Flags = unix.IFF_UP
			msg.Change = unix.IFF_UP
			oper, mode = ifOperUp, ifLinkModeDefault
		} else {
			oper, mode = ifOperDormant, ifLinkModeDormant
		}
		req.AddData(msg)
		// The kernel applies IFLA_OPERSTATE before IFLA_LINKMODE: going
		// down, the state becomes dormant and then the mode keeps it
		// so; going up, the state becomes up and the default mode lets
		// the kernel manage it again.
		req.AddData(nl.NewRtAttr(unix.IFLA_OPERSTATE, []byte{oper}))
		req.AddData(nl.NewRtAttr(unix.IFLA_LINKMODE, []byte{mode}))
		l.stats.linkSets.Add(1)
		_, err := req.Execute(unix.NETLINK_ROUTE, 0)
		return err
	})
	if err != nil {
		if up {
			return l.errorf(err, "set link up")
		}
		return l.errorf(err, "set link down")
	}
	return nil
}

// SetDNS writes the servers to the configured DNSTarget.
func (l *LinuxHost) SetDNS(ctx context.Context, servers []netip.Addr) error {
	res, err := l.cfg.DNS.apply(ctx, l.cfg.Interface, servers)
	if res.fileWritten {
		l.stats.dnsFileWrites.Add(1)
	}
	if res.hookRun {
		l.stats.dnsHookRuns.Add(1)
	}
	return err
}

// check reports a cancelled context or a closed host.
func (l *LinuxHost) check(ctx context.Context) error {
	if l.h == nil {
		return net.ErrClosed
	}
	return ctx.Err()
}

// linkLocked looks the interface up by name and remembers its index.
func (l *LinuxHost) linkLocked() (netlink.Link, error) {
	if l.h == nil {
		return nil, net.ErrClosed
	}
	l.stats.linkGets.Add(1)
	link, err := l.h.LinkByName(l.cfg.Interface)
	if err != nil {
		l.index = 0
		return nil, fmt.Errorf("find interface: %w", err)
	}
	l.index = link.Attrs().Index
	return link, nil
}

// withIndex runs op with the interface's index, looking it up first if it
// is not known. If the kernel says the index is gone (the interface was
// deleted and created again), it looks the name up again and retries once.
func (l *LinuxHost) withIndex(ctx context.Context, op func(index int) error) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	if l.index == 0 {
		if _, err := l.linkLocked(); err != nil {
			return err
		}
	}
	err := op(l.index)
	if !errors.Is(err, unix.ENODEV) {
		return err
	}
	if err := l.check(ctx); err != nil {
		return err
	}
	if _, err := l.linkLocked(); err != nil {
		return err
	}
	return op(l.index)
}

// defaultRoute is the default route of a family through the interface in
// the configured table and metric.
func (l *LinuxHost) defaultRoute(f Family, index int) *netlink.Route {
	rt := &netlink.Route{LinkIndex: index, Table: l.table, Priority: l.metric(f)}
	if f == IPv4 {
		rt.Family = netlink.FAMILY_V4
		rt.Dst = &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
	} else {
		rt.Family = netlink.FAMILY_V6
		rt.Dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
	}
	return rt
}

// metric is the metric the kernel gives the family's default route.
func (l *LinuxHost) metric(f Family) int {
	if f == IPv6 && l.cfg.Metric == 0 {
		return ipv6DefaultMetric
	}
	return l.cfg.Metric
}

// errorf adds the operation and the interface to err, once.
func (l *LinuxHost) errorf(err error, format string, args ...any) error {
	return fmt.Errorf("handoff: %s on %s: %w", fmt.Sprintf(format, args...), l.cfg.Interface, err)
}

func ipNetOf(p netip.Prefix) (*net.IPNet, error) {
	if !p.IsValid() {
		return nil, errors.New("invalid prefix")
	}
	a := p.Addr()
	if a.Is4In6() {
		return nil, errors.New("IPv4-mapped IPv6 address")
	}
	if a.Zone() != "" {
		a = a.WithZone("")
	}
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(p.Bits(), a.BitLen())}, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, bits := n.Mask.Size()
	if bits != a.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones), true
}

func isDefault(dst *net.IPNet) bool {
	if dst == nil {
		return true
	}
	ones, _ := dst.Mask.Size()
	return ones == 0
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
