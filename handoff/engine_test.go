package handoff_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/handoff/handofftest"
	"github.com/gowwan/wwan/mbim"
)

const debounce = 100 * time.Millisecond

// The seed's eight steps, as the ranks of a readdressed handoff's steps.
func stepRank(i int, steps []string, s string) int {
	switch {
	case s == "packet-service" && i == 0:
		return 1
	case s == "session":
		return 2
	case s == "packet-service" && i == len(steps)-1:
		return 8
	case s == "packet-service":
		return 3
	case contains(s, "-del "), s == "route-del default", s == "route-del default ipv6":
		return 4
	case contains(s, "addr-add "):
		return 50
	case contains(s, "route-replace"):
		return 51
	case contains(s, "mtu "):
		return 52
	case s == "dns" || contains(s, "dns "):
		return 53
	case s == "link-down":
		return 6
	case s == "link-up":
		return 7
	}
	return -1
}

// checkSeedOrder asserts that steps follow the seed's order: packet-service,
// session, packet-service, deletions, additions (addresses, routes, MTU,
// DNS), link-down, link-up, packet-service.
func checkSeedOrder(t *testing.T, steps []string) {
	t.Helper()
	if len(steps) < 4 || !slices.Equal(steps[:3], []string{"packet-service", "session", "packet-service"}) ||
		steps[len(steps)-1] != "packet-service" {
		t.Errorf("steps %q: want packet-service, session, packet-service first and packet-service last", steps)
		return
	}
	order := func(r int) int {
		if r >= 50 {
			return 5
		}
		return r
	}
	prev := 0
	for i, s := range steps {
		r := stepRank(i, steps, s)
		if r < 0 {
			t.Errorf("steps %q: unknown step %q", steps, s)
			return
		}
		if order(r) < order(prev) || (r >= 50 && prev >= 50 && r < prev) {
			t.Errorf("steps %q: %q out of the seed's order", steps, s)
			return
		}
		prev = r
	}
}

func TestStartWithHostConsistentWritesNothing(t *testing.T) {
	run(t, func(t *testing.T) {
		ip := dual(addr4a, gw4a, addr6a)
		h := newHarness(t, handoff.EngineConfig{}, activeModem(mbim.DataClassLte, ip), consistentHost(ip))
		defer h.stop()
		if ops := h.host.Ops(); !slices.Equal(ops, []string{"state"}) {
			t.Errorf("host calls %q, want only one state read", ops)
		}
		if got, want := types(h.allEvents()), []string{"packet-service", "session ACTIVATED", "config"}; !slices.Equal(got, want) {
			t.Errorf("events %q, want %q", got, want)
		}
		s := h.e.Snapshot()
		if s.State != handoff.Up || !s.LinkUp || !s.Applied.Equal(ip.Config()) || s.DataClass != "LTE" {
			t.Errorf("snapshot %+v", s)
		}
	})
}

func TestStartWithStaleAddressChangesOnlyTheDifference(t *testing.T) {
	run(t, func(t *testing.T) {
		ip := dual(addr4b, gw4a, addr6a)
		st := handofftest.StateOf(dual(addr4a, gw4a, addr6a).Config())
		h := newHarness(t, handoff.EngineConfig{}, activeModem(mbim.DataClassLte, ip), handofftest.New(st))
		defer h.stop()
		want := []string{"addr-del 198.51.100.2/30", "addr-add 198.51.100.6/30", "route-replace default"}
		if w := h.host.Writes(); !slices.Equal(w, want) {
			t.Errorf("writes %q, want %q (no link flap, IPv6 untouched)", w, want)
		}
		if err := h.host.Check(ip.Config()); err != nil {
			t.Error(err)
		}
		if hs := handoffs(h.allEvents()); len(hs) != 0 {
			t.Errorf("start-up gave handoff events %+v", hs)
		}
	})
}

func TestStartConnectsAndConfigures(t *testing.T) {
	run(t, func(t *testing.T) {
		ip := ipv4Only(addr4a, gw4a)
		m := activeModem(mbim.DataClassLte, ip)
		m.status.Session.ActivationState = mbim.ActivationStateDeactivated
		h := newHarness(t, handoff.EngineConfig{}, m, handofftest.New(handoff.HostState{MTU: 1500}))
		defer h.stop()
		want := []string{"state", "link-up", "addr-add 198.51.100.2/30", "route-replace default", "dns 192.0.2.53"}
		if ops := h.host.Ops(); !slices.Equal(ops, want) {
			t.Errorf("host calls %q, want %q", ops, want)
		}
		if err := h.host.Check(ip.Config()); err != nil {
			t.Error(err)
		}
		if _, c, _ := m.counts(); c != 1 {
			t.Errorf("%d connects, want 1", c)
		}
		if s := h.e.Snapshot(); s.State != handoff.Up {
			t.Errorf("state %v, want up", s.State)
		}
	})
}

