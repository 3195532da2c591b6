//go:build linux

package handoff_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/handoff/internal/netnstest"
)

// nlApply makes the host go from one configuration to the next through
// the Host methods, in the contract's order (steps 4 to 7), touching only
// what differs, and returns the steps it took. It stands in for the
// engine, so that this test proves the host side alone.
func nlApply(t *testing.T, h handoff.Host, from, to handoff.Config) []string {
	t.Helper()
	ctx := context.Background()
	var steps []string
	step := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		steps = append(steps, name)
	}
	// 4: delete each old address that is not in the new configuration.
	for _, p := range from.Addresses() {
		if !slices.Contains(to.Addresses(), p) {
			step("addr-del "+p.String(), h.DeleteAddress(ctx, p))
		}
	}
	// 5: add each new address, replace the default routes of the
	// families that changed, set the MTU, write DNS.
	for _, p := range to.Addresses() {
		if !slices.Contains(from.Addresses(), p) {
			step("addr-add "+p.String(), h.AddAddress(ctx, p))
		}
	}
	families := []struct {
		f            handoff.Family
		from, to     []netip.Prefix
		fromGW, toGW netip.Addr
	}{
		{handoff.IPv4, from.IPv4, to.IPv4, from.Gateway4, to.Gateway4},
		{handoff.IPv6, from.IPv6, to.IPv6, from.Gateway6, to.Gateway6},
	}
	for _, fam := range families {
		changed := !slices.Equal(fam.from, fam.to) || fam.fromGW != fam.toGW
		switch {
		case len(fam.to) == 0 && len(fam.from) > 0:
			step(fmt.Sprintf("route-del default%d", fam.f), h.DeleteDefaultRoute(ctx, fam.f))
		case len(fam.to) > 0 && changed:
			step(fmt.Sprintf("route-replace default%d", fam.f), h.ReplaceDefaultRoute(ctx, handoff.Route{Family: fam.f, Gateway: fam.toGW}))
		}
	}
	if to.MTU != 0 && to.MTU != from.MTU {
		step(fmt.Sprintf("mtu %d", to.MTU), h.SetMTU(ctx, to.MTU))
	}
	if !slices.Equal(from.DNS, to.DNS) {
		step("dns", h.SetDNS(ctx, to.DNS))
	}
	// 6, 7: the link goes down and up, only now.
	if !from.IsZero() {
		step("link-down", h.SetLink(ctx, false))
	}
	step("link-up", h.SetLink(ctx, true))
	return steps
}

