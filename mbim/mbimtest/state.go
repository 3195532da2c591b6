package mbimtest

import (
	"net/netip"
	"strings"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// DeviceInfo is what the function says about itself: DEVICE_CAPS (Basic
// Connect and MS Basic Connect Extensions), MS firmware id and the QMI DMS
// identity.
type DeviceInfo struct {
	DeviceType      mbim.DeviceType
	CellularClass   mbim.CellularClass
	VoiceClass      mbim.VoiceClass
	SimClass        mbim.SimClass
	DataClasses     mbim.DataClass // every data class the radio supports
	SmsCaps         mbim.SmsCaps
	ControlCaps     mbim.CtrlCaps
	MaxSessions     uint32 // at least 1
	CustomDataClass string
	DeviceID        string // IMEI
	Firmware        string
	Hardware        string
	Manufacturer    string // QMI DMS only
	Model           string // QMI DMS only
	FirmwareID      mbim.UUID
	WcdmaBandClass  uint32
	LteBands        []uint16
	NrBands         []uint16
	ModemID         uint64
}

// DefaultDevice is the device New starts with: a removable multi-mode
// (GSM and CDMA) modem with every data class from GPRS to 5G SA and 1xRTT
// to EV-DO Rev. A, four IP sessions, and a test IMEI.
func DefaultDevice() DeviceInfo {
	return DeviceInfo{
		DeviceType:    mbim.DeviceTypeRemovable,
		CellularClass: mbim.CellularClassGsm | mbim.CellularClassCdma,
		VoiceClass:    mbim.VoiceClassNoVoice,
		SimClass:      mbim.SimClassRemovable,
		DataClasses: mbim.DataClassGprs | mbim.DataClassEdge | mbim.DataClassUmts | mbim.DataClassHsdpa |
			mbim.DataClassHsupa | mbim.DataClassLte | mbim.DataClass5gNsa | mbim.DataClass5gSa |
			mbim.DataClass1xrtt | mbim.DataClass1xevdo | mbim.DataClass1xevdoReva,
		SmsCaps:        mbim.SmsCapsPduReceive | mbim.SmsCapsPduSend,
		ControlCaps:    mbim.CtrlCapsRegManual | mbim.CtrlCapsHwRadioSwitch,
		MaxSessions:    4,
		DeviceID:       "359072060000003",
		Firmware:       "MBIMTEST_01.02.03",
		Hardware:       "mbimtest-sim rev 1",
		Manufacturer:   "gowwan",
		Model:          "mbimtest simulated modem",
		FirmwareID:     mbim.MustParseUUID("6f2c8e60-8b2a-4a6e-9d55-57a1f0c0ffee"),
		WcdmaBandClass: 0x1 | 0x10 | 0x80, // bands I, V, VIII
		LteBands:       []uint16{1, 3, 7, 8, 20, 28},
		NrBands:        []uint16{78},
		ModemID:        0x6d62696d74657374,
	}
}

// SIMConfig is the card in the slot.
type SIMConfig struct {
	Absent     bool // no card: SIM_NOT_INSERTED
	IMSI       string
	ICCID      string
	Numbers    []string // MSISDNs
	PIN        string   // PIN1
	PUK        string   // PUK1
	PINEnabled bool     // PIN1 must be entered after power-on
}

// DefaultSIM is the SIM New starts with: a test-network card (MCC 001,
// MNC 01) with PIN1 "1234" disabled and PUK1 "12345678".
func DefaultSIM() SIMConfig {
	return SIMConfig{
		IMSI:    "001010123456789",
		ICCID:   "89001012012341234014",
		Numbers: []string{"+15555550100"},
		PIN:     "1234",
		PUK:     "12345678",
	}
}

// Lock is where the PIN1/PUK1 state machine is.
type Lock uint8

const (
	Unlocked    Lock = iota // no code needed
	PINRequired             // PIN1 must be entered
	PUKRequired             // PIN1 blocked after three wrong PINs: PUK1 and a new PIN1 needed
	Blocked                 // ten wrong PUKs: the card is dead (BAD_SIM)
)

func (l Lock) String() string {
	switch l {
	case Unlocked:
		return "unlocked"
	case PINRequired:
		return "pin-required"
	case PUKRequired:
		return "puk-required"
	case Blocked:
		return "blocked"
	}
	return "lock?"
}

// Attempts before PIN1 blocks and before the card is dead.
const (
	PINAttempts = 3
	PUKAttempts = 10
)

// SIMStatus is the SIM as the model sees it.
type SIMStatus struct {
	SIMConfig
	Ready       mbim.SubscriberReadyState
	Lock        Lock
	PINAttempts int // remaining
	PUKAttempts int // remaining
}

// Provider is a network operator (MbimProvider).
type Provider struct {
	ID            string // MCC+MNC
	Name          string
	State         mbim.ProviderState // extra flags; HOME, VISIBLE and REGISTERED are added as they apply
	CellularClass mbim.CellularClass // 0: GSM
}

// Network is the radio network around the modem.
type Network struct {
	Home      Provider
	Visible   []Provider // what a scan finds, the home network included
	Preferred []Provider // PREFERRED_PROVIDERS, settable by the host

	// RegisterState is where the network puts a modem whose radio is on
	// and whose SIM is ready: HOME by default; ROAMING, PARTNER,
	// SEARCHING, DENIED or DEREGISTERED on demand.
	RegisterState mbim.RegisterState
	NwError       mbim.NwError // reject cause with DENIED or DEREGISTERED
	RoamingText   string

	// DataClass is the one data class of the serving cell. The packet
	// service runs at it and REGISTER_STATE's AvailableDataClasses is it.
	DataClass mbim.DataClass

	// ManualAttach keeps the packet service detached after registration
	// until the host attaches (modems attach by themselves by default).
	ManualAttach bool

	// Serving cell identity (TAI of PACKET_SERVICE v3, LOCATION_INFO).
	MCC, MNC uint16
	LAC, TAC uint32
	CellID   uint32
}

// DefaultNetwork is the network New starts with: home network "00101"
// (MBIM Test Network) on LTE, and two more visible networks.
func DefaultNetwork() Network {
	return Network{
		Home: Provider{ID: "00101", Name: "MBIM Test Network"},
		Visible: []Provider{
			{ID: "00101", Name: "MBIM Test Network"},
			{ID: "00102", Name: "MBIM Partner Network"},
			{ID: "00103", Name: "MBIM Forbidden Network", State: mbim.ProviderStateForbidden},
		},
		RegisterState: mbim.RegisterStateHome,
		DataClass:     mbim.DataClassLte,
		MCC:           1,
		MNC:           1,
		LAC:           0x1001,
		TAC:           0x2002,
		CellID:        0x0abc0101,
	}
}

// Registration is REGISTER_STATE as the host sees it.
type Registration struct {
	State                mbim.RegisterState
	Mode                 mbim.RegisterMode
	NwError              mbim.NwError
	AvailableDataClasses mbim.DataClass
	CellularClass        mbim.CellularClass
	ProviderID           string
	ProviderName         string
	RoamingText          string
	Flags                mbim.RegistrationFlag
	PreferredDataClasses mbim.DataClass
}

// PacketService is PACKET_SERVICE as the host sees it.
type PacketService struct {
	State          mbim.PacketServiceState
	NwError        mbim.NwError
	DataClass      mbim.DataClass // the current (highest available) class; 0 when detached
	Uplink         uint64         // bit/s
	Downlink       uint64         // bit/s
	FrequencyRange mbim.FrequencyRange
}

// Signal is SIGNAL_STATE. RSSI is 0..31 (dBm = -113 + 2·RSSI) or 99,
// ErrorRate 0..7 or 99; RSRP 0..126 (dBm = -157 + RSRP) or 127 and SNR
// 0..127 (dB = -23.5 + SNR/2) or 128 go in the MBIMEx 2.0 list when the
// data class is LTE or 5G.
type Signal struct {
	RSSI      uint32
	ErrorRate uint32
	RSRP      uint32
	SNR       uint32

	// Set by the host (SIGNAL_STATE set); read-only here.
	Interval           uint32
	RSSIThreshold      uint32
	ErrorRateThreshold uint32
}

// DefaultSignal is a good LTE signal: -73 dBm, RSRP -97 dBm, SNR 13 dB.
func DefaultSignal() Signal {
	return Signal{RSSI: 20, ErrorRate: 0, RSRP: 60, SNR: 73}
}

// APN is an access point name the network accepts.
type APN struct {
	Name     string // compared without case; "" never matches (an empty access string selects the first APN)
	User     string // when set, User, Password and Auth must match
	Password string
	Auth     mbim.AuthProtocol
	// IPTypes is what the network grants: IPV4, IPV6 or IPV4V6 (the
	// default). A request for a family the APN lacks fails with
	// PDP_TYPE_IPV4_ONLY_ALLOWED or PDP_TYPE_IPV6_ONLY_ALLOWED; a
	// dual-stack request is granted the family there is.
	IPTypes mbim.ContextIpType
	// Reject, when set, fails every activation with this cause.
	Reject mbim.NwError
}

// DefaultAPNs accepts "internet" (dual stack, no credentials) and "ims".
func DefaultAPNs() []APN {
	return []APN{
		{Name: "internet", IPTypes: mbim.ContextIpTypeIpv4v6},
		{Name: "ims", IPTypes: mbim.ContextIpTypeIpv6},
	}
}

// IPConfig is the IP configuration of one data session. An invalid prefix
// means the family is not configured.
type IPConfig struct {
	IPv4        netip.Prefix
	IPv4Gateway netip.Addr
	IPv4DNS     []netip.Addr
	IPv4MTU     uint32
	IPv6        netip.Prefix
	IPv6Gateway netip.Addr
	IPv6DNS     []netip.Addr
	IPv6MTU     uint32
}

func (c IPConfig) clone() IPConfig {
	c.IPv4DNS = append([]netip.Addr(nil), c.IPv4DNS...)
	c.IPv6DNS = append([]netip.Addr(nil), c.IPv6DNS...)
	return c
}

// family keeps only what the granted IP type allows.
func (c IPConfig) family(t mbim.ContextIpType) IPConfig {
	if !hasV4(t) {
		c.IPv4, c.IPv4Gateway, c.IPv4DNS, c.IPv4MTU = netip.Prefix{}, netip.Addr{}, nil, 0
	}
	if !hasV6(t) {
		c.IPv6, c.IPv6Gateway, c.IPv6DNS, c.IPv6MTU = netip.Prefix{}, netip.Addr{}, nil, 0
	}
	return c
}

func hasV4(t mbim.ContextIpType) bool {
	return t == mbim.ContextIpTypeIpv4 || t == mbim.ContextIpTypeIpv4v6 || t == mbim.ContextIpTypeIpv4AndIpv6
}

func hasV6(t mbim.ContextIpType) bool {
	return t == mbim.ContextIpTypeIpv6 || t == mbim.ContextIpTypeIpv4v6 || t == mbim.ContextIpTypeIpv4AndIpv6
}

// DefaultAddressPlan gives every (session, generation) its own addresses
// from the documentation prefixes, so that a test can tell that an address
// changed: IPv4 198.51.100.(4k+2)/30 with gateway .(4k+1), where k = 16·session
// + generation mod 16; IPv6 2001:db8:session:generation::2/64 with gateway
// ::1; DNS 192.0.2.53 and .54, 2001:db8:53::53 and ::54; MTU 1500.
func DefaultAddressPlan(session uint32, generation int) IPConfig {
	k := byte((int(session)%4)*16 + generation%16)
	v6 := func(last byte) netip.Addr {
		var a [16]byte
		a[0], a[1], a[2], a[3] = 0x20, 0x01, 0x0d, 0xb8
		a[4], a[5] = byte(session>>8), byte(session)
		a[6], a[7] = byte(generation>>8), byte(generation)
		a[15] = last
		return netip.AddrFrom16(a)
	}
	return IPConfig{
		IPv4:        netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, 4*k + 2}), 30),
		IPv4Gateway: netip.AddrFrom4([4]byte{198, 51, 100, 4*k + 1}),
		IPv4DNS:     []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("192.0.2.54")},
		IPv4MTU:     1500,
		IPv6:        netip.PrefixFrom(v6(2), 64),
		IPv6Gateway: v6(1),
		IPv6DNS:     []netip.Addr{netip.MustParseAddr("2001:db8:53::53"), netip.MustParseAddr("2001:db8:53::54")},
		IPv6MTU:     1500,
	}
}

