package mbimtest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
)

func TestSessionLifeCycle(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)

	// Before OPEN: FUNCTION_ERROR NOT_OPENED with the command's TID.
	m := h.call(mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil)
	if m.Type() != mbim.TypeFunctionError || m.ErrorCode() != mbim.ProtocolErrorNotOpened || m.TransactionID() != h.tid {
		t.Fatalf("command before OPEN: got %v %v tid %d", m.Type(), m.ErrorCode(), m.TransactionID())
	}

	h.open(4096)
	if !s.IsOpen() || s.HostMaxControlTransfer() != 4096 {
		t.Fatalf("open %v, host max %d", s.IsOpen(), s.HostMaxControlTransfer())
	}
	var caps mbim.DeviceCapsInfo
	h.query(mbim.CIDDeviceCaps, nil, &caps)
	d := DefaultDevice()
	if caps.DeviceId.String() != d.DeviceID || caps.FirmwareInfo.String() != d.Firmware ||
		caps.HardwareInfo.String() != d.Hardware || caps.MaxSessions != d.MaxSessions || caps.DataClass != d.DataClasses {
		t.Errorf("DEVICE_CAPS = %+v", caps)
	}
	if caps.DataClass&(mbim.DataClass5gNsa|mbim.DataClass5gSa) == 0 {
		t.Errorf("no 5G data class in %v", caps.DataClass)
	}

	// OPEN while open re-opens: the agreed version falls back to 1.0.
	if v := h.negotiate(mbim.MBIMEx3); v != mbim.MBIMEx3 {
		t.Fatalf("negotiated %v", v)
	}
	h.open(4096)
	if s.Version() != mbim.MBIMEx1 {
		t.Errorf("version after re-OPEN = %v, want 1.0", s.Version())
	}

	tid := h.nextTID()
	h.send(mbim.AppendClose(nil, tid))
	if m := h.reply(tid); m.Type() != mbim.TypeCloseDone || m.Status() != mbim.StatusSuccess {
		t.Fatalf("CLOSE: %v %v", m.Type(), m.Status())
	}
	if s.IsOpen() {
		t.Error("open after CLOSE")
	}
	m = h.call(mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil)
	if m.Type() != mbim.TypeFunctionError || m.ErrorCode() != mbim.ProtocolErrorNotOpened {
		t.Fatalf("command after CLOSE: %v %v", m.Type(), m.ErrorCode())
	}
	c := s.Counters()
	if c.Opens != 2 || c.Closes != 1 || c.NotOpened != 2 {
		t.Errorf("counters %+v", c)
	}
}

func TestUnknownRequestsFailFast(t *testing.T) {
	s := newSim(t, WithoutServices(mbim.ServiceQmi))
	h := dial(t, s)
	h.open(4096)
	unknown := mbim.MustParseUUID("01234567-89ab-cdef-0123-456789abcdef")
	for _, tc := range []struct {
		name string
		svc  mbim.UUID
		cid  uint32
		ct   mbim.CommandType
		body mbim.InfoAppender
	}{
		{"proxy control configuration", mbim.ServiceProxyControl, mbim.CIDProxyControlConfiguration, mbim.CommandSet,
			&mbim.ProxyControlConfigurationSet{DevicePath: mbim.NewString("/dev/null"), Timeout: 30}},
		{"unknown service", unknown, 1, mbim.CommandQuery, nil},
		{"unknown basic connect CID", mbim.ServiceBasicConnect, 99, mbim.CommandQuery, nil},
		{"service activation", mbim.ServiceBasicConnect, mbim.CIDServiceActivation, mbim.CommandSet, nil},
		{"set of a query-only CID", mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandSet, nil},
		{"removed service", mbim.ServiceQmi, mbim.CIDQmiMsg, mbim.CommandSet, nil},
	} {
		m := h.call(tc.svc, tc.cid, tc.ct, tc.body)
		if m.Type() != mbim.TypeCommandDone || m.Status() != mbim.StatusNoDeviceSupport ||
			m.Service() != tc.svc || m.CID() != tc.cid {
			t.Errorf("%s: got %v %v", tc.name, m.Type(), m.Status())
		}
	}
	var ds mbim.DeviceServicesInfo
	h.query(mbim.CIDDeviceServices, nil, &ds)
	for _, e := range ds.DeviceServices {
		if e.DeviceServiceId == mbim.ServiceQmi || e.DeviceServiceId == mbim.ServiceProxyControl {
			t.Errorf("DEVICE_SERVICES lists %s", mbim.ServiceName(e.DeviceServiceId))
		}
	}
}

