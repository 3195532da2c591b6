package mbim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
)

// frmFragment builds one raw fragment and parses it.
func frmFragment(t testing.TB, typ MessageType, tid, total, current uint32, payload []byte) Message {
	t.Helper()
	b := appendHeader(nil, typ, uint32(20+len(payload)), tid)
	b = binary.LittleEndian.AppendUint32(b, total)
	b = binary.LittleEndian.AppendUint32(b, current)
	b = append(b, payload...)
	m, err := ParseMessage(b)
	if err != nil {
		t.Fatalf("fragment %d/%d: %v", current, total, err)
	}
	return m
}

// frmSplit splits msg and parses every fragment.
func frmSplit(t testing.TB, msg []byte, maxSize int) []Message {
	t.Helper()
	n, err := FragmentCount(msg, maxSize)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]Message, n)
	for i := range n {
		f, err := AppendFragment(nil, msg, maxSize, i)
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = ParseMessage(f); err != nil {
			t.Fatalf("fragment %d of %d: %v", i, n, err)
		}
	}
	return out
}

// frmWantFragErr checks a *FragmentError's TID, type and code.
func frmWantFragErr(t *testing.T, err error, tid uint32, typ MessageType, code ProtocolError) {
	t.Helper()
	var fe *FragmentError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T), want a *FragmentError", err, err)
	}
	if !errors.Is(err, code) {
		t.Errorf("errors.Is(%v, %v) = false", err, code.String())
	}
	if fe.TID != tid || fe.Type != typ || fe.Code != code {
		t.Errorf("FragmentError{TID %d, Type %v, Code %v}, want {%d, %v, %v}", fe.TID, fe.Type, fe.Code.String(), tid, typ, code.String())
	}
}

