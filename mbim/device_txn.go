package mbim

// Transactions: TransactionId allocation, the table of pending requests,
// fragmented writes, and the generic and typed calls.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"sync"
	"time"
)

// txn is one pending request. The reader (or a failure path) fills in the
// result and signals done exactly once, after removing the txn from the
// pending table under Device.mu; whoever removes it owns the signal.
type txn struct {
	tid     uint32
	reqType MessageType // TypeOpen, TypeClose or TypeCommand
	service UUID
	cid     uint32
	done    chan struct{} // capacity 1

	// Result, written before done is signalled.
	reply  []byte // COMMAND_DONE: a copy the caller owns
	status Status // OPEN_DONE, CLOSE_DONE
	err    error
}

func (t *txn) reset() {
	t.tid, t.reqType, t.service, t.cid = 0, 0, UUID{}, 0
	t.reply, t.status, t.err = nil, 0, nil
}

// txnPool and bufPool are per Device: a txn's channel must not cross
// testing/synctest bubbles, and a Device lives in one.
type devicePools struct {
	txns sync.Pool
	bufs sync.Pool
}

// maxPooledBuf keeps an occasional huge request from pinning memory.
const maxPooledBuf = 64 << 10

func (d *Device) getTxn() *txn {
	if t, ok := d.pools.txns.Get().(*txn); ok {
		return t
	}
	return &txn{done: make(chan struct{}, 1)}
}

func (d *Device) putTxn(t *txn) {
	t.reset()
	d.pools.txns.Put(t)
}

func (d *Device) getBuf() *[]byte {
	if b, ok := d.pools.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 512)
	return &b
}

func (d *Device) putBuf(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		*b = (*b)[:0]
		d.pools.bufs.Put(b)
	}
}

// register gives t a TransactionId and makes it pending. During Close only
// the CLOSE itself (closeReq) may be registered.
func (d *Device) register(t *txn, closeReq bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shut || (d.closing && !closeReq) {
		if d.deadErr != nil {
			return d.deadErr
		}
		return ErrClosed
	}
	t.tid = d.allocTIDLocked()
	d.pending[t.tid] = t
	if t.reqType == TypeOpen {
		d.openTxn = t
	}
	return nil
}

// allocTIDLocked returns the next TransactionId: from 1 up, wrapping from
// 0xFFFFFFFF to 1, never 0, never one that is pending.
func (d *Device) allocTIDLocked() uint32 {
	for {
		tid := d.nextTID
		d.nextTID++
		if d.nextTID == 0 {
			d.nextTID = 1
		}
		if _, busy := d.pending[tid]; tid != 0 && !busy {
			return tid
		}
	}
}

// unregister removes t if it is still pending and reports whether it did;
// when it did not, t has been (or is being) completed and done will be
// signalled.
func (d *Device) unregister(t *txn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending[t.tid] != t {
		return false
	}
	delete(d.pending, t.tid)
	if d.openTxn == t {
		d.openTxn = nil
	}
	return true
}

// takeLocked removes the txn pending under tid, if any.
func (d *Device) takeLocked(tid uint32) *txn {
	t := d.pending[tid]
	if t != nil {
		delete(d.pending, tid)
		if d.openTxn == t {
			d.openTxn = nil
		}
	}
	return t
}

// failPendingLocked completes every pending transaction with err.
func (d *Device) failPendingLocked(err error) {
	for tid, t := range d.pending {
		delete(d.pending, tid)
		t.err = err
		t.done <- struct{}{}
	}
	d.openTxn = nil
}

// release returns t to the pool once nobody else can touch it: if it is
// still pending it is removed, otherwise its completion is awaited.
func (d *Device) release(t *txn) {
	if !d.unregister(t) {
		<-t.done
	}
	d.putTxn(t)
}

// wait blocks until t completes or ctx is done. It reports whether t
// completed; if not, t has been removed from the table.
func (d *Device) wait(ctx context.Context, t *txn) bool {
	select {
	case <-t.done:
		return true
	case <-ctx.Done():
		if d.unregister(t) {
			return false
		}
		// The reader took it at the same moment: the answer is there.
		<-t.done
		return true
	}
}

// send writes one message, split into fragments of at most the function's
// MaxControlTransfer, each in a single WriteControl (quirk Q10). Writes of
// different messages do not interleave.
func (d *Device) send(ctx context.Context, msg []byte) error {
	select {
	case d.wsem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-d.wsem }()
	if len(msg) <= d.funcMax {
		return d.write(ctx, msg)
	}
	n, err := FragmentCount(msg, d.funcMax)
	if err != nil {
		return err
	}
	for i := range n {
		if d.fragBuf, err = AppendFragment(d.fragBuf[:0], msg, d.funcMax, i); err != nil {
			return err
		}
		if err := d.write(ctx, d.fragBuf); err != nil {
			return err
		}
		d.st.fragmentsSent.Add(1)
	}
	return nil
}

