package mbim

// A small scriptable MBIM function for the client's tests, served over the
// function end of a Pipe. The full simulator lives in mbim/mbimtest; this
// one only needs to answer OPEN, CLOSE, DEVICE_SERVICES, VERSION and a few
// CIDs, and to misbehave on request: delays, silence, fragments at the
// host's MaxControlTransfer, broken fragment sequences, garbage,
// FUNCTION_ERRORs, indications at any time, and three ways of writing the
// byte stream (one write per message, one byte per write, several messages
// per write).

import (
	"context"
	"errors"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

type fakeWriteMode int

const (
	fakeWhole    fakeWriteMode = iota // one write per message or fragment
	fakeBytewise                      // one byte per write
	fakeCoalesce                      // all messages of one reply in one write
)

// fakeOut is what the function writes in answer to one request (or on its
// own): messages, after a delay. Fragmentable messages longer than the
// host's MaxControlTransfer are split, unless raw is set.
type fakeOut struct {
	msgs  [][]byte
	delay time.Duration
	raw   bool
}

type fakeKey struct {
	service UUID
	cid     uint32
	ct      CommandType
}

type fakeHandler func(f *fakeFn, req Message) fakeOut

type fakeFn struct {
	t    testing.TB
	conn net.Conn
	mode fakeWriteMode

	mu         sync.Mutex
	opened     bool
	hostMax    int
	ext        Version // VERSION answer; 0: the MS extensions service is not listed
	extNoVer   bool    // list the MS extensions service without CID 15
	radio      RadioSwitchState
	handlers   map[fakeKey]fakeHandler
	openReply  fakeHandler // answers OPEN instead of the default
	closeReply fakeHandler // answers CLOSE instead of the default
	got        []Message   // every complete message received, copied
	subList    []EventEntry

	out chan fakeOut
	wg  sync.WaitGroup

	// fast, when set before the first request, answers COMMANDs from the
	// reader goroutine into a reused buffer, without recording (nil: not
	// handled): the benchmark's function then allocates nothing.
	fast    func(req Message, dst []byte) []byte
	fastBuf []byte
}

// newFake starts a function on the function end of a Pipe whose
// MaxControlTransfer (the function's wMaxControlMessage) is max, and
// returns it with the host end.
func newFake(t testing.TB, max int) (*fakeFn, *ConnTransport) {
	host, fn := Pipe(max)
	f := &fakeFn{
		t:        t,
		conn:     fn.c,
		radio:    RadioSwitchStateOn,
		handlers: make(map[fakeKey]fakeHandler),
		out:      make(chan fakeOut, 4096),
		hostMax:  DefaultMaxControlTransfer,
	}
	f.wg.Add(2)
	go f.readLoop()
	go f.writeLoop()
	t.Cleanup(f.stop)
	return f, host
}

func (f *fakeFn) stop() {
	_ = f.conn.Close()
	f.wg.Wait()
}

// handle installs a handler for a service, CID and command type.
func (f *fakeFn) handle(service UUID, cid uint32, ct CommandType, h fakeHandler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[fakeKey{service, cid, ct}] = h
}

// reset forgets the session, as a modem reset does: commands get
// FUNCTION_ERROR NOT_OPENED until the next OPEN.
func (f *fakeFn) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened = false
	f.subList = nil
}

// inject makes the function write msgs on its own.
func (f *fakeFn) inject(o fakeOut) { f.out <- o }

// received returns copies of the complete messages received so far, of
// type typ (0: all).
func (f *fakeFn) received(typ MessageType) []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Message
	for _, m := range f.got {
		if typ == 0 || m.Type() == typ {
			out = append(out, m)
		}
	}
	return out
}

// commands returns the COMMANDs received for service and cid.
func (f *fakeFn) commands(service UUID, cid uint32) []Message {
	var out []Message
	for _, m := range f.received(TypeCommand) {
		if m.Service() == service && m.CID() == cid {
			out = append(out, m)
		}
	}
	return out
}

