package handoff

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// Dialer returns a fresh transport to the modem: a cdc-wdm node, a USB
// device, a connection through mbim-proxy, or an in-process pipe to a
// simulated modem. The Manager calls it for the first open and after
// every transport loss; it owns the transport from then on.
type Dialer func(ctx context.Context) (mbim.Transport, error)

// ManagerConfig configures a Manager. Dial, Host and Connect are needed;
// every other field has a default.
type ManagerConfig struct {
	Dial    Dialer
	Connect ConnectSettings
	Host    Host
	// Engine configures the handoff engine; its Session is taken from
	// Connect.Session. Its Sinks get every event, as do Subscribe's
	// channels.
	Engine EngineConfig

	// MaxMBIMEx caps the MBIMEx version negotiated at open (default 3.0).
	MaxMBIMEx mbim.Version
	// DisconnectOnExit deactivates the session when Run ends, and removes
	// from the host the addresses and default routes the engine applied
	// (then signals the link down), and closes the MBIM session. By
	// default the data session, the MBIM session (no CLOSE: some modems
	// end their data sessions on it) and the host are left as they are,
	// so a restarted daemon finds them right and changes nothing.
	DisconnectOnExit bool
	// RetryFirstOpen makes Run wait for the modem (retrying with Reopen's
	// backoff) when the first open fails; by default that failure ends
	// Run. After a first success the Manager always reopens, for as long
	// as ctx lives.
	RetryFirstOpen bool
	// Reopen spaces the attempts to open the device again after a
	// transport loss. Default 1 s doubling to 30 s, jitter 0.2.
	Reopen Backoff
	// PollInterval is how often the Manager asks the modem for the
	// session's state and the signal: it finds a modem that reset or
	// dropped the session without telling (the query gets NOT_OPENED, or
	// DEACTIVATED). Default 30 s; negative: never.
	PollInterval time.Duration
	// ShutdownTimeout bounds the disconnect, host cleanup and CLOSE when
	// Run ends. Default 10 s.
	ShutdownTimeout time.Duration
	// Subscriptions are added to mbim.DefaultDeviceSubscriptions in the
	// DEVICE_SERVICE_SUBSCRIBE_LIST sent at every open.
	Subscriptions []mbim.EventEntry
	// DeviceOptions are passed to mbim.Open before the Manager's own
	// (which set the MBIMEx cap, the subscribe list, a subscription and
	// the event handler: use DeviceEvents to see the device's events).
	DeviceOptions []mbim.Option
	// DeviceEvents, when set, gets every mbim.Event of every device the
	// Manager opens (it must not block).
	DeviceEvents func(mbim.Event)
	// DeviceOpened, when set, is called with each device the Manager has
	// opened and prepared, before the engine uses it (a metrics poller
	// or a tracer follows the device this way).
	DeviceOpened func(*mbim.Device)
	// Indications, when set, gets every Basic Connect indication, on the
	// goroutine that feeds the engine (it must not block).
	Indications func(mbim.Indication)
	// Logger receives the Manager's life cycle: opens, losses, resets,
	// PIN entry (never the PIN), radio, attach. Default: discarded.
	Logger *slog.Logger
}

