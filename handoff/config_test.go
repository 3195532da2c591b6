package handoff_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
)

func TestIPConfigurationFromOwnsItsData(t *testing.T) {
	in := mbim.IPConfigurationInfo{
		SessionId:                  2,
		IPv4ConfigurationAvailable: allFlags,
		IPv6ConfigurationAvailable: mbim.IPConfigurationAvailableAddress | mbim.IPConfigurationAvailableDns,
		IPv4Addresses: []mbim.IPv4Element{{OnLinkPrefixLength: 30, IPv4Address: addr4a.Addr()},
			{OnLinkPrefixLength: 99, IPv4Address: addr4b.Addr()}}, // out of range: left out
		IPv6Addresses:  []mbim.IPv6Element{{OnLinkPrefixLength: 64, IPv6Address: addr6a.Addr()}},
		IPv4Gateway:    gw4a,
		IPv6Gateway:    gw6, // not flagged: ignored by Config
		IPv4DnsServers: []netip.Addr{dns4, netip.IPv4Unspecified()},
		IPv6DnsServers: []netip.Addr{dns6},
		IPv4Mtu:        1500,
		IPv6Mtu:        1280, // not flagged
	}
	// Round trip through the wire, as the client would decode it.
	b, err := in.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	var dec mbim.IPConfigurationInfo
	if err := dec.Decode(b); err != nil {
		t.Fatal(err)
	}
	got := handoff.IPConfigurationFrom(&dec)
	dec.IPv4Addresses[0].IPv4Address = netip.MustParseAddr("10.9.9.9") // the client reuses its storage
	dec.IPv4DnsServers[0] = netip.MustParseAddr("10.9.9.9")
	if got.Session != 2 || !slices.Equal(got.IPv4.Addresses, []netip.Prefix{addr4a}) ||
		!slices.Equal(got.IPv4.DNS, []netip.Addr{dns4}) || got.IPv4.MTU != 1500 {
		t.Errorf("IPv4: %+v", got.IPv4)
	}
	c := got.Config()
	want := handoff.Config{IPv4: []netip.Prefix{addr4a}, IPv6: []netip.Prefix{addr6a}, Gateway4: gw4a,
		DNS: []netip.Addr{dns4, dns6}, MTU: 1500}
	if !c.Equal(want) {
		t.Errorf("Config() = %+v, want %+v", c, want)
	}
}

func TestMergeByFlags(t *testing.T) {
	start := dual(addr4a, gw4a, addr6a)
	// An IPv6-only indication: IPv4 stays.
	m := start.Merge(handoff.IPConfiguration{IPv6: v6(addr6b)})
	if c := m.Config(); !slices.Equal(c.IPv4, []netip.Prefix{addr4a}) || !slices.Equal(c.IPv6, []netip.Prefix{addr6b}) {
		t.Errorf("v6 merge: %+v", c)
	}
	// Only DNS flagged for IPv4: the address stays, DNS changes.
	m = m.Merge(handoff.IPConfiguration{IPv4: handoff.FamilyConfig{Available: mbim.IPConfigurationAvailableDns,
		DNS: []netip.Addr{netip.MustParseAddr("192.0.2.54")}}})
	if c := m.Config(); !slices.Equal(c.IPv4, []netip.Prefix{addr4a}) ||
		!slices.Equal(c.DNS, []netip.Addr{netip.MustParseAddr("192.0.2.54"), dns6}) {
		t.Errorf("dns merge: %+v", c)
	}
	// ADDRESS flagged with no address: the family is gone.
	m = m.Merge(handoff.IPConfiguration{IPv6: handoff.FamilyConfig{Available: mbim.IPConfigurationAvailableAddress}})
	if c := m.Config(); len(c.IPv6) != 0 || len(c.IPv4) != 1 {
		t.Errorf("removal: %+v", c)
	}
	// An empty indication changes nothing.
	if !m.Merge(handoff.IPConfiguration{}).Config().Equal(m.Config()) {
		t.Error("empty merge changed something")
	}
}

func TestConfigMTU(t *testing.T) {
	c := handoff.IPConfiguration{
		IPv4: handoff.FamilyConfig{Available: mbim.IPConfigurationAvailableMtu, MTU: 1500},
		IPv6: handoff.FamilyConfig{Available: mbim.IPConfigurationAvailableMtu, MTU: 1430},
	}
	if m := c.Config().MTU; m != 1430 {
		t.Errorf("MTU %d, want the smaller 1430", m)
	}
	c.IPv6.Available = 0
	if m := c.Config().MTU; m != 1500 {
		t.Errorf("MTU %d, want 1500 (IPv6 MTU not flagged)", m)
	}
}

