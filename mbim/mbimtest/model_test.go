package mbimtest

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
)

func pinSet(t mbim.PinType, op mbim.PinOperation, pin, newPIN string) *mbim.PinSet {
	return &mbim.PinSet{PinType: t, PinOperation: op, Pin: mbim.NewString(pin), NewPin: mbim.NewString(newPIN)}
}

func TestPINStateMachine(t *testing.T) {
	cfg := DefaultSIM()
	cfg.PINEnabled = true
	s := newSim(t, WithSIM(cfg))
	h := dial(t, s)
	h.open(4096)

	var rs mbim.SubscriberReadyStatusInfo
	h.query(mbim.CIDSubscriberReadyStatus, nil, &rs)
	if rs.ReadyState != mbim.SubscriberReadyStateDeviceLocked || rs.SubscriberId != nil || rs.SimIccId.String() != cfg.ICCID {
		t.Fatalf("locked SIM: %+v", rs)
	}
	var reg mbim.RegisterStateInfo
	h.query(mbim.CIDRegisterState, nil, &reg)
	if reg.RegisterState != mbim.RegisterStateDeregistered {
		t.Fatalf("registered with a locked SIM: %v", reg.RegisterState)
	}
	// Commands that need the SIM say so.
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDConnect, mbim.CommandSet,
		&mbim.ConnectSet{ActivationCommand: mbim.ActivationCommandActivate, AccessString: mbim.NewString("internet")}); m.Status() != mbim.StatusPinRequired {
		t.Fatalf("connect with a locked SIM: %v", m.Status())
	}

	var pi mbim.PinInfo
	h.query(mbim.CIDPin, nil, &pi)
	if pi.PinType != mbim.PinTypePin1 || pi.PinState != mbim.PinStateLocked || pi.RemainingAttempts != 3 {
		t.Fatalf("PIN query: %+v", pi)
	}

	// Three wrong PINs: 2, 1, then PUK1 with 10 attempts.
	wantLeft := []struct {
		typ  mbim.PinType
		left uint32
	}{{mbim.PinTypePin1, 2}, {mbim.PinTypePin1, 1}, {mbim.PinTypePuk1, 10}}
	for i, w := range wantLeft {
		m := h.call(mbim.ServiceBasicConnect, mbim.CIDPin, mbim.CommandSet, pinSet(mbim.PinTypePin1, mbim.PinOperationEnter, "0000", ""))
		if m.Status() != mbim.StatusFailure {
			t.Fatalf("wrong PIN %d: %v", i, m.Status())
		}
		if err := pi.Decode(m.InformationBuffer()); err != nil || pi.PinType != w.typ || pi.RemainingAttempts != w.left {
			t.Fatalf("wrong PIN %d: %+v %v", i, pi, err)
		}
	}
	if st := s.SIM(); st.Lock != PUKRequired || st.PINAttempts != 0 {
		t.Fatalf("after 3 wrong PINs: %+v", st)
	}
	// The right PIN no longer helps.
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDPin, mbim.CommandSet, pinSet(mbim.PinTypePin1, mbim.PinOperationEnter, cfg.PIN, "")); m.Status() != mbim.StatusFailure {
		t.Fatalf("PIN while PUK required: %v", m.Status())
	}
	// A wrong PUK costs a PUK attempt.
	m := h.call(mbim.ServiceBasicConnect, mbim.CIDPin, mbim.CommandSet, pinSet(mbim.PinTypePuk1, mbim.PinOperationEnter, "00000000", "4321"))
	if err := pi.Decode(m.InformationBuffer()); m.Status() != mbim.StatusFailure || err != nil || pi.RemainingAttempts != 9 {
		t.Fatalf("wrong PUK: %v %+v", m.Status(), pi)
	}
	h.inds = nil
	// The right PUK sets the new PIN and unlocks; the SIM, the
	// registration and the packet service come up and are indicated.
	h.set(mbim.CIDPin, pinSet(mbim.PinTypePuk1, mbim.PinOperationEnter, cfg.PUK, "4321"), &pi)
	if pi.PinState != mbim.PinStateUnlocked {
		t.Fatalf("after PUK: %+v", pi)
	}
	got := cidNames(h.takeSynced())
	want := []string{"SUBSCRIBER_READY_STATUS", "REGISTER_STATE", "PACKET_SERVICE"}
	if !slices.Equal(got, want) {
		t.Fatalf("indications after unlock: %v, want %v", got, want)
	}
	if st := s.SIM(); st.Lock != Unlocked || st.PIN != "4321" || st.PINAttempts != 3 || st.PUKAttempts != 10 {
		t.Fatalf("after PUK: %+v", st)
	}

	// Change, disable, enable.
	h.set(mbim.CIDPin, pinSet(mbim.PinTypePin1, mbim.PinOperationChange, "4321", "5678"), nil)
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDPin, mbim.CommandSet, pinSet(mbim.PinTypePin1, mbim.PinOperationDisable, "4321", "")); m.Status() != mbim.StatusFailure {
		t.Fatalf("disable with the old PIN: %v", m.Status())
	}
	h.set(mbim.CIDPin, pinSet(mbim.PinTypePin1, mbim.PinOperationDisable, "5678", ""), nil)
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDPin, mbim.CommandSet, pinSet(mbim.PinTypePin1, mbim.PinOperationChange, "5678", "1111")); m.Status() != mbim.StatusPinDisabled {
		t.Fatalf("change while disabled: %v", m.Status())
	}
	var pl mbim.PinListInfo
	h.query(mbim.CIDPinList, nil, &pl)
	if pl.PinDescPin1.PinMode != mbim.PinModeDisabled {
		t.Fatalf("PIN list: %+v", pl.PinDescPin1)
	}
	// A reset with PIN1 disabled leaves the SIM ready.
	h.set(mbim.CIDPin, pinSet(mbim.PinTypePin1, mbim.PinOperationEnable, "5678", ""), nil)
	h.query(mbim.CIDPinList, nil, &pl)
	if pl.PinDescPin1.PinMode != mbim.PinModeEnabled {
		t.Fatalf("PIN list: %+v", pl.PinDescPin1)
	}
	if err := s.Reset(ResetOptions{}); err != nil {
		t.Fatal(err)
	}
	h.open(4096)
	h.query(mbim.CIDPin, nil, &pi)
	if pi.PinType != mbim.PinTypePin1 || pi.PinState != mbim.PinStateLocked {
		t.Fatalf("after reset with PIN enabled: %+v", pi)
	}
}

