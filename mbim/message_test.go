package mbim

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// Helpers of the framing tests carry a frm prefix: other test files of the
// package are written at the same time, and names must not collide.

// frmBasicConnect is the Basic Connect service UUID (§3.2).
var frmBasicConnect = MustParseUUID("a289cc33-bcbb-8b4f-b6b0-133ec2aae6df")

// frmHex decodes hex that may contain spaces, newlines and "0000:" offsets
// as printed in mbim-reference.md.
func frmHex(t testing.TB, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, ":"); i >= 0 {
			line = line[i+1:]
		}
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// frmWantErr checks that err wraps want and, when field is not empty, that
// it is a *ParseError for that field and offset.
func frmWantErr(t *testing.T, err, want error, field string, off int) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
	if field == "" {
		return
	}
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ParseError", err, err)
	}
	if pe.Field != field || pe.Offset != off {
		t.Errorf("error at %s/%d, want %s/%d (%v)", pe.Field, pe.Offset, field, off, err)
	}
}

// frmInfo is an InfoAppender over fixed bytes (a stand-in for a typed
// request struct).
type frmInfo struct {
	b   []byte
	err error
}

func (f *frmInfo) AppendBinary(b []byte) ([]byte, error) {
	if f.err != nil {
		return append(b, 0xde, 0xad), f.err // junk written before failing
	}
	return append(b, f.b...), nil
}

// frmShrinker breaks the append contract by dropping bytes.
type frmShrinker struct{}

func (frmShrinker) AppendBinary(b []byte) ([]byte, error) { return b[:4], nil }

// frmCommandDone builds a COMMAND_DONE with the given total/current/
// MessageLength/InformationBufferLength words and ml bytes in all (the
// bytes after the header are zero), for malformed-input tables.
func frmCommandDone(ml, total, current, ibl uint32, size int) []byte {
	b := make([]byte, max(size, 48))
	binary.LittleEndian.PutUint32(b[0:], uint32(TypeCommandDone))
	binary.LittleEndian.PutUint32(b[4:], ml)
	binary.LittleEndian.PutUint32(b[8:], 7)
	binary.LittleEndian.PutUint32(b[12:], total)
	binary.LittleEndian.PutUint32(b[16:], current)
	binary.LittleEndian.PutUint32(b[44:], ibl)
	return b[:size]
}

func frmPut32(b []byte, off int, v uint32) []byte {
	b = bytes.Clone(b)
	binary.LittleEndian.PutUint32(b[off:], v)
	return b
}

func TestMessageAppendixA(t *testing.T) {
	t.Run("A.1 OPEN", func(t *testing.T) {
		want := frmHex(t, "01 00 00 00  10 00 00 00  01 00 00 00  00 10 00 00")
		got := AppendOpen(nil, 1, 4096)
		if !bytes.Equal(got, want) {
			t.Fatalf("AppendOpen:\n%s\nwant:\n%s", hex.Dump(got), hex.Dump(want))
		}
		m, err := ParseMessage(want)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type() != TypeOpen || m.Length() != 16 || m.TransactionID() != 1 || m.MaxControlTransfer() != 4096 {
			t.Errorf("parsed %v len %d tid %d max %d", m.Type(), m.Length(), m.TransactionID(), m.MaxControlTransfer())
		}
	})
	t.Run("A.2 DEVICE_CAPS query", func(t *testing.T) {
		want := frmHex(t, `
0000: 03 00 00 00 30 00 00 00 02 00 00 00 01 00 00 00
0010: 00 00 00 00 a2 89 cc 33 bc bb 8b 4f b6 b0 13 3e
0020: c2 aa e6 df 01 00 00 00 00 00 00 00 00 00 00 00`)
		got := AppendCommand(nil, 2, frmBasicConnect, 1, CommandQuery, nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("AppendCommand:\n%s\nwant:\n%s", hex.Dump(got), hex.Dump(want))
		}
		got, err := AppendCommandInfo(nil, 2, frmBasicConnect, 1, CommandQuery, nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("AppendCommandInfo = %x, %v", got, err)
		}
		m, err := ParseMessage(want)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type() != TypeCommand || m.Length() != 48 || m.TransactionID() != 2 ||
			m.FragmentTotal() != 1 || m.FragmentCurrent() != 0 || m.IsFragment() ||
			m.Service() != frmBasicConnect || m.CID() != 1 || m.CommandType() != CommandQuery ||
			m.InformationBufferLength() != 0 || m.InformationBufferOffset() != 48 {
			t.Errorf("bad header fields: %x", m.Bytes())
		}
		if ib := m.InformationBuffer(); ib == nil || len(ib) != 0 {
			t.Errorf("InformationBuffer = %#v, want empty non-nil", ib)
		}
	})
}

