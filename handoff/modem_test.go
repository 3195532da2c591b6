package handoff_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
)

// Responses and indications of every MBIMEx layout convert to the
// engine's inputs.
func TestInputFromBody(t *testing.T) {
	for _, c := range []struct {
		body mbim.Body
		want handoff.Input
	}{
		{&mbim.PacketServiceInfo{PacketServiceState: mbim.PacketServiceStateAttached, HighestAvailableDataClass: mbim.DataClassLte, UplinkSpeed: 1, DownlinkSpeed: 2},
			handoff.PacketService{State: mbim.PacketServiceStateAttached, DataClass: mbim.DataClassLte, Uplink: 1, Downlink: 2}},
		{&mbim.PacketServiceInfoV2{PacketServiceState: mbim.PacketServiceStateAttached, CurrentDataClass: mbim.DataClassHsdpa},
			handoff.PacketService{State: mbim.PacketServiceStateAttached, DataClass: mbim.DataClassHsdpa}},
		{&mbim.PacketServiceInfoV3{PacketServiceState: mbim.PacketServiceStateAttached, HighestAvailableDataClass: mbim.DataClassV35g, DataSubclass: mbim.DataSubclass5gNr},
			handoff.PacketService{State: mbim.PacketServiceStateAttached, DataClass: mbim.DataClass5gSa}},
		{&mbim.ConnectInfo{SessionId: 1, ActivationState: mbim.ActivationStateActivated},
			handoff.Session{ID: 1, ActivationState: mbim.ActivationStateActivated}},
		{&mbim.ConnectInfoV3{SessionId: 2, ActivationState: mbim.ActivationStateDeactivated, NwError: 36},
			handoff.Session{ID: 2, ActivationState: mbim.ActivationStateDeactivated, NwError: 36}},
		{&mbim.RegisterStateInfo{RegisterState: mbim.RegisterStateRoaming}, handoff.Register{State: mbim.RegisterStateRoaming}},
		{&mbim.RegisterStateInfoV2{RegisterState: mbim.RegisterStateDenied, NwError: 7}, handoff.Register{State: mbim.RegisterStateDenied, NwError: 7}},
	} {
		got, ok := handoff.InputFromBody(c.body)
		if !ok || got != c.want {
			t.Errorf("InputFromBody(%T) = %#v, %v; want %#v", c.body, got, ok, c.want)
		}
	}
	ip := &mbim.IPConfigurationInfo{SessionId: 3}
	if got, ok := handoff.InputFromBody(ip); !ok || got.(handoff.IPConfiguration).Session != 3 {
		t.Errorf("InputFromBody(IP_CONFIGURATION) = %#v, %v", got, ok)
	}
	if _, ok := handoff.InputFromBody(&mbim.SignalStateInfo{}); ok {
		t.Errorf("SIGNAL_STATE converted to an engine input")
	}
}

// The adapter against the simulated modem: status, connect with the
// stored settings, the IP configuration; a refusal to answer is "not
// there", not an error; no device is ErrNoDevice.
func TestDeviceModem(t *testing.T) {
	m := handoff.NewDeviceModem(handoff.ConnectSettings{Session: 1, APN: "internet", IPType: mbim.ContextIpTypeIpv4})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m.Status(ctx, 1); !errors.Is(err, handoff.ErrNoDevice) || !errors.Is(err, mbim.ErrClosed) {
		t.Errorf("Status without a device: %v", err)
	}
	sim := mbimtest.New()
	defer sim.Close()
	dev, err := mbim.Open(ctx, sim.ServePipe())
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	m.SetDevice(dev)
	st, err := m.Status(ctx, 1)
	if err != nil || st.Register.State != mbim.RegisterStateHome || st.PacketService.Class() != "LTE" || st.Session.Active() {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if err := m.Connect(ctx, 1); err != nil {
		t.Fatal(err)
	}
	ip, err := m.IPConfiguration(ctx, 1)
	want := mbimtest.DefaultAddressPlan(1, 0).IPv4
	if err != nil || ip.Config().IPv4[0] != want || len(ip.Config().IPv6) != 0 {
		t.Fatalf("IPConfiguration = %+v, %v; want %v only", ip.Config(), err, want)
	}
	if st, _ := m.Status(ctx, 1); !st.Session.Active() {
		t.Errorf("session not active after Connect: %+v", st)
	}
	if err := m.Disconnect(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Radio off: the modem refuses the packet service; that is detached.
	if _, err := dev.SetRadioState(ctx, false); err != nil {
		t.Fatal(err)
	}
	st, err = m.Status(ctx, 1)
	if err != nil || st.Register.Registered() || st.PacketService.State == mbim.PacketServiceStateAttached {
		t.Errorf("radio off: Status = %+v, %v", st, err)
	}
	if err := m.Connect(ctx, 1); err == nil {
		t.Errorf("Connect with the radio off succeeded")
	}
}
