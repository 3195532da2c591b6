package mbim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestDeviceQuerySet(t *testing.T) {
	f, host := newFake(t, 4096)
	d := openDevice(t, host)
	ctx := ctxT(t)

	var rs RadioStateInfo
	if err := d.Query(ctx, ServiceBasicConnect, CIDRadioState, nil, &rs); err != nil {
		t.Fatal(err)
	}
	if rs.SwRadioState != RadioSwitchStateOn {
		t.Errorf("radio = %+v", rs)
	}
	if err := d.Set(ctx, ServiceBasicConnect, CIDRadioState, &RadioStateSet{RadioState: RadioSwitchStateOff}, &rs); err != nil {
		t.Fatal(err)
	}
	if rs.SwRadioState != RadioSwitchStateOff {
		t.Errorf("radio after set = %+v", rs)
	}
	set := f.commands(ServiceBasicConnect, CIDRadioState)[1]
	if set.CommandType() != CommandSet {
		t.Errorf("command type = %v", set.CommandType())
	}

	b, err := d.QueryBody(ctx, ServiceBasicConnect, CIDDeviceCaps, nil)
	if err != nil {
		t.Fatal(err)
	}
	caps, ok := b.(*DeviceCapsInfo)
	if !ok || caps.FirmwareInfo.String() != "FAKEFW-1.0" || caps.MaxSessions != 8 {
		t.Errorf("QueryBody = %#v", b)
	}

	r, err := d.Command(ctx, ServiceBasicConnect, CIDRadioState, CommandQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status() != StatusSuccess || r.CID() != CIDRadioState || r.Service() != ServiceBasicConnect ||
		len(r.InformationBuffer()) != 8 || r.Version() != MBIMEx1 || r.Message().Type() != TypeCommandDone {
		t.Errorf("Response = %v %d %d", r.Status(), r.CID(), len(r.InformationBuffer()))
	}
	if body, err := r.Decode(); err != nil || body.(*RadioStateInfo).SwRadioState != RadioSwitchStateOff {
		t.Errorf("Response.Decode = %v, %v", body, err)
	}
}

func TestDeviceCallErrors(t *testing.T) {
	f, host := newFake(t, 4096)
	f.ext = MBIMEx3
	f.handle(ServiceBasicConnect, CIDSubscriberReadyStatus, CommandQuery, func(f *fakeFn, req Message) fakeOut {
		return fakeDone(f.t, req, StatusSimNotInserted, nil)
	})
	f.handle(ServiceBasicConnect, CIDPacketStatistics, CommandQuery, func(f *fakeFn, req Message) fakeOut {
		return fakeDone(f.t, req, StatusSuccess, rawInfo{1, 2, 3}) // 3 bytes of a 48-byte layout
	})
	f.handle(ServiceBasicConnect, CIDHomeProvider, CommandQuery, func(f *fakeFn, req Message) fakeOut {
		return fakeMsgs(AppendFunctionError(nil, req.TransactionID(), ProtocolErrorUnknown))
	})
	f.handle(ServiceBasicConnect, CIDVisibleProviders, CommandQuery, func(f *fakeFn, req Message) fakeOut {
		// Answered for the wrong CID.
		return fakeMsgs(AppendCommandDone(nil, req.TransactionID(), ServiceBasicConnect, CIDRadioState, StatusSuccess, make([]byte, 8)))
	})
	d := openDevice(t, host)
	ctx := ctxT(t)

	t.Run("status", func(t *testing.T) {
		_, err := d.SubscriberReadyStatus(ctx)
		var ce *CommandError
		if !errors.As(err, &ce) || ce.CID != CIDSubscriberReadyStatus || ce.TID == 0 || !errors.Is(err, StatusSimNotInserted) {
			t.Errorf("err = %v, want a *CommandError SIM_NOT_INSERTED", err)
		}
		r, err := d.Command(ctx, ServiceBasicConnect, CIDSubscriberReadyStatus, CommandQuery, nil)
		if r == nil || r.Status() != StatusSimNotInserted || err == nil {
			t.Errorf("Command on failure = %v, %v: want the response and the error", r, err)
		}
	})
	t.Run("layout mismatch", func(t *testing.T) {
		err := d.Query(ctx, ServiceBasicConnect, CIDPacketService, nil, new(PacketServiceInfo))
		var le *LayoutError
		if !errors.As(err, &le) || le.Want != "PacketServiceInfoV3" || le.Got != "PacketServiceInfo" {
			t.Fatalf("err = %v, want a *LayoutError", err)
		}
		if !strings.Contains(err.Error(), "PacketServiceInfoV3") || !strings.Contains(err.Error(), "PacketServiceInfo,") &&
			!strings.Contains(err.Error(), "not PacketServiceInfo") {
			t.Errorf("message %q does not name both layouts", err)
		}
		// The request layout is checked too: CONNECT's query is
		// ConnectQueryV3 at 3.0.
		err = d.Query(ctx, ServiceBasicConnect, CIDConnect, &ConnectInfo{}, new(ConnectInfoV3))
		if !errors.As(err, &le) || le.Kind != KindQuery || le.Want != "ConnectQueryV3" {
			t.Errorf("err = %v, want a query *LayoutError", err)
		}
		// A CID that cannot be queried.
		err = d.Query(ctx, ServiceBasicConnect, CIDDeviceServiceSubscribeList, nil, nil)
		if !errors.As(err, &le) || le.Want != "" {
			t.Errorf("query of a set-only CID: %v", err)
		}
		if n := len(f.commands(ServiceBasicConnect, CIDPacketService)); n != 0 {
			t.Errorf("a mismatched call was sent (%d)", n)
		}
	})
	t.Run("malformed body", func(t *testing.T) {
		_, err := d.PacketStatistics(ctx)
		var pe *ParseError
		if !errors.As(err, &pe) || !errors.Is(err, ErrTruncated) {
			t.Errorf("err = %v, want a *ParseError", err)
		}
	})
	t.Run("function error", func(t *testing.T) {
		_, err := d.HomeProvider(ctx)
		var fe *FunctionError
		if !errors.As(err, &fe) || fe.Code != ProtocolErrorUnknown || fe.CID != CIDHomeProvider || !errors.Is(err, ProtocolErrorUnknown) {
			t.Errorf("err = %v, want a *FunctionError UNKNOWN", err)
		}
	})
	t.Run("answer for another CID", func(t *testing.T) {
		_, err := d.Command(ctx, ServiceBasicConnect, CIDVisibleProviders, CommandQuery, &VisibleProvidersQuery{})
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("err = %v, want ErrMalformed", err)
		}
	})
	t.Run("unknown service", func(t *testing.T) {
		vendor := MustParseUUID("01020304-0506-0708-090a-0b0c0d0e0f10")
		r, err := d.Command(ctx, vendor, 1, CommandQuery, nil)
		if !errors.Is(err, StatusNoDeviceSupport) || r == nil {
			t.Errorf("err = %v", err)
		}
		if _, err := d.QueryBody(ctx, vendor, 1, nil); !errors.Is(err, ErrNoLayout) {
			t.Errorf("QueryBody of an unknown service: %v", err)
		}
	})
	st := d.Stats()
	count := func(cid uint32, res Result) uint64 {
		for _, c := range st.Transactions {
			if c.Type == TypeCommand && c.Service == ServiceBasicConnect && c.CID == cid && c.Result == res {
				return c.Count
			}
		}
		return 0
	}
	if count(CIDSubscriberReadyStatus, ResultStatus) != 2 || count(CIDHomeProvider, ResultFunctionError) != 1 ||
		count(CIDDeviceServices, ResultSuccess) != 1 {
		t.Errorf("Stats.Transactions = %+v", st.Transactions)
	}
	if st.ProtocolErrors[ProtocolErrorUnknown] != 1 {
		t.Errorf("ProtocolErrors = %v", st.ProtocolErrors)
	}
}