func TestMessageAppendRoundTrip(t *testing.T) {
	svc := MustParseUUID("00112233-4455-6677-8899-aabbccddeeff")
	info := []byte{1, 2, 3, 4, 5, 6, 7}
	prefix := []byte("prefix") // appenders must leave what dst held alone
	type check func(t *testing.T, m Message)
	cases := []struct {
		name  string
		build func(dst []byte) []byte
		typ   MessageType
		len   uint32
		check check
	}{
		{"open", func(d []byte) []byte { return AppendOpen(d, 11, 512) }, TypeOpen, 16, func(t *testing.T, m Message) {
			if m.MaxControlTransfer() != 512 {
				t.Errorf("MaxControlTransfer = %d", m.MaxControlTransfer())
			}
		}},
		{"close", func(d []byte) []byte { return AppendClose(d, 11) }, TypeClose, 12, nil},
		{"open_done", func(d []byte) []byte { return AppendOpenDone(d, 11, StatusBusy) }, TypeOpenDone, 16, func(t *testing.T, m Message) {
			if m.Status() != StatusBusy {
				t.Errorf("Status = %v", m.Status().String())
			}
		}},
		{"close_done", func(d []byte) []byte { return AppendCloseDone(d, 11, StatusFailure) }, TypeCloseDone, 16, func(t *testing.T, m Message) {
			if m.Status() != StatusFailure {
				t.Errorf("Status = %v", m.Status().String())
			}
		}},
		{"host_error", func(d []byte) []byte { return AppendHostError(d, 11, ProtocolErrorTimeoutFragment) }, TypeHostError, 16, func(t *testing.T, m Message) {
			if m.ErrorCode() != ProtocolErrorTimeoutFragment {
				t.Errorf("ErrorCode = %v", m.ErrorCode().String())
			}
		}},
		{"function_error", func(d []byte) []byte { return AppendFunctionError(d, 11, ProtocolErrorNotOpened) }, TypeFunctionError, 16, func(t *testing.T, m Message) {
			if m.ErrorCode() != ProtocolErrorNotOpened {
				t.Errorf("ErrorCode = %v", m.ErrorCode().String())
			}
		}},
		{"command", func(d []byte) []byte { return AppendCommand(d, 11, svc, 12, CommandSet, info) }, TypeCommand, 48 + 7, func(t *testing.T, m Message) {
			if m.Service() != svc || m.CID() != 12 || m.CommandType() != CommandSet || m.Status() != 0 {
				t.Errorf("command header: %x", m.Bytes())
			}
		}},
		{"command_info", func(d []byte) []byte {
			b, err := AppendCommandInfo(d, 11, svc, 12, CommandSet, &frmInfo{b: info})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, TypeCommand, 48 + 7, nil},
		{"command_done", func(d []byte) []byte { return AppendCommandDone(d, 11, svc, 12, StatusNotRegistered, info) }, TypeCommandDone, 48 + 7, func(t *testing.T, m Message) {
			if m.Service() != svc || m.CID() != 12 || m.Status() != StatusNotRegistered || m.CommandType() != 0 {
				t.Errorf("command done header: %x", m.Bytes())
			}
		}},
		{"command_done_info", func(d []byte) []byte {
			b, err := AppendCommandDoneInfo(d, 11, svc, 12, StatusNotRegistered, &frmInfo{b: info})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, TypeCommandDone, 48 + 7, nil},
		{"indicate_status", func(d []byte) []byte { return AppendIndicateStatus(d, 11, svc, 12, info) }, TypeIndicateStatus, 44 + 7, func(t *testing.T, m Message) {
			if m.Service() != svc || m.CID() != 12 || m.Status() != 0 || m.InformationBufferOffset() != 44 {
				t.Errorf("indication header: %x", m.Bytes())
			}
		}},
		{"indicate_status_info", func(d []byte) []byte {
			b, err := AppendIndicateStatusInfo(d, 11, svc, 12, &frmInfo{b: info})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, TypeIndicateStatus, 44 + 7, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.build(bytes.Clone(prefix))
			if !bytes.HasPrefix(b, prefix) {
				t.Fatalf("dst prefix overwritten: %q", b)
			}
			b = b[len(prefix):]
			m, err := ParseMessage(b)
			if err != nil {
				t.Fatalf("ParseMessage(%x): %v", b, err)
			}
			if m.Type() != c.typ || m.Length() != c.len || int(m.Length()) != len(m.Bytes()) || m.TransactionID() != 11 {
				t.Errorf("type %v len %d (%d bytes) tid %d, want %v len %d tid 11", m.Type(), m.Length(), len(m.Bytes()), m.TransactionID(), c.typ, c.len)
			}
			if c.typ.fragmentable() {
				if m.FragmentTotal() != 1 || m.FragmentCurrent() != 0 || m.IsFragment() {
					t.Errorf("fragment header %d/%d", m.FragmentCurrent(), m.FragmentTotal())
				}
				if !bytes.Equal(m.InformationBuffer(), info) || m.InformationBufferLength() != uint32(len(info)) {
					t.Errorf("information buffer %x (length %d), want %x", m.InformationBuffer(), m.InformationBufferLength(), info)
				}
				if got := m.FragmentPayload(); !bytes.Equal(got, b[20:]) {
					t.Errorf("FragmentPayload = %x", got)
				}
			} else if m.InformationBuffer() != nil || m.FragmentPayload() != nil || m.FragmentTotal() != 0 {
				t.Errorf("framing accessors on %v should be zero", m.Type())
			}
			if c.check != nil {
				c.check(t, m)
			}
		})
	}
	t.Run("info_matches_raw", func(t *testing.T) {
		for _, n := range []int{0, 1, 3, 4, 100, 5000} {
			p := bytes.Repeat([]byte{0xa5}, n)
			raw := AppendCommand(nil, 9, svc, 3, CommandQuery, p)
			viaInfo, err := AppendCommandInfo(nil, 9, svc, 3, CommandQuery, &frmInfo{b: p})
			if err != nil || !bytes.Equal(raw, viaInfo) {
				t.Errorf("n=%d: AppendCommandInfo differs from AppendCommand (%v)", n, err)
			}
			raw = AppendIndicateStatus(nil, 9, svc, 3, p)
			viaInfo, err = AppendIndicateStatusInfo(nil, 9, svc, 3, &frmInfo{b: p})
			if err != nil || !bytes.Equal(raw, viaInfo) {
				t.Errorf("n=%d: AppendIndicateStatusInfo differs (%v)", n, err)
			}
			raw = AppendCommandDone(nil, 9, svc, 3, StatusBusy, p)
			viaInfo, err = AppendCommandDoneInfo(nil, 9, svc, 3, StatusBusy, &frmInfo{b: p})
			if err != nil || !bytes.Equal(raw, viaInfo) {
				t.Errorf("n=%d: AppendCommandDoneInfo differs (%v)", n, err)
			}
		}
	})
	t.Run("info_error_leaves_dst", func(t *testing.T) {
		boom := errors.New("boom")
		dst := append(make([]byte, 0, 128), "keep"...)
		got, err := AppendCommandInfo(dst, 1, svc, 1, CommandSet, &frmInfo{err: boom})
		if !errors.Is(err, boom) || string(got) != "keep" {
			t.Errorf("got %q, %v; want dst unchanged and the appender's error", got, err)
		}
		got, err = AppendIndicateStatusInfo(dst, 1, svc, 1, frmShrinker{})
		if !errors.Is(err, ErrMalformed) || string(got) != "keep" {
			t.Errorf("shrinking appender: got %q, %v", got, err)
		}
	})
}

func TestParseMessageRules(t *testing.T) {
	valid := AppendCommandDone(nil, 7, frmBasicConnect, 4, StatusSuccess, []byte{1, 2, 3, 4})
	ind := AppendIndicateStatus(nil, 7, frmBasicConnect, 4, []byte{1, 2, 3, 4})
	cases := []struct {
		name  string
		b     []byte
		want  error
		field string
		off   int
	}{
		{"empty", nil, ErrIncomplete, "header", 0},
		{"one byte", []byte{3}, ErrIncomplete, "header", 0},
		{"11 bytes", valid[:11], ErrIncomplete, "header", 0},
		{"unknown type", frmHex(t, "03abcd80 0c000000 01000000"), ErrUnknownMessageType, "message_type", 0},
		{"type zero", make([]byte, 16), ErrUnknownMessageType, "message_type", 0},
		{"type 0x80000005", frmPut32(valid, 0, 0x80000005), ErrUnknownMessageType, "message_type", 0},
		{"unknown type before length", frmHex(t, "05000000 ffffffff 01000000"), ErrUnknownMessageType, "message_type", 0},
		{"close length 11", frmHex(t, "02000000 0b000000 01000000"), ErrMalformed, "message_length", 4},
		{"open length 12", frmHex(t, "01000000 0c000000 01000000 00100000"), ErrMalformed, "message_length", 4},
		{"open_done length 15", frmHex(t, "01000080 0f000000 01000000 00000000"), ErrMalformed, "message_length", 4},
		{"close_done length 0", frmHex(t, "02000080 00000000 01000000 00000000"), ErrMalformed, "message_length", 4},
		{"host_error length 12", frmHex(t, "04000000 0c000000 01000000 00000000"), ErrMalformed, "message_length", 4},
		{"function_error length 12", frmHex(t, "04000080 0c000000 01000000 00000000"), ErrMalformed, "message_length", 4},
		{"command length 19", frmPut32(valid, 4, 19), ErrMalformed, "message_length", 4},
		{"indicate length 12", frmPut32(ind, 4, 12), ErrMalformed, "message_length", 4},
		{"length past bytes", frmPut32(valid, 4, 53), ErrIncomplete, "message_length", 4},
		{"huge length", frmPut32(valid, 4, 0xffffffff), ErrIncomplete, "message_length", 4},
		{"total zero", frmCommandDone(48, 0, 0, 0, 48), ErrMalformed, "fragment_total", 12},
		{"complete current 1", frmCommandDone(48, 1, 1, 0, 48), ErrMalformed, "fragment_current", 16},
		{"current >= total", frmCommandDone(48, 2, 5, 0, 48), ErrMalformed, "fragment_current", 16},
		{"current == total", frmCommandDone(20, 3, 3, 0, 20), ErrMalformed, "fragment_current", 16},
		{"buffer past message", frmCommandDone(48, 1, 0, 4, 52), ErrMalformed, "information_buffer_length", 44},
		{"buffer length wraps", frmCommandDone(52, 1, 0, 0xfffffffc, 52), ErrMalformed, "information_buffer_length", 44},
		{"buffer length max", frmCommandDone(48, 1, 0, 0xffffffff, 48), ErrMalformed, "information_buffer_length", 44},
		{"indicate buffer past message", frmPut32(ind, 40, 5), ErrMalformed, "information_buffer_length", 40},
		{"command_done 44 bytes", frmCommandDone(44, 1, 0, 0, 44), ErrMalformed, "message_length", 4},
		{"indicate 43 bytes", frmPut32(ind[:43], 4, 43), ErrMalformed, "message_length", 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := ParseMessage(c.b)
			frmWantErr(t, err, c.want, c.field, c.off)
			if m.Bytes() != nil {
				t.Errorf("a failed parse returned a view of %d bytes", len(m.Bytes()))
			}
		})
	}

	// A COMMAND_DONE whose MessageLength says 12..47 and which has exactly
	// that many bytes is invalid, not incomplete: it can never become valid.
	t.Run("command_done too short for its header", func(t *testing.T) {
		full := frmCommandDone(48, 1, 0, 0, 48)
		for n := 12; n < 48; n++ {
			b := frmPut32(full[:n], 4, uint32(n))
			_, err := ParseMessage(b)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("MessageLength %d: %v, want ErrMalformed", n, err)
			}
		}
	})

	t.Run("accepted", func(t *testing.T) {
		ok := []struct {
			name string
			b    []byte
		}{
			{"close longer than 12", frmHex(t, "02000000 10000000 01000000 aabbccdd")},
			{"open longer than 16", frmHex(t, "01000000 14000000 01000000 00100000 00000000")},
			{"partial fragment 20 bytes", frmCommandDone(20, 2, 1, 0, 20)},
			{"first fragment, short", frmCommandDone(24, 2, 0, 0xffffffff, 24)},
			{"indicate 44 bytes", frmPut32(frmPut32(ind[:44], 4, 44), 40, 0)},
			{"buffer length 0", frmCommandDone(48, 1, 0, 0, 48)},
		}
		for _, c := range ok {
			if _, err := ParseMessage(c.b); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		}
	})

	// Decision: bytes inside MessageLength after the information buffer are
	// accepted and ignored; the buffer is bounded by its declared length.
	t.Run("trailing bytes inside the message", func(t *testing.T) {
		b := AppendCommandDone(nil, 7, frmBasicConnect, 4, StatusSuccess, []byte{1, 2, 3, 4, 5, 6, 7, 8})
		b = frmPut32(b, 44, 4) // declare 4 of the 8 bytes
		m, err := ParseMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		ib := m.InformationBuffer()
		if !bytes.Equal(ib, []byte{1, 2, 3, 4}) || cap(ib) != 4 {
			t.Errorf("InformationBuffer = %x (cap %d), want 01020304 (cap 4)", ib, cap(ib))
		}
		if m.Length() != 56 || len(m.Bytes()) != 56 {
			t.Errorf("Length %d, Bytes %d; want 56", m.Length(), len(m.Bytes()))
		}
	})

	t.Run("bytes after the message", func(t *testing.T) {
		b := append(bytes.Clone(valid), 0xff, 0xff, 0xff)
		m, err := ParseMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Bytes()) != len(valid) || cap(m.Bytes()) != len(valid) {
			t.Errorf("view has len %d cap %d, want %d", len(m.Bytes()), cap(m.Bytes()), len(valid))
		}
		// Appending to the view must not overwrite the caller's next bytes.
		_ = append(m.Bytes(), 0)
		if b[len(valid)] != 0xff {
			t.Error("append to Bytes() overwrote the following message")
		}
	})
}