func TestDeviceServices(t *testing.T) {
	for _, max := range []mbim.Version{mbim.MBIMEx1, mbim.MBIMEx2, mbim.MBIMEx3} {
		t.Run(max.String(), func(t *testing.T) {
			s := newSim(t, WithMBIMEx(max))
			h := dial(t, s)
			h.open(4096)
			var ds mbim.DeviceServicesInfo
			h.query(mbim.CIDDeviceServices, nil, &ds)
			got := map[mbim.UUID][]uint32{}
			for _, e := range ds.DeviceServices {
				got[e.DeviceServiceId] = e.Cids
			}
			for _, u := range []mbim.UUID{mbim.ServiceBasicConnect, mbim.ServiceSms, mbim.ServiceMsBasicConnectExtensions,
				mbim.ServiceMsFirmwareId, mbim.ServiceMsHostShutdown, mbim.ServiceQmi} {
				if len(got[u]) == 0 {
					t.Errorf("%s missing", mbim.ServiceName(u))
				}
			}
			for _, c := range []uint32{1, 2, 3, 4, 9, 10, 11, 12, 15, 16, 19, 20, 23} {
				if !slices.Contains(got[mbim.ServiceBasicConnect], c) {
					t.Errorf("BASIC_CONNECT CID %d missing", c)
				}
			}
			hasVersion := slices.Contains(got[mbim.ServiceMsBasicConnectExtensions], mbim.CIDMsVersion)
			if hasVersion != (max >= mbim.MBIMEx2) {
				t.Errorf("VERSION listed = %v with MBIMEx %v", hasVersion, max)
			}
		})
	}
}

// TestVersionNegotiation checks that the agreed version is min(asked,
// supported) and that it selects the layouts of responses.
func TestVersionNegotiation(t *testing.T) {
	for _, tc := range []struct{ modem, host, want mbim.Version }{
		{mbim.MBIMEx2, mbim.MBIMEx2, mbim.MBIMEx2},
		{mbim.MBIMEx2, mbim.MBIMEx3, mbim.MBIMEx2},
		{mbim.MBIMEx3, mbim.MBIMEx2, mbim.MBIMEx2},
		{mbim.MBIMEx3, mbim.MBIMEx3, mbim.MBIMEx3},
		{mbim.MBIMEx3, 0x0400, mbim.MBIMEx3},
		{mbim.MBIMEx3, mbim.MBIMEx1, mbim.MBIMEx1},
	} {
		t.Run(tc.modem.String()+"/"+tc.host.String(), func(t *testing.T) {
			s := newSim(t, WithMBIMEx(tc.modem))
			h := dial(t, s)
			h.open(4096)
			if got := h.negotiate(tc.host); got != tc.want || s.Version() != tc.want {
				t.Fatalf("agreed %v (sim %v), want %v", got, s.Version(), tc.want)
			}
			// Every versioned layout decodes with the layout of the agreed
			// version, and the body is exactly as long as that layout says.
			for _, q := range []struct {
				svc  mbim.UUID
				cid  uint32
				body mbim.InfoAppender
			}{
				{mbim.ServiceBasicConnect, mbim.CIDSubscriberReadyStatus, nil},
				{mbim.ServiceBasicConnect, mbim.CIDRegisterState, nil},
				{mbim.ServiceBasicConnect, mbim.CIDPacketService, nil},
				{mbim.ServiceBasicConnect, mbim.CIDSignalState, nil},
				{mbim.ServiceBasicConnect, mbim.CIDConnect, &mbim.ConnectQueryV3{}},
				{mbim.ServiceBasicConnect, mbim.CIDIpPacketFilters, &mbim.IPPacketFiltersInfo{}},
				{mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsDeviceCaps, nil},
				{mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsLteAttachInfo, nil},
			} {
				m := h.ok(q.svc, q.cid, mbim.CommandQuery, q.body, nil)
				body, name, err := mbim.NewBody(q.svc, q.cid, mbim.KindResponse, tc.want)
				if err != nil {
					t.Fatal(err)
				}
				if err := body.Decode(m.InformationBuffer()); err != nil {
					t.Errorf("%s: decode as %s: %v", mbim.CIDName(q.svc, q.cid), name, err)
					continue
				}
				if n := body.EncodedLen(); n != len(m.InformationBuffer()) {
					t.Errorf("%s: %d bytes, layout %s encodes %d", mbim.CIDName(q.svc, q.cid), len(m.InformationBuffer()), name, n)
				}
			}
			var ps mbim.Body
			switch {
			case tc.want >= mbim.MBIMEx3:
				ps = new(mbim.PacketServiceInfoV3)
			case tc.want >= mbim.MBIMEx2:
				ps = new(mbim.PacketServiceInfoV2)
			default:
				ps = new(mbim.PacketServiceInfo)
			}
			h.query(mbim.CIDPacketService, nil, ps)
			if v3, ok := ps.(*mbim.PacketServiceInfoV3); ok && (v3.HighestAvailableDataClass != mbim.DataClassV3Lte || v3.Tai.PlmnMcc != 1) {
				t.Errorf("PACKET_SERVICE v3 = %+v", v3)
			}
		})
	}
}

