package mbim

// Hand-written conveniences for the calls the daemon and the CLI make most,
// each right for MBIMEx 1.0, 2.0 and 3.0. Where a layout changes with the
// version, the result is a normalised struct, which the ...From functions
// also build from an indication's decoded body.

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
)

// contextTypeInternet is the Internet context type, the default of Connect.
var contextTypeInternet = func() ContextType {
	u, _ := contextTypeByName("INTERNET")
	return ContextType(u)
}()

// DeviceCaps queries Basic Connect DEVICE_CAPS (one layout at every
// version). DeviceId is the IMEI/ESN/MEID: personal.
func (d *Device) DeviceCaps(ctx context.Context) (*DeviceCapsInfo, error) {
	r := new(DeviceCapsInfo)
	if err := d.Query(ctx, ServiceBasicConnect, CIDDeviceCaps, nil, r); err != nil {
		return nil, err
	}
	return r, nil
}

// SubscriberStatus is SUBSCRIBER_READY_STATUS at any version. SubscriberID
// (IMSI), SimICCID and TelephoneNumbers are personal: LogValue and String
// redact them.
type SubscriberStatus struct {
	ReadyState       SubscriberReadyState
	Flags            SubscriberReadyStatusFlag // MBIMEx 3.0 only
	SubscriberID     string
	SimICCID         string
	ReadyInfo        ReadyInfo
	TelephoneNumbers []string
	Version          Version
}

// SubscriberStatusFrom normalises a SubscriberReadyStatusInfo or
// SubscriberReadyStatusInfoV3 (a response or a notification).
func SubscriberStatusFrom(b Body) (SubscriberStatus, error) {
	var s SubscriberStatus
	switch v := b.(type) {
	case *SubscriberReadyStatusInfo:
		s = SubscriberStatus{ReadyState: v.ReadyState, SubscriberID: v.SubscriberId.String(), SimICCID: v.SimIccId.String(),
			ReadyInfo: v.ReadyInfo, TelephoneNumbers: stringsOf(v.TelephoneNumbers), Version: MBIMEx1}
	case *SubscriberReadyStatusInfoV3:
		s = SubscriberStatus{ReadyState: v.ReadyState, Flags: v.Flags, SubscriberID: v.SubscriberId.String(), SimICCID: v.SimIccId.String(),
			ReadyInfo: v.ReadyInfo, TelephoneNumbers: stringsOf(v.TelephoneNumbers), Version: MBIMEx3}
	default:
		return s, notA("SubscriberReadyStatusInfo", b)
	}
	return s, nil
}

// String prints the status without personal fields.
func (s SubscriberStatus) String() string {
	return "ready_state=" + s.ReadyState.String() + " flags=" + s.Flags.String() + " subscriber_id=" + redacted(s.SubscriberID) +
		" sim_iccid=" + redacted(s.SimICCID) + " telephone_numbers=" + strconv.Itoa(len(s.TelephoneNumbers))
}

// LogValue logs the status without personal fields.
func (s SubscriberStatus) LogValue() slog.Value {
	return slog.GroupValue(slog.String("ready_state", s.ReadyState.String()), slog.String("flags", s.Flags.String()),
		slog.String("subscriber_id", redacted(s.SubscriberID)), slog.String("sim_iccid", redacted(s.SimICCID)),
		slog.Int("telephone_numbers", len(s.TelephoneNumbers)))
}

// SubscriberReadyStatus queries SUBSCRIBER_READY_STATUS.
func (d *Device) SubscriberReadyStatus(ctx context.Context) (SubscriberStatus, error) {
	b, err := d.QueryBody(ctx, ServiceBasicConnect, CIDSubscriberReadyStatus, nil)
	if err != nil {
		return SubscriberStatus{}, err
	}
	return SubscriberStatusFrom(b)
}

// RadioState queries RADIO_STATE.
func (d *Device) RadioState(ctx context.Context) (RadioStateInfo, error) {
	var r RadioStateInfo
	err := d.Query(ctx, ServiceBasicConnect, CIDRadioState, nil, &r)
	return r, err
}