// frmValidMessages returns one valid message of each type, fragments
// included.
func frmValidMessages(t testing.TB) map[string][]byte {
	svc := frmBasicConnect
	big := bytes.Repeat([]byte{0x5a}, 100)
	msgs := map[string][]byte{
		"open":            AppendOpen(nil, 1, 4096),
		"close":           AppendClose(nil, 2),
		"open_done":       AppendOpenDone(nil, 1, StatusSuccess),
		"close_done":      AppendCloseDone(nil, 2, StatusSuccess),
		"host_error":      AppendHostError(nil, 3, ProtocolErrorCancel),
		"function_error":  AppendFunctionError(nil, 3, ProtocolErrorNotOpened),
		"command":         AppendCommand(nil, 4, svc, 1, CommandQuery, nil),
		"command_info":    AppendCommand(nil, 4, svc, 12, CommandSet, big),
		"command_done":    AppendCommandDone(nil, 5, svc, 1, StatusSuccess, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}),
		"indicate_status": AppendIndicateStatus(nil, 0, svc, 2, []byte{9}),
	}
	whole := AppendCommandDone(nil, 6, svc, 7, StatusSuccess, big)
	for i := range 3 {
		f, err := AppendFragment(nil, whole, 64, i)
		if err != nil {
			t.Fatal(err)
		}
		msgs["fragment_"+string(rune('0'+i))] = f
	}
	return msgs
}