func (c ManagerConfig) withDefaults() ManagerConfig {
	if c.MaxMBIMEx == 0 {
		c.MaxMBIMEx = mbim.MBIMEx3
	}
	if c.Reopen == (Backoff{}) {
		c.Reopen = Backoff{Initial: time.Second, Max: 30 * time.Second, Jitter: 0.2}
	}
	if c.Reopen.Initial <= 0 {
		c.Reopen.Initial = time.Second
	}
	c.Reopen.Max = max(c.Reopen.Max, c.Reopen.Initial)
	if c.PollInterval == 0 {
		c.PollInterval = 30 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Engine.Session = c.Connect.Session
	return c
}

// ErrSIMLocked means the SIM needs a code the Manager cannot or must not
// enter: no PIN was given, the PIN was refused (trying it again would
// block the SIM), or the SIM wants its PUK. Run ends with an error
// wrapping it.
var ErrSIMLocked = errors.New("handoff: SIM locked")

// errNoSIM is a SIM that is absent or not ready: the Manager retries.
var errNoSIM = errors.New("handoff: SIM not ready")

// DeviceIdentity is what DEVICE_CAPS says of the modem, without its
// identity number (IMEI/ESN/MEID, which is personal).
type DeviceIdentity struct {
	DeviceType      mbim.DeviceType
	CellularClass   mbim.CellularClass
	DataClasses     mbim.DataClass
	MaxSessions     uint32
	CustomDataClass string
	Firmware        string
	Hardware        string
}

// ManagerCounters count what the Manager did since New.
type ManagerCounters struct {
	Opens           uint64 // successful opens (the first and the reopens)
	OpenFailures    uint64 // failed attempts to open and prepare the device
	TransportLosses uint64 // transports lost (unplug, modem reset that hung up)
	ModemResets     uint64 // sessions the device had to open again (NOT_OPENED)
	PINEntries      uint64 // PIN1 entered
	Attaches        uint64 // PACKET_SERVICE attach requests sent
	AttachFailures  uint64
	Polls           uint64
}

// ManagerSnapshot is the Manager's state for metrics and status displays.
type ManagerSnapshot struct {
	// Engine is the handoff engine's snapshot (state, packet service, data
	// class, registration, applied configuration, last handoff, counters).
	Engine Snapshot
	// DeviceOpen tells whether a device is open; MBIMEx is its negotiated
	// version, OpenedAt when it was opened, and Device its client
	// counters since then (they start again at every open: see
	// Counters.Opens).
	DeviceOpen bool
	MBIMEx     mbim.Version
	OpenedAt   time.Time
	Device     mbim.Stats
	Identity   DeviceIdentity
	// What the modem last said (queries at open, then indications).
	Ready         mbim.SubscriberReadyState
	Registration  mbim.Registration
	PacketService mbim.PacketServiceStatus
	Signal        mbim.Signal
	SignalKnown   bool
	// SessionStart is when the session was last seen activated; zero
	// while it is not.
	SessionStart time.Time
	Counters     ManagerCounters
	// LastError is the last failure to open, prepare or attach, and when.
	LastError     string
	LastErrorTime time.Time
}

// Manager runs one MBIM data session and keeps the host in step with it:
// it opens the device (negotiating MBIMEx), subscribes to the indications
// the engine needs, switches the radio on, enters the PIN if the SIM asks
// for it, keeps the packet service attached, and runs the handoff Engine,
// which connects and applies the configuration through the handoffs. It
// feeds the engine the PACKET_SERVICE, CONNECT, IP_CONFIGURATION and
// REGISTER_STATE indications, and answers its queries through a
// DeviceModem. When the transport is lost (unplug, reset) it tells the
// engine, reopens with backoff for as long as Run's context lives, and
// tells the engine it is back; a modem that reset without hanging up
// (the device had to open the session again) is handled the same way.
//
// Router firmware embeds it; `mbimctl run` is a thin command around it.
type Manager struct {
	cfg    ManagerConfig
	log    *slog.Logger
	modem  *DeviceModem
	engine *Engine

	running atomic.Bool
	gen     atomic.Uint64 // device generation: +1 per open

	recovered chan uint64   // generation whose device re-opened its session
	kick      chan struct{} // registration or packet service changed
	resync    chan uint64   // generation whose subscription dropped indications

	stateSeq atomic.Uint64 // +1 per state indication and session event: polls older than one are stale

	smu  sync.Mutex
	subs map[chan Event]struct{}

	mu   sync.Mutex
	snap ManagerSnapshot // all but Engine and Device, which are read on demand
}

// NewManager checks the configuration and returns a Manager; call Run.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if cfg.Dial == nil {
		return nil, errors.New("handoff: ManagerConfig.Dial is nil")
	}
	if cfg.Host == nil {
		return nil, errors.New("handoff: ManagerConfig.Host is nil")
	}
	if err := cfg.Connect.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &Manager{
		cfg:       cfg,
		log:       cfg.Logger,
		modem:     NewDeviceModem(cfg.Connect),
		recovered: make(chan uint64, 1),
		kick:      make(chan struct{}, 1),
		resync:    make(chan uint64, 1),
		subs:      map[chan Event]struct{}{},
	}
	ec := cfg.Engine
	ec.Sinks = append(slices.Clone(ec.Sinks), m.sink)
	m.engine = New(ec, m.modem, cfg.Host)
	return m, nil
}

