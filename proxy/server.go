package proxy

// The server side: a libmbim-compatible mbim-proxy (reference §6), so that
// mbimcli -p, qmicli -p --device-open-mbim and ModemManager share a modem
// through this process.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// OpenDevice opens the modem a client names in its CONFIGURATION (the
	// path with symbolic links resolved). It is called once per path: the
	// Device is shared by every client naming that path, and the Server
	// closes it when it stops or when the Device fails. ctx bounds the open
	// (the client's Timeout, 30 s when it gives none). Required.
	OpenDevice func(ctx context.Context, path string) (*mbim.Device, error)
	// AllowUID says whether a peer with this uid (SO_PEERCRED) may use the
	// proxy. nil allows root (uid 0) only, as libmbim's proxy does.
	// Connections without peer credentials (net.Pipe given to ServeConn)
	// are not checked.
	AllowUID func(uid uint32) bool
	// CommandTimeout bounds each forwarded command; libmbim's 300 s when
	// zero.
	CommandTimeout time.Duration
	// Logger receives the proxy's log; nil discards it.
	Logger *slog.Logger
}

// Server is an mbim-proxy server. Create it with NewServer, then Serve a
// listener (ListenAbstract) or ServeConn single connections. A Server
// serves once: when Serve returns (or Close is called) it is finished.
type Server struct {
	cfg ServerConfig
	log *slog.Logger

	mu      sync.Mutex
	devices map[string]*sharedDevice // by resolved path
	nextID  uint64
	ctx     context.Context // the server's lifetime (set by the first Serve/ServeConn)
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// NewServer returns a Server.
func NewServer(cfg ServerConfig) *Server {
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = 300 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, log: log, devices: map[string]*sharedDevice{}, ctx: ctx, cancel: cancel}
}

// ListenAbstract listens on the abstract unix socket name ("@mbim-proxy"
// or "mbim-proxy"; SocketName when empty). Abstract sockets exist only on
// Linux, one set per network namespace.
func ListenAbstract(name string) (net.Listener, error) {
	if name == "" {
		name = SocketName
	}
	return listenAbstract("@" + strings.TrimPrefix(name, "@"))
}

// Serve accepts clients on ln until ctx is cancelled or ln fails, then
// closes ln, disconnects every client, closes every Device it opened and
// returns (nil when ctx was cancelled).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var err error
	for {
		var c net.Conn
		c, err = ln.Accept()
		if err != nil {
			break
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.ServeConn(ctx, c)
		}()
	}
	s.shutdown()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("proxy: accept: %w", err)
}

// shutdown disconnects the clients and closes the devices.
func (s *Server) shutdown() {
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	devs := make([]*sharedDevice, 0, len(s.devices))
	for _, d := range s.devices {
		devs = append(devs, d)
	}
	s.devices = map[string]*sharedDevice{}
	s.mu.Unlock()
	for _, d := range devs {
		<-d.ready
		if d.dev != nil {
			_ = d.dev.Close()
		}
	}
}

// Close disconnects every client served by ServeConn and closes the
// devices. Serve does this itself when it returns.
func (s *Server) Close() error {
	s.shutdown()
	return nil
}

// sharedDevice is one modem and the clients bound to it.
type sharedDevice struct {
	path  string
	ready chan struct{} // closed when the open ended; then dev or err is set
	dev   *mbim.Device
	err   error

	// Under Server.mu:
	clients map[*client]struct{}          // nil once the device is gone
	version *mbim.ProxyControlVersionInfo // agreed MBIMEx version, if any

	subMu  sync.Mutex        // serialises subscribe-list updates
	merged []mbim.EventEntry // the list the modem has (standard at first)
}

// client is one connection.
type client struct {
	s    *Server
	id   uint64
	conn net.Conn
	ctx  context.Context
	stop context.CancelFunc
	out  chan []byte

	// Under Server.mu:
	dev     *sharedDevice
	subs    []mbim.EventEntry
	maxCtl  int
	closing bool
}

const clientQueue = 256