func TestVersionUnsupportedOnMBIM1Modem(t *testing.T) {
	s := newSim(t, WithMBIMEx(mbim.MBIMEx1))
	h := dial(t, s)
	h.open(4096)
	m := h.call(mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsVersion, mbim.CommandQuery, &mbim.MsVersionInfo{MbimVersion: 0x100, MbimExtendedVersion: 0x300})
	if m.Status() != mbim.StatusNoDeviceSupport {
		t.Fatalf("VERSION on a 1.0 modem: %v", m.Status())
	}
	if s.Version() != mbim.MBIMEx1 {
		t.Fatalf("version %v", s.Version())
	}
}

func TestResponsesFragmentedAtHostLimit(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(64) // tiny: every real response needs several fragments
	var caps mbim.DeviceCapsInfo
	h.query(mbim.CIDDeviceCaps, nil, &caps)
	if caps.DeviceId.String() != DefaultDevice().DeviceID {
		t.Fatalf("caps %+v", caps)
	}
	var ds mbim.DeviceServicesInfo
	h.query(mbim.CIDDeviceServices, nil, &ds)
	if len(ds.DeviceServices) < 5 {
		t.Fatalf("services %d", len(ds.DeviceServices))
	}
	if c := s.Counters(); c.FragmentsOut < 4 {
		t.Errorf("fragments out %d", c.FragmentsOut)
	}
}

func TestHostFragmentsReassembled(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	// A subscribe list long enough to be split at 64 bytes.
	list := &mbim.DeviceServiceSubscribeListInfo{Events: []mbim.EventEntry{
		{DeviceServiceId: mbim.ServiceBasicConnect, Cids: []uint32{2, 3, 9, 10, 11, 12, 15}},
		{DeviceServiceId: mbim.ServiceQmi, Cids: []uint32{1}},
		{DeviceServiceId: mbim.ServiceMsBasicConnectExtensions, Cids: []uint32{4, 8, 12}},
	}}
	tid := h.nextTID()
	msg, err := mbim.AppendCommandInfo(nil, tid, mbim.ServiceBasicConnect, mbim.CIDDeviceServiceSubscribeList, mbim.CommandSet, list)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := mbim.FragmentCount(msg, 64)
	if n < 3 {
		t.Fatalf("only %d fragments", n)
	}
	for i := range n {
		f, _ := mbim.AppendFragment(nil, msg, 64, i)
		h.send(f)
	}
	m := h.reply(tid)
	if m.Status() != mbim.StatusSuccess {
		t.Fatalf("status %v", m.Status())
	}
	if !s.Subscribed(mbim.ServiceQmi, 1) || s.Subscribed(mbim.ServiceBasicConnect, mbim.CIDSubscriberReadyStatus-1) {
		t.Fatal("subscriptions not applied")
	}
	if c := s.Counters(); c.FragmentsIn != n {
		t.Errorf("fragments in %d, want %d", c.FragmentsIn, n)
	}

	// Out of sequence: fragment 1 first.
	tid = h.nextTID()
	msg, _ = mbim.AppendCommandInfo(nil, tid, mbim.ServiceBasicConnect, mbim.CIDDeviceServiceSubscribeList, mbim.CommandSet, list)
	f1, _ := mbim.AppendFragment(nil, msg, 64, 1)
	h.send(f1)
	m = h.reply(tid)
	if m.Type() != mbim.TypeFunctionError || m.ErrorCode() != mbim.ProtocolErrorFragmentOutOfSequence {
		t.Fatalf("out of sequence: %v %v", m.Type(), m.ErrorCode())
	}

	// A missing fragment: TIMEOUT_FRAGMENT after 1250 ms.
	if testing.Short() {
		return
	}
	tid = h.nextTID()
	msg, _ = mbim.AppendCommandInfo(nil, tid, mbim.ServiceBasicConnect, mbim.CIDDeviceServiceSubscribeList, mbim.CommandSet, list)
	f0, _ := mbim.AppendFragment(nil, msg, 64, 0)
	start := time.Now()
	h.send(f0)
	m = h.reply(tid)
	if m.Type() != mbim.TypeFunctionError || m.ErrorCode() != mbim.ProtocolErrorTimeoutFragment {
		t.Fatalf("timeout: %v %v", m.Type(), m.ErrorCode())
	}
	if d := time.Since(start); d < fragmentTimeout {
		t.Errorf("TIMEOUT_FRAGMENT after %v", d)
	}
	// The function is still usable.
	h.sync()
}