func TestPUKExhausted(t *testing.T) {
	cfg := DefaultSIM()
	cfg.PINEnabled = true
	s := newSim(t, WithSIM(cfg))
	h := dial(t, s)
	h.open(4096)
	for range 3 {
		h.call(mbim.ServiceBasicConnect, mbim.CIDPin, mbim.CommandSet, pinSet(mbim.PinTypePin1, mbim.PinOperationEnter, "9999", ""))
	}
	for range 10 {
		h.call(mbim.ServiceBasicConnect, mbim.CIDPin, mbim.CommandSet, pinSet(mbim.PinTypePuk1, mbim.PinOperationEnter, "00000000", "1234"))
	}
	if st := s.SIM(); st.Lock != Blocked || st.Ready != mbim.SubscriberReadyStateBadSim {
		t.Fatalf("after 10 wrong PUKs: %+v", st)
	}
	m := h.call(mbim.ServiceBasicConnect, mbim.CIDPin, mbim.CommandSet, pinSet(mbim.PinTypePuk1, mbim.PinOperationEnter, cfg.PUK, "1234"))
	if m.Status() != mbim.StatusBadSim {
		t.Fatalf("right PUK on a dead card: %v", m.Status())
	}
}

func TestNoSIM(t *testing.T) {
	s := newSim(t, WithSIM(SIMConfig{Absent: true}))
	h := dial(t, s)
	h.open(4096)
	var rs mbim.SubscriberReadyStatusInfo
	h.query(mbim.CIDSubscriberReadyStatus, nil, &rs)
	if rs.ReadyState != mbim.SubscriberReadyStateSimNotInserted {
		t.Fatalf("ready state %v", rs.ReadyState)
	}
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDPin, mbim.CommandQuery, nil); m.Status() != mbim.StatusSimNotInserted {
		t.Fatalf("PIN without SIM: %v", m.Status())
	}
	// Inserting a card brings the modem up.
	if err := s.SetSIM(DefaultSIM()); err != nil {
		t.Fatal(err)
	}
	if got := cidNames(h.takeSynced()); !slices.Equal(got, []string{"SUBSCRIBER_READY_STATUS", "REGISTER_STATE", "PACKET_SERVICE"}) {
		t.Fatalf("indications %v", got)
	}
}

func TestRadio(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	connectInternet(t, h, 0)
	var rs mbim.RadioStateInfo
	h.set(mbim.CIDRadioState, &mbim.RadioStateSet{RadioState: mbim.RadioSwitchStateOff}, &rs)
	if rs.HwRadioState != mbim.RadioSwitchStateOn || rs.SwRadioState != mbim.RadioSwitchStateOff {
		t.Fatalf("radio %+v", rs)
	}
	// Tear-down is indicated top-down; RADIO_STATE is the requester's and
	// is not indicated.
	got := cidNames(h.takeSynced())
	want := []string{"CONNECT", "PACKET_SERVICE", "REGISTER_STATE", "SIGNAL_STATE"}
	if !slices.Equal(got, want) {
		t.Fatalf("indications %v, want %v", got, want)
	}
	var sig mbim.SignalStateInfo
	h.query(mbim.CIDSignalState, nil, &sig)
	if sig.Rssi != 99 {
		t.Errorf("RSSI with the radio off: %d", sig.Rssi)
	}
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDVisibleProviders, mbim.CommandQuery, &mbim.VisibleProvidersQuery{}); m.Status() != mbim.StatusRadioPowerOff {
		t.Errorf("scan with the radio off: %v", m.Status())
	}
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDPacketService, mbim.CommandSet, &mbim.PacketServiceSet{}); m.Status() != mbim.StatusRadioPowerOff {
		t.Errorf("attach with the radio off: %v", m.Status())
	}
	h.set(mbim.CIDRadioState, &mbim.RadioStateSet{RadioState: mbim.RadioSwitchStateOn}, &rs)
	got = cidNames(h.takeSynced())
	want = []string{"REGISTER_STATE", "PACKET_SERVICE", "SIGNAL_STATE"}
	if !slices.Equal(got, want) {
		t.Fatalf("indications %v, want %v", got, want)
	}
	// The hardware switch is indicated, RADIO_STATE included.
	if err := s.SetHardwareRadio(false); err != nil {
		t.Fatal(err)
	}
	got = cidNames(h.takeSynced())
	if got[0] != "RADIO_STATE" {
		t.Fatalf("indications %v", got)
	}
	if hw, sw := s.Radio(); hw || !sw {
		t.Fatalf("radio hw %v sw %v", hw, sw)
	}
}