// ServeConn serves one client connection until it closes or ctx (or the
// Server) stops. It closes conn.
func (s *Server) ServeConn(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	if uid, ok := peerUID(conn); ok {
		allowed := uid == 0
		if s.cfg.AllowUID != nil {
			allowed = s.cfg.AllowUID(uid)
		}
		if !allowed {
			s.log.Warn("client refused", slog.Uint64("uid", uint64(uid)))
			return
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopSrv := context.AfterFunc(s.ctx, cancel)
	defer stopSrv()
	s.mu.Lock()
	s.nextID++
	c := &client{s: s, id: s.nextID, conn: conn, ctx: cctx, stop: cancel, out: make(chan []byte, clientQueue),
		subs: standardSubscriptions(), maxCtl: 4096}
	s.mu.Unlock()
	context.AfterFunc(cctx, func() { _ = conn.Close() })

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.writer()
	}()
	c.reader(&wg)
	cancel()
	s.unbind(c)
	wg.Wait()
}

// writer writes queued messages until the client stops.
func (c *client) writer() {
	for {
		select {
		case b := <-c.out:
			if _, err := c.conn.Write(b); err != nil {
				c.stop()
				return
			}
		case <-c.ctx.Done():
			return
		}
	}
}

// send queues b (one or more whole messages); a client that does not keep
// up is disconnected.
func (c *client) send(b []byte) {
	select {
	case c.out <- b:
	case <-c.ctx.Done():
	default:
		c.s.log.Warn("client too slow; disconnecting", slog.Uint64("client", c.id))
		c.stop()
	}
}

// sendMessage queues msg split into fragments for the client's
// MaxControlTransfer.
func (c *client) sendMessage(msg []byte) {
	c.s.mu.Lock()
	max := c.maxCtl
	c.s.mu.Unlock()
	n, err := mbim.FragmentCount(msg, max)
	if err != nil || n == 1 {
		c.send(msg)
		return
	}
	out := make([]byte, 0, len(msg)+20*n)
	for i := range n {
		out, _ = mbim.AppendFragment(out, msg, max, i)
	}
	c.send(out)
}

// reader parses the client's stream and handles each message.
func (c *client) reader(wg *sync.WaitGroup) {
	reasm := mbim.NewReassembler(0)
	buf := make([]byte, 0, 8192)
	chunk := make([]byte, 8192)
	for {
		for {
			m, n, err := mbim.NextMessage(buf)
			if errors.Is(err, mbim.ErrIncomplete) {
				break
			}
			if err != nil {
				c.s.log.Warn("malformed message from client; disconnecting", slog.Uint64("client", c.id), slog.Any("err", err))
				return
			}
			full, complete, err := reasm.Add(m)
			if err != nil {
				c.send(mbim.AppendHostError(nil, m.TransactionID(), mbim.ProtocolErrorFragmentOutOfSequence))
			} else if complete {
				// full may alias the reassembler's buffer or buf: copy.
				if !c.handle(append([]byte(nil), full.Bytes()...), wg) {
					return
				}
			}
			buf = buf[n:]
		}
		if cap(buf)-len(buf) < len(chunk) {
			// Consumed messages were sliced off the front: move what is
			// left to a fresh buffer with room for a read.
			buf = append(make([]byte, 0, len(buf)+2*len(chunk)), buf...)
		}
		n, err := c.conn.Read(chunk)
		if n > 0 {
			buf = append(buf, chunk[:n]...)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && c.ctx.Err() == nil {
				c.s.log.Debug("client read", slog.Uint64("client", c.id), slog.Any("err", err))
			}
			return
		}
	}
}

// handle handles one complete message from the client (raw, a private
// copy). It returns false to end the connection.
func (c *client) handle(raw []byte, wg *sync.WaitGroup) bool {
	m, err := mbim.ParseMessage(raw)
	if err != nil {
		return false
	}
	tid := m.TransactionID()
	switch m.Type() {
	case mbim.TypeOpen:
		c.s.mu.Lock()
		if mx := int(m.MaxControlTransfer()); mx >= 64 {
			c.maxCtl = mx
		}
		d := c.dev
		c.s.mu.Unlock()
		st := mbim.StatusFailure
		if d != nil && d.dev != nil && d.dev.Err() == nil {
			st = mbim.StatusSuccess
		}
		c.send(mbim.AppendOpenDone(nil, tid, st))
		return true
	case mbim.TypeClose:
		c.send(mbim.AppendCloseDone(nil, tid, mbim.StatusSuccess))
		return true
	case mbim.TypeCommand:
	default:
		return true // HOST_ERROR and strays: nothing to do
	}
	if m.Service() == mbim.ServiceProxyControl {
		if m.CID() == mbim.CIDProxyControlConfiguration {
			return c.configure(m)
		}
		c.send(mbim.AppendCommandDone(nil, tid, m.Service(), m.CID(), mbim.StatusNoDeviceSupport, nil))
		return true
	}
	c.s.mu.Lock()
	d := c.dev
	c.s.mu.Unlock()
	if d == nil || d.dev == nil || d.dev.Err() != nil {
		c.send(mbim.AppendFunctionError(nil, tid, mbim.ProtocolErrorNotOpened))
		return true
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if m.Service() == mbim.ServiceBasicConnect && m.CID() == mbim.CIDDeviceServiceSubscribeList && m.CommandType() == mbim.CommandSet {
			c.subscribeList(d, m)
			return
		}
		c.forward(d, m)
	}()
	return true
}

// configure handles the Proxy Control CONFIGURATION set. It returns false
// when the device cannot be opened: the connection is then closed without
// an answer, as libmbim's proxy does.
func (c *client) configure(m mbim.Message) bool {
	tid := m.TransactionID()
	answer := func(st mbim.Status) {
		c.send(mbim.AppendCommandDone(nil, tid, mbim.ServiceProxyControl, mbim.CIDProxyControlConfiguration, st, nil))
	}
	var req mbim.ProxyControlConfigurationSet
	if m.CommandType() != mbim.CommandSet || req.Decode(m.InformationBuffer()) != nil || req.DevicePath.String() == "" {
		answer(mbim.StatusInvalidParameters)
		return true
	}
	path, err := resolvePath(req.DevicePath.String())
	if err != nil {
		c.s.log.Info("configuration: bad device path", slog.String("path", req.DevicePath.String()), slog.Any("err", err))
		answer(mbim.StatusInvalidParameters)
		return true
	}
	c.s.mu.Lock()
	bound := c.dev
	c.s.mu.Unlock()
	if bound != nil {
		if bound.path == path {
			answer(mbim.StatusSuccess)
		} else {
			answer(mbim.StatusFailure)
		}
		return true
	}
	timeout := time.Duration(req.Timeout) * time.Second
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	d, fresh, err := c.s.device(c.ctx, path, timeout)
	if err != nil {
		c.s.log.Warn("cannot open the device; dropping the client", slog.String("path", path), slog.Any("err", err))
		return false
	}
	if !fresh {
		// As libmbim: check that the modem still has the session open. A
		// FUNCTION_ERROR NOT_OPENED makes the Device open it again (and
		// send its subscribe list again) before it answers.
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		_, err := d.dev.Command(ctx, mbim.ServiceBasicConnect, mbim.CIDDeviceCaps, mbim.CommandQuery, nil)
		cancel()
		if err != nil {
			c.s.log.Info("device caps check failed", slog.String("path", path), slog.Any("err", err))
		}
	}
	c.s.mu.Lock()
	if c.closing || d.clients == nil {
		c.s.mu.Unlock()
		return false
	}
	c.dev = d
	d.clients[c] = struct{}{}
	var ind []byte
	if d.version != nil {
		ind = versionIndication(d.version)
	}
	c.s.mu.Unlock()
	if ind != nil {
		c.send(ind)
	}
	c.s.log.Info("client configured", slog.Uint64("client", c.id), slog.String("path", path))
	answer(mbim.StatusSuccess)
	return true
}

// resolvePath resolves symbolic links, so that different names of one
// device share it. A symbolic link that does not resolve is an error; any
// other path that cannot be resolved is used as it is (opening it decides).
func resolvePath(p string) (string, error) {
	fi, err := os.Lstat(p)
	if err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return filepath.EvalSymlinks(p)
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r, nil
	}
	return filepath.Clean(p), nil
}

