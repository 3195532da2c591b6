package handoff

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/gowwan/wwan/mbim"
)

// Input is one thing the engine is fed: PacketService, Session,
// IPConfiguration, Register, TransportLost or TransportBack. The engine
// takes ownership of the slices inside an input given to Engine.Handle.
type Input interface{ input() }

// PacketService is a PACKET_SERVICE indication or response, whatever the
// MBIMEx version.
type PacketService struct {
	State mbim.PacketServiceState
	// DataClass is the current (highest available) data class as
	// mbim.DataClass bits. MBIMEx 3.0's single "5G" bit is mapped to
	// 5G_NSA or 5G_SA from the data subclass, or to both bits when the
	// subclass does not say (DataClassName then gives "5G").
	DataClass        mbim.DataClass
	Uplink, Downlink uint64 // bit/s
	NwError          mbim.NwError
}

// Class is the name of the data class, as in events (see DataClassName).
func (p PacketService) Class() string { return DataClassName(p.DataClass) }

// Session is a CONNECT indication or response for one session.
type Session struct {
	ID              uint32
	ActivationState mbim.ActivationState
	NwError         mbim.NwError
}

// Active reports an ACTIVATED session.
func (s Session) Active() bool { return s.ActivationState == mbim.ActivationStateActivated }

// Register is a REGISTER_STATE indication or response.
type Register struct {
	State   mbim.RegisterState
	NwError mbim.NwError
}

// Registered reports whether the state lets the engine try to connect:
// every state but DEREGISTERED, SEARCHING and DENIED (UNKNOWN does not
// hold the engine back: some modems report it while registered).
func (r Register) Registered() bool {
	switch r.State {
	case mbim.RegisterStateDeregistered, mbim.RegisterStateSearching, mbim.RegisterStateDenied:
		return false
	}
	return true
}

// TransportLost tells the engine that the control channel is gone (modem
// reset, unplug). The engine holds the host as it is until TransportBack.
type TransportLost struct{ Reason string }

// TransportBack tells the engine that the client has reopened the device
// and subscribed again: the engine queries the modem, reads the host once
// and reconciles.
type TransportBack struct{}

func (PacketService) input()   {}
func (Session) input()         {}
func (IPConfiguration) input() {}
func (Register) input()        {}
func (TransportLost) input()   {}
func (TransportBack) input()   {}

// IPConfiguration is an IP_CONFIGURATION indication or response for one
// session. Each family carries the availability flags it came with: a
// value is meaningful only when its flag is set.
type IPConfiguration struct {
	Session    uint32
	IPv4, IPv6 FamilyConfig
}

// FamilyConfig is one address family of an IP_CONFIGURATION.
type FamilyConfig struct {
	Available mbim.IPConfigurationAvailable
	Addresses []netip.Prefix // with ADDRESS
	Gateway   netip.Addr     // with GATEWAY; invalid when the modem gave none
	DNS       []netip.Addr   // with DNS
	MTU       int            // with MTU
}

// Merge returns c updated with what n says: for each family, each value
// whose availability flag is set in n replaces c's; the others stay. A
// family or a value n does not flag is not removed: modems send IPv4 and
// IPv6 in separate indications, each with only its own flags.
func (c IPConfiguration) Merge(n IPConfiguration) IPConfiguration {
	c.Session = n.Session
	c.IPv4 = c.IPv4.merge(n.IPv4)
	c.IPv6 = c.IPv6.merge(n.IPv6)
	return c
}

func (f FamilyConfig) merge(n FamilyConfig) FamilyConfig {
	if n.Available&mbim.IPConfigurationAvailableAddress != 0 {
		f.Addresses = n.Addresses
	}
	if n.Available&mbim.IPConfigurationAvailableGateway != 0 {
		f.Gateway = n.Gateway
	}
	if n.Available&mbim.IPConfigurationAvailableDns != 0 {
		f.DNS = n.DNS
	}
	if n.Available&mbim.IPConfigurationAvailableMtu != 0 {
		f.MTU = n.MTU
	}
	f.Available |= n.Available
	return f
}

// HasAddress reports whether either family flags its addresses as known.
func (c IPConfiguration) HasAddress() bool {
	return (c.IPv4.Available|c.IPv6.Available)&mbim.IPConfigurationAvailableAddress != 0
}