func TestRegistrationAndProviders(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	var reg mbim.RegisterStateInfo
	h.query(mbim.CIDRegisterState, nil, &reg)
	n := DefaultNetwork()
	if reg.RegisterState != mbim.RegisterStateHome || reg.ProviderId.String() != n.Home.ID ||
		reg.ProviderName.String() != n.Home.Name || reg.AvailableDataClasses != mbim.DataClassLte ||
		reg.RegisterMode != mbim.RegisterModeAutomatic || reg.CurrentCellularClass != mbim.CellularClassGsm {
		t.Fatalf("register state %+v", reg)
	}
	var home mbim.HomeProviderInfo
	h.query(mbim.CIDHomeProvider, nil, &home)
	if home.Provider.ProviderId.String() != n.Home.ID || home.Provider.ProviderState&mbim.ProviderStateHome == 0 {
		t.Fatalf("home %+v", home.Provider)
	}
	var vis mbim.VisibleProvidersInfo
	h.query(mbim.CIDVisibleProviders, &mbim.VisibleProvidersQuery{}, &vis)
	if len(vis.Providers) != 3 || vis.Providers[0].ProviderState != mbim.ProviderStateHome|mbim.ProviderStateVisible|mbim.ProviderStateRegistered {
		t.Fatalf("visible %+v", vis.Providers)
	}

	// Manual registration on the partner network: roaming.
	h.set(mbim.CIDRegisterState, &mbim.RegisterStateSet{ProviderId: mbim.NewString("00102"), RegisterAction: mbim.RegisterActionManual}, &reg)
	if reg.RegisterState != mbim.RegisterStateRoaming || reg.ProviderId.String() != "00102" || reg.RegisterMode != mbim.RegisterModeManual {
		t.Fatalf("manual: %+v", reg)
	}
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDRegisterState, mbim.CommandSet,
		&mbim.RegisterStateSet{ProviderId: mbim.NewString("99999"), RegisterAction: mbim.RegisterActionManual}); m.Status() != mbim.StatusProviderNotVisible {
		t.Fatalf("invisible network: %v", m.Status())
	}
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDRegisterState, mbim.CommandSet,
		&mbim.RegisterStateSet{ProviderId: mbim.NewString("00103"), RegisterAction: mbim.RegisterActionManual}); m.Status() != mbim.StatusFailure {
		t.Fatalf("forbidden network: %v", m.Status())
	}
	h.set(mbim.CIDRegisterState, &mbim.RegisterStateSet{RegisterAction: mbim.RegisterActionAutomatic}, &reg)
	if reg.RegisterState != mbim.RegisterStateHome {
		t.Fatalf("automatic: %+v", reg)
	}

	// Preferred providers: set, query, indicated when changed by the Sim.
	h.set(mbim.CIDPreferredProviders, &mbim.PreferredProvidersInfo{Providers: []mbim.Provider{{ProviderId: mbim.NewString("00102"), ProviderName: mbim.NewString("P")}}}, nil)
	var pref mbim.PreferredProvidersInfo
	h.query(mbim.CIDPreferredProviders, nil, &pref)
	if len(pref.Providers) != 1 || pref.Providers[0].ProviderId.String() != "00102" {
		t.Fatalf("preferred %+v", pref)
	}

	// Network-side changes.
	h.inds = nil
	for _, tc := range []struct {
		state mbim.RegisterState
		cause mbim.NwError
	}{
		{mbim.RegisterStateSearching, 0},
		{mbim.RegisterStateDenied, mbim.NwErrorPlmnNotAllowed},
		{mbim.RegisterStateRoaming, 0},
		{mbim.RegisterStateHome, 0},
	} {
		if err := s.SetRegisterState(tc.state, tc.cause); err != nil {
			t.Fatal(err)
		}
		inds := h.takeSynced()
		var ri mbim.RegisterStateInfo
		found := false
		for _, m := range inds {
			if m.CID() == mbim.CIDRegisterState {
				found = true
				if err := ri.Decode(m.InformationBuffer()); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !found || ri.RegisterState != tc.state || ri.NwError != tc.cause {
			t.Fatalf("%v: indications %v, %+v", tc.state, cidNames(inds), ri)
		}
	}
}

func TestPacketService(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	var ps mbim.PacketServiceInfo
	h.query(mbim.CIDPacketService, nil, &ps)
	if ps.PacketServiceState != mbim.PacketServiceStateAttached || ps.HighestAvailableDataClass != mbim.DataClassLte ||
		ps.DownlinkSpeed != 150_000_000 || ps.UplinkSpeed != 50_000_000 {
		t.Fatalf("packet service %+v", ps)
	}
	connectInternet(t, h, 0)
	h.set(mbim.CIDPacketService, &mbim.PacketServiceSet{PacketServiceAction: mbim.PacketServiceActionDetach}, &ps)
	if ps.PacketServiceState != mbim.PacketServiceStateDetached || ps.DownlinkSpeed != 0 {
		t.Fatalf("detached %+v", ps)
	}
	if got := cidNames(h.takeSynced()); !slices.Equal(got, []string{"CONNECT"}) {
		t.Fatalf("indications after detach: %v", got)
	}
	m := h.call(mbim.ServiceBasicConnect, mbim.CIDConnect, mbim.CommandSet,
		&mbim.ConnectSet{ActivationCommand: mbim.ActivationCommandActivate, AccessString: mbim.NewString("internet")})
	if m.Status() != mbim.StatusPacketServiceDetached {
		t.Fatalf("connect while detached: %v", m.Status())
	}
	h.set(mbim.CIDPacketService, &mbim.PacketServiceSet{PacketServiceAction: mbim.PacketServiceActionAttach}, &ps)
	if ps.PacketServiceState != mbim.PacketServiceStateAttached {
		t.Fatalf("attached %+v", ps)
	}
	// Network detach with a cause.
	if err := s.Detach(mbim.NwErrorImplicitlyDetached); err != nil {
		t.Fatal(err)
	}
	inds := h.takeSynced()
	if len(inds) != 1 || inds[0].CID() != mbim.CIDPacketService {
		t.Fatalf("indications %v", cidNames(inds))
	}
	if err := ps.Decode(inds[0].InformationBuffer()); err != nil || ps.NwError != mbim.NwErrorImplicitlyDetached {
		t.Fatalf("detach indication %+v %v", ps, err)
	}
	if err := s.Attach(); err != nil {
		t.Fatal(err)
	}
	// A network that wants a manual attach.
	n := DefaultNetwork()
	n.ManualAttach = true
	s2 := newSim(t, WithNetwork(n))
	if s2.PacketService().State != mbim.PacketServiceStateDetached {
		t.Fatalf("manual attach network: %+v", s2.PacketService())
	}
	if err := s2.Attach(); err != nil || s2.PacketService().State != mbim.PacketServiceStateAttached {
		t.Fatalf("attach: %v %+v", err, s2.PacketService())
	}
}

// connectInternet activates a session with the default APN and returns the
// response.
func connectInternet(t *testing.T, h *host, id uint32) mbim.ConnectInfo {
	t.Helper()
	var ci mbim.ConnectInfo
	h.set(mbim.CIDConnect, &mbim.ConnectSet{SessionId: id, ActivationCommand: mbim.ActivationCommandActivate,
		AccessString: mbim.NewString("internet"), IpType: mbim.ContextIpTypeIpv4v6, ContextType: ContextInternet}, &ci)
	if ci.ActivationState != mbim.ActivationStateActivated {
		t.Fatalf("connect: %+v", ci)
	}
	return ci
}

func TestConnectAndIPConfiguration(t *testing.T) {
	clock := time.Unix(1_700_000_000, 0)
	now := func() time.Time { return clock }
	s := newSim(t, WithClock(now), WithAPNs(
		APN{Name: "internet", IPTypes: mbim.ContextIpTypeIpv4v6},
		APN{Name: "v4only", IPTypes: mbim.ContextIpTypeIpv4},
		APN{Name: "corp", User: "alice", Password: "secret", Auth: mbim.AuthProtocolChap, IPTypes: mbim.ContextIpTypeIpv4},
		APN{Name: "barred", Reject: mbim.NwErrorRequestedServiceOptionNotSubscribed},
	))
	h := dial(t, s)
	h.open(4096)

	ci := connectInternet(t, h, 0)
	if ci.IpType != mbim.ContextIpTypeIpv4v6 || ci.NwError != 0 || ci.ContextType != ContextInternet {
		t.Fatalf("connect %+v", ci)
	}
	var ip mbim.IPConfigurationInfo
	h.query(mbim.CIDIpConfiguration, &mbim.IPConfigurationInfo{SessionId: 0}, &ip)
	want := DefaultAddressPlan(0, 0)
	all := mbim.IPConfigurationAvailableAddress | mbim.IPConfigurationAvailableGateway | mbim.IPConfigurationAvailableDns | mbim.IPConfigurationAvailableMtu
	if ip.IPv4ConfigurationAvailable != all || ip.IPv6ConfigurationAvailable != all ||
		ip.IPv4Addresses[0].Prefix() != want.IPv4 || ip.IPv6Addresses[0].Prefix() != want.IPv6 ||
		ip.IPv4Gateway != want.IPv4Gateway || ip.IPv6Gateway != want.IPv6Gateway ||
		!slices.Equal(ip.IPv4DnsServers, want.IPv4DNS) || !slices.Equal(ip.IPv6DnsServers, want.IPv6DNS) ||
		ip.IPv4Mtu != 1500 || ip.IPv6Mtu != 1500 {
		t.Fatalf("IP configuration %+v", ip)
	}
	if want.IPv4.String() != "198.51.100.2/30" || want.IPv6.String() != "2001:db8::2/64" {
		t.Fatalf("plan %v %v", want.IPv4, want.IPv6)
	}

	// Packet statistics grow while connected.
	var st1, st2 mbim.PacketStatisticsInfo
	h.query(mbim.CIDPacketStatistics, nil, &st1)
	clock = clock.Add(10 * time.Second)
	h.query(mbim.CIDPacketStatistics, nil, &st2)
	if st2.InPackets < st1.InPackets+2000 || st2.OutOctets <= st1.OutOctets {
		t.Fatalf("statistics %+v then %+v", st1, st2)
	}

	// Refusals carry the network's cause.
	for _, tc := range []struct {
		name  string
		set   mbim.ConnectSet
		cause mbim.NwError
	}{
		{"unknown APN", mbim.ConnectSet{SessionId: 1, AccessString: mbim.NewString("nope")}, mbim.NwErrorMissingOrUnknownApn},
		{"IPv6 on an IPv4 APN", mbim.ConnectSet{SessionId: 1, AccessString: mbim.NewString("v4only"), IpType: mbim.ContextIpTypeIpv6}, mbim.NwErrorPdpTypeIpv4OnlyAllowed},
		{"wrong password", mbim.ConnectSet{SessionId: 1, AccessString: mbim.NewString("corp"), UserName: mbim.NewString("alice"),
			Password: mbim.NewString("guess"), AuthProtocol: mbim.AuthProtocolChap}, mbim.NwErrorUserAuthenticationFailed},
		{"barred APN", mbim.ConnectSet{SessionId: 1, AccessString: mbim.NewString("barred")}, mbim.NwErrorRequestedServiceOptionNotSubscribed},
	} {
		set := tc.set
		set.ActivationCommand = mbim.ActivationCommandActivate
		m := h.call(mbim.ServiceBasicConnect, mbim.CIDConnect, mbim.CommandSet, &set)
		var ci mbim.ConnectInfo
		if err := ci.Decode(m.InformationBuffer()); m.Status() != mbim.StatusFailure || err != nil ||
			ci.ActivationState != mbim.ActivationStateDeactivated || ci.NwError != tc.cause {
			t.Errorf("%s: %v %+v %v", tc.name, m.Status(), ci, err)
		}
	}
	// A dual-stack request on an IPv4 APN is granted IPv4, with the cause.
	h.set(mbim.CIDConnect, &mbim.ConnectSet{SessionId: 1, ActivationCommand: mbim.ActivationCommandActivate,
		AccessString: mbim.NewString("V4ONLY"), IpType: mbim.ContextIpTypeIpv4v6}, &ci)
	if ci.IpType != mbim.ContextIpTypeIpv4 || ci.NwError != mbim.NwErrorPdpTypeIpv4OnlyAllowed {
		t.Fatalf("downgrade %+v", ci)
	}
	h.query(mbim.CIDIpConfiguration, &mbim.IPConfigurationInfo{SessionId: 1}, &ip)
	if ip.IPv6ConfigurationAvailable != 0 || len(ip.IPv6Addresses) != 0 || ip.IPv4Addresses[0].Prefix() != DefaultAddressPlan(1, 0).IPv4 {
		t.Fatalf("IPv4-only configuration %+v", ip)
	}
	// The right credentials.
	h.set(mbim.CIDConnect, &mbim.ConnectSet{SessionId: 2, ActivationCommand: mbim.ActivationCommandActivate,
		AccessString: mbim.NewString("corp"), UserName: mbim.NewString("alice"), Password: mbim.NewString("secret"),
		AuthProtocol: mbim.AuthProtocolChap}, &ci)
	// Out-of-range session.
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDConnect, mbim.CommandQuery, &mbim.ConnectInfo{SessionId: 9}); m.Status() != mbim.StatusInvalidParameters {
		t.Fatalf("session 9: %v", m.Status())
	}

	// Disconnect; a second disconnect is refused.
	h.set(mbim.CIDConnect, &mbim.ConnectSet{SessionId: 0, ActivationCommand: mbim.ActivationCommandDeactivate}, &ci)
	if ci.ActivationState != mbim.ActivationStateDeactivated {
		t.Fatalf("disconnect %+v", ci)
	}
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDConnect, mbim.CommandSet,
		&mbim.ConnectSet{SessionId: 0, ActivationCommand: mbim.ActivationCommandDeactivate}); m.Status() != mbim.StatusContextNotActivated {
		t.Fatalf("second disconnect: %v", m.Status())
	}
	h.query(mbim.CIDIpConfiguration, &mbim.IPConfigurationInfo{SessionId: 0}, &ip)
	if ip.IPv4ConfigurationAvailable != 0 || len(ip.IPv4Addresses) != 0 {
		t.Fatalf("configuration of a closed session %+v", ip)
	}
	// A plain reconnect keeps the address (only a drop changes it).
	connectInternet(t, h, 0)
	h.query(mbim.CIDIpConfiguration, &mbim.IPConfigurationInfo{SessionId: 0}, &ip)
	if ip.IPv4Addresses[0].Prefix() != want.IPv4 {
		t.Fatalf("reconnect address %v", ip.IPv4Addresses[0])
	}
	if ss, _ := s.Session(0); ss.State != mbim.ActivationStateActivated || ss.APN != "internet" || ss.IP.IPv4 != want.IPv4 {
		t.Fatalf("Session(0) = %+v", ss)
	}
}

