package mbimtest

import (
	"encoding/binary"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// Direction says which way a message travels.
type Direction uint8

const (
	ToHost   Direction = iota // responses, indications, errors: function to host
	FromHost                  // requests: host to function, after reassembly
)

func (d Direction) String() string {
	if d == FromHost {
		return "from-host"
	}
	return "to-host"
}

// Match selects the messages a Fault acts on. The zero Match selects every
// message sent to the host.
type Match struct {
	Dir     Direction
	Type    mbim.MessageType // 0: any type
	Service mbim.UUID        // zero: any service
	CID     uint32           // 0: any CID
	TID     uint32           // 0: any transaction
	// After lets this many matching messages through before the fault
	// starts acting; Times retires the fault after acting that many times
	// (0: never).
	After int
	Times int
}

// Fault is a deliberate misbehaviour. Each field that is set applies to
// every message the Match selects; the fields that make no sense for a
// direction are ignored there.
type Fault struct {
	Match

	// Delay holds the message back (to the host: later messages wait
	// behind it, in order; from the host: the function is busy).
	Delay time.Duration
	// Drop discards the message: the host's request is never answered, or
	// the answer is lost.
	Drop bool
	// Duplicate sends (or processes) the message this many extra times.
	Duplicate int
	// Corrupt XORs the byte at each offset (negative offsets count from
	// the end) with 0xFF; Mutate, when set, rewrites the message freely
	// (before fragmentation).
	Corrupt []int
	Mutate  func(b []byte) []byte

	// FragmentSize splits messages to the host into fragments of at most
	// this many bytes (it never exceeds the host's MaxControlTransfer;
	// at least 21). ReorderFragments sends the fragments in reverse order.
	FragmentSize     int
	ReorderFragments bool

	// FunctionError answers with FUNCTION_ERROR carrying this code: for a
	// request from the host, instead of processing it; for a COMMAND_DONE
	// to the host, in its place (the request took effect).
	FunctionError mbim.ProtocolError

	// ShortenLength makes MessageLength and InformationBufferLength this
	// many bytes too short, as in the libmbim vectors marked
	// length_fields_inconsistent; the bytes are still all sent (a stream
	// reader then sees them as the start of the next message) unless
	// Truncate drops them too.
	ShortenLength int
	Truncate      bool

	// IndicationsFirst, on an OPEN from the host, sends the modem's state
	// indications (subscriber ready status, radio, registration, packet
	// service, signal) before OPEN_DONE, as some modems do.
	IndicationsFirst bool
}

// Presets for the common faults.

// DelayResponses delays every message to the host by d.
func DelayResponses(d time.Duration) Fault { return Fault{Delay: d} }

// DropResponse loses the next response to a command of service and CID.
func DropResponse(service mbim.UUID, cid uint32) Fault {
	return Fault{Match: Match{Type: mbim.TypeCommandDone, Service: service, CID: cid, Times: 1}, Drop: true}
}

// DuplicateResponses sends every response twice.
func DuplicateResponses() Fault {
	return Fault{Match: Match{Type: mbim.TypeCommandDone}, Duplicate: 1}
}

// FragmentResponses splits every message to the host into fragments of at
// most size bytes.
func FragmentResponses(size int) Fault { return Fault{FragmentSize: size} }

// FunctionErrorFor answers every command of service and CID with
// FUNCTION_ERROR code, without processing it.
func FunctionErrorFor(service mbim.UUID, cid uint32, code mbim.ProtocolError) Fault {
	return Fault{Match: Match{Dir: FromHost, Type: mbim.TypeCommand, Service: service, CID: cid}, FunctionError: code}
}

// ShortLengths makes MessageLength and InformationBufferLength of every
// COMMAND_DONE n bytes too short, the bytes still sent.
func ShortLengths(n int) Fault {
	return Fault{Match: Match{Type: mbim.TypeCommandDone}, ShortenLength: n}
}

// IndicationsBeforeOpenDone sends the state indications before every
// OPEN_DONE.
func IndicationsBeforeOpenDone() Fault {
	return Fault{Match: Match{Dir: FromHost, Type: mbim.TypeOpen}, IndicationsFirst: true}
}

// OpenAnsweredByCloseDone answers the next OPEN with a CLOSE_DONE, as a
// Sierra EM7345 whose session a dead process left open does (quirk Q1):
// the host is expected to send CLOSE and OPEN again.
func OpenAnsweredByCloseDone() Fault {
	return Fault{Match: Match{Type: mbim.TypeOpenDone, Times: 1}, Mutate: func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b, uint32(mbim.TypeCloseDone))
		return b
	}}
}

