package mbimtest

import (
	"errors"
	"fmt"

	"github.com/gowwan/wwan/mbim"
)

// Func answers one COMMAND from the host, in place of the model (in the
// spirit of nltest.Func). It returns the complete messages to send back,
// usually the one COMMAND_DONE that Reply builds, or an error:
//
//   - ErrUnhandled: let the model answer (the Func only looked, or changed
//     state through the Sim's methods);
//   - an mbim.Status: COMMAND_DONE with that status and no information
//     buffer;
//   - an mbim.ProtocolError: FUNCTION_ERROR with that code;
//   - any other error: COMMAND_DONE FAILURE.
//
// No messages and a nil error answer nothing: the request is swallowed.
// The request stays valid after the Func returns but must not be modified
// (the request log shares its bytes). Funcs run on the connection's reader
// goroutine, without the Sim's lock: they may call any method of the Sim.
type Func func(req mbim.Message) ([][]byte, error)

// ErrUnhandled is returned by a Func that leaves the request to the model.
var ErrUnhandled = errors.New("mbimtest: not handled")

// Handle installs fn for the commands of a service and CID, replacing the
// model for them (a service and CID the model does not know also appear in
// DEVICE_SERVICES). The zero service with CID 0 installs a catch-all that
// sees every command without a Func of its own. A nil fn removes the Func.
func (s *Sim) Handle(service mbim.UUID, cid uint32, fn Func) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fn == nil {
		delete(s.handlers, key{service, cid})
		return
	}
	s.handlers[key{service, cid}] = fn
}

// Reply builds the COMMAND_DONE for req with a status and a body (nil for
// an empty information buffer), in the form a Func returns.
func Reply(req mbim.Message, status mbim.Status, body mbim.InfoAppender) ([][]byte, error) {
	if body == nil {
		body = (*mbim.Empty)(nil)
	}
	b, err := mbim.AppendCommandDoneInfo(nil, req.TransactionID(), req.Service(), req.CID(), status, body)
	if err != nil {
		return nil, err
	}
	return [][]byte{b}, nil
}

// Respond returns a Func that answers SUCCESS with body.
func Respond(body mbim.InfoAppender) Func {
	return func(req mbim.Message) ([][]byte, error) { return Reply(req, mbim.StatusSuccess, body) }
}

// Status returns a Func that answers with a status and no buffer.
func Status(st mbim.Status) Func {
	return func(mbim.Message) ([][]byte, error) { return nil, st }
}

// CheckRequest returns a Func that checks that a request is a COMMAND of the
// given service, CID and command type, then calls fn (or leaves it to the
// model when fn is nil). A mismatch answers FAILURE and is returned as an
// error from Errors. It is the counterpart of nltest.CheckRequest.
func (s *Sim) CheckRequest(service mbim.UUID, cid uint32, ct mbim.CommandType, fn Func) Func {
	return func(req mbim.Message) ([][]byte, error) {
		if req.Type() != mbim.TypeCommand || req.Service() != service || req.CID() != cid || req.CommandType() != ct {
			err := fmt.Errorf("mbimtest: unexpected request %s %s/%s %s, want %s/%s %s",
				req.Type(), mbim.ServiceName(req.Service()), mbim.CIDName(req.Service(), req.CID()), req.CommandType(),
				mbim.ServiceName(service), mbim.CIDName(service, cid), ct)
			s.mu.Lock()
			s.errs = append(s.errs, err)
			s.mu.Unlock()
			return nil, err
		}
		if fn == nil {
			return nil, ErrUnhandled
		}
		return fn(req)
	}
}

// Errors returns the mismatches CheckRequest saw.
func (s *Sim) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}
