package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/gowwan/wwan/mbim"
)

// FuzzReassembler input:
//
//	[0]    maximum fragment size: 21 + data[0]%100 bytes
//	[1]    reassembler limit: 0 means NewReassembler(0) (64 KiB), else 32+4*data[1]
//	[2]    number of messages: 1 + data[2]%3 (transactions 1, 2, 3)
//	then per message: type (COMMAND, COMMAND_DONE, INDICATE_STATUS), buffer
//	length, a corruption byte (odd: InformationBufferLength is made wrong)
//	then one byte per operation (see reassemblyScript.run).
//
// Every message is split with FragmentCount and AppendFragment. The
// operations deliver fragments in order, duplicate, skip, pick at random,
// switch to another message (interleaving), and inject raw messages,
// FUNCTION_ERRORs, pass-through messages and Reset calls. A reference model
// of the documented state machine (Reassembler.Add's doc comment) runs
// beside the real one and must agree on every result.
func FuzzReassembler(f *testing.F) {
	for _, v := range loadVectors(f) {
		if len(v.Fragments) == 0 {
			continue
		}
		// The vector's message, split at its size, delivered in order; then
		// with a duplicate and a dropped fragment.
		msg := unhex(f, v.Hex)
		if v.ReassembledHex != "" {
			msg = unhex(f, v.ReassembledHex)
		}
		size := byte(max(v.MaxFragmentSize, 28) - 21)
		head := []byte{size, 0, 0, 2, byte(len(msg) - 48 + 4), 0}
		f.Add(append(head, 0, 0, 0, 0, 0, 0))
		f.Add(append(head, 0, 3, 0, 4, 0, 0, 0))
	}
	f.Add([]byte{7, 0, 2, 0, 200, 0, 1, 90, 0, 0, 0, 6, 1, 0, 0, 6, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 1, 1, 1, 255, 0, 0, 0, 0, 0, 0, 0, 0})           // MAX_TRANSFER
	f.Add([]byte{30, 0, 0, 2, 100, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // LENGTH_MISMATCH
	f.Add([]byte{0, 0, 2, 0, 120, 0, 1, 120, 0, 0, 6, 1, 0, 0, 7, 1, 0, 0, 0, 7, 2, 0, 0, 7, 0, 40, 3, 0, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0})

	// Raw input through the splitter (size 27), a zero Message, and a raw
	// fragment 1 of 3 in transaction 1, between fragments of message 1.
	raw := mbim.AppendCommandDone(nil, 9, mbim.ServiceBasicConnect, 2, 0, make([]byte, 20))
	frag, _ := mbim.AppendFragment(nil, mbim.AppendCommand(nil, 1, mbim.ServiceBasicConnect, 1, mbim.CommandSet, make([]byte, 60)), 48, 1)
	seed := []byte{7, 0, 0, 0, 60, 0, 7, 220, byte(len(raw))}
	seed = append(append(seed, raw...), 7, 5, 0, 7, 48, byte(len(frag)))
	f.Add(append(append(seed, frag...), 0, 0, 0, 0))

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		s := &reassemblyScript{t: t, data: data[3:]}
		s.maxSize = 21 + int(data[0])%100
		limit := 0
		if data[1] != 0 {
			limit = 32 + 4*int(data[1])
		}
		s.real = mbim.NewReassembler(limit)
		if limit == 0 {
			limit = 64 << 10
		}
		s.model = &modelReassembler{limit: limit}
		for i := range 1 + int(data[2])%3 {
			s.addMessage(uint32(i + 1))
		}
		for i, msg := range s.msgs {
			checkInOrder(t, msg, s.frags[i], limit)
		}
		s.run()
	})
}

type reassemblyScript struct {
	t       *testing.T
	data    []byte
	maxSize int
	msgs    [][]byte   // by transaction - 1
	frags   [][][]byte // fragments of each message
	real    *mbim.Reassembler
	model   *modelReassembler
	last    []byte // the last fragment delivered
	// tainted marks the transactions that raw input fragments were
	// delivered under: a reassembled message of such a transaction may
	// legitimately differ from the one we built.
	tainted [5]bool
}

func (s *reassemblyScript) byte() byte {
	if len(s.data) == 0 {
		return 0
	}
	b := s.data[0]
	s.data = s.data[1:]
	return b
}

