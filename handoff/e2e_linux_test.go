//go:build linux

package handoff_test

// The daemon's scenarios end to end against the real kernel: the Manager
// on the simulated modem (in process, over mbim.Pipe) drives a LinuxHost
// on wwan0, one end of a veth pair in a network namespace A; the other
// end, peer0, is in namespace B, which holds the modem network's gateways
// and TCP echo servers. Each test makes its own namespaces and needs root
// (CI is root); without it, it skips and says why.

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/handoff/internal/netnstest"
	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
)

// e2eGenerations is how many address generations of the simulator's plan
// the network namespace has gateways for.
const e2eGenerations = 16

// e2eRoute is the metric of the default routes in these tests.
const e2eRoute = 50

// e2e is the kernel side of a test: the namespaces, the echo servers and
// a watcher of wwan0.
type e2e struct {
	t            testing.TB
	a, b         *netnstest.NS
	echo4, echo6 netip.AddrPort
	dns          string
	w            *netnstest.Watcher
}

func newE2E(t testing.TB) *e2e {
	t.Helper()
	a := netnstest.New(t)
	b := netnstest.New(t)
	netnstest.Veth(t, a, b, "wwan0", "peer0")
	// B is the operator's network: the gateway of every address
	// generation the simulator may hand out (DefaultAddressPlan, session
	// 0), and the servers on its loopback.
	for g := range e2eGenerations {
		ip := mbimtest.DefaultAddressPlan(0, g)
		b.AddAddr("peer0", netip.PrefixFrom(ip.IPv4Gateway, ip.IPv4.Bits()))
		b.AddAddr("peer0", netip.PrefixFrom(ip.IPv6Gateway, ip.IPv6.Bits()))
	}
	b.AddAddr("lo", netip.MustParsePrefix("203.0.113.10/32"))
	b.AddAddr("lo", netip.MustParsePrefix("2001:db8:ff::10/128"))
	b.WaitLocal(netip.MustParseAddr("2001:db8:ff::10"))
	b.WaitLocal(mbimtest.DefaultAddressPlan(0, e2eGenerations-1).IPv6Gateway)
	e := &e2e{t: t, a: a, b: b, dns: filepath.Join(t.TempDir(), "resolv.conf")}
	e.echo4 = netnstest.EchoServer(t, b, "203.0.113.10:7")
	e.echo6 = netnstest.EchoServer(t, b, "[2001:db8:ff::10]:7")
	e.w = netnstest.Watch(t, a, "wwan0")
	t.Logf("against the kernel: wwan0 in network namespace %s, the modem's network in %s", a, b)
	return e
}

// host is a new LinuxHost on wwan0 in A.
func (e *e2e) host() *handoff.LinuxHost {
	e.t.Helper()
	h, err := handoff.NewLinuxHost(handoff.LinuxHostConfig{Interface: "wwan0", NetNS: e.a.Handle(),
		Metric: e2eRoute, DNS: handoff.DNSTarget{File: e.dns}})
	if err != nil {
		e.t.Fatalf("NewLinuxHost: %v", err)
	}
	e.t.Cleanup(func() { h.Close() })
	return h
}

// rig is a Manager on a simulated modem driving a LinuxHost.
func (e *e2e) rig(h *handoff.LinuxHost, simOpts ...mbimtest.Option) *mgrRig {
	e.t.Helper()
	return newMgrRig(e.t, h, simOpts...)
}