func TestConnectV3(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	h.negotiate(mbim.MBIMEx3)
	var ci mbim.ConnectInfoV3
	h.set(mbim.CIDConnect, &mbim.ConnectSetV3{SessionId: 0, ActivationCommand: mbim.ActivationCommandActivate,
		IpType: mbim.ContextIpTypeIpv4v6, ContextType: ContextInternet, MediaPreference: mbim.AccessMediaType3gpp,
		AccessString: mbim.NewString("internet")}, &ci)
	if ci.ActivationState != mbim.ActivationStateActivated || ci.AccessString.String() != "internet" || ci.MediaPreference != mbim.AccessMediaType3gpp {
		t.Fatalf("v3 connect %+v", ci)
	}
	h.query(mbim.CIDConnect, &mbim.ConnectQueryV3{SessionId: 0}, &ci)
	if ci.ActivationState != mbim.ActivationStateActivated {
		t.Fatalf("v3 query %+v", ci)
	}
	// A v1 layout after agreeing on 3.0 is malformed.
	m := h.call(mbim.ServiceBasicConnect, mbim.CIDConnect, mbim.CommandSet, &mbim.ConnectSet{SessionId: 1, ActivationCommand: mbim.ActivationCommandActivate, AccessString: mbim.NewString("internet")})
	if m.Status() != mbim.StatusInvalidParameters {
		t.Fatalf("v1 CONNECT at 3.0: %v", m.Status())
	}
}

