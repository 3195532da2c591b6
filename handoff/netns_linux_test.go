package handoff_test

// Tests of LinuxHost and CreateTUN against the real kernel, each in
// network namespaces of its own (see internal/netnstest). They need root
// and skip without it; CI is root and runs them.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/handoff/internal/netnstest"
)

var (
	nlPfx = netip.MustParsePrefix
	nlIP  = netip.MustParseAddr
)

// nlRig is a namespace A holding the host's interface wwan0, one end of a
// veth pair whose other end, peer0, is in namespace B, and a LinuxHost on
// wwan0.
type nlRig struct {
	a, b *netnstest.NS
	host *handoff.LinuxHost
}

func newNLRig(t testing.TB, cfg handoff.LinuxHostConfig) *nlRig {
	t.Helper()
	a := netnstest.New(t)
	b := netnstest.New(t)
	netnstest.Veth(t, a, b, "wwan0", "peer0")
	cfg.Interface = "wwan0"
	cfg.NetNS = a.Handle()
	host, err := handoff.NewLinuxHost(cfg)
	if err != nil {
		t.Fatalf("NewLinuxHost: %v", err)
	}
	t.Cleanup(func() { host.Close() })
	if tt, ok := t.(*testing.T); ok {
		tt.Logf("running against the kernel in network namespaces A=%s (wwan0) and B=%s (peer0)", a, b)
	}
	return &nlRig{a: a, b: b, host: host}
}

func nlMust(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func nlState(t testing.TB, h handoff.Host) handoff.HostState {
	t.Helper()
	st, err := h.State(context.Background())
	if err != nil {
		t.Fatalf("State: %v", err)
	}
	return st
}

func nlPrefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, nlPfx(p))
	}
	return out
}

