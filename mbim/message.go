package mbim

// Message framing (§1.1–§1.3, §1.9): a validating view over one message or
// fragment, a splitter for byte streams, and append-style builders.

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Offsets of the framing fields, from the first byte of the message.
const (
	offMessageType     = 0
	offMessageLength   = 4
	offTransactionID   = 8
	offFragmentTotal   = 12 // fragmentable types only
	offFragmentCurrent = 16
	offService         = 20 // fragment 0 of the fragmentable types
	offCID             = 36
	offCommandWord     = 40 // COMMAND: CommandType; COMMAND_DONE: Status
	offBodyWord        = 12 // OPEN: MaxControlTransfer; *_DONE: Status; *_ERROR: code

	msgHeaderLen      = 12 // common header
	msgFragmentHdrEnd = 20 // common header + fragment header
)

// The "wait for more bytes" errors are built once: a reader fed a byte at a
// time by a pty meets them on every call, and they must not allocate.
var (
	errIncompleteHeader  error = &ParseError{Field: "header", Offset: 0, Err: ErrIncomplete}
	errIncompleteMessage error = &ParseError{Field: "message_length", Offset: offMessageLength, Err: ErrIncomplete}
)

// Message is a validated, read-only view over one MBIM message, or over one
// fragment of a fragmented message, in the caller's bytes. It is created by
// ParseMessage (or returned by a Reassembler) and aliases the bytes it was
// parsed from: it copies nothing, and it is only valid while those bytes are
// not reused. Copy Bytes() to keep a message longer.
//
// Accessors cannot fail. An accessor for a field the message's type does not
// have returns the zero value: Status is 0 on a COMMAND, CID is 0 on an
// OPEN_DONE, and so on. The fields of the command header (Service, CID,
// CommandType, Status of a COMMAND_DONE, InformationBufferLength) are read
// only from a complete message or from fragment 0 of a fragmented one; later
// fragments carry raw continuation bytes there. The zero Message has type 0
// and answers zero everywhere.
type Message struct {
	b []byte
	// infoStart and infoEnd bound the information buffer in b when
	// ParseMessage found one (a complete COMMAND, COMMAND_DONE or
	// INDICATE_STATUS); both are 0 otherwise. They are kept so that
	// InformationBuffer, called for every received message, does not
	// re-derive what ParseMessage already checked. Two uint32s rather than a
	// slice keep Message at four words, small enough to stay in registers.
	infoStart, infoEnd uint32
}

// ParseMessage validates the message that starts at b[0] and returns a view
// of exactly b[:MessageLength]. Bytes after MessageLength are not looked at:
// in a stream they belong to the next message (see NextMessage).
//
// The rules, checked in this order (§1.9):
//   - fewer than 12 bytes: ErrIncomplete;
//   - an undefined MessageType: ErrUnknownMessageType;
//   - MessageLength below the fixed size of the type (12 for CLOSE, 16 for
//     OPEN, OPEN_DONE, CLOSE_DONE, HOST_ERROR and FUNCTION_ERROR, 20 for the
//     fragmentable COMMAND, COMMAND_DONE and INDICATE_STATUS): ErrMalformed;
//   - fewer than MessageLength bytes: ErrIncomplete;
//   - fragmentable types: TotalFragments 0, or CurrentFragment >= Total:
//     ErrMalformed;
//   - a complete message (Total 1) needs Current 0, MessageLength >= 48
//     (COMMAND, COMMAND_DONE) or >= 44 (INDICATE_STATUS), and MessageLength
//     >= that header + InformationBufferLength: ErrMalformed otherwise.
//
// So a COMMAND_DONE whose MessageLength is 12..47 is malformed once that many
// bytes are there, while every proper prefix of a valid message is
// incomplete. Other messages with a MessageLength larger than their fixed
// size are accepted and the extra bytes ignored, as libmbim does; in
// particular InformationBuffer is bounded by InformationBufferLength, never by
// MessageLength.
//
// Every error is a *ParseError naming the field and its byte offset, and
// wraps one of the sentinels. The ErrIncomplete errors do not allocate.
func ParseMessage(b []byte) (Message, error) {
	// The common case first, checked in one pass: a complete COMMAND_DONE,
	// COMMAND or INDICATE_STATUS in one fragment. Anything else takes the
	// full walk, which also names what is wrong.
	if len(b) >= 48 && binary.LittleEndian.Uint64(b[offFragmentTotal:]) == 1 { // total 1, current 0
		// Each type reads its InformationBufferLength at a constant offset,
		// which keeps the loads independent of the type test.
		var hdr, end uint64
		switch MessageType(binary.LittleEndian.Uint32(b)) {
		case TypeCommandDone, TypeCommand:
			hdr, end = 48, 48+uint64(binary.LittleEndian.Uint32(b[44:]))
		case TypeIndicateStatus:
			hdr, end = 44, 44+uint64(binary.LittleEndian.Uint32(b[40:]))
		}
		// end >= hdr > 0 when the type matched.
		if n := uint64(binary.LittleEndian.Uint32(b[offMessageLength:])); hdr != 0 && end <= n && n <= uint64(len(b)) {
			return Message{b[:n:n], uint32(hdr), uint32(end)}, nil
		}
	}
	return parseMessage(b)
}