func TestTourSameAddressIsTransparent(t *testing.T) {
	tours := map[string][]mbim.DataClass{
		"3GPP": {mbim.DataClassGprs, mbim.DataClassEdge, mbim.DataClassUmts, mbim.DataClassHsdpa,
			mbim.DataClassLte, mbim.DataClass5gNsa, mbim.DataClass5gSa, mbim.DataClassLte},
		"3GPP2": {mbim.DataClass1xrtt, mbim.DataClass1xevdo, mbim.DataClass1xevdoReva},
	}
	for name, tour := range tours {
		t.Run(name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				ip := dual(addr4a, gw4a, addr6a)
				h := newHarness(t, handoff.EngineConfig{}, activeModem(tour[0], ip), consistentHost(ip))
				defer h.stop()
				for i, dc := range tour[1:] {
					mark := h.mark()
					h.handle(attached(dc))
					h.settle(2 * debounce)
					evs := h.since(mark)
					ev := h.oneHandoff(evs)
					from, to := handoff.DataClassName(tour[i]), handoff.DataClassName(dc)
					if ev.Outcome != handoff.Transparent || ev.From != from || ev.To != to ||
						!slices.Equal(ev.Steps, []string{"packet-service"}) || ev.Reason != "" {
						t.Errorf("%s→%s: handoff %+v", from, to, ev)
					}
					if ev.Duration != debounce {
						t.Errorf("%s→%s: duration %v, want the debounce %v", from, to, ev.Duration, debounce)
					}
					if got := types(evs); !slices.Equal(got, []string{"packet-service", "handoff transparent"}) {
						t.Errorf("%s→%s: events %q, want packet-service events only", from, to, got)
					}
				}
				if n := h.host.Calls(); n != 1 {
					t.Errorf("host calls %q: want only the start's state read", h.host.Ops())
				}
				if _, _, q := h.modem.counts(); q != len(tour) {
					t.Errorf("%d IP_CONFIGURATION queries, want %d (start + one per handoff)", q, len(tour))
				}
				if s := h.e.Snapshot(); s.Counters.Handoffs[handoff.Transparent] != uint64(len(tour)-1) {
					t.Errorf("counters %+v", s.Counters)
				}
			})
		})
	}
}

func TestTourWithAddressChanges(t *testing.T) {
	type stop struct {
		dc    mbim.DataClass
		ip    handoff.IPConfiguration
		steps []string // nil: transparent
	}
	full := func(host ...string) []string {
		s := append([]string{"packet-service", "session", "packet-service"}, host...)
		return append(s, "link-down", "link-up", "packet-service")
	}
	tour := []stop{
		{mbim.DataClassGprs, ipv4Only(addr4a, gw4a), nil},
		{mbim.DataClassEdge, ipv4Only(addr4a, gw4a), nil},
		{mbim.DataClassUmts, ipv4Only(addr4b, gw4b), full("addr-del 198.51.100.2/30", "addr-add 198.51.100.6/30", "route-replace default")},
		{mbim.DataClassHsdpa, ipv4Only(addr4b, gw4b), nil},
		{mbim.DataClassLte, dual(addr4b, gw4b, addr6a), full("addr-add 2001:db8:1::2/64", "route-replace default ipv6", "dns 192.0.2.53 2001:db8::53")},
		{mbim.DataClass5gNsa, dual(addr4b, gw4b, addr6a), nil},
		{mbim.DataClass5gSa, dual(addr4a, gw4a, addr6b), full("addr-del 198.51.100.6/30", "addr-del 2001:db8:1::2/64",
			"addr-add 198.51.100.2/30", "addr-add 2001:db8:2::2/64", "route-replace default", "route-replace default ipv6")},
		{mbim.DataClassLte, ipv4Only(addr4a, gw4a), full("route-del default ipv6", "addr-del 2001:db8:2::2/64", "dns 192.0.2.53")},
	}
	run(t, func(t *testing.T) {
		m := activeModem(tour[0].dc, tour[0].ip)
		h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(tour[0].ip))
		defer h.stop()
		for i, s := range tour[1:] {
			prev := tour[i]
			h.host.Reset()
			m.set(func(m *fakeModem) { m.ip = s.ip })
			mark := h.mark()
			h.handle(attached(s.dc))
			h.settle(2 * debounce)
			ev := h.oneHandoff(h.since(mark))
			name := handoff.DataClassName(prev.dc) + "→" + handoff.DataClassName(s.dc)
			if err := h.host.Check(s.ip.Config()); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if s.steps == nil {
				if ev.Outcome != handoff.Transparent || h.host.Calls() != 0 {
					t.Errorf("%s: outcome %s, host calls %q; want transparent, none", name, ev.Outcome, h.host.Ops())
				}
				continue
			}
			if ev.Outcome != handoff.Readdressed {
				t.Errorf("%s: outcome %s (%s), want readdressed", name, ev.Outcome, ev.Reason)
			}
			if !slices.Equal(ev.Steps, s.steps) {
				t.Errorf("%s: steps\n%q\nwant\n%q", name, ev.Steps, s.steps)
			}
			checkSeedOrder(t, ev.Steps)
			if w := h.host.Ops(); !slices.Equal(w, hostSteps(ev.Steps)) {
				t.Errorf("%s: host calls %q, want the steps' %q", name, w, hostSteps(ev.Steps))
			}
			if !ev.Old.Equal(prev.ip.Config()) || !ev.New.Equal(s.ip.Config()) {
				t.Errorf("%s: old %+v new %+v", name, ev.Old, ev.New)
			}
		}
	})
}

