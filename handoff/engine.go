package handoff

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// Modem is what the engine asks of the MBIM client. Each call must honour
// ctx; the engine also bounds each with EngineConfig.ModemTimeout.
type Modem interface {
	// Status queries the registration, the packet service and the
	// session's activation state (REGISTER_STATE, PACKET_SERVICE,
	// CONNECT). The engine calls it at start and after TransportBack; by
	// then the client has reopened the device and subscribed again.
	Status(ctx context.Context, session uint32) (ModemStatus, error)
	// Connect activates the session again with the stored APN and
	// credentials, and returns once it is ACTIVATED (or with the error).
	Connect(ctx context.Context, session uint32) error
	// IPConfiguration queries the session's IP_CONFIGURATION.
	IPConfiguration(ctx context.Context, session uint32) (IPConfiguration, error)
}

// ModemStatus is the answer to Modem.Status.
type ModemStatus struct {
	Register      Register
	PacketService PacketService
	Session       Session
}

// Backoff spaces attempts after failures: Initial, doubling up to Max,
// each shortened by up to Jitter (a fraction, 0 to 1) at random.
type Backoff struct {
	Initial, Max time.Duration
	Jitter       float64
}

// Delay returns the wait before attempt n+1 after n consecutive failures
// (n ≥ 1), r in [0, 1) being the random draw. It never exceeds Max.
func (b Backoff) Delay(n int, r float64) time.Duration {
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return d - time.Duration(float64(d)*min(max(b.Jitter, 0), 1)*r)
}

// EngineConfig configures an Engine. The zero value of every field but
// Session and Interface has a default.
type EngineConfig struct {
	Session   uint32 // MBIM session id
	Interface string // the host interface, for events and hooks
	// DHCP: a DHCP client owns the addresses; the engine only signals the
	// link down and up when the modem's addresses change.
	DHCP bool
	// RouteMetric and RouteTable are what the daemon gave the Host; the
	// engine only reports them in events.
	RouteMetric uint32
	RouteTable  uint32
	// Debounce is how long the engine waits after a data-class change (or
	// an IP_CONFIGURATION indication that carries only some of the
	// session's families) before querying or comparing, so a burst of
	// indications gives one query. An indication that carries every family
	// is applied at once. Default 100 ms; negative: no wait.
	Debounce time.Duration
	// Backoff after a failed connect, query or host change. Default 1 s
	// doubling to 1 min, jitter 0.2.
	Backoff Backoff
	// RetryBudget is how many failed attempts a handoff may take before
	// its outcome is "failed" (the engine keeps trying). Default 5.
	RetryBudget int
	// ModemTimeout bounds each Modem call. Default 150 s (CONNECT may
	// take two minutes).
	ModemTimeout time.Duration
	// QueueSize bounds the inputs waiting for the engine; Handle drops
	// (and counts) what does not fit. Default 256.
	QueueSize int
	// Rand returns a number in [0, 1) for the backoff jitter. Default
	// math/rand/v2.Float64.
	Rand func() float64
	// Sinks receive every event, in order, on the engine's goroutine:
	// they must not block (a Hook queues).
	Sinks []func(Event)
}