// Engine returns the handoff engine the Manager runs.
func (m *Manager) Engine() *Engine { return m.engine }

// Device returns the open device, nil while there is none. A metrics
// collector may query it (PACKET_STATISTICS, SIGNAL_STATE) on scrape.
func (m *Manager) Device() *mbim.Device { return m.modem.Device() }

// Snapshot returns the Manager's state. Safe for concurrent use.
func (m *Manager) Snapshot() ManagerSnapshot {
	m.mu.Lock()
	s := m.snap
	m.mu.Unlock()
	s.Engine = m.engine.Snapshot()
	if d := m.modem.Device(); d != nil {
		s.Device = d.Stats()
	}
	return s
}

// Subscribe returns a channel that gets every event of the engine from
// now on, with room for buf waiting events (at least 1): a subscriber
// that falls further behind misses events, the engine never waits. Call
// cancel to stop; it closes the channel.
func (m *Manager) Subscribe(buf int) (events <-chan Event, cancel func()) {
	ch := make(chan Event, max(buf, 1))
	m.smu.Lock()
	m.subs[ch] = struct{}{}
	m.smu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			m.smu.Lock()
			delete(m.subs, ch)
			m.smu.Unlock()
			close(ch)
		})
	}
}

// sink is the Manager's engine sink (on the engine's goroutine).
func (m *Manager) sink(ev Event) {
	if ev.Type == EventSession {
		m.stateSeq.Add(1)
		m.mu.Lock()
		switch {
		case ev.ActivationState == mbim.ActivationStateActivated && m.snap.SessionStart.IsZero():
			m.snap.SessionStart = ev.Time
		case ev.ActivationState != mbim.ActivationStateActivated:
			m.snap.SessionStart = time.Time{}
		}
		m.mu.Unlock()
	}
	m.smu.Lock()
	for ch := range m.subs {
		select {
		case ch <- ev:
		default:
		}
	}
	m.smu.Unlock()
}

func (m *Manager) update(f func(s *ManagerSnapshot)) {
	m.mu.Lock()
	f(&m.snap)
	m.mu.Unlock()
}

func (m *Manager) setError(err error) {
	m.update(func(s *ManagerSnapshot) {
		s.LastError, s.LastErrorTime = err.Error(), time.Now()
	})
}

// link is one open device and the goroutine that pumps its indications.
type link struct {
	dev  *mbim.Device
	sub  *mbim.Subscription
	gen  uint64
	done chan struct{} // the pump returned
}

// Run runs the session until ctx ends, then shuts down cleanly (see
// ManagerConfig.DisconnectOnExit) and returns nil. It returns an error
// when the first open fails (unless RetryFirstOpen), when the SIM is
// locked for good (ErrSIMLocked), or when it is already running.
func (m *Manager) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer m.running.Store(false)

	var l *link
	for attempt := 1; ; attempt++ {
		var err error
		l, err = m.open(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrSIMLocked) || !m.cfg.RetryFirstOpen {
			return err
		}
		d := m.cfg.Reopen.Delay(attempt, rand.Float64())
		m.log.Warn("cannot open the modem; retrying", "err", err, "attempt", attempt, "in", d)
		if !sleepCtx(ctx, d) {
			return nil
		}
	}

	r := &runState{m: m, ctx: ctx, l: l}
	return r.loop()
}

// runState is what Run's loop owns.
type runState struct {
	m   *Manager
	ctx context.Context
	l   *link

	stopEngine context.CancelFunc
	engDone    chan error

	wg            sync.WaitGroup // polls and attaches in flight
	polling       atomic.Bool
	attaching     bool
	attachDone    chan error
	attachFails   int
	attachNext    time.Time
	attachRetry   *time.Timer
	attachRetryOn bool
}