// The events of a readdressed handoff come in the seed's order too.
func TestReaddressedEventOrder(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassHsdpa, ipv4Only(addr4a, gw4a))
		h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(m.ip))
		defer h.stop()
		m.set(func(m *fakeModem) { m.ip = ipv4Only(addr4b, gw4b) })
		mark := h.mark()
		h.handle(attached(mbim.DataClassLte))
		h.settle(2 * debounce)
		evs := h.since(mark)
		want := []string{"packet-service", "session ACTIVATED", "packet-service", "config", "link down", "link up",
			"packet-service", "handoff readdressed"}
		if got := types(evs); !slices.Equal(got, want) {
			t.Errorf("events %q, want %q", got, want)
		}
		ev := h.oneHandoff(evs)
		wantSteps := []string{"packet-service", "session", "packet-service", "addr-del 198.51.100.2/30",
			"addr-add 198.51.100.6/30", "route-replace default", "link-down", "link-up", "packet-service"}
		if !slices.Equal(ev.Steps, wantSteps) || ev.From != "HSDPA" || ev.To != "LTE" {
			t.Errorf("handoff %+v", ev)
		}
		if evs[0].PacketService.DataClass != mbim.DataClassLte {
			t.Errorf("step 1 reports %v, want the change as first reported", evs[0].PacketService)
		}
		// Its JSON is the contract's example, time and duration aside.
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		want0 := `{"time":"2000-01-01T00:00:00.100Z","session":0,"from":"HSDPA","to":"LTE","outcome":"readdressed",` +
			`"duration_seconds":0.1,"steps":["packet-service","session","packet-service","addr-del 198.51.100.2/30",` +
			`"addr-add 198.51.100.6/30","route-replace default","link-down","link-up","packet-service"],` +
			`"old":{"ipv4":["198.51.100.2/30"]},"new":{"ipv4":["198.51.100.6/30"]},"reason":""}`
		if string(b) != want0 {
			t.Errorf("JSON\n%s\nwant\n%s", b, want0)
		}
	})
}

func TestChangeReportedOnlyByQuery(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassLte, ipv4Only(addr4a, gw4a))
		h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(m.ip))
		defer h.stop()
		m.set(func(m *fakeModem) { m.ip = ipv4Only(addr4b, gw4b) })
		h.handle(attached(mbim.DataClass5gNsa))
		h.settle(debounce / 2)
		if _, _, q := m.counts(); q != 1 {
			t.Errorf("%d queries within the debounce window, want only the start's", q)
		}
		h.settle(debounce)
		if _, _, q := m.counts(); q != 2 {
			t.Errorf("%d queries, want 2", q)
		}
		if ev := h.oneHandoff(h.allEvents()); ev.Outcome != handoff.Readdressed {
			t.Errorf("outcome %s", ev.Outcome)
		}
		if err := h.host.Check(m.ip.Config()); err != nil {
			t.Error(err)
		}
	})
}

func TestChangeReportedByIndicationCancelsQuery(t *testing.T) {
	for _, delay := range []time.Duration{0, debounce / 2} {
		t.Run(delay.String(), func(t *testing.T) {
			run(t, func(t *testing.T) {
				m := activeModem(mbim.DataClassLte, ipv4Only(addr4a, gw4a))
				h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(m.ip))
				defer h.stop()
				// The modem's query answer is stale: only the indication
				// tells the new address.
				h.handle(attached(mbim.DataClass5gNsa))
				h.settle(delay)
				h.handle(ipv4Only(addr4b, gw4b))
				h.settle(2 * debounce)
				if _, _, q := m.counts(); q != 1 {
					t.Errorf("%d queries, want only the start's: the indication cancels the query", q)
				}
				// The indication carries every family of the session, so
				// it is applied when it arrives, not at the window's end.
				ev := h.oneHandoff(h.allEvents())
				if ev.Outcome != handoff.Readdressed || ev.Duration != delay {
					t.Errorf("handoff %+v, want readdressed in %v", ev, delay)
				}
				if err := h.host.Check(ipv4Only(addr4b, gw4b).Config()); err != nil {
					t.Error(err)
				}
			})
		})
	}
}