// SetRadioState switches the software radio on or off and returns the new
// state.
func (d *Device) SetRadioState(ctx context.Context, on bool) (RadioStateInfo, error) {
	req := RadioStateSet{RadioState: RadioSwitchStateOff}
	if on {
		req.RadioState = RadioSwitchStateOn
	}
	var r RadioStateInfo
	err := d.Set(ctx, ServiceBasicConnect, CIDRadioState, &req, &r)
	return r, err
}

// Pin queries PIN: which PIN the device waits for, and the attempts left.
func (d *Device) Pin(ctx context.Context) (PinInfo, error) {
	var r PinInfo
	err := d.Query(ctx, ServiceBasicConnect, CIDPin, nil, &r)
	return r, err
}

// EnterPin enters a PIN (PinOperationEnter). On a wrong PIN the error is a
// *CommandError and the PinInfo, when the device sent one, says how many
// attempts are left. The PIN is never logged.
func (d *Device) EnterPin(ctx context.Context, pinType PinType, pin string) (PinInfo, error) {
	req := PinSet{PinType: pinType, PinOperation: PinOperationEnter, Pin: NewString(pin)}
	var r PinInfo
	decoded, err := d.typedDecoded(ctx, ServiceBasicConnect, CIDPin, CommandSet, &req, &r)
	if !decoded {
		r = PinInfo{}
	}
	return r, err
}

// HomeProvider queries HOME_PROVIDER.
func (d *Device) HomeProvider(ctx context.Context) (Provider, error) {
	var r HomeProviderInfo
	err := d.Query(ctx, ServiceBasicConnect, CIDHomeProvider, nil, &r)
	return r.Provider, err
}

// Registration is REGISTER_STATE at any version.
type Registration struct {
	NwError              NwError
	State                RegisterState
	Mode                 RegisterMode
	AvailableDataClasses DataClass
	CurrentCellularClass CellularClass
	ProviderID           string
	ProviderName         string
	RoamingText          string
	Flags                RegistrationFlag
	PreferredDataClasses DataClass // MBIMEx 2.0 and later; 0 at 1.0
	Version              Version
}

// RegistrationFrom normalises a RegisterStateInfo or RegisterStateInfoV2.
func RegistrationFrom(b Body) (Registration, error) {
	switch v := b.(type) {
	case *RegisterStateInfo:
		return Registration{NwError: v.NwError, State: v.RegisterState, Mode: v.RegisterMode,
			AvailableDataClasses: v.AvailableDataClasses, CurrentCellularClass: v.CurrentCellularClass,
			ProviderID: v.ProviderId.String(), ProviderName: v.ProviderName.String(), RoamingText: v.RoamingText.String(),
			Flags: v.RegistrationFlag, Version: MBIMEx1}, nil
	case *RegisterStateInfoV2:
		return Registration{NwError: v.NwError, State: v.RegisterState, Mode: v.RegisterMode,
			AvailableDataClasses: v.AvailableDataClasses, CurrentCellularClass: v.CurrentCellularClass,
			ProviderID: v.ProviderId.String(), ProviderName: v.ProviderName.String(), RoamingText: v.RoamingText.String(),
			Flags: v.RegistrationFlag, PreferredDataClasses: v.PreferredDataClasses, Version: MBIMEx2}, nil
	}
	return Registration{}, notA("RegisterStateInfo", b)
}

// RegisterState queries REGISTER_STATE.
func (d *Device) RegisterState(ctx context.Context) (Registration, error) {
	b, err := d.QueryBody(ctx, ServiceBasicConnect, CIDRegisterState, nil)
	if err != nil {
		return Registration{}, err
	}
	return RegistrationFrom(b)
}

// PacketServiceStatus is PACKET_SERVICE at any version.
type PacketServiceStatus struct {
	NwError NwError
	State   PacketServiceState
	// DataClass holds the data-class bits: the highest available class at
	// MBIMEx 1.0 and 3.0, the current class at 2.0. Read them as a
	// DataClass below 3.0 and as a DataClassV3 (plus DataSubclass) from
	// 3.0; DataClassString does.
	DataClass      uint32
	DataSubclass   DataSubclass // MBIMEx 3.0
	UplinkSpeed    uint64       // bit/s
	DownlinkSpeed  uint64       // bit/s
	FrequencyRange FrequencyRange
	Tai            Tai // MBIMEx 3.0
	Version        Version
}

