package mbim

// The client: Device, Open and the calls. The reader goroutine is in
// device_reader.go, transactions and typed calls in device_txn.go, the
// session life cycle in device_session.go, indications in
// device_indications.go, counters in device_stats.go, and the hand-written
// conveniences in device_calls.go.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the Open options.
const (
	DefaultCommandTimeout     = 10 * time.Second
	DefaultConnectTimeout     = 120 * time.Second
	DefaultOpenTimeout        = 30 * time.Second
	DefaultOpenAttemptTimeout = 5 * time.Second // libmbim OPEN_RETRY_TIMEOUT_SECS (Q2)
	DefaultCloseTimeout       = 3 * time.Second
	DefaultQueueSize          = 64

	// FragmentTimeout is the longest wait between two fragments of one
	// message (libmbim MAX_TIME_BETWEEN_FRAGMENTS_MS).
	FragmentTimeout = 1250 * time.Millisecond

	// closeBeforeOpenTimeout bounds the CLOSE sent to reset a function in
	// an unknown state (libmbim waits 2 s).
	closeBeforeOpenTimeout = 2 * time.Second
	// hostErrorTimeout bounds the write of a HOST_ERROR.
	hostErrorTimeout = time.Second
	// maxCloseBeforeOpen bounds the CLOSE/OPEN cycles of one open.
	maxCloseBeforeOpen = 3
	// asyncRecoveryInterval is the least time between two recoveries
	// started by an unsolicited NOT_OPENED, so that a function repeating
	// it cannot make the Device re-open in a loop.
	asyncRecoveryInterval = time.Second
)

// Device is an open MBIM session with one function: the client that runs
// transactions over a Transport.
//
// Open starts one reader goroutine that reads the transport into a bounded
// buffer, splits the byte stream into messages (a read may return part of
// a message, one, or several), collects fragments, and dispatches: a
// *_DONE or FUNCTION_ERROR completes the transaction waiting on its
// TransactionId, an INDICATE_STATUS goes to every matching Subscription
// (also before OPEN_DONE, quirk Q13), host-originated types are ignored,
// and input that is not MBIM is discarded, counted and reported (quirk
// Q5).
//
// Open sends OPEN (resent every 5 s; CLOSE first when the function is in
// an unknown state, quirk Q1), then negotiates MBIMEx on its own: when the
// function's DEVICE_SERVICES lists MS Basic Connect Extensions CID 15, it
// queries VERSION and adopts the function's answer, never above what it
// asked for (3.0 by default). Version reports the result; every typed
// decode of responses and indications uses it.
//
// Every call takes a context; when it has no deadline the default timeout
// (WithTimeout) applies. Failures are typed: *TimeoutError (wrapping
// context.DeadlineExceeded), *CommandError (errors.Is(err,
// StatusSimNotInserted)), *FunctionError (errors.Is(err,
// ProtocolErrorNotOpened)), *FragmentError, *ParseError, *LayoutError, and
// errors wrapping ErrClosed once the Device or its transport is closed.
//
// When a command is answered with FUNCTION_ERROR NOT_OPENED (the modem
// reset, or another process closed the session), the Device re-opens the
// session once (OPEN, negotiation, the remembered subscribe list) and
// retries the command once; the recovery is reported as an Event and
// counted in Stats. Concurrent calls share one re-open.
//
// A Device is safe for concurrent use. Responses and indications own
// copies of their bytes: the String and Bytes fields of a decoded body stay
// valid as long as the body is referenced.
type Device struct {
	t Transport
	o options

	hostMax   int // MaxControlTransfer announced in OPEN: the largest fragment the function may send
	funcMax   int // the function's limit for our writes
	readLimit int // the largest message the reader buffers

	version atomic.Uint32 // negotiated MBIMEx version

	lifeCtx    context.Context // cancelled when the Device shuts down
	lifeCancel context.CancelFunc
	readerDone chan struct{} // closed when the reader goroutine returns
	wg         sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error

	// wsem serialises writes of whole messages (all fragments of one
	// message are written back to back). It is a channel, not a mutex,
	// so that a caller waiting behind a stuck write can give up with its
	// context.
	wsem    chan struct{}
	fragBuf []byte // guarded by wsem

	mu          sync.Mutex
	nextTID     uint32
	pending     map[uint32]*txn
	openTxn     *txn  // the OPEN waiting for OPEN_DONE (quirk Q1)
	opened      bool  // the session is believed open
	closing     bool  // Close has started: only its CLOSE may be sent
	shut        bool  // no new transactions or helper goroutines
	deadErr     error // why the Device stopped (wraps ErrClosed)
	subList     []EventEntry
	subListSet  bool
	lastAsyncRc time.Time

	smu        sync.Mutex
	subs       []*Subscription
	subsClosed bool

	rmu sync.Mutex
	rec *recovery
	gen atomic.Uint64 // session generation: +1 per successful recovery

	consecTimeouts atomic.Uint32
	st             deviceStats
	pools          devicePools

	// Reader-owned state.
	reasm        *Reassembler
	reasmType    MessageType
	fragDeadline time.Time
}

