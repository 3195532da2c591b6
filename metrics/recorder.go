package metrics

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
)

// Reasons of a reconnect (the reason label of wwan_reconnects_total).
const (
	// ReasonSessionDeactivated: the modem reported the data session
	// deactivated (the network dropped it, or forced a re-address).
	ReasonSessionDeactivated = "session_deactivated"
	// ReasonTransportReset: the control channel was lost (modem reset,
	// unplug) and the session had to be brought up again.
	ReasonTransportReset = "transport_reset"
)

var reconnectReasons = []string{ReasonSessionDeactivated, ReasonTransportReset}

// Default histogram buckets, in seconds.
var (
	// DefaultTransactionBuckets spans a fast query (milliseconds) to a
	// CONNECT that waits for the network (two minutes).
	DefaultTransactionBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120}
	// DefaultHandoffBuckets spans a transparent handoff (the 100 ms
	// debounce and a query) to a reconnect after backoff (minutes).
	DefaultHandoffBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
)

// Recorder keeps what only events tell: handoffs by data class and
// outcome, their durations, IP changes, reconnects and transport resets
// (from the handoff engine's events), and the latency of every MBIM
// transaction (from the mbim.Device's observer). Feed it with:
//
//	handoff.EngineConfig{Sinks: []func(handoff.Event){rec.HandoffSink}}
//	mbim.Open(ctx, t, mbim.WithObserver(rec.ObserveTransaction), mbim.WithEventHandler(rec.ObserveDeviceEvent))
//
// and give it to the Collector with WithRecorder (New makes one when none
// is given: Collector.Recorder returns it). A Recorder outlives the
// Devices and Engines that feed it, so its counters never go back. Its
// methods are quick, never block on I/O, and are safe for concurrent use.
type Recorder struct {
	txBounds, hoBounds []float64

	mu              sync.Mutex
	txLatency       map[txKey]*histogram
	handoffs        map[handoffKey]uint64
	hoDuration      map[string]*histogram // by outcome
	ipChanges       [2]uint64             // IPv4, IPv6
	reconnects      map[string]uint64
	transportResets uint64
	transportLost   bool // a transport reset since the last handoff that ended
	sessionActive   bool
	sessionStart    time.Time
	lastHandoff     time.Time
}

type txKey struct{ service, cid string }

type handoffKey struct{ from, to, outcome string }

// RecorderOption configures NewRecorder.
type RecorderOption func(*Recorder)

// WithTransactionBuckets sets the upper bounds (seconds, increasing) of
// wwan_mbim_transaction_duration_seconds.
func WithTransactionBuckets(b ...float64) RecorderOption {
	return func(r *Recorder) { r.txBounds = validBounds(b, r.txBounds) }
}

// WithHandoffBuckets sets the upper bounds (seconds, increasing) of
// wwan_handoff_duration_seconds.
func WithHandoffBuckets(b ...float64) RecorderOption {
	return func(r *Recorder) { r.hoBounds = validBounds(b, r.hoBounds) }
}

func validBounds(b, dflt []float64) []float64 {
	if len(b) == 0 || !slices.IsSorted(b) || len(slices.Compact(slices.Clone(b))) != len(b) {
		return dflt
	}
	return slices.Clone(b)
}