// DataClassString names the data class with the right flag set for the
// version.
func (p PacketServiceStatus) DataClassString() string {
	if p.Version >= MBIMEx3 {
		s := DataClassV3(p.DataClass).String()
		if p.DataSubclass != 0 {
			s += "/" + p.DataSubclass.String()
		}
		return s
	}
	return DataClass(p.DataClass).String()
}

// PacketServiceFrom normalises a PacketServiceInfo, PacketServiceInfoV2 or
// PacketServiceInfoV3.
func PacketServiceFrom(b Body) (PacketServiceStatus, error) {
	switch v := b.(type) {
	case *PacketServiceInfo:
		return PacketServiceStatus{NwError: v.NwError, State: v.PacketServiceState, DataClass: uint32(v.HighestAvailableDataClass),
			UplinkSpeed: v.UplinkSpeed, DownlinkSpeed: v.DownlinkSpeed, Version: MBIMEx1}, nil
	case *PacketServiceInfoV2:
		return PacketServiceStatus{NwError: v.NwError, State: v.PacketServiceState, DataClass: uint32(v.CurrentDataClass),
			UplinkSpeed: v.UplinkSpeed, DownlinkSpeed: v.DownlinkSpeed, FrequencyRange: v.FrequencyRange, Version: MBIMEx2}, nil
	case *PacketServiceInfoV3:
		return PacketServiceStatus{NwError: v.NwError, State: v.PacketServiceState, DataClass: uint32(v.HighestAvailableDataClass),
			DataSubclass: v.DataSubclass, UplinkSpeed: v.UplinkSpeed, DownlinkSpeed: v.DownlinkSpeed,
			FrequencyRange: v.FrequencyRange, Tai: v.Tai, Version: MBIMEx3}, nil
	}
	return PacketServiceStatus{}, notA("PacketServiceInfo", b)
}

// PacketService queries PACKET_SERVICE.
func (d *Device) PacketService(ctx context.Context) (PacketServiceStatus, error) {
	b, err := d.QueryBody(ctx, ServiceBasicConnect, CIDPacketService, nil)
	if err != nil {
		return PacketServiceStatus{}, err
	}
	return PacketServiceFrom(b)
}

// Attach asks for packet service (PACKET_SERVICE set, attach). Without a
// deadline in ctx it waits up to WithConnectTimeout.
func (d *Device) Attach(ctx context.Context) (PacketServiceStatus, error) {
	return d.packetService(ctx, PacketServiceActionAttach)
}

// Detach leaves packet service.
func (d *Device) Detach(ctx context.Context) (PacketServiceStatus, error) {
	return d.packetService(ctx, PacketServiceActionDetach)
}

func (d *Device) packetService(ctx context.Context, a PacketServiceAction) (PacketServiceStatus, error) {
	ctx, cancel := withDefaultTimeout(ctx, d.o.connectTimeout)
	defer cancel()
	b, err := d.SetBody(ctx, ServiceBasicConnect, CIDPacketService, &PacketServiceSet{PacketServiceAction: a})
	if err != nil {
		return PacketServiceStatus{}, err
	}
	return PacketServiceFrom(b)
}

// Signal is SIGNAL_STATE at any version.
type Signal struct {
	Rssi                   uint32 // 0..31, 99 unknown; see RssiDBm
	ErrorRate              uint32 // 0..7, 99 unknown
	SignalStrengthInterval uint32
	RssiThreshold          uint32
	ErrorRateThreshold     uint32
	RsrpSnr                []RsrpSnrInfo // MBIMEx 2.0 and later
	Version                Version
}

// RssiDBm converts Rssi to dBm (-113 + 2·Rssi); ok is false when unknown.
func (s Signal) RssiDBm() (dbm int, ok bool) {
	if s.Rssi > 31 {
		return 0, false
	}
	return -113 + 2*int(s.Rssi), true
}

