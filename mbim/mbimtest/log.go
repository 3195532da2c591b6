package mbimtest

import (
	"context"
	"fmt"
	"time"

	"github.com/gowwan/wwan/mbim"
)

// Request is one complete message the host sent (after reassembly), as the
// function received it, before any fault.
type Request struct {
	Seq                int // 1, 2, … in arrival order
	Time               time.Time
	Type               mbim.MessageType
	TID                uint32
	Service            mbim.UUID // COMMAND only
	CID                uint32
	CommandType        mbim.CommandType
	MaxControlTransfer uint32       // OPEN only
	Version            mbim.Version // MBIMEx version agreed when it arrived
	Raw                []byte       // the whole message (read-only: Body and the Funcs share it)
	Body               mbim.Body    // the decoded information buffer; nil when no layout is known or it failed
	DecodeErr          error        // why the body did not decode
}

// String is a one-line summary: "COMMAND BASIC_CONNECT/CONNECT set tid 7".
func (r Request) String() string {
	if r.Type != mbim.TypeCommand {
		return fmt.Sprintf("%s tid %d", r.Type, r.TID)
	}
	svc, cid := mbim.ServiceName(r.Service), mbim.CIDName(r.Service, r.CID)
	if svc == "" {
		svc = r.Service.String()
	}
	if cid == "" {
		cid = fmt.Sprint(r.CID)
	}
	return fmt.Sprintf("%s %s/%s %s tid %d", r.Type, svc, cid, r.CommandType, r.TID)
}

// Is reports whether the request is a COMMAND of a service and CID.
func (r Request) Is(service mbim.UUID, cid uint32) bool {
	return r.Type == mbim.TypeCommand && r.Service == service && r.CID == cid
}

// Counters count what crossed the control channel. Messages are counted
// once complete (a fragmented message is one message) unless the name
// says fragments or frames.
type Counters struct {
	BytesIn, BytesOut int64
	FramesIn          int // messages and fragments read
	FragmentsIn       int // of which fragments of longer messages
	FragmentsOut      int // fragments written (of split messages)

	Opens, Closes, Commands, HostErrors int
	Ignored                             int // function-to-host types sent by the host

	Responses           int // OPEN_DONE, CLOSE_DONE and COMMAND_DONE queued
	Indications         int // INDICATE_STATUS queued (per host)
	IndicationsFiltered int // state changes not indicated: session closed or not subscribed
	FunctionErrors      int // FUNCTION_ERROR queued
	NotOpened           int // commands refused with NOT_OPENED
	NoDeviceSupport     int // commands answered NO_DEVICE_SUPPORT by the model

	Garbage      int // buffers dropped as malformed
	GarbageBytes int
	Overflow     int // frames dropped because a host stopped reading

	FaultsApplied int // (fault, message) pairs
	Dropped       int
	Duplicated    int
	Delayed       int
	Corrupted     int

	Resets        int
	HostShutdowns int
}

// Counters returns a snapshot of the counters.
func (s *Sim) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counters
	c.HostShutdowns = s.m.shutdown
	return c
}

// record logs a request (locked).
func (s *Sim) record(m mbim.Message) {
	s.logSeq++
	r := Request{
		Seq:     s.logSeq,
		Time:    s.now(),
		Type:    m.Type(),
		TID:     m.TransactionID(),
		Version: s.ses.version,
		Raw:     m.Bytes(),
	}
	switch m.Type() {
	case mbim.TypeOpen:
		r.MaxControlTransfer = m.MaxControlTransfer()
	case mbim.TypeCommand:
		r.Service, r.CID, r.CommandType = m.Service(), m.CID(), m.CommandType()
		if d, err := mbim.DecodeMessage(m, s.ses.version); err != nil {
			r.DecodeErr = err
		} else if d.Body != nil {
			r.Body = d.Body
		}
	}
	if s.logLimit > 0 {
		// A ring: once full, the newest overwrites the oldest.
		if len(s.log) < s.logLimit {
			s.log = append(s.log, r)
		} else {
			s.log[s.logHead] = r
			s.logHead = (s.logHead + 1) % len(s.log)
		}
	}
	close(s.logWake)
	s.logWake = make(chan struct{})
}

// Requests returns the requests received so far (the last WithRequestLog of
// them), oldest first.
func (s *Sim) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requestsLocked()
}

func (s *Sim) requestsLocked() []Request {
	out := make([]Request, 0, len(s.log))
	out = append(out, s.log[s.logHead:]...)
	return append(out, s.log[:s.logHead]...)
}

// ClearRequests empties the request log.
func (s *Sim) ClearRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.log)
	s.log = s.log[:0]
	s.logHead = 0
}

// WaitRequest waits until a logged request satisfies match and returns the
// first one that does (including those already logged).
func (s *Sim) WaitRequest(ctx context.Context, match func(Request) bool) (Request, error) {
	seen := 0
	for {
		s.mu.Lock()
		for _, r := range s.requestsLocked() {
			if r.Seq > seen {
				if match(r) {
					s.mu.Unlock()
					return r, nil
				}
				seen = r.Seq
			}
		}
		wake := s.logWake
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return Request{}, ErrSimClosed
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return Request{}, ctx.Err()
		case <-s.ctx.Done():
			return Request{}, ErrSimClosed
		}
	}
}