// Session is one data session (CONNECT) as the host sees it.
type Session struct {
	ID          uint32
	State       mbim.ActivationState // ACTIVATED or DEACTIVATED
	NwError     mbim.NwError         // cause of the last failure or drop
	APN         string
	IPType      mbim.ContextIpType // granted
	ContextType mbim.ContextType
	IP          IPConfig // valid while activated
	Generation  int      // bumped by every drop, reset and address change
}

// ProvisionedContext is one entry of Basic Connect PROVISIONED_CONTEXTS.
type ProvisionedContext struct {
	ID          uint32
	ContextType mbim.ContextType
	APN         string
	User        string
	Password    string
	Compression mbim.Compression
	Auth        mbim.AuthProtocol
}

// PacketFilter is one IP packet filter of a session.
type PacketFilter struct {
	Filter []byte
	Mask   []byte
	ID     uint32 // MBIMEx 3.0 only
}

// Context types the model uses.
var (
	ContextInternet = mbim.ContextType(mbim.MustParseUUID("7e5e2a7e-4e6f-7272-736b-656e7e5e2a7e"))
	ContextNone     = mbim.ContextType(mbim.MustParseUUID("b43f758c-a560-4b46-b35e-c5869641fb54"))
)

// Tours of the data classes, in the order a modem climbs them.
var (
	Tour3GPP  = []mbim.DataClass{mbim.DataClassGprs, mbim.DataClassEdge, mbim.DataClassUmts, mbim.DataClassHsdpa, mbim.DataClassLte, mbim.DataClass5gNsa, mbim.DataClass5gSa}
	Tour3GPP2 = []mbim.DataClass{mbim.DataClass1xrtt, mbim.DataClass1xevdo, mbim.DataClass1xevdoReva}
)

