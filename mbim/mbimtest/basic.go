package mbimtest

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/gowwan/wwan/mbim"
)

// req is one COMMAND for the model.
type req struct {
	m    mbim.Message
	set  bool
	info []byte
	v    mbim.Version // agreed MBIMEx version
}

// result is the model's answer.
type result struct {
	status mbim.Status
	body   mbim.InfoAppender
	after  func()   // runs once the response is written
	then   []func() // runs (locked) after the state indications
}

func reply(body mbim.InfoAppender) result                    { return result{body: body} }
func fail(st mbim.Status) result                             { return result{status: st} }
func unsupported() result                                    { return fail(mbim.StatusNoDeviceSupport) }
func invalid() result                                        { return fail(mbim.StatusInvalidParameters) }
func failWith(st mbim.Status, body mbim.InfoAppender) result { return result{status: st, body: body} }

type handler func(s *Sim, r *req) result

// models is the modem: one handler per service and CID. It is filled in
// init because the handlers refer to it (DEVICE_SERVICES lists it).
var models map[key]handler

func init() {
	models = map[key]handler{
		{mbim.ServiceBasicConnect, mbim.CIDDeviceCaps}:                 (*Sim).deviceCaps,
		{mbim.ServiceBasicConnect, mbim.CIDSubscriberReadyStatus}:      (*Sim).subscriberReadyStatus,
		{mbim.ServiceBasicConnect, mbim.CIDRadioState}:                 (*Sim).radioState,
		{mbim.ServiceBasicConnect, mbim.CIDPin}:                        (*Sim).pin,
		{mbim.ServiceBasicConnect, mbim.CIDPinList}:                    (*Sim).pinList,
		{mbim.ServiceBasicConnect, mbim.CIDHomeProvider}:               (*Sim).homeProvider,
		{mbim.ServiceBasicConnect, mbim.CIDPreferredProviders}:         (*Sim).preferredProviders,
		{mbim.ServiceBasicConnect, mbim.CIDVisibleProviders}:           (*Sim).visibleProviders,
		{mbim.ServiceBasicConnect, mbim.CIDRegisterState}:              (*Sim).registerState,
		{mbim.ServiceBasicConnect, mbim.CIDPacketService}:              (*Sim).packetServiceCmd,
		{mbim.ServiceBasicConnect, mbim.CIDSignalState}:                (*Sim).signalState,
		{mbim.ServiceBasicConnect, mbim.CIDConnect}:                    (*Sim).connect,
		{mbim.ServiceBasicConnect, mbim.CIDProvisionedContexts}:        (*Sim).provisionedContexts,
		{mbim.ServiceBasicConnect, mbim.CIDIpConfiguration}:            (*Sim).ipConfiguration,
		{mbim.ServiceBasicConnect, mbim.CIDDeviceServices}:             (*Sim).deviceServices,
		{mbim.ServiceBasicConnect, mbim.CIDDeviceServiceSubscribeList}: (*Sim).subscribeList,
		{mbim.ServiceBasicConnect, mbim.CIDPacketStatistics}:           (*Sim).packetStatistics,
		{mbim.ServiceBasicConnect, mbim.CIDNetworkIdleHint}:            (*Sim).networkIdleHint,
		{mbim.ServiceBasicConnect, mbim.CIDEmergencyMode}:              (*Sim).emergencyMode,
		{mbim.ServiceBasicConnect, mbim.CIDIpPacketFilters}:            (*Sim).ipPacketFilters,

		{mbim.ServiceSms, mbim.CIDSmsConfiguration}:      (*Sim).smsConfiguration,
		{mbim.ServiceSms, mbim.CIDSmsRead}:               (*Sim).smsRead,
		{mbim.ServiceSms, mbim.CIDSmsSend}:               (*Sim).smsSend,
		{mbim.ServiceSms, mbim.CIDSmsDelete}:             (*Sim).smsDelete,
		{mbim.ServiceSms, mbim.CIDSmsMessageStoreStatus}: (*Sim).smsStoreStatus,

		{mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsLteAttachConfiguration}: (*Sim).msLteAttachConfiguration,
		{mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsLteAttachInfo}:          (*Sim).msLteAttachInfo,
		{mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsSysCaps}:                (*Sim).msSysCaps,
		{mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsDeviceCaps}:             (*Sim).msDeviceCaps,
		{mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsDeviceSlotMappings}:     (*Sim).msDeviceSlotMappings,
		{mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsSlotInfoStatus}:         (*Sim).msSlotInfoStatus,
		{mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsDeviceReset}:            (*Sim).msDeviceReset,
		{mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsLocationInfoStatus}:     (*Sim).msLocationInfoStatus,
		{mbim.ServiceMsBasicConnectExtensions, mbim.CIDMsVersion}:                (*Sim).msVersion,

		{mbim.ServiceMsFirmwareId, mbim.CIDFirmwareIdGet}:        (*Sim).firmwareID,
		{mbim.ServiceMsHostShutdown, mbim.CIDHostShutdownNotify}: (*Sim).hostShutdown,
		{mbim.ServiceQmi, mbim.CIDQmiMsg}:                        (*Sim).qmiMsg,
	}
}