// parseMessage is ParseMessage's full walk.
func parseMessage(b []byte) (Message, error) {
	if len(b) < msgHeaderLen {
		return Message{}, errIncompleteHeader
	}
	// One switch finds everything the type decides; this runs for every
	// message a client receives.
	var fixed uint32
	hdr := 0 // information buffer offset of the fragmentable types
	switch MessageType(binary.LittleEndian.Uint32(b)) {
	case TypeCommand, TypeCommandDone:
		fixed, hdr = msgFragmentHdrEnd, 48
	case TypeIndicateStatus:
		fixed, hdr = msgFragmentHdrEnd, 44
	case TypeClose:
		fixed = msgHeaderLen
	case TypeOpen, TypeOpenDone, TypeCloseDone, TypeHostError, TypeFunctionError:
		fixed = 16
	default:
		return Message{}, parseErr("message_type", offMessageType, ErrUnknownMessageType)
	}
	n := binary.LittleEndian.Uint32(b[offMessageLength:])
	if n < fixed {
		return Message{}, parseErr("message_length", offMessageLength, ErrMalformed)
	}
	if uint64(n) > uint64(len(b)) {
		return Message{}, errIncompleteMessage
	}
	// n <= len(b) now, so it is a valid int even on 32-bit platforms. The
	// capacity is clipped so that appending to Bytes() cannot overwrite
	// whatever follows the message in the caller's buffer.
	b = b[:n:n]
	if hdr == 0 {
		return Message{b: b}, nil
	}
	total := binary.LittleEndian.Uint32(b[offFragmentTotal:])
	current := binary.LittleEndian.Uint32(b[offFragmentCurrent:])
	switch {
	case total == 0:
		return Message{}, parseErr("fragment_total", offFragmentTotal, ErrMalformed)
	case current >= total:
		return Message{}, parseErr("fragment_current", offFragmentCurrent, ErrMalformed)
	case total > 1:
		// A fragment of a longer message: its content is checked once the
		// message is reassembled.
		return Message{b: b}, nil
	case int(n) < hdr:
		return Message{}, parseErr("message_length", offMessageLength, ErrMalformed)
	}
	ibl := binary.LittleEndian.Uint32(b[hdr-4:])
	if uint64(n) < uint64(hdr)+uint64(ibl) {
		return Message{}, parseErr("information_buffer_length", hdr-4, ErrMalformed)
	}
	return Message{b, uint32(hdr), uint32(hdr) + ibl}, nil
}

// NextMessage splits a byte stream (a pty or a proxy socket delivers chunks
// that may hold part of a message, or several messages). It returns the first
// message in stream and the number of bytes it occupies; the caller drops
// those bytes and calls again while bytes remain.
//
// When more bytes are needed it returns an error wrapping ErrIncomplete and
// n = 0: keep the bytes and read more. The caller should bound how much it
// buffers (a garbage MessageLength can ask for up to 4 GiB), for example by
// treating more than MaxControlTransfer bytes still incomplete as garbage.
//
// When the first message is malformed or of an unknown type it returns the
// error and n = len(stream): the whole buffer should be discarded. This is
// what libmbim does, and it is the only safe choice, because MBIM has no
// sync marker: once a length cannot be trusted there is no way to find where
// the next message starts (quirk Q5).
func NextMessage(stream []byte) (m Message, n int, err error) {
	m, err = ParseMessage(stream)
	if err != nil {
		if err == errIncompleteHeader || err == errIncompleteMessage {
			return Message{}, 0, err
		}
		return Message{}, len(stream), err
	}
	return m, len(m.b), nil
}