func TestParseMessagePrefixes(t *testing.T) {
	for name, msg := range frmValidMessages(t) {
		t.Run(name, func(t *testing.T) {
			m, err := ParseMessage(msg)
			if err != nil {
				t.Fatalf("full message: %v", err)
			}
			if !bytes.Equal(m.Bytes(), msg) {
				t.Fatalf("view %x, want %x", m.Bytes(), msg)
			}
			for n := range len(msg) {
				_, err := ParseMessage(msg[:n])
				if !errors.Is(err, ErrIncomplete) {
					t.Errorf("prefix of %d bytes: %v, want ErrIncomplete", n, err)
				}
				if _, k, err := NextMessage(msg[:n]); k != 0 || !errors.Is(err, ErrIncomplete) {
					t.Errorf("NextMessage on a prefix of %d bytes: n=%d err=%v", n, k, err)
				}
			}
		})
	}
}

func TestMessageAccessorsNotApplicable(t *testing.T) {
	t.Run("zero message", func(t *testing.T) {
		var m Message
		if m.Type() != 0 || m.Length() != 0 || m.TransactionID() != 0 || m.Bytes() != nil ||
			m.IsFragment() || m.FragmentTotal() != 0 || m.FragmentCurrent() != 0 ||
			m.Service() != (UUID{}) || m.CID() != 0 || m.CommandType() != 0 || m.Status() != 0 ||
			m.ErrorCode() != 0 || m.MaxControlTransfer() != 0 || m.InformationBufferLength() != 0 ||
			m.InformationBufferOffset() != 0 || m.InformationBuffer() != nil || m.FragmentPayload() != nil {
			t.Error("zero Message answers non-zero")
		}
	})
	t.Run("open_done", func(t *testing.T) {
		m, _ := ParseMessage(AppendOpenDone(nil, 1, StatusBusy))
		if m.CID() != 0 || m.Service() != (UUID{}) || m.ErrorCode() != 0 || m.MaxControlTransfer() != 0 ||
			m.CommandType() != 0 || m.InformationBufferOffset() != 0 {
			t.Error("OPEN_DONE answers fields it does not have")
		}
	})
	t.Run("open", func(t *testing.T) {
		m, _ := ParseMessage(AppendOpen(nil, 1, 77))
		if m.Status() != 0 || m.ErrorCode() != 0 {
			t.Error("OPEN answers Status/ErrorCode")
		}
	})
	t.Run("host_error", func(t *testing.T) {
		m, _ := ParseMessage(AppendHostError(nil, 1, ProtocolErrorCancel))
		if m.Status() != 0 || m.MaxControlTransfer() != 0 {
			t.Error("HOST_ERROR answers Status/MaxControlTransfer")
		}
	})
	t.Run("continuation fragment", func(t *testing.T) {
		whole := AppendCommandDone(nil, 6, frmBasicConnect, 7, StatusBusy, bytes.Repeat([]byte{0xff}, 100))
		f0, _ := AppendFragment(nil, whole, 64, 0)
		f1, _ := AppendFragment(nil, whole, 64, 1)
		m0, err := ParseMessage(f0)
		if err != nil {
			t.Fatal(err)
		}
		if !m0.IsFragment() || m0.Service() != frmBasicConnect || m0.CID() != 7 || m0.Status() != StatusBusy ||
			m0.InformationBufferLength() != 100 || m0.InformationBuffer() != nil {
			t.Errorf("fragment 0 header: %x", f0)
		}
		m1, err := ParseMessage(f1)
		if err != nil {
			t.Fatal(err)
		}
		if m1.FragmentCurrent() != 1 || m1.Service() != (UUID{}) || m1.CID() != 0 || m1.Status() != 0 ||
			m1.InformationBufferLength() != 0 || m1.InformationBuffer() != nil {
			t.Errorf("continuation fragment reads header fields from payload: %x", f1)
		}
		if !bytes.Equal(m1.FragmentPayload(), f1[20:]) {
			t.Error("FragmentPayload of a continuation fragment")
		}
	})
}