// serviceOrder is the order of DEVICE_SERVICES.
var serviceOrder = []mbim.UUID{
	mbim.ServiceBasicConnect, mbim.ServiceSms, mbim.ServiceMsBasicConnectExtensions,
	mbim.ServiceMsFirmwareId, mbim.ServiceMsHostShutdown, mbim.ServiceQmi,
}

// modelLocked answers a COMMAND from the model.
func (s *Sim) modelLocked(m mbim.Message) result {
	k := key{m.Service(), m.CID()}
	h := models[k]
	if h == nil || !s.supportsLocked(k) {
		return unsupported()
	}
	return h(s, &req{m: m, set: m.CommandType() == mbim.CommandSet, info: m.InformationBuffer(), v: s.ses.version})
}

// supportsLocked reports whether the modem lists a model CID.
func (s *Sim) supportsLocked(k key) bool {
	if s.without[k.svc] {
		return false
	}
	if k.svc == mbim.ServiceMsBasicConnectExtensions && k.cid == mbim.CIDMsVersion && s.m.maxEx < mbim.MBIMEx2 {
		return false
	}
	return true
}

// decode decodes the request buffer into b; false on a malformed one.
func decode(r *req, b mbim.Body) bool { return b.Decode(r.info) == nil }

// u32At reads a leading session id and the like, leniently.
func u32At(b []byte, off int) (uint32, bool) {
	if len(b) < off+4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[off:]), true
}

func str(s string) mbim.String { return mbim.NewString(s) }

// Basic Connect.

func (s *Sim) deviceCaps(r *req) result {
	if r.set {
		return unsupported()
	}
	d := &s.m.dev
	return reply(&mbim.DeviceCapsInfo{
		DeviceType:      d.DeviceType,
		CellularClass:   d.CellularClass,
		VoiceClass:      d.VoiceClass,
		SimClass:        d.SimClass,
		DataClass:       d.DataClasses,
		SmsCaps:         d.SmsCaps,
		ControlCaps:     d.ControlCaps,
		MaxSessions:     d.MaxSessions,
		CustomDataClass: str(d.CustomDataClass),
		DeviceId:        str(d.DeviceID),
		FirmwareInfo:    str(d.Firmware),
		HardwareInfo:    str(d.Hardware),
	})
}

func (s *Sim) subscriberReadyStatus(r *req) result {
	if r.set {
		return unsupported()
	}
	return reply(s.readyBodyLocked(r.v))
}

func (s *Sim) readyBodyLocked(v mbim.Version) mbim.InfoAppender {
	st := &s.m.sim
	ready := st.readyState()
	var imsi, iccid mbim.String
	var numbers []mbim.String
	switch ready {
	case mbim.SubscriberReadyStateInitialized:
		imsi, iccid = str(st.cfg.IMSI), str(st.cfg.ICCID)
		for _, n := range st.cfg.Numbers {
			numbers = append(numbers, str(n))
		}
	case mbim.SubscriberReadyStateDeviceLocked, mbim.SubscriberReadyStateBadSim:
		iccid = str(st.cfg.ICCID) // readable without the PIN
	}
	if v >= mbim.MBIMEx3 {
		flags := mbim.SubscriberReadyStatusFlagSimRemovabilityKnown
		if s.m.dev.SimClass&mbim.SimClassRemovable != 0 {
			flags |= mbim.SubscriberReadyStatusFlagSimRemovable
		}
		return &mbim.SubscriberReadyStatusInfoV3{ReadyState: ready, Flags: flags, SubscriberId: imsi, SimIccId: iccid, TelephoneNumbers: numbers}
	}
	return &mbim.SubscriberReadyStatusInfo{ReadyState: ready, SubscriberId: imsi, SimIccId: iccid, TelephoneNumbers: numbers}
}

func onOff(b bool) mbim.RadioSwitchState {
	if b {
		return mbim.RadioSwitchStateOn
	}
	return mbim.RadioSwitchStateOff
}

func (s *Sim) radioBodyLocked() *mbim.RadioStateInfo {
	return &mbim.RadioStateInfo{HwRadioState: onOff(s.m.hwRadio), SwRadioState: onOff(s.m.swRadio)}
}

func (s *Sim) radioState(r *req) result {
	if r.set {
		var set mbim.RadioStateSet
		if !decode(r, &set) || set.RadioState > mbim.RadioSwitchStateOn {
			return invalid()
		}
		s.m.swRadio = set.RadioState == mbim.RadioSwitchStateOn
	}
	return reply(s.radioBodyLocked())
}

func (s *Sim) pinInfoLocked() *mbim.PinInfo {
	st := &s.m.sim
	switch st.lock {
	case PINRequired:
		return &mbim.PinInfo{PinType: mbim.PinTypePin1, PinState: mbim.PinStateLocked, RemainingAttempts: uint32(st.pinLeft)}
	case PUKRequired, Blocked:
		return &mbim.PinInfo{PinType: mbim.PinTypePuk1, PinState: mbim.PinStateLocked, RemainingAttempts: uint32(st.pukLeft)}
	}
	return &mbim.PinInfo{PinType: mbim.PinTypeUnknown, PinState: mbim.PinStateUnlocked, RemainingAttempts: uint32(st.pinLeft)}
}

