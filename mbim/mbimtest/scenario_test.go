package mbimtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// tourTrace renders the indications of a tour, one line per indication,
// with what a handoff engine looks at.
func tourTrace(t *testing.T, h *host, inds []mbim.Message) []string {
	t.Helper()
	var out []string
	for _, m := range inds {
		switch b := h.decodeInd(m).(type) {
		case *mbim.PacketServiceInfo:
			out = append(out, fmt.Sprintf("PACKET_SERVICE %v %v down=%d", b.PacketServiceState, b.HighestAvailableDataClass, b.DownlinkSpeed))
		case *mbim.PacketServiceInfoV2:
			out = append(out, fmt.Sprintf("PACKET_SERVICE %v %v fr=%v", b.PacketServiceState, b.CurrentDataClass, b.FrequencyRange))
		case *mbim.PacketServiceInfoV3:
			out = append(out, fmt.Sprintf("PACKET_SERVICE %v %v sub=%v", b.PacketServiceState, b.HighestAvailableDataClass, b.DataSubclass))
		case *mbim.RegisterStateInfo:
			out = append(out, fmt.Sprintf("REGISTER_STATE %v %v", b.RegisterState, b.AvailableDataClasses))
		case *mbim.RegisterStateInfoV2:
			out = append(out, fmt.Sprintf("REGISTER_STATE %v %v", b.RegisterState, b.AvailableDataClasses))
		case *mbim.ConnectInfo:
			out = append(out, fmt.Sprintf("CONNECT %d %v", b.SessionId, b.ActivationState))
		case *mbim.ConnectInfoV3:
			out = append(out, fmt.Sprintf("CONNECT %d %v", b.SessionId, b.ActivationState))
		case *mbim.IPConfigurationInfo:
			out = append(out, fmt.Sprintf("IP_CONFIGURATION %d %v", b.SessionId, b.IPv4Addresses[0]))
		default:
			out = append(out, fmt.Sprintf("%T", b))
		}
	}
	return out
}

