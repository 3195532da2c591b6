package mbimtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// State: snapshots and direct changes. Every change is indicated to the
// host as the modem would, in the layout of the agreed MBIMEx version, to
// the hosts subscribed to it.

// Device returns the device capabilities.
func (s *Sim) Device() DeviceInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneDevice(s.m.dev)
}

// SetDevice replaces the device capabilities. Sessions beyond the new
// MaxSessions are dropped (and indicated).
func (s *Sim) SetDevice(d DeviceInfo) error {
	return s.mutate(func() error {
		d = cloneDevice(d)
		n := int(d.MaxSessions)
		for i := n; i < len(s.m.sessions); i++ {
			if s.m.sessions[i].active {
				s.deactivateLocked(uint32(i), 0, true)
				s.notifyLocked(key{mbim.ServiceBasicConnect, mbim.CIDConnect}, uint32(i))
			}
		}
		if len(s.m.sessions) > n {
			s.m.sessions = s.m.sessions[:n]
		}
		for len(s.m.sessions) < n {
			s.m.sessions = append(s.m.sessions, sessState{ctxType: ContextInternet})
		}
		s.m.dev = d
		return nil
	})
}

// MaxMBIMEx returns the highest MBIMEx version the function supports.
func (s *Sim) MaxMBIMEx() mbim.Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.maxEx
}

// Version returns the MBIMEx version agreed in the current session (1.0
// until a VERSION exchange).
func (s *Sim) Version() mbim.Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ses.version
}

// IsOpen reports whether the MBIM session is open.
func (s *Sim) IsOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ses.open
}

// HostMaxControlTransfer returns the MaxControlTransfer of the last OPEN.
func (s *Sim) HostMaxControlTransfer() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ses.hostMax
}

// Subscribed reports whether the host wants the indications of a service
// and CID (libmbim's standard list until the host sets one).
func (s *Sim) Subscribed(service mbim.UUID, cid uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ses.wants(service, cid)
}

// SIM returns the SIM's state.
func (s *Sim) SIM() SIMStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.m.sim
	cfg := st.cfg
	cfg.Numbers = slices.Clone(cfg.Numbers)
	cfg.PINEnabled = st.pinEnabled
	return SIMStatus{SIMConfig: cfg, Ready: st.readyState(), Lock: st.lock, PINAttempts: st.pinLeft, PUKAttempts: st.pukLeft}
}

// SetSIM swaps the card (Absent: removes it). A card with PIN1 enabled
// comes up locked.
func (s *Sim) SetSIM(c SIMConfig) error {
	return s.mutate(func() error {
		s.m.sim = newSIM(c)
		return nil
	})
}

// Radio returns the hardware and software radio switches.
func (s *Sim) Radio() (hw, sw bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.hwRadio, s.m.swRadio
}

// SetHardwareRadio flips the hardware radio switch (a W_DISABLE# pin, a
// key on the laptop).
func (s *Sim) SetHardwareRadio(on bool) error {
	return s.mutate(func() error { s.m.hwRadio = on; return nil })
}

// SetSoftwareRadio flips the software radio switch, as RADIO_STATE set does.
func (s *Sim) SetSoftwareRadio(on bool) error {
	return s.mutate(func() error { s.m.swRadio = on; return nil })
}

// Network returns the network.
func (s *Sim) Network() Network {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneNetwork(s.m.net)
}

// SetNetwork replaces the network.
func (s *Sim) SetNetwork(n Network) error {
	return s.mutate(func() error { s.m.net = cloneNetwork(n); return nil })
}

// APNs returns the access point names the network accepts.
func (s *Sim) APNs() []APN {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.m.apns)
}

// SetAPNs replaces the access point names the network accepts; sessions
// already up stay up.
func (s *Sim) SetAPNs(apns ...APN) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m.apns = slices.Clone(apns)
}

// Registration returns REGISTER_STATE as a query would answer it.
func (s *Sim) Registration() Registration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.registration()
}

