package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/gowwan/wwan/mbim"
)

// The sentinels a framing error may wrap.
var framingErrs = []error{mbim.ErrIncomplete, mbim.ErrMalformed, mbim.ErrUnknownMessageType}

func FuzzParseMessage(f *testing.F) {
	for _, v := range loadVectors(f) {
		for _, raw := range v.messages(f) {
			f.Add(raw)
		}
		if len(v.Fragments) > 1 {
			// Several messages back to back: a stream for NextMessage.
			f.Add(unhex(f, v.Hex))
		}
	}
	svc := mbim.ServiceBasicConnect
	le := binary.LittleEndian
	f.Add([]byte{})
	f.Add(mbim.AppendOpen(nil, 1, 4096))
	f.Add(mbim.AppendClose(nil, 2))
	f.Add(mbim.AppendOpenDone(nil, 3, 0))
	f.Add(mbim.AppendCloseDone(nil, 4, 1))
	f.Add(mbim.AppendHostError(nil, 5, mbim.ProtocolErrorTimeoutFragment))
	f.Add(mbim.AppendFunctionError(nil, 6, mbim.ProtocolErrorFragmentOutOfSequence))
	f.Add(mbim.AppendCommand(nil, 7, svc, 1, mbim.CommandQuery, nil))
	f.Add(mbim.AppendCommandDone(nil, 8, svc, 2, 0, []byte{1, 2, 3}))
	f.Add(mbim.AppendIndicateStatus(nil, 9, svc, 3, []byte{1, 2, 3, 4, 5}))
	// MessageLength longer than the buffer it announces (extra bytes are
	// ignored), and a message followed by the start of the next one.
	long := mbim.AppendCommandDone(nil, 10, svc, 2, 0, []byte{1, 2, 3, 4})
	le.PutUint32(long[4:], uint32(len(long)+8))
	f.Add(append(long, 0xaa, 0xbb, 0xcc, 0xdd, 0, 0, 0, 0))
	f.Add(append(mbim.AppendClose(nil, 11), mbim.AppendOpen(nil, 12, 64)[:7]...))
	// Lengths at the 32-bit edges.
	huge := mbim.AppendCommand(nil, 13, svc, 1, mbim.CommandSet, nil)
	le.PutUint32(huge[4:], 0xffffffff)
	f.Add(huge)
	ibl := mbim.AppendCommand(nil, 14, svc, 1, mbim.CommandSet, nil)
	le.PutUint32(ibl[44:], 0xffffffff)
	f.Add(ibl)

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := mbim.ParseMessage(data)
		checkMessage(t, data, m, err)

		// NextMessage over the input as a stream of messages.
		rest := data
		for steps := 0; len(rest) > 0; steps++ {
			m2, n, err2 := mbim.NextMessage(rest)
			p, perr := mbim.ParseMessage(rest)
			if (err2 == nil) != (perr == nil) {
				t.Fatalf("NextMessage error %v, ParseMessage error %v", err2, perr)
			}
			switch {
			case err2 == nil:
				if n != int(m2.Length()) || n != len(m2.Bytes()) || n == 0 {
					t.Fatalf("NextMessage consumed %d bytes of a %d-byte message", n, m2.Length())
				}
				if !bytes.Equal(m2.Bytes(), p.Bytes()) || &m2.Bytes()[0] != &rest[0] {
					t.Fatalf("NextMessage and ParseMessage disagree")
				}
			case errors.Is(err2, mbim.ErrIncomplete):
				if n != 0 {
					t.Fatalf("incomplete, but NextMessage consumed %d bytes", n)
				}
			default:
				checkParseErr(t, "NextMessage", err2, framingErrs...)
				if n != len(rest) {
					t.Fatalf("malformed, but NextMessage consumed %d of %d bytes", n, len(rest))
				}
			}
			if n == 0 {
				break
			}
			rest = rest[n:]
		}
	})
}