func TestTourTechnologies(t *testing.T) {
	for _, tc := range []struct {
		name string
		ver  mbim.Version
		opts TourOptions
		want []string
	}{
		{
			name: "3GPP, same address, MBIMEx 1.0",
			ver:  mbim.MBIMEx1,
			want: []string{
				"REGISTER_STATE HOME GPRS", "PACKET_SERVICE ATTACHED GPRS down=85600",
				"REGISTER_STATE HOME EDGE", "PACKET_SERVICE ATTACHED EDGE down=236800",
				"REGISTER_STATE HOME UMTS", "PACKET_SERVICE ATTACHED UMTS down=384000",
				"REGISTER_STATE HOME HSDPA", "PACKET_SERVICE ATTACHED HSDPA down=14400000",
				"REGISTER_STATE HOME LTE", "PACKET_SERVICE ATTACHED LTE down=150000000",
				"REGISTER_STATE HOME 5G_NSA", "PACKET_SERVICE ATTACHED 5G_NSA down=1000000000",
				"REGISTER_STATE HOME 5G_SA", "PACKET_SERVICE ATTACHED 5G_SA down=2000000000",
			},
		},
		{
			name: "3GPP, address change at LTE and 5G SA, indicated, MBIMEx 2.0",
			ver:  mbim.MBIMEx2,
			opts: TourOptions{ChangeAddressAt: []int{4, 6}, Address: AddressChange{Notify: true}},
			want: []string{
				"REGISTER_STATE HOME GPRS", "PACKET_SERVICE ATTACHED GPRS fr=none",
				"REGISTER_STATE HOME EDGE", "PACKET_SERVICE ATTACHED EDGE fr=none",
				"REGISTER_STATE HOME UMTS", "PACKET_SERVICE ATTACHED UMTS fr=none",
				"REGISTER_STATE HOME HSDPA", "PACKET_SERVICE ATTACHED HSDPA fr=none",
				"REGISTER_STATE HOME LTE", "PACKET_SERVICE ATTACHED LTE fr=none", "IP_CONFIGURATION 0 198.51.100.6/30",
				"REGISTER_STATE HOME 5G_NSA", "PACKET_SERVICE ATTACHED 5G_NSA fr=RANGE_1",
				"REGISTER_STATE HOME 5G_SA", "PACKET_SERVICE ATTACHED 5G_SA fr=RANGE_1", "IP_CONFIGURATION 0 198.51.100.10/30",
			},
		},
		{
			name: "3GPP, address change only by query, MBIMEx 3.0",
			ver:  mbim.MBIMEx3,
			opts: TourOptions{ChangeAddressAt: []int{5}},
			want: []string{
				"REGISTER_STATE HOME GPRS", "PACKET_SERVICE ATTACHED GPRS sub=none",
				"REGISTER_STATE HOME EDGE", "PACKET_SERVICE ATTACHED EDGE sub=none",
				"REGISTER_STATE HOME UMTS", "PACKET_SERVICE ATTACHED UMTS sub=none",
				"REGISTER_STATE HOME HSDPA", "PACKET_SERVICE ATTACHED HSDPA sub=none",
				"REGISTER_STATE HOME LTE", "PACKET_SERVICE ATTACHED LTE sub=none",
				"REGISTER_STATE HOME 5G_NSA", "PACKET_SERVICE ATTACHED 5G sub=5G_ENDC",
				"REGISTER_STATE HOME 5G_SA", "PACKET_SERVICE ATTACHED 5G sub=5G_NR",
			},
		},
		{
			name: "3GPP, reconnect with a new address before the data class",
			ver:  mbim.MBIMEx1,
			opts: TourOptions{ChangeAddressAt: []int{4}, Address: AddressChange{Reconnect: true, Notify: true, First: true}},
			want: []string{
				"REGISTER_STATE HOME GPRS", "PACKET_SERVICE ATTACHED GPRS down=85600",
				"REGISTER_STATE HOME EDGE", "PACKET_SERVICE ATTACHED EDGE down=236800",
				"REGISTER_STATE HOME UMTS", "PACKET_SERVICE ATTACHED UMTS down=384000",
				"REGISTER_STATE HOME HSDPA", "PACKET_SERVICE ATTACHED HSDPA down=14400000",
				"CONNECT 0 DEACTIVATED", "CONNECT 0 ACTIVATED", "IP_CONFIGURATION 0 198.51.100.6/30",
				"REGISTER_STATE HOME LTE", "PACKET_SERVICE ATTACHED LTE down=150000000",
				"REGISTER_STATE HOME 5G_NSA", "PACKET_SERVICE ATTACHED 5G_NSA down=1000000000",
				"REGISTER_STATE HOME 5G_SA", "PACKET_SERVICE ATTACHED 5G_SA down=2000000000",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			h := dial(t, s)
			h.open(4096)
			h.negotiate(tc.ver)
			subscribeAll(h)
			if tc.ver >= mbim.MBIMEx3 {
				h.set(mbim.CIDConnect, &mbim.ConnectSetV3{ActivationCommand: mbim.ActivationCommandActivate, AccessString: mbim.NewString("internet"),
					ContextType: ContextInternet}, nil)
			} else {
				connectInternet(t, h, 0)
			}
			h.takeSynced()
			steps := 0
			tc.opts.OnStep = func(int, mbim.DataClass) { steps++ }
			if err := s.TourTechnologies(context.Background(), Tour3GPP, tc.opts); err != nil {
				t.Fatal(err)
			}
			got := tourTrace(t, h, h.takeSynced())
			if !slices.Equal(got, tc.want) {
				t.Fatalf("tour:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.want, "\n     "))
			}
			if steps != len(Tour3GPP) {
				t.Errorf("OnStep ran %d times", steps)
			}
			// The address a query returns is the last one.
			var ip mbim.IPConfigurationInfo
			h.query(mbim.CIDIpConfiguration, &mbim.IPConfigurationInfo{}, &ip)
			ss, _ := s.Session(0)
			if ip.IPv4Addresses[0].Prefix() != DefaultAddressPlan(0, ss.Generation).IPv4 || ss.Generation != len(tc.opts.ChangeAddressAt) {
				t.Fatalf("address %v at generation %d", ip.IPv4Addresses[0], ss.Generation)
			}
		})
	}
}

// subscribeAll subscribes to every Basic Connect indication.
func subscribeAll(h *host) {
	h.set(mbim.CIDDeviceServiceSubscribeList, &mbim.DeviceServiceSubscribeListInfo{Events: []mbim.EventEntry{
		{DeviceServiceId: mbim.ServiceBasicConnect},
	}}, nil)
}

func TestTour3GPP2AndErrors(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	if err := s.TourTechnologies(context.Background(), Tour3GPP2, TourOptions{Interval: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	got := tourTrace(t, h, h.takeSynced())
	want := []string{
		"REGISTER_STATE HOME 1XRTT", "PACKET_SERVICE ATTACHED 1XRTT down=153600",
		"REGISTER_STATE HOME 1XEVDO", "PACKET_SERVICE ATTACHED 1XEVDO down=2457600",
		"REGISTER_STATE HOME 1XEVDO_REVA", "PACKET_SERVICE ATTACHED 1XEVDO_REVA down=3100000",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("tour %v", got)
	}
	if r := s.Registration(); r.CellularClass != mbim.CellularClassCdma {
		t.Fatalf("cellular class %v", r.CellularClass)
	}
	// A class the device lacks, or two at once, is refused.
	d := DefaultDevice()
	d.DataClasses = mbim.DataClassLte
	if err := s.SetDevice(d); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDataClass(mbim.DataClassUmts, false, AddressChange{}); err == nil {
		t.Fatal("UMTS on an LTE-only device")
	}
	if err := s.SetDataClass(mbim.DataClassUmts|mbim.DataClassLte, false, AddressChange{}); err == nil {
		t.Fatal("two classes")
	}
	// A cancelled tour stops between steps.
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := s.TourTechnologies(ctx, []mbim.DataClass{mbim.DataClassLte, mbim.DataClassLte, mbim.DataClassLte},
		TourOptions{Interval: time.Hour, OnStep: func(int, mbim.DataClass) { n++; cancel() }})
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Fatalf("cancelled tour: %v after %d steps", err, n)
	}
}

func TestDropSessionAndReconnect(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	connectInternet(t, h, 0)
	first, _ := s.Session(0)
	if err := s.DropSession(0, regularDeactivation); err != nil {
		t.Fatal(err)
	}
	inds := h.takeSynced()
	if len(inds) != 1 {
		t.Fatalf("indications %v", cidNames(inds))
	}
	ci := h.decodeInd(inds[0]).(*mbim.ConnectInfo)
	if ci.ActivationState != mbim.ActivationStateDeactivated || ci.NwError != regularDeactivation {
		t.Fatalf("drop indication %+v", ci)
	}
	if err := s.DropSession(0, 0); !errors.Is(err, ErrNotActive) {
		t.Fatalf("second drop: %v", err)
	}
	connectInternet(t, h, 0)
	second, _ := s.Session(0)
	if second.IP.IPv4 == first.IP.IPv4 || second.IP.IPv6 == first.IP.IPv6 || second.Generation != first.Generation+1 {
		t.Fatalf("address after drop: %v then %v", first.IP.IPv4, second.IP.IPv4)
	}
	var ip mbim.IPConfigurationInfo
	h.query(mbim.CIDIpConfiguration, &mbim.IPConfigurationInfo{}, &ip)
	if ip.IPv4Addresses[0].Prefix() != second.IP.IPv4 {
		t.Fatalf("queried %v, want %v", ip.IPv4Addresses[0], second.IP.IPv4)
	}
}

func TestDeregisterDropsSessions(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	connectInternet(t, h, 0)
	connectInternet(t, h, 1)
	if err := s.SetRegisterState(mbim.RegisterStateDenied, mbim.NwErrorPlmnNotAllowed); err != nil {
		t.Fatal(err)
	}
	got := tourTrace(t, h, h.takeSynced())
	want := []string{"CONNECT 0 DEACTIVATED", "CONNECT 1 DEACTIVATED", "PACKET_SERVICE DETACHED none down=0", "REGISTER_STATE DENIED none"}
	if !slices.Equal(got, want) {
		t.Fatalf("indications %v", got)
	}
	if err := s.Register(); err != nil {
		t.Fatal(err)
	}
	got = tourTrace(t, h, h.takeSynced())
	want = []string{"REGISTER_STATE HOME LTE", "PACKET_SERVICE ATTACHED LTE down=150000000"}
	if !slices.Equal(got, want) {
		t.Fatalf("indications %v", got)
	}
	for _, ss := range s.Sessions() {
		if ss.State != mbim.ActivationStateDeactivated {
			t.Fatalf("session %d still up", ss.ID)
		}
	}
}

func TestReset(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	h.negotiate(mbim.MBIMEx3)
	h.set(mbim.CIDConnect, &mbim.ConnectSetV3{ActivationCommand: mbim.ActivationCommandActivate, AccessString: mbim.NewString("internet"), ContextType: ContextInternet}, nil)
	before, _ := s.Session(0)
	if err := s.Reset(ResetOptions{}); err != nil {
		t.Fatal(err)
	}
	// The host hears nothing until it asks; then NOT_OPENED.
	if got := h.drain(20 * time.Millisecond); len(got) != 0 {
		t.Fatalf("after reset: %v", cidNames(got))
	}
	m := h.call(mbim.ServiceBasicConnect, mbim.CIDPacketService, mbim.CommandQuery, nil)
	if m.Type() != mbim.TypeFunctionError || m.ErrorCode() != mbim.ProtocolErrorNotOpened {
		t.Fatalf("after reset: %v %v", m.Type(), m.ErrorCode())
	}
	h.open(4096)
	if s.Version() != mbim.MBIMEx1 {
		t.Fatalf("version after reset %v", s.Version())
	}
	var ci mbim.ConnectInfo
	h.query(mbim.CIDConnect, &mbim.ConnectInfo{}, &ci)
	if ci.ActivationState != mbim.ActivationStateDeactivated {
		t.Fatalf("session survived the reset: %+v", ci)
	}
	connectInternet(t, h, 0)
	after, _ := s.Session(0)
	if after.IP.IPv4 == before.IP.IPv4 {
		t.Fatalf("same address after reset: %v", after.IP.IPv4)
	}
	if c := s.Counters(); c.Resets != 1 {
		t.Fatalf("resets %d", c.Resets)
	}

	// With CloseTransport the host's end reads EOF.
	if err := s.Reset(ResetOptions{CloseTransport: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.next(2 * time.Second); err == nil || errors.Is(err, errTimeout) {
		t.Fatalf("read after a hang-up: %v", err)
	}
	h2 := dial(t, s)
	h2.open(4096)
	h2.sync()
}

// regularDeactivation is 3GPP cause 36, what operators send with their
// daily drop (not named in the MBIM NwError table).
const regularDeactivation mbim.NwError = 36
