package mbim

// The reader goroutine: byte stream → messages → fragments → dispatch.

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"time"
)

// errFragmentTimeout is the detail of a TIMEOUT_FRAGMENT FragmentError.
var errFragmentTimeout = errors.New("mbim: next fragment not received in time")

// readLoop is the one goroutine that reads the transport. It owns the read
// buffer and the Reassembler. The buffer holds at most one incomplete
// message (bounded by readLimit: a longer MessageLength is garbage) plus
// one read of up to hostMax bytes.
func (d *Device) readLoop() {
	defer close(d.readerDone)
	buf := make([]byte, 0, max(2*d.hostMax, 1024))
	for {
		if cap(buf)-len(buf) < d.hostMax {
			nc := min(max(2*cap(buf), len(buf)+d.hostMax), d.readLimit+d.hostMax)
			nb := make([]byte, len(buf), nc)
			copy(nb, buf)
			buf = nb
		}
		// Close unblocks the read by closing the transport, so a plain
		// read needs no cancellable context (which would cost the
		// transport a context.AfterFunc per read).
		ctx, collecting := context.Background(), false
		var cancel context.CancelFunc
		if _, ok := d.reasm.InProgress(); ok {
			// Wake up when the next fragment is late (§1.8 step 6).
			collecting = true
			ctx, cancel = context.WithDeadline(d.lifeCtx, d.fragDeadline)
		}
		n, err := d.t.ReadControl(ctx, buf[len(buf):cap(buf)])
		if cancel != nil {
			cancel()
		}
		if n > 0 {
			d.st.bytesReceived.Add(uint64(n))
			buf = d.consume(buf[:len(buf)+n])
		}
		if err == nil {
			continue
		}
		if d.lifeCtx.Err() != nil {
			return // Close
		}
		if collecting && ctx.Err() != nil {
			if _, ok := d.reasm.InProgress(); ok && !time.Now().Before(d.fragDeadline) {
				d.fragmentTimeout()
			}
			continue
		}
		d.transportLost(err)
		return
	}
}

// consume handles every complete message at the start of buf and returns
// the incomplete rest, moved to the front of buf.
func (d *Device) consume(buf []byte) []byte {
	off := 0
	for off < len(buf) {
		rest := buf[off:]
		m, n, err := NextMessage(rest)
		if err == nil {
			d.handle(m)
			off += n
			continue
		}
		if !errors.Is(err, ErrIncomplete) {
			d.malformed(err, len(rest))
			off = len(buf)
			break
		}
		// Incomplete. Judge what is there already, so that garbage does
		// not stall the reader until a huge MessageLength has arrived
		// (quirk Q5).
		if len(rest) >= 4 && MessageType(le.Uint32(rest)).fixedLen() == 0 {
			d.malformed(parseErr("message_type", offMessageType, ErrUnknownMessageType), len(rest))
			off = len(buf)
		} else if len(rest) >= 8 && uint64(le.Uint32(rest[offMessageLength:])) > uint64(d.readLimit) {
			d.malformed(parseErr("message_length", offMessageLength, ErrTooLarge), len(rest))
			off = len(buf)
		}
		break
	}
	if off == 0 {
		return buf
	}
	k := copy(buf, buf[off:])
	return buf[:k]
}

// malformed counts and reports input that was discarded.
func (d *Device) malformed(err error, n int) {
	d.st.malformedStreams.Add(1)
	d.st.discardedBytes.Add(uint64(n))
	d.logWarn("discarding input that is not MBIM", slog.Int("bytes", n), slog.Any("err", err))
	d.emit(Event{Kind: EventMalformedStream, Err: err, Discarded: n})
}

// handle takes one message or fragment off the wire.
func (d *Device) handle(m Message) {
	d.st.messagesReceived.Add(1)
	if d.o.trace != nil {
		d.o.trace(DirectionIn, m.Bytes())
	}
	switch m.Type() {
	case TypeOpen, TypeClose, TypeCommand, TypeHostError:
		// Host-originated types from the function are ignored (§1.9).
		d.st.ignored.Add(1)
		return
	}
	if m.IsFragment() {
		d.st.fragmentsReceived.Add(1)
	}
	full, complete, err := d.reasm.Add(m)
	if err != nil {
		d.fragmentFailed(err)
	}
	if _, ok := d.reasm.InProgress(); ok && m.IsFragment() {
		if m.FragmentCurrent() == 0 {
			d.reasmType = m.Type()
		}
		d.fragDeadline = time.Now().Add(FragmentTimeout)
	}
	if !complete {
		return
	}
	switch full.Type() {
	case TypeIndicateStatus:
		d.indicate(full)
	case TypeFunctionError:
		d.functionError(full)
	case TypeOpenDone, TypeCloseDone, TypeCommandDone:
		d.complete(full)
	}
}

