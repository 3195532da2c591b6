package mbimtest

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
)

func TestGrant(t *testing.T) {
	v4, v6, v46, def := mbim.ContextIpTypeIpv4, mbim.ContextIpTypeIpv6, mbim.ContextIpTypeIpv4v6, mbim.ContextIpTypeDefault
	for _, tc := range []struct {
		allowed, want, got mbim.ContextIpType
		cause              mbim.NwError
	}{
		{v46, def, v46, 0},
		{def, def, v46, 0},
		{v4, def, v4, 0},
		{v46, v4, v4, 0},
		{v46, v6, v6, 0},
		{v4, v6, 0, mbim.NwErrorPdpTypeIpv4OnlyAllowed},
		{v6, v4, 0, mbim.NwErrorPdpTypeIpv6OnlyAllowed},
		{v4, v46, v4, mbim.NwErrorPdpTypeIpv4OnlyAllowed},
		{v6, v46, v6, mbim.NwErrorPdpTypeIpv6OnlyAllowed},
		{v46, mbim.ContextIpTypeIpv4AndIpv6, mbim.ContextIpTypeIpv4AndIpv6, 0},
		{v46, 9, 0, mbim.NwErrorUnknownPdpAddressOrType},
	} {
		got, cause := grant(tc.allowed, tc.want)
		if got != tc.got || cause != tc.cause {
			t.Errorf("grant(%v, %v) = %v, %v; want %v, %v", tc.allowed, tc.want, got, cause, tc.got, tc.cause)
		}
	}
}

func TestOptions(t *testing.T) {
	d := DefaultDevice()
	d.DeviceID, d.MaxSessions = "490154203237518", 2
	n := DefaultNetwork()
	n.Home = Provider{ID: "90170", Name: "Elsewhere"}
	n.DataClass = mbim.DataClassHsdpa
	plan := func(session uint32, gen int) IPConfig {
		return IPConfig{IPv4: netip.MustParsePrefix("100.64.0.9/29"), IPv4MTU: 1400}
	}
	s := newSim(t, WithDevice(d), WithNetwork(n), WithSignal(Signal{RSSI: 5, ErrorRate: 3}), WithAddressPlan(plan), WithMBIMEx(mbim.MBIMEx2))
	if s.MaxMBIMEx() != mbim.MBIMEx2 || s.Device().DeviceID != d.DeviceID || s.Network().Home.ID != "90170" {
		t.Fatal("options not applied")
	}
	h := dial(t, s)
	h.open(4096)
	var reg mbim.RegisterStateInfo
	h.query(mbim.CIDRegisterState, nil, &reg)
	if reg.ProviderName.String() != "Elsewhere" || reg.AvailableDataClasses != mbim.DataClassHsdpa {
		t.Fatalf("registration %+v", reg)
	}
	var sig mbim.SignalStateInfo
	h.query(mbim.CIDSignalState, nil, &sig)
	if sig.Rssi != 5 || sig.ErrorRate != 3 {
		t.Fatalf("signal %+v", sig)
	}
	connectInternet(t, h, 1)
	if m := h.call(mbim.ServiceBasicConnect, mbim.CIDConnect, mbim.CommandSet,
		&mbim.ConnectSet{SessionId: 2, ActivationCommand: mbim.ActivationCommandActivate}); m.Status() != mbim.StatusInvalidParameters {
		t.Fatalf("session beyond MaxSessions: %v", m.Status())
	}
	var ip mbim.IPConfigurationInfo
	h.query(mbim.CIDIpConfiguration, &mbim.IPConfigurationInfo{SessionId: 1}, &ip)
	if ip.IPv4Addresses[0].String() != "100.64.0.9/29" || ip.IPv4Mtu != 1400 || ip.IPv6ConfigurationAvailable != 0 ||
		ip.IPv4ConfigurationAvailable != mbim.IPConfigurationAvailableAddress|mbim.IPConfigurationAvailableMtu {
		t.Fatalf("IP %+v", ip)
	}
	// Runtime changes of the same things.
	n.DataClass = mbim.DataClassLte
	if err := s.SetNetwork(n); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSoftwareRadio(false); err != nil {
		t.Fatal(err)
	}
	want := []string{"REGISTER_STATE", "PACKET_SERVICE", "RADIO_STATE", "CONNECT", "PACKET_SERVICE", "REGISTER_STATE", "SIGNAL_STATE"}
	if got := cidNames(h.takeSynced()); !slices.Equal(got, want) {
		t.Fatalf("indications %v, want %v", got, want)
	}
	s.SetAPNs(APN{Name: "only"})
	if apns := s.APNs(); len(apns) != 1 || apns[0].Name != "only" {
		t.Fatalf("APNs %+v", apns)
	}
	// Shrinking MaxSessions drops the sessions beyond it.
	if err := s.SetSoftwareRadio(true); err != nil {
		t.Fatal(err)
	}
	h.set(mbim.CIDConnect, &mbim.ConnectSet{SessionId: 1, ActivationCommand: mbim.ActivationCommandActivate}, nil)
	d.MaxSessions = 1
	if err := s.SetDevice(d); err != nil {
		t.Fatal(err)
	}
	if len(s.Sessions()) != 1 {
		t.Fatalf("sessions %d", len(s.Sessions()))
	}
}

