package mbim

// Counters for a metrics collector: cheap atomics and two small maps, no
// allocation on the success path once a (service, CID, outcome) has been
// seen.

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Result classifies the outcome of a transaction.
type Result uint8

const (
	ResultSuccess       Result = iota // *_DONE with SUCCESS
	ResultStatus                      // COMMAND_DONE or OPEN_DONE with another status (Status says which)
	ResultTimeout                     // no answer in time
	ResultFunctionError               // FUNCTION_ERROR
	ResultFragmentError               // the answer could not be reassembled
	ResultCanceled                    // the caller's context was cancelled
	ResultClosed                      // the Device or its transport closed
	ResultError                       // anything else (a write or encoding error, a malformed answer)
)

func (r Result) String() string {
	switch r {
	case ResultSuccess:
		return "success"
	case ResultStatus:
		return "status"
	case ResultTimeout:
		return "timeout"
	case ResultFunctionError:
		return "function_error"
	case ResultFragmentError:
		return "fragment_error"
	case ResultCanceled:
		return "canceled"
	case ResultClosed:
		return "closed"
	case ResultError:
		return "error"
	}
	return "result?"
}

// TransactionInfo describes one finished transaction (WithObserver).
type TransactionInfo struct {
	Type        MessageType // TypeOpen, TypeClose or TypeCommand
	Service     UUID
	CID         uint32
	CommandType CommandType
	TID         uint32 // 0 when none was allocated
	Result      Result
	Status      Status // for ResultSuccess and ResultStatus
	Err         error
	Latency     time.Duration
}

// TransactionCount is the number of transactions with one outcome.
type TransactionCount struct {
	Type    MessageType
	Service UUID
	CID     uint32
	Result  Result
	Status  Status
	Count   uint64
}

// IndicationCount is the number of indications of one service and CID.
type IndicationCount struct {
	Service UUID
	CID     uint32
	Count   uint64
}

// Stats is a snapshot of the Device's counters (all since Open).
type Stats struct {
	MessagesSent, MessagesReceived   uint64 // wire messages and fragments
	BytesSent, BytesReceived         uint64
	FragmentsSent, FragmentsReceived uint64 // fragments of multi-fragment messages
	Timeouts                         uint64
	ConsecutiveTimeouts              uint32
	ProtocolErrors                   map[ProtocolError]uint64 // FUNCTION_ERRORs received, by code
	UnmatchedFunctionErrors          uint64
	HostErrorsSent                   uint64
	FragmentErrors                   uint64
	MalformedStreams                 uint64 // times input was discarded
	DiscardedBytes                   uint64
	UnmatchedReplies                 uint64 // *_DONE with no pending transaction
	IgnoredMessages                  uint64 // host-originated types received
	Indications                      []IndicationCount
	DroppedIndications               uint64
	Recoveries, RecoveryFailures     uint64
	Transactions                     []TransactionCount
}

type txnKey struct {
	typ     MessageType
	service UUID
	cid     uint32
	result  Result
	status  Status
}

type indKey struct {
	service UUID
	cid     uint32
}

type deviceStats struct {
	messagesSent, messagesReceived   atomic.Uint64
	bytesSent, bytesReceived         atomic.Uint64
	fragmentsSent, fragmentsReceived atomic.Uint64
	timeouts                         atomic.Uint64
	unmatchedFunctionErrors          atomic.Uint64
	hostErrorsSent, fragmentErrors   atomic.Uint64
	malformedStreams, discardedBytes atomic.Uint64
	unmatched, ignored               atomic.Uint64
	droppedIndications               atomic.Uint64
	recoveries, recoveryFailures     atomic.Uint64

	mu             sync.Mutex
	txns           map[txnKey]uint64
	inds           map[indKey]uint64
	protocolErrors map[ProtocolError]uint64
}

func (s *deviceStats) init() {
	s.txns = make(map[txnKey]uint64)
	s.inds = make(map[indKey]uint64)
	s.protocolErrors = make(map[ProtocolError]uint64)
}