// frmStream concatenates several messages of every kind.
func frmStream(t testing.TB) ([]byte, [][]byte) {
	msgs := frmValidMessages(t)
	names := []string{"open_done", "indicate_status", "fragment_0", "fragment_1", "fragment_2",
		"command_done", "function_error", "close_done", "command_info", "open"}
	var stream []byte
	var want [][]byte
	for _, n := range names {
		stream = append(stream, msgs[n]...)
		want = append(want, msgs[n])
	}
	return stream, want
}

// frmReader feeds chunks to NextMessage the way a client's reader loop does.
type frmReader struct {
	buf  []byte
	got  [][]byte
	errs []error
}

func (r *frmReader) feed(chunk []byte) {
	r.buf = append(r.buf, chunk...)
	for len(r.buf) > 0 {
		m, n, err := NextMessage(r.buf)
		if errors.Is(err, ErrIncomplete) {
			if n != 0 {
				panic("incomplete with n != 0")
			}
			return
		}
		if err != nil {
			r.errs = append(r.errs, err)
		} else {
			r.got = append(r.got, bytes.Clone(m.Bytes()))
		}
		r.buf = r.buf[n:]
	}
}

func TestNextMessage(t *testing.T) {
	stream, want := frmStream(t)
	check := func(t *testing.T, r *frmReader) {
		t.Helper()
		if len(r.errs) != 0 || len(r.buf) != 0 || len(r.got) != len(want) {
			t.Fatalf("got %d messages, errors %v, %d bytes left; want %d messages", len(r.got), r.errs, len(r.buf), len(want))
		}
		for i := range want {
			if !bytes.Equal(r.got[i], want[i]) {
				t.Fatalf("message %d = %x, want %x", i, r.got[i], want[i])
			}
		}
	}
	t.Run("whole", func(t *testing.T) {
		var r frmReader
		r.feed(stream)
		check(t, &r)
	})
	t.Run("split at every position", func(t *testing.T) {
		for i := 0; i <= len(stream); i++ {
			var r frmReader
			r.feed(stream[:i])
			r.feed(stream[i:])
			check(t, &r)
		}
	})
	t.Run("two splits", func(t *testing.T) {
		for i := 0; i <= len(stream); i += 3 {
			for j := i; j <= len(stream); j += 5 {
				var r frmReader
				r.feed(stream[:i])
				r.feed(stream[i:j])
				r.feed(stream[j:])
				check(t, &r)
			}
		}
	})
	t.Run("byte at a time", func(t *testing.T) {
		var r frmReader
		for i := range stream {
			r.feed(stream[i : i+1])
		}
		check(t, &r)
	})
	t.Run("random chunks", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for range 200 {
			var r frmReader
			for rest := stream; len(rest) > 0; {
				k := min(len(rest), rng.IntN(80))
				r.feed(rest[:k])
				rest = rest[k:]
			}
			check(t, &r)
		}
	})
	t.Run("garbage discards the buffer", func(t *testing.T) {
		bad := append(frmHex(t, "03abcd80 0c000000 01000000"), stream...)
		m, n, err := NextMessage(bad)
		if !errors.Is(err, ErrUnknownMessageType) || n != len(bad) || m.Bytes() != nil {
			t.Errorf("NextMessage(garbage) = n %d, %v; want n %d, ErrUnknownMessageType", n, err, len(bad))
		}
		malformed := append(frmCommandDone(48, 0, 0, 0, 48), stream...)
		if _, n, err := NextMessage(malformed); !errors.Is(err, ErrMalformed) || n != len(malformed) {
			t.Errorf("NextMessage(malformed) = n %d, %v", n, err)
		}
	})
	t.Run("n is the message length", func(t *testing.T) {
		m, n, err := NextMessage(stream)
		if err != nil || n != len(want[0]) || n != int(m.Length()) {
			t.Errorf("n = %d, %v; want %d", n, err, len(want[0]))
		}
	})
}

