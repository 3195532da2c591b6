package metrics

import (
	"context"
	"errors"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
)

// DefaultTimeout bounds a scrape's wait for the Source.
const DefaultTimeout = 3 * time.Second

// errTimeout is the error of a scrape whose Source did not answer within
// the collector's timeout.
var errTimeout = errors.New("metrics: source did not answer in time")

// Option configures New.
type Option func(*Collector)

// WithTimeout bounds how long a scrape waits for the Source's snapshot
// (DefaultTimeout when d <= 0). A scrape that waits longer reports
// wwan_scrape_success 0; the call goes on in the background and the next
// scrape shares it rather than starting another.
func WithTimeout(d time.Duration) Option {
	return func(c *Collector) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithRecorder makes the Collector export r's metrics (handoffs, reconnects,
// transport resets, transaction latency). Without it New makes its own:
// Collector.Recorder returns it, to be fed.
func WithRecorder(r *Recorder) Option { return func(c *Collector) { c.rec = r } }

// WithConstLabels adds labels to every metric, for a process that
// registers one Collector per modem in one registry (for example
// {"interface": "wwan0"}). Never put the IMEI, IMSI, ICCID or a phone
// number there.
func WithConstLabels(l prometheus.Labels) Option {
	return func(c *Collector) { c.constLabels = maps.Clone(l) }
}

// Collector is a prometheus.Collector for one modem: on every scrape it
// takes a Snapshot from its Source and exports it, with the Recorder's
// event counters and its own health (wwan_scrape_success,
// wwan_scrape_duration_seconds). Register it in any registry:
//
//	c := metrics.New(src)
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(c)
//
// It is safe for concurrent scrapes.
type Collector struct {
	src         Source
	rec         *Recorder
	timeout     time.Duration
	constLabels prometheus.Labels
	d           *descs

	since func(time.Time) time.Duration // time.Since; tests replace it

	mu       sync.Mutex
	inflight *flight
}

// flight is one MetricsSnapshot call, shared by the scrapes that wait for
// it.
type flight struct {
	done chan struct{}
	snap Snapshot
	err  error
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns a Collector that reads src on every scrape. src may be nil:
// then only the Recorder's metrics and the health metrics are exported.
func New(src Source, opts ...Option) *Collector {
	c := &Collector{src: src, timeout: DefaultTimeout, since: time.Since}
	for _, o := range opts {
		o(c)
	}
	if c.rec == nil {
		c.rec = NewRecorder()
	}
	c.d = newDescs(c.constLabels)
	return c
}

// Recorder returns the Recorder whose metrics the Collector exports.
func (c *Collector) Recorder() *Recorder { return c.rec }

// Describe sends the descriptor of every metric the Collector can export.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.d.all() {
		ch <- d
	}
}

// Collect takes a snapshot from the Source and sends the metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	start := time.Now()
	var (
		snap Snapshot
		err  error
	)
	if c.src != nil {
		snap, err = c.snapshot()
	}
	took := c.since(start)
	rv := c.rec.view()
	e := emitter{ch: ch, d: c.d}
	if err == nil {
		e.snapshot(&snap, &rv)
	}
	e.recorder(&rv, err == nil && snap.Engine != nil, &snap)
	e.gauge(c.d.scrapeSuccess, boolValue(err == nil))
	e.gauge(c.d.scrapeDuration, took.Seconds())
}

// snapshot calls the Source, or joins the call in flight, and waits at
// most the timeout.
func (c *Collector) snapshot() (Snapshot, error) {
	c.mu.Lock()
	f := c.inflight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		c.inflight = f
		go c.fly(f)
	}
	c.mu.Unlock()
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case <-f.done:
		return f.snap, f.err
	case <-t.C:
		return Snapshot{}, errTimeout
	}
}

func (c *Collector) fly(f *flight) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	f.snap, f.err = c.src.MetricsSnapshot(ctx)
	c.mu.Lock()
	c.inflight = nil
	c.mu.Unlock()
	close(f.done)
}

// emitter sends metrics; the nil checks of the snapshot's parts are here.
type emitter struct {
	ch chan<- prometheus.Metric
	d  *descs
}