func (s *deviceStats) countIndication(service UUID, cid uint32) {
	s.mu.Lock()
	s.inds[indKey{service, cid}]++
	s.mu.Unlock()
}

func (s *deviceStats) countProtocolError(code ProtocolError) {
	s.mu.Lock()
	s.protocolErrors[code]++
	s.mu.Unlock()
}

// observe counts a finished transaction and calls the observer.
func (d *Device) observe(typ MessageType, service UUID, cid uint32, ct CommandType, tid uint32, st Status, err error, start time.Time) {
	res := classify(err)
	if res != ResultStatus && res != ResultSuccess {
		st = 0
	}
	if res == ResultSuccess && st != StatusSuccess {
		res = ResultStatus // an OPEN_DONE or CLOSE_DONE failure
	}
	d.st.mu.Lock()
	d.st.txns[txnKey{typ, service, cid, res, st}]++
	d.st.mu.Unlock()
	if d.o.observer != nil {
		d.o.observer(TransactionInfo{
			Type: typ, Service: service, CID: cid, CommandType: ct, TID: tid,
			Result: res, Status: st, Err: err, Latency: time.Since(start),
		})
	}
}

func classify(err error) Result {
	if err == nil {
		return ResultSuccess
	}
	var (
		ce *CommandError
		te *TimeoutError
		fe *FunctionError
		ge *FragmentError
	)
	switch {
	case errors.As(err, &ce):
		return ResultStatus
	case errors.As(err, &te):
		return ResultTimeout
	case errors.As(err, &fe):
		return ResultFunctionError
	case errors.As(err, &ge):
		return ResultFragmentError
	case errors.Is(err, context.Canceled):
		return ResultCanceled
	case errors.Is(err, ErrClosed):
		return ResultClosed
	}
	return ResultError
}

// Stats returns a snapshot of the counters. Transactions and Indications
// are sorted by service, CID and outcome.
func (d *Device) Stats() Stats {
	s := &d.st
	out := Stats{
		MessagesSent:            s.messagesSent.Load(),
		MessagesReceived:        s.messagesReceived.Load(),
		BytesSent:               s.bytesSent.Load(),
		BytesReceived:           s.bytesReceived.Load(),
		FragmentsSent:           s.fragmentsSent.Load(),
		FragmentsReceived:       s.fragmentsReceived.Load(),
		Timeouts:                s.timeouts.Load(),
		ConsecutiveTimeouts:     d.consecTimeouts.Load(),
		UnmatchedFunctionErrors: s.unmatchedFunctionErrors.Load(),
		HostErrorsSent:          s.hostErrorsSent.Load(),
		FragmentErrors:          s.fragmentErrors.Load(),
		MalformedStreams:        s.malformedStreams.Load(),
		DiscardedBytes:          s.discardedBytes.Load(),
		UnmatchedReplies:        s.unmatched.Load(),
		IgnoredMessages:         s.ignored.Load(),
		DroppedIndications:      s.droppedIndications.Load(),
		Recoveries:              s.recoveries.Load(),
		RecoveryFailures:        s.recoveryFailures.Load(),
		ProtocolErrors:          make(map[ProtocolError]uint64),
	}
	s.mu.Lock()
	for k, n := range s.txns {
		out.Transactions = append(out.Transactions, TransactionCount{k.typ, k.service, k.cid, k.result, k.status, n})
	}
	for k, n := range s.inds {
		out.Indications = append(out.Indications, IndicationCount{k.service, k.cid, n})
	}
	for k, n := range s.protocolErrors {
		out.ProtocolErrors[k] = n
	}
	s.mu.Unlock()
	slices.SortFunc(out.Transactions, func(a, b TransactionCount) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), bytes.Compare(a.Service[:], b.Service[:]), cmp.Compare(a.CID, b.CID),
			cmp.Compare(a.Result, b.Result), cmp.Compare(a.Status, b.Status))
	})
	slices.SortFunc(out.Indications, func(a, b IndicationCount) int {
		return cmp.Or(bytes.Compare(a.Service[:], b.Service[:]), cmp.Compare(a.CID, b.CID))
	})
	return out
}
