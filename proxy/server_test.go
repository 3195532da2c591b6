package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/mbim/mbimtest"
)

// testServer is a Server on a private abstract socket in front of a
// simulated modem.
type testServer struct {
	socket string
	sim    *mbimtest.Sim
	srv    *Server
	opens  atomic.Int32
	mu     sync.Mutex
	dev    *mbim.Device // the last one OpenDevice opened
	paths  []string
}

var socketSeq atomic.Int32

func startServer(t *testing.T, opts ...mbim.Option) *testServer {
	t.Helper()
	ts := &testServer{sim: mbimtest.New()}
	t.Cleanup(func() { ts.sim.Close() })
	ts.socket = fmt.Sprintf("@wwan-proxy-test-%d-%d", os.Getpid(), socketSeq.Add(1))
	ts.srv = NewServer(ServerConfig{
		AllowUID: func(uint32) bool { return true },
		OpenDevice: func(ctx context.Context, path string) (*mbim.Device, error) {
			if filepath.Base(path) == "unopenable" {
				return nil, errors.New("no such modem")
			}
			ts.opens.Add(1)
			dev, err := mbim.Open(ctx, ts.sim.ServePipe(), opts...)
			if err == nil {
				ts.mu.Lock()
				ts.dev, ts.paths = dev, append(ts.paths, path)
				ts.mu.Unlock()
			}
			return dev, err
		},
	})
	ln, err := ListenAbstract(ts.socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ts
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openThrough opens our own client through the server.
func (ts *testServer) openThrough(t *testing.T, path string) (*Transport, *mbim.Device) {
	t.Helper()
	ctx := testCtx(t)
	tr, err := Dial(ctx, path, Options{Socket: ts.socket, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := mbim.Open(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	return tr, dev
}

func TestServerOurClient(t *testing.T) {
	ts := startServer(t)
	ctx := testCtx(t)
	tr, dev := ts.openThrough(t, "/dev/null")
	// The device was opened (and MBIMEx 3 agreed) by the server, so the
	// client was told before the configuration's answer.
	if tr.Version != mbim.MBIMEx3 || dev.Version() != mbim.MBIMEx3 {
		t.Errorf("version through the proxy: transport %s, device %s; want 3.0", tr.Version, dev.Version())
	}
	caps, err := dev.DeviceCaps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := caps.DeviceId.String(); got != ts.sim.Device().DeviceID {
		t.Errorf("device id %q, want %q", got, ts.sim.Device().DeviceID)
	}
	// A second client shares the device; CLOSE of the first never reaches
	// the modem.
	_, dev2 := ts.openThrough(t, "/dev/../dev/null")
	if err := dev.Close(); err != nil {
		t.Errorf("close through the proxy: %v", err)
	}
	if _, err := dev2.SubscriberReadyStatus(ctx); err != nil {
		t.Errorf("second client after the first closed: %v", err)
	}
	if n := ts.opens.Load(); n != 1 {
		t.Errorf("OpenDevice called %d times, want 1", n)
	}
	if c := ts.sim.Counters(); c.Opens != 1 || c.Closes != 0 {
		t.Errorf("modem opened %d times, closed %d times; want 1 and 0", c.Opens, c.Closes)
	}
}

func TestServerSymlinksShareTheDevice(t *testing.T) {
	ts := startServer(t)
	dir := t.TempDir()
	link := filepath.Join(dir, "cdc-wdm0")
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	ts.openThrough(t, link)
	ts.openThrough(t, "/dev/null")
	if n := ts.opens.Load(); n != 1 || ts.paths[0] != "/dev/null" {
		t.Errorf("OpenDevice called %d times with %q, want once with /dev/null", n, ts.paths)
	}

	// A symbolic link that leads nowhere: INVALID_PARAMETERS.
	broken := filepath.Join(dir, "broken")
	if err := os.Symlink(filepath.Join(dir, "nothing"), broken); err != nil {
		t.Fatal(err)
	}
	_, err := Dial(testCtx(t), broken, Options{Socket: ts.socket})
	if !errors.Is(err, ErrConfigurationRefused) || !bytes.Contains([]byte(err.Error()), []byte("INVALID_PARAMETERS")) {
		t.Errorf("broken symlink: %v, want INVALID_PARAMETERS", err)
	}
	// A device that cannot be opened: the connection closes unanswered.
	_, err = Dial(testCtx(t), filepath.Join(dir, "unopenable"), Options{Socket: ts.socket})
	if !errors.Is(err, ErrConfigurationRefused) || !bytes.Contains([]byte(err.Error()), []byte("closed the connection")) {
		t.Errorf("unopenable device: %v, want the connection closed", err)
	}
}

// rawClient speaks the protocol byte by byte.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	buf  []byte
}

func dialRaw(t *testing.T, socket string) *rawClient {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, conn: c}
}

func (r *rawClient) write(b []byte) {
	r.t.Helper()
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

// next reads the next message; ok is false on timeout or EOF.
func (r *rawClient) next(timeout time.Duration) (mbim.Message, bool) {
	deadline := time.Now().Add(timeout)
	for {
		m, n, err := mbim.NextMessage(r.buf)
		if err == nil {
			out, _ := mbim.ParseMessage(append([]byte(nil), m.Bytes()...))
			r.buf = r.buf[n:]
			return out, true
		}
		if !errors.Is(err, mbim.ErrIncomplete) {
			r.t.Fatalf("bad message from the proxy: %v", err)
		}
		_ = r.conn.SetReadDeadline(deadline)
		chunk := make([]byte, 4096)
		k, err := r.conn.Read(chunk)
		r.buf = append(r.buf, chunk[:k]...)
		if err != nil {
			return mbim.Message{}, false
		}
	}
}

func (r *rawClient) must(timeout time.Duration) mbim.Message {
	r.t.Helper()
	m, ok := r.next(timeout)
	if !ok {
		r.t.Fatal("no message from the proxy")
	}
	return m
}

// nextNot returns the next message that is not an indication.
func (r *rawClient) nextNot(ty mbim.MessageType) mbim.Message {
	r.t.Helper()
	for {
		m := r.must(10 * time.Second)
		if m.Type() != ty {
			return m
		}
	}
}

func (r *rawClient) configure(path string, tid uint32) (version *mbim.ProxyControlVersionInfo) {
	r.t.Helper()
	req := mbim.ProxyControlConfigurationSet{DevicePath: mbim.NewString(path), Timeout: 5}
	msg, err := mbim.AppendCommandInfo(nil, tid, mbim.ServiceProxyControl, mbim.CIDProxyControlConfiguration, mbim.CommandSet, &req)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(msg)
	for {
		m := r.must(10 * time.Second)
		switch {
		case m.Type() == mbim.TypeIndicateStatus && m.Service() == mbim.ServiceProxyControl && m.CID() == mbim.CIDProxyControlVersion:
			version = new(mbim.ProxyControlVersionInfo)
			if err := version.Decode(m.InformationBuffer()); err != nil {
				r.t.Fatal(err)
			}
		case m.Type() == mbim.TypeCommandDone:
			if m.TransactionID() != tid || m.Service() != mbim.ServiceProxyControl || m.CID() != 1 || m.Status() != mbim.StatusSuccess || len(m.InformationBuffer()) != 0 {
				r.t.Fatalf("configuration answered tid %d %s cid %d %s", m.TransactionID(), m.Service(), m.CID(), m.Status())
			}
			return version
		default:
			r.t.Fatalf("unexpected %s during configuration", m.Type())
		}
	}
}

func TestServerRawProtocol(t *testing.T) {
	ts := startServer(t, mbim.WithoutRecovery())

	// A command before CONFIGURATION: NOT_OPENED, with the client's TID.
	c := dialRaw(t, ts.socket)
	c.write(mbim.AppendCommand(nil, 77, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil))
	if m := c.must(5 * time.Second); m.Type() != mbim.TypeFunctionError || m.TransactionID() != 77 || m.ErrorCode() != mbim.ProtocolErrorNotOpened {
		t.Fatalf("command before configuration: %s tid %d", m.Type(), m.TransactionID())
	}
	v := c.configure("/dev/null", 1)
	if v == nil || v.MbimExtendedVersion != uint16(mbim.MBIMEx3) {
		t.Errorf("VERSION indication before the configuration's answer: %+v, want MBIMEx 3.0", v)
	}
	// OPEN and CLOSE are answered by the proxy, whatever their TIDs.
	c.write(mbim.AppendOpen(nil, 0xdead, 4096))
	if m := c.must(5 * time.Second); m.Type() != mbim.TypeOpenDone || m.TransactionID() != 0xdead || m.Status() != mbim.StatusSuccess {
		t.Fatalf("OPEN: %s tid %#x %s", m.Type(), m.TransactionID(), m.Status())
	}

	// Two clients at once, with the same TIDs: each gets its answers with
	// its own TIDs.
	d := dialRaw(t, ts.socket)
	if v := d.configure("/dev/null", 1); v == nil {
		t.Error("second client: no VERSION indication before the configuration's answer")
	}
	for round := range 5 {
		tid := uint32(100 + round)
		c.write(mbim.AppendCommand(nil, tid, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil))
		d.write(mbim.AppendCommand(nil, tid, mbim.ServiceBasicConnect, mbim.CIDSubscriberReadyStatus, mbim.CommandQuery, nil))
		mc, md := c.nextNot(mbim.TypeIndicateStatus), d.nextNot(mbim.TypeIndicateStatus)
		if mc.Type() != mbim.TypeCommandDone || mc.TransactionID() != tid || mc.CID() != mbim.CIDDeviceCaps || mc.Status() != mbim.StatusSuccess {
			t.Fatalf("client 1 round %d: %s tid %d cid %d", round, mc.Type(), mc.TransactionID(), mc.CID())
		}
		if md.Type() != mbim.TypeCommandDone || md.TransactionID() != tid || md.CID() != mbim.CIDSubscriberReadyStatus || md.Status() != mbim.StatusSuccess {
			t.Fatalf("client 2 round %d: %s tid %d cid %d", round, md.Type(), md.TransactionID(), md.CID())
		}
	}
	var caps mbim.DeviceCapsInfo
	c.write(mbim.AppendCommand(nil, 5, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil))
	if err := caps.Decode(c.nextNot(mbim.TypeIndicateStatus).InformationBuffer()); err != nil || caps.DeviceId.String() != ts.sim.Device().DeviceID {
		t.Errorf("device caps through the proxy: %v %q", err, caps.DeviceId.String())
	}

	// A device failure comes back as FUNCTION_ERROR with the client's TID.
	ts.sim.AddFault(mbimtest.FunctionErrorFor(mbim.ServiceBasicConnect, mbim.CIDRadioState, mbim.ProtocolErrorNotOpened))
	c.write(mbim.AppendCommand(nil, 4242, mbim.ServiceBasicConnect, mbim.CIDRadioState, mbim.CommandQuery, nil))
	if m := c.nextNot(mbim.TypeIndicateStatus); m.Type() != mbim.TypeFunctionError || m.TransactionID() != 4242 || m.ErrorCode() != mbim.ProtocolErrorNotOpened {
		t.Errorf("device failure: %s tid %d %s", m.Type(), m.TransactionID(), m.ErrorCode())
	}
	ts.sim.ClearFaults()

	c.write(mbim.AppendClose(nil, 0xbeef))
	if m := c.nextNot(mbim.TypeIndicateStatus); m.Type() != mbim.TypeCloseDone || m.TransactionID() != 0xbeef || m.Status() != mbim.StatusSuccess {
		t.Fatalf("CLOSE: %s tid %#x %s", m.Type(), m.TransactionID(), m.Status())
	}
	if cnt := ts.sim.Counters(); cnt.Opens != 1 || cnt.Closes != 0 {
		t.Errorf("modem opened %d, closed %d times; want 1, 0", cnt.Opens, cnt.Closes)
	}
	// Re-configuring with the same path is fine; with another, FAILURE.
	c.configure("/dev/null", 9)
	req := mbim.ProxyControlConfigurationSet{DevicePath: mbim.NewString("/dev/zero"), Timeout: 5}
	msg, _ := mbim.AppendCommandInfo(nil, 10, mbim.ServiceProxyControl, mbim.CIDProxyControlConfiguration, mbim.CommandSet, &req)
	c.write(msg)
	if m := c.nextNot(mbim.TypeIndicateStatus); m.Type() != mbim.TypeCommandDone || m.TransactionID() != 10 || m.Status() != mbim.StatusFailure {
		t.Errorf("configuration with another path: %s %s", m.Type(), m.Status())
	}
}

func subscribeListBuf(t *testing.T, entries ...mbim.EventEntry) []byte {
	t.Helper()
	b, err := (&mbim.DeviceServiceSubscribeListInfo{Events: entries}).AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServerSubscribeListsAndIndications(t *testing.T) {
	ts := startServer(t)
	a, b := dialRaw(t, ts.socket), dialRaw(t, ts.socket)
	a.configure("/dev/null", 1)
	b.configure("/dev/null", 1)

	// b wants QMI (a non-standard service) and, of Basic Connect, only
	// CONNECT: it no longer gets SIGNAL_STATE.
	buf := subscribeListBuf(t,
		mbim.EventEntry{DeviceServiceId: mbim.ServiceBasicConnect, Cids: []uint32{mbim.CIDConnect}},
		mbim.EventEntry{DeviceServiceId: mbim.ServiceQmi, Cids: []uint32{1}})
	b.write(mbim.AppendCommand(nil, 3, mbim.ServiceBasicConnect, mbim.CIDDeviceServiceSubscribeList, mbim.CommandSet, buf))
	m := b.nextNot(mbim.TypeIndicateStatus)
	if m.Type() != mbim.TypeCommandDone || m.TransactionID() != 3 || m.Status() != mbim.StatusSuccess || !bytes.Equal(m.InformationBuffer(), buf) {
		t.Fatalf("subscribe list answer: %s tid %d %s, buffer echoed %v", m.Type(), m.TransactionID(), m.Status(), bytes.Equal(m.InformationBuffer(), buf))
	}
	ts.mu.Lock()
	got := ts.dev.DeviceSubscriptions()
	ts.mu.Unlock()
	if want := MergeSubscriptions(nil, []mbim.EventEntry{{DeviceServiceId: mbim.ServiceQmi, Cids: []uint32{1}}}); !equalLists(got, want) {
		t.Errorf("the modem's list: %+v, want %+v", got, want)
	}

	sig := ts.sim.Signal()
	sig.RSSI = (sig.RSSI + 5) % 31
	if err := ts.sim.SetSignal(sig); err != nil {
		t.Fatal(err)
	}
	m = a.must(10 * time.Second)
	if m.Type() != mbim.TypeIndicateStatus || m.Service() != mbim.ServiceBasicConnect || m.CID() != mbim.CIDSignalState {
		t.Errorf("client a (standard list): %s %s cid %d, want SIGNAL_STATE", m.Type(), m.Service(), m.CID())
	}
	if m, ok := b.next(300 * time.Millisecond); ok {
		t.Errorf("client b (not subscribed to SIGNAL_STATE) got %s %s cid %d", m.Type(), m.Service(), m.CID())
	}

	// b disconnects: the modem's list shrinks back to the standard one.
	b.conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ts.mu.Lock()
		got = ts.dev.DeviceSubscriptions()
		ts.mu.Unlock()
		if equalLists(got, standardSubscriptions()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after b left, the modem's list is %+v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServerVersionIndication(t *testing.T) {
	// The server's own Device stays at MBIMEx 1.0, so no version is known
	// until a client negotiates through the proxy.
	ts := startServer(t, mbim.WithMaxVersion(mbim.MBIMEx1))
	watcher := dialRaw(t, ts.socket)
	if v := watcher.configure("/dev/null", 1); v != nil {
		t.Fatalf("VERSION indication %+v before any negotiation", v)
	}
	_, dev := ts.openThrough(t, "/dev/null") // negotiates MBIMEx 3.0 through the proxy
	if dev.Version() != mbim.MBIMEx3 {
		t.Errorf("client negotiated %s through the proxy, want 3.0", dev.Version())
	}
	m := watcher.must(10 * time.Second)
	var v mbim.ProxyControlVersionInfo
	if m.Type() != mbim.TypeIndicateStatus || m.Service() != mbim.ServiceProxyControl || m.CID() != mbim.CIDProxyControlVersion || m.TransactionID() != 0 ||
		v.Decode(m.InformationBuffer()) != nil || v.MbimExtendedVersion != uint16(mbim.MBIMEx3) {
		t.Errorf("watcher got %s %s cid %d tid %d %+v, want the Proxy Control VERSION indication of 3.0", m.Type(), m.Service(), m.CID(), m.TransactionID(), v)
	}
	// A later client hears of it before its configuration's answer.
	late := dialRaw(t, ts.socket)
	if v := late.configure("/dev/null", 1); v == nil || v.MbimExtendedVersion != uint16(mbim.MBIMEx3) {
		t.Errorf("late client: VERSION %+v, want 3.0", v)
	}
}

func TestServerRefusesOtherUsers(t *testing.T) {
	sim := mbimtest.New()
	defer sim.Close()
	srv := NewServer(ServerConfig{
		AllowUID:   func(uid uint32) bool { return false },
		OpenDevice: func(ctx context.Context, _ string) (*mbim.Device, error) { return mbim.Open(ctx, sim.ServePipe()) },
	})
	socket := fmt.Sprintf("@wwan-proxy-test-%d-%d", os.Getpid(), socketSeq.Add(1))
	ln, err := ListenAbstract(socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	_, err = Dial(testCtx(t), "/dev/null", Options{Socket: socket})
	if err == nil {
		t.Errorf("refused peer was served")
	}
}

func TestServeConnPipe(t *testing.T) {
	sim := mbimtest.New()
	defer sim.Close()
	srv := NewServer(ServerConfig{
		OpenDevice: func(ctx context.Context, _ string) (*mbim.Device, error) { return mbim.Open(ctx, sim.ServePipe()) },
	})
	defer srv.Close()
	a, b := net.Pipe()
	go srv.ServeConn(context.Background(), b)
	r := &rawClient{t: t, conn: a}
	defer a.Close()
	r.configure("/dev/null", 1)
	r.write(mbim.AppendCommand(nil, 2, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil))
	if m := r.nextNot(mbim.TypeIndicateStatus); m.Type() != mbim.TypeCommandDone || m.TransactionID() != 2 || binary.LittleEndian.Uint32(m.Bytes()[0:]) != uint32(mbim.TypeCommandDone) {
		t.Errorf("over net.Pipe: %s tid %d", m.Type(), m.TransactionID())
	}
}

// Fragments both ways: a request in fragments is reassembled before it is
// forwarded, and answers are split for the client's MaxControlTransfer.
func TestServerFragments(t *testing.T) {
	ts := startServer(t)
	c := dialRaw(t, ts.socket)
	c.configure("/dev/null", 1)
	c.write(mbim.AppendOpen(nil, 2, 64))
	if m := c.must(5 * time.Second); m.Type() != mbim.TypeOpenDone {
		t.Fatalf("OPEN: %s", m.Type())
	}
	req := mbim.AppendCommand(nil, 3, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil)
	n, err := mbim.FragmentCount(req, 40)
	if err != nil || n < 2 {
		t.Fatalf("fragment count %d: %v", n, err)
	}
	var out []byte
	for i := range n {
		out, _ = mbim.AppendFragment(out, req, 40, i)
	}
	c.write(out)
	reasm := mbim.NewReassembler(0)
	frags := 0
	for {
		m := c.must(10 * time.Second)
		if m.Type() == mbim.TypeIndicateStatus && !m.IsFragment() {
			continue
		}
		if m.Length() > 64 {
			t.Fatalf("a %d-byte message to a client that accepts 64", m.Length())
		}
		frags++
		full, complete, err := reasm.Add(m)
		if err != nil {
			t.Fatal(err)
		}
		if !complete {
			continue
		}
		var caps mbim.DeviceCapsInfo
		if full.Type() != mbim.TypeCommandDone || full.TransactionID() != 3 || caps.Decode(full.InformationBuffer()) != nil || caps.DeviceId.String() != ts.sim.Device().DeviceID {
			t.Errorf("reassembled answer: %s tid %d, device id %q", full.Type(), full.TransactionID(), caps.DeviceId.String())
		}
		if frags < 2 {
			t.Errorf("the answer came in %d fragment(s)", frags)
		}
		return
	}
}