func TestSeparateIPv4AndIPv6IndicationsMerge(t *testing.T) {
	only6 := func(p netip.Prefix) handoff.IPConfiguration { return handoff.IPConfiguration{IPv6: v6(p)} }
	run(t, func(t *testing.T) {
		start := dual(addr4a, gw4a, addr6a)
		m := activeModem(mbim.DataClassLte, start)
		h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(start))
		defer h.stop()

		// IPv6 alone, with only its flags: IPv4 is not removed.
		h.handle(only6(addr6b))
		h.settle(2 * debounce)
		want := []string{"addr-del 2001:db8:1::2/64", "addr-add 2001:db8:2::2/64", "route-replace default ipv6", "link-down", "link-up"}
		if w := h.host.Writes(); !slices.Equal(w, want) {
			t.Errorf("writes %q, want %q", w, want)
		}
		if err := h.host.Check(dual(addr4a, gw4a, addr6b).Config()); err != nil {
			t.Error(err)
		}

		// IPv4 then IPv6 in separate indications of one burst: one
		// application of both.
		h.host.Reset()
		mark := h.mark()
		h.handle(handoff.IPConfiguration{IPv4: v4(addr4b, gw4b)})
		h.settle(debounce / 4)
		h.handle(only6(addr6a))
		h.settle(2 * debounce)
		if err := h.host.Check(dual(addr4b, gw4b, addr6a).Config()); err != nil {
			t.Error(err)
		}
		ev := h.oneHandoff(h.since(mark))
		if n := len(slices.DeleteFunc(h.host.Writes(), func(s string) bool { return s != "link-down" })); n != 1 || ev.Outcome != handoff.Readdressed {
			t.Errorf("writes %q, outcome %s: want one application", h.host.Writes(), ev.Outcome)
		}
		if _, _, q := m.counts(); q != 1 {
			t.Errorf("%d queries, want the start's only", q)
		}
	})
}

func TestIPv6ChangeLeavesIPv4Untouched(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassLte, dual(addr4a, gw4a, addr6a))
		h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(m.ip))
		defer h.stop()
		m.set(func(m *fakeModem) { m.ip = dual(addr4a, gw4a, addr6b) })
		h.handle(attached(mbim.DataClass5gSa))
		h.settle(2 * debounce)
		for _, w := range h.host.Writes() {
			if contains(w, "198.51.100.") || w == "route-replace default" || w == "route-del default" || contains(w, "mtu") {
				t.Errorf("IPv6 change touched IPv4: %q", h.host.Writes())
			}
		}
		if err := h.host.Check(m.ip.Config()); err != nil {
			t.Error(err)
		}
	})
}

func TestOperatorReaddressingReconnects(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassLte, ipv4Only(addr4a, gw4a))
		h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(m.ip))
		defer h.stop()
		m.set(func(m *fakeModem) {
			m.status.Session = deactivated()
			m.connDelay = 2 * time.Second
			m.onConnect = func(m *fakeModem) { m.ip = ipv4Only(addr4b, gw4b) }
		})
		mark := h.mark()
		h.handle(deactivated())
		h.settle(time.Second)
		if s := h.e.Snapshot(); s.State != handoff.Reconnecting {
			t.Errorf("state %v while connecting, want reconnecting", s.State)
		}
		if w := h.host.Writes(); len(w) != 0 {
			t.Errorf("host written before the session is back: %q", w)
		}
		h.settle(2 * time.Second)
		evs := h.since(mark)
		want := []string{"packet-service", "session DEACTIVATED", "packet-service", "session ACTIVATED", "config",
			"link down", "link up", "packet-service", "handoff reconnected"}
		if got := types(evs); !slices.Equal(got, want) {
			t.Errorf("events %q, want %q", got, want)
		}
		ev := h.oneHandoff(evs)
		wantSteps := []string{"packet-service", "session", "packet-service", "addr-del 198.51.100.2/30",
			"addr-add 198.51.100.6/30", "route-replace default", "link-down", "link-up", "packet-service"}
		if !slices.Equal(ev.Steps, wantSteps) || ev.Duration != 2*time.Second {
			t.Errorf("handoff %+v", ev)
		}
		checkSeedOrder(t, ev.Steps)
		if err := h.host.Check(ipv4Only(addr4b, gw4b).Config()); err != nil {
			t.Error(err)
		}
		if evs[1].NwError != 36 {
			t.Errorf("session event lost the network's cause: %+v", evs[1])
		}
	})
}

func TestReconnectWithSameAddressTouchesNothing(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassLte, ipv4Only(addr4a, gw4a))
		h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(m.ip))
		defer h.stop()
		h.handle(deactivated())
		h.settle(time.Second)
		ev := h.oneHandoff(h.allEvents())
		if ev.Outcome != handoff.Reconnected ||
			!slices.Equal(ev.Steps, []string{"packet-service", "session", "packet-service", "packet-service"}) {
			t.Errorf("handoff %+v", ev)
		}
		if n := h.host.Calls(); n != 1 {
			t.Errorf("host calls %q, want the start's state read only", h.host.Ops())
		}
	})
}

