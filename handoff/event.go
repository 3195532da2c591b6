package handoff

import (
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// EventType says what an Event reports.
type EventType string

const (
	// EventPacketService: the packet service (state, data class, speeds),
	// as reported by the modem or restated as a step of a handoff.
	EventPacketService EventType = "packet-service"
	// EventSession: the session's activation state.
	EventSession EventType = "session"
	// EventLink: the link signalled down or up on the host.
	EventLink EventType = "link"
	// EventConfig: the IP configuration the host is now consistent with.
	EventConfig EventType = "config"
	// EventHandoff: the end of a handoff, with its outcome and steps.
	EventHandoff EventType = "handoff"
)

// Outcome is how a handoff ended.
type Outcome string

const (
	// Transparent: the data class changed, the IP configuration did not;
	// nothing on the host was touched.
	Transparent Outcome = "transparent"
	// Readdressed: the configuration changed; the host followed it in the
	// seed's order.
	Readdressed Outcome = "readdressed"
	// Reconnected: the session was dropped and connected again (with the
	// address steps when the address changed).
	Reconnected Outcome = "reconnected"
	// Failed: no reconnect within the retry budget, or the host refused a
	// change. The engine keeps trying.
	Failed Outcome = "failed"
)

// Event is what the engine reports to its sinks. Which fields are set
// depends on Type; Time, Type, Interface and Session always are, and so
// are the route metric and table and the DHCP mode of the engine.
type Event struct {
	Time      time.Time
	Type      EventType
	Interface string
	Session   uint32

	// packet-service
	PacketService PacketService
	// session
	ActivationState mbim.ActivationState
	NwError         mbim.NwError
	// link
	LinkUp bool

	// handoff: From and To name the data classes (DataClassName), Duration
	// runs from the input that started the handoff to the host being
	// consistent, Steps lists what was done in the seed's order, Old and
	// New are the configurations before and after. A config event carries
	// its configuration in New.
	From, To string
	Outcome  Outcome
	Duration time.Duration
	Steps    []string
	Old, New Config
	Reason   string

	DHCP        bool
	RouteMetric uint32
	RouteTable  uint32
}

// The JSON shapes. A handoff event is exactly the contract's object
// (handoff-contract.md); the other types carry "event" with their type.
type (
	handoffJSON struct {
		Time     string      `json:"time"`
		Session  uint32      `json:"session"`
		From     string      `json:"from"`
		To       string      `json:"to"`
		Outcome  Outcome     `json:"outcome"`
		Duration jsonSeconds `json:"duration_seconds"`
		Steps    []string    `json:"steps"`
		Old      addressJSON `json:"old"`
		New      addressJSON `json:"new"`
		Reason   string      `json:"reason"`
	}
	addressJSON struct {
		IPv4 []netip.Prefix `json:"ipv4,omitempty"`
		IPv6 []netip.Prefix `json:"ipv6,omitempty"`
	}
	packetServiceJSON struct {
		Time      string    `json:"time"`
		Event     EventType `json:"event"`
		Session   uint32    `json:"session"`
		State     string    `json:"state"`
		DataClass string    `json:"data_class"`
		Uplink    uint64    `json:"uplink_bps"`
		Downlink  uint64    `json:"downlink_bps"`
		NwError   string    `json:"nw_error"`
	}
	sessionJSON struct {
		Time            string    `json:"time"`
		Event           EventType `json:"event"`
		Session         uint32    `json:"session"`
		ActivationState string    `json:"activation_state"`
		NwError         string    `json:"nw_error"`
	}
	linkJSON struct {
		Time    string    `json:"time"`
		Event   EventType `json:"event"`
		Session uint32    `json:"session"`
		Link    string    `json:"link"`
	}
	configJSON struct {
		Time     string         `json:"time"`
		Event    EventType      `json:"event"`
		Session  uint32         `json:"session"`
		IPv4     []netip.Prefix `json:"ipv4"`
		IPv6     []netip.Prefix `json:"ipv6"`
		Gateway4 netip.Addr     `json:"gateway4,omitzero"`
		Gateway6 netip.Addr     `json:"gateway6,omitzero"`
		DNS      []netip.Addr   `json:"dns"`
		MTU      int            `json:"mtu"`
	}
)

// seconds prints a duration in seconds without an exponent.
type jsonSeconds time.Duration

func (s jsonSeconds) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, time.Duration(s).Seconds(), 'f', -1, 64), nil
}