// addMessage builds one message from the input and splits it.
func (s *reassemblyScript) addMessage(tid uint32) {
	t := s.t
	typ, n, corrupt := s.byte()%3, int(s.byte()), s.byte()
	info := make([]byte, n)
	for i := range info {
		info[i] = byte(tid)<<6 | byte(i)
	}
	svc := mbim.ServiceBasicConnect
	var msg []byte
	switch typ {
	case 0:
		msg = mbim.AppendCommand(nil, tid, svc, 1, mbim.CommandSet, info)
	case 1:
		msg = mbim.AppendCommandDone(nil, tid, svc, 2, 0, info)
	default:
		msg = mbim.AppendIndicateStatus(nil, tid, svc, 3, info)
	}
	if corrupt&1 != 0 {
		// A wrong InformationBufferLength: the reassembled message is not
		// valid, which only the last fragment can tell.
		hdr := 48
		if typ == 2 {
			hdr = 44
		}
		binary.LittleEndian.PutUint32(msg[hdr-4:], uint32(n)+1+uint32(corrupt>>1))
	}
	count, err := mbim.FragmentCount(msg, s.maxSize)
	if err != nil {
		t.Fatalf("FragmentCount(%d bytes, %d): %v", len(msg), s.maxSize, err)
	}
	if want := 1; len(msg) > s.maxSize {
		want = (len(msg) - 20 + s.maxSize - 21) / (s.maxSize - 20)
		if count != want {
			t.Fatalf("FragmentCount(%d bytes, %d) = %d, want %d", len(msg), s.maxSize, count, want)
		}
	} else if count != want {
		t.Fatalf("FragmentCount(%d bytes, %d) = %d, want 1", len(msg), s.maxSize, count)
	}
	frags := make([][]byte, count)
	var payload []byte
	for i := range count {
		prefix := []byte{9, 9}
		fr, err := mbim.AppendFragment(prefix, msg, s.maxSize, i)
		if err != nil {
			t.Fatalf("AppendFragment %d of %d: %v", i, count, err)
		}
		if !bytes.Equal(fr[:2], []byte{9, 9}) {
			t.Fatalf("AppendFragment overwrote dst")
		}
		fr = fr[2:]
		frags[i] = fr
		if len(fr) > s.maxSize || len(fr) <= 20 {
			t.Fatalf("fragment %d of %d is %d bytes, limit %d", i, count, len(fr), s.maxSize)
		}
		if count == 1 {
			if !bytes.Equal(fr, msg) {
				t.Fatalf("a message that fits was changed by AppendFragment")
			}
			continue
		}
		m, err := mbim.ParseMessage(fr)
		if err != nil {
			t.Fatalf("fragment %d of %d does not parse: %v\n%x", i, count, err, fr)
		}
		if m.Type() != mbim.MessageType(binary.LittleEndian.Uint32(msg)) || m.TransactionID() != tid ||
			m.FragmentTotal() != uint32(count) || m.FragmentCurrent() != uint32(i) || int(m.Length()) != len(fr) {
			t.Fatalf("fragment %d of %d has a wrong header: %x", i, count, fr[:20])
		}
		payload = append(payload, m.FragmentPayload()...)
	}
	if count > 1 && !bytes.Equal(payload, msg[20:]) {
		t.Fatalf("the fragments' payloads do not add up to the message")
	}
	if _, err := mbim.AppendFragment(nil, msg, s.maxSize, count); err == nil {
		t.Fatalf("AppendFragment accepted fragment %d of %d", count, count)
	}
	s.msgs = append(s.msgs, msg)
	s.frags = append(s.frags, frags)
}

// checkInOrder feeds one message's fragments, in order, to a fresh
// reassembler: it must return exactly the message, or fail as documented.
func checkInOrder(t *testing.T, msg []byte, frags [][]byte, limit int) {
	t.Helper()
	r := mbim.NewReassembler(limit)
	valid := true
	if _, err := mbim.ParseMessage(msg); err != nil {
		valid = false
	}
	for i, fr := range frags {
		f, err := mbim.ParseMessage(fr)
		if err != nil {
			if len(frags) == 1 && !valid {
				return // a whole, invalid message: nothing to deliver
			}
			t.Fatalf("fragment %d: %v", i, err)
		}
		m, complete, err := r.Add(f)
		last := i == len(frags)-1
		if err != nil {
			fe := checkFragErr(t, err)
			switch {
			case fe.Code == mbim.ProtocolErrorMaxTransfer && len(msg) > limit:
			case fe.Code == mbim.ProtocolErrorMaxTransfer && i == 0 && !valid:
				// Fragment 0 announces an InformationBufferLength that
				// cannot fit the limit.
			case fe.Code == mbim.ProtocolErrorLengthMismatch && last && !valid:
			default:
				t.Fatalf("in-order fragment %d of %d (%d-byte message, valid %v, limit %d): %v", i, len(frags), len(msg), valid, limit, err)
			}
			return
		}
		if complete != last {
			t.Fatalf("in-order fragment %d of %d: complete %v", i, len(frags), complete)
		}
		if complete && !bytes.Equal(m.Bytes(), msg) {
			t.Fatalf("reassembled message differs from the original:\n%x\n%x", m.Bytes(), msg)
		}
	}
	if len(frags) > 1 && (!valid || len(msg) > limit) {
		t.Fatalf("reassembled a %d-byte message (valid %v) with limit %d", len(msg), valid, limit)
	}
}