func (f *fakeFn) readLoop() {
	defer f.wg.Done()
	defer close(f.out)
	buf := make([]byte, 0, 1<<16)
	tmp := make([]byte, 4096)
	ra := NewReassembler(0)
	for {
		n, err := f.conn.Read(tmp)
		buf = append(buf, tmp[:n]...)
		off := 0
		for off < len(buf) {
			m, k, perr := NextMessage(buf[off:])
			if perr != nil {
				if !errors.Is(perr, ErrIncomplete) {
					f.t.Errorf("fake: host sent a bad stream: %v", perr)
					off = len(buf)
				}
				break
			}
			off += k
			if f.fast != nil && m.Type() == TypeCommand {
				if out := f.fast(m, f.fastBuf[:0]); out != nil {
					f.fastBuf = out
					if _, err := f.conn.Write(out); err != nil {
						return
					}
					continue
				}
			}
			full, complete, aerr := ra.Add(m)
			if aerr != nil {
				f.t.Errorf("fake: host sent bad fragments: %v", aerr)
			}
			if complete {
				f.receive(Message{b: cloneBytes(full.Bytes())})
			}
		}
		buf = buf[:copy(buf, buf[off:])]
		if err != nil {
			return
		}
	}
}

func (f *fakeFn) writeLoop() {
	defer f.wg.Done()
	broken := false
	for o := range f.out {
		if broken {
			continue // drain until the reader closes out
		}
		if o.delay > 0 {
			time.Sleep(o.delay)
		}
		var chunks [][]byte
		switch f.mode {
		case fakeCoalesce:
			var all []byte
			for _, m := range o.msgs {
				all = append(all, m...)
			}
			chunks = [][]byte{all}
		case fakeBytewise:
			for _, m := range o.msgs {
				for i := range m {
					chunks = append(chunks, m[i:i+1])
				}
			}
		default:
			chunks = o.msgs
		}
		for _, c := range chunks {
			if _, err := f.conn.Write(c); err != nil {
				broken = true
				break
			}
		}
	}
}

// receive records a message from the host and queues the answer.
func (f *fakeFn) receive(m Message) {
	f.mu.Lock()
	f.got = append(f.got, m)
	f.mu.Unlock()
	o := f.answer(m)
	if len(o.msgs) == 0 {
		return
	}
	if !o.raw {
		f.mu.Lock()
		limit := f.hostMax
		f.mu.Unlock()
		var split [][]byte
		for _, msg := range o.msgs {
			split = append(split, fakeSplit(f.t, msg, limit)...)
		}
		o.msgs = split
	}
	f.out <- o
}

// fakeSplit splits a message into fragments of at most limit bytes.
func fakeSplit(t testing.TB, msg []byte, limit int) [][]byte {
	m, err := ParseMessage(msg)
	if err != nil || !m.Type().fragmentable() || len(msg) <= limit {
		return [][]byte{msg}
	}
	n, err := FragmentCount(msg, limit)
	if err != nil {
		t.Errorf("fake: %v", err)
		return nil
	}
	out := make([][]byte, n)
	for i := range n {
		if out[i], err = AppendFragment(nil, msg, limit, i); err != nil {
			t.Errorf("fake: %v", err)
		}
	}
	return out
}

func (f *fakeFn) answer(m Message) fakeOut {
	tid := m.TransactionID()
	switch m.Type() {
	case TypeOpen:
		f.mu.Lock()
		h := f.openReply
		f.mu.Unlock()
		if h != nil {
			return h(f, m)
		}
		return f.acceptOpen(m)
	case TypeClose:
		f.mu.Lock()
		h := f.closeReply
		f.opened = false
		f.mu.Unlock()
		if h != nil {
			return h(f, m)
		}
		return fakeMsgs(AppendCloseDone(nil, tid, StatusSuccess))
	case TypeCommand:
	default:
		return fakeOut{} // HOST_ERROR: recorded only
	}
	f.mu.Lock()
	opened := f.opened
	h := f.handlers[fakeKey{m.Service(), m.CID(), m.CommandType()}]
	f.mu.Unlock()
	if !opened {
		return fakeMsgs(AppendFunctionError(nil, tid, ProtocolErrorNotOpened))
	}
	if h != nil {
		return h(f, m)
	}
	return f.builtin(m)
}

