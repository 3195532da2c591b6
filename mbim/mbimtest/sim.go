package mbimtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// fragmentTimeout is how long the function waits for the host's next
// fragment, as libmbim does in the other direction.
const fragmentTimeout = 1250 * time.Millisecond

// maxQueue bounds the frames waiting for one host; past it the oldest
// indications would pile up without end on a host that stopped reading, so
// new frames are dropped and counted (Counters.Overflow).
const maxQueue = 4096

// Sim is a simulated MBIM function. Create it with New, serve hosts with
// Serve, ServePipe or ServePTY, and stop it with Close.
type Sim struct {
	// Fixed by New.
	maxControl int // the function's wMaxControlMessage
	now        func() time.Time
	plan       func(session uint32, generation int) IPConfig
	ptyLink    string
	logLimit   int
	without    map[mbim.UUID]bool
	closeEnds  bool // CLOSE deactivates the data sessions

	mu sync.Mutex // guards everything below

	m   model
	ses session

	handlers  map[key]Func
	faults    []*faultEntry
	nextFault int

	conns    map[*conn]struct{}
	log      []Request // ring of the last logLimit requests
	logHead  int       // oldest entry once the ring is full
	logSeq   int
	logWake  chan struct{}
	counters Counters
	errs     []error // CheckRequest mismatches

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed bool
	pty    *ptyState
}

// key names a service and CID.
type key struct {
	svc mbim.UUID
	cid uint32
}

// session is the MBIM session: it belongs to the function, and outlives
// the connections that use it.
type session struct {
	open    bool
	hostMax int // MaxControlTransfer from the last OPEN
	version mbim.Version
	subs    []mbim.EventEntry // nil: libmbim's standard list
}

func (ss *session) reset() {
	*ss = session{hostMax: mbim.DefaultMaxControlTransfer, version: mbim.MBIMEx1}
}

// Option configures a Sim at New.
type Option func(*Sim)

// WithDevice sets the device capabilities (default DefaultDevice()).
func WithDevice(d DeviceInfo) Option {
	return func(s *Sim) { s.m.dev = cloneDevice(d) }
}

// WithSIM sets the SIM card (default DefaultSIM()). A card with PIN1
// enabled starts locked.
func WithSIM(c SIMConfig) Option {
	return func(s *Sim) { s.m.sim = newSIM(c) }
}

// WithMBIMEx sets the highest MBIMEx version the function supports: 1.0
// (no VERSION CID), 2.0 or 3.0 (the default).
func WithMBIMEx(v mbim.Version) Option {
	return func(s *Sim) { s.m.maxEx = v }
}

// WithMaxControlMessage sets the function's wMaxControlMessage, the
// largest message or fragment it accepts (default 4096). ServePipe hands
// it to the host transport.
func WithMaxControlMessage(n int) Option {
	return func(s *Sim) {
		if n > 20 {
			s.maxControl = n
		}
	}
}

// WithNetwork sets the network (default DefaultNetwork()).
func WithNetwork(n Network) Option {
	return func(s *Sim) { s.m.net = cloneNetwork(n) }
}

// WithAPNs sets the access point names the network accepts (default
// DefaultAPNs()).
func WithAPNs(apns ...APN) Option {
	return func(s *Sim) { s.m.apns = append([]APN(nil), apns...) }
}

// WithSignal sets the initial signal (default DefaultSignal()).
func WithSignal(sig Signal) Option {
	return func(s *Sim) { s.m.signal = sig }
}

// WithAddressPlan replaces DefaultAddressPlan: plan returns the IP
// configuration of a session at an address generation. It is called with
// the Sim locked: it must not call the Sim.
func WithAddressPlan(plan func(session uint32, generation int) IPConfig) Option {
	return func(s *Sim) {
		if plan != nil {
			s.plan = plan
		}
	}
}

// WithClock replaces time.Now for what the model derives from time (packet
// statistics, request timestamps). Delays always use real time. now is
// called with the Sim locked: it must not call the Sim.
func WithClock(now func() time.Time) Option {
	return func(s *Sim) {
		if now != nil {
			s.now = now
		}
	}
}

// WithIPConfigIndications makes the function send an IP_CONFIGURATION
// indication right after each successful activation, as some modems do
// (by default the host has to query).
func WithIPConfigIndications() Option {
	return func(s *Sim) { s.m.ipIndOnConnect = true }
}