func TestRegistrationLossHoldsThenReconnects(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassLte, ipv4Only(addr4a, gw4a))
		h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(m.ip))
		defer h.stop()
		h.handle(handoff.Register{State: mbim.RegisterStateSearching},
			handoff.PacketService{State: mbim.PacketServiceStateDetached}, deactivated())
		h.settle(10 * time.Minute)
		if _, c, _ := m.counts(); c != 0 {
			t.Errorf("%d connect attempts while not registered, want none", c)
		}
		if s := h.e.Snapshot(); s.State != handoff.Detached {
			t.Errorf("state %v, want detached", s.State)
		}
		if n := h.host.Calls(); n != 1 {
			t.Errorf("host touched while holding: %q", h.host.Ops())
		}
		// Registered again, but not attached yet: still holding.
		h.handle(handoff.Register{State: mbim.RegisterStateRoaming})
		h.settle(time.Minute)
		if _, c, _ := m.counts(); c != 0 {
			t.Errorf("%d connect attempts before attach, want none", c)
		}
		m.set(func(m *fakeModem) { m.ip = ipv4Only(addr4b, gw4b) })
		h.handle(attached(mbim.DataClassUmts))
		h.settle(time.Second)
		if _, c, _ := m.counts(); c != 1 {
			t.Errorf("%d connect attempts after return, want 1", c)
		}
		ev := h.oneHandoff(h.allEvents())
		if ev.Outcome != handoff.Reconnected || ev.From != "LTE" || ev.To != "UMTS" {
			t.Errorf("handoff %+v", ev)
		}
		checkSeedOrder(t, ev.Steps)
		if err := h.host.Check(m.ip.Config()); err != nil {
			t.Error(err)
		}
		if s := h.e.Snapshot(); s.State != handoff.Up {
			t.Errorf("state %v, want up", s.State)
		}
	})
}

// Registration lost for a while with the session kept: nothing to do.
func TestRegistrationBlipWithSessionKept(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassLte, ipv4Only(addr4a, gw4a))
		h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(m.ip))
		defer h.stop()
		h.handle(handoff.Register{State: mbim.RegisterStateDeregistered})
		h.settle(time.Minute)
		h.handle(handoff.Register{State: mbim.RegisterStateHome})
		h.settle(time.Second)
		if n := h.host.Calls(); n != 1 {
			t.Errorf("host calls %q", h.host.Ops())
		}
		if hs := handoffs(h.allEvents()); len(hs) != 0 {
			t.Errorf("handoff events %+v", hs)
		}
	})
}

func TestTransportLostAndBackReconciles(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassLte, ipv4Only(addr4a, gw4a))
		h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(m.ip))
		defer h.stop()
		h.handle(handoff.TransportLost{Reason: "modem reset"})
		h.settle(time.Second)
		if s := h.e.Snapshot(); s.State != handoff.Lost {
			t.Errorf("state %v, want lost", s.State)
		}
		// Indications from a dead client are ignored.
		h.handle(deactivated())
		h.settle(time.Minute)
		if _, c, _ := m.counts(); c != 0 {
			t.Errorf("connected while the transport is lost")
		}
		// The modem reset: session gone, new address on connect; the
		// netdev came back empty and down.
		m.set(func(m *fakeModem) {
			m.status.Session = deactivated()
			m.onConnect = func(m *fakeModem) { m.ip = ipv4Only(addr4b, gw4b) }
		})
		h.host.Set(handoff.HostState{MTU: 1500})
		h.host.Reset()
		h.handle(handoff.TransportBack{})
		h.settle(time.Second)
		want := []string{"state", "link-up", "addr-add 198.51.100.6/30", "route-replace default", "dns 192.0.2.53"}
		if ops := h.host.Ops(); !slices.Equal(ops, want) {
			t.Errorf("host calls %q, want %q (one state read)", ops, want)
		}
		if err := h.host.Check(m.ip.Config()); err != nil {
			t.Error(err)
		}
		ev := h.oneHandoff(h.allEvents())
		if ev.Outcome != handoff.Reconnected || !ev.Old.Equal(ipv4Only(addr4a, gw4a).Config()) {
			t.Errorf("handoff %+v", ev)
		}
	})
}

func TestTransportBackWithNothingChanged(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassLte, ipv4Only(addr4a, gw4a))
		h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(m.ip))
		defer h.stop()
		h.handle(handoff.TransportLost{Reason: "unplug"})
		h.settle(time.Second)
		h.handle(handoff.TransportBack{})
		h.settle(time.Second)
		if ops := h.host.Ops(); !slices.Equal(ops, []string{"state", "state"}) {
			t.Errorf("host calls %q, want two state reads and no write", ops)
		}
		if st, _, _ := m.counts(); st != 2 {
			t.Errorf("%d status queries, want 2", st)
		}
		if ev := h.oneHandoff(h.allEvents()); ev.Outcome != handoff.Transparent {
			t.Errorf("handoff %+v", ev)
		}
	})
}