// kernel checks that the kernel's addresses and default routes on wwan0,
// read on their own, are exactly cfg's, and the resolver file its DNS.
func (e *e2e) kernel(cfg handoff.Config) {
	e.t.Helper()
	var want []string
	for _, p := range cfg.Addresses() {
		want = append(want, p.String())
	}
	sort.Strings(want)
	if got := e2eAddrs(e.t, e.a); !slices.Equal(got, want) {
		e.t.Fatalf("kernel addresses on wwan0 %q, want %q", got, want)
	}
	want = []string{
		fmt.Sprintf("0.0.0.0/0 via %s metric %d", cfg.Gateway4, e2eRoute),
		fmt.Sprintf("::/0 via %s metric %d", cfg.Gateway6, e2eRoute),
	}
	if got := e2eRoutes(e.t, e.a); !slices.Equal(got, want) {
		e.t.Fatalf("kernel default routes on wwan0 %q, want %q", got, want)
	}
	if got, err := os.ReadFile(e.dns); err != nil || string(got) != string(handoff.ResolvConf("wwan0", cfg.DNS)) {
		e.t.Fatalf("resolver file %q (%v), want the servers %v", got, err, cfg.DNS)
	}
}

// dial opens a TCP connection to an echo server from A, and checks that
// it leaves from the address the modem gave.
func (e *e2e) dial(to netip.AddrPort, from netip.Prefix) net.Conn {
	e.t.Helper()
	if from.Addr().Is6() {
		e.a.WaitLocal(from.Addr())
	}
	c := netnstest.Dial(e.t, e.a, to)
	if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap(); got != from.Addr() {
		e.t.Fatalf("connection to %s leaves from %s, want %s", to, got, from.Addr())
	}
	return c
}

func (e *e2e) echo(c net.Conn, what string) {
	e.t.Helper()
	payload := []byte(fmt.Sprintf("%s over %s: %0600d", what, c.LocalAddr(), len(what)))
	if err := netnstest.Echo(c, payload); err != nil {
		e.t.Fatalf("%s: connection from %s: %v", what, c.LocalAddr(), err)
	}
}

func e2eAddrs(t testing.TB, ns *netnstest.NS) []string {
	t.Helper()
	addrs, err := ns.Netlink().AddrList(ns.Link("wwan0"), netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("AddrList: %v", err)
	}
	var out []string
	for _, a := range addrs {
		if !a.IP.IsLinkLocalUnicast() {
			out = append(out, a.IPNet.String())
		}
	}
	sort.Strings(out)
	return out
}

func e2eRoutes(t testing.TB, ns *netnstest.NS) []string {
	t.Helper()
	idx := ns.Link("wwan0").Attrs().Index
	routes, err := ns.Netlink().RouteListFiltered(netlink.FAMILY_ALL,
		&netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		t.Fatalf("RouteListFiltered: %v", err)
	}
	var out []string
	for _, r := range routes {
		if r.LinkIndex != idx || r.Dst == nil {
			continue
		}
		if ones, _ := r.Dst.Mask.Size(); ones != 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s via %s metric %d", r.Dst, r.Gw, r.Priority))
	}
	sort.Strings(out)
	return out
}

// e2eKernelSteps is what the kernel must announce for a readdressing from
// old to now (both families changed), in the seed's order.
func e2eKernelSteps(old, now handoff.Config) []string {
	return []string{
		"addr-del " + old.IPv4[0].String(),
		"addr-del " + old.IPv6[0].String(),
		"addr-add " + now.IPv4[0].String(),
		"addr-add " + now.IPv6[0].String(),
		fmt.Sprintf("route-add 0.0.0.0/0 via %s table 254 metric %d", now.Gateway4, e2eRoute),
		fmt.Sprintf("route-add ::/0 via %s table 254 metric %d", now.Gateway6, e2eRoute),
		"link-down",
		"link-up",
	}
}