func (c EngineConfig) withDefaults() EngineConfig {
	if c.Debounce == 0 {
		c.Debounce = 100 * time.Millisecond
	}
	if c.Debounce < 0 {
		c.Debounce = 0
	}
	if c.Backoff == (Backoff{}) {
		c.Backoff = Backoff{Initial: time.Second, Max: time.Minute, Jitter: 0.2}
	}
	if c.Backoff.Initial <= 0 {
		c.Backoff.Initial = time.Second
	}
	if c.Backoff.Max <= 0 {
		c.Backoff.Max = time.Minute
	}
	c.Backoff.Max = max(c.Backoff.Max, c.Backoff.Initial)
	if c.RetryBudget <= 0 {
		c.RetryBudget = 5
	}
	if c.ModemTimeout <= 0 {
		c.ModemTimeout = 150 * time.Second
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 256
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	return c
}

// State is the engine's state (see the package documentation's table).
type State uint8

const (
	Idle         State = iota // Run not started, or returned
	Starting                  // reading the host and the modem at start
	Connecting                // bringing the session up for the first time
	Up                        // session activated, host consistent
	Checking                  // a change is being checked: debounce, query, apply
	Reconnecting              // the session was dropped; connecting with backoff
	Detached                  // not registered or not attached: holding
	Lost                      // the transport is gone, until TransportBack
)

var stateNames = [...]string{"idle", "starting", "connecting", "up", "checking", "reconnecting", "detached", "lost"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Counters count what the engine did since New.
type Counters struct {
	Inputs      uint64 // inputs accepted by Handle
	Dropped     uint64 // inputs dropped because the queue was full
	Handoffs    map[Outcome]uint64
	Queries     uint64 // IP_CONFIGURATION queries
	Connects    uint64 // connect attempts
	HostWrites  uint64 // host changes attempted
	HostErrors  uint64 // host changes refused
	ModemErrors uint64 // failed Modem calls
}

// Snapshot is the engine's state for metrics and status displays.
type Snapshot struct {
	State           State
	Session         uint32
	Interface       string
	PacketService   PacketService
	DataClass       string // DataClassName of the packet service's class
	Register        Register
	ActivationState mbim.ActivationState
	// Applied is the configuration the host was last made consistent
	// with (in DHCP mode: the modem's last signalled configuration).
	Applied Config
	LinkUp  bool
	// LastHandoff is the last handoff event (zero Time if none).
	LastHandoff Event
	Counters    Counters
}

// Engine keeps the host in step with the modem through packet-data-service
// handoffs. Feed it inputs with Handle; it runs in Run.
type Engine struct {
	cfg   EngineConfig
	modem Modem
	host  Host
	in    chan queuedInput

	inputs, dropped atomic.Uint64
	running         atomic.Bool

	mu   sync.Mutex
	snap Snapshot
}

// New returns an engine for one session. Call Run to start it.
func New(cfg EngineConfig, modem Modem, host Host) *Engine {
	if modem == nil || host == nil {
		panic("handoff: New with a nil Modem or Host")
	}
	cfg = cfg.withDefaults()
	e := &Engine{cfg: cfg, modem: modem, host: host, in: make(chan queuedInput, cfg.QueueSize)}
	e.snap = Snapshot{Session: cfg.Session, Interface: cfg.Interface,
		Counters: Counters{Handoffs: map[Outcome]uint64{}}}
	return e
}

// Handle queues an input for the engine without ever blocking: when the
// queue is full the input is dropped, counted, and the engine resyncs
// with the modem (queries everything again) as soon as it notices. It
// reports whether the input was queued. Safe for concurrent use.
func (e *Engine) Handle(in Input) bool {
	select {
	case e.in <- queuedInput{in: in, at: time.Now()}:
		e.inputs.Add(1)
		return true
	default:
		e.dropped.Add(1)
		return false
	}
}

// Snapshot returns the engine's current state. Safe for concurrent use.
func (e *Engine) Snapshot() Snapshot {
	e.mu.Lock()
	s := e.snap
	s.Counters.Handoffs = maps.Clone(s.Counters.Handoffs)
	e.mu.Unlock()
	s.Applied = s.Applied.clone()
	s.LastHandoff.Steps = slices.Clone(s.LastHandoff.Steps)
	s.LastHandoff.Old = s.LastHandoff.Old.clone()
	s.LastHandoff.New = s.LastHandoff.New.clone()
	s.Counters.Inputs = e.inputs.Load()
	s.Counters.Dropped = e.dropped.Load()
	return s
}

func (c Config) clone() Config {
	c.IPv4 = slices.Clone(c.IPv4)
	c.IPv6 = slices.Clone(c.IPv6)
	c.DNS = slices.Clone(c.DNS)
	return c
}

// ErrRunning is returned by Run when the engine already runs.
var ErrRunning = errors.New("handoff: engine already running")

// Run runs the state machine until ctx is done, then returns ctx's error.
// It reads the host and the modem first, brings the session up if it is
// not, and reconciles the host with the modem's configuration. The state
// is owned by Run's goroutine; Modem calls run on short-lived goroutines
// so that a slow CONNECT never keeps the engine from seeing an input.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer e.running.Store(false)
	l := newLoop(e)
	return l.run(ctx)
}