// validPIN checks the form of a new PIN1: 4 to 8 digits.
func validPIN(p string) bool {
	if len(p) < 4 || len(p) > 8 {
		return false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// verifyPIN checks PIN1 as a card does: a wrong one costs an attempt, and
// the last attempt blocks PIN1.
func (st *simState) verifyPIN(pin string) bool {
	if pin == st.cfg.PIN {
		st.pinLeft = PINAttempts
		return true
	}
	st.pinLeft--
	if st.pinLeft <= 0 {
		st.pinLeft = 0
		st.lock = PUKRequired
	}
	return false
}

func (s *Sim) pin(r *req) result {
	st := &s.m.sim
	if st.cfg.Absent {
		return fail(mbim.StatusSimNotInserted)
	}
	if !r.set {
		return reply(s.pinInfoLocked())
	}
	var set mbim.PinSet
	if !decode(r, &set) {
		return invalid()
	}
	pin, newPIN := set.Pin.String(), set.NewPin.String()
	wrong := func() result { return failWith(mbim.StatusFailure, s.pinInfoLocked()) }
	done := func() result {
		return reply(&mbim.PinInfo{PinType: set.PinType, PinState: mbim.PinStateUnlocked, RemainingAttempts: uint32(st.pinLeft)})
	}
	if st.lock == Blocked {
		return failWith(mbim.StatusBadSim, s.pinInfoLocked())
	}
	switch set.PinType {
	case mbim.PinTypePin1:
		if st.lock == PUKRequired {
			return wrong()
		}
		switch set.PinOperation {
		case mbim.PinOperationEnter:
			if !st.pinEnabled {
				// A card with PIN1 disabled refuses to verify it, at no
				// cost in attempts.
				return failWith(mbim.StatusPinDisabled, s.pinInfoLocked())
			}
			if !st.verifyPIN(pin) {
				return wrong()
			}
			st.lock = Unlocked
			return done()
		case mbim.PinOperationEnable:
			if !st.verifyPIN(pin) {
				return wrong()
			}
			st.pinEnabled = true
			if st.lock == PINRequired {
				st.lock = Unlocked
			}
			return done()
		case mbim.PinOperationDisable:
			if !st.pinEnabled {
				return failWith(mbim.StatusPinDisabled, s.pinInfoLocked())
			}
			if !st.verifyPIN(pin) {
				return wrong()
			}
			st.pinEnabled = false
			st.lock = Unlocked
			return done()
		case mbim.PinOperationChange:
			if !st.pinEnabled {
				return failWith(mbim.StatusPinDisabled, s.pinInfoLocked())
			}
			if !validPIN(newPIN) {
				return invalid()
			}
			if !st.verifyPIN(pin) {
				return wrong()
			}
			st.cfg.PIN = newPIN
			st.lock = Unlocked
			return done()
		}
		return invalid()
	case mbim.PinTypePuk1:
		if set.PinOperation != mbim.PinOperationEnter {
			return invalid()
		}
		if !validPIN(newPIN) {
			return invalid()
		}
		if pin != st.cfg.PUK {
			st.pukLeft--
			if st.pukLeft <= 0 {
				st.pukLeft = 0
				st.lock = Blocked
			} else {
				st.lock = PUKRequired
			}
			return wrong()
		}
		st.cfg.PIN = newPIN
		st.pinLeft, st.pukLeft = PINAttempts, PUKAttempts
		st.lock = Unlocked
		return done()
	}
	return unsupported()
}

func (s *Sim) pinList(r *req) result {
	if r.set {
		return unsupported()
	}
	if s.m.sim.cfg.Absent {
		return fail(mbim.StatusSimNotInserted)
	}
	mode := mbim.PinModeDisabled
	if s.m.sim.pinEnabled {
		mode = mbim.PinModeEnabled
	}
	return reply(&mbim.PinListInfo{
		PinDescPin1: mbim.PinDesc{PinMode: mode, PinFormat: mbim.PinFormatNumeric, PinLengthMin: 4, PinLengthMax: 8},
	})
}

func (s *Sim) providerLocked(p Provider, state mbim.ProviderState) mbim.Provider {
	cc := p.CellularClass
	if cc == 0 {
		cc = mbim.CellularClassGsm
	}
	sig := s.m.reportedSignal()
	return mbim.Provider{
		ProviderId:    str(p.ID),
		ProviderState: p.State | state,
		ProviderName:  str(p.Name),
		CellularClass: cc,
		Rssi:          sig.RSSI,
		ErrorRate:     sig.ErrorRate,
	}
}

func (s *Sim) homeProvider(r *req) result {
	if !s.m.sim.ready() {
		return fail(s.m.sim.notReadyStatus())
	}
	if r.set {
		var set mbim.HomeProviderInfo
		if !decode(r, &set) || len(set.Provider.ProviderId) == 0 {
			return invalid()
		}
		s.m.net.Home.ID = set.Provider.ProviderId.String()
		s.m.net.Home.Name = set.Provider.ProviderName.String()
	}
	return reply(&mbim.HomeProviderInfo{Provider: s.providerLocked(s.m.net.Home, mbim.ProviderStateHome)})
}

func (s *Sim) preferredBodyLocked() *mbim.PreferredProvidersInfo {
	info := &mbim.PreferredProvidersInfo{Providers: []mbim.Provider{}}
	for _, p := range s.m.net.Preferred {
		info.Providers = append(info.Providers, s.providerLocked(p, mbim.ProviderStatePreferred))
	}
	return info
}

func (s *Sim) preferredProviders(r *req) result {
	if !s.m.sim.ready() {
		return fail(s.m.sim.notReadyStatus())
	}
	if r.set {
		var set mbim.PreferredProvidersInfo
		if !decode(r, &set) {
			return invalid()
		}
		var ps []Provider
		for _, p := range set.Providers {
			ps = append(ps, Provider{ID: p.ProviderId.String(), Name: p.ProviderName.String(), CellularClass: p.CellularClass})
		}
		s.m.net.Preferred = ps
	}
	return reply(s.preferredBodyLocked())
}

func (s *Sim) visibleProviders(r *req) result {
	if r.set {
		return unsupported()
	}
	if !s.m.radioOn() {
		return fail(mbim.StatusRadioPowerOff)
	}
	reg := s.m.registration()
	info := &mbim.VisibleProvidersInfo{Providers: []mbim.Provider{}}
	for _, p := range s.m.net.Visible {
		st := mbim.ProviderStateVisible
		if p.ID == s.m.net.Home.ID {
			st |= mbim.ProviderStateHome
		}
		if p.ID == reg.ProviderID && reg.ProviderID != "" {
			st |= mbim.ProviderStateRegistered
		}
		for _, q := range s.m.net.Preferred {
			if q.ID == p.ID {
				st |= mbim.ProviderStatePreferred
			}
		}
		info.Providers = append(info.Providers, s.providerLocked(p, st))
	}
	return reply(info)
}

func (s *Sim) registerBodyLocked(v mbim.Version) mbim.InfoAppender {
	g := s.m.registration()
	if v >= mbim.MBIMEx2 {
		return &mbim.RegisterStateInfoV2{
			NwError: g.NwError, RegisterState: g.State, RegisterMode: g.Mode,
			AvailableDataClasses: g.AvailableDataClasses, CurrentCellularClass: g.CellularClass,
			ProviderId: str(g.ProviderID), ProviderName: str(g.ProviderName), RoamingText: str(g.RoamingText),
			RegistrationFlag: g.Flags, PreferredDataClasses: g.PreferredDataClasses,
		}
	}
	return &mbim.RegisterStateInfo{
		NwError: g.NwError, RegisterState: g.State, RegisterMode: g.Mode,
		AvailableDataClasses: g.AvailableDataClasses, CurrentCellularClass: g.CellularClass,
		ProviderId: str(g.ProviderID), ProviderName: str(g.ProviderName), RoamingText: str(g.RoamingText),
		RegistrationFlag: g.Flags,
	}
}

func (s *Sim) registerState(r *req) result {
	if r.set {
		var set mbim.RegisterStateSet
		if !decode(r, &set) {
			return invalid()
		}
		if !s.m.radioOn() {
			return fail(mbim.StatusRadioPowerOff)
		}
		if !s.m.sim.ready() {
			return fail(s.m.sim.notReadyStatus())
		}
		switch set.RegisterAction {
		case mbim.RegisterActionAutomatic:
			s.m.regMode, s.m.manualID = mbim.RegisterModeAutomatic, ""
		case mbim.RegisterActionManual:
			id := set.ProviderId.String()
			i := slices.IndexFunc(s.m.net.Visible, func(p Provider) bool { return p.ID == id })
			if i < 0 {
				return fail(mbim.StatusProviderNotVisible)
			}
			if s.m.net.Visible[i].State&mbim.ProviderStateForbidden != 0 {
				return fail(mbim.StatusFailure)
			}
			s.m.regMode, s.m.manualID = mbim.RegisterModeManual, id
		default:
			return invalid()
		}
		s.m.prefClasses = set.DataClass
	}
	return reply(s.registerBodyLocked(r.v))
}

func (s *Sim) packetBodyLocked(v mbim.Version) mbim.InfoAppender {
	p := s.m.packetService()
	switch {
	case v >= mbim.MBIMEx3:
		c, sub := classV3(p.DataClass)
		info := &mbim.PacketServiceInfoV3{
			NwError: p.NwError, PacketServiceState: p.State, HighestAvailableDataClass: c,
			UplinkSpeed: p.Uplink, DownlinkSpeed: p.Downlink, FrequencyRange: p.FrequencyRange, DataSubclass: sub,
		}
		if p.State == mbim.PacketServiceStateAttached {
			info.Tai = mbim.Tai{PlmnMcc: s.m.net.MCC, PlmnMnc: s.m.net.MNC, Tac: s.m.net.TAC}
		}
		return info
	case v >= mbim.MBIMEx2:
		return &mbim.PacketServiceInfoV2{
			NwError: p.NwError, PacketServiceState: p.State, CurrentDataClass: p.DataClass,
			UplinkSpeed: p.Uplink, DownlinkSpeed: p.Downlink, FrequencyRange: p.FrequencyRange,
		}
	}
	return &mbim.PacketServiceInfo{
		NwError: p.NwError, PacketServiceState: p.State, HighestAvailableDataClass: p.DataClass,
		UplinkSpeed: p.Uplink, DownlinkSpeed: p.Downlink,
	}
}

func (s *Sim) packetServiceCmd(r *req) result {
	if r.set {
		var set mbim.PacketServiceSet
		if !decode(r, &set) {
			return invalid()
		}
		switch set.PacketServiceAction {
		case mbim.PacketServiceActionAttach:
			switch {
			case !s.m.radioOn():
				return fail(mbim.StatusRadioPowerOff)
			case !s.m.sim.ready():
				return fail(s.m.sim.notReadyStatus())
			case !s.m.registered():
				return failWith(mbim.StatusNotRegistered, s.packetBodyLocked(r.v))
			}
			s.m.attached, s.m.psNwError = true, 0
		case mbim.PacketServiceActionDetach:
			s.m.attached, s.m.psNwError = false, 0
		default:
			return invalid()
		}
	}
	return reply(s.packetBodyLocked(r.v))
}

func (s *Sim) signalBodyLocked(v mbim.Version) mbim.InfoAppender {
	sig := s.m.reportedSignal()
	if v >= mbim.MBIMEx2 {
		info := &mbim.SignalStateInfoV2{
			Rssi: sig.RSSI, ErrorRate: sig.ErrorRate, SignalStrengthInterval: sig.Interval,
			RssiThreshold: sig.RSSIThreshold, ErrorRateThreshold: sig.ErrorRateThreshold,
		}
		if c := highest(s.m.net.DataClass); s.m.radioOn() && hasRsrp(c) {
			info.RsrpSnr = []mbim.RsrpSnrInfo{{Rsrp: sig.RSRP, Snr: sig.SNR, RsrpThreshold: 0xffffffff, SnrThreshold: 0xffffffff, SystemType: c}}
		}
		return info
	}
	return &mbim.SignalStateInfo{
		Rssi: sig.RSSI, ErrorRate: sig.ErrorRate, SignalStrengthInterval: sig.Interval,
		RssiThreshold: sig.RSSIThreshold, ErrorRateThreshold: sig.ErrorRateThreshold,
	}
}

func (s *Sim) signalState(r *req) result {
	if r.set {
		var set mbim.SignalStateSet
		if !decode(r, &set) {
			return invalid()
		}
		s.m.signal.Interval = set.SignalStrengthInterval
		s.m.signal.RSSIThreshold = set.RssiThreshold
		s.m.signal.ErrorRateThreshold = set.ErrorRateThreshold
	}
	return reply(s.signalBodyLocked(r.v))
}

func (s *Sim) connectBodyLocked(v mbim.Version, id uint32) mbim.InfoAppender {
	st := mbim.ActivationStateDeactivated
	var ss sessState
	if p, ok := s.m.session(id); ok {
		ss = *p
	}
	if ss.active {
		st = mbim.ActivationStateActivated
	}
	ctx := ss.ctxType
	if ctx == (mbim.ContextType{}) {
		ctx = ContextInternet
	}
	if v >= mbim.MBIMEx3 {
		media := ss.media
		if media == mbim.AccessMediaTypeUnknown {
			media = mbim.AccessMediaType3gpp
		}
		return &mbim.ConnectInfoV3{
			SessionId: id, ActivationState: st, VoiceCallState: mbim.VoiceCallStateNone, IpType: ss.ipType,
			ContextType: ctx, NwError: ss.nwError, MediaPreference: media, AccessString: mbim.String(mbim.AppendUTF16([]byte{}, ss.apn)),
		}
	}
	return &mbim.ConnectInfo{
		SessionId: id, ActivationState: st, VoiceCallState: mbim.VoiceCallStateNone, IpType: ss.ipType,
		ContextType: ctx, NwError: ss.nwError,
	}
}

// connectRequest is a CONNECT set in either layout.
type connectRequest struct {
	id      uint32
	cmd     mbim.ActivationCommand
	apn     string
	user    string
	pass    string
	auth    mbim.AuthProtocol
	ipType  mbim.ContextIpType
	ctxType mbim.ContextType
	media   mbim.AccessMediaType
}

func (s *Sim) connect(r *req) result {
	if !r.set {
		id, ok := u32At(r.info, 0)
		if !ok {
			return invalid()
		}
		if _, ok := s.m.session(id); !ok {
			return invalid()
		}
		return reply(s.connectBodyLocked(r.v, id))
	}
	var c connectRequest
	if r.v >= mbim.MBIMEx3 {
		var set mbim.ConnectSetV3
		if !decode(r, &set) {
			return invalid()
		}
		c = connectRequest{set.SessionId, set.ActivationCommand, set.AccessString.String(), set.UserName.String(),
			set.Password.String(), set.AuthProtocol, set.IpType, set.ContextType, set.MediaPreference}
	} else {
		var set mbim.ConnectSet
		if !decode(r, &set) {
			return invalid()
		}
		c = connectRequest{set.SessionId, set.ActivationCommand, set.AccessString.String(), set.UserName.String(),
			set.Password.String(), set.AuthProtocol, set.IpType, set.ContextType, mbim.AccessMediaType3gpp}
	}
	ss, found := s.m.session(c.id)
	if !found {
		return invalid()
	}
	switch c.cmd {
	case mbim.ActivationCommandDeactivate:
		if !ss.active {
			return failWith(mbim.StatusContextNotActivated, s.connectBodyLocked(r.v, c.id))
		}
		s.deactivateLocked(c.id, 0, false)
		return reply(s.connectBodyLocked(r.v, c.id))
	case mbim.ActivationCommandActivate:
		st := s.activateLocked(c)
		res := result{status: st, body: s.connectBodyLocked(r.v, c.id)}
		if st == mbim.StatusSuccess && s.m.ipIndOnConnect {
			id := c.id
			res.then = append(res.then, func() { s.notifyLocked(key{mbim.ServiceBasicConnect, mbim.CIDIpConfiguration}, id) })
		}
		return res
	}
	return invalid()
}

// grant decides the IP type the network gives for a request.
func grant(allowed, want mbim.ContextIpType) (mbim.ContextIpType, mbim.NwError) {
	if allowed == mbim.ContextIpTypeDefault || allowed == mbim.ContextIpTypeIpv4AndIpv6 {
		allowed = mbim.ContextIpTypeIpv4v6
	}
	switch want {
	case mbim.ContextIpTypeDefault:
		return allowed, 0
	case mbim.ContextIpTypeIpv4:
		if hasV4(allowed) {
			return mbim.ContextIpTypeIpv4, 0
		}
		return 0, mbim.NwErrorPdpTypeIpv6OnlyAllowed
	case mbim.ContextIpTypeIpv6:
		if hasV6(allowed) {
			return mbim.ContextIpTypeIpv6, 0
		}
		return 0, mbim.NwErrorPdpTypeIpv4OnlyAllowed
	case mbim.ContextIpTypeIpv4v6, mbim.ContextIpTypeIpv4AndIpv6:
		switch allowed {
		case mbim.ContextIpTypeIpv4:
			return mbim.ContextIpTypeIpv4, mbim.NwErrorPdpTypeIpv4OnlyAllowed
		case mbim.ContextIpTypeIpv6:
			return mbim.ContextIpTypeIpv6, mbim.NwErrorPdpTypeIpv6OnlyAllowed
		}
		return want, 0
	}
	return 0, mbim.NwErrorUnknownPdpAddressOrType
}

// activateLocked brings a session up, or says why the network would not.
func (s *Sim) activateLocked(c connectRequest) mbim.Status {
	m := &s.m
	ss, _ := m.session(c.id)
	switch {
	case !m.radioOn():
		return mbim.StatusRadioPowerOff
	case !m.sim.ready():
		return m.sim.notReadyStatus()
	case !m.registered():
		return mbim.StatusNotRegistered
	case !m.attached:
		return mbim.StatusPacketServiceDetached
	}
	if ss.active {
		if c.apn == "" || sameAPN(c.apn, ss.apn) {
			return mbim.StatusSuccess
		}
		return mbim.StatusFailure
	}
	rejected := func(cause mbim.NwError) mbim.Status {
		ss.nwError = cause
		return mbim.StatusFailure
	}
	var a APN
	found := false
	if c.apn == "" {
		a, found = m.defaultAPN(), len(m.apns) > 0
	} else {
		for _, x := range m.apns {
			if x.Name != "" && sameAPN(x.Name, c.apn) {
				a, found = x, true
				break
			}
		}
	}
	if !found {
		return rejected(mbim.NwErrorMissingOrUnknownApn)
	}
	if a.Reject != 0 {
		return rejected(a.Reject)
	}
	if a.User != "" && (c.user != a.User || c.pass != a.Password || c.auth != a.Auth) {
		return rejected(mbim.NwErrorUserAuthenticationFailed)
	}
	granted, cause := grant(a.IPTypes, c.ipType)
	if granted == 0 {
		return rejected(cause)
	}
	s.accrueLocked()
	ss.active = true
	ss.nwError = cause
	ss.apn = a.Name
	ss.ipType = granted
	ss.ctxType = c.ctxType
	ss.media = c.media
	ss.ip = s.plan(c.id, ss.gen).clone().family(granted)
	s.accrueLocked()
	return mbim.StatusSuccess
}

func (s *Sim) provisionedContexts(r *req) result {
	if r.set {
		var set mbim.ProvisionedContextsSet
		if !decode(r, &set) {
			return invalid()
		}
		pc := ProvisionedContext{
			ID: set.ContextId, ContextType: set.ContextType, APN: set.AccessString.String(),
			User: set.UserName.String(), Password: set.Password.String(), Compression: set.Compression, Auth: set.AuthProtocol,
		}
		if pc.ID == 0xffffffff {
			pc.ID = 1
			for _, x := range s.m.provisioned {
				pc.ID = max(pc.ID, x.ID+1)
			}
		}
		i := slices.IndexFunc(s.m.provisioned, func(x ProvisionedContext) bool { return x.ID == pc.ID })
		if i >= 0 {
			s.m.provisioned[i] = pc
		} else {
			s.m.provisioned = append(s.m.provisioned, pc)
		}
	}
	info := &mbim.ProvisionedContextsInfo{ProvisionedContexts: []mbim.ProvisionedContextElement{}}
	for _, pc := range s.m.provisioned {
		info.ProvisionedContexts = append(info.ProvisionedContexts, mbim.ProvisionedContextElement{
			ContextId: pc.ID, ContextType: pc.ContextType, AccessString: str(pc.APN), UserName: str(pc.User),
			Password: str(pc.Password), Compression: pc.Compression, AuthProtocol: pc.Auth,
		})
	}
	return reply(info)
}

func (s *Sim) ipBodyLocked(id uint32) *mbim.IPConfigurationInfo {
	info := &mbim.IPConfigurationInfo{
		SessionId: id, IPv4Addresses: []mbim.IPv4Element{}, IPv6Addresses: []mbim.IPv6Element{},
		IPv4DnsServers: []netip.Addr{}, IPv6DnsServers: []netip.Addr{},
	}
	ss, ok := s.m.session(id)
	if !ok || !ss.active {
		return info
	}
	c := ss.ip
	if c.IPv4.IsValid() {
		info.IPv4ConfigurationAvailable |= mbim.IPConfigurationAvailableAddress
		info.IPv4Addresses = append(info.IPv4Addresses, mbim.IPv4Element{OnLinkPrefixLength: uint32(c.IPv4.Bits()), IPv4Address: c.IPv4.Addr()})
	}
	if c.IPv4Gateway.IsValid() {
		info.IPv4ConfigurationAvailable |= mbim.IPConfigurationAvailableGateway
		info.IPv4Gateway = c.IPv4Gateway
	}
	if len(c.IPv4DNS) > 0 {
		info.IPv4ConfigurationAvailable |= mbim.IPConfigurationAvailableDns
		info.IPv4DnsServers = append(info.IPv4DnsServers, c.IPv4DNS...)
	}
	if c.IPv4MTU != 0 {
		info.IPv4ConfigurationAvailable |= mbim.IPConfigurationAvailableMtu
		info.IPv4Mtu = c.IPv4MTU
	}
	if c.IPv6.IsValid() {
		info.IPv6ConfigurationAvailable |= mbim.IPConfigurationAvailableAddress
		info.IPv6Addresses = append(info.IPv6Addresses, mbim.IPv6Element{OnLinkPrefixLength: uint32(c.IPv6.Bits()), IPv6Address: c.IPv6.Addr()})
	}
	if c.IPv6Gateway.IsValid() {
		info.IPv6ConfigurationAvailable |= mbim.IPConfigurationAvailableGateway
		info.IPv6Gateway = c.IPv6Gateway
	}
	if len(c.IPv6DNS) > 0 {
		info.IPv6ConfigurationAvailable |= mbim.IPConfigurationAvailableDns
		info.IPv6DnsServers = append(info.IPv6DnsServers, c.IPv6DNS...)
	}
	if c.IPv6MTU != 0 {
		info.IPv6ConfigurationAvailable |= mbim.IPConfigurationAvailableMtu
		info.IPv6Mtu = c.IPv6MTU
	}
	return info
}

func (s *Sim) ipConfiguration(r *req) result {
	if r.set {
		return unsupported()
	}
	id, found := u32At(r.info, 0)
	if !found {
		return invalid()
	}
	if _, ok := s.m.session(id); !ok {
		return invalid()
	}
	return reply(s.ipBodyLocked(id))
}

// servicesLocked is DEVICE_SERVICES: the model's services and CIDs, less
// the removed services, plus what Funcs handle.
func (s *Sim) servicesLocked() []mbim.DeviceServiceElement {
	cids := map[mbim.UUID][]uint32{}
	order := slices.Clone(serviceOrder)
	for k := range models {
		if s.supportsLocked(k) {
			cids[k.svc] = append(cids[k.svc], k.cid)
		}
	}
	var extra []mbim.UUID
	for k := range s.handlers {
		if k == (key{}) {
			continue
		}
		if !slices.Contains(order, k.svc) && !slices.Contains(extra, k.svc) {
			extra = append(extra, k.svc)
		}
		if !slices.Contains(cids[k.svc], k.cid) {
			cids[k.svc] = append(cids[k.svc], k.cid)
		}
	}
	slices.SortFunc(extra, func(a, b mbim.UUID) int { return bytes.Compare(a[:], b[:]) })
	order = append(order, extra...)
	var out []mbim.DeviceServiceElement
	for _, u := range order {
		if len(cids[u]) == 0 || (s.without[u] && !s.handled(u)) {
			continue
		}
		c := cids[u]
		slices.Sort(c)
		out = append(out, mbim.DeviceServiceElement{DeviceServiceId: u, Cids: c})
	}
	return out
}

func (s *Sim) handled(u mbim.UUID) bool {
	for k := range s.handlers {
		if k.svc == u {
			return true
		}
	}
	return false
}

func (s *Sim) deviceServices(r *req) result {
	if r.set {
		return unsupported()
	}
	return reply(&mbim.DeviceServicesInfo{DeviceServices: s.servicesLocked()})
}

// standardSubscriptions is libmbim's default list.
var standardSubscriptions = []mbim.EventEntry{
	{DeviceServiceId: mbim.ServiceBasicConnect, Cids: []uint32{2, 3, 7, 9, 10, 11, 12, 13, 15, 22, 24}},
	{DeviceServiceId: mbim.ServiceSms, Cids: []uint32{1, 2, 5}},
	{DeviceServiceId: mbim.ServiceUssd, Cids: []uint32{1}},
	{DeviceServiceId: mbim.ServicePhonebook, Cids: []uint32{1}},
	{DeviceServiceId: mbim.ServiceStk, Cids: []uint32{1}},
}

// wants reports whether the host subscribed to an indication. A service
// listed with no CIDs stands for all of its CIDs.
func (ss *session) wants(svc mbim.UUID, cid uint32) bool {
	list := ss.subs
	if list == nil {
		list = standardSubscriptions
	}
	for _, e := range list {
		if e.DeviceServiceId == svc && (len(e.Cids) == 0 || slices.Contains(e.Cids, cid)) {
			return true
		}
	}
	return false
}

func (s *Sim) subscribeList(r *req) result {
	if !r.set {
		return unsupported()
	}
	var set mbim.DeviceServiceSubscribeListInfo
	if !decode(r, &set) {
		return invalid()
	}
	subs := []mbim.EventEntry{}
	for _, e := range set.Events {
		subs = append(subs, mbim.EventEntry{DeviceServiceId: e.DeviceServiceId, Cids: slices.Clone(e.Cids)})
	}
	s.ses.subs = subs
	return reply(&mbim.DeviceServiceSubscribeListInfo{Events: subs})
}

func (s *Sim) statsBodyLocked() *mbim.PacketStatisticsInfo {
	s.accrueLocked()
	st := &s.m.stats
	if s.m.anyActive() {
		st.queries++
	}
	ms := uint64(st.connected.Milliseconds())
	in := ms*inPacketsPerSecond/1000 + st.queries
	out := ms*outPacketsPerSecond/1000 + st.queries
	return &mbim.PacketStatisticsInfo{
		InOctets: in * inPacketSize, InPackets: in,
		OutOctets: out * outPacketSize, OutPackets: out,
	}
}

func (s *Sim) packetStatistics(r *req) result {
	if r.set {
		return unsupported()
	}
	return reply(s.statsBodyLocked())
}

func (s *Sim) networkIdleHint(r *req) result {
	if r.set {
		var set mbim.NetworkIdleHintInfo
		if !decode(r, &set) {
			return invalid()
		}
		s.m.idleHint = set.State == mbim.NetworkIdleHintStateEnabled
	}
	st := mbim.NetworkIdleHintStateDisabled
	if s.m.idleHint {
		st = mbim.NetworkIdleHintStateEnabled
	}
	return reply(&mbim.NetworkIdleHintInfo{State: st})
}

func (s *Sim) emergencyMode(r *req) result {
	if r.set {
		return unsupported()
	}
	return reply(&mbim.EmergencyModeInfo{State: mbim.EmergencyModeStateOff})
}

func (s *Sim) ipPacketFilters(r *req) result {
	id, found := u32At(r.info, 0)
	if !found {
		return invalid()
	}
	ss, found := s.m.session(id)
	if !found {
		return invalid()
	}
	if r.set {
		var fs []PacketFilter
		if r.v >= mbim.MBIMEx3 {
			var set mbim.IPPacketFiltersInfoV3
			if !decode(r, &set) {
				return invalid()
			}
			for _, f := range set.PacketFilters {
				fs = append(fs, PacketFilter{slices.Clone(f.PacketFilter), slices.Clone(f.PacketMask), f.FilterId})
			}
		} else {
			var set mbim.IPPacketFiltersInfo
			if !decode(r, &set) {
				return invalid()
			}
			for _, f := range set.PacketFilters {
				fs = append(fs, PacketFilter{Filter: slices.Clone(f.PacketFilter), Mask: slices.Clone(f.PacketMask)})
			}
		}
		ss.filters = fs
	}
	if r.v >= mbim.MBIMEx3 {
		info := &mbim.IPPacketFiltersInfoV3{SessionId: id, PacketFilters: []mbim.PacketFilterV3{}}
		for _, f := range ss.filters {
			info.PacketFilters = append(info.PacketFilters, mbim.PacketFilterV3{PacketFilter: f.Filter, PacketMask: f.Mask, FilterId: f.ID})
		}
		return reply(info)
	}
	info := &mbim.IPPacketFiltersInfo{SessionId: id, PacketFilters: []mbim.PacketFilter{}}
	for _, f := range ss.filters {
		info.PacketFilters = append(info.PacketFilters, mbim.PacketFilter{PacketFilter: f.Filter, PacketMask: f.Mask})
	}
	return reply(info)
}

// notificationBodyLocked builds the body of an indication.
func (s *Sim) notificationBodyLocked(k key, v mbim.Version, session uint32) mbim.InfoAppender {
	if k.svc == mbim.ServiceBasicConnect {
		switch k.cid {
		case mbim.CIDSubscriberReadyStatus:
			return s.readyBodyLocked(v)
		case mbim.CIDRadioState:
			return s.radioBodyLocked()
		case mbim.CIDPreferredProviders:
			return s.preferredBodyLocked()
		case mbim.CIDRegisterState:
			return s.registerBodyLocked(v)
		case mbim.CIDPacketService:
			return s.packetBodyLocked(v)
		case mbim.CIDSignalState:
			return s.signalBodyLocked(v)
		case mbim.CIDConnect:
			return s.connectBodyLocked(v, session)
		case mbim.CIDIpConfiguration:
			return s.ipBodyLocked(session)
		}
	}
	return (*mbim.Empty)(nil)
}