func (r *runState) loop() error {
	m := r.m
	m.modem.SetDevice(r.l.dev)
	engCtx, stop := context.WithCancel(context.WithoutCancel(r.ctx))
	r.stopEngine, r.engDone = stop, make(chan error, 1)
	go func() { r.engDone <- m.engine.Run(engCtx) }()

	var tick <-chan time.Time
	if m.cfg.PollInterval > 0 {
		t := time.NewTicker(m.cfg.PollInterval)
		defer t.Stop()
		tick = t.C
	}
	r.attachDone = make(chan error, 1)
	r.attachRetry = time.NewTimer(time.Hour)
	r.attachRetry.Stop()
	defer r.attachRetry.Stop()
	r.considerAttach()

	for {
		select {
		case <-r.ctx.Done():
			return r.shutdown(nil)
		case err := <-r.engDone:
			r.engDone = nil
			return r.shutdown(fmt.Errorf("handoff: engine stopped: %w", err))
		case <-r.l.dev.Done():
			reason := "transport lost"
			if err := r.l.dev.Err(); err != nil {
				reason = err.Error()
			}
			m.update(func(s *ManagerSnapshot) { s.Counters.TransportLosses++ })
			m.log.Warn("modem transport lost; reopening", "reason", reason)
			m.engine.Handle(TransportLost{Reason: reason})
			if err := r.replace(); err != nil {
				return r.shutdown(err)
			}
		case gen := <-m.recovered:
			if gen != r.l.gen {
				continue
			}
			m.update(func(s *ManagerSnapshot) { s.Counters.ModemResets++ })
			m.log.Warn("the modem had closed the MBIM session (reset?): preparing it again")
			m.engine.Handle(TransportLost{Reason: "modem reset: the MBIM session had to be opened again"})
			err := m.prepare(r.ctx, r.l.dev)
			switch {
			case r.ctx.Err() != nil:
				return r.shutdown(nil)
			case errors.Is(err, ErrSIMLocked):
				return r.shutdown(err)
			case err != nil:
				m.setError(err)
				m.log.Warn("cannot prepare the modem after its reset; reopening", "err", err)
				if err := r.replace(); err != nil {
					return r.shutdown(err)
				}
			default:
				m.engine.Handle(TransportBack{})
			}
		case gen := <-m.resync:
			if gen == r.l.gen {
				r.startPoll(0, true)
			}
		case <-tick:
			r.startPoll(0, false)
		case <-m.kick:
			r.considerAttach()
		case <-r.attachRetry.C:
			r.attachRetryOn = false
			r.considerAttach()
		case err := <-r.attachDone:
			r.attaching = false
			if err != nil {
				r.attachFails++
				d := m.cfg.Reopen.Delay(r.attachFails, rand.Float64())
				r.attachNext = time.Now().Add(d)
				m.update(func(s *ManagerSnapshot) { s.Counters.AttachFailures++ })
				m.setError(err)
				m.log.Warn("attach failed", "err", err, "retry_in", d)
				r.armAttachRetry(d)
			} else {
				// The answer itself was handed to the engine; a Status the
				// engine asked before it cannot override it.
				r.attachFails, r.attachNext = 0, time.Time{}
			}
		}
	}
}

// replace closes the current device and opens a new one, retrying with
// backoff while ctx lives, then tells the engine the transport is back.
// It returns an error only for a failure that must end Run; when ctx ends
// it returns nil and leaves r.l nil.
func (r *runState) replace() error {
	m := r.m
	m.modem.SetDevice(nil)
	r.wg.Wait() // polls and attaches on the old device
	select {
	case <-r.attachDone: // an attach on the old device: forget it
	default:
	}
	r.attaching = false
	m.closeLink(r.l)
	r.l = nil
	for attempt := 1; ; attempt++ {
		l, err := m.open(r.ctx)
		if err == nil {
			r.l = l
			m.modem.SetDevice(l.dev)
			m.log.Info("modem back", "attempts", attempt, "mbimex", l.dev.Version().String())
			m.engine.Handle(TransportBack{})
			r.attachFails, r.attachNext = 0, time.Time{}
			r.considerAttach()
			return nil
		}
		if r.ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrSIMLocked) {
			return err
		}
		d := m.cfg.Reopen.Delay(attempt, rand.Float64())
		m.log.Warn("cannot reopen the modem; retrying", "err", err, "attempt", attempt, "in", d)
		if !sleepCtx(r.ctx, d) {
			return nil
		}
	}
}

