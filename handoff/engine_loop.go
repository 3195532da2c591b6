package handoff

import (
	"context"
	"sync"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// The state machine. Inputs update what the loop knows of the modem and
// set what is needed (read the host, query the modem's status, connect,
// query IP_CONFIGURATION, compare and apply); advance then does the next
// needed thing whose time has come. At most one Modem call is in flight.

type queuedInput struct {
	in Input
	at time.Time
}

type opKind uint8

const (
	opStatus opKind = iota + 1
	opConnect
	opQuery
)

func (k opKind) String() string {
	switch k {
	case opStatus:
		return "status"
	case opConnect:
		return "connect"
	default:
		return "ip configuration"
	}
}

type opResult struct {
	gen    uint64
	kind   opKind
	status ModemStatus
	ip     IPConfiguration
	err    error
}

type pendingOp struct {
	kind   opKind
	gen    uint64
	cancel context.CancelFunc
	// What the inputs had told when the op started: a Status answer must
	// not override a fresher indication that arrived while it was asked.
	seen inputSeen
}

// inputSeen counts the inputs of each kind the engine has taken.
type inputSeen struct{ packetService, session, register uint64 }

// record is a handoff in progress.
type handoffRecord struct {
	start    time.Time
	from     string
	steps    []string
	phase    int  // how many of the template steps 1–3 are done
	dropped  bool // the session went down: the outcome is "reconnected"
	attempts int  // failed attempts, against the retry budget
	silent   bool // the first bring-up: no handoff event unless it fails
}

type engineLoop struct {
	e     *Engine
	cfg   EngineConfig
	modem Modem
	host  Host
	ctx   context.Context

	state State

	// What the modem said.
	reg     Register
	ps      PacketService
	psKnown bool
	sess    Session
	ip      IPConfiguration
	ipKnown bool
	cur     Config // ip.Config(); never modified in place

	// The host.
	hv          hostView
	last        Config // what the host was last made consistent with
	established bool   // the host has been consistent with an active session

	// What is needed.
	needHost   bool      // read Host.State
	needStatus bool      // Modem.Status
	seen       inputSeen // inputs taken, by kind (see pendingOp.seen)
	needQuery  bool      // Modem.IPConfiguration
	authQuery  bool      // only a query will do (after connect, start, transport back): indications do not cancel it
	needEval   bool      // compare and apply
	evalAt     time.Time
	retryAt    time.Time
	fails      int // consecutive failures, for the backoff
	lost       bool

	rec *handoffRecord

	op      *pendingOp
	gen     uint64
	results chan opResult
	wg      sync.WaitGroup
	timer   *time.Timer

	seenDrops uint64
	counters  Counters
	lastEv    Event
}

func newLoop(e *Engine) *engineLoop {
	return &engineLoop{e: e, cfg: e.cfg, modem: e.modem, host: e.host,
		sess:     Session{ID: e.cfg.Session},
		results:  make(chan opResult, 4),
		counters: Counters{Handoffs: map[Outcome]uint64{}}}
}

func (l *engineLoop) run(ctx context.Context) error {
	l.ctx = ctx
	l.timer = time.NewTimer(time.Hour)
	l.timer.Stop()
	defer l.stop()
	l.seenDrops = l.e.dropped.Load()
	l.needHost, l.needStatus = true, true
	l.rec = &handoffRecord{start: time.Now(), silent: true}
	for {
		l.checkDrops()
		l.advance()
		l.publish()
		l.arm()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case q := <-l.e.in:
			l.input(q)
			for n := len(l.e.in); n > 0; n-- {
				l.input(<-l.e.in)
			}
		case r := <-l.results:
			l.result(r)
		case <-l.timer.C:
		}
	}
}

// stop cancels a Modem call in flight and waits for its goroutine.
func (l *engineLoop) stop() {
	l.timer.Stop()
	if l.op != nil {
		l.op.cancel()
		l.op = nil
	}
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	for {
		select {
		case <-l.results:
		case <-done:
			l.state = Idle
			l.publish()
			return
		}
	}
}