func TestDHCPModeOnlySignalsTheLink(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassHsdpa, ipv4Only(addr4a, gw4a))
		// Whatever the DHCP client put there, with the link up.
		host := handofftest.New(handoff.HostState{Addresses: []netip.Prefix{addr4a}, Up: true})
		h := newHarness(t, handoff.EngineConfig{DHCP: true}, m, host)
		defer h.stop()
		if n := host.Calls(); n != 1 {
			t.Errorf("start: host calls %q", host.Ops())
		}
		h.handle(attached(mbim.DataClassLte))
		h.settle(2 * debounce)
		if n := host.Calls(); n != 1 {
			t.Errorf("transparent: host calls %q", host.Ops())
		}
		m.set(func(m *fakeModem) { m.ip = ipv4Only(addr4b, gw4b) })
		mark := h.mark()
		h.handle(attached(mbim.DataClass5gNsa))
		h.settle(2 * debounce)
		if w := host.Writes(); !slices.Equal(w, []string{"link-down", "link-up"}) {
			t.Errorf("writes %q, want link-down, link-up only", w)
		}
		ev := h.oneHandoff(h.since(mark))
		want := []string{"packet-service", "session", "packet-service", "link-down", "link-up", "packet-service"}
		if ev.Outcome != handoff.Readdressed || !slices.Equal(ev.Steps, want) {
			t.Errorf("handoff %+v", ev)
		}
		if env := ev.Env(); !slices.Contains(env, "WWAN_DHCP=1") {
			t.Errorf("env %q", env)
		}
	})
}

func TestDHCPModeStartsTheLink(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassLte, ipv4Only(addr4a, gw4a))
		host := handofftest.New(handoff.HostState{})
		h := newHarness(t, handoff.EngineConfig{DHCP: true}, m, host)
		defer h.stop()
		if ops := host.Ops(); !slices.Equal(ops, []string{"state", "link-up"}) {
			t.Errorf("host calls %q", ops)
		}
	})
}

func TestIndicationStormGivesOneQueryAndOneApplication(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassLte, ipv4Only(addr4a, gw4a))
		h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(m.ip))
		defer h.stop()
		m.set(func(m *fakeModem) { m.ip = ipv4Only(addr4b, gw4b) })
		mark := h.mark()
		for i := range 100 {
			dc := mbim.DataClass5gNsa
			if i%2 == 1 {
				dc = mbim.DataClassLte
			}
			h.handle(attached(dc))
		}
		h.settle(2 * debounce)
		if _, _, q := m.counts(); q != 2 {
			t.Errorf("%d queries, want 2 (start, storm)", q)
		}
		want := []string{"addr-del 198.51.100.2/30", "addr-add 198.51.100.6/30", "route-replace default", "link-down", "link-up"}
		if w := h.host.Writes(); !slices.Equal(w, want) {
			t.Errorf("writes %q, want one application %q", w, want)
		}
		if ev := h.oneHandoff(h.since(mark)); ev.Outcome != handoff.Readdressed || ev.From != "LTE" || ev.To != "LTE" {
			t.Errorf("handoff %+v", ev)
		}
		// The same configuration again and again: nothing applied twice.
		mark = h.mark()
		for range 100 {
			h.handle(ipv4Only(addr4b, gw4b))
		}
		h.settle(time.Second)
		if w := h.host.Writes(); len(w) != len(want) {
			t.Errorf("writes %q after repeated indications", w)
		}
		if evs := h.since(mark); len(evs) != 0 {
			t.Errorf("events %q after repeated indications", types(evs))
		}
	})
}

func TestHostRefusalFailsRestoresAndRecovers(t *testing.T) {
	run(t, func(t *testing.T) {
		old := ipv4Only(addr4a, gw4a)
		m := activeModem(mbim.DataClassLte, old)
		cfg := handoff.EngineConfig{Backoff: handoff.Backoff{Initial: time.Second, Max: 4 * time.Second},
			Rand: func() float64 { return 0 }}
		h := newHarness(t, cfg, m, consistentHost(old))
		defer h.stop()
		h.host.Fail("addr-add 198.51.100.6/30", nil)
		m.set(func(m *fakeModem) { m.ip = ipv4Only(addr4b, gw4b) })
		mark := h.mark()
		h.handle(attached(mbim.DataClass5gNsa))
		h.settle(2 * debounce)
		ev := h.oneHandoff(h.since(mark))
		if ev.Outcome != handoff.Failed || !contains(ev.Reason, "addr-add 198.51.100.6/30") ||
			!contains(ev.Reason, handofftest.ErrRefused.Error()) {
			t.Fatalf("handoff %+v", ev)
		}
		for _, ev := range h.since(mark) {
			if ev.Type == handoff.EventLink {
				t.Errorf("link signalled for a change that did not happen")
			}
		}
		// The last consistent state: the old address is back.
		if err := h.host.Check(old.Config()); err != nil {
			t.Errorf("after the refusal: %v", err)
		}
		if s := h.e.Snapshot(); !s.Applied.Equal(old.Config()) || s.Counters.Handoffs[handoff.Failed] != 1 {
			t.Errorf("snapshot %+v", s)
		}
		// It keeps trying with backoff: 1 s, 2 s, 4 s, 4 s...
		h.settle(7 * time.Second)
		if hs := handoffs(h.since(mark)); len(hs) != 4 {
			t.Errorf("%d failed handoffs after 7 s, want 4 (at 0, 1, 3, 7 s)", len(hs))
		}
		h.host.Heal()
		mark = h.mark()
		h.settle(4 * time.Second)
		ev = h.oneHandoff(h.since(mark))
		if ev.Outcome != handoff.Readdressed {
			t.Errorf("after healing: %+v", ev)
		}
		if err := h.host.Check(m.ip.Config()); err != nil {
			t.Error(err)
		}
	})
}

