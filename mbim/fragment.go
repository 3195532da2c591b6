package mbim

// Fragmentation (§1.8): splitting a message for a peer with a small control
// transfer size, and collecting received fragments into one message.

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// fragmentPlan checks msg and maxSize for FragmentCount and AppendFragment
// and returns the number of fragments n and the payload bytes per fragment c
// (c is 0 when msg fits whole).
func fragmentPlan(msg []byte, maxSize int) (n, c int, err error) {
	if maxSize <= msgFragmentHdrEnd {
		// No room for even one payload byte per fragment.
		return 0, 0, fmt.Errorf("mbim: fragment size limit %d must be larger than %d bytes: %w", maxSize, msgFragmentHdrEnd, ErrTooLarge)
	}
	if len(msg) < msgHeaderLen {
		return 0, 0, parseErr("header", 0, ErrTruncated)
	}
	if t := MessageType(binary.LittleEndian.Uint32(msg)); !t.fragmentable() {
		if t.fixedLen() == 0 {
			return 0, 0, parseErr("message_type", offMessageType, ErrUnknownMessageType)
		}
		return 0, 0, parseErr("message_type", offMessageType, ErrMalformed)
	}
	if len(msg) < msgFragmentHdrEnd {
		return 0, 0, parseErr("fragment_header", offFragmentTotal, ErrTruncated)
	}
	if len(msg) <= maxSize {
		return 1, 0, nil
	}
	// Each fragment's MessageLength is at most the limit, so the limit
	// must fit the 32-bit field; a larger one is as good as 4 GiB. Counting
	// in 64 bits keeps ceil(p/c) from overflowing.
	lim := min(uint64(maxSize), math.MaxUint32)
	c64 := lim - msgFragmentHdrEnd
	p := uint64(len(msg) - msgFragmentHdrEnd)
	n64 := (p + c64 - 1) / c64
	if n64 > math.MaxUint32 {
		return 0, 0, parseErr("fragment_total", offFragmentTotal, ErrTooLarge)
	}
	// n64 <= p and c64 < maxSize, so both fit an int.
	n, c = int(n64), int(c64)
	return n, c, nil
}

// FragmentCount returns how many fragments of at most maxSize bytes msg
// splits into (1 when it fits). msg must be a COMMAND, COMMAND_DONE or
// INDICATE_STATUS of at least 20 bytes, and maxSize larger than 20. Only the
// type word and len(msg) are looked at: the splitter works on raw bytes and
// does not validate the rest of the message.
func FragmentCount(msg []byte, maxSize int) (int, error) {
	n, _, err := fragmentPlan(msg, maxSize)
	return n, err
}

// AppendFragment appends fragment i (0-based) of msg, split for a peer that
// accepts messages of at most maxSize bytes, exactly as libmbim splits:
// with P = msg[20:] and c = maxSize-20, fragment i is a 12-byte header of
// the same type and TransactionId with its own MessageLength, the fragment
// header (Total n, Current i) and P[i*c:(i+1)*c]. Only fragment 0 therefore
// holds the service, CID and InformationBufferLength.
//
// A message that fits in maxSize is appended unchanged as its only fragment
// (it already says Total 1, Current 0 when it was built by this package).
// Write each fragment in a single transfer: some devices answer
// LENGTH_MISMATCH to a fragment split across writes (quirk Q10), and pick
// maxSize as the smaller of the device's wMaxControlMessage and what the
// transport can write (Q12). AppendFragment allocates nothing when dst has
// room.
func AppendFragment(dst, msg []byte, maxSize, i int) ([]byte, error) {
	n, c, err := fragmentPlan(msg, maxSize)
	if err != nil {
		return dst, err
	}
	if i < 0 || i >= n {
		return dst, fmt.Errorf("mbim: fragment %d of a message split in %d: %w", i, n, ErrTruncated)
	}
	if n == 1 {
		return append(dst, msg...), nil
	}
	p := msg[msgFragmentHdrEnd:]
	lo := i * c // i < n, so i*c < len(p): no overflow
	hi := lo + min(c, len(p)-lo)
	chunk := p[lo:hi]
	dst = binary.LittleEndian.AppendUint32(dst, binary.LittleEndian.Uint32(msg[offMessageType:]))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(msgFragmentHdrEnd+len(chunk)))
	dst = binary.LittleEndian.AppendUint32(dst, binary.LittleEndian.Uint32(msg[offTransactionID:]))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(i))
	return append(dst, chunk...), nil
}