// builtin answers the CIDs every test needs.
func (f *fakeFn) builtin(m Message) fakeOut {
	f.mu.Lock()
	defer f.mu.Unlock()
	svc, cid, ct := m.Service(), m.CID(), m.CommandType()
	switch {
	case svc == ServiceBasicConnect && cid == CIDDeviceServices && ct == CommandQuery:
		ds := &DeviceServicesInfo{DeviceServices: []DeviceServiceElement{
			{DeviceServiceId: ServiceBasicConnect, Cids: []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 19, 20}},
		}}
		if f.ext != 0 {
			cids := []uint32{1, 3, 4, 6, 15}
			if f.extNoVer {
				cids = cids[:4]
			}
			ds.DeviceServices = append(ds.DeviceServices, DeviceServiceElement{DeviceServiceId: ServiceMsBasicConnectExtensions, Cids: cids})
		}
		return fakeDone(f.t, m, StatusSuccess, ds)
	case svc == ServiceMsBasicConnectExtensions && cid == CIDMsVersion && ct == CommandQuery && f.ext != 0:
		return fakeDone(f.t, m, StatusSuccess, &MsVersionInfo{MbimVersion: 0x0100, MbimExtendedVersion: uint16(f.ext)})
	case svc == ServiceBasicConnect && cid == CIDRadioState && ct == CommandQuery:
		return fakeDone(f.t, m, StatusSuccess, &RadioStateInfo{HwRadioState: RadioSwitchStateOn, SwRadioState: f.radio})
	case svc == ServiceBasicConnect && cid == CIDRadioState && ct == CommandSet:
		var req RadioStateSet
		if err := req.Decode(m.InformationBuffer()); err != nil {
			return fakeDone(f.t, m, StatusInvalidParameters, nil)
		}
		f.radio = req.RadioState
		return fakeDone(f.t, m, StatusSuccess, &RadioStateInfo{HwRadioState: RadioSwitchStateOn, SwRadioState: f.radio})
	case svc == ServiceBasicConnect && cid == CIDDeviceCaps && ct == CommandQuery:
		return fakeDone(f.t, m, StatusSuccess, &DeviceCapsInfo{
			DeviceType: DeviceTypeRemovable, CellularClass: CellularClassGsm, DataClass: DataClassLte | DataClassUmts,
			MaxSessions: 8, DeviceId: NewString("123456789012345"), FirmwareInfo: NewString("FAKEFW-1.0"),
			HardwareInfo: NewString("fake"),
		})
	case svc == ServiceBasicConnect && cid == CIDDeviceServiceSubscribeList && ct == CommandSet:
		var req DeviceServiceSubscribeListInfo
		if err := req.Decode(m.InformationBuffer()); err != nil {
			return fakeDone(f.t, m, StatusInvalidParameters, nil)
		}
		f.subList = cloneEvents(req.Events)
		return fakeDone(f.t, m, StatusSuccess, &req)
	}
	return fakeDone(f.t, m, StatusNoDeviceSupport, nil)
}

// acceptOpen opens the session and answers OPEN_DONE SUCCESS.
func (f *fakeFn) acceptOpen(req Message) fakeOut {
	f.mu.Lock()
	f.opened = true
	f.hostMax = int(req.MaxControlTransfer())
	f.mu.Unlock()
	return fakeMsgs(AppendOpenDone(nil, req.TransactionID(), StatusSuccess))
}

func fakeMsgs(msgs ...[]byte) fakeOut { return fakeOut{msgs: msgs} }

// fakeDone answers req with a COMMAND_DONE.
func fakeDone(t testing.TB, req Message, st Status, body InfoAppender) fakeOut {
	b, err := AppendCommandDoneInfo(nil, req.TransactionID(), req.Service(), req.CID(), st, body)
	if err != nil {
		t.Errorf("fake: %v", err)
	}
	return fakeMsgs(b)
}