func TestIPConfigIndicationOnConnect(t *testing.T) {
	s := newSim(t, WithIPConfigIndications())
	h := dial(t, s)
	h.open(4096)
	connectInternet(t, h, 0)
	inds := h.takeSynced()
	if got := cidNames(inds); !slices.Equal(got, []string{"IP_CONFIGURATION"}) {
		t.Fatalf("indications %v", got)
	}
	ip := h.decodeInd(inds[0]).(*mbim.IPConfigurationInfo)
	if ip.IPv4Addresses[0].Prefix() != DefaultAddressPlan(0, 0).IPv4 {
		t.Fatalf("%+v", ip)
	}
}

func TestSubscriptions(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	// The standard list covers REGISTER_STATE, not QMI or MS extensions.
	if !s.Subscribed(mbim.ServiceBasicConnect, mbim.CIDRegisterState) || s.Subscribed(mbim.ServiceQmi, 1) ||
		s.Subscribed(mbim.ServiceBasicConnect, mbim.CIDDeviceCaps) {
		t.Fatal("standard list")
	}
	// Only SIGNAL_STATE from now on.
	var echo mbim.DeviceServiceSubscribeListInfo
	h.set(mbim.CIDDeviceServiceSubscribeList, &mbim.DeviceServiceSubscribeListInfo{Events: []mbim.EventEntry{
		{DeviceServiceId: mbim.ServiceBasicConnect, Cids: []uint32{mbim.CIDSignalState}},
	}}, &echo)
	if len(echo.Events) != 1 || !slices.Equal(echo.Events[0].Cids, []uint32{mbim.CIDSignalState}) {
		t.Fatalf("echo %+v", echo)
	}
	if got := s.Subscriptions(); len(got) != 1 || got[0].DeviceServiceId != mbim.ServiceBasicConnect {
		t.Fatalf("Subscriptions() = %+v", got)
	}
	before := s.Counters().IndicationsFiltered
	if err := s.Deregister(); err != nil {
		t.Fatal(err)
	}
	if got := h.takeSynced(); len(got) != 0 {
		t.Fatalf("unsubscribed indications arrived: %v", cidNames(got))
	}
	if s.Counters().IndicationsFiltered <= before {
		t.Error("filtered indications not counted")
	}
	if err := s.SetSignal(Signal{RSSI: 10, ErrorRate: 1, RSRP: 40, SNR: 50}); err != nil {
		t.Fatal(err)
	}
	if got := cidNames(h.takeSynced()); !slices.Equal(got, []string{"SIGNAL_STATE"}) {
		t.Fatalf("indications %v", got)
	}
	// A service with no CIDs means all of them; an empty list means none.
	h.set(mbim.CIDDeviceServiceSubscribeList, &mbim.DeviceServiceSubscribeListInfo{Events: []mbim.EventEntry{
		{DeviceServiceId: mbim.ServiceBasicConnect},
	}}, nil)
	if !s.Subscribed(mbim.ServiceBasicConnect, mbim.CIDDeviceCaps) {
		t.Fatal("wildcard")
	}
	h.set(mbim.CIDDeviceServiceSubscribeList, &mbim.DeviceServiceSubscribeListInfo{}, nil)
	if s.Subscribed(mbim.ServiceBasicConnect, mbim.CIDRegisterState) {
		t.Fatal("empty list")
	}
	// OPEN restores the standard list.
	h.open(4096)
	if !s.Subscribed(mbim.ServiceBasicConnect, mbim.CIDRegisterState) {
		t.Fatal("list after re-OPEN")
	}
	// No indications while the session is closed.
	tid := h.nextTID()
	h.send(mbim.AppendClose(nil, tid))
	h.reply(tid)
	if err := s.Register(); err != nil {
		t.Fatal(err)
	}
	if got := h.drain(50 * time.Millisecond); len(got) != 0 {
		t.Fatalf("indications while closed: %v", cidNames(got))
	}
}