// WithCloseDeactivates makes CLOSE end the data sessions, as some modems
// do (which is why scripts keep the session with mbimcli --no-close). By
// default they survive CLOSE, as the MBIM session's state does not own them.
func WithCloseDeactivates() Option {
	return func(s *Sim) { s.closeEnds = true }
}

// WithoutServices removes services from DEVICE_SERVICES; their requests
// get NO_DEVICE_SUPPORT. Use it for a modem without QMI or without the
// Microsoft extensions.
func WithoutServices(services ...mbim.UUID) Option {
	return func(s *Sim) {
		for _, u := range services {
			s.without[u] = true
		}
	}
}

// WithPTYLink makes ServePTY keep a symbolic link at path pointing to the
// current pty, and return path. A Reset that closes the transport opens a
// new pty, so the link is the one stable name.
func WithPTYLink(path string) Option {
	return func(s *Sim) { s.ptyLink = path }
}

// WithRequestLog bounds the request log to the last n requests (default
// 10000; 0 keeps none).
func WithRequestLog(n int) Option {
	return func(s *Sim) { s.logLimit = max(n, 0) }
}

// New returns a simulated modem, powered on, in its default state unless
// options say otherwise: SIM ready, radio on, registered at home on LTE,
// packet service attached, no data session.
func New(opts ...Option) *Sim {
	s := &Sim{
		maxControl: mbim.DefaultMaxControlTransfer,
		now:        time.Now,
		plan:       DefaultAddressPlan,
		logLimit:   10000,
		without:    map[mbim.UUID]bool{},
		handlers:   map[key]Func{},
		conns:      map[*conn]struct{}{},
		logWake:    make(chan struct{}),
	}
	s.m = model{
		dev:    DefaultDevice(),
		maxEx:  mbim.MBIMEx3,
		sim:    newSIM(DefaultSIM()),
		net:    DefaultNetwork(),
		apns:   DefaultAPNs(),
		signal: DefaultSignal(),
	}
	for _, o := range opts {
		o(s)
	}
	s.ses.reset()
	s.m.powerOn(s)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Close stops serving: every connection and the pty are closed and the
// goroutines of the Sim have returned. It is safe to call more than once.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	for c := range s.conns {
		c.close()
	}
	p := s.pty
	s.mu.Unlock()
	if p != nil {
		p.close()
	}
	s.wg.Wait()
	return nil
}

// ErrSimClosed is returned by Serve and the scenario methods once the Sim
// is closed.
var ErrSimClosed = errors.New("mbimtest: simulator closed")

// Serve serves one host over t until the host goes away (nil), ctx is done
// (ctx.Err()) or the Sim is closed (nil). It closes t before returning.
// Several transports may be served at once; they share the modem and its
// MBIM session, as several openers of one cdc-wdm node do, and each gets
// the indications.
func (s *Sim) Serve(ctx context.Context, t mbim.Transport) error {
	c, err := s.attach(t)
	if err != nil {
		return err
	}
	return s.run(ctx, c)
}

// attach registers a connection, so that it gets indications from now on.
func (s *Sim) attach(t mbim.Transport) (*conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = t.Close()
		return nil, ErrSimClosed
	}
	c := newConn(s, t)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return c, nil
}

// run serves an attached connection until it ends.
func (s *Sim) run(ctx context.Context, c *conn) error {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	go c.writeLoop(ctx)
	err := c.readLoop(ctx)

	s.mu.Lock()
	delete(s.conns, c)
	closed := s.closed
	s.mu.Unlock()
	c.close()
	<-c.writerDone
	switch {
	case closed, errors.Is(err, io.EOF), errors.Is(err, mbim.ErrClosed), errors.Is(err, net.ErrClosed):
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}

// ServePipe serves a new in-process host and returns the host's end, a
// byte stream like a pty. Its MaxControlTransfer is the function's
// wMaxControlMessage. Closing it ends the connection; Close of the Sim
// closes it too (on a closed Sim it is returned closed). The connection
// gets indications from the moment ServePipe returns.
func (s *Sim) ServePipe() mbim.Transport {
	a, b := net.Pipe()
	host := mbim.NewConnTransport(a, s.maxControl)
	// The function's end writes fragments of up to the host's announced
	// MaxControlTransfer, which may exceed the function's own limit.
	fn := mbim.NewConnTransport(b, 1<<30)
	c, err := s.attach(fn)
	if err != nil {
		_ = host.Close()
		return host
	}
	go func() { _ = s.run(s.ctx, c) }()
	return host
}

// conn is one host connection: a reader (Serve's goroutine), a writer
// goroutine and the queue between the model and the writer.
type conn struct {
	s     *Sim
	t     mbim.Transport
	reasm *mbim.Reassembler // reader's
	// resetReasm asks the reader to drop a half-collected message (the
	// modem was reset).
	resetReasm atomic.Bool

	mu         sync.Mutex
	q          []frame
	last       time.Time // notBefore of the last queued frame (FIFO)
	closed     bool
	wake       chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
}

// frame is one write: a complete message or one fragment.
type frame struct {
	b         []byte
	tid       uint32
	notBefore time.Time
	after     func() // run once written (a device reset after its response)
}

func newConn(s *Sim, t mbim.Transport) *conn {
	return &conn{
		s:          s,
		t:          t,
		reasm:      mbim.NewReassembler(0),
		wake:       make(chan struct{}, 1),
		writerDone: make(chan struct{}),
	}
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.q = nil
		c.mu.Unlock()
		_ = c.t.Close()
		select {
		case c.wake <- struct{}{}:
		default:
		}
	})
}