// fakeIndication builds an INDICATE_STATUS.
func fakeIndication(t testing.TB, service UUID, cid uint32, body InfoAppender) []byte {
	b, err := AppendIndicateStatusInfo(nil, 0, service, cid, body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openDevice opens a Device on f's Pipe and closes it at cleanup.
func openDevice(t testing.TB, host Transport, opts ...Option) *Device {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := Open(ctx, host, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// ctxT is a context for one call in a test.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkNoLeak fails when goroutines started during the test are still
// running shortly after it.
func checkNoLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("goroutines: %d before, %d after\n%s", base, n, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestDeviceOpenClose(t *testing.T) {
	checkNoLeak(t)
	f, host := newFake(t, 2048)
	d := openDevice(t, host)
	if v := d.Version(); v != MBIMEx1 {
		t.Errorf("Version = %v, want 1.0 (no MS extensions)", v)
	}
	opens := f.received(TypeOpen)
	if len(opens) != 1 {
		t.Fatalf("OPENs = %d, want 1", len(opens))
	}
	if got := opens[0].MaxControlTransfer(); got != 2048 {
		t.Errorf("OPEN MaxControlTransfer = %d, want the transport's 2048", got)
	}
	if tid := opens[0].TransactionID(); tid != 1 {
		t.Errorf("OPEN tid = %d, want 1", tid)
	}
	if d.MaxControlTransfer() != 2048 {
		t.Errorf("MaxControlTransfer() = %d", d.MaxControlTransfer())
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := len(f.received(TypeClose)); n != 1 {
		t.Errorf("CLOSEs = %d, want 1", n)
	}
	_, err := d.RadioState(ctxT(t))
	if !errors.Is(err, ErrClosed) {
		t.Errorf("call after Close: %v, want ErrClosed", err)
	}
	select {
	case <-d.Done():
	default:
		t.Error("Done not closed after Close")
	}
	if !errors.Is(d.Err(), ErrClosed) {
		t.Errorf("Err() = %v", d.Err())
	}
}

func TestDeviceOpenOptions(t *testing.T) {
	t.Run("announced MaxControlTransfer", func(t *testing.T) {
		f, host := newFake(t, 4096)
		openDevice(t, host, WithMaxControlTransfer(1024))
		if got := f.received(TypeOpen)[0].MaxControlTransfer(); got != 1024 {
			t.Errorf("OPEN MaxControlTransfer = %d, want 1024", got)
		}
	})
	t.Run("no open no close", func(t *testing.T) {
		f, host := newFake(t, 4096)
		f.mu.Lock()
		f.opened = true // a session left open by an earlier run
		f.mu.Unlock()
		d := openDevice(t, host, WithNoOpen(7), WithNoClose())
		if n := len(f.received(TypeOpen)); n != 0 {
			t.Errorf("OPENs = %d, want 0", n)
		}
		if _, err := d.RadioState(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		cmds := f.received(TypeCommand) // DEVICE_SERVICES (negotiation), RADIO_STATE
		if tid := cmds[0].TransactionID(); tid != 7 {
			t.Errorf("first tid = %d, want 7", tid)
		}
		next := d.NextTID()
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if n := len(f.received(TypeClose)); n != 0 {
			t.Errorf("CLOSEs = %d, want 0 with WithNoClose", n)
		}
		if want := cmds[len(cmds)-1].TransactionID() + 1; next != want {
			t.Errorf("NextTID = %d, want %d", next, want)
		}
	})
	t.Run("too small transport", func(t *testing.T) {
		_, host := newFake(t, 16)
		if _, err := Open(ctxT(t), host); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Open = %v, want ErrTooLarge", err)
		}
	})
}

func TestDeviceOpenFailureClosesTransport(t *testing.T) {
	checkNoLeak(t)
	f, host := newFake(t, 4096)
	f.openReply = func(f *fakeFn, req Message) fakeOut {
		return fakeMsgs(AppendOpenDone(nil, req.TransactionID(), StatusFailure))
	}
	_, err := Open(ctxT(t), host)
	if !errors.Is(err, StatusFailure) {
		t.Fatalf("Open = %v, want StatusFailure", err)
	}
	// One OPEN, CLOSE before OPEN, a second OPEN: then give up.
	if n := len(f.received(TypeOpen)); n != 2 {
		t.Errorf("OPENs = %d, want 2", n)
	}
	if err := host.WriteControl(context.Background(), AppendClose(nil, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("transport after failed Open: %v, want closed", err)
	}
}

func TestDeviceLayoutNamesAreTypeNames(t *testing.T) {
	// Query and Set check a body's layout by its type name: every layout
	// of the tables must be named after its type.
	for _, l := range Layouts() {
		if got := bodyName(l.New()); got != l.Name {
			t.Errorf("%s %d %s: layout %q is type %q", ServiceName(l.Service), l.CID, l.Kind, l.Name, got)
		}
	}
}

func TestDeviceTIDAllocation(t *testing.T) {
	d := &Device{nextTID: 0xFFFFFFFE, pending: map[uint32]*txn{1: {}, 3: {}}}
	var got []uint32
	for range 5 {
		got = append(got, d.allocTIDLocked())
	}
	if want := []uint32{0xFFFFFFFE, 0xFFFFFFFF, 2, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("tids = %x, want %x (wrap to 1, skip 0 and pending 1 and 3)", got, want)
	}
}

func TestDeviceTIDWrapOnTheWire(t *testing.T) {
	f, host := newFake(t, 4096)
	f.mu.Lock()
	f.opened = true
	f.mu.Unlock()
	d := openDevice(t, host, WithNoOpen(0xFFFFFFFE), WithMaxVersion(MBIMEx1))
	for range 3 {
		if _, err := d.RadioState(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	var tids []uint32
	for _, m := range f.received(TypeCommand) {
		tids = append(tids, m.TransactionID())
	}
	if want := []uint32{0xFFFFFFFE, 0xFFFFFFFF, 1}; !slices.Equal(tids, want) {
		t.Errorf("tids = %x, want %x", tids, want)
	}
}