// device returns the open shared device of path, opening it (once) when
// needed; fresh says this call opened it.
func (s *Server) device(ctx context.Context, path string, timeout time.Duration) (d *sharedDevice, fresh bool, err error) {
	s.mu.Lock()
	d, ok := s.devices[path]
	if !ok {
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			return nil, false, errors.New("proxy: server stopped")
		}
		fresh = true
		d = &sharedDevice{path: path, ready: make(chan struct{}), clients: map[*client]struct{}{}, merged: standardSubscriptions()}
		s.devices[path] = d
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.open(d, timeout)
		}()
	}
	s.mu.Unlock()
	select {
	case <-d.ready:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	if d.err != nil {
		return nil, false, d.err
	}
	return d, fresh, nil
}

// open opens d's device, then fans its indications out until it stops.
func (s *Server) open(d *sharedDevice, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	dev, err := s.cfg.OpenDevice(ctx, d.path)
	cancel()
	if err == nil && dev == nil {
		err = errors.New("proxy: OpenDevice returned no device")
	}
	if err != nil {
		d.err = err
		s.mu.Lock()
		if s.devices[d.path] == d {
			delete(s.devices, d.path)
		}
		d.clients = nil
		s.mu.Unlock()
		close(d.ready)
		return
	}
	d.dev = dev
	sub := dev.Subscribe(mbim.SubscribeFilter{}, 1024)
	s.mu.Lock()
	if v := dev.Version(); v >= mbim.MBIMEx2 {
		d.version = &mbim.ProxyControlVersionInfo{MbimVersion: uint16(mbim.MBIMEx1), MbimExtendedVersion: uint16(v)}
	}
	s.mu.Unlock()
	close(d.ready)
	s.log.Info("device open", slog.String("path", d.path), slog.String("mbimex", dev.Version().String()))

	defer sub.Close()
	for {
		select {
		case ind, ok := <-sub.C():
			if !ok {
				s.dropDevice(d)
				return
			}
			s.fanOut(d, ind)
		case <-dev.Done():
			s.dropDevice(d)
			return
		case <-s.ctx.Done():
			return // shutdown closes the device
		}
	}
}