// SignalFrom normalises a SignalStateInfo or SignalStateInfoV2.
func SignalFrom(b Body) (Signal, error) {
	switch v := b.(type) {
	case *SignalStateInfo:
		return Signal{Rssi: v.Rssi, ErrorRate: v.ErrorRate, SignalStrengthInterval: v.SignalStrengthInterval,
			RssiThreshold: v.RssiThreshold, ErrorRateThreshold: v.ErrorRateThreshold, Version: MBIMEx1}, nil
	case *SignalStateInfoV2:
		return Signal{Rssi: v.Rssi, ErrorRate: v.ErrorRate, SignalStrengthInterval: v.SignalStrengthInterval,
			RssiThreshold: v.RssiThreshold, ErrorRateThreshold: v.ErrorRateThreshold,
			RsrpSnr: append([]RsrpSnrInfo(nil), v.RsrpSnr...), Version: MBIMEx2}, nil
	}
	return Signal{}, notA("SignalStateInfo", b)
}

// SignalState queries SIGNAL_STATE.
func (d *Device) SignalState(ctx context.Context) (Signal, error) {
	b, err := d.QueryBody(ctx, ServiceBasicConnect, CIDSignalState, nil)
	if err != nil {
		return Signal{}, err
	}
	return SignalFrom(b)
}

// ConnectRequest is what Connect activates. UserName and Password are
// never printed or logged: String, GoString and LogValue redact them.
type ConnectRequest struct {
	SessionID       uint32
	AccessString    string // the APN
	UserName        string
	Password        string
	Compression     Compression
	AuthProtocol    AuthProtocol
	IPType          ContextIpType
	ContextType     ContextType     // the zero value means Internet
	MediaPreference AccessMediaType // MBIMEx 3.0 only
}

func (r ConnectRequest) String() string {
	return "session=" + strconv.FormatUint(uint64(r.SessionID), 10) + " apn=" + strconv.Quote(r.AccessString) +
		" user=" + redacted(r.UserName) + " password=" + redacted(r.Password) + " auth=" + r.AuthProtocol.String() +
		" ip_type=" + r.IPType.String()
}

// GoString keeps %#v from printing the credentials.
func (r ConnectRequest) GoString() string { return "mbim.ConnectRequest{" + r.String() + "}" }

// LogValue logs the request without credentials.
func (r ConnectRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.Uint64("session", uint64(r.SessionID)), slog.String("apn", r.AccessString),
		slog.String("user", redacted(r.UserName)), slog.String("password", redacted(r.Password)),
		slog.String("auth", r.AuthProtocol.String()), slog.String("ip_type", r.IPType.String()))
}

// Connection is CONNECT's state at any version.
type Connection struct {
	SessionID       uint32
	ActivationState ActivationState
	VoiceCallState  VoiceCallState
	IPType          ContextIpType
	ContextType     ContextType
	NwError         NwError
	MediaPreference AccessMediaType // MBIMEx 3.0
	AccessString    string          // MBIMEx 3.0
	Version         Version
}

// ConnectionFrom normalises a ConnectInfo or ConnectInfoV3.
func ConnectionFrom(b Body) (Connection, error) {
	switch v := b.(type) {
	case *ConnectInfo:
		return Connection{SessionID: v.SessionId, ActivationState: v.ActivationState, VoiceCallState: v.VoiceCallState,
			IPType: v.IpType, ContextType: v.ContextType, NwError: v.NwError, Version: MBIMEx1}, nil
	case *ConnectInfoV3:
		return Connection{SessionID: v.SessionId, ActivationState: v.ActivationState, VoiceCallState: v.VoiceCallState,
			IPType: v.IpType, ContextType: v.ContextType, NwError: v.NwError, MediaPreference: v.MediaPreference,
			AccessString: v.AccessString.String(), Version: MBIMEx3}, nil
	}
	return Connection{}, notA("ConnectInfo", b)
}

// Connect activates a context (CONNECT set, activate) with the layout of
// the negotiated version: ConnectSet below 3.0, ConnectSetV3 from 3.0.
// Without a deadline in ctx it waits up to WithConnectTimeout. On a
// refusal the error is a *CommandError and the Connection, when the
// function sent one, carries the NwError.
func (d *Device) Connect(ctx context.Context, req ConnectRequest) (Connection, error) {
	return d.connect(ctx, req, ActivationCommandActivate)
}

// Disconnect deactivates a session, as libmbim does: empty strings, IP
// type default, Internet context type.
func (d *Device) Disconnect(ctx context.Context, sessionID uint32) (Connection, error) {
	return d.connect(ctx, ConnectRequest{SessionID: sessionID}, ActivationCommandDeactivate)
}