func (e emitter) gauge(d *prometheus.Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (e emitter) counter(d *prometheus.Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func (e emitter) histogram(d *prometheus.Desc, h histogram, labels ...string) {
	e.ch <- prometheus.MustNewConstHistogram(d, h.count, h.sum, h.cumulative(), labels...)
}

func (e emitter) timestamp(d *prometheus.Desc, t time.Time) {
	if !t.IsZero() {
		e.gauge(d, float64(t.UnixNano())/1e9)
	}
}

// enum sends one series per value, 1 for the current one.
func enum[T comparable](e emitter, d *prometheus.Desc, values []T, cur T, name func(T) string) {
	for _, v := range values {
		e.gauge(d, boolValue(v == cur), name(v))
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (e emitter) snapshot(s *Snapshot, rv *recorderView) {
	e.gauge(e.d.up, boolValue(s.Up))
	e.timestamp(e.d.lastUpdate, s.Updated)
	if !s.Info.IsZero() {
		mbimex := ""
		if s.Info.MBIMEx != 0 {
			mbimex = s.Info.MBIMEx.String()
		}
		e.gauge(e.d.info, 1, infoLabel(s.Info.Manufacturer), infoLabel(s.Info.Model), infoLabel(s.Info.Firmware), mbimex)
	}
	if s.Device != nil {
		e.device(s.Device)
	}
	e.signal(s.Signal, s.Cells)
	e.network(s, rv)
	if p := s.PacketStatistics; p != nil {
		e.counter(e.d.rxBytes, float64(p.InOctets))
		e.counter(e.d.txBytes, float64(p.OutOctets))
		e.counter(e.d.rxPackets, float64(p.InPackets))
		e.counter(e.d.txPackets, float64(p.OutPackets))
		e.counter(e.d.rxErrors, float64(p.InErrors))
		e.counter(e.d.txErrors, float64(p.OutErrors))
		e.counter(e.d.rxDiscards, float64(p.InDiscards))
		e.counter(e.d.txDiscards, float64(p.OutDiscards))
	}
	if g := s.Engine; g != nil {
		enum(e, e.d.engineState, engineStates, g.State, handoff.State.String)
		e.gauge(e.d.linkUp, boolValue(g.LinkUp))
		k := g.Counters
		e.counter(e.d.engineInputs, float64(k.Inputs))
		e.counter(e.d.engineDroppedInputs, float64(k.Dropped))
		e.counter(e.d.engineConnects, float64(k.Connects))
		e.counter(e.d.engineQueries, float64(k.Queries))
		e.counter(e.d.engineHostChanges, float64(k.HostWrites))
		e.counter(e.d.engineHostErrors, float64(k.HostErrors))
		e.counter(e.d.engineModemErrors, float64(k.ModemErrors))
	}
}

func (e emitter) device(st *mbim.Stats) {
	type txLabels struct{ service, cid, result, status string }
	txs := map[txLabels]uint64{}
	for _, t := range st.Transactions {
		service, cid := transactionLabels(t.Type, t.Service, t.CID)
		txs[txLabels{service, cid, t.Result.String(), statusLabel(t.Result, t.Status)}] += t.Count
	}
	for k, n := range txs {
		e.counter(e.d.transactions, float64(n), k.service, k.cid, k.result, k.status)
	}
	e.counter(e.d.timeouts, float64(st.Timeouts))
	e.gauge(e.d.consecutiveTimeouts, float64(st.ConsecutiveTimeouts))
	codes := map[string]uint64{}
	for code, n := range st.ProtocolErrors {
		codes[protocolErrorLabel(code)] += n
	}
	for code, n := range codes {
		e.counter(e.d.functionErrors, float64(n), code)
	}
	e.counter(e.d.hostErrors, float64(st.HostErrorsSent))
	e.counter(e.d.fragmentErrors, float64(st.FragmentErrors))
	e.counter(e.d.malformedStreams, float64(st.MalformedStreams))
	e.counter(e.d.discardedBytes, float64(st.DiscardedBytes))
	e.counter(e.d.unmatchedReplies, float64(st.UnmatchedReplies))
	e.counter(e.d.ignoredMessages, float64(st.IgnoredMessages))
	e.counter(e.d.messages, float64(st.MessagesReceived), "in")
	e.counter(e.d.messages, float64(st.MessagesSent), "out")
	e.counter(e.d.bytes, float64(st.BytesReceived), "in")
	e.counter(e.d.bytes, float64(st.BytesSent), "out")
	e.counter(e.d.fragments, float64(st.FragmentsReceived), "in")
	e.counter(e.d.fragments, float64(st.FragmentsSent), "out")
	type indLabels struct{ service, cid string }
	inds := map[indLabels]uint64{}
	for _, i := range st.Indications {
		inds[indLabels{serviceLabel(i.Service), cidLabel(i.Service, i.CID)}] += i.Count
	}
	for k, n := range inds {
		e.counter(e.d.indications, float64(n), k.service, k.cid)
	}
	e.counter(e.d.droppedIndications, float64(st.DroppedIndications))
	e.counter(e.d.recoveries, float64(st.Recoveries), "success")
	e.counter(e.d.recoveries, float64(st.RecoveryFailures), "failure")
}

func (e emitter) signal(s *mbim.Signal, cells []Cell) {
	if s != nil {
		if dbm, ok := s.RssiDBm(); ok {
			e.gauge(e.d.rssi, float64(dbm))
		}
		if s.ErrorRate <= 7 {
			e.gauge(e.d.errorRate, float64(s.ErrorRate))
		}
	}
	// Per technology: SIGNAL_STATE's RSRP/SNR list first, then the cells
	// for what it lacks; the first value for a technology wins.
	var order []string
	by := map[string]*Cell{}
	get := func(dc mbim.DataClass) *Cell {
		l := dataClassLabel(dc)
		c := by[l]
		if c == nil {
			u := unknownCell(dc)
			c = &u
			by[l] = c
			order = append(order, l)
		}
		return c
	}
	fill := func(dst *float64, v float64) {
		if math.IsNaN(*dst) && !math.IsNaN(v) && !math.IsInf(v, 0) {
			*dst = v
		}
	}
	if s != nil {
		for _, r := range s.RsrpSnr {
			c := get(r.SystemType)
			if v, ok := rsrpDBm(r.Rsrp); ok {
				fill(&c.RSRPdBm, v)
			}
			if v, ok := snrDB(r.Snr); ok {
				fill(&c.SNRdB, v)
			}
		}
	}
	for _, in := range cells {
		c := get(in.DataClass)
		fill(&c.RSRPdBm, in.RSRPdBm)
		fill(&c.RSRQdB, in.RSRQdB)
		fill(&c.SNRdB, in.SNRdB)
	}
	for _, l := range order {
		c := by[l]
		if !math.IsNaN(c.RSRPdBm) {
			e.gauge(e.d.rsrp, c.RSRPdBm, l)
		}
		if !math.IsNaN(c.RSRQdB) {
			e.gauge(e.d.rsrq, c.RSRQdB, l)
		}
		if !math.IsNaN(c.SNRdB) {
			e.gauge(e.d.snr, c.SNRdB, l)
		}
	}
}

// network sends registration, packet service, data class, speeds and the
// session, from the mbim values or else the engine's.
func (e emitter) network(s *Snapshot, rv *recorderView) {
	g := s.Engine
	if g != nil && g.State == handoff.Idle {
		g = nil // a stopped engine knows nothing of the modem
	}
	switch {
	case s.Registration != nil:
		enum(e, e.d.registrationState, registerStates, s.Registration.State, mbim.RegisterState.String)
	case g != nil:
		enum(e, e.d.registrationState, registerStates, g.Register.State, mbim.RegisterState.String)
	}
	switch {
	case s.PacketService != nil:
		p := s.PacketService
		e.packetService(p.State, packetServiceClass(p), p.UplinkSpeed, p.DownlinkSpeed)
	case g != nil:
		p := g.PacketService
		e.packetService(p.State, p.DataClass, p.Uplink, p.Downlink)
	}
	state, known := mbim.ActivationStateUnknown, false
	switch {
	case s.Connection != nil:
		state, known = s.Connection.ActivationState, true
	case g != nil:
		state, known = g.ActivationState, true
	}
	if known {
		enum(e, e.d.sessionState, activationStates, state, mbim.ActivationState.String)
	}
	start := s.SessionStart
	if start.IsZero() && (!known || state == mbim.ActivationStateActivated) {
		start = rv.sessionStart
	}
	if !known || state == mbim.ActivationStateActivated {
		e.timestamp(e.d.sessionStart, start)
	}
}

func (e emitter) packetService(state mbim.PacketServiceState, dc mbim.DataClass, up, down uint64) {
	enum(e, e.d.packetServiceState, packetServiceStates, state, mbim.PacketServiceState.String)
	cur := dataClassLabel(dc)
	for _, l := range dataClassLabels {
		e.gauge(e.d.dataClass, boolValue(l == cur), l)
	}
	e.gauge(e.d.uplinkSpeed, float64(up)/8)
	e.gauge(e.d.downlinkSpeed, float64(down)/8)
}

// recorder sends the Recorder's metrics, and the last handoff's time
// (the later of the Recorder's and, when engine is true, the engine's).
func (e emitter) recorder(rv *recorderView, engine bool, s *Snapshot) {
	for k, n := range rv.handoffs {
		e.counter(e.d.handoffs, float64(n), k.from, k.to, k.outcome)
	}
	for o, h := range rv.hoDuration {
		e.histogram(e.d.handoffDuration, h, o)
	}
	for k, h := range rv.txLatency {
		e.histogram(e.d.transactionDuration, h, k.service, k.cid)
	}
	e.counter(e.d.ipChanges, float64(rv.ipChanges[0]), "ipv4")
	e.counter(e.d.ipChanges, float64(rv.ipChanges[1]), "ipv6")
	for _, r := range reconnectReasons {
		e.counter(e.d.reconnects, float64(rv.reconnects[r]), r)
	}
	e.counter(e.d.resets, float64(rv.transportResets))
	last := rv.lastHandoff
	if engine && s.Engine.LastHandoff.Type == handoff.EventHandoff && s.Engine.LastHandoff.Time.After(last) {
		last = s.Engine.LastHandoff.Time
	}
	e.timestamp(e.d.lastHandoff, last)
}
