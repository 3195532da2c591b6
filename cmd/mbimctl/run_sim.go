package main

// "mbimctl run -d sim": the simulated modem in this process, on a TUN
// interface (as root) or on a recording fake host that prints what it
// would change (the dry run), with a tour of the radio technologies.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/handoff/handofftest"
	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
)

// simBackend is the simulated modem and the host it runs on.
type simBackend struct {
	sim   *mbimtest.Sim
	host  handoff.Host
	where string
	close func()
}

// startSim makes the simulated modem and its interface: a TUN named like a
// modem's (wwan0, or the next free wwanN when wwan0 exists and
// --interface was not given), with the default routes in a table of their
// own unless --route-table says otherwise. Without the privilege to
// create it (or when it cannot be created), it falls back to a dry run.
func (o *runOptions) startSim(ctx context.Context, e *env, p *runPlan, log *slog.Logger, out *eventPrinter) (*simBackend, error) {
	card := mbimtest.DefaultSIM()
	if p.settings.PIN != "" {
		// Given a PIN, the simulated SIM asks for one (its PIN1 is 1234),
		// so that the PIN is checked as a real SIM would.
		card.PINEnabled = true
	}
	if !o.given("ip-type") && ipv6Disabled() {
		// The TUN would refuse the IPv6 address: ask for IPv4 only.
		p.settings.IPType = mbim.ContextIpTypeIpv4
		log.Warn("IPv6 is disabled on this host: the simulated session is IPv4 only (--ip-type overrides)")
	}
	sim := mbimtest.New(mbimtest.WithSIM(card))
	if !p.tableSet {
		p.table = simRouteTable
	}
	name := p.iface
	if name == "" {
		name = defaultInterface
		if _, err := net.InterfaceByName(name); err == nil {
			name = "wwan%d" // a real modem's wwan0 is there: take the next free number
		}
	}
	reason := ""
	switch {
	case o.dryRun:
		reason = "asked for with --dry-run"
	case !canAdminNetwork():
		reason = "not root, and creating the TUN interface " + name + " and configuring it need root (CAP_NET_ADMIN)"
	}
	var tun *handoff.TUN
	if reason == "" {
		t, err := handoff.CreateTUN(name)
		if err != nil {
			if p.ifaceSet {
				sim.Close()
				return nil, fmt.Errorf("creating the TUN interface %s: %w", name, err)
			}
			reason = fmt.Sprintf("cannot create the TUN interface %s: %v", name, err)
		} else {
			tun = t
		}
	}
	if tun == nil {
		if name == "wwan%d" {
			name = defaultInterface
		}
		p.iface = name
		fmt.Fprintf(e.stderr, "mbimctl run: DRY RUN: %s.\nmbimctl run: nothing is applied to the host; each change the daemon would make is printed as \"would ...\"\n", reason)
		return &simBackend{sim: sim, host: newDryHost(handoff.HostState{}, out),
			where: name + " (dry run)", close: func() { sim.Close() }}, nil
	}
	p.iface = tun.Name()
	go func() { // the host's packets to the modem: nobody answers them
		buf := make([]byte, 64<<10)
		for {
			if _, err := tun.Read(buf); err != nil {
				return
			}
		}
	}()
	lh, err := handoff.NewLinuxHost(handoff.LinuxHostConfig{Interface: tun.Name(), Table: p.table, Metric: p.metric, DNS: p.dns})
	if err != nil {
		tun.Close()
		sim.Close()
		return nil, fmt.Errorf("the host's network: %w", err)
	}
	fmt.Fprintf(e.stderr, "mbimctl run: the simulated modem on TUN %s; default routes in table %s (ip route show table %s); Ctrl-C to stop\n",
		tun.Name(), tableName(p.table), tableName(p.table))
	return &simBackend{sim: sim, host: lh, where: "TUN " + tun.Name(),
		close: func() { lh.Close(); tun.Close(); sim.Close() }}, nil
}

// simStep is one step of the simulator's tour.
type simStep struct {
	class  mbim.DataClass
	change bool
	ac     mbimtest.AddressChange
	what   string
}