// The transparent handoff at the host level, against the kernel: a TCP
// connection over IPv4 and one over IPv6 carry data across a tour of radio
// technologies with the same IP configuration, and the host sees not one
// netlink request nor one kernel event. Then two readdressings, each of
// one family, through the Host methods in the contract's order: the
// kernel ends up with exactly the new configuration, announced in that
// order, and the other family's connection never notices.
func TestIntegrationLinuxHostHandoffTCP(t *testing.T) {
	dns := filepath.Join(t.TempDir(), "resolv.conf")
	r := newNLRig(t, handoff.LinuxHostConfig{Metric: 50, DNS: handoff.DNSTarget{File: dns}})

	// B, the network: the gateways on peer0, the servers on its loopback.
	for _, p := range []string{"198.51.100.1/30", "198.51.100.5/30", "2001:db8:1::1/64", "2001:db8:2::1/64"} {
		r.b.AddAddr("peer0", nlPfx(p))
	}
	r.b.AddAddr("lo", nlPfx("203.0.113.10/32"))
	r.b.AddAddr("lo", nlPfx("2001:db8:ff::10/128"))
	r.b.WaitLocal(nlIP("2001:db8:ff::10"))
	r.b.WaitLocal(nlIP("2001:db8:1::1"))
	r.b.WaitLocal(nlIP("2001:db8:2::1"))
	echo4 := netnstest.EchoServer(t, r.b, "203.0.113.10:7")
	echo6 := netnstest.EchoServer(t, r.b, "[2001:db8:ff::10]:7")

	first := handoff.Config{
		IPv4:     nlPrefixes("198.51.100.2/30"),
		IPv6:     nlPrefixes("2001:db8:1::2/64"),
		Gateway4: nlIP("198.51.100.1"),
		Gateway6: nlIP("2001:db8:1::1"),
		DNS:      []netip.Addr{nlIP("192.0.2.53"), nlIP("2001:db8::53")},
		MTU:      1450,
	}
	nlApply(t, r.host, handoff.Config{}, first)
	r.a.WaitLocal(nlIP("2001:db8:1::2"))
	conn4 := netnstest.Dial(t, r.a, echo4)
	conn6 := netnstest.Dial(t, r.a, echo6)
	echo := func(c net.Conn, i int) {
		t.Helper()
		payload := []byte(fmt.Sprintf("handoff %d over %s: %0900d", i, c.LocalAddr(), i))
		if err := netnstest.Echo(c, payload); err != nil {
			t.Fatalf("handoff %d, connection from %s: %v", i, c.LocalAddr(), err)
		}
	}
	echo(conn4, 0)
	echo(conn6, 0)

	// Transparent: the modem reports the same configuration after each
	// data-class change; the decision (Config.Equal) leaves the host
	// alone, and the connections go on.
	w := netnstest.Watch(t, r.a, "wwan0")
	applied := first
	before := r.host.Stats()
	tour := []string{"GPRS", "EDGE", "UMTS", "HSDPA", "HSUPA", "LTE", "5G NSA", "5G SA", "LTE", "HSDPA"}
	const handoffs = 100
	for i := 1; i <= handoffs; i++ {
		reported := handoff.Config{ // as decoded afresh from IP_CONFIGURATION
			IPv4:     nlPrefixes("198.51.100.2/30"),
			IPv6:     nlPrefixes("2001:db8:1::2/64"),
			Gateway4: nlIP("198.51.100.1"),
			Gateway6: nlIP("2001:db8:1::1"),
			DNS:      []netip.Addr{nlIP("192.0.2.53"), nlIP("2001:db8::53")},
			MTU:      1450,
		}
		if !applied.Equal(reported) {
			t.Fatalf("handoff %d to %s: same configuration judged different", i, tour[i%len(tour)])
		}
		echo(conn4, i)
		echo(conn6, i)
	}
	if d := r.host.Stats().Sub(before); d != (handoff.LinuxHostStats{}) {
		t.Fatalf("transparent handoffs sent requests: %+v", d)
	}
	nlEvents(t, w, "kernel events during transparent handoffs", nil)
	t.Logf("%d transparent handoffs: TCP over IPv4 and IPv6 carried data across each; 0 netlink requests, 0 DNS writes, 0 kernel events", handoffs)

	// Readdressed, IPv4 only.
	second := first
	second.IPv4 = nlPrefixes("198.51.100.6/30")
	second.Gateway4 = nlIP("198.51.100.5")
	before = r.host.Stats()
	steps := nlApply(t, r.host, applied, second)
	applied = second
	nlEqual(t, "steps", steps, []string{
		"addr-del 198.51.100.2/30", "addr-add 198.51.100.6/30", "route-replace default4", "link-down", "link-up",
	})
	nlEvents(t, w, "kernel events of the IPv4 readdressing", []string{
		"addr-del 198.51.100.2/30",
		"addr-add 198.51.100.6/30",
		"route-add 0.0.0.0/0 via 198.51.100.5 table 254 metric 50",
		"link-down",
		"link-up",
	})
	if d := r.host.Stats().Sub(before); d.Writes() != 5 || d.AddrDels != 1 || d.AddrAdds != 1 || d.RouteReplaces != 1 || d.LinkSets != 2 {
		t.Errorf("requests = %+v, want one of each step", d)
	}
	nlCheckKernel(t, r, second)
	echo(conn6, -1) // IPv6 did not notice
	conn4 = netnstest.Dial(t, r.a, echo4)
	if got := conn4.LocalAddr().(*net.TCPAddr).IP.String(); got != "198.51.100.6" {
		t.Errorf("new IPv4 connection from %s, want 198.51.100.6", got)
	}
	echo(conn4, -1)

	// Readdressed, IPv6 only (and the DNS server with it).
	third := second
	third.IPv6 = nlPrefixes("2001:db8:2::2/64")
	third.Gateway6 = nlIP("2001:db8:2::1")
	third.DNS = []netip.Addr{nlIP("192.0.2.53"), nlIP("2001:db8::54")}
	steps = nlApply(t, r.host, applied, third)
	nlEqual(t, "steps", steps, []string{
		"addr-del 2001:db8:1::2/64", "addr-add 2001:db8:2::2/64", "route-replace default6", "dns", "link-down", "link-up",
	})
	nlEvents(t, w, "kernel events of the IPv6 readdressing", []string{
		"addr-del 2001:db8:1::2/64",
		"addr-add 2001:db8:2::2/64",
		"route-add ::/0 via 2001:db8:2::1 table 254 metric 50",
		"link-down",
		"link-up",
	})
	nlCheckKernel(t, r, third)
	echo(conn4, -2) // IPv4 did not notice
	r.a.WaitLocal(nlIP("2001:db8:2::2"))
	conn6 = netnstest.Dial(t, r.a, echo6)
	if got := conn6.LocalAddr().(*net.TCPAddr).IP.String(); got != "2001:db8:2::2" {
		t.Errorf("new IPv6 connection from %s, want 2001:db8:2::2", got)
	}
	echo(conn6, -2)
	if got, err := os.ReadFile(dns); err != nil || string(got) != string(handoff.ResolvConf("wwan0", third.DNS)) {
		t.Errorf("resolv.conf = %q, %v", got, err)
	}
}

// nlCheckKernel checks that the kernel's addresses and default routes on
// wwan0, read independently of the host, are exactly cfg's, and that State
// says the same.
func nlCheckKernel(t *testing.T, r *nlRig, cfg handoff.Config) {
	t.Helper()
	var addrs []string
	for _, p := range cfg.IPv4 {
		addrs = append(addrs, p.String())
	}
	for _, p := range cfg.IPv6 {
		addrs = append(addrs, p.String()+" nodad")
	}
	slices.Sort(addrs)
	nlEqual(t, "kernel addresses", nlKernelAddrs(t, r.a, "wwan0"), addrs)
	nlEqual(t, "kernel default routes", nlKernelRoutes(t, r.a, "wwan0"), []string{
		fmt.Sprintf("0.0.0.0/0 via %s table 254 metric 50 proto static", cfg.Gateway4),
		fmt.Sprintf("::/0 via %s table 254 metric 50 proto static", cfg.Gateway6),
	})
	want := handoff.HostState{
		Addresses: cfg.Addresses(),
		Routes:    []handoff.Route{{Family: handoff.IPv4, Gateway: cfg.Gateway4}, {Family: handoff.IPv6, Gateway: cfg.Gateway6}},
		MTU:       cfg.MTU,
		Up:        true,
	}
	if st := nlState(t, r.host); !nlStateEqual(st, want) {
		t.Fatalf("State() = %+v, want %+v", st, want)
	}
}