// checkFragErr checks that err is a *FragmentError with one of the codes a
// reassembler may report.
func checkFragErr(t *testing.T, err error) *mbim.FragmentError {
	t.Helper()
	var fe *mbim.FragmentError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *mbim.FragmentError", err, err)
	}
	switch fe.Code {
	case mbim.ProtocolErrorFragmentOutOfSequence, mbim.ProtocolErrorMaxTransfer, mbim.ProtocolErrorLengthMismatch:
	default:
		t.Fatalf("FragmentError code %s", fe.Code)
	}
	if !errors.Is(err, fe.Code) || fe.Error() == "" {
		t.Fatalf("errors.Is(%v, %s) is false", err, fe.Code)
	}
	return fe
}

// run plays the operations.
func (s *reassemblyScript) run() {
	cm, cf := 0, 0 // current message and its next fragment
	for steps := 0; len(s.data) > 0 && steps < 4096; steps++ {
		op := s.byte()
		switch op % 8 {
		case 0, 1, 2: // the next fragment in order
			s.deliver(s.frags[cm][cf])
			if cf++; cf == len(s.frags[cm]) {
				cm, cf = (cm+1)%len(s.msgs), 0
			}
		case 3: // a duplicate of the last one
			if s.last != nil {
				s.deliver(s.last)
			}
		case 4: // drop the next one
			if cf++; cf == len(s.frags[cm]) {
				cm, cf = (cm+1)%len(s.msgs), 0
			}
		case 5: // any fragment
			m := int(s.byte()) % len(s.msgs)
			s.deliver(s.frags[m][int(s.byte())%len(s.frags[m])])
		case 6: // start another message: interleaving
			cm, cf = int(s.byte())%len(s.msgs), 0
		case 7:
			switch sub := s.byte(); sub % 6 {
			case 0: // raw bytes from the input, in one of our transactions or another
				n := min(int(s.byte()), len(s.data))
				raw := append([]byte(nil), s.data[:n]...)
				s.data = s.data[n:]
				if len(raw) >= 12 {
					tid := uint32(sub/8) % 5 // 0 and 4 are nobody's
					binary.LittleEndian.PutUint32(raw[8:], tid)
					s.tainted[tid] = true
				}
				s.deliver(raw)
			case 4: // raw bytes through the splitter
				n := min(int(s.byte()), len(s.data))
				raw := s.data[:n]
				s.data = s.data[n:]
				checkSplit(s.t, raw, int(sub/8))
			case 5: // a Message that ParseMessage did not make
				if _, complete, err := s.real.Add(mbim.Message{}); complete || err == nil {
					t := s.t
					t.Fatalf("Add(Message{}) = %v, %v", complete, err)
				} else {
					checkParseErr(s.t, "Add(Message{})", err, mbim.ErrMalformed)
				}
			case 1: // the device gives up on a transaction
				s.deliver(mbim.AppendFunctionError(nil, uint32(s.byte()%4), mbim.ProtocolErrorTimeoutFragment))
			case 2:
				s.real.Reset()
				s.model.reset()
			case 3: // a message that is not a fragment passes through
				s.deliver(mbim.AppendOpenDone(nil, uint32(s.byte()%4), 0))
			}
		}
	}
}