// simTour is the tour of -d sim, played in a loop: technology changes that
// keep the address (transparent handoffs), and address changes told by an
// IP_CONFIGURATION indication, found only by a query, and made by dropping
// and re-activating the session.
var simTour = []simStep{
	{class: mbim.DataClassHsdpa, what: "same address"},
	{class: mbim.DataClassLte, what: "same address"},
	{class: mbim.DataClass5gNsa, change: true, ac: mbimtest.AddressChange{Notify: true}, what: "new address, indicated"},
	{class: mbim.DataClass5gSa, what: "same address"},
	{class: mbim.DataClassLte, change: true, what: "new address, told only when asked"},
	{class: mbim.DataClassUmts, change: true, ac: mbimtest.AddressChange{Reconnect: true}, what: "new address by reconnecting"},
	{class: mbim.DataClassEdge, what: "same address"},
	{class: mbim.DataClassGprs, what: "same address"},
	{class: mbim.DataClassLte, what: "same address"},
}

// runSimTour moves the simulated modem one step of simTour every step,
// until ctx ends.
func runSimTour(ctx context.Context, sim *mbimtest.Sim, step time.Duration, log *slog.Logger) {
	t := time.NewTicker(step)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := simTour[i%len(simTour)]
		log.Info("simulator: handoff", "to", handoff.DataClassName(s.class), "address", s.what)
		if err := sim.SetDataClass(s.class, s.change, s.ac); err != nil {
			log.Warn("simulator: step failed", "err", err)
		}
	}
}

// dryHost is the host of a dry run: a recording fake (handofftest.Host)
// that prints each change it is asked to make.
type dryHost struct {
	h   *handofftest.Host
	out *eventPrinter
}

var _ handoff.Host = (*dryHost)(nil)

func newDryHost(st handoff.HostState, out *eventPrinter) *dryHost {
	return &dryHost{h: handofftest.New(st), out: out}
}

func familySuffix(f handoff.Family) string {
	if f == handoff.IPv6 {
		return " ipv6"
	}
	return ""
}

func (d *dryHost) State(ctx context.Context) (handoff.HostState, error) { return d.h.State(ctx) }

func (d *dryHost) AddAddress(ctx context.Context, p netip.Prefix) error {
	d.out.dry("addr-add " + p.String())
	return d.h.AddAddress(ctx, p)
}

func (d *dryHost) DeleteAddress(ctx context.Context, p netip.Prefix) error {
	d.out.dry("addr-del " + p.String())
	return d.h.DeleteAddress(ctx, p)
}

func (d *dryHost) ReplaceDefaultRoute(ctx context.Context, r handoff.Route) error {
	op := "route-replace default" + familySuffix(r.Family)
	if r.Gateway.IsValid() {
		op += " via " + r.Gateway.String()
	}
	d.out.dry(op)
	return d.h.ReplaceDefaultRoute(ctx, r)
}

func (d *dryHost) DeleteDefaultRoute(ctx context.Context, f handoff.Family) error {
	d.out.dry("route-del default" + familySuffix(f))
	return d.h.DeleteDefaultRoute(ctx, f)
}

func (d *dryHost) SetMTU(ctx context.Context, mtu int) error {
	d.out.dry(fmt.Sprintf("mtu %d", mtu))
	return d.h.SetMTU(ctx, mtu)
}

func (d *dryHost) SetLink(ctx context.Context, up bool) error {
	if up {
		d.out.dry("link-up")
	} else {
		d.out.dry("link-down")
	}
	return d.h.SetLink(ctx, up)
}

func (d *dryHost) SetDNS(ctx context.Context, servers []netip.Addr) error {
	op := "dns"
	for _, s := range servers {
		op += " " + s.String()
	}
	d.out.dry(op)
	return d.h.SetDNS(ctx, servers)
}

// ipv6Disabled reports a kernel without IPv6, or one whose new interfaces
// get it disabled (net.ipv6.conf.default.disable_ipv6).
func ipv6Disabled() bool {
	for _, f := range []string{"/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/default/disable_ipv6"} {
		b, err := os.ReadFile(f)
		if err != nil || strings.TrimSpace(string(b)) == "1" {
			return true
		}
	}
	return false
}
