package handoff

import (
	"context"
	"net/netip"
	"slices"
)

// Config is the IP configuration of one MBIM session, as the modem reports
// it and as it should be on the host: what the engine compares to decide
// whether a handoff is transparent.
type Config struct {
	IPv4     []netip.Prefix // addresses with their on-link prefix length
	IPv6     []netip.Prefix
	Gateway4 netip.Addr // invalid when absent
	Gateway6 netip.Addr
	DNS      []netip.Addr // IPv4 servers first, then IPv6
	MTU      int          // 0 when the modem gave none
}

// Equal reports whether two configurations are the same (order of
// addresses and servers matters for DNS only).
func (c Config) Equal(o Config) bool {
	return sameSet(c.IPv4, o.IPv4) && sameSet(c.IPv6, o.IPv6) &&
		c.Gateway4 == o.Gateway4 && c.Gateway6 == o.Gateway6 &&
		slices.Equal(c.DNS, o.DNS) && c.MTU == o.MTU
}

// IsZero reports a configuration with no address at all.
func (c Config) IsZero() bool { return len(c.IPv4) == 0 && len(c.IPv6) == 0 }

// Addresses lists every address, IPv4 first.
func (c Config) Addresses() []netip.Prefix {
	return append(slices.Clone(c.IPv4), c.IPv6...)
}

func sameSet(a, b []netip.Prefix) bool {
	if len(a) != len(b) {
		return false
	}
	for _, p := range a {
		if !slices.Contains(b, p) {
			return false
		}
	}
	return true
}

// Route is a default route through the modem's interface.
type Route struct {
	Gateway netip.Addr // invalid: a device route (point-to-point link)
	Family  Family
}

// Family is an address family.
type Family uint8

const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// HostState is what is on the host's interface now.
type HostState struct {
	Addresses []netip.Prefix
	Routes    []Route // default routes in the configured table and metric
	MTU       int
	Up        bool
	// DNS is what SetDNS last wrote, as far as the implementation can read
	// it back (nil when it cannot). The engine compares it with the
	// modem's servers at start and writes DNS only when they differ.
	DNS []netip.Addr
}

// Host is the host side of a session: the network interface the modem's
// data goes through, its addresses, default routes, MTU, link state and
// DNS. The Linux implementation uses netlink; tests use a recording fake.
//
// Every method changes one thing and is idempotent where the kernel allows
// (adding an address that is there is not an error). The engine calls
// State once at start and after a transport loss, and otherwise keeps its
// own record of what it applied, so a transparent handoff costs no call.
type Host interface {
	State(ctx context.Context) (HostState, error)
	AddAddress(ctx context.Context, p netip.Prefix) error
	DeleteAddress(ctx context.Context, p netip.Prefix) error
	// ReplaceDefaultRoute installs (or replaces) the default route of a
	// family through the interface, via gw when valid.
	ReplaceDefaultRoute(ctx context.Context, r Route) error
	DeleteDefaultRoute(ctx context.Context, f Family) error
	SetMTU(ctx context.Context, mtu int) error
	// SetLink signals the link down or up (the seed's media disconnect and
	// connect). After a readdress the engine calls SetLink(false) then
	// SetLink(true) with the new addresses and routes already in place:
	// they must survive the pair (on Linux: change the operational state,
	// or restore what setting the interface down flushes).
	SetLink(ctx context.Context, up bool) error
	// SetDNS writes the servers where the user said (a file, a hook).
	SetDNS(ctx context.Context, servers []netip.Addr) error
}