func (d *Device) write(ctx context.Context, p []byte) error {
	if d.o.trace != nil {
		d.o.trace(DirectionOut, p)
	}
	if err := d.t.WriteControl(ctx, p); err != nil {
		return err
	}
	d.st.messagesSent.Add(1)
	d.st.bytesSent.Add(uint64(len(p)))
	return nil
}

// simple runs an OPEN or a CLOSE and returns the status of its *_DONE.
func (d *Device) simple(ctx context.Context, typ MessageType, closeReq bool) (Status, error) {
	start := time.Now()
	t := d.getTxn()
	t.reqType = typ
	if err := d.register(t, closeReq); err != nil {
		d.putTxn(t)
		return 0, err
	}
	tid := t.tid
	var b [16]byte
	var msg []byte
	if typ == TypeOpen {
		msg = AppendOpen(b[:0], tid, uint32(d.hostMax))
	} else {
		msg = AppendClose(b[:0], tid)
	}
	if err := d.send(ctx, msg); err != nil {
		d.release(t)
		err = d.requestErr(ctx, typ, UUID{}, 0, tid, err)
		d.observe(typ, UUID{}, 0, 0, tid, 0, err, start)
		return 0, err
	}
	if !d.wait(ctx, t) {
		d.putTxn(t)
		err := d.requestErr(ctx, typ, UUID{}, 0, tid, ctx.Err())
		d.observe(typ, UUID{}, 0, 0, tid, 0, err, start)
		return 0, err
	}
	st, err := t.status, t.err
	d.putTxn(t)
	d.observe(typ, UUID{}, 0, 0, tid, st, err, start)
	return st, err
}

// requestErr turns the failure of a request before any answer into a typed
// error: a *TimeoutError for a deadline, the context's error for a
// cancellation, an error wrapping ErrClosed when the transport is gone.
func (d *Device) requestErr(ctx context.Context, typ MessageType, service UUID, cid, tid uint32, err error) error {
	if ctx.Err() != nil && (err == ctx.Err() || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			d.consecTimeouts.Add(1)
			d.st.timeouts.Add(1)
			return &TimeoutError{Type: typ, Service: service, CID: cid, TID: tid}
		}
		return fmt.Errorf("mbim: %s (tid %d): %w", requestName(typ, service, cid), tid, ctx.Err())
	}
	if errors.Is(err, ErrClosed) {
		if e := d.Err(); e != nil {
			return e
		}
		return err
	}
	return fmt.Errorf("mbim: %s (tid %d): write: %w", requestName(typ, service, cid), tid, err)
}

// Response is a COMMAND_DONE. It owns a copy of the message, so it and the
// bodies decoded from it stay valid as long as they are referenced.
type Response struct {
	msg Message
	ver Version
}

// Message returns the whole COMMAND_DONE (reassembled when it came in
// fragments).
func (r *Response) Message() Message { return r.msg }

// InformationBuffer returns the response's information buffer.
func (r *Response) InformationBuffer() []byte { return r.msg.InformationBuffer() }

// Status returns the COMMAND_DONE status.
func (r *Response) Status() Status { return r.msg.Status() }

// TransactionID returns the TransactionId of the transaction.
func (r *Response) TransactionID() uint32 { return r.msg.TransactionID() }

// Service returns the service UUID.
func (r *Response) Service() UUID { return r.msg.Service() }

// CID returns the command id.
func (r *Response) CID() uint32 { return r.msg.CID() }

// Version returns the MBIMEx version the response is to be decoded with
// (the version negotiated when it arrived).
func (r *Response) Version() Version { return r.ver }

// Decode decodes the information buffer with the layout of its service and
// CID at Version. It returns an error wrapping ErrNoLayout for an unknown
// service or CID.
func (r *Response) Decode() (Body, error) {
	b, _, err := NewBody(r.Service(), r.CID(), KindResponse, r.ver)
	if err != nil {
		return nil, fmt.Errorf("mbim: %s response: %w", requestName(TypeCommand, r.Service(), r.CID()), err)
	}
	if err := b.Decode(r.InformationBuffer()); err != nil {
		return nil, fmt.Errorf("mbim: %s response: %w", requestName(TypeCommand, r.Service(), r.CID()), err)
	}
	return b, nil
}