// deliver gives one message or fragment to both reassemblers and compares.
func (s *reassemblyScript) deliver(raw []byte) {
	t := s.t
	f, err := mbim.ParseMessage(raw)
	if err != nil {
		return // only parsed messages reach a reassembler
	}
	s.last = raw
	wantBytes, wantComplete, wantErr := s.model.add(f)
	m, complete, err := s.real.Add(f)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("Add(%x): error %v, model %v", raw[:min(len(raw), 24)], err, wantErr)
	}
	if err != nil {
		fe := checkFragErr(t, err)
		if fe.Code != wantErr.Code || fe.TID != wantErr.TID || fe.Type != wantErr.Type {
			t.Fatalf("Add(%x): %v (tid %d), model %v (tid %d)", raw[:min(len(raw), 24)], err, fe.TID, wantErr, wantErr.TID)
		}
		if complete || m.Bytes() != nil {
			t.Fatalf("Add failed but returned a message")
		}
	}
	if complete != wantComplete || !bytes.Equal(m.Bytes(), wantBytes) {
		t.Fatalf("Add(%x): complete %v %x, model %v %x", raw[:min(len(raw), 24)], complete, m.Bytes(), wantComplete, wantBytes)
	}
	if complete && !f.IsFragment() && &m.Bytes()[0] != &f.Bytes()[0] {
		t.Fatalf("a whole message was copied instead of passed through")
	}
	if complete && f.IsFragment() {
		// Reassembled: a valid, whole message within the limit, and when it
		// is one of ours, exactly that one.
		if m.IsFragment() || len(m.Bytes()) > s.model.limit {
			t.Fatalf("reassembled a fragment, or %d bytes over the limit %d", len(m.Bytes()), s.model.limit)
		}
		if _, err := mbim.ParseMessage(m.Bytes()); err != nil {
			t.Fatalf("reassembled message does not parse: %v", err)
		}
		if tid := m.TransactionID(); tid >= 1 && int(tid) <= len(s.msgs) && !s.tainted[tid] && !bytes.Equal(m.Bytes(), s.msgs[tid-1]) {
			t.Fatalf("reassembled transaction %d differs from the original:\n%x\n%x", tid, m.Bytes(), s.msgs[tid-1])
		}
	}
	if tid, ok := s.real.InProgress(); ok != s.model.active || (ok && tid != s.model.tid) {
		t.Fatalf("InProgress() = %d, %v; model %d, %v", tid, ok, s.model.tid, s.model.active)
	}
	// Memory is bounded: the internal buffer's capacity never passes the
	// limit. (Looked at through reflection; skipped if the field goes.)
	if buf := reflect.ValueOf(s.real).Elem().FieldByName("buf"); buf.IsValid() && buf.Kind() == reflect.Slice && buf.Cap() > s.model.limit {
		t.Fatalf("reassembler buffer capacity %d over the limit %d", buf.Cap(), s.model.limit)
	}
}

// modelReassembler is the state machine of Reassembler.Add as its doc
// comment describes it, written plainly.
type modelReassembler struct {
	limit       int
	active      bool
	tid         uint32
	typ         mbim.MessageType
	total, next uint32
	buf         []byte
}

func (r *modelReassembler) reset() {
	r.active, r.tid, r.typ, r.total, r.next, r.buf = false, 0, 0, 0, 0, nil
}

func (r *modelReassembler) fail(code mbim.ProtocolError) *mbim.FragmentError {
	e := &mbim.FragmentError{TID: r.tid, Type: r.typ, Code: code}
	r.reset()
	return e
}

func (r *modelReassembler) add(f mbim.Message) ([]byte, bool, *mbim.FragmentError) {
	t, tid := f.Type(), f.TransactionID()
	if !f.IsFragment() {
		if t == mbim.TypeFunctionError && r.active && tid == r.tid {
			r.reset()
		}
		return f.Bytes(), true, nil
	}
	total, current := f.FragmentTotal(), f.FragmentCurrent()
	if r.active && (tid != r.tid || t != r.typ) {
		err := r.fail(mbim.ProtocolErrorFragmentOutOfSequence)
		if current == 0 {
			r.start(f)
		}
		return nil, false, err
	}
	if !r.active {
		if current != 0 {
			return nil, false, &mbim.FragmentError{TID: tid, Type: t, Code: mbim.ProtocolErrorFragmentOutOfSequence}
		}
		return nil, false, r.start(f)
	}
	if total != r.total || current != r.next {
		return nil, false, r.fail(mbim.ProtocolErrorFragmentOutOfSequence)
	}
	p := f.FragmentPayload()
	if len(r.buf)+len(p) > r.limit {
		return nil, false, r.fail(mbim.ProtocolErrorMaxTransfer)
	}
	r.buf = append(r.buf, p...)
	if r.next++; r.next < r.total {
		return nil, false, nil
	}
	le := binary.LittleEndian
	le.PutUint32(r.buf[4:], uint32(len(r.buf)))
	le.PutUint32(r.buf[12:], 1)
	le.PutUint32(r.buf[16:], 0)
	if _, err := mbim.ParseMessage(r.buf); err != nil {
		return nil, false, r.fail(mbim.ProtocolErrorLengthMismatch)
	}
	out := r.buf
	r.reset()
	return out, true, nil
}

