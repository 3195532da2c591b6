package mbim

import (
	"log/slog"
	"time"
)

// Option configures Open.
type Option func(*options)

type options struct {
	maxControlTransfer int
	maxMessageSize     int
	maxVersion         Version
	timeout            time.Duration
	connectTimeout     time.Duration
	openTimeout        time.Duration
	openAttemptTimeout time.Duration
	closeTimeout       time.Duration
	queueSize          int
	logger             *slog.Logger
	trace              func(Direction, []byte)
	events             func(Event)
	observer           func(TransactionInfo)
	noClose            bool
	noOpenTID          uint32
	noRecovery         bool
	deviceSubs         []EventEntry
	subscriptions      []*Subscription
}

func defaultOptions() options {
	return options{
		maxMessageSize:     defaultMaxMessageSize,
		maxVersion:         MBIMEx3,
		timeout:            DefaultCommandTimeout,
		connectTimeout:     DefaultConnectTimeout,
		openTimeout:        DefaultOpenTimeout,
		openAttemptTimeout: DefaultOpenAttemptTimeout,
		closeTimeout:       DefaultCloseTimeout,
		queueSize:          DefaultQueueSize,
	}
}

// WithMaxControlTransfer sets the MaxControlTransfer the host announces in
// OPEN: the largest message or fragment the function may send. The default
// is the transport's MaxControlTransfer (the function's wMaxControlMessage,
// which is also what cdc-wdm can read at once).
func WithMaxControlTransfer(n int) Option { return func(o *options) { o.maxControlTransfer = n } }

// WithMaxMessageSize bounds a reassembled message, and the bytes the reader
// buffers while waiting for the rest of a message (64 KiB by default; never
// less than the announced MaxControlTransfer).
func WithMaxMessageSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxMessageSize = n
		}
	}
}

// WithMaxVersion sets the highest MBIMEx version to negotiate (MBIMEx3 by
// default). MBIMEx1 skips negotiation.
func WithMaxVersion(v Version) Option { return func(o *options) { o.maxVersion = v } }

// WithTimeout sets the timeout of a call whose context has no deadline (10 s
// by default, as mbimcli uses for queries).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithConnectTimeout sets the timeout of Connect and Disconnect when their
// context has no deadline (120 s by default: networks can be slow to
// activate a context).
func WithConnectTimeout(d time.Duration) Option { return func(o *options) { o.connectTimeout = d } }

// WithOpenTimeout bounds Open (and a NOT_OPENED recovery) when its context
// has no deadline (30 s by default).
func WithOpenTimeout(d time.Duration) Option { return func(o *options) { o.openTimeout = d } }

// WithOpenAttemptTimeout sets how long one OPEN waits for OPEN_DONE before
// it is sent again with a new TransactionId (5 s by default, quirk Q2).
func WithOpenAttemptTimeout(d time.Duration) Option {
	return func(o *options) { o.openAttemptTimeout = d }
}

// WithCloseTimeout sets how long Close waits for CLOSE_DONE (3 s by
// default).
func WithCloseTimeout(d time.Duration) Option { return func(o *options) { o.closeTimeout = d } }

// WithQueueSize sets the queue length of a Subscription created with
// queue 0 (64 by default).
func WithQueueSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.queueSize = n
		}
	}
}

// WithLogger makes the Device log its life cycle (open, negotiation,
// recovery, discarded input) to l. Message bodies are never logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithTrace calls f with every message and fragment that crosses the
// transport, in both directions, as it is on the wire. msg is only valid
// during the call; copy it to keep it. f runs on the reader goroutine (for
// DirectionIn) or the writing goroutine, so it must be quick. The bytes
// include credentials of CONNECT and PIN requests: a tracer that prints
// them should redact (Decoded.WriteTree does).
func WithTrace(f func(dir Direction, msg []byte)) Option { return func(o *options) { o.trace = f } }

// WithEventHandler calls f for what happens outside any call: an unmatched
// FUNCTION_ERROR, discarded input, a failed reassembly, a NOT_OPENED
// recovery, the loss of the transport. f runs on the Device's goroutines
// (the reader's, for most events): it must not block, and must not call
// Close.
func WithEventHandler(f func(Event)) Option { return func(o *options) { o.events = f } }

// WithObserver calls f after every transaction with its outcome and
// latency (for a metrics collector). f runs on the calling goroutine and
// must be quick.
func WithObserver(f func(TransactionInfo)) Option { return func(o *options) { o.observer = f } }

// WithNoClose makes Close leave the function's session open (it does not
// send CLOSE), for tools that share a session across runs (mbimcli
// --no-close). NextTID tells where the next run should continue.
func WithNoClose() Option { return func(o *options) { o.noClose = true } }

// WithNoOpen skips OPEN: the session is assumed open already (mbimcli
// --no-open), and TransactionIds continue at nextTID (0 is taken as 1).
// MBIMEx negotiation still runs.
func WithNoOpen(nextTID uint32) Option {
	return func(o *options) {
		if nextTID == 0 {
			nextTID = 1
		}
		o.noOpenTID = nextTID
	}
}

// WithoutRecovery disables the re-open after FUNCTION_ERROR NOT_OPENED: the
// error is returned to the caller and reported as an Event.
func WithoutRecovery() Option { return func(o *options) { o.noRecovery = true } }

// WithDeviceSubscriptions makes Open send this DEVICE_SERVICE_SUBSCRIBE_LIST
// after negotiation, and every re-open send it again (see
// SetDeviceSubscriptions and DefaultDeviceSubscriptions).
func WithDeviceSubscriptions(entries ...EventEntry) Option {
	return func(o *options) { o.deviceSubs = append(make([]EventEntry, 0, len(entries)), entries...) }
}

// WithSubscription attaches s (from NewSubscription) before the reader
// starts, so that it also receives indications sent during Open (quirk
// Q13).
func WithSubscription(s *Subscription) Option {
	return func(o *options) { o.subscriptions = append(o.subscriptions, s) }
}