// shutdown stops the engine, waits for the helpers, disconnects if asked,
// closes the device and returns err.
func (r *runState) shutdown(err error) error {
	m := r.m
	r.stopEngine()
	if r.engDone != nil {
		<-r.engDone
	}
	r.wg.Wait()
	if r.l == nil {
		return err
	}
	if m.cfg.DisconnectOnExit && m.modem.Device() != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ShutdownTimeout)
		if derr := m.modem.Disconnect(ctx, m.cfg.Connect.Session); derr != nil {
			m.log.Warn("disconnect at exit failed", "err", derr)
		} else {
			m.log.Info("session disconnected")
		}
		m.cleanHost(ctx)
		cancel()
	}
	m.modem.SetDevice(nil)
	m.closeLink(r.l)
	r.l = nil
	return err
}

// cleanHost removes what the engine applied (DisconnectOnExit): the
// addresses (not in DHCP mode), the default routes, then signals the link
// down.
func (m *Manager) cleanHost(ctx context.Context) {
	applied := m.engine.Snapshot().Applied
	h := m.cfg.Host
	var errs []error
	if !m.cfg.Engine.DHCP {
		for _, p := range applied.Addresses() {
			if managedAddr(p) {
				errs = append(errs, h.DeleteAddress(ctx, p))
			}
		}
		if len(applied.IPv4) > 0 {
			errs = append(errs, h.DeleteDefaultRoute(ctx, IPv4))
		}
		if len(applied.IPv6) > 0 {
			errs = append(errs, h.DeleteDefaultRoute(ctx, IPv6))
		}
	}
	errs = append(errs, h.SetLink(ctx, false))
	if err := errors.Join(errs...); err != nil {
		m.log.Warn("host cleanup at exit failed", "err", err)
	}
}

func (r *runState) armAttachRetry(d time.Duration) {
	if r.attachRetryOn {
		r.attachRetry.Stop()
	}
	r.attachRetry.Reset(d)
	r.attachRetryOn = true
}

// considerAttach asks for packet service when the modem is registered and
// detached (a network that wants a manual attach, or detached us), once
// at a time and with backoff after failures.
func (r *runState) considerAttach() {
	m := r.m
	if r.attaching || r.l == nil {
		return
	}
	m.mu.Lock()
	reg, ps, known := m.snap.Registration.State, m.snap.PacketService.State, m.snap.PacketService.Version != 0
	m.mu.Unlock()
	switch reg {
	case mbim.RegisterStateHome, mbim.RegisterStateRoaming, mbim.RegisterStatePartner:
	default:
		return
	}
	if !known || ps != mbim.PacketServiceStateDetached {
		return
	}
	if d := time.Until(r.attachNext); d > 0 {
		r.armAttachRetry(d)
		return
	}
	r.attaching = true
	dev := r.l.dev
	m.update(func(s *ManagerSnapshot) { s.Counters.Attaches++ })
	m.log.Info("attaching to packet service")
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithTimeout(r.ctx, 60*time.Second)
		defer cancel()
		// The answer is the new packet service, which the modem does not
		// indicate to the host that asked: the engine needs it too.
		b, err := dev.SetBody(ctx, mbim.ServiceBasicConnect, mbim.CIDPacketService,
			&mbim.PacketServiceSet{PacketServiceAction: mbim.PacketServiceActionAttach})
		if err == nil {
			m.observe(b)
			if in, ok := InputFromBody(b); ok {
				m.engine.Handle(in)
			}
		}
		r.attachDone <- err
	}()
}

// startPoll reads the modem's state on a goroutine, one poll at a time,
// after delay: the session's state, registration, packet service and
// signal; full also re-reads the IP configuration (after indications were
// dropped).
func (r *runState) startPoll(delay time.Duration, full bool) {
	if r.l == nil || !r.polling.CompareAndSwap(false, true) {
		return
	}
	m := r.m
	dev := r.l.dev
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.polling.Store(false)
		if delay > 0 && !sleepCtx(r.ctx, delay) {
			return
		}
		m.poll(r.ctx, dev, full)
	}()
}