func TestSignal(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	h.negotiate(mbim.MBIMEx2)
	var sig mbim.SignalStateInfoV2
	h.set(mbim.CIDSignalState, &mbim.SignalStateSet{SignalStrengthInterval: 5, RssiThreshold: 4, ErrorRateThreshold: 0xffffffff}, &sig)
	if sig.SignalStrengthInterval != 5 || sig.RssiThreshold != 4 || len(sig.RsrpSnr) != 1 ||
		sig.RsrpSnr[0].Rsrp != 60 || sig.RsrpSnr[0].SystemType != mbim.DataClassLte {
		t.Fatalf("signal %+v", sig)
	}
	// Below the RSSI threshold and nothing else changed: no indication.
	cur := s.Signal()
	cur.RSSI += 2
	if err := s.SetSignal(cur); err != nil {
		t.Fatal(err)
	}
	if got := h.takeSynced(); len(got) != 0 {
		t.Fatalf("indications %v", cidNames(got))
	}
	cur.RSSI += 4
	if err := s.SetSignal(cur); err != nil {
		t.Fatal(err)
	}
	inds := h.takeSynced()
	if len(inds) != 1 {
		t.Fatalf("indications %v", cidNames(inds))
	}
	if got := h.decodeInd(inds[0]).(*mbim.SignalStateInfoV2); got.Rssi != cur.RSSI {
		t.Fatalf("indicated %+v", got)
	}
	// On a 3G cell there is no RSRP/SNR.
	if err := s.SetDataClass(mbim.DataClassUmts, false, AddressChange{}); err != nil {
		t.Fatal(err)
	}
	h.query(mbim.CIDSignalState, nil, &sig)
	if len(sig.RsrpSnr) != 0 {
		t.Fatalf("RSRP on UMTS: %+v", sig.RsrpSnr)
	}
}