// Config is the configuration the host should have: only the flagged
// values, DNS servers IPv4 first, and one MTU for the link: the smaller of
// the two families' when both are given (an IPv6 MTU below the IPv4 one
// must not be exceeded; the link has one MTU).
func (c IPConfiguration) Config() Config {
	var out Config
	const (
		addr = mbim.IPConfigurationAvailableAddress
		gw   = mbim.IPConfigurationAvailableGateway
		dns  = mbim.IPConfigurationAvailableDns
		mtu  = mbim.IPConfigurationAvailableMtu
	)
	if c.IPv4.Available&addr != 0 && len(c.IPv4.Addresses) > 0 {
		out.IPv4 = slices.Clone(c.IPv4.Addresses)
	}
	if c.IPv6.Available&addr != 0 && len(c.IPv6.Addresses) > 0 {
		out.IPv6 = slices.Clone(c.IPv6.Addresses)
	}
	if c.IPv4.Available&gw != 0 {
		out.Gateway4 = c.IPv4.Gateway
	}
	if c.IPv6.Available&gw != 0 {
		out.Gateway6 = c.IPv6.Gateway
	}
	if c.IPv4.Available&dns != 0 {
		out.DNS = append(out.DNS, c.IPv4.DNS...)
	}
	if c.IPv6.Available&dns != 0 {
		out.DNS = append(out.DNS, c.IPv6.DNS...)
	}
	for _, f := range [...]FamilyConfig{c.IPv4, c.IPv6} {
		if f.Available&mtu != 0 && f.MTU > 0 && (out.MTU == 0 || f.MTU < out.MTU) {
			out.MTU = f.MTU
		}
	}
	return out
}

// IPConfigurationFrom converts a decoded IP_CONFIGURATION. The result owns
// its slices (the decoded message's storage is reused by the client).
// Addresses with an out-of-range prefix length are left out.
func IPConfigurationFrom(m *mbim.IPConfigurationInfo) IPConfiguration {
	c := IPConfiguration{Session: m.SessionId}
	c.IPv4 = FamilyConfig{
		Available: m.IPv4ConfigurationAvailable,
		Gateway:   m.IPv4Gateway,
		DNS:       validAddrs(m.IPv4DnsServers),
		MTU:       int(min(m.IPv4Mtu, 1<<20)),
	}
	for _, e := range m.IPv4Addresses {
		if p := e.Prefix(); p.IsValid() {
			c.IPv4.Addresses = append(c.IPv4.Addresses, p)
		}
	}
	c.IPv6 = FamilyConfig{
		Available: m.IPv6ConfigurationAvailable,
		Gateway:   m.IPv6Gateway,
		DNS:       validAddrs(m.IPv6DnsServers),
		MTU:       int(min(m.IPv6Mtu, 1<<20)),
	}
	for _, e := range m.IPv6Addresses {
		if p := e.Prefix(); p.IsValid() {
			c.IPv6.Addresses = append(c.IPv6.Addresses, p)
		}
	}
	return c
}

func validAddrs(in []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range in {
		if a.IsValid() && !a.IsUnspecified() {
			out = append(out, a)
		}
	}
	return out
}

// PacketServiceFrom converts a PACKET_SERVICE response or indication of
// MBIM 1.0.
func PacketServiceFrom(m mbim.PacketServiceInfo) PacketService {
	return PacketService{State: m.PacketServiceState, DataClass: m.HighestAvailableDataClass,
		Uplink: m.UplinkSpeed, Downlink: m.DownlinkSpeed, NwError: m.NwError}
}

// PacketServiceFromV2 converts a PACKET_SERVICE of MBIMEx 2.0.
func PacketServiceFromV2(m mbim.PacketServiceInfoV2) PacketService {
	return PacketService{State: m.PacketServiceState, DataClass: m.CurrentDataClass,
		Uplink: m.UplinkSpeed, Downlink: m.DownlinkSpeed, NwError: m.NwError}
}