// poll queries the modem's state and gives the engine what it answered,
// unless the state moved meanwhile (an indication or a session event
// arrived, which is newer) or the query found the MBIM session closed (a
// reset, which the loop handles): the engine is never handed a stale
// answer over a fresh one.
func (m *Manager) poll(ctx context.Context, dev *mbim.Device, full bool) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	m.update(func(s *ManagerSnapshot) { s.Counters.Polls++ })
	session := m.cfg.Connect.Session
	seq, notOpened := m.stateSeq.Load(), notOpenedCount(dev)
	var ins []Input
	if c, err := dev.ConnectState(ctx, session); err == nil {
		ins = append(ins, Session{ID: session, ActivationState: c.ActivationState, NwError: c.NwError})
	}
	for _, cid := range []uint32{mbim.CIDRegisterState, mbim.CIDPacketService} {
		if b, err := dev.QueryBody(ctx, mbim.ServiceBasicConnect, cid, nil); err == nil {
			if in, ok := InputFromBody(b); ok {
				m.observe(b)
				ins = append(ins, in)
			}
		}
	}
	if full {
		if ip, err := dev.IPConfiguration(ctx, session); err == nil {
			ins = append(ins, IPConfigurationFrom(ip))
		}
	}
	if sig, err := dev.SignalState(ctx); err == nil {
		m.update(func(s *ManagerSnapshot) { s.Signal, s.SignalKnown = sig, true })
	}
	if m.stateSeq.Load() != seq || notOpenedCount(dev) != notOpened {
		return
	}
	for _, in := range ins {
		m.engine.Handle(in)
	}
}

// notOpenedCount is how many FUNCTION_ERROR NOT_OPENED the device got.
func notOpenedCount(dev *mbim.Device) uint64 {
	return dev.Stats().ProtocolErrors[mbim.ProtocolErrorNotOpened]
}

// open dials, opens the device and prepares the modem.
func (m *Manager) open(ctx context.Context) (*link, error) {
	t, err := m.cfg.Dial(ctx)
	if err != nil {
		m.update(func(s *ManagerSnapshot) { s.Counters.OpenFailures++ })
		m.setError(err)
		return nil, fmt.Errorf("handoff: open the modem: %w", err)
	}
	gen := m.gen.Add(1)
	sub := mbim.NewSubscription(mbim.SubscribeFilter{Service: mbim.ServiceBasicConnect}, 256)
	subs := append(mbim.DefaultDeviceSubscriptions(), m.cfg.Subscriptions...)
	opts := slices.Clone(m.cfg.DeviceOptions)
	if !m.cfg.DisconnectOnExit {
		// Leave the MBIM session open when the device is closed: some
		// modems end their data sessions on CLOSE (mbimcli needs
		// --no-close to keep a connection for the same reason).
		opts = append(opts, mbim.WithNoClose())
	}
	opts = append(opts,
		mbim.WithMaxVersion(m.cfg.MaxMBIMEx),
		mbim.WithDeviceSubscriptions(subs...),
		mbim.WithSubscription(sub),
		mbim.WithEventHandler(func(ev mbim.Event) { m.deviceEvent(gen, ev) }))
	dev, err := mbim.Open(ctx, t, opts...)
	if err != nil {
		sub.Close()
		m.update(func(s *ManagerSnapshot) { s.Counters.OpenFailures++ })
		m.setError(err)
		return nil, fmt.Errorf("handoff: open the modem: %w", err)
	}
	l := &link{dev: dev, sub: sub, gen: gen, done: make(chan struct{})}
	go m.pump(l)
	m.log.Info("modem open", "mbimex", dev.Version().String())
	if err := m.prepare(ctx, dev); err != nil {
		m.closeLink(l)
		m.update(func(s *ManagerSnapshot) { s.Counters.OpenFailures++ })
		m.setError(err)
		return nil, err
	}
	m.update(func(s *ManagerSnapshot) {
		s.Counters.Opens++
		s.DeviceOpen, s.MBIMEx, s.OpenedAt = true, dev.Version(), time.Now()
	})
	if m.cfg.DeviceOpened != nil {
		m.cfg.DeviceOpened(dev)
	}
	return l, nil
}

func (m *Manager) closeLink(l *link) {
	if l == nil {
		return
	}
	_ = l.dev.Close() // closes the subscription too
	l.sub.Close()
	<-l.done
	m.update(func(s *ManagerSnapshot) { s.DeviceOpen = false })
}

func (m *Manager) deviceEvent(gen uint64, ev mbim.Event) {
	if ev.Kind == mbim.EventRecovered {
		select {
		case m.recovered <- gen:
		default:
		}
	}
	if m.cfg.DeviceEvents != nil {
		m.cfg.DeviceEvents(ev)
	}
}