// Register puts the modem back on its network (HOME, or ROAMING on a
// manually chosen other network).
func (s *Sim) Register() error {
	return s.SetRegisterState(mbim.RegisterStateHome, 0)
}

// Deregister takes the modem off the network: sessions go down, the packet
// service detaches.
func (s *Sim) Deregister() error {
	return s.SetRegisterState(mbim.RegisterStateDeregistered, 0)
}

// SetRegisterState moves the registration: HOME, ROAMING, PARTNER,
// SEARCHING, DENIED (with a cause) or DEREGISTERED.
func (s *Sim) SetRegisterState(state mbim.RegisterState, cause mbim.NwError) error {
	return s.mutate(func() error {
		s.m.net.RegisterState, s.m.net.NwError = state, cause
		return nil
	})
}

// PacketService returns PACKET_SERVICE as a query would answer it.
func (s *Sim) PacketService() PacketService {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.packetService()
}

// Detach detaches the packet service from the network side, with a cause.
func (s *Sim) Detach(cause mbim.NwError) error {
	return s.mutate(func() error {
		s.m.attached, s.m.psNwError = false, cause
		return nil
	})
}

// Attach attaches the packet service (when registered).
func (s *Sim) Attach() error {
	return s.mutate(func() error {
		if !s.m.registered() {
			return errors.New("mbimtest: attach: not registered")
		}
		s.m.attached, s.m.psNwError = true, 0
		return nil
	})
}

// Signal returns the signal as a query would answer it.
func (s *Sim) Signal() Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.reportedSignal()
}

// SetSignal changes RSSI, error rate, RSRP and SNR (the host's interval and
// thresholds are kept). A SIGNAL_STATE indication follows when the radio is
// on and the change reaches the host's thresholds (any change when they
// are 0, the device default, or 0xFFFFFFFF); the interval is not modelled.
func (s *Sim) SetSignal(sig Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSimClosed
	}
	old := s.m.signal
	s.m.signal.RSSI, s.m.signal.ErrorRate, s.m.signal.RSRP, s.m.signal.SNR = sig.RSSI, sig.ErrorRate, sig.RSRP, sig.SNR
	reach := func(a, b, thr uint32) bool {
		if a == b {
			return false
		}
		if thr == 0 || thr == 0xffffffff {
			return true
		}
		d := a - b
		if b > a {
			d = b - a
		}
		return d >= thr
	}
	if s.m.radioOn() && (reach(old.RSSI, sig.RSSI, old.RSSIThreshold) ||
		reach(old.ErrorRate, sig.ErrorRate, old.ErrorRateThreshold) ||
		old.RSRP != sig.RSRP || old.SNR != sig.SNR) {
		s.notifyLocked(key{mbim.ServiceBasicConnect, mbim.CIDSignalState}, 0)
	}
	return nil
}

func (s *Sim) sessionLocked(id uint32) Session {
	ss := &s.m.sessions[id]
	st := mbim.ActivationStateDeactivated
	if ss.active {
		st = mbim.ActivationStateActivated
	}
	return Session{
		ID: id, State: st, NwError: ss.nwError, APN: ss.apn, IPType: ss.ipType,
		ContextType: ss.ctxType, IP: ss.ip.clone(), Generation: ss.gen,
	}
}

// Session returns a data session; false for an id beyond MaxSessions.
func (s *Sim) Session(id uint32) (Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m.session(id); !ok {
		return Session{}, false
	}
	return s.sessionLocked(id), true
}

// Sessions returns every data session, up or not.
func (s *Sim) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Session
	for i := range s.m.sessions {
		out = append(out, s.sessionLocked(uint32(i)))
	}
	return out
}

// ErrNotActive is returned for a session that is not activated.
var ErrNotActive = errors.New("mbimtest: session not activated")