// dropDevice forgets a device that failed and disconnects its clients;
// the next CONFIGURATION naming its path opens it again.
func (s *Server) dropDevice(d *sharedDevice) {
	s.mu.Lock()
	if s.devices[d.path] == d {
		delete(s.devices, d.path)
	}
	clients := d.clients
	d.clients = nil
	s.mu.Unlock()
	s.log.Warn("device gone; disconnecting its clients", slog.String("path", d.path), slog.Any("err", d.dev.Err()))
	for c := range clients {
		c.stop()
	}
	_ = d.dev.Close()
}

// unbind removes a client that went away, and shrinks the merged subscribe
// list if the client had widened it.
func (s *Server) unbind(c *client) {
	s.mu.Lock()
	c.closing = true
	d := c.dev
	if d != nil && d.clients != nil {
		delete(d.clients, c)
	}
	s.mu.Unlock()
	if d != nil && s.ctx.Err() == nil && d.dev.Err() == nil {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		_, _ = s.updateSubscriptions(ctx, d)
	}
}

// fanOut sends an indication to every client whose list selects it.
func (s *Server) fanOut(d *sharedDevice, ind mbim.Indication) {
	s.mu.Lock()
	var to []*client
	for c := range d.clients {
		if selects(c.subs, ind.Service(), ind.CID()) {
			to = append(to, c)
		}
	}
	s.mu.Unlock()
	if len(to) == 0 {
		return
	}
	msg := ind.Message().Bytes()
	for _, c := range to {
		c.sendMessage(msg)
	}
}

// selects reports whether a subscribe list includes service/cid
// (CidsCount 0: every CID of the service).
func selects(list []mbim.EventEntry, service mbim.UUID, cid uint32) bool {
	for _, e := range list {
		if e.DeviceServiceId == service && (len(e.Cids) == 0 || slices.Contains(e.Cids, cid)) {
			return true
		}
	}
	return false
}

// rawInfo is an information buffer passed through unchanged.
type rawInfo []byte

func (r rawInfo) AppendBinary(b []byte) ([]byte, error) { return append(b, r...), nil }