// pump feeds the engine the device's indications until the device stops.
func (m *Manager) pump(l *link) {
	defer close(l.done)
	var dropped uint64
	for ind := range l.sub.C() {
		if m.cfg.Indications != nil {
			m.cfg.Indications(ind)
		}
		b, err := ind.Decode()
		if err != nil {
			m.log.Debug("undecodable indication", "err", err)
			continue
		}
		m.observe(b)
		if in, ok := InputFromBody(b); ok {
			m.stateSeq.Add(1)
			m.engine.Handle(in)
		}
		if d := l.sub.Dropped(); d != dropped {
			dropped = d
			m.log.Warn("indications dropped; reading the modem's state again", "dropped", d)
			select {
			case m.resync <- l.gen:
			default:
			}
		}
	}
}

// observe keeps what the modem says for the snapshot, and reconsiders
// attaching when registration or the packet service changed.
func (m *Manager) observe(b mbim.Body) {
	kick := false
	switch b.(type) {
	case *mbim.RegisterStateInfo, *mbim.RegisterStateInfoV2:
		if r, err := mbim.RegistrationFrom(b); err == nil {
			m.update(func(s *ManagerSnapshot) {
				if s.Registration.State != r.State {
					m.log.Info("registration", "state", r.State.String(), "provider", r.ProviderName, "nw_error", r.NwError.String())
				}
				s.Registration = r
			})
			kick = true
		}
	case *mbim.PacketServiceInfo, *mbim.PacketServiceInfoV2, *mbim.PacketServiceInfoV3:
		if p, err := mbim.PacketServiceFrom(b); err == nil {
			m.update(func(s *ManagerSnapshot) { s.PacketService = p })
			kick = true
		}
	case *mbim.SignalStateInfo, *mbim.SignalStateInfoV2:
		if sig, err := mbim.SignalFrom(b); err == nil {
			m.update(func(s *ManagerSnapshot) { s.Signal, s.SignalKnown = sig, true })
		}
	case *mbim.SubscriberReadyStatusInfo, *mbim.SubscriberReadyStatusInfoV3:
		if st, err := mbim.SubscriberStatusFrom(b); err == nil {
			m.update(func(s *ManagerSnapshot) { s.Ready = st.ReadyState })
		}
	case *mbim.RadioStateInfo:
		rs := b.(*mbim.RadioStateInfo)
		if rs.SwRadioState == mbim.RadioSwitchStateOff || rs.HwRadioState == mbim.RadioSwitchStateOff {
			m.log.Warn("radio off", "hardware", rs.HwRadioState.String(), "software", rs.SwRadioState.String())
		}
	}
	if kick {
		select {
		case m.kick <- struct{}{}:
		default:
		}
	}
}

// simInitWait bounds the wait for a SIM that is still initialising.
const simInitWait = 30 * time.Second

// prepare brings an open modem to where the engine can connect: the SIM
// ready (PIN1 entered if it asks for it), the radio on; and reads the
// device's identity, registration, packet service and signal for the
// snapshot.
func (m *Manager) prepare(ctx context.Context, dev *mbim.Device) error {
	if caps, err := dev.DeviceCaps(ctx); err == nil {
		m.update(func(s *ManagerSnapshot) {
			s.Identity = DeviceIdentity{DeviceType: caps.DeviceType, CellularClass: caps.CellularClass,
				DataClasses: caps.DataClass, MaxSessions: caps.MaxSessions,
				CustomDataClass: caps.CustomDataClass.String(), Firmware: caps.FirmwareInfo.String(),
				Hardware: caps.HardwareInfo.String()}
		})
	} else if !refused(err) {
		return fmt.Errorf("handoff: query DEVICE_CAPS: %w", err)
	}
	if err := m.unlockSIM(ctx, dev); err != nil {
		return err
	}
	rs, err := dev.RadioState(ctx)
	switch {
	case refused(err):
		m.log.Warn("cannot read the radio state", "err", err)
	case err != nil:
		return fmt.Errorf("handoff: query RADIO_STATE: %w", err)
	default:
		if rs.HwRadioState == mbim.RadioSwitchStateOff {
			m.log.Warn("the hardware radio switch is off: waiting for it")
		}
		if rs.SwRadioState == mbim.RadioSwitchStateOff {
			m.log.Info("switching the radio on")
			if _, err := dev.SetRadioState(ctx, true); err != nil {
				return fmt.Errorf("handoff: switch the radio on: %w", err)
			}
		}
	}
	if b, err := dev.QueryBody(ctx, mbim.ServiceBasicConnect, mbim.CIDRegisterState, nil); err == nil {
		m.observe(b)
		if r, _ := mbim.RegistrationFrom(b); !registered(r.State) {
			m.log.Info("waiting for registration", "state", r.State.String())
		}
	}
	if b, err := dev.QueryBody(ctx, mbim.ServiceBasicConnect, mbim.CIDPacketService, nil); err == nil {
		m.observe(b)
	}
	if sig, err := dev.SignalState(ctx); err == nil {
		m.update(func(s *ManagerSnapshot) { s.Signal, s.SignalKnown = sig, true })
	}
	return ctx.Err()
}