// A full technology tour (3GPP and 3GPP2, twice) with the same address:
// not one netlink request, DNS write or kernel event, and one TCP
// connection per family carries data across every handoff.
func TestE2ETransparentTourKeepsTCP(t *testing.T) {
	e := newE2E(t)
	h := e.host()
	r := e.rig(h)
	r.start()
	cfg := r.up()
	e.kernel(cfg)
	e.w.Await(len(cfg.Addresses()) + 2) // the bring-up, forgotten
	conn4 := e.dial(e.echo4, cfg.IPv4[0])
	conn6 := e.dial(e.echo6, cfg.IPv6[0])
	e.echo(conn4, "before the tour")
	e.echo(conn6, "before the tour")

	before := h.Stats()
	tour := slices.Concat(mbimtest.Tour3GPP, mbimtest.Tour3GPP2, mbimtest.Tour3GPP, mbimtest.Tour3GPP2)
	from := "LTE"
	for i, class := range tour {
		if err := r.sim.SetDataClass(class, false, mbimtest.AddressChange{}); err != nil {
			t.Fatal(err)
		}
		ev, _ := r.nextHandoff()
		to := handoff.DataClassName(class)
		if ev.Outcome != handoff.Transparent || ev.From != from || ev.To != to {
			t.Fatalf("handoff %d to %s: %s", i, to, eventString(ev))
		}
		what := fmt.Sprintf("handoff %d %s->%s", i, from, to)
		e.echo(conn4, what)
		e.echo(conn6, what)
		from = to
	}
	if d := h.Stats().Sub(before); d != (handoff.LinuxHostStats{}) {
		t.Errorf("transparent handoffs sent requests to the kernel: %+v", d)
	}
	if evs := e.w.Events(); len(evs) != 0 {
		t.Errorf("kernel events during transparent handoffs: %q", evs)
	}
	e.kernel(cfg)
	t.Logf("ran against the kernel: %d transparent handoffs, TCP over IPv4 and IPv6 carried data across each; "+
		"0 netlink requests, 0 DNS writes, 0 kernel events", len(tour))
}

// Handoffs with address changes, in every way the simulator plays them:
// after each the kernel holds exactly the modem's configuration, the
// kernel announced the changes in the seed's order, the handoff's steps
// follow the seed, and a new connection leaves from the new address.
func TestE2EAddressChangesFollowTheSeed(t *testing.T) {
	e := newE2E(t)
	h := e.host()
	r := e.rig(h)
	r.start()
	old := r.up()
	e.kernel(old)
	e.w.Await(len(old.Addresses()) + 2)
	for _, c := range addressChanges {
		before := h.Stats()
		if err := r.sim.SetDataClass(c.class, true, c.ac); err != nil {
			t.Fatal(err)
		}
		ev, _ := r.next(c.name, func(ev handoff.Event) bool {
			return ev.Type == handoff.EventHandoff && ev.Outcome != handoff.Transparent
		})
		now := r.up()
		if ev.Outcome != c.outcome {
			t.Errorf("%s: outcome %s, want %s", c.name, ev.Outcome, c.outcome)
		}
		if err := seedOrder(ev.Steps); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		e.kernel(now)
		want := e2eKernelSteps(old, now)
		if got := e.w.Await(len(want)); !slices.Equal(got, want) {
			t.Errorf("%s: the kernel announced\n  %q\nwant\n  %q", c.name, got, want)
		}
		d := h.Stats().Sub(before)
		if d.AddrDels != 2 || d.AddrAdds != 2 || d.RouteReplaces != 2 || d.LinkSets != 2 || d.MTUSets != 0 || d.DNSFileWrites != 0 {
			t.Errorf("%s: requests %+v, want one per changed address and route, two link changes", c.name, d)
		}
		e.echo(e.dial(e.echo4, now.IPv4[0]), c.name)
		e.echo(e.dial(e.echo6, now.IPv6[0]), c.name)
		t.Logf("%s: %s %s->%s in %v: %q", c.name, ev.Outcome, ev.From, ev.To, ev.Duration, hostOps(ev.Steps))
		old = now
	}
}