// Open starts a session with the function behind t: it starts the reader,
// sends OPEN, negotiates the MBIMEx version and, if WithDeviceSubscriptions
// was given, sends the subscribe list. When ctx has no deadline,
// WithOpenTimeout bounds the whole open.
//
// Open owns t from the call on: on failure it closes t, and Close closes it.
func Open(ctx context.Context, t Transport, opts ...Option) (*Device, error) {
	d, err := newDevice(t, opts)
	if err != nil {
		_ = t.Close()
		return nil, err
	}
	d.start()
	ctx, cancel := withDefaultTimeout(ctx, d.o.openTimeout)
	defer cancel()
	if err := d.establish(ctx, false); err != nil {
		d.mu.Lock()
		d.opened = false // do not send CLOSE for a session that did not open
		d.mu.Unlock()
		d.shutdown(fmt.Errorf("mbim: open failed: %w", ErrClosed))
		return nil, err
	}
	return d, nil
}

func newDevice(t Transport, opts []Option) (*Device, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	funcMax := t.MaxControlTransfer()
	if funcMax <= 0 {
		funcMax = DefaultMaxControlTransfer
	}
	if funcMax <= msgFragmentHdrEnd+msgHeaderLen {
		return nil, fmt.Errorf("mbim: transport MaxControlTransfer %d is too small: %w", funcMax, ErrTooLarge)
	}
	hostMax := o.maxControlTransfer
	if hostMax <= 0 {
		hostMax = funcMax
	}
	if hostMax < 64 {
		// Even an OPEN_DONE must fit; no real host announces less.
		return nil, fmt.Errorf("mbim: MaxControlTransfer %d is too small: %w", hostMax, ErrTooLarge)
	}
	if o.maxVersion < MBIMEx1 {
		o.maxVersion = MBIMEx1
	}
	msgLimit := max(o.maxMessageSize, hostMax)
	d := &Device{
		t:          t,
		o:          o,
		hostMax:    hostMax,
		funcMax:    funcMax,
		readLimit:  msgLimit,
		readerDone: make(chan struct{}),
		wsem:       make(chan struct{}, 1),
		nextTID:    1,
		pending:    make(map[uint32]*txn),
		reasm:      NewReassembler(msgLimit),
	}
	if o.noOpenTID != 0 {
		d.nextTID = o.noOpenTID
		d.opened = true
	}
	d.version.Store(uint32(MBIMEx1))
	d.st.init()
	d.lifeCtx, d.lifeCancel = context.WithCancel(context.Background())
	for _, s := range o.subscriptions {
		if err := d.attach(s); err != nil {
			return nil, err
		}
	}
	if o.deviceSubs != nil {
		d.subList, d.subListSet = cloneEvents(o.deviceSubs), true
	}
	return d, nil
}

// start runs the reader goroutine.
func (d *Device) start() { go d.readLoop() }

// Version returns the negotiated MBIMEx version (MBIMEx1 when the function
// has no MS Basic Connect Extensions VERSION, or when negotiation was
// disabled with WithMaxVersion(MBIMEx1)).
func (d *Device) Version() Version { return Version(d.version.Load()) }