// NewRecorder returns an empty Recorder.
func NewRecorder(opts ...RecorderOption) *Recorder {
	r := &Recorder{
		txBounds:   DefaultTransactionBuckets,
		hoBounds:   DefaultHandoffBuckets,
		txLatency:  map[txKey]*histogram{},
		handoffs:   map[handoffKey]uint64{},
		hoDuration: map[string]*histogram{},
		reconnects: map[string]uint64{},
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// HandoffSink records an engine event; it is a func(handoff.Event) for
// handoff.EngineConfig.Sinks. A handoff event counts in wwan_handoffs_total
// and wwan_handoff_duration_seconds; one whose addresses changed (and did
// not fail) in wwan_ip_changes_total; one with outcome reconnected in
// wwan_reconnects_total. Session events give the session's start time.
func (r *Recorder) HandoffSink(ev handoff.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev.Type {
	case handoff.EventSession:
		if ev.ActivationState == mbim.ActivationStateActivated {
			if !r.sessionActive {
				r.sessionActive, r.sessionStart = true, ev.Time
			}
		} else {
			r.sessionActive, r.sessionStart = false, time.Time{}
		}
	case handoff.EventHandoff:
		outcome := outcomeLabel(ev.Outcome)
		r.handoffs[handoffKey{classLabel(ev.From), classLabel(ev.To), outcome}]++
		h := r.hoDuration[outcome]
		if h == nil {
			h = newHistogram(r.hoBounds)
			r.hoDuration[outcome] = h
		}
		h.observe(ev.Duration.Seconds())
		if ev.Time.After(r.lastHandoff) {
			r.lastHandoff = ev.Time
		}
		if ev.Outcome == handoff.Failed {
			return // the engine keeps trying: the next handoff tells how it ended
		}
		if !samePrefixes(ev.Old.IPv4, ev.New.IPv4) {
			r.ipChanges[0]++
		}
		if !samePrefixes(ev.Old.IPv6, ev.New.IPv6) {
			r.ipChanges[1]++
		}
		if ev.Outcome == handoff.Reconnected {
			reason := ReasonSessionDeactivated
			if r.transportLost {
				reason = ReasonTransportReset
			}
			r.reconnects[reason]++
		}
		r.transportLost = false
	}
}

// ObserveTransaction records the latency of a finished MBIM transaction,
// whatever its result; it is a func(mbim.TransactionInfo) for
// mbim.WithObserver. (The counts by result and status come from
// mbim.Device.Stats, through the Source.)
func (r *Recorder) ObserveTransaction(ti mbim.TransactionInfo) {
	service, cid := transactionLabels(ti.Type, ti.Service, ti.CID)
	k := txKey{service, cid}
	r.mu.Lock()
	h := r.txLatency[k]
	if h == nil {
		h = newHistogram(r.txBounds)
		r.txLatency[k] = h
	}
	h.observe(ti.Latency.Seconds())
	r.mu.Unlock()
}

// ObserveDeviceEvent records what an mbim.Device reports outside its
// calls; it is a func(mbim.Event) for mbim.WithEventHandler. A lost
// transport counts as a transport reset (the others are in Device.Stats).
func (r *Recorder) ObserveDeviceEvent(ev mbim.Event) {
	if ev.Kind == mbim.EventTransportLost {
		r.TransportReset()
	}
}

// TransportReset counts a loss of the control channel (a modem reset or an
// unplug), for a caller that learns of it otherwise than through
// ObserveDeviceEvent (use one or the other). The next handoff that
// reconnects the session counts with reason transport_reset.
func (r *Recorder) TransportReset() {
	r.mu.Lock()
	r.transportResets++
	r.transportLost = true
	r.mu.Unlock()
}

// recorderView is a copy of the Recorder's state for one scrape.
type recorderView struct {
	txBounds, hoBounds []float64
	txLatency          map[txKey]histogram
	handoffs           map[handoffKey]uint64
	hoDuration         map[string]histogram
	ipChanges          [2]uint64
	reconnects         map[string]uint64
	transportResets    uint64
	sessionStart       time.Time
	lastHandoff        time.Time
}

func (r *Recorder) view() recorderView {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := recorderView{
		txBounds: r.txBounds, hoBounds: r.hoBounds,
		txLatency:       make(map[txKey]histogram, len(r.txLatency)),
		handoffs:        make(map[handoffKey]uint64, len(r.handoffs)),
		hoDuration:      make(map[string]histogram, len(r.hoDuration)),
		ipChanges:       r.ipChanges,
		reconnects:      make(map[string]uint64, len(reconnectReasons)),
		transportResets: r.transportResets,
		sessionStart:    r.sessionStart,
		lastHandoff:     r.lastHandoff,
	}
	for k, h := range r.txLatency {
		v.txLatency[k] = h.clone()
	}
	for k, n := range r.handoffs {
		v.handoffs[k] = n
	}
	for k, h := range r.hoDuration {
		v.hoDuration[k] = h.clone()
	}
	for _, k := range reconnectReasons {
		v.reconnects[k] = r.reconnects[k]
	}
	return v
}

// samePrefixes compares two address lists as sets.
func samePrefixes(a, b []netip.Prefix) bool {
	if len(a) != len(b) {
		return false
	}
	for _, p := range a {
		if !slices.Contains(b, p) {
			return false
		}
	}
	return true
}

// histogram is a Prometheus histogram's data, kept here so that the
// Collector can export it with its own descriptors (and constant labels).
type histogram struct {
	bounds []float64 // shared, read-only
	counts []uint64  // per bucket, not cumulative; len(bounds)
	count  uint64
	sum    float64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]uint64, len(bounds))}
}

func (h *histogram) observe(v float64) {
	h.count++
	h.sum += v
	for i, b := range h.bounds {
		if v <= b {
			h.counts[i]++
			break
		}
	}
}

func (h *histogram) clone() histogram {
	c := *h
	c.counts = slices.Clone(h.counts)
	return c
}

// cumulative returns the buckets as prometheus.MustNewConstHistogram
// wants them: upper bound → count of observations at or below it.
func (h histogram) cumulative() map[float64]uint64 {
	m := make(map[float64]uint64, len(h.bounds))
	var n uint64
	for i, b := range h.bounds {
		n += h.counts[i]
		m[b] = n
	}
	return m
}
