package mbim

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// TimeoutError is a transaction that got no answer before its deadline.
// It wraps context.DeadlineExceeded.
type TimeoutError struct {
	Type    MessageType // the request: TypeOpen, TypeClose or TypeCommand
	Service UUID        // for a COMMAND
	CID     uint32      // for a COMMAND
	TID     uint32
}

func (e *TimeoutError) Error() string {
	return "mbim: " + requestName(e.Type, e.Service, e.CID) + " (tid " + strconv.FormatUint(uint64(e.TID), 10) + "): timeout"
}

// Unwrap returns context.DeadlineExceeded.
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// Timeout reports true, like net.Error.
func (e *TimeoutError) Timeout() bool { return true }

// FunctionError is a FUNCTION_ERROR from the function: the answer to a
// transaction (matched by TransactionId only, whatever the request), or an
// unsolicited one reported as an Event. errors.Is(err,
// ProtocolErrorNotOpened) matches on Code.
type FunctionError struct {
	TID     uint32
	Code    ProtocolError
	Type    MessageType // the request it answered; 0 when unmatched
	Service UUID        // for a COMMAND
	CID     uint32      // for a COMMAND
}

func (e *FunctionError) Error() string {
	s := "mbim: "
	if e.Type != 0 {
		s += requestName(e.Type, e.Service, e.CID) + " "
	}
	return s + "(tid " + strconv.FormatUint(uint64(e.TID), 10) + "): function error " + e.Code.String()
}

// Unwrap returns Code.
func (e *FunctionError) Unwrap() error { return e.Code }

// LayoutError is a typed call given a body of the wrong layout for the
// service, CID, kind and negotiated MBIMEx version.
type LayoutError struct {
	Service UUID
	CID     uint32
	Kind    Kind
	Version Version
	Want    string // the layout the tables give; "" when the CID has no message of this kind
	Got     string // the layout passed
}

func (e *LayoutError) Error() string {
	name := requestName(TypeCommand, e.Service, e.CID) + " " + e.Kind.String()
	if e.Want == "" {
		return "mbim: " + name + " does not exist (got " + e.Got + ")"
	}
	return "mbim: " + name + " at MBIMEx " + e.Version.String() + " has layout " + e.Want + ", not " + e.Got
}

// Unwrap returns ErrNoLayout.
func (e *LayoutError) Unwrap() error { return ErrNoLayout }

// errUnknownState aborts an OPEN answered by a CLOSE_DONE (quirk Q1).
var errUnknownState = errors.New("mbim: function in unknown state (OPEN answered by CLOSE_DONE)")

// errOpenAttempt is one OPEN attempt that timed out (it is retried).
var errOpenAttempt = errors.New("mbim: OPEN attempt timed out")

// requestName names a request for errors: "OPEN", "BASIC_CONNECT
// DEVICE_CAPS", or the UUID and number of an unknown CID.
func requestName(t MessageType, service UUID, cid uint32) string {
	if t != TypeCommand {
		return t.String()
	}
	s := ServiceName(service)
	if s == "" {
		s = service.String()
	}
	c := CIDName(service, cid)
	if c == "" {
		c = "cid " + strconv.FormatUint(uint64(cid), 10)
	}
	return s + " " + c
}

// Direction says which way a traced message went.
type Direction uint8

const (
	DirectionIn  Direction = 1 // function to host
	DirectionOut Direction = 2 // host to function
)

func (d Direction) String() string {
	switch d {
	case DirectionIn:
		return "in"
	case DirectionOut:
		return "out"
	}
	return "direction?"
}

// EventKind says what an Event reports.
type EventKind uint8

const (
	// EventFunctionError: a FUNCTION_ERROR that matched no pending
	// transaction (Err is a *FunctionError). NOT_OPENED also starts a
	// recovery.
	EventFunctionError EventKind = iota + 1
	// EventMalformedStream: input that is not MBIM was discarded
	// (Discarded bytes; Err is the *ParseError, quirk Q5).
	EventMalformedStream
	// EventFragmentError: a fragmented message could not be reassembled;
	// a HOST_ERROR was sent for TID (Err is a *FragmentError).
	EventFragmentError
	// EventRecovered: the session was re-opened after NOT_OPENED
	// (Version is the negotiated version, Duration how long it took).
	EventRecovered
	// EventRecoveryFailed: a re-open failed (Err says why).
	EventRecoveryFailed
	// EventTransportLost: the transport failed; the Device has stopped.
	EventTransportLost
)

func (k EventKind) String() string {
	switch k {
	case EventFunctionError:
		return "function-error"
	case EventMalformedStream:
		return "malformed-stream"
	case EventFragmentError:
		return "fragment-error"
	case EventRecovered:
		return "recovered"
	case EventRecoveryFailed:
		return "recovery-failed"
	case EventTransportLost:
		return "transport-lost"
	}
	return "event?"
}

// Event is something that happened outside any call (WithEventHandler).
type Event struct {
	Kind      EventKind
	Time      time.Time
	TID       uint32
	Err       error
	Discarded int           // EventMalformedStream: bytes dropped
	Version   Version       // EventRecovered
	Duration  time.Duration // EventRecovered, EventRecoveryFailed
}

func (e Event) String() string {
	s := "mbim: " + e.Kind.String()
	if e.TID != 0 {
		s += " tid " + strconv.FormatUint(uint64(e.TID), 10)
	}
	if e.Err != nil {
		s += ": " + trimPrefix(e.Err.Error())
	}
	return s
}