func TestReconnectBackoffIsBoundedAndRetries(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassLte, ipv4Only(addr4a, gw4a))
		cfg := handoff.EngineConfig{RetryBudget: 3,
			Backoff: handoff.Backoff{Initial: time.Second, Max: 8 * time.Second, Jitter: 0.5},
			Rand:    func() float64 { return 0.5 }}
		h := newHarness(t, cfg, m, consistentHost(m.ip))
		defer h.stop()
		busy := errors.New("mbim: status BUSY")
		m.set(func(m *fakeModem) {
			m.status.Session = deactivated()
			m.connErrs = []error{busy, busy, busy, busy, busy, busy}
		})
		h.handle(deactivated())
		h.settle(2 * time.Minute)
		var gaps []time.Duration
		for i := 1; i < len(m.connectTimes); i++ {
			gaps = append(gaps, m.connectTimes[i].Sub(m.connectTimes[i-1]))
		}
		// Jitter 0.5 at draw 0.5 takes a quarter off: 1, 2, 4, 8, 8, 8 s → ¾ of each.
		want := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 6 * time.Second, 6 * time.Second, 6 * time.Second}
		if !slices.Equal(gaps, want) {
			t.Errorf("gaps between connects %v, want %v", gaps, want)
		}
		var outcomes []handoff.Outcome
		for _, ev := range handoffs(h.allEvents()) {
			outcomes = append(outcomes, ev.Outcome)
			if ev.Outcome == handoff.Failed && !contains(ev.Reason, "connect: mbim: status BUSY") {
				t.Errorf("reason %q", ev.Reason)
			}
		}
		if want := []handoff.Outcome{handoff.Failed, handoff.Failed, handoff.Reconnected}; !slices.Equal(outcomes, want) {
			t.Errorf("outcomes %v, want %v", outcomes, want)
		}
		if s := h.e.Snapshot(); s.State != handoff.Up || s.Counters.Connects != 7 || s.Counters.ModemErrors != 6 {
			t.Errorf("snapshot %+v", s)
		}
	})
}

func TestBackoffDelay(t *testing.T) {
	b := handoff.Backoff{Initial: time.Second, Max: 30 * time.Second, Jitter: 0.2}
	for n := 1; n < 100; n++ {
		for _, r := range []float64{0, 0.5, 0.999} {
			d := b.Delay(n, r)
			full := min(time.Second<<min(n-1, 10), 30*time.Second)
			if d > full || d < full*8/10 {
				t.Errorf("Delay(%d, %v) = %v, want in [%v, %v]", n, r, d, full*8/10, full)
			}
		}
	}
}

func TestQueueFullDropsAndResyncs(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassLte, ipv4Only(addr4a, gw4a))
		block := make(chan struct{})
		blocking := false
		cfg := handoff.EngineConfig{QueueSize: 2, Sinks: []func(handoff.Event){func(ev handoff.Event) {
			if blocking && ev.Type == handoff.EventPacketService {
				blocking = false
				<-block
			}
		}}}
		h := newHarness(t, cfg, m, consistentHost(m.ip))
		defer h.stop()
		blocking = true
		h.handle(attached(mbim.DataClass5gNsa))
		synctest.Wait() // the engine is stuck in the sink
		dropped := 0
		for range 10 {
			if !h.e.Handle(attached(mbim.DataClassUmts)) {
				dropped++
			}
		}
		close(block)
		h.settle(time.Second)
		s := h.e.Snapshot()
		if dropped != 8 || s.Counters.Dropped != 8 || s.Counters.Inputs != 3 {
			t.Errorf("dropped %d, counters %+v", dropped, s.Counters)
		}
		if st, _, _ := m.counts(); st != 2 {
			t.Errorf("%d status queries, want 2: the engine resyncs after a drop", st)
		}
	})
}