// complete hands a *_DONE to the transaction waiting on its TID.
func (d *Device) complete(m Message) {
	tid := m.TransactionID()
	d.mu.Lock()
	t := d.pending[tid]
	if t == nil || t.reqType|0x80000000 != m.Type() {
		if m.Type() == TypeCloseDone && d.openTxn != nil && (t == nil || t == d.openTxn) {
			// Quirk Q1: the function answers OPEN with CLOSE_DONE when it
			// still has a session open (the TID need not even match).
			t = d.takeLocked(d.openTxn.tid)
			d.mu.Unlock()
			t.err = errUnknownState
			t.done <- struct{}{}
			return
		}
		d.mu.Unlock()
		d.st.unmatched.Add(1)
		d.logDebug("dropping unmatched reply", slog.String("type", m.Type().String()), slog.String("tid", tidString(tid)))
		return
	}
	d.takeLocked(tid)
	d.mu.Unlock()
	d.consecTimeouts.Store(0)
	if m.Type() == TypeCommandDone {
		t.reply = bytes.Clone(m.Bytes())
	} else {
		t.status = m.Status()
	}
	t.done <- struct{}{}
}

// functionError fails the transaction with the FUNCTION_ERROR's TID, or
// reports an unmatched one (and re-opens on NOT_OPENED, quirk Q3).
func (d *Device) functionError(m Message) {
	tid, code := m.TransactionID(), m.ErrorCode()
	d.st.countProtocolError(code)
	d.mu.Lock()
	t := d.takeLocked(tid)
	live := d.opened && !d.closing && !d.shut
	d.mu.Unlock()
	fe := &FunctionError{TID: tid, Code: code}
	if t != nil {
		fe.Type, fe.Service, fe.CID = t.reqType, t.service, t.cid
		d.consecTimeouts.Store(0)
		t.err = fe
		t.done <- struct{}{}
		return
	}
	d.st.unmatchedFunctionErrors.Add(1)
	d.logWarn("unsolicited function error", slog.String("code", code.String()), slog.String("tid", tidString(tid)))
	d.emit(Event{Kind: EventFunctionError, TID: tid, Err: fe})
	if code == ProtocolErrorNotOpened && live && !d.o.noRecovery {
		d.asyncRecover()
	}
}

// fragmentFailed answers a reassembly failure: HOST_ERROR with its code to
// the function, and the transaction (if the message was a response) fails
// (§1.8 step 7, quirk Q11).
func (d *Device) fragmentFailed(err error) {
	var fe *FragmentError
	if !errors.As(err, &fe) {
		d.malformed(err, 0)
		return
	}
	d.st.fragmentErrors.Add(1)
	d.logWarn("reassembly failed", slog.Any("err", err))
	d.hostError(fe.TID, fe.Code)
	if fe.Type == TypeCommandDone {
		d.mu.Lock()
		t := d.pending[fe.TID]
		if t != nil && t.reqType == TypeCommand {
			d.takeLocked(fe.TID)
		} else {
			t = nil
		}
		d.mu.Unlock()
		if t != nil {
			t.err = &fragmentTxnError{typ: t.reqType, service: t.service, cid: t.cid, err: fe}
			t.done <- struct{}{}
		}
	}
	d.emit(Event{Kind: EventFragmentError, TID: fe.TID, Err: fe})
}

// fragmentTimeout gives up on the message being collected.
func (d *Device) fragmentTimeout() {
	tid, _ := d.reasm.InProgress()
	d.reasm.Reset()
	d.fragmentFailed(&FragmentError{TID: tid, Type: d.reasmType, Code: ProtocolErrorTimeoutFragment, Err: errFragmentTimeout})
}

// fragmentTxnError names the request whose response could not be
// reassembled; it unwraps to the *FragmentError.
type fragmentTxnError struct {
	typ     MessageType
	service UUID
	cid     uint32
	err     *FragmentError
}

func (e *fragmentTxnError) Error() string {
	return "mbim: " + requestName(e.typ, e.service, e.cid) + " response: " + trimPrefix(e.err.Error())
}

func (e *fragmentTxnError) Unwrap() error { return e.err }

// hostError sends a HOST_ERROR from a helper goroutine, so that the reader
// never blocks on a write.
func (d *Device) hostError(tid uint32, code ProtocolError) {
	msg := AppendHostError(make([]byte, 0, 16), tid, code)
	d.goHelper(func() {
		ctx, cancel := context.WithTimeout(d.lifeCtx, hostErrorTimeout)
		defer cancel()
		if err := d.send(ctx, msg); err != nil {
			d.logDebug("HOST_ERROR not sent", slog.Any("err", err))
			return
		}
		d.st.hostErrorsSent.Add(1)
	})
}
