package mbimtest

import (
	"reflect"
	"slices"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// model is the modem's state. Everything in it is guarded by Sim.mu.
type model struct {
	dev   DeviceInfo
	maxEx mbim.Version
	sim   simState

	hwRadio, swRadio bool

	net         Network
	regMode     mbim.RegisterMode
	manualID    string // provider chosen by a manual REGISTER_STATE set
	prefClasses mbim.DataClass
	attached    bool
	psNwError   mbim.NwError

	signal Signal

	sessions       []sessState
	apns           []APN
	provisioned    []ProvisionedContext
	ipIndOnConnect bool
	idleHint       bool
	stats          stats

	qmi      qmiState
	sms      smsState
	slotMap  []uint32
	shutdown int
}

type simState struct {
	cfg        SIMConfig
	pinEnabled bool
	lock       Lock
	pinLeft    int
	pukLeft    int
}

func newSIM(c SIMConfig) simState {
	c.Numbers = append([]string(nil), c.Numbers...)
	st := simState{cfg: c, pinEnabled: c.PINEnabled, pinLeft: PINAttempts, pukLeft: PUKAttempts}
	if c.PINEnabled {
		st.lock = PINRequired
	}
	return st
}

func (st *simState) ready() bool { return !st.cfg.Absent && st.lock == Unlocked }

func (st *simState) readyState() mbim.SubscriberReadyState {
	switch {
	case st.cfg.Absent:
		return mbim.SubscriberReadyStateSimNotInserted
	case st.lock == Blocked:
		return mbim.SubscriberReadyStateBadSim
	case st.lock != Unlocked:
		return mbim.SubscriberReadyStateDeviceLocked
	}
	return mbim.SubscriberReadyStateInitialized
}

// notReadyStatus is the status of a request that needs a usable SIM.
func (st *simState) notReadyStatus() mbim.Status {
	switch {
	case st.cfg.Absent:
		return mbim.StatusSimNotInserted
	case st.lock == Blocked:
		return mbim.StatusBadSim
	}
	return mbim.StatusPinRequired
}

type sessState struct {
	active  bool
	nwError mbim.NwError
	apn     string
	ipType  mbim.ContextIpType
	ctxType mbim.ContextType
	media   mbim.AccessMediaType
	gen     int
	ip      IPConfig
	filters []PacketFilter
}

func cloneDevice(d DeviceInfo) DeviceInfo {
	d.LteBands = append([]uint16(nil), d.LteBands...)
	d.NrBands = append([]uint16(nil), d.NrBands...)
	if d.MaxSessions == 0 {
		d.MaxSessions = 1
	}
	return d
}

func cloneNetwork(n Network) Network {
	n.Visible = append([]Provider(nil), n.Visible...)
	n.Preferred = append([]Provider(nil), n.Preferred...)
	return n
}

// powerOn puts the modem in its power-on state, keeping the configuration
// (device, SIM card, network, APNs) and the address generations.
func (m *model) powerOn(s *Sim) {
	m.hwRadio, m.swRadio = true, true
	m.sim = newSIMKeepingCodes(m.sim)
	m.regMode = mbim.RegisterModeAutomatic
	m.manualID = ""
	m.psNwError = 0
	m.signal.Interval, m.signal.RSSIThreshold, m.signal.ErrorRateThreshold = 0, 0, 0
	n := int(m.dev.MaxSessions)
	gens := make([]int, n)
	for i := range m.sessions {
		if i < n {
			gens[i] = m.sessions[i].gen
		}
	}
	m.sessions = make([]sessState, n)
	for i := range m.sessions {
		m.sessions[i] = sessState{gen: gens[i], ipType: mbim.ContextIpTypeDefault, ctxType: ContextInternet}
	}
	m.stats = stats{}
	if m.provisioned == nil {
		m.provisioned = []ProvisionedContext{{ID: 1, ContextType: ContextInternet, APN: m.defaultAPN().Name}}
	}
	m.qmi = qmiState{}
	m.sms = smsState{format: mbim.SmsFormatPdu, sc: "+15555550199"}
	m.slotMap = []uint32{0}
	m.attached = m.registered() && !m.net.ManualAttach
}

// newSIMKeepingCodes re-inserts the same card after a power cycle: the PIN
// and PUK counters survive (they live on the card), the unlock does not.
func newSIMKeepingCodes(old simState) simState {
	st := old
	if st.lock == Unlocked && st.pinEnabled {
		st.lock = PINRequired
	}
	return st
}

func (m *model) radioOn() bool { return m.hwRadio && m.swRadio }

func (m *model) defaultAPN() APN {
	if len(m.apns) > 0 {
		return m.apns[0]
	}
	return APN{}
}

// servingProvider is the network the modem is registered on.
func (m *model) servingProvider() Provider {
	if m.regMode == mbim.RegisterModeManual && m.manualID != "" {
		for _, p := range m.net.Visible {
			if p.ID == m.manualID {
				return p
			}
		}
	}
	return m.net.Home
}

func (m *model) registration() Registration {
	r := Registration{Mode: m.regMode, PreferredDataClasses: m.prefClasses}
	if !m.radioOn() || !m.sim.ready() {
		r.State = mbim.RegisterStateDeregistered
		return r
	}
	r.State = m.net.RegisterState
	switch r.State {
	case mbim.RegisterStateHome, mbim.RegisterStateRoaming, mbim.RegisterStatePartner:
		p := m.servingProvider()
		if r.State == mbim.RegisterStateHome && p.ID != m.net.Home.ID {
			r.State = mbim.RegisterStateRoaming
		}
		r.ProviderID, r.ProviderName = p.ID, p.Name
		r.AvailableDataClasses = m.net.DataClass
		r.CellularClass = cellularClassOf(m.net.DataClass)
		if r.State != mbim.RegisterStateHome {
			r.RoamingText = m.net.RoamingText
		}
		if !m.net.ManualAttach {
			r.Flags |= mbim.RegistrationFlagPacketServiceAutomaticAttach
		}
	default:
		r.NwError = m.net.NwError
	}
	return r
}

func (m *model) registered() bool {
	switch m.registration().State {
	case mbim.RegisterStateHome, mbim.RegisterStateRoaming, mbim.RegisterStatePartner:
		return true
	}
	return false
}

func (m *model) packetService() PacketService {
	if !m.attached || !m.registered() {
		return PacketService{State: mbim.PacketServiceStateDetached, NwError: m.psNwError}
	}
	c := highest(m.net.DataClass)
	up, down := speeds(c)
	return PacketService{
		State:          mbim.PacketServiceStateAttached,
		DataClass:      c,
		Uplink:         up,
		Downlink:       down,
		FrequencyRange: frequencyRange(c),
	}
}

// reportedSignal is the signal as a query answers it.
func (m *model) reportedSignal() Signal {
	sig := m.signal
	if !m.radioOn() {
		sig.RSSI, sig.ErrorRate, sig.RSRP, sig.SNR = 99, 99, 127, 128
	}
	return sig
}

func (m *model) session(id uint32) (*sessState, bool) {
	if int64(id) >= int64(len(m.sessions)) {
		return nil, false
	}
	return &m.sessions[id], true
}

func (m *model) anyActive() bool {
	for i := range m.sessions {
		if m.sessions[i].active {
			return true
		}
	}
	return false
}

// view is what a host can observe through indications; diffLocked compares
// two views and indicates the difference.
type view struct {
	ready     mbim.SubscriberReadyState
	simIDs    [2]string
	radio     [2]bool
	radioOn   bool
	reg       Registration
	ps        PacketService
	sess      []sessView
	preferred []Provider
}

type sessView struct {
	active  bool
	nwError mbim.NwError
	ipType  mbim.ContextIpType
	apn     string
}

func (s *Sim) viewLocked() view {
	m := &s.m
	v := view{
		ready:     m.sim.readyState(),
		simIDs:    [2]string{m.sim.cfg.IMSI, m.sim.cfg.ICCID},
		radio:     [2]bool{m.hwRadio, m.swRadio},
		radioOn:   m.radioOn(),
		reg:       m.registration(),
		ps:        m.packetService(),
		preferred: slices.Clone(m.net.Preferred),
	}
	for i := range m.sessions {
		ss := &m.sessions[i]
		v.sess = append(v.sess, sessView{ss.active, ss.nwError, ss.ipType, ss.apn})
	}
	return v
}

// settleLocked restores the invariants after a change: packet service
// follows registration (re-attaching by itself on registration unless the
// network wants a manual attach); sessions need the packet service; traffic
// accrues only while a session is up.
func (s *Sim) settleLocked(before view) {
	m := &s.m
	reg := m.registered()
	wasReg := false
	switch before.reg.State {
	case mbim.RegisterStateHome, mbim.RegisterStateRoaming, mbim.RegisterStatePartner:
		wasReg = true
	}
	if reg && !wasReg && !m.net.ManualAttach {
		m.attached, m.psNwError = true, 0
	}
	if !reg {
		m.attached = false
	}
	if !m.attached || !reg {
		cause := m.psNwError
		if !reg && m.registration().NwError != 0 {
			cause = m.registration().NwError
		}
		for i := range m.sessions {
			if m.sessions[i].active {
				s.deactivateLocked(uint32(i), cause, true)
			}
		}
	}
	s.accrueLocked()
}

// deactivateLocked ends a data session; a drop (not a host request) moves
// the session to its next address generation.
func (s *Sim) deactivateLocked(id uint32, cause mbim.NwError, drop bool) {
	ss, ok := s.m.session(id)
	if !ok {
		return
	}
	s.accrueLocked()
	ss.active = false
	ss.nwError = cause
	ss.ip = IPConfig{}
	if drop {
		ss.gen++
	}
	s.accrueLocked()
}

// accrueLocked brings the packet statistics up to now.
func (s *Sim) accrueLocked() {
	st := &s.m.stats
	now := s.now()
	if !st.since.IsZero() {
		if d := now.Sub(st.since); d > 0 {
			st.connected += d
		}
		st.since = time.Time{}
	}
	if s.m.anyActive() {
		st.since = now
	}
}

// diffLocked sends the indications for what changed since before, except
// for the CID the host just set (its response carries the new state). The
// cause comes first (SIM, radio); then bring-up is indicated bottom-up
// (registration, packet service, sessions) and tear-down top-down
// (sessions, packet service, registration), as modems do.
func (s *Sim) diffLocked(before view, except key) {
	after := s.viewLocked()
	type ind struct {
		cid     uint32
		session uint32
	}
	var out []ind
	add := func(changed bool, cid uint32) {
		if changed {
			out = append(out, ind{cid: cid})
		}
	}
	var conns []ind
	down := false
	for i := range after.sess {
		if i < len(before.sess) && before.sess[i] != after.sess[i] {
			conns = append(conns, ind{mbim.CIDConnect, uint32(i)})
			down = down || (before.sess[i].active && !after.sess[i].active)
		}
	}
	regChanged := !reflect.DeepEqual(before.reg, after.reg)
	psChanged := before.ps != after.ps
	add(before.ready != after.ready || before.simIDs != after.simIDs, mbim.CIDSubscriberReadyStatus)
	add(before.radio != after.radio, mbim.CIDRadioState)
	if down {
		out = append(out, conns...)
		add(psChanged, mbim.CIDPacketService)
		add(regChanged, mbim.CIDRegisterState)
	} else {
		add(regChanged, mbim.CIDRegisterState)
		add(psChanged, mbim.CIDPacketService)
	}
	add(before.radioOn != after.radioOn, mbim.CIDSignalState)
	add(!reflect.DeepEqual(before.preferred, after.preferred), mbim.CIDPreferredProviders)
	if !down {
		out = append(out, conns...)
	}
	for _, x := range out {
		k := key{mbim.ServiceBasicConnect, x.cid}
		if k != except {
			s.notifyLocked(k, x.session)
		}
	}
}

// mutate runs a scenario change under the lock and indicates its effects.
func (s *Sim) mutate(fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSimClosed
	}
	before := s.viewLocked()
	err := fn()
	s.settleLocked(before)
	s.diffLocked(before, key{})
	return err
}