// kernelAddrs lists the interface's addresses as the kernel has them,
// without IPv6 link-local ones, with the flags that matter here.
func nlKernelAddrs(t testing.TB, ns *netnstest.NS, name string) []string {
	t.Helper()
	addrs, err := ns.Netlink().AddrList(ns.Link(name), netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("AddrList: %v", err)
	}
	var out []string
	for _, a := range addrs {
		if a.IP.IsLinkLocalUnicast() {
			continue
		}
		s := a.IPNet.String()
		if a.Flags&unix.IFA_F_TENTATIVE != 0 {
			s += " tentative"
		}
		if a.Flags&unix.IFA_F_NODAD != 0 {
			s += " nodad"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// kernelRoutes lists the default routes through the interface in every
// table, as the kernel has them.
func nlKernelRoutes(t testing.TB, ns *netnstest.NS, name string) []string {
	t.Helper()
	link := ns.Link(name)
	routes, err := ns.Netlink().RouteListFiltered(netlink.FAMILY_ALL,
		&netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatalf("RouteListFiltered: %v", err)
	}
	var out []string
	for _, r := range routes {
		if r.LinkIndex != link.Attrs().Index || r.Dst == nil {
			continue
		}
		if ones, _ := r.Dst.Mask.Size(); ones != 0 {
			continue
		}
		via := "dev"
		if r.Gw != nil {
			via = "via " + r.Gw.String()
		}
		s := fmt.Sprintf("%s %s table %d metric %d proto %s", r.Dst, via, r.Table, r.Priority, r.Protocol)
		if r.Flags&unix.RTNH_F_ONLINK != 0 {
			s += " onlink"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func nlEqual(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// nlEvents checks the kernel's account of the interface since the last
// check.
func nlEvents(t testing.TB, w *netnstest.Watcher, what string, want []string) {
	t.Helper()
	nlEqual(t, what, w.Await(len(want)), want)
}

func TestLinuxHostAddresses(t *testing.T) {
	r := newNLRig(t, handoff.LinuxHostConfig{})
	ctx := context.Background()
	w := netnstest.Watch(t, r.a, "wwan0")

	all := nlPrefixes("198.51.100.2/30", "198.51.100.66/26", "2001:db8:1::2/64", "2001:db8:2::2/56", "2001:db8:3::3/128")
	for _, p := range all {
		nlMust(t, "AddAddress "+p.String(), r.host.AddAddress(ctx, p))
	}
	// An IPv6 address added without DAD is usable at once: binding to
	// it right away works (a tentative one would fail).
	r.a.Run(func() error {
		ln, err := net.Listen("tcp", "[2001:db8:1::2]:0")
		if err == nil {
			ln.Close()
		}
		return err
	})
	st := nlState(t, r.host)
	if !slices.Equal(st.Addresses, all) { // IPv4 first, sorted
		t.Fatalf("State().Addresses = %v, want %v", st.Addresses, all)
	}
	nlEqual(t, "kernel addresses", nlKernelAddrs(t, r.a, "wwan0"), []string{
		"198.51.100.2/30", "198.51.100.66/26",
		"2001:db8:1::2/64 nodad", "2001:db8:2::2/56 nodad", "2001:db8:3::3/128 nodad",
	})
	var want []string
	for _, p := range all {
		want = append(want, "addr-add "+p.String())
	}
	// IPv6 additions are announced from the kernel's work queue, in no
	// promised order.
	got := w.Await(len(want))
	sort.Strings(got)
	sort.Strings(want)
	nlEqual(t, "kernel events", got, want)

	// Idempotent: adding what is there and deleting what is not succeed
	// and change nothing (the kernel announces nothing).
	before := r.host.Stats()
	nlMust(t, "AddAddress again", r.host.AddAddress(ctx, all[0]))
	nlMust(t, "AddAddress again", r.host.AddAddress(ctx, all[2]))
	nlMust(t, "DeleteAddress absent", r.host.DeleteAddress(ctx, nlPfx("203.0.113.9/24")))
	nlMust(t, "DeleteAddress absent", r.host.DeleteAddress(ctx, nlPfx("2001:db8:9::9/64")))
	nlMust(t, "DeleteAddress wrong length", r.host.DeleteAddress(ctx, nlPfx("198.51.100.2/24")))
	if d := r.host.Stats().Sub(before); d.AddrAdds != 2 || d.AddrDels != 3 {
		t.Errorf("requests = %+v, want 2 adds and 3 deletes sent", d)
	}
	nlEvents(t, w, "kernel events after idempotent calls", nil)
	if st2 := nlState(t, r.host); !slices.Equal(st2.Addresses, all) {
		t.Fatalf("State().Addresses = %v, want %v unchanged", st2.Addresses, all)
	}

	nlMust(t, "DeleteAddress", r.host.DeleteAddress(ctx, all[1]))
	nlMust(t, "DeleteAddress", r.host.DeleteAddress(ctx, all[3]))
	want4 := []netip.Prefix{all[0], all[2], all[4]}
	if st := nlState(t, r.host); !slices.Equal(st.Addresses, want4) {
		t.Fatalf("after deletes State().Addresses = %v, want %v", st.Addresses, want4)
	}
	nlEvents(t, w, "kernel events", []string{"addr-del 198.51.100.66/26", "addr-del 2001:db8:2::2/56"})

	// IPv6 link-local addresses are the kernel's: State leaves them out
	// even when there is one.
	r.a.AddAddr("wwan0", nlPfx("fe80::1234/64"))
	if st := nlState(t, r.host); !slices.Equal(st.Addresses, want4) {
		t.Fatalf("with a link-local address State().Addresses = %v, want %v", st.Addresses, want4)
	}

	for _, bad := range []netip.Prefix{{}, nlPfx("::ffff:198.51.100.2/126")} {
		if err := r.host.AddAddress(ctx, bad); err == nil {
			t.Errorf("AddAddress(%v) succeeded", bad)
		}
	}
}

func TestLinuxHostDefaultRoutes(t *testing.T) {
	r := newNLRig(t, handoff.LinuxHostConfig{Table: 100, Metric: 77})
	ctx := context.Background()
	nlMust(t, "AddAddress", r.host.AddAddress(ctx, nlPfx("198.51.100.2/29")))
	nlMust(t, "AddAddress", r.host.AddAddress(ctx, nlPfx("2001:db8:1::2/64")))
	w := netnstest.Watch(t, r.a, "wwan0")

	v4 := handoff.Route{Family: handoff.IPv4, Gateway: nlIP("198.51.100.1")}
	v6 := handoff.Route{Family: handoff.IPv6, Gateway: nlIP("2001:db8:1::1")}
	before := r.host.Stats()
	nlMust(t, "ReplaceDefaultRoute v4", r.host.ReplaceDefaultRoute(ctx, v4))
	nlMust(t, "ReplaceDefaultRoute v6", r.host.ReplaceDefaultRoute(ctx, v6))
	if d := r.host.Stats().Sub(before); d.RouteReplaces != 2 || d.NetlinkRequests() != 2 {
		t.Errorf("requests = %+v, want 2 route replaces and nothing else (the index is known)", d)
	}
	if st := nlState(t, r.host); !slices.Equal(st.Routes, []handoff.Route{v4, v6}) {
		t.Fatalf("State().Routes = %v, want %v", st.Routes, []handoff.Route{v4, v6})
	}
	nlEqual(t, "kernel routes", nlKernelRoutes(t, r.a, "wwan0"), []string{
		"0.0.0.0/0 via 198.51.100.1 table 100 metric 77 proto static",
		"::/0 via 2001:db8:1::1 table 100 metric 77 proto static",
	})
	nlEvents(t, w, "kernel events", []string{
		"route-add 0.0.0.0/0 via 198.51.100.1 table 100 metric 77",
		"route-add ::/0 via 2001:db8:1::1 table 100 metric 77",
	})
	// A default route in the main table, which is not ours, is not
	// in State.
	r.a.AddRoute("wwan0", nlPfx("0.0.0.0/0"), nlIP("198.51.100.3"))
	if st := nlState(t, r.host); !slices.Equal(st.Routes, []handoff.Route{v4, v6}) {
		t.Fatalf("with a main-table route, State().Routes = %v, want %v", st.Routes, []handoff.Route{v4, v6})
	}
	w.Take()

	// Replacing changes the gateway: still one route per family.
	v4b := handoff.Route{Family: handoff.IPv4, Gateway: nlIP("198.51.100.3")}
	nlMust(t, "ReplaceDefaultRoute v4 again", r.host.ReplaceDefaultRoute(ctx, v4b))
	nlMust(t, "ReplaceDefaultRoute v6 again", r.host.ReplaceDefaultRoute(ctx, v6))
	if st := nlState(t, r.host); !slices.Equal(st.Routes, []handoff.Route{v4b, v6}) {
		t.Fatalf("State().Routes = %v, want %v", st.Routes, []handoff.Route{v4b, v6})
	}

	// Device routes (a point-to-point link without a gateway).
	dev4 := handoff.Route{Family: handoff.IPv4}
	dev6 := handoff.Route{Family: handoff.IPv6}
	nlMust(t, "ReplaceDefaultRoute dev v4", r.host.ReplaceDefaultRoute(ctx, dev4))
	nlMust(t, "ReplaceDefaultRoute dev v6", r.host.ReplaceDefaultRoute(ctx, dev6))
	if st := nlState(t, r.host); !slices.Equal(st.Routes, []handoff.Route{dev4, dev6}) {
		t.Fatalf("State().Routes = %v, want %v", st.Routes, []handoff.Route{dev4, dev6})
	}
	nlEqual(t, "kernel routes", nlKernelRoutes(t, r.a, "wwan0"), []string{
		"0.0.0.0/0 dev table 100 metric 77 proto static",
		"0.0.0.0/0 via 198.51.100.3 table 254 metric 0 proto boot",
		"::/0 dev table 100 metric 77 proto static",
	})

	// Delete, then delete what is not there.
	w.Take()
	nlMust(t, "DeleteDefaultRoute v4", r.host.DeleteDefaultRoute(ctx, handoff.IPv4))
	nlMust(t, "DeleteDefaultRoute v6", r.host.DeleteDefaultRoute(ctx, handoff.IPv6))
	nlMust(t, "DeleteDefaultRoute v4 absent", r.host.DeleteDefaultRoute(ctx, handoff.IPv4))
	nlMust(t, "DeleteDefaultRoute v6 absent", r.host.DeleteDefaultRoute(ctx, handoff.IPv6))
	if st := nlState(t, r.host); len(st.Routes) != 0 {
		t.Fatalf("after delete State().Routes = %v, want none", st.Routes)
	}
	nlEvents(t, w, "kernel events", []string{
		"route-del 0.0.0.0/0 dev table 100 metric 77",
		"route-del ::/0 dev table 100 metric 77",
	})
	// The main-table route of someone else is still there.
	nlEqual(t, "kernel routes", nlKernelRoutes(t, r.a, "wwan0"), []string{
		"0.0.0.0/0 via 198.51.100.3 table 254 metric 0 proto boot",
	})

	for _, bad := range []handoff.Route{
		{Family: 5},
		{Family: handoff.IPv4, Gateway: nlIP("2001:db8:1::1")},
		{Family: handoff.IPv6, Gateway: nlIP("198.51.100.1")},
	} {
		if err := r.host.ReplaceDefaultRoute(ctx, bad); err == nil {
			t.Errorf("ReplaceDefaultRoute(%+v) succeeded", bad)
		}
	}
}

// The main table and metric 0: the kernel stores an IPv6 route of metric 0
// as 1024, and State still finds it.
func TestLinuxHostDefaultRoutesMainTable(t *testing.T) {
	r := newNLRig(t, handoff.LinuxHostConfig{})
	ctx := context.Background()
	nlMust(t, "AddAddress", r.host.AddAddress(ctx, nlPfx("198.51.100.2/30")))
	nlMust(t, "AddAddress", r.host.AddAddress(ctx, nlPfx("2001:db8:1::2/64")))
	v4 := handoff.Route{Family: handoff.IPv4, Gateway: nlIP("198.51.100.1")}
	v6 := handoff.Route{Family: handoff.IPv6, Gateway: nlIP("2001:db8:1::1")}
	nlMust(t, "ReplaceDefaultRoute v4", r.host.ReplaceDefaultRoute(ctx, v4))
	nlMust(t, "ReplaceDefaultRoute v6", r.host.ReplaceDefaultRoute(ctx, v6))
	nlEqual(t, "kernel routes", nlKernelRoutes(t, r.a, "wwan0"), []string{
		"0.0.0.0/0 via 198.51.100.1 table 254 metric 0 proto static",
		"::/0 via 2001:db8:1::1 table 254 metric 1024 proto static",
	})
	if st := nlState(t, r.host); !slices.Equal(st.Routes, []handoff.Route{v4, v6}) {
		t.Fatalf("State().Routes = %v, want %v", st.Routes, []handoff.Route{v4, v6})
	}
	nlMust(t, "DeleteDefaultRoute v4", r.host.DeleteDefaultRoute(ctx, handoff.IPv4))
	nlMust(t, "DeleteDefaultRoute v6", r.host.DeleteDefaultRoute(ctx, handoff.IPv6))
	nlEqual(t, "kernel routes", nlKernelRoutes(t, r.a, "wwan0"), nil)
}

// A gateway outside every prefix of the link (a /32 or /128 from the
// modem) is installed onlink; one inside, or link-local, is not.
func TestLinuxHostOnlinkGateway(t *testing.T) {
	r := newNLRig(t, handoff.LinuxHostConfig{Metric: 10})
	ctx := context.Background()
	nlMust(t, "AddAddress", r.host.AddAddress(ctx, nlPfx("198.51.100.2/32")))
	nlMust(t, "AddAddress", r.host.AddAddress(ctx, nlPfx("2001:db8:1::2/64")))

	before := r.host.Stats()
	nlMust(t, "ReplaceDefaultRoute v4", r.host.ReplaceDefaultRoute(ctx, handoff.Route{Family: handoff.IPv4, Gateway: nlIP("198.51.100.1")}))
	nlMust(t, "ReplaceDefaultRoute v6", r.host.ReplaceDefaultRoute(ctx, handoff.Route{Family: handoff.IPv6, Gateway: nlIP("2001:db8:99::1")}))
	if d := r.host.Stats().Sub(before); d.RouteReplaces != 4 {
		t.Errorf("route requests = %d, want 4 (each refused once, then onlink)", d.RouteReplaces)
	}
	nlEqual(t, "kernel routes", nlKernelRoutes(t, r.a, "wwan0"), []string{
		"0.0.0.0/0 via 198.51.100.1 table 254 metric 10 proto static onlink",
		"::/0 via 2001:db8:99::1 table 254 metric 10 proto static onlink",
	})

	before = r.host.Stats()
	nlMust(t, "ReplaceDefaultRoute v6 link-local", r.host.ReplaceDefaultRoute(ctx, handoff.Route{Family: handoff.IPv6, Gateway: nlIP("fe80::1")}))
	nlMust(t, "ReplaceDefaultRoute v6 in prefix", r.host.ReplaceDefaultRoute(ctx, handoff.Route{Family: handoff.IPv6, Gateway: nlIP("2001:db8:1::1")}))
	if d := r.host.Stats().Sub(before); d.RouteReplaces != 2 {
		t.Errorf("route requests = %d, want 2", d.RouteReplaces)
	}
	nlEqual(t, "kernel routes", nlKernelRoutes(t, r.a, "wwan0"), []string{
		"0.0.0.0/0 via 198.51.100.1 table 254 metric 10 proto static onlink",
		"::/0 via 2001:db8:1::1 table 254 metric 10 proto static",
	})
}

func TestLinuxHostMTU(t *testing.T) {
	r := newNLRig(t, handoff.LinuxHostConfig{})
	ctx := context.Background()
	w := netnstest.Watch(t, r.a, "wwan0")
	before := r.host.Stats()
	nlMust(t, "SetMTU", r.host.SetMTU(ctx, 1400))
	if st := nlState(t, r.host); st.MTU != 1400 {
		t.Fatalf("State().MTU = %d, want 1400", st.MTU)
	}
	nlMust(t, "SetMTU same", r.host.SetMTU(ctx, 1400))
	nlMust(t, "SetMTU none", r.host.SetMTU(ctx, 0))
	d := r.host.Stats().Sub(before)
	if d.MTUSets != 1 || d.NetlinkWrites() != 1 {
		t.Errorf("requests = %+v, want one MTU write (the same MTU again and 0 write nothing)", d)
	}
	nlEvents(t, w, "kernel events", []string{"link-mtu 1400"})
	if err := r.host.SetMTU(ctx, 20); err == nil {
		t.Errorf("SetMTU(20) succeeded")
	}
}

func TestLinuxHostSetLink(t *testing.T) {
	r := newNLRig(t, handoff.LinuxHostConfig{Metric: 50})
	ctx := context.Background()
	nlMust(t, "AddAddress", r.host.AddAddress(ctx, nlPfx("198.51.100.2/30")))
	nlMust(t, "AddAddress", r.host.AddAddress(ctx, nlPfx("2001:db8:1::2/64")))
	nlMust(t, "ReplaceDefaultRoute", r.host.ReplaceDefaultRoute(ctx, handoff.Route{Family: handoff.IPv4, Gateway: nlIP("198.51.100.1")}))
	nlMust(t, "ReplaceDefaultRoute", r.host.ReplaceDefaultRoute(ctx, handoff.Route{Family: handoff.IPv6, Gateway: nlIP("2001:db8:1::1")}))
	if err := netnstest.Eventually(func() error {
		if st := nlState(t, r.host); !st.Up {
			return errors.New("wwan0 not up")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w := netnstest.Watch(t, r.a, "wwan0")
	up := nlState(t, r.host)
	routes := nlKernelRoutes(t, r.a, "wwan0")

	before := r.host.Stats()
	nlMust(t, "SetLink(false)", r.host.SetLink(ctx, false))
	down := nlState(t, r.host)
	if down.Up {
		t.Fatalf("after SetLink(false) State().Up = true")
	}
	if got := r.a.Link("wwan0").Attrs().OperState; got != netlink.OperDormant {
		t.Errorf("operational state = %v, want dormant", got)
	}
	// Down is the operational state only: addresses and routes stay.
	if !slices.Equal(down.Addresses, up.Addresses) || !slices.Equal(down.Routes, up.Routes) {
		t.Fatalf("link down changed the configuration: %+v, was %+v", down, up)
	}
	nlMust(t, "SetLink(true)", r.host.SetLink(ctx, true))
	again := nlState(t, r.host)
	if !again.Up || !slices.Equal(again.Addresses, up.Addresses) || !slices.Equal(again.Routes, up.Routes) {
		t.Fatalf("after link up State() = %+v, want %+v", again, up)
	}
	nlEqual(t, "kernel routes after down and up", nlKernelRoutes(t, r.a, "wwan0"), routes)
	if d := r.host.Stats().Sub(before); d.LinkSets != 2 || d.NetlinkWrites() != 2 {
		t.Errorf("requests = %+v, want 2 link writes", d)
	}
	nlEvents(t, w, "kernel events", []string{"link-down", "link-up"})

	// Up when already up: nothing changes.
	nlMust(t, "SetLink(true) again", r.host.SetLink(ctx, true))
	nlEvents(t, w, "kernel events", nil)

	// An interface that is administratively down is brought up.
	r.a.LinkDown("wwan0")
	if st := nlState(t, r.host); st.Up {
		t.Fatalf("administratively down, State().Up = true")
	}
	nlMust(t, "SetLink(true) from admin down", r.host.SetLink(ctx, true))
	if err := netnstest.Eventually(func() error {
		if st := nlState(t, r.host); !st.Up {
			return errors.New("State().Up = false after SetLink(true)")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// Why SetLink does not set the interface administratively down: the
// kernel then deletes routes through it (IPv4 without telling anyone) and
// its IPv6 addresses, and brings none of them back on up. This test
// records that behaviour of the running kernel.
func TestLinuxHostAdminDownFlushes(t *testing.T) {
	r := newNLRig(t, handoff.LinuxHostConfig{Metric: 50})
	ctx := context.Background()
	nlMust(t, "AddAddress", r.host.AddAddress(ctx, nlPfx("198.51.100.2/30")))
	nlMust(t, "AddAddress", r.host.AddAddress(ctx, nlPfx("2001:db8:1::2/64")))
	nlMust(t, "ReplaceDefaultRoute", r.host.ReplaceDefaultRoute(ctx, handoff.Route{Family: handoff.IPv4, Gateway: nlIP("198.51.100.1")}))
	nlMust(t, "ReplaceDefaultRoute", r.host.ReplaceDefaultRoute(ctx, handoff.Route{Family: handoff.IPv6, Gateway: nlIP("2001:db8:1::1")}))
	r.a.LinkDown("wwan0")
	r.a.LinkUp("wwan0")
	st := nlState(t, r.host)
	t.Logf("after an administrative down and up: addresses %v, default routes %v", st.Addresses, st.Routes)
	for _, rt := range st.Routes {
		if rt.Family == handoff.IPv4 {
			t.Errorf("the IPv4 default route survived an administrative down: SetLink could use it")
		}
	}
	if !slices.Contains(st.Addresses, nlPfx("198.51.100.2/30")) {
		t.Errorf("the IPv4 address did not survive an administrative down")
	}
}

func TestLinuxHostDNS(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "hook.out")
	host, err := handoff.NewLinuxHost(handoff.LinuxHostConfig{
		Interface: "wwan0", // not needed for DNS, and not looked up
		DNS: handoff.DNSTarget{
			File: filepath.Join(dir, "resolv.conf"),
			Hook: []string{"/bin/sh", "-c", `printf '%s|%s|%s' "$WWAN_EVENT" "$WWAN_IFACE" "$WWAN_DNS" > "$0"`, out},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	ctx := context.Background()
	servers := []netip.Addr{nlIP("192.0.2.53"), nlIP("2001:db8::53")}
	nlMust(t, "SetDNS", host.SetDNS(ctx, servers))
	got, _ := os.ReadFile(filepath.Join(dir, "resolv.conf"))
	want := "# Written by wwan for wwan0. wwan replaces this file whenever the modem's DNS servers change.\n" +
		"nameserver 192.0.2.53\nnameserver 2001:db8::53\n"
	if string(got) != want {
		t.Errorf("resolv.conf = %q, want %q", got, want)
	}
	hook, _ := os.ReadFile(out)
	if string(hook) != "dns|wwan0|192.0.2.53 2001:db8::53" {
		t.Errorf("hook saw %q", hook)
	}
	nlMust(t, "SetDNS same", host.SetDNS(ctx, servers))
	if s := host.Stats(); s.DNSFileWrites != 1 || s.DNSHookRuns != 2 || s.NetlinkRequests() != 0 {
		t.Errorf("stats = %+v, want 1 file write (the same servers again leave it), 2 hook runs, no netlink", s)
	}
}

func TestLinuxHostContextAndErrors(t *testing.T) {
	r := newNLRig(t, handoff.LinuxHostConfig{})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	before := r.host.Stats()
	for name, err := range map[string]error{
		"State":               func() error { _, err := r.host.State(cancelled); return err }(),
		"AddAddress":          r.host.AddAddress(cancelled, nlPfx("198.51.100.2/30")),
		"DeleteAddress":       r.host.DeleteAddress(cancelled, nlPfx("198.51.100.2/30")),
		"ReplaceDefaultRoute": r.host.ReplaceDefaultRoute(cancelled, handoff.Route{Family: handoff.IPv4}),
		"DeleteDefaultRoute":  r.host.DeleteDefaultRoute(cancelled, handoff.IPv4),
		"SetMTU":              r.host.SetMTU(cancelled, 1400),
		"SetLink":             r.host.SetLink(cancelled, true),
		"SetDNS":              r.host.SetDNS(cancelled, nil),
	} {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", name, err)
		}
	}
	if d := r.host.Stats().Sub(before); d != (handoff.LinuxHostStats{}) {
		t.Errorf("a cancelled context sent requests: %+v", d)
	}

	missing, err := handoff.NewLinuxHost(handoff.LinuxHostConfig{Interface: "nosuch0", NetNS: r.a.Handle()})
	nlMust(t, "NewLinuxHost", err)
	defer missing.Close()
	_, err = missing.State(context.Background())
	if err == nil || !strings.Contains(err.Error(), "nosuch0") || !strings.Contains(err.Error(), "find interface") {
		t.Errorf("State of a missing interface: %v", err)
	}
	if err := missing.AddAddress(context.Background(), nlPfx("198.51.100.2/30")); err == nil || !strings.HasPrefix(err.Error(), "handoff: add address 198.51.100.2/30 on nosuch0: ") {
		t.Errorf("AddAddress on a missing interface: %v", err)
	}

	if _, err := handoff.NewLinuxHost(handoff.LinuxHostConfig{Interface: "much-too-long-name0"}); err == nil {
		t.Errorf("NewLinuxHost accepted a name longer than IFNAMSIZ")
	}
	r.host.Close()
	if _, err := r.host.State(context.Background()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("State after Close: %v, want net.ErrClosed", err)
	}
}

func TestLinuxHostConcurrent(t *testing.T) {
	r := newNLRig(t, handoff.LinuxHostConfig{})
	ctx := context.Background()
	var wg sync.WaitGroup
	errc := make(chan error, 4*20)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(g*4 + 2)}), 30)
			for i := range 20 {
				var err error
				switch i % 4 {
				case 0:
					err = r.host.AddAddress(ctx, p)
				case 1:
					_, err = r.host.State(ctx)
				case 2:
					err = r.host.SetMTU(ctx, 1300+g)
				case 3:
					err = r.host.DeleteAddress(ctx, p)
				}
				if err != nil {
					errc <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if st := nlState(t, r.host); len(st.Addresses) != 0 {
		t.Errorf("addresses left: %v", st.Addresses)
	}
}

// The interface goes away and comes back under the same name with another
// index (a modem reset): the host finds it again by name.
func TestLinuxHostInterfaceRecreated(t *testing.T) {
	a := netnstest.New(t)
	tun := nlTUN(t, "wwan0", a)
	host, err := handoff.NewLinuxHost(handoff.LinuxHostConfig{Interface: "wwan0", NetNS: a.Handle()})
	nlMust(t, "NewLinuxHost", err)
	defer host.Close()
	ctx := context.Background()
	nlMust(t, "SetLink", host.SetLink(ctx, true))
	nlMust(t, "AddAddress", host.AddAddress(ctx, nlPfx("198.51.100.2/30")))
	first := a.Link("wwan0").Attrs().Index

	tun.Close() // not persistent: wwan0 is deleted
	if err := netnstest.Eventually(func() error {
		if _, err := a.Netlink().LinkByName("wwan0"); err == nil {
			return errors.New("wwan0 still there after its TUN was closed")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	nlTUN(t, "wwan0", a)
	if second := a.Link("wwan0").Attrs().Index; second == first {
		t.Skipf("the kernel gave the new interface the same index %d", first)
	}
	before := host.Stats()
	nlMust(t, "SetLink on the new interface", host.SetLink(ctx, true))
	nlMust(t, "AddAddress on the new interface", host.AddAddress(ctx, nlPfx("198.51.100.6/30")))
	if d := host.Stats().Sub(before); d.LinkSets != 2 || d.LinkGets != 1 || d.AddrAdds != 1 {
		t.Errorf("requests = %+v, want the stale index refused once, one lookup, one retry", d)
	}
	if st := nlState(t, host); !slices.Equal(st.Addresses, nlPrefixes("198.51.100.6/30")) {
		t.Errorf("State().Addresses = %v", st.Addresses)
	}
}

func nlTUN(t testing.TB, name string, ns *netnstest.NS) *handoff.TUN {
	t.Helper()
	tun, err := handoff.CreateTUN(name, ns.Handle())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV) {
			netnstest.Skip(t, "no TUN support: %v", err)
		}
		t.Fatalf("CreateTUN: %v", err)
	}
	t.Cleanup(func() { tun.Close() })
	return tun
}

// A TUN interface as wwan0: the host configures it through LinuxHost, and
// the test serves the other side (the simulated modem's data plane).
func TestTUNDataPlane(t *testing.T) {
	a := netnstest.New(t)
	tun := nlTUN(t, "wwan%d", a)
	if tun.Name() != "wwan0" {
		t.Fatalf("TUN name %q, want wwan0 (the first in a new namespace)", tun.Name())
	}
	host, err := handoff.NewLinuxHost(handoff.LinuxHostConfig{Interface: tun.Name(), NetNS: a.Handle()})
	nlMust(t, "NewLinuxHost", err)
	defer host.Close()
	ctx := context.Background()
	nlMust(t, "SetLink", host.SetLink(ctx, true))
	nlMust(t, "SetMTU", host.SetMTU(ctx, 1428))
	for _, p := range nlPrefixes("198.51.100.2/30", "2001:db8:1::2/64") {
		nlMust(t, "AddAddress", host.AddAddress(ctx, p))
	}
	nlMust(t, "ReplaceDefaultRoute", host.ReplaceDefaultRoute(ctx, handoff.Route{Family: handoff.IPv4}))
	nlMust(t, "ReplaceDefaultRoute", host.ReplaceDefaultRoute(ctx, handoff.Route{Family: handoff.IPv6}))
	want := handoff.HostState{
		Addresses: nlPrefixes("198.51.100.2/30", "2001:db8:1::2/64"),
		Routes:    []handoff.Route{{Family: handoff.IPv4}, {Family: handoff.IPv6}},
		MTU:       1428,
		Up:        true,
	}
	if st := nlState(t, host); !nlStateEqual(st, want) {
		t.Fatalf("State() = %+v, want %+v", st, want)
	}
	// The TUN's link becomes ready a few milliseconds after it is set
	// up, and only then does the kernel deliver to its IPv6 address.
	a.WaitLocal(nlIP("2001:db8:1::2"))

	for _, c := range []struct{ local, remote netip.Addr }{
		{nlIP("198.51.100.2"), nlIP("203.0.113.10")},
		{nlIP("2001:db8:1::2"), nlIP("2001:db8:ff::10")},
	} {
		// The host sends a datagram out through the default route: it
		// comes out of the TUN as an IP packet.
		var conn *net.UDPConn
		a.Run(func() (err error) {
			conn, err = net.ListenUDP("udp", &net.UDPAddr{IP: c.local.AsSlice()})
			return err
		})
		defer conn.Close()
		port := uint16(conn.LocalAddr().(*net.UDPAddr).Port)
		if _, err := conn.WriteToUDPAddrPort([]byte("ping"), netip.AddrPortFrom(c.remote, 9)); err != nil {
			t.Fatal(err)
		}
		pkt := tunReadPacket(t, tun, c.local, c.remote)
		if src, dst, sport, dport, payload := tunParseUDP(t, pkt); src != c.local || dst != c.remote || sport != port || dport != 9 || string(payload) != "ping" {
			t.Fatalf("packet out of the TUN: %v:%d > %v:%d %q", src, sport, dst, dport, payload)
		}
		// The other side answers: the host's socket receives it.
		if _, err := tun.Write(tunBuildUDP(c.remote, c.local, 9, port, []byte("pong"))); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(netnstest.Timeout))
		buf := make([]byte, 64)
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil || string(buf[:n]) != "pong" || from.Addr() != c.remote {
			t.Fatalf("reply through the TUN: %q from %v, %v", buf[:n], from, err)
		}
	}
}

// readPacket reads packets from the TUN until one goes from src to dst
// (the kernel also sends its own, such as IPv6 router solicitations).
func tunReadPacket(t *testing.T, tun *handoff.TUN, src, dst netip.Addr) []byte {
	t.Helper()
	tun.SetReadDeadline(time.Now().Add(netnstest.Timeout))
	defer tun.SetReadDeadline(time.Time{})
	buf := make([]byte, 2048)
	for range 100 {
		n, err := tun.Read(buf)
		if err != nil {
			t.Fatalf("reading the TUN: %v", err)
		}
		p := buf[:n]
		var s, d netip.Addr
		switch {
		case n >= 20 && p[0]>>4 == 4:
			s, d = netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20]))
		case n >= 40 && p[0]>>4 == 6:
			s, d = netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40]))
		}
		if s == src && d == dst {
			return append([]byte(nil), p...)
		}
	}
	t.Fatalf("no packet from %v to %v out of the TUN", src, dst)
	return nil
}

func tunParseUDP(t *testing.T, p []byte) (src, dst netip.Addr, sport, dport uint16, payload []byte) {
	t.Helper()
	var udp []byte
	if p[0]>>4 == 4 {
		if p[9] != unix.IPPROTO_UDP {
			t.Fatalf("IPv4 protocol %d, want UDP", p[9])
		}
		src, dst = netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20]))
		udp = p[int(p[0]&0xf)*4:]
	} else {
		if p[6] != unix.IPPROTO_UDP {
			t.Fatalf("IPv6 next header %d, want UDP", p[6])
		}
		src, dst = netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40]))
		udp = p[40:]
	}
	return src, dst, binary.BigEndian.Uint16(udp[0:2]), binary.BigEndian.Uint16(udp[2:4]), udp[8:]
}

// buildUDP builds an IPv4 or IPv6 packet carrying a UDP datagram, with
// correct checksums.
func tunBuildUDP(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	udp := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	// Pseudo-header: addresses, protocol, UDP length.
	pseudo := append(src.AsSlice(), dst.AsSlice()...)
	pseudo = append(pseudo, 0, unix.IPPROTO_UDP, byte(len(udp)>>8), byte(len(udp)))
	sum := inetChecksum(append(pseudo, udp...))
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], sum)
	if src.Is4() {
		h := make([]byte, 20)
		h[0] = 0x45
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(udp)))
		h[8] = 64
		h[9] = unix.IPPROTO_UDP
		copy(h[12:], src.AsSlice())
		copy(h[16:], dst.AsSlice())
		binary.BigEndian.PutUint16(h[10:], inetChecksum(h))
		return append(h, udp...)
	}
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(udp)))
	h[6] = unix.IPPROTO_UDP
	h[7] = 64
	copy(h[8:], src.AsSlice())
	copy(h[24:], dst.AsSlice())
	return append(h, udp...)
}

func inetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestTUNPersistAndClose(t *testing.T) {
	a := netnstest.New(t)
	tun := nlTUN(t, "wwan0", a)

	// Close unblocks a pending Read.
	readErr := make(chan error, 1)
	go func() {
		_, err := tun.Read(make([]byte, 1500))
		readErr <- err
	}()
	time.Sleep(10 * time.Millisecond)
	nlMust(t, "SetPersist", tun.SetPersist(true))
	tun.Close()
	select {
	case err := <-readErr:
		if err == nil {
			t.Errorf("Read after Close returned no error")
		}
	case <-time.After(netnstest.Timeout):
		t.Fatal("Close did not unblock Read")
	}
	// Persistent: still there without a descriptor, and without a
	// carrier.
	link := a.Link("wwan0")
	if link.Attrs().RawFlags&unix.IFF_LOWER_UP != 0 {
		t.Errorf("a persistent TUN without its descriptor has a carrier")
	}
	// Attach again, make it non-persistent, close: it goes.
	again := nlTUN(t, "wwan0", a)
	if got := a.Link("wwan0").Attrs().Index; got != link.Attrs().Index {
		t.Errorf("re-attaching created another interface (index %d, was %d)", got, link.Attrs().Index)
	}
	nlMust(t, "SetPersist(false)", again.SetPersist(false))
	again.Close()
	if err := netnstest.Eventually(func() error {
		if _, err := a.Netlink().LinkByName("wwan0"); err == nil {
			return errors.New("wwan0 still there")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	if _, err := handoff.CreateTUN("a-name-much-too-long", a.Handle()); err == nil {
		t.Errorf("CreateTUN accepted a name longer than IFNAMSIZ")
	}
}

// Reconcile: a host whose interface already has the right configuration
// (a daemon restarted with the link up) reads it back exactly, so the
// engine's diff is empty and it writes nothing.
func TestLinuxHostReconcile(t *testing.T) {
	r := newNLRig(t, handoff.LinuxHostConfig{Table: 200, Metric: 30})
	ctx := context.Background()
	cfg := handoff.Config{
		IPv4:     nlPrefixes("198.51.100.2/30"),
		IPv6:     nlPrefixes("2001:db8:1::2/64", "2001:db8:2::2/64"),
		Gateway4: nlIP("198.51.100.1"),
		Gateway6: nlIP("2001:db8:1::1"),
		MTU:      1430,
	}
	// Configured by something else than the host under test (the
	// daemon's previous run, or an administrator), with raw netlink.
	for _, p := range cfg.Addresses() {
		r.a.AddAddr("wwan0", p)
	}
	nlh := r.a.Netlink()
	link := r.a.Link("wwan0")
	nlMust(t, "LinkSetMTU", nlh.LinkSetMTU(link, cfg.MTU))
	for _, gw := range []netip.Addr{cfg.Gateway4, cfg.Gateway6} {
		dst := nlPfx("0.0.0.0/0")
		if gw.Is6() {
			dst = nlPfx("::/0")
		}
		nlMust(t, "RouteAdd", nlh.RouteAdd(&netlink.Route{
			LinkIndex: link.Attrs().Index, Table: 200, Priority: 30,
			Dst: &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(0, dst.Addr().BitLen())},
			Gw:  gw.AsSlice(),
		}))
	}
	if err := netnstest.Eventually(func() error {
		if !nlState(t, r.host).Up {
			return errors.New("not up yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w := netnstest.Watch(t, r.a, "wwan0")

	// A new host, as after a restart.
	host, err := handoff.NewLinuxHost(handoff.LinuxHostConfig{Interface: "wwan0", NetNS: r.a.Handle(), Table: 200, Metric: 30})
	nlMust(t, "NewLinuxHost", err)
	defer host.Close()
	st := nlState(t, host)
	if ops := reconcileDiff(cfg, st); len(ops) != 0 {
		t.Fatalf("diff of a host that is already right = %q, want none (State() = %+v)", ops, st)
	}
	if s := host.Stats(); s.Writes() != 0 || s.NetlinkRequests() != 3 {
		t.Errorf("stats = %+v, want 3 reads and no write", s)
	}
	nlEvents(t, w, "kernel events", nil)

	// And a difference shows as exactly that difference.
	r.a.AddAddr("wwan0", nlPfx("203.0.113.5/24"))
	nlMust(t, "SetMTU", host.SetMTU(ctx, 1500))
	if ops := reconcileDiff(cfg, nlState(t, host)); !slices.Equal(ops, []string{"addr-del 203.0.113.5/24", "mtu 1430"}) {
		t.Errorf("diff = %q", ops)
	}
}

// diff is what an engine must do to make st equal to cfg, as in the
// contract's steps (the engine has its own; this one checks that State
// gives it what it needs).
func reconcileDiff(cfg handoff.Config, st handoff.HostState) []string {
	var ops []string
	want := cfg.Addresses()
	for _, p := range st.Addresses {
		if !slices.Contains(want, p) {
			ops = append(ops, "addr-del "+p.String())
		}
	}
	for _, p := range want {
		if !slices.Contains(st.Addresses, p) {
			ops = append(ops, "addr-add "+p.String())
		}
	}
	var routes []handoff.Route
	if len(cfg.IPv4) > 0 {
		routes = append(routes, handoff.Route{Family: handoff.IPv4, Gateway: cfg.Gateway4})
	}
	if len(cfg.IPv6) > 0 {
		routes = append(routes, handoff.Route{Family: handoff.IPv6, Gateway: cfg.Gateway6})
	}
	if !slices.Equal(routes, st.Routes) {
		ops = append(ops, "route-replace default")
	}
	if cfg.MTU != 0 && cfg.MTU != st.MTU {
		ops = append(ops, fmt.Sprintf("mtu %d", cfg.MTU))
	}
	if !st.Up {
		ops = append(ops, "link-up")
	}
	return ops
}

func nlStateEqual(a, b handoff.HostState) bool {
	return slices.Equal(a.Addresses, b.Addresses) && slices.Equal(a.Routes, b.Routes) && a.MTU == b.MTU && a.Up == b.Up
}

// BenchmarkLinuxHostAddressChange measures a readdressing's host work:
// delete the old address, add the new one, replace the default route.
func BenchmarkLinuxHostAddressChange(b *testing.B) {
	for _, fam := range []string{"IPv4", "IPv6"} {
		b.Run(fam, func(b *testing.B) {
			r := newNLRig(b, handoff.LinuxHostConfig{Metric: 50})
			ctx := context.Background()
			type conf struct {
				addr netip.Prefix
				gw   netip.Addr
			}
			confs := [2]conf{
				{nlPfx("198.51.100.2/30"), nlIP("198.51.100.1")},
				{nlPfx("198.51.100.6/30"), nlIP("198.51.100.5")},
			}
			f := handoff.IPv4
			if fam == "IPv6" {
				confs = [2]conf{
					{nlPfx("2001:db8:1::2/64"), nlIP("2001:db8:1::1")},
					{nlPfx("2001:db8:2::2/64"), nlIP("2001:db8:2::1")},
				}
				f = handoff.IPv6
			}
			nlMust(b, "AddAddress", r.host.AddAddress(ctx, confs[0].addr))
			nlMust(b, "ReplaceDefaultRoute", r.host.ReplaceDefaultRoute(ctx, handoff.Route{Family: f, Gateway: confs[0].gw}))
			var times []time.Duration
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				old, cur := confs[i%2], confs[(i+1)%2]
				i++
				start := time.Now()
				if err := r.host.DeleteAddress(ctx, old.addr); err != nil {
					b.Fatal(err)
				}
				if err := r.host.AddAddress(ctx, cur.addr); err != nil {
					b.Fatal(err)
				}
				if err := r.host.ReplaceDefaultRoute(ctx, handoff.Route{Family: f, Gateway: cur.gw}); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "median-ns/op")
			b.ReportMetric(float64(times[len(times)*95/100].Nanoseconds()), "p95-ns/op")
			b.ReportMetric(float64(times[len(times)-1].Nanoseconds()), "max-ns/op")
		})
	}
}