func TestDataClassNames(t *testing.T) {
	for _, c := range []struct {
		dc   mbim.DataClass
		want string
	}{
		{0, ""},
		{mbim.DataClassGprs, "GPRS"},
		{mbim.DataClassEdge, "EDGE"},
		{mbim.DataClassUmts, "UMTS"},
		{mbim.DataClassHsdpa, "HSDPA"},
		{mbim.DataClassHsdpa | mbim.DataClassHsupa, "HSUPA"},
		{mbim.DataClassLte, "LTE"},
		{mbim.DataClassLte | mbim.DataClass5gNsa, "5G_NSA"},
		{mbim.DataClass5gSa, "5G_SA"},
		{mbim.DataClass5gNsa | mbim.DataClass5gSa, "5G"},
		{mbim.DataClass1xrtt, "1XRTT"},
		{mbim.DataClass1xevdo, "1XEVDO"},
		{mbim.DataClass1xevdoReva, "1XEVDO_REVA"},
		{mbim.DataClassCustom, "CUSTOM"},
		{0x100, "0x100"},
	} {
		if got := handoff.DataClassName(c.dc); got != c.want {
			t.Errorf("DataClassName(%v) = %q, want %q", c.dc, got, c.want)
		}
	}
}

func TestPacketServiceConverters(t *testing.T) {
	v1 := handoff.PacketServiceFrom(mbim.PacketServiceInfo{NwError: 0, PacketServiceState: mbim.PacketServiceStateAttached,
		HighestAvailableDataClass: mbim.DataClassHsdpa, UplinkSpeed: 1, DownlinkSpeed: 2})
	v2 := handoff.PacketServiceFromV2(mbim.PacketServiceInfoV2{PacketServiceState: mbim.PacketServiceStateAttached,
		CurrentDataClass: mbim.DataClassHsdpa, UplinkSpeed: 1, DownlinkSpeed: 2, FrequencyRange: 1})
	v3 := handoff.PacketServiceFromV3(mbim.PacketServiceInfoV3{PacketServiceState: mbim.PacketServiceStateAttached,
		HighestAvailableDataClass: mbim.DataClassV3Hsdpa, UplinkSpeed: 1, DownlinkSpeed: 2})
	if v1 != v2 || v2 != v3 || v1.Class() != "HSDPA" || v1.Uplink != 1 || v1.Downlink != 2 {
		t.Errorf("v1 %+v v2 %+v v3 %+v", v1, v2, v3)
	}
	for _, c := range []struct {
		sub  mbim.DataSubclass
		want string
	}{
		{mbim.DataSubclass5gEndc, "5G_NSA"},
		{mbim.DataSubclass5gNr, "5G_SA"},
		{mbim.DataSubclass5gNr | mbim.DataSubclass5gEndc, "5G_NSA"},
		{0, "5G"},
	} {
		p := handoff.PacketServiceFromV3(mbim.PacketServiceInfoV3{HighestAvailableDataClass: mbim.DataClassV35g | mbim.DataClassV3Lte,
			DataSubclass: c.sub})
		if p.Class() != c.want || p.DataClass&mbim.DataClassLte == 0 {
			t.Errorf("5G with subclass %v: %v %q, want %q", c.sub, p.DataClass, p.Class(), c.want)
		}
	}
}

func TestSessionAndRegisterConverters(t *testing.T) {
	s1 := handoff.SessionFrom(mbim.ConnectInfo{SessionId: 1, ActivationState: mbim.ActivationStateDeactivated, NwError: 36})
	s3 := handoff.SessionFromV3(mbim.ConnectInfoV3{SessionId: 1, ActivationState: mbim.ActivationStateDeactivated, NwError: 36})
	if s1 != s3 || s1.Active() || s1.NwError != 36 {
		t.Errorf("%+v %+v", s1, s3)
	}
	r1 := handoff.RegisterFrom(mbim.RegisterStateInfo{RegisterState: mbim.RegisterStateSearching})
	r2 := handoff.RegisterFromV2(mbim.RegisterStateInfoV2{RegisterState: mbim.RegisterStateRoaming})
	if r1.Registered() || !r2.Registered() || !(handoff.Register{}).Registered() {
		t.Errorf("%+v %+v", r1, r2)
	}
}