// FaultID names an added fault.
type FaultID int

type faultEntry struct {
	id    FaultID
	f     Fault
	seen  int
	acted int
}

// AddFault adds a fault; it acts from the next message on.
func (s *Sim) AddFault(f Fault) FaultID {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextFault++
	f.Corrupt = append([]int(nil), f.Corrupt...)
	s.faults = append(s.faults, &faultEntry{id: FaultID(s.nextFault), f: f})
	return FaultID(s.nextFault)
}

// RemoveFault removes a fault; it reports whether it was there.
func (s *Sim) RemoveFault(id FaultID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.faults {
		if e.id == id {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return true
		}
	}
	return false
}

// ClearFaults removes every fault.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// FaultActed returns how many times a fault has acted.
func (s *Sim) FaultActed(id FaultID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.faults {
		if e.id == id {
			return e.acted
		}
	}
	return 0
}

// action is what the matching faults do to one message.
type action struct {
	delay            time.Duration
	drop             bool
	duplicate        int
	corrupts         []int
	mutate           []func([]byte) []byte
	fragmentSize     int
	reorder          bool
	functionError    mbim.ProtocolError
	shorten          int
	truncate         bool
	indicationsFirst bool
}

func (m *Match) matches(dir Direction, msg mbim.Message) bool {
	if m.Dir != dir || (m.Type != 0 && m.Type != msg.Type()) || (m.TID != 0 && m.TID != msg.TransactionID()) {
		return false
	}
	if m.Service != (mbim.UUID{}) && m.Service != msg.Service() {
		return false
	}
	return m.CID == 0 || m.CID == msg.CID()
}

// matchLocked combines the faults that act on msg, and counts them.
func (s *Sim) matchLocked(dir Direction, msg mbim.Message) action {
	var a action
	keep := s.faults[:0]
	for _, e := range s.faults {
		f := &e.f
		if f.matches(dir, msg) {
			e.seen++
			if e.seen > f.After {
				e.acted++
				s.counters.FaultsApplied++
				a.delay += f.Delay
				a.drop = a.drop || f.Drop
				a.duplicate += f.Duplicate
				a.corrupts = append(a.corrupts, f.Corrupt...)
				if f.Mutate != nil {
					a.mutate = append(a.mutate, f.Mutate)
				}
				if f.FragmentSize > 0 && (a.fragmentSize == 0 || f.FragmentSize < a.fragmentSize) {
					a.fragmentSize = f.FragmentSize
				}
				a.reorder = a.reorder || f.ReorderFragments
				if f.FunctionError != 0 {
					a.functionError = f.FunctionError
				}
				a.shorten += f.ShortenLength
				a.truncate = a.truncate || f.Truncate
				a.indicationsFirst = a.indicationsFirst || f.IndicationsFirst
				if f.Times > 0 && e.acted >= f.Times {
					continue // retired
				}
			}
		}
		keep = append(keep, e)
	}
	clear(s.faults[len(keep):])
	s.faults = keep
	if a.delay > 0 {
		s.counters.Delayed++
	}
	if a.duplicate > 0 {
		s.counters.Duplicated++
	}
	return a
}

// mangle applies the byte-level faults to a copy of b and returns it, and
// whether anything was changed. ShortenLength and Truncate apply only to
// messages to the host.
func (a *action) mangle(b []byte, toHost bool) ([]byte, bool) {
	if len(a.corrupts) == 0 && len(a.mutate) == 0 && (!toHost || a.shorten == 0) {
		return b, false
	}
	b = append([]byte(nil), b...)
	if toHost && a.shorten > 0 && len(b) >= 20 {
		n := uint32(a.shorten)
		ml := binary.LittleEndian.Uint32(b[4:])
		binary.LittleEndian.PutUint32(b[4:], ml-min(n, ml))
		var off int
		switch mbim.MessageType(binary.LittleEndian.Uint32(b)) {
		case mbim.TypeCommand, mbim.TypeCommandDone:
			off = 44
		case mbim.TypeIndicateStatus:
			off = 40
		}
		if off > 0 && len(b) >= off+4 {
			ibl := binary.LittleEndian.Uint32(b[off:])
			binary.LittleEndian.PutUint32(b[off:], ibl-min(n, ibl))
		}
		if a.truncate {
			b = b[:len(b)-min(a.shorten, len(b))]
		}
	}
	for _, off := range a.corrupts {
		if off < 0 {
			off += len(b)
		}
		if off >= 0 && off < len(b) {
			b[off] ^= 0xff
		}
	}
	for _, f := range a.mutate {
		b = f(b)
	}
	return b, true
}