// rawInfo is an information buffer of raw bytes.
type rawInfo []byte

func (r rawInfo) AppendBinary(b []byte) ([]byte, error) { return append(b, r...), nil }

func TestDeviceTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, host := newFake(t, 4096)
		silent := true
		var mu sync.Mutex
		f.handle(ServiceBasicConnect, CIDPin, CommandQuery, func(f *fakeFn, req Message) fakeOut {
			mu.Lock()
			defer mu.Unlock()
			if silent {
				return fakeOut{}
			}
			return fakeDone(f.t, req, StatusSuccess, &PinInfo{PinType: PinTypePin1, RemainingAttempts: 3})
		})
		d := openDevice(t, host, WithTimeout(2*time.Second))
		start := time.Now()
		_, err := d.Pin(context.Background()) // no deadline: the default applies
		var te *TimeoutError
		if !errors.As(err, &te) || te.Type != TypeCommand || te.Service != ServiceBasicConnect || te.CID != CIDPin || te.TID == 0 {
			t.Fatalf("err = %#v, want a *TimeoutError", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Error("TimeoutError does not wrap context.DeadlineExceeded")
		}
		if took := time.Since(start); took != 2*time.Second {
			t.Errorf("timed out after %v, want 2s", took)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err = d.Pin(ctx)
		cancel()
		if !errors.As(err, &te) {
			t.Fatalf("err = %v", err)
		}
		if n := d.ConsecutiveTimeouts(); n != 2 {
			t.Errorf("ConsecutiveTimeouts = %d, want 2", n)
		}
		// A cancellation is not a timeout.
		ctx, cancel = context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		_, err = d.Pin(ctx)
		if !errors.Is(err, context.Canceled) || errors.As(err, &te) {
			t.Errorf("cancelled call: %v", err)
		}
		mu.Lock()
		silent = false
		mu.Unlock()
		pin, err := d.Pin(context.Background())
		if err != nil || pin.RemainingAttempts != 3 {
			t.Fatalf("Pin = %+v, %v", pin, err)
		}
		if n := d.ConsecutiveTimeouts(); n != 0 {
			t.Errorf("ConsecutiveTimeouts after an answer = %d, want 0", n)
		}
		if st := d.Stats(); st.Timeouts != 2 {
			t.Errorf("Stats.Timeouts = %d", st.Timeouts)
		}
	})
}

func TestDeviceLateAnswerIsDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, host := newFake(t, 4096)
		f.handle(ServiceBasicConnect, CIDPin, CommandQuery, func(f *fakeFn, req Message) fakeOut {
			o := fakeDone(f.t, req, StatusSuccess, &PinInfo{})
			o.delay = 3 * time.Second
			return o
		})
		d := openDevice(t, host, WithTimeout(time.Second))
		if _, err := d.Pin(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if st := d.Stats(); st.UnmatchedReplies != 1 {
			t.Errorf("UnmatchedReplies = %d, want 1", st.UnmatchedReplies)
		}
		if _, err := d.RadioState(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDeviceVersions runs the conveniences whose layouts change with the
// version against a function that answers with the layout of each version,
// and checks the normalised results and the requests' layouts.
func TestDeviceVersions(t *testing.T) {
	for _, v := range []Version{MBIMEx1, MBIMEx2, MBIMEx3} {
		t.Run(v.String(), func(t *testing.T) {
			f, host := newFake(t, 4096)
			if v > MBIMEx1 {
				f.ext = v
			}
			installVersionedHandlers(f, v)
			d := openDevice(t, host)
			if d.Version() != v {
				t.Fatalf("Version = %v", d.Version())
			}
			ctx := ctxT(t)

			ps, err := d.PacketService(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantPS := PacketServiceStatus{State: PacketServiceStateAttached, DataClass: uint32(DataClassLte),
				UplinkSpeed: 50e6, DownlinkSpeed: 150e6, Version: v}
			if v >= MBIMEx2 {
				wantPS.FrequencyRange = FrequencyRangeRange1
			}
			if v >= MBIMEx3 {
				wantPS.DataClass = uint32(DataClassV35g)
				wantPS.DataSubclass = DataSubclass5gNr
				wantPS.Tai = Tai{PlmnMcc: 262, PlmnMnc: 1, Tac: 77}
			}
			if ps != wantPS {
				t.Errorf("PacketService = %+v\nwant %+v", ps, wantPS)
			}
			if ps, err = d.Attach(ctx); err != nil || ps.State != PacketServiceStateAttached {
				t.Errorf("Attach = %+v, %v", ps, err)
			}

			reg, err := d.RegisterState(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if reg.State != RegisterStateHome || reg.ProviderName != "Fake Net" || reg.ProviderID != "26201" {
				t.Errorf("RegisterState = %+v", reg)
			}
			if wantPref := map[bool]DataClass{true: DataClassLte}[v >= MBIMEx2]; reg.PreferredDataClasses != wantPref {
				t.Errorf("PreferredDataClasses = %v, want %v", reg.PreferredDataClasses, wantPref)
			}

			sig, err := d.SignalState(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if dbm, ok := sig.RssiDBm(); !ok || dbm != -73 {
				t.Errorf("RssiDBm = %d, %v", dbm, ok)
			}
			if (len(sig.RsrpSnr) == 1) != (v >= MBIMEx2) {
				t.Errorf("RsrpSnr = %+v", sig.RsrpSnr)
			}

			sub, err := d.SubscriberReadyStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sub.ReadyState != SubscriberReadyStateInitialized || sub.SubscriberID != "262011234567890" ||
				(sub.Flags == SubscriberReadyStatusFlagEsim) != (v >= MBIMEx3) {
				t.Errorf("SubscriberReadyStatus = %+v", sub)
			}

			req := ConnectRequest{SessionID: 0, AccessString: "internet", UserName: "user", Password: "secret",
				AuthProtocol: AuthProtocolChap, IPType: ContextIpTypeIpv4v6}
			c, err := d.Connect(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if c.ActivationState != ActivationStateActivated || c.ContextType != contextTypeInternet {
				t.Errorf("Connect = %+v", c)
			}
			last := f.commands(ServiceBasicConnect, CIDConnect)
			sent := last[len(last)-1]
			var apn, pw String
			if v >= MBIMEx3 {
				var s ConnectSetV3
				if err := s.Decode(sent.InformationBuffer()); err != nil {
					t.Fatalf("CONNECT set is not ConnectSetV3: %v", err)
				}
				apn, pw = s.AccessString, s.Password
			} else {
				var s ConnectSet
				if err := s.Decode(sent.InformationBuffer()); err != nil {
					t.Fatalf("CONNECT set is not ConnectSet: %v", err)
				}
				apn, pw = s.AccessString, s.Password
			}
			if apn.String() != "internet" || pw.String() != "secret" {
				t.Errorf("CONNECT set: apn %q", apn)
			}
			if c, err = d.ConnectState(ctx, 0); err != nil || c.ActivationState != ActivationStateActivated {
				t.Errorf("ConnectState = %+v, %v", c, err)
			}
			q := f.commands(ServiceBasicConnect, CIDConnect)
			if n := len(q[len(q)-1].InformationBuffer()); (n == 4) != (v >= MBIMEx3) {
				t.Errorf("CONNECT query is %d bytes at %v", n, v)
			}
			// A refusal carries the reason.
			c, err = d.Connect(ctx, ConnectRequest{SessionID: 1, AccessString: "bad"})
			if !errors.Is(err, StatusFailure) || c.NwError != NwErrorMissingOrUnknownApn {
				t.Errorf("refused Connect = %+v, %v", c, err)
			}
			if c, err = d.Disconnect(ctx, 0); err != nil || c.ActivationState != ActivationStateDeactivated {
				t.Errorf("Disconnect = %+v, %v", c, err)
			}

			ip, err := d.IPConfiguration(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(ip.IPv4Addresses) != 1 || ip.IPv4Addresses[0].Prefix() != netip.MustParsePrefix("10.1.2.3/28") {
				t.Errorf("IPConfiguration = %+v", ip)
			}
		})
	}
}

// installVersionedHandlers answers the version-dependent CIDs with the
// layouts of version v.
func installVersionedHandlers(f *fakeFn, v Version) {
	bc := ServiceBasicConnect
	ps := func(f *fakeFn, req Message) fakeOut {
		var b Body
		switch {
		case v >= MBIMEx3:
			b = &PacketServiceInfoV3{PacketServiceState: PacketServiceStateAttached, HighestAvailableDataClass: DataClassV35g,
				UplinkSpeed: 50e6, DownlinkSpeed: 150e6, FrequencyRange: FrequencyRangeRange1, DataSubclass: DataSubclass5gNr,
				Tai: Tai{PlmnMcc: 262, PlmnMnc: 1, Tac: 77}}
		case v >= MBIMEx2:
			b = &PacketServiceInfoV2{PacketServiceState: PacketServiceStateAttached, CurrentDataClass: DataClassLte,
				UplinkSpeed: 50e6, DownlinkSpeed: 150e6, FrequencyRange: FrequencyRangeRange1}
		default:
			b = &PacketServiceInfo{PacketServiceState: PacketServiceStateAttached, HighestAvailableDataClass: DataClassLte,
				UplinkSpeed: 50e6, DownlinkSpeed: 150e6}
		}
		return fakeDone(f.t, req, StatusSuccess, b)
	}
	f.handle(bc, CIDPacketService, CommandQuery, ps)
	f.handle(bc, CIDPacketService, CommandSet, ps)
	f.handle(bc, CIDRegisterState, CommandQuery, func(f *fakeFn, req Message) fakeOut {
		v1 := RegisterStateInfo{RegisterState: RegisterStateHome, RegisterMode: RegisterModeAutomatic,
			AvailableDataClasses: DataClassLte, CurrentCellularClass: CellularClassGsm,
			ProviderId: NewString("26201"), ProviderName: NewString("Fake Net")}
		if v >= MBIMEx2 {
			return fakeDone(f.t, req, StatusSuccess, &RegisterStateInfoV2{RegisterState: v1.RegisterState, RegisterMode: v1.RegisterMode,
				AvailableDataClasses: v1.AvailableDataClasses, CurrentCellularClass: v1.CurrentCellularClass,
				ProviderId: v1.ProviderId, ProviderName: v1.ProviderName, PreferredDataClasses: DataClassLte})
		}
		return fakeDone(f.t, req, StatusSuccess, &v1)
	})
	f.handle(bc, CIDSignalState, CommandQuery, func(f *fakeFn, req Message) fakeOut {
		if v >= MBIMEx2 {
			return fakeDone(f.t, req, StatusSuccess, &SignalStateInfoV2{Rssi: 20, ErrorRate: 99,
				RsrpSnr: []RsrpSnrInfo{{Rsrp: 60, Snr: 70, SystemType: DataClassLte}}})
		}
		return fakeDone(f.t, req, StatusSuccess, &SignalStateInfo{Rssi: 20, ErrorRate: 99})
	})
	f.handle(bc, CIDSubscriberReadyStatus, CommandQuery, func(f *fakeFn, req Message) fakeOut {
		if v >= MBIMEx3 {
			return fakeDone(f.t, req, StatusSuccess, &SubscriberReadyStatusInfoV3{ReadyState: SubscriberReadyStateInitialized,
				Flags: SubscriberReadyStatusFlagEsim, SubscriberId: NewString("262011234567890"), SimIccId: NewString("8949")})
		}
		return fakeDone(f.t, req, StatusSuccess, &SubscriberReadyStatusInfo{ReadyState: SubscriberReadyStateInitialized,
			SubscriberId: NewString("262011234567890"), SimIccId: NewString("8949")})
	})
	connect := func(f *fakeFn, req Message) fakeOut {
		state, st, nw := ActivationStateActivated, StatusSuccess, NwErrorNone
		var session uint32
		if req.CommandType() == CommandSet {
			var cmd ActivationCommand
			var apn String
			if v >= MBIMEx3 {
				var s ConnectSetV3
				if err := s.Decode(req.InformationBuffer()); err != nil {
					return fakeDone(f.t, req, StatusInvalidParameters, nil)
				}
				session, cmd, apn = s.SessionId, s.ActivationCommand, s.AccessString
			} else {
				var s ConnectSet
				if err := s.Decode(req.InformationBuffer()); err != nil {
					return fakeDone(f.t, req, StatusInvalidParameters, nil)
				}
				session, cmd, apn = s.SessionId, s.ActivationCommand, s.AccessString
			}
			if cmd == ActivationCommandDeactivate {
				state = ActivationStateDeactivated
			}
			if apn.String() == "bad" {
				state, st, nw = ActivationStateDeactivated, StatusFailure, NwErrorMissingOrUnknownApn
			}
		}
		if v >= MBIMEx3 {
			return fakeDone(f.t, req, st, &ConnectInfoV3{SessionId: session, ActivationState: state, IpType: ContextIpTypeIpv4v6,
				ContextType: contextTypeInternet, NwError: nw, AccessString: NewString("internet")})
		}
		return fakeDone(f.t, req, st, &ConnectInfo{SessionId: session, ActivationState: state, IpType: ContextIpTypeIpv4v6,
			ContextType: contextTypeInternet, NwError: nw})
	}
	f.handle(bc, CIDConnect, CommandSet, connect)
	f.handle(bc, CIDConnect, CommandQuery, connect)
	f.handle(bc, CIDIpConfiguration, CommandQuery, func(f *fakeFn, req Message) fakeOut {
		return fakeDone(f.t, req, StatusSuccess, &IPConfigurationInfo{
			IPv4ConfigurationAvailable: IPConfigurationAvailableAddress | IPConfigurationAvailableGateway,
			IPv4Addresses:              []IPv4Element{{OnLinkPrefixLength: 28, IPv4Address: netip.MustParseAddr("10.1.2.3")}},
			IPv4Gateway:                netip.MustParseAddr("10.1.2.1"),
		})
	})
}

func TestConnectRequestRedacted(t *testing.T) {
	r := ConnectRequest{AccessString: "apn", UserName: "alice", Password: "hunter2"}
	var logs strings.Builder
	slog.New(slog.NewTextHandler(&logs, nil)).Info("connect", "req", r)
	for _, s := range []string{fmt.Sprint(r), fmt.Sprintf("%v %+v %#v %s", r, r, r, r), logs.String()} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "alice") {
			t.Errorf("credentials printed: %s", s)
		}
		if !strings.Contains(s, "apn") {
			t.Errorf("APN missing: %s", s)
		}
	}
	s := SubscriberStatus{SubscriberID: "262011234567890", SimICCID: "8949"}
	logs.Reset()
	slog.New(slog.NewTextHandler(&logs, nil)).Info("sim", "status", s)
	if out := fmt.Sprint(s) + logs.String(); strings.Contains(out, "2620112") || strings.Contains(out, "8949") {
		t.Errorf("personal fields printed: %s", out)
	}
}

func TestDeviceEnterPin(t *testing.T) {
	f, host := newFake(t, 4096)
	f.handle(ServiceBasicConnect, CIDPin, CommandSet, func(f *fakeFn, req Message) fakeOut {
		var s PinSet
		if err := s.Decode(req.InformationBuffer()); err != nil {
			return fakeDone(f.t, req, StatusInvalidParameters, nil)
		}
		if s.Pin.String() != "1234" {
			return fakeDone(f.t, req, StatusFailure, &PinInfo{PinType: s.PinType, PinState: PinStateLocked, RemainingAttempts: 2})
		}
		return fakeDone(f.t, req, StatusSuccess, &PinInfo{PinType: s.PinType, PinState: PinStateUnlocked, RemainingAttempts: 3})
	})
	d := openDevice(t, host)
	p, err := d.EnterPin(ctxT(t), PinTypePin1, "0000")
	if !errors.Is(err, StatusFailure) || p.RemainingAttempts != 2 {
		t.Errorf("wrong PIN: %+v, %v", p, err)
	}
	if p, err = d.EnterPin(ctxT(t), PinTypePin1, "1234"); err != nil || p.PinState != PinStateUnlocked {
		t.Errorf("right PIN: %+v, %v", p, err)
	}
}