// Command sends a COMMAND of service and cid with the information buffer
// req appends (nil for an empty one) and returns the COMMAND_DONE. A
// request larger than the function's MaxControlTransfer is fragmented.
//
// A COMMAND_DONE whose status is not SUCCESS returns the Response together
// with a *CommandError (some failures carry a buffer, such as CONNECT's
// NwError). A FUNCTION_ERROR NOT_OPENED makes the Device re-open the
// session and retry once (see WithoutRecovery).
func (d *Device) Command(ctx context.Context, service UUID, cid uint32, ct CommandType, req InfoAppender) (*Response, error) {
	ctx, cancel := withDefaultTimeout(ctx, d.o.timeout)
	defer cancel()
	r, err := d.command(ctx, service, cid, ct, req, !d.o.noRecovery)
	if r.msg.b == nil {
		return nil, err
	}
	return &r, err
}

// command is Command without the default timeout. It returns the Response
// by value (a zero Response when there is none), so that typed calls
// allocate nothing for it.
func (d *Device) command(ctx context.Context, service UUID, cid uint32, ct CommandType, req InfoAppender, recoverable bool) (Response, error) {
	gen := d.gen.Load()
	r, err := d.roundTrip(ctx, service, cid, ct, req)
	if !recoverable || !errors.Is(err, ProtocolErrorNotOpened) {
		return r, err
	}
	var fe *FunctionError
	if !errors.As(err, &fe) {
		return r, err
	}
	d.logInfo("function says NOT_OPENED; re-opening", requestAttr(service, cid))
	if rerr := d.recoverSession(ctx, gen); rerr != nil {
		return Response{}, fmt.Errorf("%w; re-open failed: %w", err, rerr)
	}
	return d.roundTrip(ctx, service, cid, ct, req)
}

// roundTrip sends one COMMAND and waits for its answer.
func (d *Device) roundTrip(ctx context.Context, service UUID, cid uint32, ct CommandType, req InfoAppender) (Response, error) {
	start := time.Now()
	t := d.getTxn()
	t.reqType, t.service, t.cid = TypeCommand, service, cid
	if err := d.register(t, false); err != nil {
		d.putTxn(t)
		d.observe(TypeCommand, service, cid, ct, 0, 0, err, start)
		return Response{}, err
	}
	tid := t.tid
	bp := d.getBuf()
	msg, err := AppendCommandInfo((*bp)[:0], tid, service, cid, ct, req)
	if err == nil {
		err = d.send(ctx, msg)
		if err != nil {
			err = d.requestErr(ctx, TypeCommand, service, cid, tid, err)
		}
	} else {
		err = fmt.Errorf("mbim: %s %s request: %w", requestName(TypeCommand, service, cid), ct, err)
	}
	*bp = msg
	d.putBuf(bp)
	if err != nil {
		d.release(t)
		d.observe(TypeCommand, service, cid, ct, tid, 0, err, start)
		return Response{}, err
	}
	if !d.wait(ctx, t) {
		d.putTxn(t)
		err := d.requestErr(ctx, TypeCommand, service, cid, tid, ctx.Err())
		d.observe(TypeCommand, service, cid, ct, tid, 0, err, start)
		return Response{}, err
	}
	reply, err := t.reply, t.err
	d.putTxn(t)
	if err != nil {
		d.observe(TypeCommand, service, cid, ct, tid, 0, err, start)
		return Response{}, err
	}
	r := Response{msg: Message{b: reply}, ver: d.Version()}
	if r.Service() != service || r.CID() != cid {
		err := fmt.Errorf("mbim: %s (tid %d): answered by %s: %w", requestName(TypeCommand, service, cid), tid,
			requestName(TypeCommand, r.Service(), r.CID()), ErrMalformed)
		d.observe(TypeCommand, service, cid, ct, tid, 0, err, start)
		return Response{}, err
	}
	if st := r.Status(); st != StatusSuccess {
		err := &CommandError{Service: service, CID: cid, TID: tid, Status: st}
		d.observe(TypeCommand, service, cid, ct, tid, st, err, start)
		return r, err
	}
	d.observe(TypeCommand, service, cid, ct, tid, StatusSuccess, nil, start)
	return r, nil
}

// Query sends a QUERY and decodes the response into resp, which must be
// the layout NewBody(service, cid, KindResponse, d.Version()) gives (a
// *LayoutError otherwise, naming both). req, when it is a Body, must
// likewise be the query layout at that version; nil sends an empty buffer.
// resp may be nil to only check the status. A body that does not decode
// returns an error wrapping the *ParseError. On a failure status (a
// *CommandError) resp is decoded too when the COMMAND_DONE carries a
// buffer, since some failures say why (CONNECT's NwError, PIN's attempts
// left); resp's content is then only meaningful if that buffer was a valid
// body.
func (d *Device) Query(ctx context.Context, service UUID, cid uint32, req InfoAppender, resp Body) error {
	return d.typed(ctx, service, cid, CommandQuery, req, resp)
}

// Set is Query for a SET.
func (d *Device) Set(ctx context.Context, service UUID, cid uint32, req InfoAppender, resp Body) error {
	return d.typed(ctx, service, cid, CommandSet, req, resp)
}