// DropSession ends an active session from the network side, as operators
// do every 24 hours: CONNECT DEACTIVATED with the cause is indicated, and
// the next activation gets a new address.
func (s *Sim) DropSession(id uint32, cause mbim.NwError) error {
	return s.mutate(func() error {
		ss, ok := s.m.session(id)
		if !ok || !ss.active {
			return fmt.Errorf("mbimtest: drop session %d: %w", id, ErrNotActive)
		}
		s.deactivateLocked(id, cause, true)
		return nil
	})
}

// SetIPConfig replaces the IP configuration of an active session. With
// notify an IP_CONFIGURATION indication follows; without, the host learns
// of it only by querying.
func (s *Sim) SetIPConfig(id uint32, c IPConfig, notify bool) error {
	return s.mutate(func() error {
		ss, ok := s.m.session(id)
		if !ok || !ss.active {
			return fmt.Errorf("mbimtest: IP configuration of session %d: %w", id, ErrNotActive)
		}
		ss.ip = c.clone()
		if notify {
			s.notifyLocked(key{mbim.ServiceBasicConnect, mbim.CIDIpConfiguration}, id)
		}
		return nil
	})
}

// ChangeAddress moves an active session to its next address generation, in
// place or, with ac.Reconnect, by deactivating and reactivating it.
func (s *Sim) ChangeAddress(id uint32, ac AddressChange) error {
	return s.mutate(func() error {
		ss, ok := s.m.session(id)
		if !ok || !ss.active {
			return fmt.Errorf("mbimtest: change address of session %d: %w", id, ErrNotActive)
		}
		s.changeAddressLocked(id, ac)
		return nil
	})
}

// AddressChange says how a session's address changes.
type AddressChange struct {
	// Reconnect deactivates the session and activates it again with its
	// new address (two CONNECT indications) instead of changing the
	// address in place.
	Reconnect bool
	// Notify sends an IP_CONFIGURATION indication after the change;
	// without it the host learns of the change only by querying, as with
	// some modems.
	Notify bool
	// First makes the change before the data-class indications of a step
	// instead of after them.
	First bool
}

func (s *Sim) changeAddressLocked(id uint32, ac AddressChange) {
	ss := &s.m.sessions[id]
	k := key{mbim.ServiceBasicConnect, mbim.CIDConnect}
	if ac.Reconnect {
		keep := *ss
		s.deactivateLocked(id, 0, true)
		s.notifyLocked(k, id)
		gen := ss.gen
		*ss = keep
		ss.gen = gen
		ss.nwError = 0
	} else {
		ss.gen++
	}
	ss.ip = s.plan(id, ss.gen).clone().family(ss.ipType)
	s.accrueLocked()
	if ac.Reconnect {
		s.notifyLocked(k, id)
	}
	if ac.Notify {
		s.notifyLocked(key{mbim.ServiceBasicConnect, mbim.CIDIpConfiguration}, id)
	}
}

// SetDataClass moves the serving cell, and so the packet service, to one
// data class (one step of a tour): REGISTER_STATE and PACKET_SERVICE are
// indicated. With change set, every active session also changes its
// address as ac says.
func (s *Sim) SetDataClass(class mbim.DataClass, change bool, ac AddressChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSimClosed
	}
	if class == 0 || class&(class-1) != 0 {
		return fmt.Errorf("mbimtest: data class %v: want exactly one class", class)
	}
	if class&s.m.dev.DataClasses == 0 {
		return fmt.Errorf("mbimtest: data class %v: the device supports %v", class, s.m.dev.DataClasses)
	}
	var active []uint32
	for i := range s.m.sessions {
		if s.m.sessions[i].active {
			active = append(active, uint32(i))
		}
	}
	if change && ac.First {
		for _, id := range active {
			s.changeAddressLocked(id, ac)
		}
	}
	before := s.viewLocked()
	s.m.net.DataClass = class
	s.settleLocked(before)
	s.diffLocked(before, key{})
	if change && !ac.First {
		for _, id := range active {
			s.changeAddressLocked(id, ac)
		}
	}
	return nil
}

