package metrics

// Label values. Every label this package sets comes from a closed table
// (the mbim package's service, CID, status and state names, the handoff
// package's data-class and outcome names, or one of a few words of our
// own), so a modem that sends made-up services, CIDs or status codes cannot
// grow the number of series: what no table names is "other".

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gowwan/wwan/handoff"
	"github.com/gowwan/wwan/mbim"
)

// other is the label value of anything no table names.
const other = "other"

// serviceLabel names a service by the mbim table ("BASIC_CONNECT"), or
// "other".
func serviceLabel(u mbim.UUID) string {
	if n := mbim.ServiceName(u); n != "" {
		return n
	}
	return other
}

// cidLabel names a CID of a service by the mbim table ("CONNECT"), or
// "other".
func cidLabel(service mbim.UUID, cid uint32) string {
	if n := mbim.CIDName(service, cid); n != "" {
		return n
	}
	return other
}

// transactionLabels are the service and CID labels of a transaction: OPEN
// and CLOSE belong to no service, so their service is "" and their CID is
// the message's name.
func transactionLabels(t mbim.MessageType, service mbim.UUID, cid uint32) (string, string) {
	switch t {
	case mbim.TypeCommand, 0:
		return serviceLabel(service), cidLabel(service, cid)
	case mbim.TypeOpen, mbim.TypeClose:
		return "", t.Name()
	}
	return "", other
}

// statusLabel names the MBIM status of a transaction that got one (result
// success or status), "" for the others.
func statusLabel(r mbim.Result, s mbim.Status) string {
	if r != mbim.ResultSuccess && r != mbim.ResultStatus {
		return ""
	}
	if n := s.Name(); n != "" {
		return n
	}
	return other
}

// protocolErrorLabel names a FUNCTION_ERROR code, or "other".
func protocolErrorLabel(p mbim.ProtocolError) string {
	if n := p.Name(); n != "" {
		return n
	}
	return other
}

// noDataClass is the data-class label of no data class at all.
const noDataClass = "none"

// dataClassLabels lists every value of a data_class label: the names of
// handoff.DataClassName, "none" and "other". The data-class enum gauge has
// one series per entry.
var dataClassLabels = []string{
	"5G", "5G_SA", "5G_NSA", "LTE", "HSUPA", "HSDPA", "UMTS", "EDGE", "GPRS",
	"UMB", "1XEVDO_REVB", "1XEVDV", "1XEVDO_REVA", "1XEVDO", "3XRTT", "1XRTT", "CUSTOM",
	noDataClass, other,
}

// classLabel maps a handoff.DataClassName ("LTE", "" or "0x100") to a
// label value ("LTE", "none", "other").
func classLabel(name string) string {
	switch {
	case name == "":
		return noDataClass
	case strings.HasPrefix(name, "0x"):
		return other
	}
	for _, l := range dataClassLabels {
		if l == name {
			return l
		}
	}
	return other
}

// dataClassLabel names the most advanced technology in dc.
func dataClassLabel(dc mbim.DataClass) string { return classLabel(handoff.DataClassName(dc)) }

// packetServiceClass is the data class of a PACKET_SERVICE at any
// version, as mbim.DataClass bits (MBIMEx 3.0's 5G bit mapped by its
// subclass, as the handoff engine does).
func packetServiceClass(p *mbim.PacketServiceStatus) mbim.DataClass {
	if p.Version >= mbim.MBIMEx3 {
		return handoff.DataClassFromV3(mbim.DataClassV3(p.DataClass), p.DataSubclass)
	}
	return mbim.DataClass(p.DataClass)
}

// Enumerations exported as enum gauges: every value, in the order of the
// specification, with its label.
var (
	registerStates = []mbim.RegisterState{
		mbim.RegisterStateUnknown, mbim.RegisterStateDeregistered, mbim.RegisterStateSearching,
		mbim.RegisterStateHome, mbim.RegisterStateRoaming, mbim.RegisterStatePartner, mbim.RegisterStateDenied,
	}
	packetServiceStates = []mbim.PacketServiceState{
		mbim.PacketServiceStateUnknown, mbim.PacketServiceStateAttaching, mbim.PacketServiceStateAttached,
		mbim.PacketServiceStateDetaching, mbim.PacketServiceStateDetached,
	}
	activationStates = []mbim.ActivationState{
		mbim.ActivationStateUnknown, mbim.ActivationStateActivated, mbim.ActivationStateActivating,
		mbim.ActivationStateDeactivated, mbim.ActivationStateDeactivating,
	}
	engineStates = []handoff.State{
		handoff.Idle, handoff.Starting, handoff.Connecting, handoff.Up, handoff.Checking,
		handoff.Reconnecting, handoff.Detached, handoff.Lost,
	}
	outcomes = []handoff.Outcome{handoff.Transparent, handoff.Readdressed, handoff.Reconnected, handoff.Failed}
)

// outcomeLabel names a handoff outcome, or "other".
func outcomeLabel(o handoff.Outcome) string {
	for _, k := range outcomes {
		if o == k {
			return string(o)
		}
	}
	return other
}

// maxInfoLen bounds a label value taken from the modem (firmware strings).
const maxInfoLen = 64

// infoLabel cleans a string the modem or the USB descriptors gave for use
// as a label value: valid UTF-8, no control characters, no surrounding
// blanks, at most maxInfoLen runes.
func infoLabel(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxInfoLen {
		s = string([]rune(s)[:maxInfoLen])
	}
	return s
}