// start begins a collection with fragment 0, unless the message it
// announces cannot fit: its own size, one byte at least for each further
// fragment, or the header plus its InformationBufferLength.
func (r *modelReassembler) start(f mbim.Message) *mbim.FragmentError {
	n := uint64(len(f.Bytes()))
	need := max(n+uint64(f.FragmentTotal()-1), n)
	if hdr := f.InformationBufferOffset(); int(n) >= hdr {
		need = max(need, uint64(hdr)+uint64(binary.LittleEndian.Uint32(f.Bytes()[hdr-4:])))
	}
	if need > uint64(r.limit) {
		return &mbim.FragmentError{TID: f.TransactionID(), Type: f.Type(), Code: mbim.ProtocolErrorMaxTransfer}
	}
	r.buf = append([]byte(nil), f.Bytes()...)
	r.active, r.tid, r.typ, r.total, r.next = true, f.TransactionID(), f.Type(), f.FragmentTotal(), 1
	return nil
}

// checkSplit runs the splitter over arbitrary bytes: FragmentCount and
// AppendFragment look only at the type word and the length, so any input
// of a fragmentable type splits, and anything else fails with the
// documented sentinel.
func checkSplit(t *testing.T, raw []byte, maxSize int) {
	t.Helper()
	n, err := mbim.FragmentCount(raw, maxSize)
	_, aerr := mbim.AppendFragment(nil, raw, maxSize, 0)
	if (err == nil) != (aerr == nil) {
		t.Fatalf("FragmentCount error %v, AppendFragment error %v", err, aerr)
	}
	var typ mbim.MessageType
	if len(raw) >= 4 {
		typ = mbim.MessageType(binary.LittleEndian.Uint32(raw))
	}
	fragmentable := typ == mbim.TypeCommand || typ == mbim.TypeCommandDone || typ == mbim.TypeIndicateStatus
	switch {
	case maxSize <= 20:
		if !errors.Is(err, mbim.ErrTooLarge) {
			t.Fatalf("FragmentCount(%d bytes, size %d): %v, want ErrTooLarge", len(raw), maxSize, err)
		}
		return
	case len(raw) < 12 || (fragmentable && len(raw) < 20):
		if !errors.Is(err, mbim.ErrTruncated) {
			t.Fatalf("FragmentCount(%d bytes): %v, want ErrTruncated", len(raw), err)
		}
		return
	case !fragmentable:
		if !errors.Is(err, mbim.ErrMalformed) && !errors.Is(err, mbim.ErrUnknownMessageType) {
			t.Fatalf("FragmentCount(%s): %v, want ErrMalformed or ErrUnknownMessageType", typ, err)
		}
		return
	case err != nil:
		t.Fatalf("FragmentCount(%d bytes of %s, size %d): %v", len(raw), typ, maxSize, err)
	}
	want := 1
	if len(raw) > maxSize {
		want = (len(raw) - 20 + maxSize - 21) / (maxSize - 20)
	}
	if n != want {
		t.Fatalf("FragmentCount(%d bytes, size %d) = %d, want %d", len(raw), maxSize, n, want)
	}
	var payload []byte
	for i := range n {
		fr, err := mbim.AppendFragment(nil, raw, maxSize, i)
		if err != nil {
			t.Fatalf("AppendFragment %d of %d: %v", i, n, err)
		}
		if n == 1 {
			if !bytes.Equal(fr, raw) {
				t.Fatalf("a message that fits was changed")
			}
			return
		}
		le := binary.LittleEndian
		if len(fr) > maxSize || le.Uint32(fr) != uint32(typ) || int(le.Uint32(fr[4:])) != len(fr) ||
			le.Uint32(fr[8:]) != le.Uint32(raw[8:]) || le.Uint32(fr[12:]) != uint32(n) || le.Uint32(fr[16:]) != uint32(i) {
			t.Fatalf("fragment %d of %d (size %d): bad header %x", i, n, maxSize, fr[:20])
		}
		payload = append(payload, fr[20:]...)
	}
	if !bytes.Equal(payload, raw[20:]) {
		t.Fatalf("the fragments' payloads do not add up to the message")
	}
}