// jsonTime is the contract's time: UTC, milliseconds.
func jsonTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// MarshalJSON writes a handoff event exactly as handoff-contract.md shows
// it: {"time","session","from","to","outcome","duration_seconds","steps",
// "old":{"ipv4","ipv6"},"new":{...},"reason"}, a family left out when it
// has no address. Other events are objects with "time", "event", "session"
// and their own fields.
func (e Event) MarshalJSON() ([]byte, error) {
	t := jsonTime(e.Time)
	switch e.Type {
	case EventHandoff:
		steps := e.Steps
		if steps == nil {
			steps = []string{}
		}
		return json.Marshal(handoffJSON{Time: t, Session: e.Session, From: e.From, To: e.To,
			Outcome: e.Outcome, Duration: jsonSeconds(e.Duration), Steps: steps,
			Old:    addressJSON{e.Old.IPv4, e.Old.IPv6},
			New:    addressJSON{e.New.IPv4, e.New.IPv6},
			Reason: e.Reason})
	case EventPacketService:
		p := e.PacketService
		return json.Marshal(packetServiceJSON{Time: t, Event: e.Type, Session: e.Session,
			State: p.State.String(), DataClass: p.Class(), Uplink: p.Uplink, Downlink: p.Downlink,
			NwError: p.NwError.String()})
	case EventSession:
		return json.Marshal(sessionJSON{Time: t, Event: e.Type, Session: e.Session,
			ActivationState: e.ActivationState.String(), NwError: e.NwError.String()})
	case EventLink:
		return json.Marshal(linkJSON{Time: t, Event: e.Type, Session: e.Session, Link: upDown(e.LinkUp)})
	default:
		c := e.New
		return json.Marshal(configJSON{Time: t, Event: e.Type, Session: e.Session,
			IPv4: nonNil(c.IPv4), IPv6: nonNil(c.IPv6), Gateway4: c.Gateway4, Gateway6: c.Gateway6,
			DNS: nonNil(c.DNS), MTU: c.MTU})
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// Env returns the event as environment variables for a hook, "NAME=value":
//
//	WWAN_EVENT      the type: handoff, packet-service, session, link, config
//	WWAN_TIME       as in the JSON
//	WWAN_IFACE      the interface
//	WWAN_SESSION    the MBIM session id
//	WWAN_DHCP       1 in DHCP mode, else 0
//	WWAN_ROUTE_METRIC, WWAN_ROUTE_TABLE
//
// handoff and config (the configuration after the event):
//
//	WWAN_IPV4, WWAN_IPV6     addresses "a/len", separated by spaces
//	WWAN_GATEWAY4, WWAN_GATEWAY6, WWAN_DNS (spaces), WWAN_MTU
//
// handoff:
//
//	WWAN_OUTCOME    transparent, readdressed, reconnected or failed
//	WWAN_FROM, WWAN_TO   data class names
//	WWAN_DURATION   seconds
//	WWAN_STEPS      the steps, one per line
//	WWAN_OLD_IPV4, WWAN_OLD_IPV6
//	WWAN_REASON     why it failed ("" otherwise)
//
// packet-service: WWAN_STATE, WWAN_DATA_CLASS, WWAN_UPLINK, WWAN_DOWNLINK
// (bit/s), WWAN_NW_ERROR. session: WWAN_ACTIVATION_STATE, WWAN_NW_ERROR.
// link: WWAN_LINK (up or down).
func (e Event) Env() []string {
	env := []string{
		"WWAN_EVENT=" + string(e.Type),
		"WWAN_TIME=" + jsonTime(e.Time),
		"WWAN_IFACE=" + e.Interface,
		"WWAN_SESSION=" + strconv.FormatUint(uint64(e.Session), 10),
		"WWAN_DHCP=" + boolNum(e.DHCP),
		"WWAN_ROUTE_METRIC=" + strconv.FormatUint(uint64(e.RouteMetric), 10),
		"WWAN_ROUTE_TABLE=" + strconv.FormatUint(uint64(e.RouteTable), 10),
	}
	switch e.Type {
	case EventHandoff:
		env = append(env,
			"WWAN_OUTCOME="+string(e.Outcome),
			"WWAN_FROM="+e.From,
			"WWAN_TO="+e.To,
			"WWAN_DURATION="+strconv.FormatFloat(e.Duration.Seconds(), 'f', -1, 64),
			"WWAN_STEPS="+strings.Join(e.Steps, "\n"),
			"WWAN_OLD_IPV4="+joinText(e.Old.IPv4),
			"WWAN_OLD_IPV6="+joinText(e.Old.IPv6),
			"WWAN_REASON="+e.Reason)
		env = appendConfigEnv(env, e.New)
	case EventConfig:
		env = appendConfigEnv(env, e.New)
	case EventPacketService:
		p := e.PacketService
		env = append(env,
			"WWAN_STATE="+p.State.String(),
			"WWAN_DATA_CLASS="+p.Class(),
			"WWAN_UPLINK="+strconv.FormatUint(p.Uplink, 10),
			"WWAN_DOWNLINK="+strconv.FormatUint(p.Downlink, 10),
			"WWAN_NW_ERROR="+p.NwError.String())
	case EventSession:
		env = append(env,
			"WWAN_ACTIVATION_STATE="+e.ActivationState.String(),
			"WWAN_NW_ERROR="+e.NwError.String())
	case EventLink:
		env = append(env, "WWAN_LINK="+upDown(e.LinkUp))
	}
	return env
}

func appendConfigEnv(env []string, c Config) []string {
	return append(env,
		"WWAN_IPV4="+joinText(c.IPv4),
		"WWAN_IPV6="+joinText(c.IPv6),
		"WWAN_GATEWAY4="+addrText(c.Gateway4),
		"WWAN_GATEWAY6="+addrText(c.Gateway6),
		"WWAN_DNS="+joinText(c.DNS),
		"WWAN_MTU="+strconv.Itoa(c.MTU))
}

func joinText[T interface{ String() string }](s []T) string {
	var b strings.Builder
	for i, v := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(v.String())
	}
	return b.String()
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func boolNum(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