// MaxControlTransfer returns the MaxControlTransfer announced in OPEN: the
// largest fragment the function may send.
func (d *Device) MaxControlTransfer() int { return d.hostMax }

// NextTID returns the TransactionId the next request will use. A tool that
// leaves its session open (WithNoClose) prints it so that the next run can
// continue the sequence with WithNoOpen.
func (d *Device) NextTID() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nextTID
}

// ConsecutiveTimeouts returns how many transactions in a row have timed
// out with no response of any kind in between (quirk Q14): a growing value
// says the modem is wedged and may need a reset.
func (d *Device) ConsecutiveTimeouts() uint32 { return d.consecTimeouts.Load() }

// Done returns a channel that is closed when the Device has stopped: after
// Close, or when the transport failed (Err tells why).
func (d *Device) Done() <-chan struct{} { return d.readerDone }

// Err returns why the Device stopped (an error wrapping ErrClosed), or nil
// while it runs.
func (d *Device) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.deadErr
}

// Close ends the session: it sends CLOSE and waits up to WithCloseTimeout
// for CLOSE_DONE (not with WithNoClose), then stops the reader and closes
// the transport. Calls still pending fail with an error wrapping
// ErrClosed, and every Subscription's channel is closed. Close is
// idempotent; it returns the transport's Close error.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closing = true
		sendClose := d.opened && !d.o.noClose && !d.shut
		d.failPendingLocked(ErrClosed)
		d.mu.Unlock()
		if sendClose {
			ctx, cancel := context.WithTimeout(d.lifeCtx, d.o.closeTimeout)
			_, _ = d.simple(ctx, TypeClose, true)
			cancel()
		}
		d.closeErr = d.shutdown(ErrClosed)
	})
	return d.closeErr
}

// shutdown stops everything: no new transactions, the reader, the
// transport, helper goroutines, subscriptions. why must wrap ErrClosed.
func (d *Device) shutdown(why error) error {
	d.mu.Lock()
	d.shut = true
	if d.deadErr == nil {
		d.deadErr = why
	}
	d.failPendingLocked(d.deadErr)
	d.mu.Unlock()
	d.lifeCancel()
	err := d.t.Close()
	<-d.readerDone
	d.wg.Wait()
	d.closeSubscriptions()
	return err
}

// transportLost is called by the reader when the transport fails.
func (d *Device) transportLost(err error) {
	why := err
	if !errors.Is(err, ErrClosed) {
		why = fmt.Errorf("mbim: transport: %w (%w)", ErrClosed, err)
	}
	d.mu.Lock()
	d.shut = true
	if d.deadErr == nil {
		d.deadErr = why
	}
	d.failPendingLocked(d.deadErr)
	d.mu.Unlock()
	d.logWarn("transport lost", slog.Any("err", err))
	d.emit(Event{Kind: EventTransportLost, Err: why})
	d.closeSubscriptions()
}

// goHelper runs f in a goroutine that Close waits for, unless the Device
// is shutting down.
func (d *Device) goHelper(f func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shut {
		return false
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
	return true
}

// withDefaultTimeout gives ctx a deadline of dflt from now when it has
// none.
func withDefaultTimeout(ctx context.Context, dflt time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || dflt <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, dflt)
}

func (d *Device) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if d.o.events != nil {
		d.o.events(e)
	}
}

func (d *Device) logEnabled(level slog.Level) bool {
	return d.o.logger != nil && d.o.logger.Enabled(context.Background(), level)
}

func (d *Device) logDebug(msg string, attrs ...slog.Attr) {
	if d.logEnabled(slog.LevelDebug) {
		d.o.logger.LogAttrs(context.Background(), slog.LevelDebug, "mbim: "+msg, attrs...)
	}
}

func (d *Device) logWarn(msg string, attrs ...slog.Attr) {
	if d.logEnabled(slog.LevelWarn) {
		d.o.logger.LogAttrs(context.Background(), slog.LevelWarn, "mbim: "+msg, attrs...)
	}
}

func (d *Device) logInfo(msg string, attrs ...slog.Attr) {
	if d.logEnabled(slog.LevelInfo) {
		d.o.logger.LogAttrs(context.Background(), slog.LevelInfo, "mbim: "+msg, attrs...)
	}
}