// push queues frames for the writer. It never blocks (it is called with
// s.mu held). It reports whether the frames were queued.
func (c *conn) push(fs []frame) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	if len(c.q)+len(fs) > maxQueue {
		return false
	}
	for _, f := range fs {
		if f.notBefore.Before(c.last) {
			f.notBefore = c.last
		}
		c.last = f.notBefore
		c.q = append(c.q, f)
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// purge drops the queued frames of a transaction (the host sent
// HOST_ERROR for it), and all frames when all is set (reset).
func (c *conn) purge(tid uint32, all bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.q[:0]
	for _, f := range c.q {
		if !all && f.tid != tid {
			q = append(q, f)
		}
	}
	clear(c.q[len(q):])
	c.q = q
}

func (c *conn) writeLoop(ctx context.Context) {
	defer close(c.writerDone)
	var timer *time.Timer
	for {
		c.mu.Lock()
		for len(c.q) == 0 && !c.closed {
			c.mu.Unlock()
			select {
			case <-c.wake:
			case <-ctx.Done():
				return
			}
			c.mu.Lock()
		}
		if c.closed {
			c.mu.Unlock()
			return
		}
		f := c.q[0]
		c.q[0] = frame{}
		c.q = c.q[1:]
		c.mu.Unlock()

		if d := time.Until(f.notBefore); d > 0 {
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		if err := c.t.WriteControl(ctx, f.b); err != nil {
			c.close()
			return
		}
		c.s.mu.Lock()
		c.s.counters.BytesOut += int64(len(f.b))
		c.s.mu.Unlock()
		if f.after != nil {
			f.after()
		}
	}
}

// readLoop frames the byte stream from the host and hands each complete
// message to the Sim.
func (c *conn) readLoop(ctx context.Context) error {
	s := c.s
	chunk := make([]byte, max(s.maxControl, mbim.DefaultMaxControlTransfer))
	var buf []byte
	for {
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if _, busy := c.reasm.InProgress(); busy {
			rctx, cancel = context.WithTimeout(ctx, fragmentTimeout)
		}
		n, err := c.t.ReadControl(rctx, chunk)
		timedOut := rctx != ctx && rctx.Err() != nil && ctx.Err() == nil
		cancel()
		if n > 0 {
			s.mu.Lock()
			s.counters.BytesIn += int64(n)
			s.mu.Unlock()
			buf = append(buf, chunk[:n]...)
			buf = c.frames(buf)
		}
		if err != nil {
			if timedOut {
				if tid, busy := c.reasm.InProgress(); busy {
					c.reasm.Reset()
					s.functionError(c, tid, mbim.ProtocolErrorTimeoutFragment)
				}
				continue
			}
			return err
		}
	}
}

// frames takes every complete message from the front of buf and returns
// what is left (the start of the next message).
func (c *conn) frames(buf []byte) []byte {
	s := c.s
	for len(buf) > 0 {
		m, used, err := mbim.NextMessage(buf)
		if errors.Is(err, mbim.ErrIncomplete) {
			// A garbage length would make the function wait for bytes
			// that never come; a real function's buffer is bounded too.
			if len(buf) > 2*max(s.maxControl, mbim.DefaultMaxControlTransfer) {
				s.garbage(c, buf, err)
				return buf[:0]
			}
			break
		}
		if err != nil {
			s.garbage(c, buf[:used], err)
			buf = buf[used:]
			continue
		}
		if int(m.Length()) > s.maxControl {
			// Larger than the function's wMaxControlMessage: a USB
			// function could not even have received it.
			s.mu.Lock()
			s.counters.FramesIn++
			s.mu.Unlock()
			s.functionError(c, m.TransactionID(), mbim.ProtocolErrorMaxTransfer)
			buf = buf[used:]
			continue
		}
		c.frame(m)
		buf = buf[used:]
	}
	// Keep the remainder at the front so the buffer does not creep.
	return append(buf[:0:0], buf...)
}

// frame handles one message or fragment from the host.
func (c *conn) frame(f mbim.Message) {
	s := c.s
	s.mu.Lock()
	s.counters.FramesIn++
	if f.IsFragment() {
		s.counters.FragmentsIn++
	}
	s.mu.Unlock()
	if c.resetReasm.Swap(false) {
		c.reasm.Reset()
	}
	m, complete, err := c.reasm.Add(f)
	if err != nil {
		var fe *mbim.FragmentError
		if errors.As(err, &fe) {
			s.functionError(c, fe.TID, fe.Code)
		}
		return
	}
	if !complete {
		return
	}
	// The reassembler's buffer and the stream buffer are reused: the
	// model, the log and the Funcs get a private copy.
	raw := append([]byte(nil), m.Bytes()...)
	s.receive(c, raw)
}

// garbage accounts for bytes that cannot be a message. libmbim drops the
// whole buffer in this case, and so does the function; when the header is
// readable it also answers FUNCTION_ERROR LENGTH_MISMATCH for its
// transaction, as a real function would for a message whose lengths do
// not add up.
func (s *Sim) garbage(c *conn, b []byte, err error) {
	s.mu.Lock()
	s.counters.Garbage++
	s.counters.GarbageBytes += len(b)
	s.mu.Unlock()
	if len(b) >= 12 && errors.Is(err, mbim.ErrMalformed) {
		t := mbim.MessageType(le32(b))
		if t == mbim.TypeCommand || t == mbim.TypeOpen || t == mbim.TypeClose {
			s.functionError(c, le32(b[8:]), mbim.ProtocolErrorLengthMismatch)
		}
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// functionError sends FUNCTION_ERROR to one host.
func (s *Sim) functionError(c *conn, tid uint32, code mbim.ProtocolError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendLocked(c, mbim.AppendFunctionError(nil, tid, code), nil)
}

// receive handles one complete message from the host: log, faults, then
// the protocol.
func (s *Sim) receive(c *conn, raw []byte) {
	m, err := mbim.ParseMessage(raw)
	if err != nil {
		s.garbage(c, raw, err)
		return
	}
	s.mu.Lock()
	s.record(m)
	act := s.matchLocked(FromHost, m)
	s.mu.Unlock()

	if act.delay > 0 {
		t := time.NewTimer(act.delay)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
	}
	if b, changed := act.mangle(raw, false); changed {
		s.mu.Lock()
		s.counters.Corrupted++
		s.mu.Unlock()
		raw = b
		if m, err = mbim.ParseMessage(raw); err != nil {
			s.garbage(c, raw, err)
			return
		}
	}
	if act.drop {
		return
	}
	for range 1 + act.duplicate {
		s.dispatch(c, m, act)
	}
}

func (s *Sim) dispatch(c *conn, m mbim.Message, act action) {
	tid := m.TransactionID()
	switch m.Type() {
	case mbim.TypeOpen:
		s.mu.Lock()
		defer s.mu.Unlock()
		if act.functionError != 0 {
			s.sendLocked(c, mbim.AppendFunctionError(nil, tid, act.functionError), nil)
			return
		}
		s.counters.Opens++
		if act.indicationsFirst {
			s.stateIndicationsLocked(c)
		}
		hostMax := int(m.MaxControlTransfer())
		if hostMax <= 20 {
			// No room for a single fragment: refuse.
			s.sendLocked(c, mbim.AppendOpenDone(nil, tid, mbim.StatusInvalidParameters), nil)
			return
		}
		s.ses.reset()
		s.ses.open = true
		s.ses.hostMax = hostMax
		s.sendLocked(c, mbim.AppendOpenDone(nil, tid, mbim.StatusSuccess), nil)
	case mbim.TypeClose:
		s.mu.Lock()
		defer s.mu.Unlock()
		s.counters.Closes++
		if s.closeEnds {
			for i := range s.m.sessions {
				if s.m.sessions[i].active {
					s.deactivateLocked(uint32(i), 0, false)
				}
			}
		}
		open := s.ses.open
		hostMax := s.ses.hostMax
		s.ses.reset()
		if open {
			s.ses.hostMax = hostMax // the reply still goes out at the host's size
		}
		s.sendLocked(c, mbim.AppendCloseDone(nil, tid, mbim.StatusSuccess), nil)
	case mbim.TypeCommand:
		s.command(c, m, act)
	case mbim.TypeHostError:
		s.mu.Lock()
		s.counters.HostErrors++
		s.mu.Unlock()
		c.purge(tid, false)
	default:
		// A function-to-host type from the host: ignored, as libmbim
		// ignores host types from a function.
		s.mu.Lock()
		s.counters.Ignored++
		s.mu.Unlock()
	}
}

// command answers a COMMAND: a FUNCTION_ERROR fault, NOT_OPENED, a Func,
// the model, or NO_DEVICE_SUPPORT.
func (s *Sim) command(c *conn, m mbim.Message, act action) {
	tid := m.TransactionID()
	s.mu.Lock()
	s.counters.Commands++
	if act.functionError != 0 {
		s.sendLocked(c, mbim.AppendFunctionError(nil, tid, act.functionError), nil)
		s.mu.Unlock()
		return
	}
	if !s.ses.open {
		s.counters.NotOpened++
		s.sendLocked(c, mbim.AppendFunctionError(nil, tid, mbim.ProtocolErrorNotOpened), nil)
		s.mu.Unlock()
		return
	}
	fn := s.handlers[key{m.Service(), m.CID()}]
	if fn == nil {
		fn = s.handlers[key{}]
	}
	s.mu.Unlock()

	if fn != nil {
		msgs, err := fn(m)
		if !errors.Is(err, ErrUnhandled) {
			s.mu.Lock()
			s.funcResultLocked(c, m, msgs, err)
			s.mu.Unlock()
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.viewLocked()
	r := s.modelLocked(m)
	s.settleLocked(before)
	if r.status == mbim.StatusNoDeviceSupport {
		s.counters.NoDeviceSupport++
	}
	info := r.body
	if info == nil {
		info = (*mbim.Empty)(nil)
	}
	resp, err := mbim.AppendCommandDoneInfo(nil, tid, m.Service(), m.CID(), r.status, info)
	if err != nil {
		resp = mbim.AppendCommandDone(nil, tid, m.Service(), m.CID(), mbim.StatusFailure, nil)
	}
	s.sendLocked(c, resp, r.after)
	// What the request changed elsewhere is indicated after the response;
	// the requester's own CID is not (the response says it).
	s.diffLocked(before, key{m.Service(), m.CID()})
	for _, f := range r.then {
		f()
	}
}

// funcResultLocked sends what a Func returned.
func (s *Sim) funcResultLocked(c *conn, m mbim.Message, msgs [][]byte, err error) {
	tid := m.TransactionID()
	var st mbim.Status
	var pe mbim.ProtocolError
	switch {
	case err == nil:
		for _, b := range msgs {
			s.sendLocked(c, b, nil)
		}
	case errors.As(err, &pe):
		s.sendLocked(c, mbim.AppendFunctionError(nil, tid, pe), nil)
	case errors.As(err, &st):
		s.sendLocked(c, mbim.AppendCommandDone(nil, tid, m.Service(), m.CID(), st, nil), nil)
	default:
		s.sendLocked(c, mbim.AppendCommandDone(nil, tid, m.Service(), m.CID(), mbim.StatusFailure, nil), nil)
	}
}

// sendLocked queues one message for one host, through the faults and the
// fragmenter.
func (s *Sim) sendLocked(c *conn, msg []byte, after func()) {
	m, err := mbim.ParseMessage(msg)
	if err != nil {
		// A Func may return anything: send it as it is.
		s.pushLocked(c, []frame{{b: msg, after: after}})
		return
	}
	act := s.matchLocked(ToHost, m)
	if act.drop {
		s.counters.Dropped++
		if after != nil {
			go after() // it may take the lock (a device reset)
		}
		return
	}
	switch m.Type() {
	case mbim.TypeCommandDone:
		if act.functionError != 0 {
			msg = mbim.AppendFunctionError(nil, m.TransactionID(), act.functionError)
			m, _ = mbim.ParseMessage(msg)
		} else {
			s.counters.Responses++
		}
	case mbim.TypeIndicateStatus:
		s.counters.Indications++
	case mbim.TypeOpenDone, mbim.TypeCloseDone:
		s.counters.Responses++
	}
	if m.Type() == mbim.TypeFunctionError {
		s.counters.FunctionErrors++
	}
	if b, changed := act.mangle(msg, true); changed {
		msg = b
		s.counters.Corrupted++
	}

	size := s.ses.hostMax
	if act.fragmentSize > 0 {
		size = min(size, act.fragmentSize)
	}
	size = max(min(size, c.t.MaxControlTransfer()), 21)
	var fs []frame
	n, err := mbim.FragmentCount(msg, size)
	if err != nil || n <= 1 {
		fs = []frame{{b: msg, tid: m.TransactionID()}}
	} else {
		for i := range n {
			b, _ := mbim.AppendFragment(nil, msg, size, i)
			fs = append(fs, frame{b: b, tid: m.TransactionID()})
		}
		s.counters.FragmentsOut += n
		if act.reorder {
			for i, j := 0, len(fs)-1; i < j; i, j = i+1, j-1 {
				fs[i], fs[j] = fs[j], fs[i]
			}
		}
	}
	all := fs
	for range act.duplicate {
		for _, f := range fs {
			all = append(all, frame{b: f.b, tid: f.tid})
		}
	}
	at := time.Now().Add(act.delay)
	for i := range all {
		all[i].notBefore = at
	}
	all[len(all)-1].after = after
	s.pushLocked(c, all)
}

func (s *Sim) pushLocked(c *conn, fs []frame) {
	if !c.push(fs) {
		s.counters.Overflow += len(fs)
	}
}

// broadcastLocked sends a message to every host.
func (s *Sim) broadcastLocked(msg []byte) {
	for c := range s.conns {
		s.sendLocked(c, msg, nil)
	}
}

// stateIndicationsLocked sends the indications a modem sends on its own
// when it comes up (fault IndicationsFirst), ignoring the session.
func (s *Sim) stateIndicationsLocked(c *conn) {
	v := mbim.MBIMEx1 // nothing is negotiated before OPEN_DONE
	for _, k := range []key{
		{mbim.ServiceBasicConnect, mbim.CIDSubscriberReadyStatus},
		{mbim.ServiceBasicConnect, mbim.CIDRadioState},
		{mbim.ServiceBasicConnect, mbim.CIDRegisterState},
		{mbim.ServiceBasicConnect, mbim.CIDPacketService},
		{mbim.ServiceBasicConnect, mbim.CIDSignalState},
	} {
		body := s.notificationBodyLocked(k, v, 0)
		if msg, err := mbim.AppendIndicateStatusInfo(nil, 0, k.svc, k.cid, body); err == nil {
			s.sendLocked(c, msg, nil)
		}
	}
}

// notifyLocked sends an indication to the hosts that subscribed to it, in
// the layout of the agreed MBIMEx version.
func (s *Sim) notifyLocked(k key, session uint32) {
	if !s.ses.open || !s.ses.wants(k.svc, k.cid) {
		s.counters.IndicationsFiltered++
		return
	}
	body := s.notificationBodyLocked(k, s.ses.version, session)
	msg, err := mbim.AppendIndicateStatusInfo(nil, 0, k.svc, k.cid, body)
	if err != nil {
		return
	}
	s.broadcastLocked(msg)
}

// Indicate sends an unsolicited INDICATE_STATUS (transaction id 0) to every
// connected host, whatever the session state and the subscriptions, through
// the faults. A nil body sends an empty information buffer.
func (s *Sim) Indicate(service mbim.UUID, cid uint32, body mbim.InfoAppender) error {
	if body == nil {
		body = (*mbim.Empty)(nil)
	}
	msg, err := mbim.AppendIndicateStatusInfo(nil, 0, service, cid, body)
	if err != nil {
		return fmt.Errorf("mbimtest: indication: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSimClosed
	}
	s.broadcastLocked(msg)
	return nil
}

// Inject writes raw bytes to every connected host, as they are: garbage,
// a hand-made message, half of one.
func (s *Sim) Inject(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b = append([]byte(nil), b...)
	for c := range s.conns {
		s.pushLocked(c, []frame{{b: b, notBefore: time.Now()}})
	}
}