// arm sets the timer to the next time something waits for.
func (l *engineLoop) arm() {
	now := time.Now()
	var next time.Time
	for _, t := range [...]time.Time{l.evalAt, l.retryAt} {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if next.IsZero() {
		l.timer.Stop()
		return
	}
	l.timer.Reset(next.Sub(now))
}

// checkDrops resyncs with the modem when Handle had to drop inputs.
func (l *engineLoop) checkDrops() {
	if d := l.e.dropped.Load(); d != l.seenDrops {
		l.seenDrops = d
		if !l.lost {
			l.needStatus, l.needQuery, l.needEval = true, true, true
		}
	}
}

// gatesOpen: registered and attached (or not told otherwise), §10.
func (l *engineLoop) gatesOpen() bool {
	if !l.reg.Registered() {
		return false
	}
	return !l.psKnown || l.ps.State == mbim.PacketServiceStateAttached || l.ps.State == mbim.PacketServiceStateUnknown
}

func (l *engineLoop) advance() {
	defer l.setState()
	for range 4 {
		if !l.step() {
			return
		}
	}
}

// step does the next needed thing and reports whether to look again.
func (l *engineLoop) step() bool {
	now := time.Now()
	if l.lost {
		return false
	}
	if l.needHost {
		if now.Before(l.retryAt) {
			return false
		}
		s, err := l.host.State(l.ctx)
		if err != nil {
			l.failure("host: state: " + err.Error())
			return false
		}
		l.hv = viewOf(s)
		l.needHost = false
	}
	if l.op != nil {
		return false
	}
	if l.needStatus {
		if now.Before(l.retryAt) {
			return false
		}
		l.start(opStatus)
		return false
	}
	if !l.gatesOpen() {
		return false
	}
	if !l.sess.Active() {
		if now.Before(l.retryAt) {
			return false
		}
		if l.rec != nil && !l.rec.silent && l.established {
			l.ensure(3) // attached on the new class; now connect again
		}
		l.start(opConnect)
		return false
	}
	if l.needQuery {
		if now.Before(l.evalAt) || now.Before(l.retryAt) {
			return false
		}
		l.start(opQuery)
		return false
	}
	if l.needEval {
		if now.Before(l.evalAt) || now.Before(l.retryAt) {
			return false
		}
		return l.evaluate()
	}
	return false
}

func (l *engineLoop) setState() {
	switch {
	case l.lost:
		l.state = Lost
	case l.needHost || l.needStatus:
		if l.established {
			l.state = Checking
		} else {
			l.state = Starting
		}
	case !l.gatesOpen():
		l.state = Detached
	case !l.sess.Active():
		if l.established {
			l.state = Reconnecting
		} else {
			l.state = Connecting
		}
	case l.needQuery || l.needEval:
		if l.established {
			l.state = Checking
		} else {
			l.state = Connecting
		}
	default:
		l.state = Up
	}
}

func (l *engineLoop) start(kind opKind) {
	ctx, cancel := context.WithTimeout(l.ctx, l.cfg.ModemTimeout)
	l.gen++
	l.op = &pendingOp{kind: kind, gen: l.gen, cancel: cancel, seen: l.seen}
	switch kind {
	case opConnect:
		l.counters.Connects++
	case opQuery:
		l.counters.Queries++
	}
	l.wg.Add(1)
	go func(gen uint64) {
		defer l.wg.Done()
		r := opResult{gen: gen, kind: kind}
		switch kind {
		case opStatus:
			r.status, r.err = l.modem.Status(ctx, l.cfg.Session)
		case opConnect:
			r.err = l.modem.Connect(ctx, l.cfg.Session)
		case opQuery:
			r.ip, r.err = l.modem.IPConfiguration(ctx, l.cfg.Session)
		}
		l.results <- r
	}(l.gen)
}

func (l *engineLoop) result(r opResult) {
	if l.op == nil || r.gen != l.op.gen {
		return // cancelled (transport lost)
	}
	l.op.cancel()
	seen := l.op.seen
	l.op = nil
	if r.err != nil {
		l.counters.ModemErrors++
		l.failure(r.kind.String() + ": " + r.err.Error())
		return
	}
	l.fails = 0
	now := time.Now()
	switch r.kind {
	case opStatus:
		// Each part of the answer applies only if no input of its kind
		// came while it was asked: that input is newer than the answer.
		l.needStatus = false
		if l.seen.register == seen.register {
			l.onRegister(r.status.Register)
		}
		if l.seen.packetService == seen.packetService {
			l.onPacketService(r.status.PacketService, now)
		}
		if l.seen.session == seen.session {
			s := r.status.Session
			s.ID = l.cfg.Session
			l.onSession(s, now)
		}
	case opConnect:
		l.onSession(Session{ID: l.cfg.Session, ActivationState: mbim.ActivationStateActivated}, now)
	case opQuery:
		// A query's answer is the modem's whole configuration: it
		// replaces what indications told (they merge by flags).
		l.ip = r.ip
		l.ip.Session = l.cfg.Session
		l.cur, l.ipKnown = l.ip.Config(), true
		if !l.cfg.DHCP && !l.ip.HasAddress() {
			// Some modems answer before they have an address: ask again.
			l.failure("ip configuration: no address yet")
			return
		}
		l.needQuery, l.authQuery = false, false
	}
}

// failure backs off and counts the attempt against the handoff's budget.
func (l *engineLoop) failure(reason string) {
	l.fails++
	l.retryAt = time.Now().Add(l.cfg.Backoff.Delay(l.fails, l.cfg.Rand()))
	if l.rec == nil {
		l.rec = l.open(time.Now(), l.ps.Class())
	}
	l.rec.attempts++
	if l.rec.attempts >= l.cfg.RetryBudget {
		l.closeFailed(reason)
	}
}

// closeFailed ends the handoff in progress as failed and starts another
// that goes on from here (the engine keeps trying).
func (l *engineLoop) closeFailed(reason string) {
	r := l.rec
	now := time.Now()
	var next Config
	if l.ipKnown {
		next = l.cur
	}
	l.emitHandoff(Event{From: r.from, To: l.ps.Class(), Outcome: Failed, Duration: now.Sub(r.start),
		Steps: r.steps, Old: l.last, New: next, Reason: reason})
	l.rec = &handoffRecord{start: now, from: l.ps.Class(),
		dropped: r.dropped || (!l.established && !l.sess.Active())}
}

func (l *engineLoop) open(at time.Time, from string) *handoffRecord {
	return &handoffRecord{start: at, from: from}
}

// ensure emits the template steps up to n: 1 packet-service, 2 session,
// 3 packet-service, each restating the current state.
func (l *engineLoop) ensure(n int) {
	r := l.rec
	for r.phase < n {
		if r.phase == 1 {
			l.emitSession()
			r.steps = append(r.steps, string(EventSession))
		} else {
			l.emitPacketService()
			r.steps = append(r.steps, string(EventPacketService))
		}
		r.phase++
	}
}

func (l *engineLoop) input(q queuedInput) {
	switch v := q.in.(type) {
	case PacketService:
		if !l.lost {
			l.seen.packetService++
			l.onPacketService(v, q.at)
		}
	case Session:
		if !l.lost && v.ID == l.cfg.Session {
			l.seen.session++
			l.onSession(v, q.at)
		}
	case IPConfiguration:
		if !l.lost && v.Session == l.cfg.Session {
			l.onIPConfiguration(v, q.at)
		}
	case Register:
		if !l.lost {
			l.seen.register++
			l.onRegister(v)
		}
	case TransportLost:
		l.onTransportLost()
	case TransportBack:
		l.onTransportBack(q.at)
	}
}

func (l *engineLoop) onPacketService(p PacketService, at time.Time) {
	if l.psKnown && p == l.ps {
		return
	}
	wasOpen := l.gatesOpen()
	old, known := l.ps, l.psKnown
	l.ps, l.psKnown = p, true
	if known && p.DataClass != old.DataClass && l.established {
		if l.rec == nil {
			l.rec = l.open(at, old.Class())
		}
		l.emitPacketService()
		if l.rec.phase == 0 {
			l.rec.steps = append(l.rec.steps, string(EventPacketService))
			l.rec.phase = 1
		}
		l.wantCheck(at, false)
	} else {
		l.emitPacketService()
	}
	if !wasOpen && l.gatesOpen() {
		l.gatesReopened(at)
	}
}

func (l *engineLoop) onSession(s Session, at time.Time) {
	if s == l.sess {
		return
	}
	wasActive := l.sess.Active()
	l.sess = s
	switch {
	case wasActive && !s.Active():
		// Reconnect, then query: the old configuration is gone with the
		// session.
		l.needQuery, l.authQuery, l.needEval = true, true, true
		l.evalAt, l.retryAt = time.Time{}, time.Time{}
		if l.established {
			if l.rec == nil {
				l.rec = l.open(at, l.ps.Class())
			}
			l.rec.dropped = true
			l.ensure(1)
			l.emitSession()
			if l.rec.phase == 1 {
				l.rec.steps = append(l.rec.steps, string(EventSession))
				l.rec.phase = 2
			}
			return
		}
	case !wasActive && s.Active():
		l.needQuery, l.authQuery, l.needEval = true, true, true
		l.evalAt, l.retryAt = time.Time{}, time.Time{}
	}
	l.emitSession()
}

func (l *engineLoop) onIPConfiguration(c IPConfiguration, at time.Time) {
	merged := l.ip.Merge(c)
	cfg := merged.Config()
	same := l.ipKnown && cfg.Equal(l.cur)
	l.ip, l.ipKnown = merged, true
	if !same {
		l.cur = cfg
	}
	if !l.authQuery {
		l.needQuery = false // fresh: the debounced query is not needed
	}
	if same || !l.established {
		return
	}
	if l.rec == nil {
		l.rec = l.open(at, l.ps.Class())
	}
	if complete(c, cfg) && !l.needQuery {
		// Every family the session has is in this indication: nothing is
		// left to merge, so apply now rather than at the end of the
		// debounce window (an address change costs no artificial wait).
		l.evalAt, l.needEval = at, true
		return
	}
	l.wantCheck(at, true)
}

// complete reports whether an IP_CONFIGURATION input carries the addresses
// of every family of the merged configuration.
func complete(c IPConfiguration, merged Config) bool {
	const addr = mbim.IPConfigurationAvailableAddress
	return (len(merged.IPv4) == 0 || c.IPv4.Available&addr != 0) &&
		(len(merged.IPv6) == 0 || c.IPv6.Available&addr != 0)
}

func (l *engineLoop) onRegister(r Register) {
	if r == l.reg {
		return
	}
	wasOpen := l.gatesOpen()
	l.reg = r
	if !wasOpen && l.gatesOpen() {
		l.gatesReopened(time.Now())
	}
}

// gatesReopened: registered and attached again. Try at once, and check
// the configuration if the session stayed up.
func (l *engineLoop) gatesReopened(at time.Time) {
	l.retryAt = time.Time{}
	if l.sess.Active() && l.established {
		l.wantCheck(at, false)
	}
}

// wantCheck asks for a comparison at the end of the debounce window, with
// a query first unless fresh. A window already open is not extended, so a
// storm cannot postpone the check for ever.
func (l *engineLoop) wantCheck(at time.Time, fresh bool) {
	if !l.needEval || !l.evalAt.After(time.Now()) {
		l.evalAt = at.Add(l.cfg.Debounce)
	}
	l.needEval = true
	if !fresh {
		l.needQuery = true
	}
}

func (l *engineLoop) onTransportLost() {
	if l.lost {
		return
	}
	l.lost = true
	if l.op != nil {
		l.op.cancel()
		l.op = nil
	}
}

func (l *engineLoop) onTransportBack(at time.Time) {
	l.lost = false
	l.needHost, l.needStatus = true, true
	l.needQuery, l.authQuery, l.needEval = true, true, true
	l.evalAt, l.retryAt = time.Time{}, time.Time{}
	if l.established && l.rec == nil {
		l.rec = l.open(at, l.ps.Class())
	}
}

// evaluate compares the modem's configuration with the host and applies
// the difference; it closes the handoff in progress with its outcome.
func (l *engineLoop) evaluate() bool {
	if !l.ipKnown {
		l.needQuery, l.authQuery = true, true
		return true
	}
	flap := l.established && !sameAddresses(l.last, l.cur)
	ops := planHost(l.hv, l.cur, l.cfg.DHCP, flap)
	if l.rec == nil && len(ops) > 0 {
		l.rec = l.open(time.Now(), l.ps.Class())
	}
	rec := l.rec
	transparent := len(ops) == 0 && (rec == nil || !rec.dropped)
	template := rec != nil && !rec.silent && l.established && !transparent
	if template {
		l.ensure(3)
	}
	changed := !l.established || !l.last.Equal(l.cur)
	emitted := false
	var undo []hostOp // inverses of the changes made, to restore the host if one is refused
	for _, op := range ops {
		if op.code == opLinkDown && changed {
			l.emitConfig()
			emitted = true
		}
		inv, invOK := l.hv.inverse(op)
		l.counters.HostWrites++
		if err := l.hostDo(op); err != nil {
			l.counters.HostErrors++
			// Leave the host in its last consistent state: undo what this
			// application changed (never a link signal: then the addresses
			// are already right and only the signal is retried).
			if op.code != opLinkDown && op.code != opLinkUp {
				for i := len(undo) - 1; i >= 0; i-- {
					l.counters.HostWrites++
					if l.doOp(undo[i], rec) != nil {
						l.counters.HostErrors++
						break
					}
				}
			}
			l.fails++
			l.retryAt = time.Now().Add(l.cfg.Backoff.Delay(l.fails, l.cfg.Rand()))
			l.closeFailed("host: " + op.String() + ": " + err.Error())
			return false
		}
		l.hv.apply(op)
		if rec != nil {
			rec.steps = append(rec.steps, op.String())
		}
		if op.code == opLinkDown || op.code == opLinkUp {
			l.emit(Event{Type: EventLink, LinkUp: op.code == opLinkUp})
		} else if invOK {
			undo = append(undo, inv)
		}
	}
	if changed && !emitted {
		l.emitConfig()
	}
	old := l.last
	l.last, l.needEval, l.fails, l.established = l.cur, false, 0, true
	l.rec = nil
	if rec == nil || rec.silent {
		return false
	}
	outcome := Transparent
	switch {
	case rec.dropped:
		outcome = Reconnected
	case !transparent:
		outcome = Readdressed
	}
	if template {
		l.emitPacketService()
		rec.steps = append(rec.steps, string(EventPacketService))
	}
	l.emitHandoff(Event{From: rec.from, To: l.ps.Class(), Outcome: outcome,
		Duration: time.Since(rec.start), Steps: rec.steps, Old: old, New: l.cur})
	return false
}

// doOp makes one host change and records it.
func (l *engineLoop) doOp(op hostOp, rec *handoffRecord) error {
	if err := l.hostDo(op); err != nil {
		return err
	}
	l.hv.apply(op)
	if rec != nil {
		rec.steps = append(rec.steps, op.String())
	}
	return nil
}

// hostOpTimeout bounds one host change. Host changes are local netlink
// requests (microseconds) plus, for IPv6, a wait of at most 250 ms.
const hostOpTimeout = 5 * time.Second

// hostDo applies one host change. It is not cut short when the engine is
// stopping: an application that has started finishes (within
// hostOpTimeout), so that a shutdown leaves the host consistent and does
// not report a handoff as failed because the daemon was told to stop.
func (l *engineLoop) hostDo(op hostOp) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.ctx), hostOpTimeout)
	defer cancel()
	return op.do(ctx, l.host)
}

