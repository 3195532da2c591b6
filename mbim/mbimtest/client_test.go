package mbimtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// End-to-end tests through the client: mbim.Open over ServePipe.

func openClient(t testing.TB, s *Sim, opts ...mbim.Option) *mbim.Device {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := mbim.Open(ctx, s.ServePipe(), append([]mbim.Option{mbim.WithTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestClientNegotiation(t *testing.T) {
	for _, tc := range []struct {
		modem, client, want mbim.Version
	}{
		{mbim.MBIMEx3, mbim.MBIMEx3, mbim.MBIMEx3},
		{mbim.MBIMEx3, mbim.MBIMEx2, mbim.MBIMEx2},
		{mbim.MBIMEx2, mbim.MBIMEx3, mbim.MBIMEx2},
		{mbim.MBIMEx1, mbim.MBIMEx3, mbim.MBIMEx1},
		{mbim.MBIMEx3, mbim.MBIMEx1, mbim.MBIMEx1},
	} {
		t.Run(fmt.Sprintf("modem %v client %v", tc.modem, tc.client), func(t *testing.T) {
			s := newSim(t, WithMBIMEx(tc.modem))
			d := openClient(t, s, mbim.WithMaxVersion(tc.client))
			if d.Version() != tc.want || s.Version() != tc.want {
				t.Fatalf("client %v, modem %v, want %v", d.Version(), s.Version(), tc.want)
			}
			ctx := t.Context()
			ps, err := d.PacketService(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ps.Version != min(tc.want, mbim.MBIMEx3) || ps.State != mbim.PacketServiceStateAttached || ps.DownlinkSpeed != 150_000_000 {
				t.Fatalf("packet service %+v", ps)
			}
			c, err := d.Connect(ctx, mbim.ConnectRequest{AccessString: "internet", IPType: mbim.ContextIpTypeIpv4v6})
			if err != nil || c.ActivationState != mbim.ActivationStateActivated {
				t.Fatalf("connect: %+v %v", c, err)
			}
			if tc.want >= mbim.MBIMEx3 && c.AccessString != "internet" {
				t.Fatalf("v3 connect %+v", c)
			}
		})
	}
}

func TestClientBringUp(t *testing.T) {
	cfg := DefaultSIM()
	cfg.PINEnabled = true
	s := newSim(t, WithSIM(cfg))
	d := openClient(t, s)
	ctx := t.Context()

	caps, err := d.DeviceCaps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dev := s.Device()
	if caps.DeviceId.String() != dev.DeviceID || caps.FirmwareInfo.String() != dev.Firmware || caps.DataClass != dev.DataClasses {
		t.Fatalf("caps %+v", caps)
	}

	sub, err := d.SubscriberReadyStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sub.ReadyState != mbim.SubscriberReadyStateDeviceLocked {
		t.Fatalf("subscriber %+v", sub)
	}
	pin, err := d.Pin(ctx)
	if err != nil || pin.PinType != mbim.PinTypePin1 || pin.PinState != mbim.PinStateLocked {
		t.Fatalf("pin %+v %v", pin, err)
	}
	if _, err := d.EnterPin(ctx, mbim.PinTypePin1, "0000"); !errors.Is(err, mbim.StatusFailure) {
		t.Fatalf("wrong PIN: %v", err)
	}
	if pin, err = d.EnterPin(ctx, mbim.PinTypePin1, cfg.PIN); err != nil || pin.PinState != mbim.PinStateUnlocked {
		t.Fatalf("PIN: %+v %v", pin, err)
	}
	if sub, err = d.SubscriberReadyStatus(ctx); err != nil || sub.ReadyState != mbim.SubscriberReadyStateInitialized {
		t.Fatalf("subscriber %+v %v", sub, err)
	}

	rs, err := d.SetRadioState(ctx, false)
	if err != nil || rs.SwRadioState != mbim.RadioSwitchStateOff {
		t.Fatalf("radio off: %+v %v", rs, err)
	}
	if reg, err := d.RegisterState(ctx); err != nil || reg.State != mbim.RegisterStateDeregistered {
		t.Fatalf("registration with the radio off: %+v %v", reg, err)
	}
	if rs, err = d.SetRadioState(ctx, true); err != nil || rs.SwRadioState != mbim.RadioSwitchStateOn {
		t.Fatalf("radio on: %+v %v", rs, err)
	}
	reg, err := d.RegisterState(ctx)
	if err != nil || reg.State != mbim.RegisterStateHome || reg.ProviderID != "00101" || reg.Version != mbim.MBIMEx2 {
		t.Fatalf("registration %+v %v", reg, err)
	}
	if _, err := d.Detach(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Connect(ctx, mbim.ConnectRequest{AccessString: "internet"}); !errors.Is(err, mbim.StatusPacketServiceDetached) {
		t.Fatalf("connect while detached: %v", err)
	}
	ps, err := d.Attach(ctx)
	if err != nil || ps.State != mbim.PacketServiceStateAttached {
		t.Fatalf("attach %+v %v", ps, err)
	}

	c, err := d.Connect(ctx, mbim.ConnectRequest{AccessString: "nothere"})
	if !errors.Is(err, mbim.StatusFailure) || c.NwError != mbim.NwErrorMissingOrUnknownApn {
		t.Fatalf("unknown APN: %+v %v", c, err)
	}
	if c, err = d.Connect(ctx, mbim.ConnectRequest{AccessString: "internet", IPType: mbim.ContextIpTypeIpv4v6}); err != nil {
		t.Fatal(err)
	}
	ip, err := d.IPConfiguration(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultAddressPlan(0, 0)
	if ip.IPv4Addresses[0].Prefix() != want.IPv4 || ip.IPv6Addresses[0].Prefix() != want.IPv6 || ip.IPv4Gateway != want.IPv4Gateway {
		t.Fatalf("IP configuration %+v", ip)
	}
	st, err := d.PacketStatistics(ctx)
	if err != nil || st.InPackets == 0 {
		t.Fatalf("statistics %+v %v", st, err)
	}
	if c, err = d.Disconnect(ctx, 0); err != nil || c.ActivationState != mbim.ActivationStateDeactivated {
		t.Fatalf("disconnect %+v %v", c, err)
	}
	// What the client sent, as the modem logged it.
	var names []string
	for _, r := range s.Requests() {
		if r.Type == mbim.TypeCommand {
			names = append(names, mbim.CIDName(r.Service, r.CID))
		}
	}
	if names[0] != "DEVICE_SERVICES" || names[1] != "VERSION" || !slices.Contains(names, "PIN") {
		t.Fatalf("requests %v", names)
	}
}

// TestClientTourIndications follows a technology tour from the client's
// side, with an address change that only a query reveals and one that is
// indicated.
func TestClientTourIndications(t *testing.T) {
	s := newSim(t)
	sub := mbim.NewSubscription(mbim.SubscribeFilter{Service: mbim.ServiceBasicConnect}, 256)
	d := openClient(t, s, mbim.WithSubscription(sub), mbim.WithDeviceSubscriptions(mbim.DefaultDeviceSubscriptions()...))
	ctx := t.Context()
	if _, err := d.Connect(ctx, mbim.ConnectRequest{AccessString: "internet"}); err != nil {
		t.Fatal(err)
	}
	err := s.TourTechnologies(ctx, Tour3GPP, TourOptions{
		ChangeAddressAt: []int{4},
		Address:         AddressChange{Notify: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	var classes []string
	var ipChanges []string
	deadline := time.After(5 * time.Second)
	for len(classes) < len(Tour3GPP) {
		select {
		case ind := <-sub.C():
			b, err := ind.Decode()
			if err != nil {
				t.Fatal(err)
			}
			switch ind.CID() {
			case mbim.CIDPacketService:
				ps, err := mbim.PacketServiceFrom(b)
				if err != nil {
					t.Fatal(err)
				}
				classes = append(classes, ps.DataClassString())
			case mbim.CIDIpConfiguration:
				ip := b.(*mbim.IPConfigurationInfo)
				ipChanges = append(ipChanges, ip.IPv4Addresses[0].String())
			}
		case <-deadline:
			t.Fatalf("tour: got %v", classes)
		}
	}
	want := []string{"5G/5G_ENDC", "5G/5G_NR"}
	if got := classes[len(classes)-2:]; !slices.Equal(got, want) || classes[0] != "GPRS" {
		t.Fatalf("classes %v", classes)
	}
	if !slices.Equal(ipChanges, []string{"198.51.100.6/30"}) {
		t.Fatalf("IP changes %v", ipChanges)
	}
	// An address change reported only by a query.
	if err := s.ChangeAddress(0, AddressChange{}); err != nil {
		t.Fatal(err)
	}
	ip, err := d.IPConfiguration(ctx, 0)
	if err != nil || ip.IPv4Addresses[0].Prefix() != DefaultAddressPlan(0, 2).IPv4 {
		t.Fatalf("queried %+v %v", ip, err)
	}
}

func TestClientDropAndReconnect(t *testing.T) {
	s := newSim(t)
	sub := mbim.NewSubscription(mbim.SubscribeFilter{Service: mbim.ServiceBasicConnect, CIDs: []uint32{mbim.CIDConnect}}, 16)
	d := openClient(t, s, mbim.WithSubscription(sub))
	ctx := t.Context()
	if _, err := d.Connect(ctx, mbim.ConnectRequest{AccessString: "internet"}); err != nil {
		t.Fatal(err)
	}
	first, _ := d.IPConfiguration(ctx, 0)
	if err := s.DropSession(0, regularDeactivation); err != nil {
		t.Fatal(err)
	}
	select {
	case ind := <-sub.C():
		b, _ := ind.Decode()
		c, err := mbim.ConnectionFrom(b)
		if err != nil || c.ActivationState != mbim.ActivationStateDeactivated || c.NwError != regularDeactivation {
			t.Fatalf("drop indication %+v %v", c, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no CONNECT indication")
	}
	if _, err := d.Connect(ctx, mbim.ConnectRequest{AccessString: "internet"}); err != nil {
		t.Fatal(err)
	}
	second, _ := d.IPConfiguration(ctx, 0)
	if first.IPv4Addresses[0] == second.IPv4Addresses[0] || first.IPv6Addresses[0] == second.IPv6Addresses[0] {
		t.Fatalf("same address after the drop: %v", second.IPv4Addresses[0])
	}
}

// TestClientResetRecovery resets the modem under an open client: the next
// command gets NOT_OPENED, the client re-opens by itself (OPEN, VERSION,
// subscribe list) and retries.
func TestClientResetRecovery(t *testing.T) {
	s := newSim(t)
	d := openClient(t, s, mbim.WithDeviceSubscriptions(mbim.DefaultDeviceSubscriptions()...))
	ctx := t.Context()
	if d.Version() != mbim.MBIMEx3 {
		t.Fatalf("version %v", d.Version())
	}
	if _, err := d.Connect(ctx, mbim.ConnectRequest{AccessString: "internet"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(ResetOptions{}); err != nil {
		t.Fatal(err)
	}
	ps, err := d.PacketService(ctx)
	if err != nil {
		t.Fatalf("after reset: %v", err)
	}
	if ps.Version != mbim.MBIMEx3 || s.Version() != mbim.MBIMEx3 {
		t.Fatalf("re-negotiated %v / %v", ps.Version, s.Version())
	}
	// (The client counts the recovery just after it wakes the caller.)
	waitFor(t, "recovery counted", func() bool { return d.Stats().Recoveries == 1 })
	if st := d.Stats(); st.ProtocolErrors[mbim.ProtocolErrorNotOpened] != 1 {
		t.Fatalf("stats: NOT_OPENED %d", st.ProtocolErrors[mbim.ProtocolErrorNotOpened])
	}
	if !s.Subscribed(mbim.ServiceBasicConnect, mbim.CIDIpConfiguration) || s.Subscribed(mbim.ServiceSms, 1) {
		t.Fatal("subscribe list not restored")
	}
	c, err := d.ConnectState(ctx, 0)
	if err != nil || c.ActivationState != mbim.ActivationStateDeactivated {
		t.Fatalf("session after reset %+v %v", c, err)
	}
	if s.Counters().NotOpened != 1 {
		t.Fatalf("NOT_OPENED sent %d times", s.Counters().NotOpened)
	}
}

// TestClientUnderFaults runs the client against a modem that fragments at
// 48 bytes, duplicates responses and sends indications before OPEN_DONE.
func TestClientUnderFaults(t *testing.T) {
	s := newSim(t)
	s.AddFault(FragmentResponses(48))
	s.AddFault(DuplicateResponses())
	s.AddFault(IndicationsBeforeOpenDone())
	sub := mbim.NewSubscription(mbim.SubscribeFilter{Service: mbim.ServiceBasicConnect}, 64)
	d := openClient(t, s, mbim.WithSubscription(sub))
	ctx := t.Context()
	caps, err := d.DeviceCaps(ctx)
	if err != nil || caps.HardwareInfo.String() != DefaultDevice().Hardware {
		t.Fatalf("caps %+v %v", caps, err)
	}
	if _, err := d.Connect(ctx, mbim.ConnectRequest{AccessString: "internet"}); err != nil {
		t.Fatal(err)
	}
	select {
	case ind := <-sub.C():
		if ind.CID() != mbim.CIDSubscriberReadyStatus {
			t.Fatalf("first indication %d", ind.CID())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no indication before OPEN_DONE reached the client")
	}
	if st := d.Stats(); st.FragmentsReceived == 0 || st.UnmatchedReplies == 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestClientOpenQuirk answers the client's first OPEN with CLOSE_DONE
// (quirk Q1): the client closes and opens again.
func TestClientOpenQuirk(t *testing.T) {
	s := newSim(t)
	s.AddFault(OpenAnsweredByCloseDone())
	d := openClient(t, s)
	if d.Version() != mbim.MBIMEx3 {
		t.Fatalf("version %v", d.Version())
	}
	var types []mbim.MessageType
	for _, r := range s.Requests()[:3] {
		types = append(types, r.Type)
	}
	if !slices.Equal(types, []mbim.MessageType{mbim.TypeOpen, mbim.TypeClose, mbim.TypeOpen}) {
		t.Fatalf("requests %v", s.Requests())
	}
}