func TestMessageNoPanic(t *testing.T) {
	// Random and mutated inputs: the parser and every accessor must survive
	// them, and a view must hold exactly MessageLength bytes.
	rng := rand.New(rand.NewPCG(3, 4))
	seeds := frmValidMessages(t)
	var corpus [][]byte
	for _, s := range seeds {
		corpus = append(corpus, s)
	}
	r := NewReassembler(4096)
	for i := range 20000 {
		var b []byte
		if i%2 == 0 {
			b = make([]byte, rng.IntN(80))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			if len(b) >= 4 && i%4 == 0 { // a plausible type, so later checks run
				types := []MessageType{TypeOpen, TypeClose, TypeCommand, TypeHostError, TypeOpenDone, TypeCloseDone, TypeCommandDone, TypeFunctionError, TypeIndicateStatus}
				binary.LittleEndian.PutUint32(b, uint32(types[rng.IntN(len(types))]))
				if len(b) >= 8 {
					binary.LittleEndian.PutUint32(b[4:], uint32(rng.IntN(len(b)+8)))
				}
			}
		} else {
			b = bytes.Clone(corpus[rng.IntN(len(corpus))])
			for range 1 + rng.IntN(3) {
				if len(b) > 0 {
					b[rng.IntN(len(b))] ^= byte(1 << rng.IntN(8))
				}
			}
		}
		m, err := ParseMessage(b)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("%x: error %v is not a *ParseError", b, err)
			}
			continue
		}
		if int(m.Length()) != len(m.Bytes()) {
			t.Fatalf("%x: Length %d, %d bytes", b, m.Length(), len(m.Bytes()))
		}
		_ = m.Service()
		_, _, _, _ = m.CID(), m.Status(), m.ErrorCode(), m.CommandType()
		_, _ = m.MaxControlTransfer(), m.FragmentPayload()
		if !m.IsFragment() && m.Type().fragmentable() && len(m.InformationBuffer()) != int(m.InformationBufferLength()) {
			t.Fatalf("%x: InformationBuffer shorter than declared", b)
		}
		_, _, _ = r.Add(m)
	}
}

func TestMessageAllocs(t *testing.T) {
	svc := frmBasicConnect
	info := bytes.Repeat([]byte{7}, 64)
	msg := AppendCommandDone(nil, 5, svc, 1, StatusSuccess, info)
	stream := append(bytes.Clone(msg), msg[:30]...)
	dst := make([]byte, 0, 512)
	ia := &frmInfo{b: info}
	var sink []byte
	var strSink string

	cases := []struct {
		name string
		f    func()
	}{
		{"ParseMessage", func() {
			m, err := ParseMessage(msg)
			if err != nil {
				panic(err)
			}
			sink = m.InformationBuffer()
			_ = m.Service()
		}},
		{"ParseMessage incomplete", func() {
			if _, err := ParseMessage(msg[:30]); err == nil {
				panic("no error")
			}
		}},
		{"NextMessage", func() {
			_, n, _ := NextMessage(stream)
			_, _, err := NextMessage(stream[n:])
			if !errors.Is(err, ErrIncomplete) {
				panic(err)
			}
		}},
		{"AppendOpen", func() { sink = AppendOpen(dst[:0], 1, 4096) }},
		{"AppendClose", func() { sink = AppendClose(dst[:0], 1) }},
		{"AppendOpenDone", func() { sink = AppendOpenDone(dst[:0], 1, StatusSuccess) }},
		{"AppendCloseDone", func() { sink = AppendCloseDone(dst[:0], 1, StatusSuccess) }},
		{"AppendHostError", func() { sink = AppendHostError(dst[:0], 1, ProtocolErrorCancel) }},
		{"AppendFunctionError", func() { sink = AppendFunctionError(dst[:0], 1, ProtocolErrorCancel) }},
		{"AppendCommand", func() { sink = AppendCommand(dst[:0], 1, svc, 1, CommandSet, info) }},
		{"AppendCommandDone", func() { sink = AppendCommandDone(dst[:0], 1, svc, 1, StatusSuccess, info) }},
		{"AppendIndicateStatus", func() { sink = AppendIndicateStatus(dst[:0], 1, svc, 1, info) }},
		{"AppendCommandInfo", func() {
			var err error
			if sink, err = AppendCommandInfo(dst[:0], 1, svc, 1, CommandSet, ia); err != nil {
				panic(err)
			}
		}},
		{"AppendCommandInfo nil", func() {
			var err error
			if sink, err = AppendCommandInfo(dst[:0], 1, svc, 1, CommandSet, nil); err != nil {
				panic(err)
			}
		}},
		{"AppendCommandDoneInfo", func() {
			var err error
			if sink, err = AppendCommandDoneInfo(dst[:0], 1, svc, 1, StatusSuccess, ia); err != nil {
				panic(err)
			}
		}},
		{"AppendIndicateStatusInfo", func() {
			var err error
			if sink, err = AppendIndicateStatusInfo(dst[:0], 1, svc, 1, ia); err != nil {
				panic(err)
			}
		}},
		{"String", func() {
			strSink = StatusSimNotInserted.String()
			strSink = ProtocolErrorCancel.String()
			strSink = TypeCommandDone.String()
			strSink = CommandSet.String()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, c.f); n != 0 {
				t.Errorf("%s: %v allocations, want 0", c.name, n)
			}
		})
	}
	_, _ = sink, strSink
}