func TestRunTwice(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassLte, ipv4Only(addr4a, gw4a))
		h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(m.ip))
		defer h.stop()
		if err := h.e.Run(t.Context()); !errors.Is(err, handoff.ErrRunning) {
			t.Errorf("second Run: %v", err)
		}
	})
}

func TestModemWithoutAddressYet(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassLte, handoff.IPConfiguration{})
		host := handofftest.New(handoff.HostState{})
		h := newHarness(t, handoff.EngineConfig{Rand: func() float64 { return 0 }}, m, host)
		defer h.stop()
		if w := host.Writes(); len(w) != 0 {
			t.Errorf("writes %q before the modem has an address", w)
		}
		m.set(func(m *fakeModem) { m.ip = ipv4Only(addr4a, gw4a) })
		h.settle(2 * time.Second)
		if err := host.Check(m.ip.Config()); err != nil {
			t.Error(err)
		}
	})
}

// The packet service detaches and attaches again on another class, the
// session and the address kept: transparent.
func TestDetachAndReattachKeepingTheAddress(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassHsdpa, ipv4Only(addr4a, gw4a))
		h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(m.ip))
		defer h.stop()
		h.handle(handoff.PacketService{State: mbim.PacketServiceStateDetached})
		h.settle(time.Minute)
		if s := h.e.Snapshot(); s.State != handoff.Detached {
			t.Errorf("state %v, want detached", s.State)
		}
		if _, _, q := m.counts(); q != 1 {
			t.Errorf("%d queries while detached, want the start's only", q)
		}
		h.handle(attached(mbim.DataClassLte))
		h.settle(time.Second)
		ev := h.oneHandoff(h.allEvents())
		if ev.Outcome != handoff.Transparent || ev.From != "HSDPA" || ev.To != "LTE" || ev.Duration != time.Minute+debounce {
			t.Errorf("handoff %+v", ev)
		}
		if n := h.host.Calls(); n != 1 {
			t.Errorf("host calls %q", h.host.Ops())
		}
	})
}

// A Status answer is what the modem said when it was asked: an indication
// that arrives while the answer is on its way is newer and must win.
func TestStaleStatusDoesNotOverrideNewerInput(t *testing.T) {
	run(t, func(t *testing.T) {
		m := activeModem(mbim.DataClassLte, ipv4Only(addr4a, gw4a))
		m.status.PacketService = handoff.PacketService{State: mbim.PacketServiceStateDetached}
		m.statusDelay = time.Second
		h := newHarness(t, handoff.EngineConfig{}, m, consistentHost(m.ip))
		defer h.stop()
		h.settle(500 * time.Millisecond)
		h.handle(attached(mbim.DataClassLte)) // newer than the Status answer
		h.settle(2 * time.Second)
		if got := h.e.Snapshot().PacketService.State; got != mbim.PacketServiceStateAttached {
			t.Fatalf("packet service %s after a stale Status answer, want ATTACHED (the newer input)", got)
		}
	})
}

// ctxHost is the fake host with the kernel host's behaviour on a done
// context: the call fails. Before its first address change it runs
// beforeAdd (the test stops the engine there).
type ctxHost struct {
	*handofftest.Host
	beforeAdd func()
}

func (h *ctxHost) AddAddress(ctx context.Context, p netip.Prefix) error {
	if h.beforeAdd != nil {
		h.beforeAdd()
		h.beforeAdd = nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return h.Host.AddAddress(ctx, p)
}

func (h *ctxHost) ReplaceDefaultRoute(ctx context.Context, r handoff.Route) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return h.Host.ReplaceDefaultRoute(ctx, r)
}

// A stop that arrives while the host is being changed lets the change
// finish: the host is left consistent with the new configuration and the
// handoff is not reported as failed because the daemon was stopping.
func TestStopDuringHostChangeFinishesIt(t *testing.T) {
	run(t, func(t *testing.T) {
		old, next := ipv4Only(addr4a, gw4a), ipv4Only(addr4b, gw4b)
		m := activeModem(mbim.DataClassLte, old)
		ctx, cancel := context.WithCancel(context.Background())
		host := &ctxHost{Host: consistentHost(old)}
		var (
			mu  sync.Mutex
			evs []handoff.Event
		)
		e := handoff.New(handoff.EngineConfig{Interface: "wwan0", Sinks: []func(handoff.Event){func(ev handoff.Event) {
			mu.Lock()
			evs = append(evs, ev)
			mu.Unlock()
		}}}, m, host)
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		synctest.Wait()

		host.beforeAdd = cancel
		m.set(func(m *fakeModem) { m.ip = next })
		e.Handle(attached(mbim.DataClass5gNsa))
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
		if err := host.Check(next.Config()); err != nil {
			t.Errorf("host after a stop during the change: %v (writes %q)", err, host.Writes())
		}
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range handoffs(evs) {
			if ev.Outcome == handoff.Failed {
				t.Errorf("handoff reported failed: %+v", ev)
			}
		}
	})
}
