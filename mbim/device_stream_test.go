package mbim

// The reader: framing of the byte stream, fragments, garbage, indications.

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// eventLog collects Events.
type eventLog struct {
	mu sync.Mutex
	ev []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.ev = append(l.ev, e)
	l.mu.Unlock()
}

func (l *eventLog) of(k EventKind) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.ev {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls cond for up to 5 s (for tests that run in real time).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDeviceFragmentedRequest(t *testing.T) {
	// The function accepts 64-byte control messages; the host announces
	// 64 too, so the echoed subscribe list comes back in fragments.
	f, host := newFake(t, 64)
	var mu sync.Mutex
	var sizes []int
	d := openDevice(t, host, WithTrace(func(dir Direction, msg []byte) {
		if dir == DirectionOut {
			mu.Lock()
			sizes = append(sizes, len(msg))
			mu.Unlock()
		}
	}))
	list := DefaultDeviceSubscriptions()
	list = append(list, EventEntry{DeviceServiceId: ServiceMsBasicConnectExtensions, Cids: []uint32{1, 3, 4, 8, 9, 12, 16}},
		EventEntry{DeviceServiceId: ServiceSms, Cids: []uint32{1, 2, 5}})
	if err := d.SetDeviceSubscriptions(ctxT(t), list...); err != nil {
		t.Fatal(err)
	}
	got := f.subListCopy()
	if len(got) != 3 || !slices.Equal(got[1].Cids, list[1].Cids) || got[2].DeviceServiceId != ServiceSms {
		t.Errorf("function got %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range sizes {
		if n > 64 {
			t.Errorf("wrote a %d-byte message to a 64-byte function", n)
		}
	}
	st := d.Stats()
	if st.FragmentsSent < 4 || st.FragmentsReceived < 4 {
		t.Errorf("fragments sent %d, received %d", st.FragmentsSent, st.FragmentsReceived)
	}
}

func TestDeviceFragmentedResponseAndIndication(t *testing.T) {
	for _, mode := range []fakeWriteMode{fakeWhole, fakeBytewise, fakeCoalesce} {
		t.Run([]string{"whole", "bytewise", "coalesce"}[mode], func(t *testing.T) {
			f, host := newFake(t, 4096)
			f.mode = mode
			long := strings.Repeat("fragmented ", 20)
			f.handle(ServiceBasicConnect, CIDHomeProvider, CommandQuery, func(f *fakeFn, req Message) fakeOut {
				return fakeDone(f.t, req, StatusSuccess, &HomeProviderInfo{Provider: Provider{
					ProviderId: NewString("26201"), ProviderName: NewString(long), Rssi: 12}})
			})
			sub := NewSubscription(SubscribeFilter{Service: ServiceBasicConnect, CIDs: []uint32{CIDRegisterState}}, 4)
			d := openDevice(t, host, WithMaxControlTransfer(64), WithSubscription(sub))
			p, err := d.HomeProvider(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if p.ProviderName.String() != long || p.Rssi != 12 {
				t.Errorf("provider = %q", p.ProviderName)
			}
			f.inject(fakeOut{msgs: fakeSplit(t, fakeIndication(t, ServiceBasicConnect, CIDRegisterState,
				&RegisterStateInfo{RegisterState: RegisterStateRoaming, ProviderName: NewString(long)}), 64)})
			select {
			case ind := <-sub.C():
				r, err := ind.Decode()
				if err != nil {
					t.Fatal(err)
				}
				reg, err := RegistrationFrom(r)
				if err != nil || reg.State != RegisterStateRoaming || reg.ProviderName != long {
					t.Errorf("indication = %+v, %v", reg, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no indication")
			}
			if st := d.Stats(); st.FragmentsReceived < 10 {
				t.Errorf("FragmentsReceived = %d", st.FragmentsReceived)
			}
		})
	}
}

func TestDeviceFragmentErrors(t *testing.T) {
	big := &HomeProviderInfo{Provider: Provider{ProviderName: NewString(strings.Repeat("x", 100))}}
	frags := func(f *fakeFn, req Message) [][]byte {
		msg, err := AppendCommandDoneInfo(nil, req.TransactionID(), req.Service(), req.CID(), StatusSuccess, big)
		if err != nil {
			f.t.Fatal(err)
		}
		return fakeSplit(f.t, msg, 64)
	}
	t.Run("out of sequence", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f, host := newFake(t, 4096)
			f.handle(ServiceBasicConnect, CIDHomeProvider, CommandQuery, func(f *fakeFn, req Message) fakeOut {
				fr := frags(f, req)
				return fakeOut{msgs: [][]byte{fr[0], fr[2]}, raw: true}
			})
			var events eventLog
			d := openDevice(t, host, WithMaxControlTransfer(64), WithEventHandler(events.add))
			start := time.Now()
			_, err := d.HomeProvider(context.Background())
			var fe *FragmentError
			if !errors.Is(err, ProtocolErrorFragmentOutOfSequence) || !errors.As(err, &fe) {
				t.Fatalf("err = %v, want FRAGMENT_OUT_OF_SEQUENCE", err)
			}
			if time.Since(start) != 0 {
				t.Errorf("failed after %v, want at once", time.Since(start))
			}
			synctest.Wait()
			wantHostError(t, f, fe.TID, ProtocolErrorFragmentOutOfSequence)
			if len(events.of(EventFragmentError)) != 1 || d.Stats().HostErrorsSent != 1 {
				t.Errorf("events %v, stats %+v", events.ev, d.Stats())
			}
			if _, err := d.RadioState(context.Background()); err != nil {
				t.Errorf("next call: %v", err)
			}
		})
	})
	t.Run("missing fragment", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f, host := newFake(t, 4096)
			f.handle(ServiceBasicConnect, CIDHomeProvider, CommandQuery, func(f *fakeFn, req Message) fakeOut {
				return fakeOut{msgs: frags(f, req)[:2], raw: true}
			})
			d := openDevice(t, host, WithMaxControlTransfer(64))
			start := time.Now()
			_, err := d.HomeProvider(context.Background())
			var fe *FragmentError
			if !errors.Is(err, ProtocolErrorTimeoutFragment) || !errors.As(err, &fe) {
				t.Fatalf("err = %v, want TIMEOUT_FRAGMENT", err)
			}
			if took := time.Since(start); took != FragmentTimeout {
				t.Errorf("failed after %v, want %v", took, FragmentTimeout)
			}
			synctest.Wait()
			wantHostError(t, f, fe.TID, ProtocolErrorTimeoutFragment)
			if _, err := d.RadioState(context.Background()); err != nil {
				t.Errorf("next call: %v", err)
			}
		})
	})
	t.Run("function error mid-reassembly (Q4)", func(t *testing.T) {
		f, host := newFake(t, 4096)
		f.handle(ServiceBasicConnect, CIDHomeProvider, CommandQuery, func(f *fakeFn, req Message) fakeOut {
			return fakeOut{msgs: [][]byte{frags(f, req)[0], AppendFunctionError(nil, req.TransactionID(), ProtocolErrorCancel)}, raw: true}
		})
		d := openDevice(t, host, WithMaxControlTransfer(64))
		_, err := d.HomeProvider(ctxT(t))
		if !errors.Is(err, ProtocolErrorCancel) {
			t.Fatalf("err = %v, want CANCEL", err)
		}
		if n := len(f.received(TypeHostError)); n != 0 {
			t.Errorf("%d HOST_ERRORs sent", n)
		}
		if _, err := d.RadioState(ctxT(t)); err != nil {
			t.Errorf("next call: %v", err)
		}
	})
}