func TestIPPacketFilters(t *testing.T) {
	for _, v := range []mbim.Version{mbim.MBIMEx1, mbim.MBIMEx3} {
		t.Run(v.String(), func(t *testing.T) {
			s := newSim(t)
			h := dial(t, s)
			h.open(4096)
			h.negotiate(v)
			f, mask := []byte{0x45, 0, 0, 0}, []byte{0xf0, 0, 0, 0}
			if v >= mbim.MBIMEx3 {
				var got mbim.IPPacketFiltersInfoV3
				h.set(mbim.CIDIpPacketFilters, &mbim.IPPacketFiltersInfoV3{SessionId: 0, PacketFilters: []mbim.PacketFilterV3{{PacketFilter: f, PacketMask: mask, FilterId: 7}}}, &got)
				h.query(mbim.CIDIpPacketFilters, &mbim.IPPacketFiltersInfoV3{SessionId: 0}, &got)
				if len(got.PacketFilters) != 1 || got.PacketFilters[0].FilterId != 7 || string(got.PacketFilters[0].PacketMask) != string(mask) {
					t.Fatalf("filters %+v", got)
				}
				if pf := s.PacketFilters(0); len(pf) != 1 || pf[0].ID != 7 || string(pf[0].Filter) != string(f) {
					t.Fatalf("PacketFilters(0) = %+v", pf)
				}
				return
			}
			var got mbim.IPPacketFiltersInfo
			h.set(mbim.CIDIpPacketFilters, &mbim.IPPacketFiltersInfo{SessionId: 0, PacketFilters: []mbim.PacketFilter{{PacketFilter: f, PacketMask: mask}}}, &got)
			h.query(mbim.CIDIpPacketFilters, &mbim.IPPacketFiltersInfo{SessionId: 0}, &got)
			if len(got.PacketFilters) != 1 || string(got.PacketFilters[0].PacketFilter) != string(f) {
				t.Fatalf("filters %+v", got)
			}
			h.query(mbim.CIDIpPacketFilters, &mbim.IPPacketFiltersInfo{SessionId: 1}, &got)
			if len(got.PacketFilters) != 0 {
				t.Fatalf("session 1 filters %+v", got)
			}
		})
	}
}

func TestOtherBasicConnectCIDs(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	var pc mbim.ProvisionedContextsInfo
	h.set(mbim.CIDProvisionedContexts, &mbim.ProvisionedContextsSet{ContextId: 0xffffffff, ContextType: ContextInternet,
		AccessString: mbim.NewString("second")}, &pc)
	if len(pc.ProvisionedContexts) != 2 || pc.ProvisionedContexts[1].AccessString.String() != "second" || pc.ProvisionedContexts[1].ContextId != 2 {
		t.Fatalf("provisioned %+v", pc)
	}
	if got := s.ProvisionedContexts(); len(got) != 2 || got[1].APN != "second" {
		t.Fatalf("ProvisionedContexts() = %+v", got)
	}
	var idle mbim.NetworkIdleHintInfo
	h.set(mbim.CIDNetworkIdleHint, &mbim.NetworkIdleHintInfo{State: mbim.NetworkIdleHintStateEnabled}, &idle)
	h.query(mbim.CIDNetworkIdleHint, nil, &idle)
	if idle.State != mbim.NetworkIdleHintStateEnabled {
		t.Fatal("idle hint")
	}
	var em mbim.EmergencyModeInfo
	h.query(mbim.CIDEmergencyMode, nil, &em)
	// SMS.
	var cfg mbim.SmsConfigurationInfo
	h.ok(mbim.ServiceSms, mbim.CIDSmsConfiguration, mbim.CommandQuery, nil, &cfg)
	if cfg.SmsStorageState != mbim.SmsStorageStateInitialized || cfg.Format != mbim.SmsFormatPdu {
		t.Fatalf("SMS configuration %+v", cfg)
	}
	var rd mbim.SmsReadInfo
	h.ok(mbim.ServiceSms, mbim.CIDSmsRead, mbim.CommandQuery, &mbim.SmsReadQuery{}, &rd)
	var sent mbim.SmsSendInfo
	h.ok(mbim.ServiceSms, mbim.CIDSmsSend, mbim.CommandSet, &mbim.SmsSendSet{PduData: []byte{0, 1, 2}}, &sent)
	if sent.MessageReference != 1 {
		t.Fatalf("SMS send %+v", sent)
	}
}

