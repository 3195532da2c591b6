package handoff

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// What the engine knows of the host, and the changes that bring it to a
// configuration. The changes are named like the steps of a handoff event.

type opCode uint8

const (
	opAddrDel opCode = iota
	opRouteDel
	opAddrAdd
	opRouteReplace
	opMTU
	opDNS
	opLinkDown
	opLinkUp
)

// hostOp is one Host call that changes something.
type hostOp struct {
	code   opCode
	prefix netip.Prefix // addr-add, addr-del
	route  Route        // route-replace; route-del uses route.Family
	mtu    int
	dns    []netip.Addr
}

// String names the change as a step: "addr-del 198.51.100.2/30",
// "addr-add …", "route-replace default" (IPv4) or "route-replace default
// ipv6", "route-del default[ ipv6]", "mtu 1500", "dns 192.0.2.53 …",
// "link-down", "link-up".
func (o hostOp) String() string {
	switch o.code {
	case opAddrDel:
		return "addr-del " + o.prefix.String()
	case opAddrAdd:
		return "addr-add " + o.prefix.String()
	case opRouteDel:
		return "route-del default" + familySuffix(o.route.Family)
	case opRouteReplace:
		return "route-replace default" + familySuffix(o.route.Family)
	case opMTU:
		return "mtu " + strconv.Itoa(o.mtu)
	case opDNS:
		var b strings.Builder
		b.WriteString("dns")
		for _, a := range o.dns {
			b.WriteByte(' ')
			b.WriteString(a.String())
		}
		return b.String()
	case opLinkDown:
		return "link-down"
	default:
		return "link-up"
	}
}

func familySuffix(f Family) string {
	if f == IPv6 {
		return " ipv6"
	}
	return ""
}

func (o hostOp) do(ctx context.Context, h Host) error {
	switch o.code {
	case opAddrDel:
		return h.DeleteAddress(ctx, o.prefix)
	case opAddrAdd:
		return h.AddAddress(ctx, o.prefix)
	case opRouteDel:
		return h.DeleteDefaultRoute(ctx, o.route.Family)
	case opRouteReplace:
		return h.ReplaceDefaultRoute(ctx, o.route)
	case opMTU:
		return h.SetMTU(ctx, o.mtu)
	case opDNS:
		return h.SetDNS(ctx, o.dns)
	case opLinkDown:
		return h.SetLink(ctx, false)
	default:
		return h.SetLink(ctx, true)
	}
}

// hostView is what the engine believes is on the host: read once with
// Host.State (at start, after a transport loss) and then kept up to date
// with every change the engine makes.
type hostView struct {
	addrs  []netip.Prefix // managed addresses only (no link-local)
	routes [2]routeSlot   // default routes by family: IPv4, IPv6
	mtu    int
	dns    []netip.Addr
	up     bool
}

type routeSlot struct {
	ok bool
	r  Route
}

func famIndex(f Family) int {
	if f == IPv6 {
		return 1
	}
	return 0
}

func familyOf(p netip.Prefix) Family {
	if p.Addr().Is4() {
		return IPv4
	}
	return IPv6
}

// managed reports an address the engine owns: link-local, multicast and
// loopback addresses on the interface are the kernel's, never deleted,
// and never added from the modem's configuration.
func managedAddr(p netip.Prefix) bool {
	a := p.Addr()
	return p.IsValid() && !a.IsLinkLocalUnicast() && !a.IsMulticast() && !a.IsLoopback() && !a.IsUnspecified()
}

func viewOf(s HostState) hostView {
	v := hostView{mtu: s.MTU, up: s.Up, dns: slices.Clone(s.DNS)}
	for _, p := range s.Addresses {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		if managedAddr(p) && !slices.Contains(v.addrs, p) {
			v.addrs = append(v.addrs, p)
		}
	}
	for _, r := range s.Routes {
		v.routes[famIndex(r.Family)] = routeSlot{ok: true, r: r}
	}
	return v
}

func (v *hostView) apply(o hostOp) {
	switch o.code {
	case opAddrDel:
		v.addrs = slices.DeleteFunc(v.addrs, func(p netip.Prefix) bool { return p == o.prefix })
	case opAddrAdd:
		if !slices.Contains(v.addrs, o.prefix) {
			v.addrs = append(v.addrs, o.prefix)
		}
	case opRouteDel:
		v.routes[famIndex(o.route.Family)] = routeSlot{}
	case opRouteReplace:
		v.routes[famIndex(o.route.Family)] = routeSlot{ok: true, r: o.route}
	case opMTU:
		v.mtu = o.mtu
	case opDNS:
		v.dns = o.dns
	case opLinkDown:
		v.up = false
	case opLinkUp:
		v.up = true
	}
}