// QueryBody sends a QUERY and returns the response decoded with the layout
// of the negotiated version.
func (d *Device) QueryBody(ctx context.Context, service UUID, cid uint32, req InfoAppender) (Body, error) {
	return d.typedBody(ctx, service, cid, CommandQuery, req)
}

// SetBody sends a SET and returns the response decoded with the layout of
// the negotiated version.
func (d *Device) SetBody(ctx context.Context, service UUID, cid uint32, req InfoAppender) (Body, error) {
	return d.typedBody(ctx, service, cid, CommandSet, req)
}

func (d *Device) typedBody(ctx context.Context, service UUID, cid uint32, ct CommandType, req InfoAppender) (Body, error) {
	resp, _, err := NewBody(service, cid, KindResponse, d.Version())
	if err != nil {
		return nil, fmt.Errorf("mbim: %s response: %w", requestName(TypeCommand, service, cid), err)
	}
	if err := d.typed(ctx, service, cid, ct, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

func (d *Device) typed(ctx context.Context, service UUID, cid uint32, ct CommandType, req InfoAppender, resp Body) error {
	_, err := d.typedDecoded(ctx, service, cid, ct, req, resp)
	return err
}

// typedDecoded is typed, and reports whether resp was decoded (also after
// a failure status whose COMMAND_DONE carried a buffer).
func (d *Device) typedDecoded(ctx context.Context, service UUID, cid uint32, ct CommandType, req InfoAppender, resp Body) (decoded bool, err error) {
	v := d.Version()
	k := KindQuery
	if ct == CommandSet {
		k = KindSet
	}
	if b, ok := req.(Body); ok && b != nil {
		if err := checkLayout(service, cid, k, v, b, true); err != nil {
			return false, err
		}
	} else if err := checkKind(service, cid, k, v); err != nil {
		return false, err
	}
	if resp != nil {
		if err := checkLayout(service, cid, KindResponse, v, resp, false); err != nil {
			return false, err
		}
	}
	ctx, cancel := withDefaultTimeout(ctx, d.o.timeout)
	defer cancel()
	r, err := d.command(ctx, service, cid, ct, req, !d.o.noRecovery)
	if resp == nil || r.msg.b == nil {
		return false, err
	}
	if err != nil {
		// A failure status: decode the buffer if there is one (CONNECT's
		// NwError, PIN's attempts left); the status is the error.
		if len(r.InformationBuffer()) > 0 && resp.Decode(r.InformationBuffer()) == nil {
			return true, err
		}
		return false, err
	}
	if err := resp.Decode(r.InformationBuffer()); err != nil {
		return false, fmt.Errorf("mbim: %s response (tid %d): %w", requestName(TypeCommand, service, cid), r.TransactionID(), err)
	}
	return true, nil
}

// checkKind refuses a message kind a known CID does not have (a QUERY of a
// set-only CID, say). Unknown services and CIDs pass: they are sent raw.
func checkKind(service UUID, cid uint32, k Kind, v Version) error {
	s := lookupService(service)
	if s == nil || s.cid(cid) == nil {
		return nil
	}
	if _, ok := layout(service, cid, k, v); !ok {
		return &LayoutError{Service: service, CID: cid, Kind: k, Version: v, Got: "request"}
	}
	return nil
}

// checkLayout checks that b is the layout the tables give. For a request
// (lenient) an unknown service or CID passes; a response needs a layout.
func checkLayout(service UUID, cid uint32, k Kind, v Version, b Body, lenient bool) error {
	l, ok := layout(service, cid, k, v)
	got := bodyName(b)
	if !ok {
		s := lookupService(service)
		if s == nil || s.cid(cid) == nil {
			if lenient {
				return nil
			}
			return fmt.Errorf("mbim: %s %s: %w", requestName(TypeCommand, service, cid), k, ErrNoLayout)
		}
		return &LayoutError{Service: service, CID: cid, Kind: k, Version: v, Got: got}
	}
	if got != l.name {
		return &LayoutError{Service: service, CID: cid, Kind: k, Version: v, Want: l.name, Got: got}
	}
	return nil
}

// bodyName is the type name of a layout value ("ConnectInfoV3"), which is
// the name the tables use. It does not allocate.
func bodyName(b Body) string {
	t := reflect.TypeOf(b)
	if t == nil {
		return "nil"
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n := t.Name(); n != "" {
		return n
	}
	return t.String()
}

func requestAttr(service UUID, cid uint32) slog.Attr {
	return slog.String("request", requestName(TypeCommand, service, cid))
}

// tidString formats a TransactionId for logs.
func tidString(tid uint32) string { return strconv.FormatUint(uint64(tid), 10) }