func (l *engineLoop) emit(ev Event) Event {
	ev.Time = time.Now()
	ev.Interface = l.cfg.Interface
	ev.Session = l.cfg.Session
	ev.DHCP = l.cfg.DHCP
	ev.RouteMetric = l.cfg.RouteMetric
	ev.RouteTable = l.cfg.RouteTable
	for _, s := range l.cfg.Sinks {
		s(ev)
	}
	return ev
}

func (l *engineLoop) emitPacketService() {
	l.emit(Event{Type: EventPacketService, PacketService: l.ps})
}

func (l *engineLoop) emitSession() {
	l.emit(Event{Type: EventSession, ActivationState: l.sess.ActivationState, NwError: l.sess.NwError})
}

func (l *engineLoop) emitConfig() { l.emit(Event{Type: EventConfig, New: l.cur}) }

func (l *engineLoop) emitHandoff(ev Event) {
	ev.Type = EventHandoff
	if ev.Steps == nil {
		ev.Steps = []string{}
	}
	l.counters.Handoffs[ev.Outcome]++
	l.lastEv = l.emit(ev)
}

func (l *engineLoop) publish() {
	e := l.e
	e.mu.Lock()
	defer e.mu.Unlock()
	s := &e.snap
	s.State = l.state
	s.PacketService = l.ps
	s.DataClass = l.ps.Class()
	s.Register = l.reg
	s.ActivationState = l.sess.ActivationState
	s.Applied = l.last
	s.LinkUp = l.hv.up
	s.LastHandoff = l.lastEv
	h := s.Counters.Handoffs
	s.Counters = l.counters
	s.Counters.Handoffs = h
	for k, v := range l.counters.Handoffs {
		h[k] = v
	}
}