// checkMessage checks one ParseMessage result against the bytes.
func checkMessage(t *testing.T, data []byte, m mbim.Message, err error) {
	t.Helper()
	if err != nil {
		pe := checkParseErr(t, "ParseMessage", err, framingErrs...)
		if pe.Field == "" || pe.Offset < 0 || pe.Offset > 48 {
			t.Fatalf("ParseMessage error names field %q at offset %d: %v", pe.Field, pe.Offset, err)
		}
		if m.Bytes() != nil || m.Type() != 0 {
			t.Fatalf("ParseMessage failed (%v) but returned a non-zero Message", err)
		}
		// Incomplete means that MessageLength asks for more bytes than
		// there are; nothing else.
		if errors.Is(err, mbim.ErrIncomplete) && len(data) >= 12 &&
			uint64(binary.LittleEndian.Uint32(data[4:])) <= uint64(len(data)) {
			t.Fatalf("ParseMessage says %v, with MessageLength %d and %d bytes", err, binary.LittleEndian.Uint32(data[4:]), len(data))
		}
		if len(data) < 12 && !errors.Is(err, mbim.ErrIncomplete) {
			t.Fatalf("%d bytes: %v, want ErrIncomplete", len(data), err)
		}
		touch(m)
		return
	}
	le := binary.LittleEndian
	b := m.Bytes()
	n := int(le.Uint32(data[4:]))
	if len(b) != n || cap(b) != n || m.Length() != uint32(n) {
		t.Fatalf("view is %d bytes (cap %d), MessageLength %d", len(b), cap(b), n)
	}
	if n == 0 || &b[0] != &data[0] {
		t.Fatalf("view does not alias the input")
	}
	if m.Type() != mbim.MessageType(le.Uint32(data)) || m.TransactionID() != le.Uint32(data[8:]) {
		t.Fatalf("type/transaction accessors disagree with the header")
	}
	touch(m)

	t0 := m.Type()
	fragmentable := t0 == mbim.TypeCommand || t0 == mbim.TypeCommandDone || t0 == mbim.TypeIndicateStatus
	ib := m.InformationBuffer()
	if !fragmentable {
		if m.FragmentTotal() != 0 || m.IsFragment() || ib != nil || m.FragmentPayload() != nil {
			t.Fatalf("%s has a fragment header or buffer", t0)
		}
		reencodeSimple(t, m)
		checkPrefixes(t, data[:n])
		return
	}
	if m.FragmentTotal() == 0 || m.FragmentCurrent() >= m.FragmentTotal() {
		t.Fatalf("accepted fragment %d of %d", m.FragmentCurrent(), m.FragmentTotal())
	}
	if !bytes.Equal(m.FragmentPayload(), b[20:]) {
		t.Fatalf("FragmentPayload is not the bytes after the fragment header")
	}
	if m.IsFragment() {
		if ib != nil {
			t.Fatalf("a fragment of a longer message has an information buffer")
		}
		if m.FragmentCurrent() != 0 && (m.CID() != 0 || m.InformationBufferLength() != 0 || m.Service() != (mbim.UUID{})) {
			t.Fatalf("a continuation fragment reports a command header")
		}
		checkPrefixes(t, data[:n])
		return
	}
	off := m.InformationBufferOffset()
	if want := map[mbim.MessageType]int{mbim.TypeCommand: 48, mbim.TypeCommandDone: 48, mbim.TypeIndicateStatus: 44}[t0]; off != want {
		t.Fatalf("InformationBufferOffset %d, want %d", off, want)
	}
	ibl := int(m.InformationBufferLength())
	if ib == nil || len(ib) != ibl || cap(ib) != ibl || off+ibl > n {
		t.Fatalf("information buffer of %d bytes (cap %d) at %d, InformationBufferLength %d, message %d bytes", len(ib), cap(ib), off, ibl, n)
	}
	if ibl > 0 && &ib[0] != &b[off] {
		t.Fatalf("InformationBuffer does not alias the message at offset %d", off)
	}
	if m.Service() != mbim.UUID(b[20:36]) || m.CID() != le.Uint32(b[36:]) {
		t.Fatalf("service/CID accessors disagree with the header")
	}
	reencodeCommand(t, m)
	checkPrefixes(t, data[:n])
}

// touch calls every accessor; none may panic.
func touch(m mbim.Message) {
	_ = m.Type().String()
	_, _, _ = m.Length(), m.TransactionID(), m.Bytes()
	_, _, _ = m.IsFragment(), m.FragmentTotal(), m.FragmentCurrent()
	_, _, _ = m.Service(), m.CID(), m.CommandType()
	_, _ = m.Status().String(), m.ErrorCode().String()
	_, _ = m.MaxControlTransfer(), m.InformationBufferLength()
	_, _, _ = m.InformationBufferOffset(), m.InformationBuffer(), m.FragmentPayload()
}

// rawInfo is an InfoAppender of fixed bytes.
type rawInfo []byte

func (r rawInfo) AppendBinary(b []byte) ([]byte, error) { return append(b, r...), nil }