func TestMoreCIDs(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	var home mbim.HomeProviderInfo
	h.set(mbim.CIDHomeProvider, &mbim.HomeProviderInfo{Provider: mbim.Provider{ProviderId: mbim.NewString("00199"), ProviderName: mbim.NewString("New Home")}}, &home)
	if home.Provider.ProviderName.String() != "New Home" || s.Network().Home.ID != "00199" {
		t.Fatalf("home %+v", home)
	}
	var cfg mbim.SmsConfigurationInfo
	h.ok(mbim.ServiceSms, mbim.CIDSmsConfiguration, mbim.CommandSet, &mbim.SmsConfigurationSet{ScAddress: mbim.NewString("+15550000")}, &cfg)
	if cfg.ScAddress.String() != "+15550000" {
		t.Fatalf("SMS configuration %+v", cfg)
	}
	if m := h.call(mbim.ServiceSms, mbim.CIDSmsConfiguration, mbim.CommandSet, &mbim.SmsConfigurationSet{Format: mbim.SmsFormatCdma}); m.Status() != mbim.StatusSmsFormatNotSupported {
		t.Fatalf("CDMA SMS: %v", m.Status())
	}
	h.ok(mbim.ServiceSms, mbim.CIDSmsDelete, mbim.CommandSet, &mbim.SmsDeleteSet{}, nil)
	var store mbim.SmsMessageStoreStatusInfo
	h.ok(mbim.ServiceSms, mbim.CIDSmsMessageStoreStatus, mbim.CommandQuery, nil, &store)
	var slots mbim.MsDeviceSlotMappingsInfo
	h.ok(mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsDeviceSlotMappings, mbim.CommandQuery, nil, &slots)
	h.ok(mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsDeviceSlotMappings, mbim.CommandSet, &mbim.MsDeviceSlotMappingsInfo{SlotMap: []mbim.MsSlot{{Slot: 0}}}, &slots)
	if m := h.call(mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsDeviceSlotMappings, mbim.CommandSet,
		&mbim.MsDeviceSlotMappingsInfo{SlotMap: []mbim.MsSlot{{Slot: 1}}}); m.Status() != mbim.StatusInvalidParameters {
		t.Fatalf("slot 1: %v", m.Status())
	}
	var lac mbim.MsLteAttachConfigurationInfo
	h.ok(mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsLteAttachConfiguration, mbim.CommandQuery, nil, &lac)
	if len(lac.Configurations) != 1 || lac.Configurations[0].AccessString.String() != "internet" {
		t.Fatalf("LTE attach configuration %+v", lac)
	}
	// A PIN-locked SIM hides the home provider and the SMS store.
	cfgSIM := DefaultSIM()
	cfgSIM.PINEnabled = true
	if err := s.SetSIM(cfgSIM); err != nil {
		t.Fatal(err)
	}
	for _, cid := range []uint32{mbim.CIDHomeProvider, mbim.CIDPreferredProviders} {
		if m := h.call(mbim.ServiceBasicConnect, cid, mbim.CommandQuery, nil); m.Status() != mbim.StatusPinRequired {
			t.Fatalf("CID %d with a locked SIM: %v", cid, m.Status())
		}
	}
	if m := h.call(mbim.ServiceSms, mbim.CIDSmsRead, mbim.CommandQuery, &mbim.SmsReadQuery{}); m.Status() != mbim.StatusPinRequired {
		t.Fatalf("SMS read with a locked SIM: %v", m.Status())
	}
}

// TestHostErrorStopsFragments: HOST_ERROR for a transaction drops the
// fragments of its reply that are still queued.
func TestHostErrorStopsFragments(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	s.AddFault(Fault{Match: Match{Type: mbim.TypeCommandDone, Times: 1}, FragmentSize: 32, Delay: 100 * time.Millisecond})
	tid := h.nextTID()
	b, _ := mbim.AppendCommandInfo(nil, tid, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, (*mbim.Empty)(nil))
	h.send(b)
	h.send(mbim.AppendHostError(nil, tid, mbim.ProtocolErrorTimeoutFragment))
	waitFor(t, "HOST_ERROR", func() bool { return s.Counters().HostErrors == 1 })
	if _, err := h.next(300 * time.Millisecond); err != errTimeout {
		t.Fatalf("the reply arrived whole: %v", err)
	}
	h.reasm.Reset()
	h.sync()
}