func TestStatusNames(t *testing.T) {
	cases := []struct {
		s    Status
		name string
	}{
		{StatusSuccess, "SUCCESS"},
		{StatusBusy, "BUSY"},
		{StatusSimNotInserted, "SIM_NOT_INSERTED"},
		{StatusNoDeviceSupport, "NO_DEVICE_SUPPORT"},
		{StatusInvalidUserNamePwd, "INVALID_USER_NAME_PWD"},
		{StatusNoPhonebook, "NO_PHONEBOOK"},
		{StatusContextNotSupported, "CONTEXT_NOT_SUPPORTED"},
		{StatusSmsUnknownSmscAddress, "SMS_UNKNOWN_SMSC_ADDRESS"},
		{StatusSmsFormatNotSupported, "SMS_FORMAT_NOT_SUPPORTED"},
		{StatusMsNoLogicalChannels, "MS_NO_LOGICAL_CHANNELS"},
		{StatusMsInvalidLogicalChannel, "MS_INVALID_LOGICAL_CHANNEL"},
		{StatusInvalidSignature, "INVALID_SIGNATURE"},
		{StatusDecodeOrParsingError, "DECODE_OR_PARSING_ERROR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.s.Name() != c.name || c.s.String() != c.name {
				t.Errorf("Name %q String %q", c.s.Name(), c.s.String())
			}
			j, err := json.Marshal(c.s)
			if err != nil {
				t.Fatal(err)
			}
			var back Status
			if err := json.Unmarshal(j, &back); err != nil || back != c.s {
				t.Errorf("JSON %s round trip = %d, %v", j, back, err)
			}
			var byName Status
			if err := json.Unmarshal([]byte(`"`+c.name+`"`), &byName); err != nil || byName != c.s {
				t.Errorf("by name: %d, %v", byName, err)
			}
		})
	}
	t.Run("table", func(t *testing.T) {
		// 38 codes up to CONTEXT_NOT_SUPPORTED (24 is reserved), 5 SMS, 3 MS
		// UICC and 7 Google carrier-lock codes.
		if len(statusNames) != 38+5+3+7 {
			t.Errorf("%d status names", len(statusNames))
		}
		if StatusNoPhonebook != 25 || StatusContextNotSupported != 38 || StatusSmsFormatNotSupported != 104 ||
			StatusMsSelectFailed != 0x87430002 || StatusFeatureNotSupported != 0x91000006 {
			t.Error("status values")
		}
		if Status(24).Name() != "" {
			t.Error("24 is reserved")
		}
	})
	t.Run("unknown", func(t *testing.T) {
		s := Status(4242)
		if s.Name() != "" || s.String() != "4242" {
			t.Errorf("Name %q String %q", s.Name(), s.String())
		}
		j, _ := json.Marshal(s)
		if string(j) != `{"value":4242,"name":null}` {
			t.Errorf("JSON %s", j)
		}
		j, _ = json.Marshal(StatusBusy)
		if string(j) != `{"value":1,"name":"BUSY"}` {
			t.Errorf("JSON %s", j)
		}
		var back Status
		if err := json.Unmarshal([]byte(`"NONE"`), &back); err != nil || back != StatusSuccess {
			t.Errorf("NONE = %d, %v", back, err)
		}
		if err := json.Unmarshal([]byte(`"NOPE"`), &back); err == nil {
			t.Error("unknown name accepted")
		}
		if err := json.Unmarshal([]byte(`4294967296`), &back); err == nil {
			t.Error("value over 32 bits accepted")
		}
		if err := json.Unmarshal([]byte(`{"value":3,"name":"whatever"}`), &back); err != nil || back != StatusSimNotInserted {
			t.Errorf("object = %d, %v", back, err)
		}
	})
	t.Run("error", func(t *testing.T) {
		var err error = &CommandError{Status: StatusSimNotInserted}
		if !errors.Is(err, StatusSimNotInserted) || errors.Is(err, StatusBusy) {
			t.Error("errors.Is on Status")
		}
	})
}

func TestProtocolErrorNames(t *testing.T) {
	want := []string{"INVALID", "TIMEOUT_FRAGMENT", "FRAGMENT_OUT_OF_SEQUENCE", "LENGTH_MISMATCH",
		"DUPLICATED_TID", "NOT_OPENED", "UNKNOWN", "CANCEL", "MAX_TRANSFER"}
	codes := []ProtocolError{ProtocolErrorInvalid, ProtocolErrorTimeoutFragment, ProtocolErrorFragmentOutOfSequence,
		ProtocolErrorLengthMismatch, ProtocolErrorDuplicatedTID, ProtocolErrorNotOpened, ProtocolErrorUnknown,
		ProtocolErrorCancel, ProtocolErrorMaxTransfer}
	for i, p := range codes {
		if uint32(p) != uint32(i) || p.Name() != want[i] || p.String() != want[i] {
			t.Errorf("%d: %d %q %q", i, uint32(p), p.Name(), p.String())
		}
		j, _ := json.Marshal(p)
		var back ProtocolError
		if err := json.Unmarshal(j, &back); err != nil || back != p {
			t.Errorf("JSON %s: %d, %v", j, back, err)
		}
	}
	if p := ProtocolError(9); p.Name() != "" || p.String() != "9" {
		t.Errorf("unknown: %q %q", p.Name(), p.String())
	}
	if p := ProtocolError(0xffffffff); p.Name() != "" {
		t.Error("huge value named")
	}
	var back ProtocolError
	if err := json.Unmarshal([]byte(`"MAX_TRANSFER"`), &back); err != nil || back != ProtocolErrorMaxTransfer {
		t.Errorf("by name: %d, %v", back, err)
	}
}