// inverse returns the change that undoes o on the host v describes (before
// o is made), and false when there is nothing to undo.
func (v *hostView) inverse(o hostOp) (hostOp, bool) {
	switch o.code {
	case opAddrDel:
		return hostOp{code: opAddrAdd, prefix: o.prefix}, true
	case opAddrAdd:
		if slices.Contains(v.addrs, o.prefix) {
			return hostOp{}, false
		}
		return hostOp{code: opAddrDel, prefix: o.prefix}, true
	case opRouteDel, opRouteReplace:
		old := v.routes[famIndex(o.route.Family)]
		if old.ok {
			return hostOp{code: opRouteReplace, route: old.r}, true
		}
		if o.code == opRouteDel {
			return hostOp{}, false
		}
		return hostOp{code: opRouteDel, route: Route{Family: o.route.Family}}, true
	case opMTU:
		return hostOp{code: opMTU, mtu: v.mtu}, v.mtu > 0
	case opDNS:
		return hostOp{code: opDNS, dns: v.dns}, true
	}
	return hostOp{}, false
}

// planHost lists the changes that bring the host from v to want, in the
// seed's order: step 4 (the default route of a family left without
// address, then each old address not in want), step 5 (each new address,
// the default route of each family whose addresses or gateway changed, the
// MTU, DNS), then steps 6 and 7 (link down, link up) when flap is set. A
// link that is down is brought up first instead (routes need it; there
// is no consumer to signal). In DHCP mode only the link is touched.
func planHost(v hostView, want Config, dhcp, flap bool) []hostOp {
	var ops []hostOp
	if !v.up {
		ops = append(ops, hostOp{code: opLinkUp})
		flap = false
	}
	if !dhcp {
		fams := [2]struct {
			f    Family
			want []netip.Prefix
			gw   netip.Addr
		}{
			{IPv4, managedOnly(want.IPv4), want.Gateway4},
			{IPv6, managedOnly(want.IPv6), want.Gateway6},
		}
		var changed [2]bool
		for i, fam := range fams {
			if len(fam.want) == 0 && v.routes[i].ok {
				ops = append(ops, hostOp{code: opRouteDel, route: Route{Family: fam.f}})
			}
			for _, a := range v.addrs {
				if familyOf(a) == fam.f && !slices.Contains(fam.want, a) {
					ops = append(ops, hostOp{code: opAddrDel, prefix: a})
					changed[i] = true
				}
			}
		}
		for i, fam := range fams {
			for _, a := range fam.want {
				if !slices.Contains(v.addrs, a) {
					ops = append(ops, hostOp{code: opAddrAdd, prefix: a})
					changed[i] = true
				}
			}
		}
		for i, fam := range fams {
			if len(fam.want) == 0 {
				continue
			}
			r := Route{Gateway: fam.gw, Family: fam.f}
			if !v.routes[i].ok || v.routes[i].r != r || changed[i] {
				ops = append(ops, hostOp{code: opRouteReplace, route: r})
			}
		}
		if want.MTU > 0 && want.MTU != v.mtu {
			ops = append(ops, hostOp{code: opMTU, mtu: want.MTU})
		}
		if !slices.Equal(want.DNS, v.dns) {
			ops = append(ops, hostOp{code: opDNS, dns: want.DNS})
		}
	}
	if flap {
		ops = append(ops, hostOp{code: opLinkDown}, hostOp{code: opLinkUp})
	}
	return ops
}

// wanted filters a family's addresses to those the engine manages,
// without duplicates.
func managedOnly(in []netip.Prefix) []netip.Prefix {
	out := in[:0:0]
	for _, p := range in {
		if managedAddr(p) && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// sameAddresses reports whether two configurations have the same
// addresses: the IP change that a link flap signals.
func sameAddresses(a, b Config) bool {
	return sameSet(managedOnly(a.IPv4), managedOnly(b.IPv4)) && sameSet(managedOnly(a.IPv6), managedOnly(b.IPv6))
}