// PacketServiceFromV3 converts a PACKET_SERVICE of MBIMEx 3.0, mapping its
// "5G" bit and data subclass onto 5G_NSA / 5G_SA (see PacketService).
func PacketServiceFromV3(m mbim.PacketServiceInfoV3) PacketService {
	return PacketService{State: m.PacketServiceState,
		DataClass: DataClassFromV3(m.HighestAvailableDataClass, m.DataSubclass),
		Uplink:    m.UplinkSpeed, Downlink: m.DownlinkSpeed, NwError: m.NwError}
}

// DataClassFromV3 maps MBIMEx 3.0 data class bits to mbim.DataClass bits:
// the same bits, except that "5G" (0x40) becomes 5G_NSA for the EN-DC,
// NE-DC and NGEN-DC subclasses, 5G_SA for NR alone, and both bits when the
// subclass does not tell.
func DataClassFromV3(c mbim.DataClassV3, sub mbim.DataSubclass) mbim.DataClass {
	dc := mbim.DataClass(c) &^ (mbim.DataClass5gNsa | mbim.DataClass5gSa)
	if c&mbim.DataClassV35g != 0 {
		switch {
		case sub&(mbim.DataSubclass5gEndc|mbim.DataSubclass5gNedc|mbim.DataSubclass5gNgendc) != 0:
			dc |= mbim.DataClass5gNsa
		case sub&mbim.DataSubclass5gNr != 0:
			dc |= mbim.DataClass5gSa
		default:
			dc |= mbim.DataClass5gNsa | mbim.DataClass5gSa
		}
	}
	return dc
}

// SessionFrom converts a CONNECT response or indication of MBIM 1.0.
func SessionFrom(m mbim.ConnectInfo) Session {
	return Session{ID: m.SessionId, ActivationState: m.ActivationState, NwError: m.NwError}
}

// SessionFromV3 converts a CONNECT of MBIMEx 3.0.
func SessionFromV3(m mbim.ConnectInfoV3) Session {
	return Session{ID: m.SessionId, ActivationState: m.ActivationState, NwError: m.NwError}
}

// RegisterFrom converts a REGISTER_STATE of MBIM 1.0.
func RegisterFrom(m mbim.RegisterStateInfo) Register {
	return Register{State: m.RegisterState, NwError: m.NwError}
}

// RegisterFromV2 converts a REGISTER_STATE of MBIMEx 2.0 and 3.0.
func RegisterFromV2(m mbim.RegisterStateInfoV2) Register {
	return Register{State: m.RegisterState, NwError: m.NwError}
}

// classNames orders the technologies from the most to the least advanced:
// a data class with several bits set is named after the first that is.
var classNames = [...]struct {
	bits mbim.DataClass
	name string
}{
	{mbim.DataClass5gNsa | mbim.DataClass5gSa, "5G"},
	{mbim.DataClass5gSa, "5G_SA"},
	{mbim.DataClass5gNsa, "5G_NSA"},
	{mbim.DataClassLte, "LTE"},
	{mbim.DataClassHsupa, "HSUPA"},
	{mbim.DataClassHsdpa, "HSDPA"},
	{mbim.DataClassUmts, "UMTS"},
	{mbim.DataClassEdge, "EDGE"},
	{mbim.DataClassGprs, "GPRS"},
	{mbim.DataClassUmb, "UMB"},
	{mbim.DataClass1xevdoRevb, "1XEVDO_REVB"},
	{mbim.DataClass1xevdv, "1XEVDV"},
	{mbim.DataClass1xevdoReva, "1XEVDO_REVA"},
	{mbim.DataClass1xevdo, "1XEVDO"},
	{mbim.DataClass3xrtt, "3XRTT"},
	{mbim.DataClass1xrtt, "1XRTT"},
	{mbim.DataClassCustom, "CUSTOM"},
}

// DataClassName names the most advanced technology in dc with the names
// of mbim.DataClass ("GPRS", "HSDPA", "LTE", "5G_NSA", "1XEVDO_REVA"...),
// "5G" when both 5G bits are set, "" for none, and the hex value for bits
// without a name.
func DataClassName(dc mbim.DataClass) string {
	if dc == 0 {
		return ""
	}
	for _, c := range classNames {
		if dc&c.bits == c.bits {
			return c.name
		}
	}
	return "0x" + strconv.FormatUint(uint64(dc), 16)
}