func TestMessageTypeNames(t *testing.T) {
	want := map[MessageType]string{
		TypeOpen: "OPEN", TypeClose: "CLOSE", TypeCommand: "COMMAND", TypeHostError: "HOST_ERROR",
		TypeOpenDone: "OPEN_DONE", TypeCloseDone: "CLOSE_DONE", TypeCommandDone: "COMMAND_DONE",
		TypeFunctionError: "FUNCTION_ERROR", TypeIndicateStatus: "INDICATE_STATUS",
	}
	values := map[MessageType]uint32{
		TypeOpen: 1, TypeClose: 2, TypeCommand: 3, TypeHostError: 4, TypeOpenDone: 0x80000001,
		TypeCloseDone: 0x80000002, TypeCommandDone: 0x80000003, TypeFunctionError: 0x80000004,
		TypeIndicateStatus: 0x80000007,
	}
	for typ, name := range want {
		if typ.String() != name || uint32(typ) != values[typ] {
			t.Errorf("%#x: %q", uint32(typ), typ.String())
		}
		j, err := json.Marshal(typ)
		if err != nil || string(j) != `"`+name+`"` {
			t.Errorf("JSON %s, %v", j, err)
		}
		var back MessageType
		if err := json.Unmarshal(j, &back); err != nil || back != typ {
			t.Errorf("unmarshal %s: %v, %v", j, back, err)
		}
	}
	if s := MessageType(0x80cdab03).String(); s != "2160962307" {
		t.Errorf("unknown type prints %q", s)
	}
	var back MessageType
	if err := json.Unmarshal([]byte(`"2160962307"`), &back); err != nil || back != 0x80cdab03 {
		t.Errorf("unknown type round trip: %v, %v", back, err)
	}

	for ct, name := range map[CommandType]string{CommandQuery: "query", CommandSet: "set"} {
		j, err := json.Marshal(ct)
		if err != nil || ct.String() != name || string(j) != `"`+name+`"` {
			t.Errorf("%d: %q %s %v", ct, ct.String(), j, err)
		}
		var back CommandType
		if err := json.Unmarshal(j, &back); err != nil || back != ct {
			t.Errorf("unmarshal %s: %v, %v", j, back, err)
		}
	}
	if CommandQuery != 0 || CommandSet != 1 || CommandType(5).String() != "5" {
		t.Error("command types")
	}
	var ct CommandType
	if err := json.Unmarshal([]byte(`"get"`), &ct); err == nil {
		t.Error(`"get" accepted as a command type`)
	}
}

// FuzzMessageFraming checks properties, not only the absence of panics:
// a parsed message is a prefix of the input of exactly MessageLength bytes,
// a complete message rebuilds byte for byte from its fields, and any complete
// fragmentable message survives split and reassembly unchanged.
func FuzzMessageFraming(f *testing.F) {
	for _, m := range frmValidMessages(f) {
		f.Add(m, uint16(64))
	}
	f.Add(frmCommandDone(48, 1, 0, 4, 52), uint16(21))
	f.Fuzz(func(t *testing.T, data []byte, maxSize uint16) {
		m, err := ParseMessage(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		b := m.Bytes()
		if int(m.Length()) != len(b) || !bytes.Equal(b, data[:len(b)]) {
			t.Fatalf("view %x is not the first MessageLength bytes of %x", b, data)
		}
		if ib, slow := m.InformationBuffer(), m.findInformationBuffer(); !bytes.Equal(ib, slow) || (ib == nil) != (slow == nil) {
			t.Fatalf("information buffer %x kept by ParseMessage, %x derived from the header", ib, slow)
		}
		if !m.Type().fragmentable() || m.IsFragment() {
			return
		}
		if int(m.InformationBufferLength())+m.InformationBufferOffset() == len(b) {
			var re []byte
			switch m.Type() {
			case TypeCommand:
				re = AppendCommand(nil, m.TransactionID(), m.Service(), m.CID(), m.CommandType(), m.InformationBuffer())
			case TypeCommandDone:
				re = AppendCommandDone(nil, m.TransactionID(), m.Service(), m.CID(), m.Status(), m.InformationBuffer())
			case TypeIndicateStatus:
				re = AppendIndicateStatus(nil, m.TransactionID(), m.Service(), m.CID(), m.InformationBuffer())
			}
			if !bytes.Equal(re, b) {
				t.Fatalf("rebuilt %x, want %x", re, b)
			}
		}
		size := max(int(maxSize), 21)
		n, err := FragmentCount(b, size)
		if err != nil {
			t.Fatal(err)
		}
		r := NewReassembler(len(b))
		for i := range n {
			fb, err := AppendFragment(nil, b, size, i)
			if err != nil {
				t.Fatal(err)
			}
			fm, err := ParseMessage(fb)
			if err != nil {
				t.Fatalf("fragment %d: %v", i, err)
			}
			out, complete, err := r.Add(fm)
			if err != nil {
				t.Fatalf("fragment %d: %v", i, err)
			}
			if complete != (i == n-1) || (complete && !bytes.Equal(out.Bytes(), b)) {
				t.Fatalf("fragment %d of %d: complete %v", i, n, complete)
			}
		}
	})
}