func (d *Device) connect(ctx context.Context, r ConnectRequest, cmd ActivationCommand) (Connection, error) {
	ctx, cancel := withDefaultTimeout(ctx, d.o.connectTimeout)
	defer cancel()
	ct := r.ContextType
	if ct == (ContextType{}) {
		ct = contextTypeInternet
	}
	v := d.Version()
	var req InfoAppender
	if v >= MBIMEx3 {
		req = &ConnectSetV3{SessionId: r.SessionID, ActivationCommand: cmd, Compression: r.Compression,
			AuthProtocol: r.AuthProtocol, IpType: r.IPType, ContextType: ct, MediaPreference: r.MediaPreference,
			AccessString: NewString(r.AccessString), UserName: NewString(r.UserName), Password: NewString(r.Password)}
	} else {
		req = &ConnectSet{SessionId: r.SessionID, ActivationCommand: cmd, Compression: r.Compression,
			AuthProtocol: r.AuthProtocol, IpType: r.IPType, ContextType: ct,
			AccessString: NewString(r.AccessString), UserName: NewString(r.UserName), Password: NewString(r.Password)}
	}
	return d.connectCall(ctx, CommandSet, req, v)
}

// ConnectState queries CONNECT for a session (ConnectInfo with SessionId
// below 3.0, ConnectQueryV3 from 3.0).
func (d *Device) ConnectState(ctx context.Context, sessionID uint32) (Connection, error) {
	v := d.Version()
	var req InfoAppender = &ConnectInfo{SessionId: sessionID}
	if v >= MBIMEx3 {
		req = &ConnectQueryV3{SessionId: sessionID}
	}
	return d.connectCall(ctx, CommandQuery, req, v)
}

func (d *Device) connectCall(ctx context.Context, ct CommandType, req InfoAppender, v Version) (Connection, error) {
	var resp Body = new(ConnectInfo)
	if v >= MBIMEx3 {
		resp = new(ConnectInfoV3)
	}
	decoded, err := d.typedDecoded(ctx, ServiceBasicConnect, CIDConnect, ct, req, resp)
	if !decoded {
		return Connection{}, err
	}
	c, cerr := ConnectionFrom(resp)
	if err == nil {
		err = cerr
	}
	return c, err
}

// IPConfiguration queries IP_CONFIGURATION of a session.
func (d *Device) IPConfiguration(ctx context.Context, sessionID uint32) (*IPConfigurationInfo, error) {
	r := new(IPConfigurationInfo)
	if err := d.Query(ctx, ServiceBasicConnect, CIDIpConfiguration, &IPConfigurationInfo{SessionId: sessionID}, r); err != nil {
		return nil, err
	}
	return r, nil
}

// PacketStatistics queries PACKET_STATISTICS.
func (d *Device) PacketStatistics(ctx context.Context) (PacketStatisticsInfo, error) {
	var r PacketStatisticsInfo
	err := d.Query(ctx, ServiceBasicConnect, CIDPacketStatistics, nil, &r)
	return r, err
}

// DeviceServices queries DEVICE_SERVICES: the services and CIDs the
// function supports.
func (d *Device) DeviceServices(ctx context.Context) (*DeviceServicesInfo, error) {
	r := new(DeviceServicesInfo)
	if err := d.Query(ctx, ServiceBasicConnect, CIDDeviceServices, nil, r); err != nil {
		return nil, err
	}
	return r, nil
}

// QueryVersion sends MS Basic Connect Extensions VERSION carrying want and
// returns the function's answer. It does not change Version: negotiation
// happens once, in Open.
func (d *Device) QueryVersion(ctx context.Context, want Version) (MsVersionInfo, error) {
	var r MsVersionInfo
	req := MsVersionInfo{MbimVersion: uint16(MBIMEx1), MbimExtendedVersion: uint16(want)}
	err := d.Query(ctx, ServiceMsBasicConnectExtensions, CIDMsVersion, &req, &r)
	return r, err
}

func stringsOf(in []String) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = s.String()
	}
	return out
}

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "<redacted>"
}

func notA(want string, b Body) error {
	return fmt.Errorf("mbim: %s is not a %s layout: %w", bodyName(b), want, ErrNoLayout)
}