// FragmentError is a failure to reassemble a fragmented message. The client
// answers it with a HOST_ERROR carrying Code for TID (§1.8 step 7) and fails
// that transaction. errors.Is(err, ProtocolErrorFragmentOutOfSequence) and
// the like match on Code.
type FragmentError struct {
	TID  uint32        // transaction whose message was dropped
	Type MessageType   // its message type
	Code ProtocolError // FRAGMENT_OUT_OF_SEQUENCE, MAX_TRANSFER or LENGTH_MISMATCH
	Err  error         // detail: usually a *ParseError naming the field
}

func (e *FragmentError) Error() string {
	s := "mbim: fragmented " + e.Type.String() + " tid " + strconv.FormatUint(uint64(e.TID), 10) + ": " + e.Code.String()
	if e.Err != nil {
		s += ": " + trimPrefix(e.Err.Error())
	}
	return s
}

// Unwrap returns Code, so that errors.Is matches the protocol error.
func (e *FragmentError) Unwrap() error { return e.Code }

// defaultMaxMessageSize bounds reassembled messages when the caller does not.
// The largest real responses (visible providers, base stations, phonebook
// pages) stay well below it.
const defaultMaxMessageSize = 64 << 10

// Reassembler collects the fragments of one message at a time (§1.8) into an
// internal buffer. It is not safe for concurrent use; the client's reader
// goroutine owns it, together with the inter-fragment timeout (libmbim
// allows 1250 ms), which it implements with InProgress and Reset.
//
// Memory is bounded: the buffer never grows past the limit given to
// NewReassembler, and it is reused, so steady-state reassembly allocates
// nothing.
type Reassembler struct {
	limit int
	buf   []byte // the message being collected; reused across messages

	active      bool // a collection is in progress
	tid         uint32
	typ         MessageType
	total, next uint32 // TotalFragments, and the CurrentFragment expected next
}

// NewReassembler returns a Reassembler that refuses messages larger than
// maxMessageSize bytes once reassembled; 0 (or a negative value) means
// 64 KiB.
func NewReassembler(maxMessageSize int) *Reassembler {
	if maxMessageSize <= 0 {
		maxMessageSize = defaultMaxMessageSize
	}
	return &Reassembler{limit: maxMessageSize}
}

// InProgress returns the TransactionId of the message being collected, if
// any. The client uses it to fail that transaction with TIMEOUT_FRAGMENT
// when the next fragment is late, then calls Reset.
func (r *Reassembler) InProgress() (tid uint32, ok bool) { return r.tid, r.active }

// Reset drops the message being collected, if any. The buffer is kept for
// reuse.
func (r *Reassembler) Reset() {
	r.active = false
	r.tid, r.typ, r.total, r.next = 0, 0, 0, 0
}