func TestFragmentSplit(t *testing.T) {
	// A 48-byte INDICATE_STATUS whose bytes after the fragment header are a
	// counting pattern: its InformationBufferLength word is filler, so it is
	// not a valid message, and the splitter must not care.
	msg := appendHeader(nil, TypeIndicateStatus, 48, 1)
	msg = binary.LittleEndian.AppendUint32(msg, 1)
	msg = binary.LittleEndian.AppendUint32(msg, 0)
	for i := range 28 {
		msg = append(msg, byte(i))
	}
	if _, err := ParseMessage(msg); err == nil {
		t.Fatal("the filler message should not validate")
	}
	n, err := FragmentCount(msg, 28)
	if err != nil || n != 4 {
		t.Fatalf("FragmentCount = %d, %v; want 4", n, err)
	}
	for i := range n {
		got, err := AppendFragment(nil, msg, 28, i)
		if err != nil {
			t.Fatal(err)
		}
		chunk := msg[20+8*i : min(20+8*(i+1), len(msg))]
		want := appendHeader(nil, TypeIndicateStatus, uint32(20+len(chunk)), 1)
		want = binary.LittleEndian.AppendUint32(want, 4)
		want = binary.LittleEndian.AppendUint32(want, uint32(i))
		want = append(want, chunk...)
		if !bytes.Equal(got, want) {
			t.Errorf("fragment %d = %x, want %x", i, got, want)
		}
	}

	t.Run("fits", func(t *testing.T) {
		m := AppendCommand(nil, 3, frmBasicConnect, 1, CommandQuery, []byte{1, 2, 3, 4})
		for _, max := range []int{len(m), len(m) + 1, 4096, math.MaxInt} {
			n, err := FragmentCount(m, max)
			if err != nil || n != 1 {
				t.Fatalf("max %d: FragmentCount = %d, %v", max, n, err)
			}
			got, err := AppendFragment([]byte("x"), m, max, 0)
			if err != nil || !bytes.Equal(got, append([]byte("x"), m...)) {
				t.Errorf("max %d: AppendFragment = %x, %v; want the message unchanged", max, got, err)
			}
		}
	})

	t.Run("one byte per fragment", func(t *testing.T) {
		m := AppendCommand(nil, 3, frmBasicConnect, 1, CommandSet, []byte{1, 2, 3, 4})
		frags := frmSplit(t, m, 21)
		if len(frags) != len(m)-20 {
			t.Fatalf("%d fragments, want %d", len(frags), len(m)-20)
		}
		for i, f := range frags {
			if f.Length() != 21 || f.FragmentCurrent() != uint32(i) || f.FragmentTotal() != uint32(len(frags)) ||
				f.TransactionID() != 3 || f.Type() != TypeCommand {
				t.Errorf("fragment %d: %x", i, f.Bytes())
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		cmd := AppendCommand(nil, 3, frmBasicConnect, 1, CommandSet, make([]byte, 100))
		cases := []struct {
			name  string
			msg   []byte
			max   int
			want  error
			field string
		}{
			{"max 20", cmd, 20, ErrTooLarge, ""},
			{"max 0", cmd, 0, ErrTooLarge, ""},
			{"max negative", cmd, -5, ErrTooLarge, ""},
			{"empty", nil, 64, ErrTruncated, "header"},
			{"11 bytes", cmd[:11], 64, ErrTruncated, "header"},
			{"19 bytes", cmd[:19], 64, ErrTruncated, "fragment_header"},
			{"open", AppendOpen(nil, 1, 4096), 64, ErrMalformed, "message_type"},
			{"close", AppendClose(nil, 1), 64, ErrMalformed, "message_type"},
			{"function_error", AppendFunctionError(nil, 1, ProtocolErrorCancel), 64, ErrMalformed, "message_type"},
			{"unknown type", frmPut32(cmd, 0, 0x80cdab03), 64, ErrUnknownMessageType, "message_type"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := FragmentCount(c.msg, c.max)
				if !errors.Is(err, c.want) {
					t.Fatalf("FragmentCount: %v, want %v", err, c.want)
				}
				if c.field != "" {
					var pe *ParseError
					if !errors.As(err, &pe) || pe.Field != c.field {
						t.Errorf("error %v, want field %s", err, c.field)
					}
				}
				dst := []byte("keep")
				got, err := AppendFragment(dst, c.msg, c.max, 0)
				if !errors.Is(err, c.want) || string(got) != "keep" {
					t.Errorf("AppendFragment = %q, %v", got, err)
				}
			})
		}
		for _, i := range []int{-1, 3, 1000} {
			got, err := AppendFragment([]byte("keep"), cmd, 64, i)
			if !errors.Is(err, ErrTruncated) || string(got) != "keep" {
				t.Errorf("index %d: %q, %v", i, got, err)
			}
		}
	})
}

func TestFragmentReassembleRoundTrip(t *testing.T) {
	svc := MustParseUUID("01020304-0506-0708-090a-0b0c0d0e0f10")
	build := map[string]func(info []byte) []byte{
		"command":         func(p []byte) []byte { return AppendCommand(nil, 42, svc, 9, CommandSet, p) },
		"command_done":    func(p []byte) []byte { return AppendCommandDone(nil, 43, svc, 9, StatusBusy, p) },
		"indicate_status": func(p []byte) []byte { return AppendIndicateStatus(nil, 44, svc, 9, p) },
	}
	pattern := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i*7 + i>>8)
		}
		return p
	}
	type sizes struct{ maxSizes, infoLens []int }
	var small []int
	for m := 21; m <= 200; m++ {
		small = append(small, m)
	}
	plans := []sizes{
		{small, []int{0, 1, 2, 3, 4, 5, 7, 8, 13, 28, 31, 64, 100, 155, 156, 157, 255}},
		{[]int{21, 22, 47, 64, 100, 199, 512, 1024, 4096}, []int{1000, 2048, 4000, 4096 - 48, 4096 - 47}},
	}
	r := NewReassembler(0)
	fb := make([]byte, 0, 4096)
	for name, mk := range build {
		t.Run(name, func(t *testing.T) {
			for _, plan := range plans {
				for _, maxSize := range plan.maxSizes {
					for _, il := range plan.infoLens {
						msg := mk(pattern(il))
						n, err := FragmentCount(msg, maxSize)
						if err != nil {
							t.Fatal(err)
						}
						wantN := 1
						if len(msg) > maxSize {
							c := maxSize - 20
							wantN = (len(msg) - 20 + c - 1) / c
						}
						if n != wantN {
							t.Fatalf("max %d len %d: %d fragments, want %d", maxSize, len(msg), n, wantN)
						}
						var payload []byte
						for i := range n {
							fb, err = AppendFragment(fb[:0], msg, maxSize, i)
							if err != nil {
								t.Fatal(err)
							}
							f, err := ParseMessage(fb)
							if err != nil {
								t.Fatalf("max %d len %d fragment %d: %v", maxSize, len(msg), i, err)
							}
							if len(fb) > maxSize || f.FragmentTotal() != uint32(n) || f.FragmentCurrent() != uint32(i) ||
								f.TransactionID() != binary.LittleEndian.Uint32(msg[8:]) || f.Type() != MessageType(binary.LittleEndian.Uint32(msg)) {
								t.Fatalf("max %d len %d fragment %d: %x", maxSize, len(msg), i, fb)
							}
							payload = append(payload, f.FragmentPayload()...)
							m, complete, err := r.Add(f)
							if err != nil {
								t.Fatalf("max %d len %d fragment %d: Add: %v", maxSize, len(msg), i, err)
							}
							if complete != (i == n-1) {
								t.Fatalf("max %d len %d fragment %d of %d: complete = %v", maxSize, len(msg), i, n, complete)
							}
							if complete && !bytes.Equal(m.Bytes(), msg) {
								t.Fatalf("max %d len %d: reassembled\n%x\nwant\n%x", maxSize, len(msg), m.Bytes(), msg)
							}
						}
						if !bytes.Equal(payload, msg[20:]) {
							t.Fatalf("max %d len %d: payloads do not rebuild the message", maxSize, len(msg))
						}
						if _, ok := r.InProgress(); ok {
							t.Fatal("still in progress after the last fragment")
						}
					}
				}
			}
		})
	}
}