// u32 reads the word at off, or 0 when the view is too short (the zero
// Message, or a fragment that ends early).
func (m Message) u32(off int) uint32 {
	if off < 0 || len(m.b)-off < 4 {
		return 0
	}
	return binary.LittleEndian.Uint32(m.b[off:])
}

// Type returns the MessageType.
func (m Message) Type() MessageType { return MessageType(m.u32(offMessageType)) }

// Length returns MessageLength, which is also len(m.Bytes()).
func (m Message) Length() uint32 { return m.u32(offMessageLength) }

// TransactionID returns the TransactionId.
func (m Message) TransactionID() uint32 { return m.u32(offTransactionID) }

// Bytes returns the whole message (or fragment), header included. It aliases
// the parsed buffer and has no spare capacity.
func (m Message) Bytes() []byte { return m.b }

// IsFragment reports whether m is one fragment of a message split in several
// (TotalFragments > 1); such a message must go through a Reassembler.
func (m Message) IsFragment() bool { return m.FragmentTotal() > 1 }

// FragmentTotal returns TotalFragments (0 for the types without a fragment
// header).
func (m Message) FragmentTotal() uint32 {
	if !m.Type().fragmentable() {
		return 0
	}
	return m.u32(offFragmentTotal)
}

// FragmentCurrent returns CurrentFragment (0 for the types without a
// fragment header).
func (m Message) FragmentCurrent() uint32 {
	if !m.Type().fragmentable() {
		return 0
	}
	return m.u32(offFragmentCurrent)
}

// hasCommandHeader reports whether m carries the service/CID header: a
// fragmentable type, and not a continuation fragment.
func (m Message) hasCommandHeader() bool {
	return m.Type().fragmentable() && m.u32(offFragmentCurrent) == 0
}

// Service returns the DeviceServiceId of a COMMAND, COMMAND_DONE or
// INDICATE_STATUS.
func (m Message) Service() UUID {
	if !m.hasCommandHeader() || len(m.b) < offService+16 {
		return UUID{}
	}
	return UUID(m.b[offService : offService+16])
}

// CID returns the command id of a COMMAND, COMMAND_DONE or INDICATE_STATUS.
func (m Message) CID() uint32 {
	if !m.hasCommandHeader() {
		return 0
	}
	return m.u32(offCID)
}

// CommandType returns the CommandType of a COMMAND.
func (m Message) CommandType() CommandType {
	if m.Type() != TypeCommand || !m.hasCommandHeader() {
		return 0
	}
	return CommandType(m.u32(offCommandWord))
}

// Status returns the status of a COMMAND_DONE, OPEN_DONE or CLOSE_DONE.
func (m Message) Status() Status {
	switch m.Type() {
	case TypeOpenDone, TypeCloseDone:
		return Status(m.u32(offBodyWord))
	case TypeCommandDone:
		if m.hasCommandHeader() {
			return Status(m.u32(offCommandWord))
		}
	}
	return 0
}

// ErrorCode returns the ErrorStatusCode of a HOST_ERROR or FUNCTION_ERROR.
func (m Message) ErrorCode() ProtocolError {
	if t := m.Type(); t != TypeHostError && t != TypeFunctionError {
		return 0
	}
	return ProtocolError(m.u32(offBodyWord))
}

// MaxControlTransfer returns the MaxControlTransfer of an OPEN.
func (m Message) MaxControlTransfer() uint32 {
	if m.Type() != TypeOpen {
		return 0
	}
	return m.u32(offBodyWord)
}

// InformationBufferLength returns the declared length of the complete
// information buffer of a COMMAND, COMMAND_DONE or INDICATE_STATUS. On
// fragment 0 of a fragmented message it announces the length the reassembled
// message will have.
func (m Message) InformationBufferLength() uint32 {
	if !m.hasCommandHeader() {
		return 0
	}
	return m.u32(m.Type().infoOffset() - 4)
}

// InformationBufferOffset returns where the information buffer starts: 48
// for COMMAND and COMMAND_DONE, 44 for INDICATE_STATUS, 0 for the other
// types. OL offsets inside the buffer are relative to this point.
func (m Message) InformationBufferOffset() int { return m.Type().infoOffset() }