func wantHostError(t *testing.T, f *fakeFn, tid uint32, code ProtocolError) {
	t.Helper()
	for _, m := range f.received(TypeHostError) {
		if m.TransactionID() == tid && m.ErrorCode() == code {
			return
		}
	}
	t.Errorf("no HOST_ERROR %v for tid %d; got %d HOST_ERRORs", code, tid, len(f.received(TypeHostError)))
}

func TestDeviceStreamModes(t *testing.T) {
	for _, mode := range []fakeWriteMode{fakeBytewise, fakeCoalesce} {
		t.Run([]string{"whole", "bytewise", "coalesce"}[mode], func(t *testing.T) {
			f, host := newFake(t, 4096)
			f.mode = mode
			f.ext = MBIMEx3
			installVersionedHandlers(f, MBIMEx3)
			// Answer PACKET_SERVICE with three indications in front of the
			// response: in coalesce mode all four arrive in one read.
			f.handle(ServiceBasicConnect, CIDPacketService, CommandQuery, func(f *fakeFn, req Message) fakeOut {
				ind := fakeIndication(f.t, ServiceBasicConnect, CIDSignalState, &SignalStateInfoV2{Rssi: 10})
				o := fakeDone(f.t, req, StatusSuccess, &PacketServiceInfoV3{PacketServiceState: PacketServiceStateAttached})
				o.msgs = append([][]byte{ind, ind, ind}, o.msgs...)
				return o
			})
			sub := NewSubscription(SubscribeFilter{}, 8)
			d := openDevice(t, host, WithSubscription(sub))
			if d.Version() != MBIMEx3 {
				t.Fatalf("Version = %v", d.Version())
			}
			ps, err := d.PacketService(ctxT(t))
			if err != nil || ps.State != PacketServiceStateAttached {
				t.Fatalf("PacketService = %+v, %v", ps, err)
			}
			for range 3 {
				ind := <-sub.C()
				b, err := ind.Decode()
				if err != nil {
					t.Fatal(err)
				}
				sig, err := SignalFrom(b)
				if err != nil || sig.Rssi != 10 || ind.Version() != MBIMEx3 {
					t.Errorf("indication = %+v, %v", sig, err)
				}
			}
			if st := d.Stats(); st.MalformedStreams != 0 || len(st.Indications) != 1 || st.Indications[0].Count != 3 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func TestDeviceIndicationsBeforeOpenDone(t *testing.T) {
	for _, mode := range []fakeWriteMode{fakeWhole, fakeCoalesce} {
		t.Run([]string{"whole", "bytewise", "coalesce"}[mode], func(t *testing.T) {
			f, host := newFake(t, 4096)
			f.mode = mode
			f.openReply = func(f *fakeFn, req Message) fakeOut {
				o := f.acceptOpen(req)
				ind := fakeIndication(f.t, ServiceBasicConnect, CIDRadioState, &RadioStateInfo{SwRadioState: RadioSwitchStateOn})
				o.msgs = append([][]byte{ind}, o.msgs...)
				return o
			}
			sub := NewSubscription(SubscribeFilter{Service: ServiceBasicConnect}, 0)
			openDevice(t, host, WithSubscription(sub))
			select {
			case ind := <-sub.C():
				if ind.CID() != CIDRadioState || ind.Service() != ServiceBasicConnect {
					t.Errorf("indication %v %d", ind.Service(), ind.CID())
				}
				var rs RadioStateInfo
				if err := ind.DecodeInto(&rs); err != nil || rs.SwRadioState != RadioSwitchStateOn {
					t.Errorf("DecodeInto = %+v, %v", rs, err)
				}
				if err := ind.DecodeInto(new(PinInfo)); !errors.Is(err, ErrNoLayout) {
					t.Errorf("DecodeInto a wrong layout: %v", err)
				}
			default:
				t.Fatal("indication sent before OPEN_DONE was lost")
			}
		})
	}
}

func TestDeviceSlowSubscriber(t *testing.T) {
	f, host := newFake(t, 4096)
	d := openDevice(t, host)
	slow := d.Subscribe(SubscribeFilter{Service: ServiceBasicConnect, CIDs: []uint32{CIDSignalState}}, 2)
	other := d.Subscribe(SubscribeFilter{Service: ServiceBasicConnect, CIDs: []uint32{CIDConnect}}, 0)
	all := d.Subscribe(SubscribeFilter{}, 100)
	ind := fakeIndication(t, ServiceBasicConnect, CIDSignalState, &SignalStateInfo{Rssi: 5})
	f.inject(fakeOut{msgs: slices.Repeat([][]byte{ind}, 10)})
	// The reader is not blocked by the full queue: the call after the
	// indications (in the same stream) completes.
	if _, err := d.RadioState(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := slow.Dropped(); n != 8 {
		t.Errorf("Dropped = %d, want 8", n)
	}
	if len(slow.C()) != 2 || len(other.C()) != 0 || len(all.C()) != 10 || all.Dropped() != 0 {
		t.Errorf("queues: slow %d, other %d, all %d", len(slow.C()), len(other.C()), len(all.C()))
	}
	if st := d.Stats(); st.DroppedIndications != 8 {
		t.Errorf("Stats.DroppedIndications = %d", st.DroppedIndications)
	}
	slow.Close()
	slow.Close()
	for range slow.C() { // drains, then ends: the channel is closed
	}
	f.inject(fakeOut{msgs: [][]byte{ind}})
	if _, err := d.RadioState(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if len(all.C()) != 11 {
		t.Errorf("all has %d", len(all.C()))
	}
	_ = d.Close()
	if _, ok := <-other.C(); ok {
		t.Error("subscription open after Close")
	}
	late := d.Subscribe(SubscribeFilter{}, 1)
	if _, ok := <-late.C(); ok {
		t.Error("subscription on a closed Device is open")
	}
}

func TestDeviceGarbage(t *testing.T) {
	f, host := newFake(t, 4096)
	var events eventLog
	d := openDevice(t, host, WithEventHandler(events.add))
	for i, junk := range [][]byte{
		[]byte("AT+CGMI\r\nOK\r\n"),                               // not MBIM: an unknown type, discarded at once
		{0x03, 0, 0, 0x80, 0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0},    // a COMMAND_DONE claiming 2 GiB (Q5)
		{0x03, 0, 0, 0x80, 0x10, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}, // a COMMAND_DONE 16 bytes long: malformed
	} {
		f.inject(fakeOut{msgs: [][]byte{junk}, raw: true})
		if _, err := d.RadioState(ctxT(t)); err != nil {
			t.Fatalf("call after junk %d: %v", i, err)
		}
		if n := len(events.of(EventMalformedStream)); n != i+1 {
			t.Fatalf("after junk %d: %d malformed events", i, n)
		}
	}
	ev := events.of(EventMalformedStream)
	if !errors.Is(ev[0].Err, ErrUnknownMessageType) || !errors.Is(ev[1].Err, ErrTooLarge) || !errors.Is(ev[2].Err, ErrMalformed) {
		t.Errorf("events: %v", ev)
	}
	if st := d.Stats(); st.MalformedStreams != 3 || st.DiscardedBytes != 13+12+16 {
		t.Errorf("stats: %d streams, %d bytes", st.MalformedStreams, st.DiscardedBytes)
	}
	// Host-originated types are ignored.
	f.inject(fakeMsgs(AppendOpen(nil, 9, 4096), AppendHostError(nil, 3, ProtocolErrorUnknown)))
	if _, err := d.RadioState(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if st := d.Stats(); st.IgnoredMessages != 2 {
		t.Errorf("IgnoredMessages = %d", st.IgnoredMessages)
	}
}

func TestDeviceUnmatchedFunctionError(t *testing.T) {
	f, host := newFake(t, 4096)
	var events eventLog
	d := openDevice(t, host, WithEventHandler(events.add))
	f.inject(fakeMsgs(AppendFunctionError(nil, 77, ProtocolErrorUnknown)))
	if _, err := d.RadioState(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ev := events.of(EventFunctionError)
	var fe *FunctionError
	if len(ev) != 1 || ev[0].TID != 77 || !errors.As(ev[0].Err, &fe) || fe.Code != ProtocolErrorUnknown {
		t.Errorf("events = %v", ev)
	}
	if st := d.Stats(); st.UnmatchedFunctionErrors != 1 || st.Recoveries != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestDeviceTransportLost(t *testing.T) {
	checkNoLeak(t)
	f, host := newFake(t, 4096)
	f.handle(ServiceBasicConnect, CIDPin, CommandQuery, func(*fakeFn, Message) fakeOut { return fakeOut{} })
	var events eventLog
	d := openDevice(t, host, WithEventHandler(events.add))
	sub := d.Subscribe(SubscribeFilter{}, 1)
	errc := make(chan error)
	go func() {
		_, err := d.Pin(context.Background())
		errc <- err
	}()
	waitFor(t, "the PIN query", func() bool { return len(f.commands(ServiceBasicConnect, CIDPin)) == 1 })
	f.stop() // the modem is unplugged
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("pending call: %v, want ErrClosed", err)
	}
	<-d.Done()
	if !errors.Is(d.Err(), ErrClosed) || len(events.of(EventTransportLost)) != 1 {
		t.Errorf("Err = %v, events %v", d.Err(), events.ev)
	}
	if _, err := d.RadioState(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("call after loss: %v", err)
	}
	_ = d.Close()
	if _, ok := <-sub.C(); ok {
		t.Error("subscription still open")
	}
}

func TestDeviceTraceAndObserver(t *testing.T) {
	_, host := newFake(t, 4096)
	type traced struct {
		dir Direction
		typ MessageType
	}
	var mu sync.Mutex
	var trace []traced
	var infos []TransactionInfo
	d := openDevice(t, host,
		WithTrace(func(dir Direction, msg []byte) {
			m, err := ParseMessage(msg)
			if err != nil {
				t.Errorf("traced a bad message: %v", err)
			}
			mu.Lock()
			trace = append(trace, traced{dir, m.Type()})
			mu.Unlock()
		}),
		WithObserver(func(i TransactionInfo) {
			mu.Lock()
			infos = append(infos, i)
			mu.Unlock()
		}))
	if _, err := d.RadioState(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	_ = d.Close()
	mu.Lock()
	defer mu.Unlock()
	want := []traced{
		{DirectionOut, TypeOpen}, {DirectionIn, TypeOpenDone},
		{DirectionOut, TypeCommand}, {DirectionIn, TypeCommandDone}, // DEVICE_SERVICES
		{DirectionOut, TypeCommand}, {DirectionIn, TypeCommandDone}, // RADIO_STATE
		{DirectionOut, TypeClose}, {DirectionIn, TypeCloseDone},
	}
	if !slices.Equal(trace, want) {
		t.Errorf("trace = %v\nwant %v", trace, want)
	}
	if len(infos) != 4 || infos[2].CID != CIDRadioState || infos[2].Result != ResultSuccess || infos[2].Latency <= 0 ||
		infos[0].Type != TypeOpen || infos[3].Type != TypeClose {
		t.Errorf("observer saw %+v", infos)
	}
	st := d.Stats()
	if st.MessagesSent != 4 || st.MessagesReceived != 4 || st.BytesSent == 0 || st.BytesReceived == 0 {
		t.Errorf("stats %+v", st)
	}
}