// reencodeCommand rebuilds a complete COMMAND, COMMAND_DONE or
// INDICATE_STATUS with its builder and checks it parses to the same header
// and buffer. Both the []byte and the InfoAppender forms must give the same
// bytes, and appending after existing bytes must not change them.
func reencodeCommand(t *testing.T, m mbim.Message) {
	t.Helper()
	tid, svc, cid, ib := m.TransactionID(), m.Service(), m.CID(), m.InformationBuffer()
	prefix := []byte{0xde, 0xad}
	var a, b []byte
	var err error
	switch m.Type() {
	case mbim.TypeCommand:
		a = mbim.AppendCommand(prefix, tid, svc, cid, m.CommandType(), ib)
		b, err = mbim.AppendCommandInfo(nil, tid, svc, cid, m.CommandType(), rawInfo(ib))
	case mbim.TypeCommandDone:
		a = mbim.AppendCommandDone(prefix, tid, svc, cid, m.Status(), ib)
		b, err = mbim.AppendCommandDoneInfo(nil, tid, svc, cid, m.Status(), rawInfo(ib))
	case mbim.TypeIndicateStatus:
		a = mbim.AppendIndicateStatus(prefix, tid, svc, cid, ib)
		b, err = mbim.AppendIndicateStatusInfo(nil, tid, svc, cid, rawInfo(ib))
	}
	if err != nil {
		t.Fatalf("%s builder: %v", m.Type(), err)
	}
	if !bytes.Equal(a[:2], []byte{0xde, 0xad}) || !bytes.Equal(a[2:], b) {
		t.Fatalf("AppendX and AppendXInfo disagree:\n%x\n%x", a[2:], b)
	}
	// A failing appender leaves dst's length as it was.
	dst := []byte{1, 2, 3}
	if out, err := mbim.AppendCommandInfo(dst, tid, svc, cid, 0, failInfo{}); !errors.Is(err, errWrite) || len(out) != len(dst) {
		t.Fatalf("AppendCommandInfo with a failing appender: %d bytes, %v", len(out), err)
	}
	if out, err := mbim.AppendIndicateStatusInfo(dst, tid, svc, cid, dropInfo{}); !errors.Is(err, mbim.ErrMalformed) || len(out) != len(dst) {
		t.Fatalf("AppendIndicateStatusInfo with an appender that drops bytes: %d bytes, %v", len(out), err)
	}
	m2, err := mbim.ParseMessage(b)
	if err != nil {
		t.Fatalf("re-encoded %s does not parse: %v\n%x", m.Type(), err, b)
	}
	if len(b) != m.InformationBufferOffset()+len(ib) {
		t.Fatalf("re-encoded message is %d bytes, want %d", len(b), m.InformationBufferOffset()+len(ib))
	}
	if m2.Type() != m.Type() || m2.TransactionID() != tid || m2.Service() != svc || m2.CID() != cid ||
		m2.CommandType() != m.CommandType() || m2.Status() != m.Status() || m2.IsFragment() ||
		m2.InformationBufferLength() != m.InformationBufferLength() || !bytes.Equal(m2.InformationBuffer(), ib) {
		t.Fatalf("re-encoded header differs:\n%x\n%x", m.Bytes(), b)
	}
}

// failInfo is an InfoAppender that fails; dropInfo one that breaks the
// append contract by returning fewer bytes than it was given.
type failInfo struct{}

func (failInfo) AppendBinary(b []byte) ([]byte, error) { return append(b, 1, 2), errWrite }

type dropInfo struct{}

func (dropInfo) AppendBinary(b []byte) ([]byte, error) { return b[:len(b)/2], nil }

// reencodeSimple rebuilds the messages that have no information buffer.
func reencodeSimple(t *testing.T, m mbim.Message) {
	t.Helper()
	tid := m.TransactionID()
	var b []byte
	switch m.Type() {
	case mbim.TypeOpen:
		b = mbim.AppendOpen(nil, tid, m.MaxControlTransfer())
	case mbim.TypeClose:
		b = mbim.AppendClose(nil, tid)
	case mbim.TypeOpenDone:
		b = mbim.AppendOpenDone(nil, tid, m.Status())
	case mbim.TypeCloseDone:
		b = mbim.AppendCloseDone(nil, tid, m.Status())
	case mbim.TypeHostError:
		b = mbim.AppendHostError(nil, tid, m.ErrorCode())
	case mbim.TypeFunctionError:
		b = mbim.AppendFunctionError(nil, tid, m.ErrorCode())
	default:
		t.Fatalf("accepted message type %s", m.Type())
	}
	m2, err := mbim.ParseMessage(b)
	if err != nil {
		t.Fatalf("re-encoded %s does not parse: %v", m.Type(), err)
	}
	if m2.Type() != m.Type() || m2.TransactionID() != tid || m2.Status() != m.Status() ||
		m2.ErrorCode() != m.ErrorCode() || m2.MaxControlTransfer() != m.MaxControlTransfer() {
		t.Fatalf("re-encoded %s differs:\n%x\n%x", m.Type(), m.Bytes(), b)
	}
	// Only the fixed part is kept: a longer MessageLength's extra bytes are
	// not part of the header.
	if fixed := len(b); !bytes.Equal(b[:4], m.Bytes()[:4]) || !bytes.Equal(b[8:fixed], m.Bytes()[8:fixed]) {
		t.Fatalf("re-encoded %s header bytes differ:\n%x\n%x", m.Type(), m.Bytes(), b)
	}
}

// checkPrefixes checks that a few proper prefixes of an accepted message
// are incomplete, never malformed nor accepted.
func checkPrefixes(t *testing.T, msg []byte) {
	t.Helper()
	n := len(msg)
	for _, k := range [...]int{0, 1, 11, 12, 19, 20, 43, 44, 47, 48, n / 2, n - 4, n - 1} {
		if k < 0 || k >= n {
			continue
		}
		_, err := mbim.ParseMessage(msg[:k])
		if !errors.Is(err, mbim.ErrIncomplete) {
			t.Fatalf("prefix of %d bytes of a valid %d-byte message: %v, want ErrIncomplete", k, n, err)
		}
		if _, c, err := mbim.NextMessage(msg[:k]); c != 0 || !errors.Is(err, mbim.ErrIncomplete) {
			t.Fatalf("NextMessage on a %d-byte prefix: consumed %d, %v", k, c, err)
		}
	}
}