// Add takes the next message read from the device and returns a complete
// message when there is one.
//
//   - A message that is not a fragment of a longer one (a type without a
//     fragment header, or TotalFragments 1) is returned as it is, with
//     complete true and no copy. It does not disturb a collection in
//     progress, except that a FUNCTION_ERROR for the transaction being
//     collected ends that collection: the device has given up on it (quirk
//     Q4), and the client fails the transaction with the FUNCTION_ERROR.
//   - A fragment is copied into the internal buffer. Fragment 0 starts a
//     collection; each next one must have the same TransactionId, type and
//     TotalFragments, and CurrentFragment one more than the previous one.
//     After the last, the header is rewritten to Total 1, Current 0 and the
//     accumulated MessageLength, the result is validated with ParseMessage
//     and returned with complete true. It aliases the internal buffer until
//     the next call to Add.
//
// Errors are *FragmentError, and every error drops the message being
// collected (nothing is kept half-done):
//   - FRAGMENT_OUT_OF_SEQUENCE: a first fragment that is not fragment 0; a
//     repeated, skipped or backwards CurrentFragment; a different
//     TotalFragments; or a fragment of another transaction or type while one
//     is being collected (interleaving). In the last case the error names
//     the interrupted transaction, and the new fragment, if it is a fragment
//     0, starts a new collection; otherwise it is dropped too, and its next
//     fragments will be reported as out of sequence under its own TID.
//   - MAX_TRANSFER: the message would grow past the limit, either as the
//     fragments arrive or, judged from fragment 0, because its
//     InformationBufferLength or its TotalFragments (at one byte at least per
//     further fragment) cannot fit.
//   - LENGTH_MISMATCH: the reassembled message fails ParseMessage (its
//     InformationBufferLength does not fit, say); Err is the ParseError.
//
// A zero Message (not from ParseMessage) gives a *ParseError wrapping
// ErrMalformed.
func (r *Reassembler) Add(f Message) (m Message, complete bool, err error) {
	t := f.Type()
	if t.fixedLen() == 0 {
		return Message{}, false, parseErr("message_type", offMessageType, ErrMalformed)
	}
	if !t.fragmentable() || f.FragmentTotal() == 1 {
		if t == TypeFunctionError && r.active && f.TransactionID() == r.tid {
			r.Reset()
		}
		return f, true, nil
	}
	tid, total, current := f.TransactionID(), f.FragmentTotal(), f.FragmentCurrent()

	if r.active && (tid != r.tid || t != r.typ) {
		// Interleaving: the collection in progress cannot be completed any
		// more. Report it; let a fragment 0 start afresh.
		field, off := "transaction_id", offTransactionID
		if tid == r.tid {
			field, off = "message_type", offMessageType
		}
		err := r.fail(ProtocolErrorFragmentOutOfSequence, parseErr(field, off, ErrMalformed))
		if current == 0 {
			// A failure to start (too large) stays silent here: the error
			// returned is the interrupted transaction's, and the new
			// message's next fragments will be refused as out of sequence.
			_ = r.start(f, tid, t, total)
		}
		return Message{}, false, err
	}

	if !r.active {
		if current != 0 {
			return Message{}, false, &FragmentError{TID: tid, Type: t, Code: ProtocolErrorFragmentOutOfSequence,
				Err: parseErr("fragment_current", offFragmentCurrent, ErrMalformed)}
		}
		if err := r.start(f, tid, t, total); err != nil {
			return Message{}, false, err
		}
		return Message{}, false, nil
	}

	switch {
	case total != r.total:
		return Message{}, false, r.fail(ProtocolErrorFragmentOutOfSequence, parseErr("fragment_total", offFragmentTotal, ErrMalformed))
	case current != r.next:
		return Message{}, false, r.fail(ProtocolErrorFragmentOutOfSequence, parseErr("fragment_current", offFragmentCurrent, ErrMalformed))
	}
	p := f.FragmentPayload()
	if uint64(len(r.buf))+uint64(len(p)) > uint64(r.limit) {
		return Message{}, false, r.fail(ProtocolErrorMaxTransfer, parseErr("message_length", offMessageLength, ErrTooLarge))
	}
	r.append(p)
	r.next++
	if r.next < r.total {
		return Message{}, false, nil
	}

	// The last fragment: make the buffer a complete message and check it.
	// len(r.buf) <= limit, an int; it still has to fit the 32-bit field.
	if uint64(len(r.buf)) > math.MaxUint32 {
		return Message{}, false, r.fail(ProtocolErrorMaxTransfer, parseErr("message_length", offMessageLength, ErrTooLarge))
	}
	binary.LittleEndian.PutUint32(r.buf[offMessageLength:], uint32(len(r.buf)))
	binary.LittleEndian.PutUint32(r.buf[offFragmentTotal:], 1)
	binary.LittleEndian.PutUint32(r.buf[offFragmentCurrent:], 0)
	m, perr := ParseMessage(r.buf)
	if perr != nil {
		return Message{}, false, r.fail(ProtocolErrorLengthMismatch, perr)
	}
	r.Reset()
	return m, true, nil
}

// start begins a collection with fragment 0, after checking that the
// message it announces can fit the limit.
func (r *Reassembler) start(f Message, tid uint32, t MessageType, total uint32) error {
	n := len(f.b)
	tooBig := uint64(n) > uint64(r.limit) ||
		uint64(n)+uint64(total-1) > uint64(r.limit) // >= 1 byte per further fragment
	if hdr := t.infoOffset(); n >= hdr {
		// The complete message needs at least hdr+InformationBufferLength
		// bytes, or it fails validation anyway.
		ibl := binary.LittleEndian.Uint32(f.b[hdr-4:])
		tooBig = tooBig || uint64(hdr)+uint64(ibl) > uint64(r.limit)
	}
	if tooBig {
		return &FragmentError{TID: tid, Type: t, Code: ProtocolErrorMaxTransfer,
			Err: parseErr("fragment_total", offFragmentTotal, ErrTooLarge)}
	}
	r.buf = r.buf[:0]
	r.append(f.b)
	r.active, r.tid, r.typ, r.total, r.next = true, tid, t, total, 1
	return nil
}

// append adds p to the buffer. The caller has checked that the result stays
// within the limit; growth is capped at the limit so that the buffer's
// capacity, not only its length, stays bounded.
func (r *Reassembler) append(p []byte) {
	need := len(r.buf) + len(p)
	if need > cap(r.buf) {
		nb := make([]byte, len(r.buf), min(max(need, 2*cap(r.buf), 512), r.limit))
		copy(nb, r.buf)
		r.buf = nb
	}
	r.buf = append(r.buf, p...)
}

// fail drops the collection in progress and returns the error for it.
func (r *Reassembler) fail(code ProtocolError, detail error) error {
	err := &FragmentError{TID: r.tid, Type: r.typ, Code: code, Err: detail}
	r.Reset()
	return err
}