func TestOversizedAndGarbageInput(t *testing.T) {
	s := newSim(t, WithMaxControlMessage(256))
	h := dial(t, s)
	h.open(4096)
	// A message above the function's wMaxControlMessage.
	tid := h.nextTID()
	big := make([]byte, 300)
	msg := mbim.AppendCommand(nil, tid, mbim.ServiceBasicConnect, mbim.CIDDeviceServiceSubscribeList, mbim.CommandSet, big)
	h.send(msg[:256])
	h.send(msg[256:])
	m := h.reply(tid)
	if m.Type() != mbim.TypeFunctionError || m.ErrorCode() != mbim.ProtocolErrorMaxTransfer {
		t.Fatalf("oversized: %v %v", m.Type(), m.ErrorCode())
	}
	// A COMMAND whose lengths do not add up: LENGTH_MISMATCH.
	tid = h.nextTID()
	bad := mbim.AppendCommand(nil, tid, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil)
	bad[44] = 8 // InformationBufferLength 8, none there
	h.send(bad)
	m = h.reply(tid)
	if m.Type() != mbim.TypeFunctionError || m.ErrorCode() != mbim.ProtocolErrorLengthMismatch {
		t.Fatalf("bad lengths: %v %v", m.Type(), m.ErrorCode())
	}
	// Garbage: an unknown type is dropped silently.
	h.send([]byte{0xde, 0xad, 0xbe, 0xef, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0})
	h.sync()
	if c := s.Counters(); c.Garbage != 2 {
		t.Errorf("garbage %d", c.Garbage)
	}
}

func TestRequestLog(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(2048)
	h.set(mbim.CIDRadioState, &mbim.RadioStateSet{RadioState: mbim.RadioSwitchStateOff}, nil)
	rs := s.Requests()
	if len(rs) != 2 {
		t.Fatalf("%d requests: %v", len(rs), rs)
	}
	if rs[0].Type != mbim.TypeOpen || rs[0].MaxControlTransfer != 2048 {
		t.Errorf("first %v", rs[0])
	}
	r := rs[1]
	if !r.Is(mbim.ServiceBasicConnect, mbim.CIDRadioState) || r.CommandType != mbim.CommandSet || r.TID != 2 {
		t.Errorf("second %v", r)
	}
	if b, ok := r.Body.(*mbim.RadioStateSet); !ok || b.RadioState != mbim.RadioSwitchStateOff {
		t.Errorf("body %#v", r.Body)
	}
	if r.String() != "COMMAND BASIC_CONNECT/RADIO_STATE set tid 2" {
		t.Errorf("String() = %q", r.String())
	}
	if m, _ := mbim.ParseMessage(r.Raw); m.CID() != mbim.CIDRadioState {
		t.Errorf("raw %x", r.Raw)
	}
	s.ClearRequests()
	if len(s.Requests()) != 0 {
		t.Error("log not cleared")
	}
}

func TestRequestLogLimit(t *testing.T) {
	s := newSim(t, WithRequestLog(3))
	h := dial(t, s)
	h.open(4096)
	for range 5 {
		h.sync()
	}
	rs := s.Requests()
	if len(rs) != 3 || rs[0].Seq != 4 || rs[2].Seq != 6 {
		t.Fatalf("log %v", rs)
	}
}

func TestTwoHostsShareTheSession(t *testing.T) {
	s := newSim(t)
	a, b := dial(t, s), dial(t, s)
	a.open(4096)
	// b did not open, but the session is the function's: b's command works.
	b.sync()
	// Both get the indications.
	if err := s.Deregister(); err != nil {
		t.Fatal(err)
	}
	ia, ib := a.takeSynced(), b.takeSynced()
	if !slices.Equal(cidNames(ia), cidNames(ib)) || len(ia) == 0 {
		t.Fatalf("a %v, b %v", cidNames(ia), cidNames(ib))
	}
}

func TestClose(t *testing.T) {
	s := New()
	h := newHost(t, s.ServePipe())
	h.open(4096)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.next(time.Second); err == nil || err == errTimeout {
		t.Fatalf("read after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Deregister(); err != ErrSimClosed {
		t.Fatalf("Deregister after Close: %v", err)
	}
}

func TestInject(t *testing.T) {
	s := newSim(t)
	h := dial(t, s)
	h.open(4096)
	// Half a message, then the rest: the host's framer must cope.
	ind := mbim.AppendIndicateStatus(nil, 0, mbim.ServiceBasicConnect, mbim.CIDRadioState, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	s.Inject(ind[:10])
	s.Inject(ind[10:])
	m := h.mustNext()
	if !bytes.Equal(m.Bytes(), ind) {
		t.Fatalf("got %x", m.Bytes())
	}
}