// forward sends a client's command to the device (with the device's own
// TransactionId) and returns the answer with the client's.
func (c *client) forward(d *sharedDevice, m mbim.Message) {
	tid := m.TransactionID()
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.CommandTimeout)
	defer cancel()
	resp, err := d.dev.Command(ctx, m.Service(), m.CID(), m.CommandType(), rawInfo(m.InformationBuffer()))
	if resp != nil {
		out := append([]byte(nil), resp.Message().Bytes()...)
		putTID(out, tid)
		if resp.Service() == mbim.ServiceMsBasicConnectExtensions && resp.CID() == mbim.CIDMsVersion && resp.Status() == mbim.StatusSuccess {
			var v mbim.MsVersionInfo
			if v.Decode(resp.InformationBuffer()) == nil {
				c.s.versionAgreed(d, &mbim.ProxyControlVersionInfo{MbimVersion: v.MbimVersion, MbimExtendedVersion: v.MbimExtendedVersion})
			}
		}
		c.sendMessage(out)
		return
	}
	var fe *mbim.FunctionError
	switch {
	case errors.As(err, &fe):
		c.send(mbim.AppendFunctionError(nil, tid, fe.Code))
	case errors.Is(err, mbim.ErrClosed) || d.dev.Err() != nil:
		c.send(mbim.AppendFunctionError(nil, tid, mbim.ProtocolErrorNotOpened))
	default:
		// As libmbim: other failures (a timeout) are not answered.
		c.s.log.Info("command failed", slog.Uint64("client", c.id), slog.Any("err", err))
	}
}

func putTID(msg []byte, tid uint32) {
	msg[8], msg[9], msg[10], msg[11] = byte(tid), byte(tid>>8), byte(tid>>16), byte(tid>>24)
}

// versionAgreed records an MBIMEx version seen passing through and tells
// every client of the device.
func (s *Server) versionAgreed(d *sharedDevice, v *mbim.ProxyControlVersionInfo) {
	s.mu.Lock()
	d.version = v
	to := make([]*client, 0, len(d.clients))
	for c := range d.clients {
		to = append(to, c)
	}
	s.mu.Unlock()
	ind := versionIndication(v)
	for _, c := range to {
		c.send(ind)
	}
}

func versionIndication(v *mbim.ProxyControlVersionInfo) []byte {
	b, _ := mbim.AppendIndicateStatusInfo(nil, 0, mbim.ServiceProxyControl, mbim.CIDProxyControlVersion, v)
	return b
}

// subscribeList handles a client's DEVICE_SERVICE_SUBSCRIBE_LIST set: the
// list replaces the client's, the merged list goes to the modem if it
// changed, and the answer echoes the client's buffer with the modem's
// status (SUCCESS when nothing was sent).
func (c *client) subscribeList(d *sharedDevice, m mbim.Message) {
	tid := m.TransactionID()
	var list mbim.DeviceServiceSubscribeListInfo
	if err := list.Decode(m.InformationBuffer()); err != nil {
		c.send(mbim.AppendCommandDone(nil, tid, m.Service(), m.CID(), mbim.StatusInvalidParameters, nil))
		return
	}
	c.s.mu.Lock()
	c.subs = normalise(list.Events)
	c.s.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.CommandTimeout)
	defer cancel()
	st, err := c.s.updateSubscriptions(ctx, d)
	if err != nil {
		var fe *mbim.FunctionError
		if errors.As(err, &fe) {
			c.send(mbim.AppendFunctionError(nil, tid, fe.Code))
			return
		}
		if st == mbim.StatusSuccess {
			st = mbim.StatusFailure
		}
	}
	c.send(mbim.AppendCommandDone(nil, tid, m.Service(), m.CID(), st, m.InformationBuffer()))
}

// updateSubscriptions sends the merged list of d's clients to the modem if
// it differs from the one it has.
func (s *Server) updateSubscriptions(ctx context.Context, d *sharedDevice) (mbim.Status, error) {
	d.subMu.Lock()
	defer d.subMu.Unlock()
	s.mu.Lock()
	lists := make([][]mbim.EventEntry, 0, len(d.clients))
	ids := make([]*client, 0, len(d.clients))
	for c := range d.clients {
		ids = append(ids, c)
	}
	slices.SortFunc(ids, func(a, b *client) int { return int(a.id) - int(b.id) })
	for _, c := range ids {
		lists = append(lists, c.subs)
	}
	s.mu.Unlock()
	merged := MergeSubscriptions(lists...)
	if equalLists(merged, d.merged) {
		return mbim.StatusSuccess, nil
	}
	err := d.dev.SetDeviceSubscriptions(ctx, merged...)
	if err == nil {
		d.merged = merged
		return mbim.StatusSuccess, nil
	}
	var ce *mbim.CommandError
	if errors.As(err, &ce) {
		return ce.Status, err
	}
	return mbim.StatusFailure, err
}