// Data class helpers.

// classOrder ranks data classes from best to worst; highest picks the
// first one set.
var classOrder = []mbim.DataClass{
	mbim.DataClass5gSa, mbim.DataClass5gNsa, mbim.DataClassLte, mbim.DataClassHsupa, mbim.DataClassHsdpa,
	mbim.DataClassUmts, mbim.DataClassEdge, mbim.DataClassGprs,
	mbim.DataClassUmb, mbim.DataClass1xevdoRevb, mbim.DataClass1xevdv, mbim.DataClass1xevdoReva,
	mbim.DataClass1xevdo, mbim.DataClass3xrtt, mbim.DataClass1xrtt, mbim.DataClassCustom,
}

func highest(c mbim.DataClass) mbim.DataClass {
	for _, d := range classOrder {
		if c&d != 0 {
			return d
		}
	}
	return 0
}

// speeds returns plausible peak (uplink, downlink) rates in bit/s.
func speeds(c mbim.DataClass) (up, down uint64) {
	switch c {
	case mbim.DataClassGprs:
		return 42_800, 85_600
	case mbim.DataClassEdge:
		return 118_400, 236_800
	case mbim.DataClassUmts:
		return 384_000, 384_000
	case mbim.DataClassHsdpa:
		return 384_000, 14_400_000
	case mbim.DataClassHsupa:
		return 5_760_000, 14_400_000
	case mbim.DataClassLte:
		return 50_000_000, 150_000_000
	case mbim.DataClass5gNsa:
		return 100_000_000, 1_000_000_000
	case mbim.DataClass5gSa:
		return 200_000_000, 2_000_000_000
	case mbim.DataClass1xrtt:
		return 153_600, 153_600
	case mbim.DataClass1xevdo:
		return 153_600, 2_457_600
	case mbim.DataClass1xevdoReva:
		return 1_800_000, 3_100_000
	case mbim.DataClass1xevdv:
		return 307_200, 3_100_000
	case mbim.DataClass3xrtt:
		return 460_800, 460_800
	case mbim.DataClass1xevdoRevb:
		return 5_400_000, 14_700_000
	case mbim.DataClassUmb:
		return 75_000_000, 280_000_000
	case 0:
		return 0, 0
	}
	return 1_000_000, 1_000_000
}