// Operator re-addressing, a modem reset (hanging up, and silent),
// registration loss and return: after each the kernel holds the modem's
// new configuration; while deregistered nothing is written. Then the
// daemon restarts with the link up: not one write, and a connection
// opened before the restart carries data after it.
func TestE2EReaddressingResetRegistrationRestart(t *testing.T) {
	e := newE2E(t)
	h := e.host()
	r := e.rig(h)
	r.cfg.PollInterval = 50 * time.Millisecond // finds a silent reset
	r.start()
	cfg := r.up()
	e.kernel(cfg)

	reconnect := func(what string, do func() error) {
		t.Helper()
		old := r.up()
		e.w.Take()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		ev, _ := r.next(what, func(ev handoff.Event) bool {
			return ev.Type == handoff.EventHandoff && ev.Outcome != handoff.Transparent
		})
		now := r.up()
		if ev.Outcome != handoff.Reconnected || now.Equal(old) {
			t.Fatalf("%s: %s", what, eventString(ev))
		}
		if err := seedOrder(ev.Steps); err != nil {
			t.Errorf("%s: %v", what, err)
		}
		e.kernel(now)
		want := e2eKernelSteps(old, now)
		if got := e.w.Await(len(want)); !slices.Equal(got, want) {
			t.Errorf("%s: the kernel announced\n  %q\nwant\n  %q", what, got, want)
		}
		e.echo(e.dial(e.echo4, now.IPv4[0]), what)
		e.echo(e.dial(e.echo6, now.IPv6[0]), what)
		t.Logf("%s: %s in %v", what, ev.Outcome, ev.Duration)
	}

	reconnect("operator re-addressing", func() error { return r.sim.DropSession(0, 36) })
	reconnect("modem reset (unplugged)", func() error { return r.sim.Reset(mbimtest.ResetOptions{CloseTransport: true}) })
	reconnect("modem reset (silent)", func() error { return r.sim.Reset(mbimtest.ResetOptions{}) })
	reconnect("registration loss and return", func() error {
		before := h.Stats()
		if err := r.sim.Deregister(); err != nil {
			return err
		}
		eventually(t, func() error {
			if s := r.m.Snapshot().Engine.State; s != handoff.Detached {
				return fmt.Errorf("engine %v while deregistered, want detached", s)
			}
			return nil
		})
		time.Sleep(100 * time.Millisecond) // polls and backoffs: still nothing may be written
		if d := h.Stats().Sub(before); d.Writes() != 0 {
			return fmt.Errorf("host written while deregistered: %+v", d)
		}
		return r.sim.Register()
	})
	if s := r.m.Snapshot().Counters; s.TransportLosses != 1 || s.ModemResets != 1 {
		t.Errorf("counters %+v, want one transport loss and one silent reset", s)
	}

	// The restart.
	cfg = r.up()
	conn4 := e.dial(e.echo4, cfg.IPv4[0])
	conn6 := e.dial(e.echo6, cfg.IPv6[0])
	e.echo(conn4, "before the restart")
	e.echo(conn6, "before the restart")
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	e.w.Take()
	h2 := e.host()
	r.host, r.cfg.Host = h2, h2
	r.start()
	if got := r.up(); !got.Equal(cfg) {
		t.Fatalf("after the restart: %v, want %v", got, cfg)
	}
	if d := h2.Stats(); d.Writes() != 0 {
		t.Errorf("the restart wrote: %+v", d)
	}
	if evs := e.w.Events(); len(evs) != 0 {
		t.Errorf("kernel events at the restart: %q", evs)
	}
	e.echo(conn4, "after the restart")
	e.echo(conn6, "after the restart")
	e.kernel(cfg)
	t.Logf("restart with the link up: %d netlink reads, 0 writes, 0 kernel events; the connections went on", h2.Stats().NetlinkReads())
}

// Shut down with DisconnectOnExit: the session is deactivated and the
// kernel has none of the modem's addresses or routes left.
func TestE2EDisconnectOnExit(t *testing.T) {
	e := newE2E(t)
	h := e.host()
	r := e.rig(h)
	r.cfg.DisconnectOnExit = true
	r.start()
	e.kernel(r.up())
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if s, _ := r.sim.Session(0); s.State == mbim.ActivationStateActivated {
		t.Errorf("session still activated after exit")
	}
	if got := e2eAddrs(t, e.a); len(got) != 0 {
		t.Errorf("addresses left: %q", got)
	}
	if got := e2eRoutes(t, e.a); len(got) != 0 {
		t.Errorf("default routes left: %q", got)
	}
}
