package handoff

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	"github.com/gowwan/wwan/mbim"
)

// The adapter from an *mbim.Device to the engine's Modem, and the
// conversion of decoded MBIM bodies (responses and indications, at the
// negotiated MBIMEx version) to engine Inputs.

// Limits of ConnectSettings, checked by Validate before anything is sent.
const (
	MaxAPNLength        = 100 // characters of an access string (3GPP TS 23.003 §9.1)
	MaxCredentialLength = 255 // characters of a user name or password (MBIM 1.0 §10.5.12)
	MinPINLength        = 4
	MaxPINLength        = 8
)

// ConnectSettings are what the Manager activates the session with, and
// enters as the SIM's PIN1 when the SIM asks for it. Password and PIN are
// secrets: String, GoString and LogValue never show them, and no error
// carries them.
type ConnectSettings struct {
	Session  uint32 // MBIM session id
	APN      string // access string; "" lets the network choose
	User     string
	Password string
	Auth     mbim.AuthProtocol  // None, PAP, CHAP or MSCHAPv2
	IPType   mbim.ContextIpType // IPV4, IPV6 or IPV4V6 (DEFAULT is taken as the modem's choice)
	PIN      string             // PIN1, entered only when the SIM is locked; "" for none
}

// Validate checks the settings without sending anything: an access string
// of at most MaxAPNLength characters, credentials of at most
// MaxCredentialLength, a known authentication protocol and IP type, and a
// PIN of 4 to 8 digits (when given).
func (c ConnectSettings) Validate() error {
	if n := utf8.RuneCountInString(c.APN); n > MaxAPNLength {
		return fmt.Errorf("handoff: APN is %d characters long, at most %d are allowed", n, MaxAPNLength)
	}
	if !utf8.ValidString(c.APN) || !utf8.ValidString(c.User) || !utf8.ValidString(c.Password) {
		return errors.New("handoff: APN, user name and password must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(c.User); n > MaxCredentialLength {
		return fmt.Errorf("handoff: user name is %d characters long, at most %d are allowed", n, MaxCredentialLength)
	}
	if n := utf8.RuneCountInString(c.Password); n > MaxCredentialLength {
		return fmt.Errorf("handoff: password is %d characters long, at most %d are allowed", n, MaxCredentialLength)
	}
	switch c.Auth {
	case mbim.AuthProtocolNone, mbim.AuthProtocolPap, mbim.AuthProtocolChap, mbim.AuthProtocolMschapv2:
	default:
		return fmt.Errorf("handoff: unknown authentication protocol %d", uint32(c.Auth))
	}
	switch c.IPType {
	case mbim.ContextIpTypeDefault, mbim.ContextIpTypeIpv4, mbim.ContextIpTypeIpv6, mbim.ContextIpTypeIpv4v6:
	default:
		return fmt.Errorf("handoff: unknown IP type %d", uint32(c.IPType))
	}
	if c.PIN != "" {
		if err := ValidatePIN(c.PIN); err != nil {
			return err
		}
	}
	return nil
}

// ValidatePIN checks that pin is 4 to 8 decimal digits. The error never
// repeats the PIN.
func ValidatePIN(pin string) error {
	if len(pin) < MinPINLength || len(pin) > MaxPINLength {
		return fmt.Errorf("handoff: PIN must be %d to %d digits, got %d characters", MinPINLength, MaxPINLength, utf8.RuneCountInString(pin))
	}
	for i := 0; i < len(pin); i++ {
		if pin[i] < '0' || pin[i] > '9' {
			return errors.New("handoff: PIN must be digits only")
		}
	}
	return nil
}

// Request is the CONNECT activation these settings ask for.
func (c ConnectSettings) Request() mbim.ConnectRequest {
	return mbim.ConnectRequest{SessionID: c.Session, AccessString: c.APN, UserName: c.User,
		Password: c.Password, AuthProtocol: c.Auth, IPType: c.IPType}
}

func (c ConnectSettings) String() string {
	return "session=" + strconv.FormatUint(uint64(c.Session), 10) + " apn=" + strconv.Quote(c.APN) +
		" user=" + secret(c.User) + " password=" + secret(c.Password) + " auth=" + c.Auth.String() +
		" ip_type=" + c.IPType.String() + " pin=" + secret(c.PIN)
}

// GoString keeps %#v from printing the secrets.
func (c ConnectSettings) GoString() string { return "handoff.ConnectSettings{" + c.String() + "}" }

// LogValue logs the settings without the secrets.
func (c ConnectSettings) LogValue() slog.Value {
	return slog.GroupValue(slog.Uint64("session", uint64(c.Session)), slog.String("apn", c.APN),
		slog.String("user", secret(c.User)), slog.String("password", secret(c.Password)),
		slog.String("auth", c.Auth.String()), slog.String("ip_type", c.IPType.String()),
		slog.String("pin", secret(c.PIN)))
}

func secret(s string) string {
	if s == "" {
		return `""`
	}
	return "<redacted>"
}

// ErrNoDevice is returned by a DeviceModem that has no open device (the
// transport is lost and not yet back).
var ErrNoDevice = fmt.Errorf("handoff: no open device: %w", mbim.ErrClosed)

// DeviceModem is the engine's Modem on an *mbim.Device: it queries
// REGISTER_STATE, PACKET_SERVICE and CONNECT for Status, activates the
// session with the stored settings for Connect, and queries
// IP_CONFIGURATION, each converted at the device's negotiated MBIMEx
// version. The device can be swapped (SetDevice) when the Manager reopens
// it; calls without one fail with ErrNoDevice. Safe for concurrent use.
type DeviceModem struct {
	dev atomic.Pointer[mbim.Device]
	req mbim.ConnectRequest
}

var _ Modem = (*DeviceModem)(nil)

// NewDeviceModem returns an adapter that connects with s (its PIN is not
// used here). Call SetDevice before the engine runs.
func NewDeviceModem(s ConnectSettings) *DeviceModem {
	return &DeviceModem{req: s.Request()}
}

// SetDevice makes the adapter use d (nil: none, calls fail with
// ErrNoDevice).
func (m *DeviceModem) SetDevice(d *mbim.Device) { m.dev.Store(d) }

// Device returns the device in use, nil when none.
func (m *DeviceModem) Device() *mbim.Device { return m.dev.Load() }

func (m *DeviceModem) device() (*mbim.Device, error) {
	if d := m.dev.Load(); d != nil {
		return d, nil
	}
	return nil, ErrNoDevice
}

// Status implements Modem. A query the modem answers with a failure
// status (the radio is off, the SIM is not ready) is taken as "not
// registered", "detached" or "deactivated", so that the engine holds and
// waits for the indications; only a transport failure or a timeout is an
// error.
func (m *DeviceModem) Status(ctx context.Context, session uint32) (ModemStatus, error) {
	d, err := m.device()
	if err != nil {
		return ModemStatus{}, err
	}
	st := ModemStatus{
		Register:      Register{State: mbim.RegisterStateDeregistered},
		PacketService: PacketService{State: mbim.PacketServiceStateDetached},
		Session:       Session{ID: session, ActivationState: mbim.ActivationStateDeactivated},
	}
	b, err := d.QueryBody(ctx, mbim.ServiceBasicConnect, mbim.CIDRegisterState, nil)
	switch {
	case refused(err):
	case err != nil:
		return ModemStatus{}, fmt.Errorf("handoff: query REGISTER_STATE: %w", err)
	default:
		if r, ok := inputAs[Register](b); ok {
			st.Register = r
		}
	}
	b, err = d.QueryBody(ctx, mbim.ServiceBasicConnect, mbim.CIDPacketService, nil)
	switch {
	case refused(err):
	case err != nil:
		return ModemStatus{}, fmt.Errorf("handoff: query PACKET_SERVICE: %w", err)
	default:
		if p, ok := inputAs[PacketService](b); ok {
			st.PacketService = p
		}
	}
	c, err := d.ConnectState(ctx, session)
	switch {
	case refused(err):
	case err != nil:
		return ModemStatus{}, fmt.Errorf("handoff: query CONNECT: %w", err)
	default:
		st.Session = Session{ID: session, ActivationState: c.ActivationState, NwError: c.NwError}
	}
	return st, nil
}

// inputAs converts b and keeps the result if it is a T.
func inputAs[T Input](b mbim.Body) (T, bool) {
	in, ok := InputFromBody(b)
	if !ok {
		var zero T
		return zero, false
	}
	v, ok := in.(T)
	return v, ok
}

// refused reports an answer with a failure status (not a transport
// failure, timeout or closed device).
func refused(err error) bool {
	var ce *mbim.CommandError
	return errors.As(err, &ce)
}

// Connect implements Modem: CONNECT activate with the stored settings. It
// returns nil only when the modem answers ACTIVATED.
func (m *DeviceModem) Connect(ctx context.Context, session uint32) error {
	d, err := m.device()
	if err != nil {
		return err
	}
	req := m.req
	req.SessionID = session
	c, err := d.Connect(ctx, req)
	if err != nil {
		if c.NwError != 0 {
			return fmt.Errorf("handoff: connect session %d: %w (network error %s)", session, err, c.NwError)
		}
		return fmt.Errorf("handoff: connect session %d: %w", session, err)
	}
	if c.ActivationState != mbim.ActivationStateActivated {
		return fmt.Errorf("handoff: connect session %d: the modem says %s (network error %s)", session, c.ActivationState, c.NwError)
	}
	return nil
}

// Disconnect deactivates the session.
func (m *DeviceModem) Disconnect(ctx context.Context, session uint32) error {
	d, err := m.device()
	if err != nil {
		return err
	}
	if _, err := d.Disconnect(ctx, session); err != nil {
		return fmt.Errorf("handoff: disconnect session %d: %w", session, err)
	}
	return nil
}

// IPConfiguration implements Modem.
func (m *DeviceModem) IPConfiguration(ctx context.Context, session uint32) (IPConfiguration, error) {
	d, err := m.device()
	if err != nil {
		return IPConfiguration{}, err
	}
	info, err := d.IPConfiguration(ctx, session)
	if err != nil {
		return IPConfiguration{}, fmt.Errorf("handoff: query IP_CONFIGURATION of session %d: %w", session, err)
	}
	return IPConfigurationFrom(info), nil
}

// InputFromBody converts a decoded PACKET_SERVICE, CONNECT,
// REGISTER_STATE or IP_CONFIGURATION body (a response or a notification,
// in the layout of any MBIMEx version) to the engine's Input. It reports
// false for any other body.
func InputFromBody(b mbim.Body) (Input, bool) {
	switch v := b.(type) {
	case *mbim.PacketServiceInfo:
		return PacketServiceFrom(*v), true
	case *mbim.PacketServiceInfoV2:
		return PacketServiceFromV2(*v), true
	case *mbim.PacketServiceInfoV3:
		return PacketServiceFromV3(*v), true
	case *mbim.ConnectInfo:
		return SessionFrom(*v), true
	case *mbim.ConnectInfoV3:
		return SessionFromV3(*v), true
	case *mbim.RegisterStateInfo:
		return RegisterFrom(*v), true
	case *mbim.RegisterStateInfoV2:
		return RegisterFromV2(*v), true
	case *mbim.IPConfigurationInfo:
		return IPConfigurationFrom(v), true
	}
	return nil, false
}

// InputFromIndication decodes an indication at the MBIMEx version it
// arrived under and converts it (see InputFromBody). It reports false,
// with a nil error, for an indication the engine does not use.
func InputFromIndication(ind mbim.Indication) (Input, bool, error) {
	if ind.Service() != mbim.ServiceBasicConnect {
		return nil, false, nil
	}
	switch ind.CID() {
	case mbim.CIDPacketService, mbim.CIDConnect, mbim.CIDRegisterState, mbim.CIDIpConfiguration:
	default:
		return nil, false, nil
	}
	b, err := ind.Decode()
	if err != nil {
		return nil, false, err
	}
	in, ok := InputFromBody(b)
	return in, ok, nil
}