const classes3GPP2 = mbim.DataClass1xrtt | mbim.DataClass1xevdo | mbim.DataClass1xevdoReva |
	mbim.DataClass1xevdv | mbim.DataClass3xrtt | mbim.DataClass1xevdoRevb | mbim.DataClassUmb

func cellularClassOf(c mbim.DataClass) mbim.CellularClass {
	if c&classes3GPP2 != 0 {
		return mbim.CellularClassCdma
	}
	return mbim.CellularClassGsm
}

func is5G(c mbim.DataClass) bool { return c&(mbim.DataClass5gNsa|mbim.DataClass5gSa) != 0 }

// hasRsrp reports whether the class reports RSRP and SNR (LTE and NR).
func hasRsrp(c mbim.DataClass) bool {
	return c&(mbim.DataClassLte|mbim.DataClass5gNsa|mbim.DataClass5gSa) != 0
}

func frequencyRange(c mbim.DataClass) mbim.FrequencyRange {
	if is5G(c) {
		return mbim.FrequencyRangeRange1
	}
	return 0
}

// classV3 converts to the MBIMEx 3.0 data class, which has one bit for 5G
// and says which 5G in the subclass.
func classV3(c mbim.DataClass) (mbim.DataClassV3, mbim.DataSubclass) {
	var sub mbim.DataSubclass
	if c&mbim.DataClass5gNsa != 0 {
		sub |= mbim.DataSubclass5gEndc
	}
	if c&mbim.DataClass5gSa != 0 {
		sub |= mbim.DataSubclass5gNr
	}
	v := mbim.DataClassV3(c &^ (mbim.DataClass5gNsa | mbim.DataClass5gSa))
	if sub != 0 {
		v |= mbim.DataClassV35g
	}
	return v, sub
}

func sameAPN(a, b string) bool { return strings.EqualFold(a, b) }

// stats is PACKET_STATISTICS: traffic accrues while a session is up.
type stats struct {
	connected time.Duration // time with at least one session up, before since
	since     time.Time     // start of the current accrual; zero when no session is up
	queries   uint64        // each query while connected adds a packet each way (the query's own keep-alive)
}

// Traffic rates used while connected (per second).
const (
	inPacketsPerSecond  = 200
	outPacketsPerSecond = 120
	inPacketSize        = 1200
	outPacketSize       = 400
)
