package handoff_test

import (
	"encoding/json"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
)

// The contract's example, byte for byte.
func TestHandoffEventJSONIsTheContracts(t *testing.T) {
	ev := handoff.Event{
		Time: time.Date(2026, 11, 25, 10, 0, 0, 123_000_000, time.UTC), Type: handoff.EventHandoff,
		From: "HSDPA", To: "LTE", Outcome: handoff.Readdressed, Duration: 420 * time.Microsecond,
		Steps: []string{"packet-service", "session", "packet-service", "addr-del 198.51.100.2/30",
			"addr-add 198.51.100.6/30", "route-replace default", "link-down", "link-up", "packet-service"},
		Old:       handoff.Config{IPv4: []netip.Prefix{addr4a}, Gateway4: gw4a, MTU: 1500},
		New:       handoff.Config{IPv4: []netip.Prefix{addr4b}, Gateway4: gw4b, MTU: 1500},
		Interface: "wwan0", RouteMetric: 700,
	}
	want := `{"time":"2026-11-25T10:00:00.123Z","session":0,"from":"HSDPA","to":"LTE",` +
		`"outcome":"readdressed","duration_seconds":0.00042,` +
		`"steps":["packet-service","session","packet-service","addr-del 198.51.100.2/30","addr-add 198.51.100.6/30",` +
		`"route-replace default","link-down","link-up","packet-service"],` +
		`"old":{"ipv4":["198.51.100.2/30"]},"new":{"ipv4":["198.51.100.6/30"]},"reason":""}`
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
}

func TestHandoffEventJSONEdges(t *testing.T) {
	// A failed handoff with no steps, dual stack before, nothing after, a
	// reason that needs escaping, a duration of a nanosecond.
	ev := handoff.Event{Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600)),
		Type: handoff.EventHandoff, Session: 3, From: "LTE", To: "", Outcome: handoff.Failed,
		Duration: time.Nanosecond, Old: handoff.Config{IPv4: []netip.Prefix{addr4a}, IPv6: []netip.Prefix{addr6a}},
		Reason: `connect: "BUSY"`}
	want := `{"time":"2026-01-02T02:04:05.000Z","session":3,"from":"LTE","to":"","outcome":"failed",` +
		`"duration_seconds":0.000000001,"steps":[],"old":{"ipv4":["198.51.100.2/30"],"ipv6":["2001:db8:1::2/64"]},` +
		`"new":{},"reason":"connect: \"BUSY\""}`
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
}

func TestOtherEventsJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		ev   handoff.Event
		want string
	}{
		{handoff.Event{Time: at, Type: handoff.EventPacketService, PacketService: attached(mbim.DataClass5gNsa)},
			`{"time":"2026-11-25T10:00:00.000Z","event":"packet-service","session":0,"state":"ATTACHED","data_class":"5G_NSA","uplink_bps":50000000,"downlink_bps":150000000,"nw_error":"NONE"}`},
		{handoff.Event{Time: at, Type: handoff.EventSession, ActivationState: mbim.ActivationStateDeactivated, NwError: 36},
			`{"time":"2026-11-25T10:00:00.000Z","event":"session","session":0,"activation_state":"DEACTIVATED","nw_error":"36"}`},
		{handoff.Event{Time: at, Type: handoff.EventLink, LinkUp: true},
			`{"time":"2026-11-25T10:00:00.000Z","event":"link","session":0,"link":"up"}`},
		{handoff.Event{Time: at, Type: handoff.EventConfig, New: dual(addr4a, gw4a, addr6a).Config()},
			`{"time":"2026-11-25T10:00:00.000Z","event":"config","session":0,"ipv4":["198.51.100.2/30"],"ipv6":["2001:db8:1::2/64"],"gateway4":"198.51.100.1","gateway6":"fe80::1","dns":["192.0.2.53","2001:db8::53"],"mtu":1500}`},
		{handoff.Event{Time: at, Type: handoff.EventConfig},
			`{"time":"2026-11-25T10:00:00.000Z","event":"config","session":0,"ipv4":[],"ipv6":[],"dns":[],"mtu":0}`},
	} {
		b, err := json.Marshal(c.ev)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("got\n%s\nwant\n%s", b, c.want)
		}
	}
}

func TestHandoffEventEnv(t *testing.T) {
	ev := handoff.Event{
		Time: time.Date(2026, 11, 25, 10, 0, 0, 123_000_000, time.UTC), Type: handoff.EventHandoff,
		Interface: "wwan0", Session: 1, From: "HSDPA", To: "LTE", Outcome: handoff.Readdressed,
		Duration: 420 * time.Microsecond, Steps: []string{"packet-service", "addr-add 198.51.100.6/30"},
		Old: ipv4Only(addr4a, gw4a).Config(), New: dual(addr4b, gw4b, addr6a).Config(),
		RouteMetric: 700, RouteTable: 254,
	}
	got := ev.Env()
	for _, want := range []string{
		"WWAN_EVENT=handoff", "WWAN_TIME=2026-11-25T10:00:00.123Z", "WWAN_IFACE=wwan0", "WWAN_SESSION=1",
		"WWAN_DHCP=0", "WWAN_ROUTE_METRIC=700", "WWAN_ROUTE_TABLE=254",
		"WWAN_OUTCOME=readdressed", "WWAN_FROM=HSDPA", "WWAN_TO=LTE", "WWAN_DURATION=0.00042",
		"WWAN_STEPS=packet-service\naddr-add 198.51.100.6/30", "WWAN_OLD_IPV4=198.51.100.2/30", "WWAN_OLD_IPV6=",
		"WWAN_REASON=", "WWAN_IPV4=198.51.100.6/30", "WWAN_IPV6=2001:db8:1::2/64",
		"WWAN_GATEWAY4=198.51.100.5", "WWAN_GATEWAY6=fe80::1", "WWAN_DNS=192.0.2.53 2001:db8::53", "WWAN_MTU=1500",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("env lacks %q; env: %q", want, got)
		}
	}
	ps := handoff.Event{Type: handoff.EventPacketService, PacketService: attached(mbim.DataClassUmts)}.Env()
	for _, want := range []string{"WWAN_EVENT=packet-service", "WWAN_STATE=ATTACHED", "WWAN_DATA_CLASS=UMTS",
		"WWAN_UPLINK=50000000", "WWAN_DOWNLINK=150000000", "WWAN_NW_ERROR=NONE"} {
		if !slices.Contains(ps, want) {
			t.Errorf("packet-service env lacks %q: %q", want, ps)
		}
	}
	link := handoff.Event{Type: handoff.EventLink}.Env()
	if !slices.Contains(link, "WWAN_LINK=down") {
		t.Errorf("link env %q", link)
	}
}