func TestReassembler(t *testing.T) {
	svc := frmBasicConnect
	// A COMMAND_DONE of 148 bytes in 3 fragments of at most 64 bytes.
	whole := AppendCommandDone(nil, 1, svc, 7, StatusSuccess, bytes.Repeat([]byte{0xab}, 100))
	a := frmSplit(t, whole, 64)
	other := frmSplit(t, AppendCommandDone(nil, 2, svc, 8, StatusSuccess, bytes.Repeat([]byte{0xcd}, 60)), 64)
	if len(a) != 3 || len(other) != 2 {
		t.Fatalf("setup: %d and %d fragments", len(a), len(other))
	}
	oos := ProtocolErrorFragmentOutOfSequence

	t.Run("in order", func(t *testing.T) {
		r := NewReassembler(0)
		for i, f := range a {
			m, complete, err := r.Add(f)
			if err != nil || complete != (i == 2) {
				t.Fatalf("fragment %d: complete %v, %v", i, complete, err)
			}
			if tid, ok := r.InProgress(); ok != (i < 2) || (ok && tid != 1) {
				t.Errorf("fragment %d: InProgress = %d, %v", i, tid, ok)
			}
			if complete {
				if !bytes.Equal(m.Bytes(), whole) || m.IsFragment() || m.Status() != StatusSuccess || len(m.InformationBuffer()) != 100 {
					t.Errorf("reassembled %x", m.Bytes())
				}
			}
		}
	})

	t.Run("complete message passes through", func(t *testing.T) {
		r := NewReassembler(0)
		single, _ := ParseMessage(AppendIndicateStatus(nil, 0, svc, 2, []byte{1, 2, 3, 4}))
		open, _ := ParseMessage(AppendOpenDone(nil, 9, StatusSuccess))
		if _, _, err := r.Add(a[0]); err != nil {
			t.Fatal(err)
		}
		for _, in := range []Message{single, open} {
			m, complete, err := r.Add(in)
			if err != nil || !complete || &m.Bytes()[0] != &in.Bytes()[0] || len(m.Bytes()) != len(in.Bytes()) {
				t.Errorf("%v: not passed through unchanged (complete %v, %v)", in.Type(), complete, err)
			}
		}
		// The collection in progress is undisturbed.
		for _, f := range a[1:] {
			if _, _, err := r.Add(f); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("first fragment not 0", func(t *testing.T) {
		r := NewReassembler(0)
		_, complete, err := r.Add(a[1])
		frmWantFragErr(t, err, 1, TypeCommandDone, oos)
		if complete {
			t.Error("complete")
		}
		if _, ok := r.InProgress(); ok {
			t.Error("a collection started on fragment 1")
		}
	})

	t.Run("duplicate", func(t *testing.T) {
		r := NewReassembler(0)
		r.Add(a[0])
		r.Add(a[1])
		_, _, err := r.Add(a[1])
		frmWantFragErr(t, err, 1, TypeCommandDone, oos)
		if _, ok := r.InProgress(); ok {
			t.Error("collection kept after an error")
		}
		// The rest of the dropped message is out of sequence as well.
		_, _, err = r.Add(a[2])
		frmWantFragErr(t, err, 1, TypeCommandDone, oos)
	})

	t.Run("duplicate fragment 0", func(t *testing.T) {
		r := NewReassembler(0)
		r.Add(a[0])
		_, _, err := r.Add(a[0])
		frmWantFragErr(t, err, 1, TypeCommandDone, oos)
		if _, ok := r.InProgress(); ok {
			t.Error("a repeated fragment 0 of the same transaction restarted the collection")
		}
	})

	t.Run("skipped", func(t *testing.T) {
		r := NewReassembler(0)
		r.Add(a[0])
		_, _, err := r.Add(a[2])
		frmWantFragErr(t, err, 1, TypeCommandDone, oos)
	})

	t.Run("wrong total", func(t *testing.T) {
		r := NewReassembler(0)
		r.Add(frmFragment(t, TypeIndicateStatus, 5, 3, 0, make([]byte, 30)))
		_, _, err := r.Add(frmFragment(t, TypeIndicateStatus, 5, 4, 1, make([]byte, 30)))
		frmWantFragErr(t, err, 5, TypeIndicateStatus, oos)
		var pe *ParseError
		if !errors.As(err.(*FragmentError).Err, &pe) || pe.Field != "fragment_total" {
			t.Errorf("detail %v, want fragment_total", err.(*FragmentError).Err)
		}
	})

	t.Run("interleaved fragment 0 starts afresh", func(t *testing.T) {
		r := NewReassembler(0)
		r.Add(a[0])
		_, complete, err := r.Add(other[0])
		frmWantFragErr(t, err, 1, TypeCommandDone, oos) // the interrupted transaction
		if complete {
			t.Error("complete")
		}
		if tid, ok := r.InProgress(); !ok || tid != 2 {
			t.Fatalf("InProgress = %d, %v; want the new transaction 2", tid, ok)
		}
		m, complete, err := r.Add(other[1])
		if err != nil || !complete || m.TransactionID() != 2 || m.CID() != 8 {
			t.Errorf("new transaction: complete %v, %v", complete, err)
		}
	})

	t.Run("interleaved later fragment is dropped", func(t *testing.T) {
		r := NewReassembler(0)
		r.Add(a[0])
		_, _, err := r.Add(other[1])
		frmWantFragErr(t, err, 1, TypeCommandDone, oos)
		if _, ok := r.InProgress(); ok {
			t.Error("in progress after interleaving")
		}
	})

	t.Run("interleaved type, same TID", func(t *testing.T) {
		r := NewReassembler(0)
		r.Add(a[0])
		_, _, err := r.Add(frmFragment(t, TypeIndicateStatus, 1, 2, 0, make([]byte, 30)))
		frmWantFragErr(t, err, 1, TypeCommandDone, oos)
		var pe *ParseError
		if !errors.As(err.(*FragmentError).Err, &pe) || pe.Field != "message_type" {
			t.Errorf("detail %v, want message_type", err.(*FragmentError).Err)
		}
		if tid, ok := r.InProgress(); !ok || tid != 1 || r.typ != TypeIndicateStatus {
			t.Errorf("InProgress = %d, %v (%v); want the indication", tid, ok, r.typ)
		}
	})

	t.Run("function error ends the collection", func(t *testing.T) {
		r := NewReassembler(0)
		r.Add(a[0])
		fe, _ := ParseMessage(AppendFunctionError(nil, 99, ProtocolErrorUnknown))
		if m, complete, err := r.Add(fe); err != nil || !complete || m.Type() != TypeFunctionError {
			t.Fatalf("FUNCTION_ERROR: %v, %v", complete, err)
		}
		if _, ok := r.InProgress(); !ok {
			t.Fatal("a FUNCTION_ERROR of another transaction ended the collection")
		}
		fe, _ = ParseMessage(AppendFunctionError(nil, 1, ProtocolErrorUnknown))
		if m, complete, err := r.Add(fe); err != nil || !complete || m.ErrorCode() != ProtocolErrorUnknown {
			t.Fatalf("FUNCTION_ERROR: %v, %v", complete, err)
		}
		if _, ok := r.InProgress(); ok {
			t.Error("collection kept after a FUNCTION_ERROR for its transaction")
		}
	})

	t.Run("reset", func(t *testing.T) {
		r := NewReassembler(0)
		r.Add(a[0])
		r.Add(a[1])
		r.Reset()
		if _, ok := r.InProgress(); ok {
			t.Fatal("in progress after Reset")
		}
		for i, f := range a {
			if _, complete, err := r.Add(f); err != nil || complete != (i == 2) {
				t.Fatalf("after Reset, fragment %d: %v, %v", i, complete, err)
			}
		}
	})

	t.Run("length mismatch", func(t *testing.T) {
		// A message declaring 4 more bytes of information buffer than it has.
		bad := frmPut32(whole, 44, 104)
		r := NewReassembler(0)
		frags := frmSplit(t, bad, 64)
		var err error
		for _, f := range frags {
			_, _, err = r.Add(f)
		}
		frmWantFragErr(t, err, 1, TypeCommandDone, ProtocolErrorLengthMismatch)
		var pe *ParseError
		if !errors.As(err.(*FragmentError).Err, &pe) || pe.Field != "information_buffer_length" || !errors.Is(pe, ErrMalformed) {
			t.Errorf("detail %v", err.(*FragmentError).Err)
		}
		if _, ok := r.InProgress(); ok {
			t.Error("in progress after a failed reassembly")
		}
	})

	t.Run("oversize while growing", func(t *testing.T) {
		// InformationBufferLength 0 with 180 trailing bytes: valid, and
		// nothing in fragment 0 tells the size, so the limit trips on growth.
		msg := frmPut32(AppendIndicateStatus(nil, 3, svc, 1, make([]byte, 156)), 40, 0)
		frags := frmSplit(t, msg, 64)
		r := NewReassembler(100)
		if _, _, err := r.Add(frags[0]); err != nil {
			t.Fatal(err)
		}
		_, _, err := r.Add(frags[1])
		frmWantFragErr(t, err, 3, TypeIndicateStatus, ProtocolErrorMaxTransfer)
		if _, ok := r.InProgress(); ok {
			t.Error("partial message kept")
		}
		if cap(r.buf) > 100 {
			t.Errorf("buffer capacity %d over the 100-byte limit", cap(r.buf))
		}
		// The same message fits a larger limit.
		r = NewReassembler(len(msg))
		for i, f := range frags {
			m, complete, err := r.Add(f)
			if err != nil || complete != (i == len(frags)-1) || (complete && !bytes.Equal(m.Bytes(), msg)) {
				t.Fatalf("fragment %d with limit %d: %v, %v", i, len(msg), complete, err)
			}
		}
		if cap(r.buf) > len(msg) {
			t.Errorf("buffer capacity %d over the limit %d", cap(r.buf), len(msg))
		}
	})

	t.Run("oversize announced by fragment 0", func(t *testing.T) {
		r := NewReassembler(100)
		_, _, err := r.Add(a[0]) // InformationBufferLength 100: 148 bytes > 100
		frmWantFragErr(t, err, 1, TypeCommandDone, ProtocolErrorMaxTransfer)
		if _, ok := r.InProgress(); ok {
			t.Error("collection started")
		}
		// A TotalFragments no message within the limit can have.
		_, _, err = r.Add(frmFragment(t, TypeIndicateStatus, 4, math.MaxUint32, 0, make([]byte, 8)))
		frmWantFragErr(t, err, 4, TypeIndicateStatus, ProtocolErrorMaxTransfer)
		_, _, err = r.Add(frmFragment(t, TypeIndicateStatus, 4, 2, 0, make([]byte, 200)))
		frmWantFragErr(t, err, 4, TypeIndicateStatus, ProtocolErrorMaxTransfer)
		if cap(r.buf) != 0 {
			t.Errorf("buffer of %d bytes allocated for refused messages", cap(r.buf))
		}
	})

	t.Run("default limit", func(t *testing.T) {
		for _, n := range []int{0, -1} {
			if r := NewReassembler(n); r.limit != 64<<10 {
				t.Errorf("NewReassembler(%d) limit %d", n, r.limit)
			}
		}
		big := AppendIndicateStatus(nil, 1, svc, 1, make([]byte, 64<<10))
		r := NewReassembler(0)
		_, _, err := r.Add(frmSplit(t, big, 4096)[0])
		frmWantFragErr(t, err, 1, TypeIndicateStatus, ProtocolErrorMaxTransfer)
	})

	t.Run("zero message", func(t *testing.T) {
		r := NewReassembler(0)
		_, complete, err := r.Add(Message{})
		if !errors.Is(err, ErrMalformed) || complete {
			t.Errorf("Add(Message{}) = %v, %v", complete, err)
		}
	})

	t.Run("error text", func(t *testing.T) {
		r := NewReassembler(0)
		_, _, err := r.Add(a[2])
		s := err.Error()
		for _, want := range []string{"mbim: ", "COMMAND_DONE", "tid 1", "FRAGMENT_OUT_OF_SEQUENCE", "fragment_current"} {
			if !strings.Contains(s, want) {
				t.Errorf("%q lacks %q", s, want)
			}
		}
		if errors.Is(err, ProtocolErrorMaxTransfer) {
			t.Error("matches the wrong code")
		}
	})
}

func TestFragmentAllocs(t *testing.T) {
	msg := AppendCommandDone(nil, 1, frmBasicConnect, 7, StatusSuccess, bytes.Repeat([]byte{1}, 1000))
	frags := frmSplit(t, msg, 256)
	single, _ := ParseMessage(AppendIndicateStatus(nil, 0, frmBasicConnect, 2, []byte{1, 2, 3, 4}))
	dst := make([]byte, 0, 256)
	var sink []byte
	r := NewReassembler(0)
	run := func() {
		for i, f := range frags {
			m, complete, err := r.Add(f)
			if err != nil || complete != (i == len(frags)-1) {
				panic(err)
			}
			sink = m.Bytes()
		}
		if _, _, err := r.Add(single); err != nil {
			panic(err)
		}
	}
	run() // grow the buffer once
	cases := []struct {
		name string
		f    func()
	}{
		{"FragmentCount", func() {
			if n, err := FragmentCount(msg, 256); err != nil || n != len(frags) {
				panic(err)
			}
		}},
		{"AppendFragment", func() {
			for i := range frags {
				var err error
				if sink, err = AppendFragment(dst[:0], msg, 256, i); err != nil {
					panic(err)
				}
			}
		}},
		{"Reassembler.Add", run},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, c.f); n != 0 {
				t.Errorf("%v allocations, want 0", n)
			}
		})
	}
	_ = sink
}