// TourOptions shape a TourTechnologies run.
type TourOptions struct {
	// Interval is the pause after each step but the last.
	Interval time.Duration
	// ChangeAddressAt lists the steps (0-based) at which every active
	// session changes its address, as Address says.
	ChangeAddressAt []int
	Address         AddressChange
	// OnStep, when set, runs after each step's messages are queued.
	OnStep func(step int, class mbim.DataClass)
}

// TourTechnologies walks the packet service through classes, one step per
// class (Tour3GPP: GPRS, EDGE, UMTS, HSDPA, LTE, 5G NSA, 5G SA;
// Tour3GPP2: 1xRTT, EV-DO, EV-DO Rev. A), pausing opts.Interval between
// steps. It is deterministic and bounded by len(classes); it returns
// ctx.Err() if ctx ends first, with the steps so far done.
func (s *Sim) TourTechnologies(ctx context.Context, classes []mbim.DataClass, opts TourOptions) error {
	for i, c := range classes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.SetDataClass(c, slices.Contains(opts.ChangeAddressAt, i), opts.Address); err != nil {
			return fmt.Errorf("mbimtest: tour step %d: %w", i, err)
		}
		if opts.OnStep != nil {
			opts.OnStep(i, c)
		}
		if i < len(classes)-1 && opts.Interval > 0 {
			t := time.NewTimer(opts.Interval)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-s.ctx.Done():
				t.Stop()
				return ErrSimClosed
			}
		}
	}
	return nil
}

// ResetOptions shape a Reset.
type ResetOptions struct {
	// CloseTransport hangs up every host connection, as a modem that
	// drops off the USB bus does: Serve returns and ServePipe's host end
	// reads EOF; a pty is replaced by a new one (see PTYPath and
	// WithPTYLink).
	CloseTransport bool
}

// Reset power-cycles the modem: the MBIM session closes (the host's next
// command gets FUNCTION_ERROR NOT_OPENED and it must OPEN again, after which
// the MBIMEx version is 1.0 until negotiated), data sessions end without an
// indication and come back with new addresses, queued messages are lost,
// the SIM locks again if PIN1 is enabled, and radio, registration and
// packet service return to their power-on state. Faults, Funcs and the
// request log are kept.
func (s *Sim) Reset(opts ResetOptions) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrSimClosed
	}
	s.counters.Resets++
	for i := range s.m.sessions {
		if s.m.sessions[i].active {
			s.deactivateLocked(uint32(i), 0, true)
		}
	}
	s.ses.reset()
	s.m.powerOn(s)
	var hang []*conn
	for c := range s.conns {
		c.purge(0, true)
		c.resetReasm.Store(true)
		if opts.CloseTransport {
			hang = append(hang, c)
		}
	}
	s.mu.Unlock()
	for _, c := range hang {
		c.close()
	}
	return nil
}

// PacketFilters returns the IP packet filters the host set for a session.
func (s *Sim) PacketFilters(session uint32) []PacketFilter {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m.session(session)
	if !ok {
		return nil
	}
	out := make([]PacketFilter, 0, len(ss.filters))
	for _, f := range ss.filters {
		out = append(out, PacketFilter{Filter: slices.Clone(f.Filter), Mask: slices.Clone(f.Mask), ID: f.ID})
	}
	return out
}

// ProvisionedContexts returns Basic Connect PROVISIONED_CONTEXTS.
func (s *Sim) ProvisionedContexts() []ProvisionedContext {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.m.provisioned)
}

// Subscriptions returns the host's subscribe list (libmbim's standard list
// until the host sets one).
func (s *Sim) Subscriptions() []mbim.EventEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.ses.subs
	if list == nil {
		list = standardSubscriptions
	}
	out := make([]mbim.EventEntry, 0, len(list))
	for _, e := range list {
		out = append(out, mbim.EventEntry{DeviceServiceId: e.DeviceServiceId, CidsCount: uint32(len(e.Cids)), Cids: slices.Clone(e.Cids)})
	}
	return out
}