func registered(s mbim.RegisterState) bool {
	switch s {
	case mbim.RegisterStateHome, mbim.RegisterStateRoaming, mbim.RegisterStatePartner:
		return true
	}
	return false
}

// unlockSIM waits for the SIM to be ready, entering PIN1 once if it asks
// for it.
func (m *Manager) unlockSIM(ctx context.Context, dev *mbim.Device) error {
	deadline := time.Now().Add(simInitWait)
	entered := false
	for {
		st, err := dev.SubscriberReadyStatus(ctx)
		if err != nil {
			if refused(err) {
				return fmt.Errorf("%w: %w", errNoSIM, err)
			}
			return fmt.Errorf("handoff: query SUBSCRIBER_READY_STATUS: %w", err)
		}
		m.update(func(s *ManagerSnapshot) { s.Ready = st.ReadyState })
		switch st.ReadyState {
		case mbim.SubscriberReadyStateInitialized:
			return nil
		case mbim.SubscriberReadyStateDeviceLocked:
			if entered {
				return fmt.Errorf("%w: the SIM accepted the PIN but stays locked", ErrSIMLocked)
			}
			if err := m.enterPIN(ctx, dev); err != nil {
				return err
			}
			entered = true
			continue
		case mbim.SubscriberReadyStateBadSim:
			return fmt.Errorf("%w: the SIM is blocked (BAD_SIM)", ErrSIMLocked)
		case mbim.SubscriberReadyStateNotInitialized:
			if time.Now().After(deadline) {
				return fmt.Errorf("%w: still initialising after %v", errNoSIM, simInitWait)
			}
			if !sleepCtx(ctx, 500*time.Millisecond) {
				return ctx.Err()
			}
			continue
		default: // SIM_NOT_INSERTED, FAILURE, NOT_ACTIVATED, NO_ESIM_PROFILE
			return fmt.Errorf("%w: %s", errNoSIM, st.ReadyState)
		}
	}
}

func (m *Manager) enterPIN(ctx context.Context, dev *mbim.Device) error {
	info, err := dev.Pin(ctx)
	if err != nil {
		return fmt.Errorf("handoff: query PIN: %w", err)
	}
	if info.PinState == mbim.PinStateUnlocked {
		return nil
	}
	switch info.PinType {
	case mbim.PinTypePin1:
	case mbim.PinTypePuk1:
		return fmt.Errorf("%w: PIN1 is blocked, the SIM wants its PUK1 (unblock it with mbimctl pin unblock)", ErrSIMLocked)
	default:
		return fmt.Errorf("%w: the SIM asks for %s, which the daemon does not enter", ErrSIMLocked, info.PinType)
	}
	if m.cfg.Connect.PIN == "" {
		return fmt.Errorf("%w: the SIM asks for PIN1 (%d attempts left) and no PIN was given", ErrSIMLocked, info.RemainingAttempts)
	}
	res, err := dev.EnterPin(ctx, mbim.PinTypePin1, m.cfg.Connect.PIN)
	if err != nil {
		if refused(err) {
			return fmt.Errorf("%w: PIN1 refused (%d attempts left; not trying again): %w", ErrSIMLocked, res.RemainingAttempts, err)
		}
		return fmt.Errorf("handoff: enter PIN1: %w", err)
	}
	m.update(func(s *ManagerSnapshot) { s.Counters.PINEntries++ })
	m.log.Info("PIN1 entered")
	return nil
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