func TestMicrosoftServices(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	var fw mbim.FirmwareIdGetInfo
	h.ok(mbim.ServiceMsFirmwareId, mbim.CIDFirmwareIdGet, mbim.CommandQuery, nil, &fw)
	if fw.FirmwareId != DefaultDevice().FirmwareID {
		t.Fatalf("firmware id %v", fw.FirmwareId)
	}
	h.ok(mbim.ServiceMsHostShutdown, mbim.CIDHostShutdownNotify, mbim.CommandSet, nil, nil)
	if s.Counters().HostShutdowns != 1 {
		t.Fatal("host shutdown not counted")
	}
	var sys mbim.MsSysCapsInfo
	h.ok(mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsSysCaps, mbim.CommandQuery, nil, &sys)
	var v2 mbim.MsDeviceCapsInfoV2
	h.ok(mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsDeviceCaps, mbim.CommandQuery, nil, &v2)
	if v2.DeviceId.String() != DefaultDevice().DeviceID {
		t.Fatalf("MS device caps %+v", v2)
	}
	h.negotiate(mbim.MBIMEx3)
	var v3 mbim.MsDeviceCapsInfoV3
	h.ok(mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsDeviceCaps, mbim.CommandQuery, nil, &v3)
	if v3.DataClass&mbim.DataClassV35g == 0 || v3.DataSubclass != mbim.DataSubclass5gEndc|mbim.DataSubclass5gNr ||
		!slices.Equal(v3.LteBandClasses.AppendValues(nil), DefaultDevice().LteBands) || v3.FirmwareInfo.String() != DefaultDevice().Firmware {
		t.Fatalf("MS device caps v3 %+v", v3)
	}
	var slot mbim.MsSlotInfoStatusInfo
	h.ok(mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsSlotInfoStatus, mbim.CommandQuery, &mbim.MsSlotInfoStatusQuery{}, &slot)
	if slot.State != mbim.UiccSlotStateActive {
		t.Fatalf("slot %+v", slot)
	}
	var loc mbim.MsLocationInfoStatusInfo
	h.ok(mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsLocationInfoStatus, mbim.CommandQuery, nil, &loc)
	if loc.TrackingAreaCode != DefaultNetwork().TAC {
		t.Fatalf("location %+v", loc)
	}
	var lte mbim.MsLteAttachInfoV3
	h.ok(mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsLteAttachInfo, mbim.CommandQuery, nil, &lte)
	if lte.LteAttachState != mbim.LteAttachStateAttached || lte.AccessString.String() != "internet" {
		t.Fatalf("LTE attach %+v", lte)
	}
	// DEVICE_RESET answers, then the modem resets.
	h.ok(mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsDeviceReset, mbim.CommandSet, nil, nil)
	waitFor(t, "reset", func() bool { return s.Counters().Resets == 1 })
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil); m.ErrorCode() != mbim.ProtocolErrorNotOpened {
		t.Fatalf("after DEVICE_RESET: %v %v", m.Type(), m.ErrorCode())
	}
}

func TestSetIPConfig(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	if err := s.SetIPConfig(0, IPConfig{}, false); err == nil {
		t.Fatal("SetIPConfig on an inactive session")
	}
	connectInternet(t, h, 0)
	c := IPConfig{IPv4: netip.MustParsePrefix("192.0.2.10/24"), IPv4Gateway: netip.MustParseAddr("192.0.2.1")}
	if err := s.SetIPConfig(0, c, true); err != nil {
		t.Fatal(err)
	}
	inds := h.takeSynced()
	if len(inds) != 1 {
		t.Fatalf("indications %v", cidNames(inds))
	}
	ip := h.decodeInd(inds[0]).(*mbim.IPConfigurationInfo)
	if ip.IPv4Addresses[0].Prefix() != c.IPv4 || ip.IPv6ConfigurationAvailable != 0 ||
		ip.IPv4ConfigurationAvailable != mbim.IPConfigurationAvailableAddress|mbim.IPConfigurationAvailableGateway {
		t.Fatalf("%+v", ip)
	}
}

func TestCloseDeactivates(t *testing.T) {
	for _, ends := range []bool{false, true} {
		var opts []Option
		if ends {
			opts = append(opts, WithCloseDeactivates())
		}
		s := newSim(t, opts...)
		h := dial(t, s)
		h.open(4096)
		connectInternet(t, h, 0)
		tid := h.nextTID()
		h.send(mbim.AppendClose(nil, tid))
		h.reply(tid)
		if ss, _ := s.Session(0); (ss.State == mbim.ActivationStateActivated) == ends {
			t.Errorf("WithCloseDeactivates %v: session %v after CLOSE", ends, ss.State)
		}
	}
}