// InformationBuffer returns exactly InformationBufferLength bytes starting at
// InformationBufferOffset, even if MessageLength leaves more bytes after them.
// It returns nil for the types without a buffer and for a fragment of a
// longer message (reassemble it first, or use FragmentPayload); an empty
// buffer is a non-nil empty slice. The slice aliases the message and has no
// spare capacity.
func (m Message) InformationBuffer() []byte {
	if m.infoStart != 0 {
		return m.b[m.infoStart:m.infoEnd:m.infoEnd]
	}
	return m.findInformationBuffer()
}

// findInformationBuffer is InformationBuffer for a Message that was not
// made by ParseMessage (a reassembled message, a copy).
func (m Message) findInformationBuffer() []byte {
	b := m.b
	if len(b) < msgFragmentHdrEnd {
		return nil
	}
	var off int
	switch MessageType(binary.LittleEndian.Uint32(b)) {
	case TypeCommand, TypeCommandDone:
		off = 48
	case TypeIndicateStatus:
		off = 44
	default:
		return nil
	}
	if binary.LittleEndian.Uint32(b[offFragmentTotal:]) != 1 || len(b) < off {
		return nil
	}
	// Always inside the view after ParseMessage; checked so that no view
	// can panic.
	n := uint64(binary.LittleEndian.Uint32(b[off-4:]))
	if uint64(off)+n > uint64(len(b)) {
		return nil
	}
	end := off + int(n)
	return b[off:end:end]
}

// FragmentPayload returns the bytes after the common and fragment headers
// (from offset 20) of a COMMAND, COMMAND_DONE or INDICATE_STATUS: the part of
// the message that this fragment carries. It returns nil for the other types.
func (m Message) FragmentPayload() []byte {
	if !m.Type().fragmentable() || len(m.b) < msgFragmentHdrEnd {
		return nil
	}
	return m.b[msgFragmentHdrEnd:]
}

// Building messages.
//
// The builders append one complete message (TotalFragments 1) to dst and
// return the extended slice, like strconv.Append*; they allocate nothing when
// dst has room. Transaction ids are the caller's: the client allocates them.
// Split a message larger than the peer's limit with AppendFragment.

// InfoAppender appends an information buffer to b. It is the shape of
// encoding.BinaryAppender, which the typed request structs implement.
type InfoAppender interface {
	AppendBinary(b []byte) ([]byte, error)
}

// appendHeader appends the 12-byte common header.
func appendHeader(dst []byte, t MessageType, length, tid uint32) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(t))
	dst = binary.LittleEndian.AppendUint32(dst, length)
	return binary.LittleEndian.AppendUint32(dst, tid)
}

// appendSimple appends one of the 16-byte messages: header plus one word.
func appendSimple(dst []byte, t MessageType, tid, word uint32) []byte {
	dst = appendHeader(dst, t, 16, tid)
	return binary.LittleEndian.AppendUint32(dst, word)
}

// AppendOpen appends an OPEN announcing the largest message (or fragment) the
// host can receive.
func AppendOpen(dst []byte, tid, maxControlTransfer uint32) []byte {
	return appendSimple(dst, TypeOpen, tid, maxControlTransfer)
}

// AppendClose appends a CLOSE.
func AppendClose(dst []byte, tid uint32) []byte {
	return appendHeader(dst, TypeClose, 12, tid)
}

// AppendOpenDone appends an OPEN_DONE (the device side of an OPEN; used by
// simulators and tests).
func AppendOpenDone(dst []byte, tid uint32, status Status) []byte {
	return appendSimple(dst, TypeOpenDone, tid, uint32(status))
}

// AppendCloseDone appends a CLOSE_DONE.
func AppendCloseDone(dst []byte, tid uint32, status Status) []byte {
	return appendSimple(dst, TypeCloseDone, tid, uint32(status))
}

// AppendHostError appends a HOST_ERROR, which the host sends to fail a
// transaction the device started (a fragment timeout, say).
func AppendHostError(dst []byte, tid uint32, code ProtocolError) []byte {
	return appendSimple(dst, TypeHostError, tid, uint32(code))
}

// AppendFunctionError appends a FUNCTION_ERROR (the device's counterpart of
// HOST_ERROR).
func AppendFunctionError(dst []byte, tid uint32, code ProtocolError) []byte {
	return appendSimple(dst, TypeFunctionError, tid, uint32(code))
}

// AppendCommand appends a COMMAND carrying info as its information buffer.
//
// It panics, as bytes.Buffer does, if info is too large for MBIM's 32-bit
// length fields (about 4 GiB, only possible on 64-bit platforms); use
// AppendCommandInfo to get an error instead.
func AppendCommand(dst []byte, tid uint32, service UUID, cid uint32, ct CommandType, info []byte) []byte {
	return mustAppend(appendBody(dst, TypeCommand, tid, service, cid, uint32(ct), info, nil))
}

// AppendCommandDone appends a COMMAND_DONE (simulators and tests). It panics
// like AppendCommand on a buffer too large for 32-bit lengths.
func AppendCommandDone(dst []byte, tid uint32, service UUID, cid uint32, status Status, info []byte) []byte {
	return mustAppend(appendBody(dst, TypeCommandDone, tid, service, cid, uint32(status), info, nil))
}

// AppendIndicateStatus appends an INDICATE_STATUS (simulators and tests). It
// panics like AppendCommand on a buffer too large for 32-bit lengths.
func AppendIndicateStatus(dst []byte, tid uint32, service UUID, cid uint32, info []byte) []byte {
	return mustAppend(appendBody(dst, TypeIndicateStatus, tid, service, cid, 0, info, nil))
}

// AppendCommandInfo appends a COMMAND whose information buffer info appends
// in place, straight into the message: the header is written with zero
// lengths, info appends after it, and MessageLength and
// InformationBufferLength are patched last. A nil info gives an empty buffer.
//
// On error dst is returned unchanged in length (bytes past its length may
// have been written). The error is info's own, or one wrapping ErrTooLarge
// when the message does not fit 32-bit lengths.
func AppendCommandInfo(dst []byte, tid uint32, service UUID, cid uint32, ct CommandType, info InfoAppender) ([]byte, error) {
	return appendBody(dst, TypeCommand, tid, service, cid, uint32(ct), nil, info)
}

// AppendCommandDoneInfo is AppendCommandInfo for a COMMAND_DONE.
func AppendCommandDoneInfo(dst []byte, tid uint32, service UUID, cid uint32, status Status, info InfoAppender) ([]byte, error) {
	return appendBody(dst, TypeCommandDone, tid, service, cid, uint32(status), nil, info)
}

// AppendIndicateStatusInfo is AppendCommandInfo for an INDICATE_STATUS.
func AppendIndicateStatusInfo(dst []byte, tid uint32, service UUID, cid uint32, info InfoAppender) ([]byte, error) {
	return appendBody(dst, TypeIndicateStatus, tid, service, cid, 0, nil, info)
}

// errInfoAppender reports an InfoAppender that returned fewer bytes than it
// was given, which breaks the append contract.
var errInfoAppender = fmt.Errorf("mbim: information buffer appender dropped bytes: %w", ErrMalformed)

// appendBody is the one code path behind all six builders of COMMAND,
// COMMAND_DONE and INDICATE_STATUS: it writes the header with placeholder
// lengths, appends raw and then whatever info appends, and patches the
// lengths (dnsmessage style). word is the CommandType or the Status; it is
// not written for INDICATE_STATUS, whose header has no such field.
func appendBody(dst []byte, t MessageType, tid uint32, service UUID, cid, word uint32, raw []byte, info InfoAppender) ([]byte, error) {
	start := len(dst)
	hdr := t.infoOffset()
	b := appendHeader(dst, t, 0, tid)
	b = binary.LittleEndian.AppendUint32(b, 1) // TotalFragments
	b = binary.LittleEndian.AppendUint32(b, 0) // CurrentFragment
	b = append(b, service[:]...)
	b = binary.LittleEndian.AppendUint32(b, cid)
	if t != TypeIndicateStatus {
		b = binary.LittleEndian.AppendUint32(b, word)
	}
	b = binary.LittleEndian.AppendUint32(b, 0) // InformationBufferLength
	b = append(b, raw...)
	if info != nil {
		var err error
		if b, err = info.AppendBinary(b); err != nil {
			return dst, err
		}
		if len(b) < start+hdr {
			return dst, errInfoAppender
		}
	}
	n := uint64(len(b) - start)
	if n > math.MaxUint32 {
		return dst, parseErr("message_length", offMessageLength, ErrTooLarge)
	}
	binary.LittleEndian.PutUint32(b[start+offMessageLength:], uint32(n))
	binary.LittleEndian.PutUint32(b[start+hdr-4:], uint32(n)-uint32(hdr))
	return b, nil
}

// mustAppend turns the only possible error of the []byte builders (a
// message over 4 GiB) into a panic, as bytes.Buffer does for ErrTooLarge.
func mustAppend(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
