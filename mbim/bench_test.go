package mbim

// Benchmarks and allocation tests over the real messages of the vectors.
// hack/bench/libmbim-compare.sh runs BenchmarkDecode and BenchmarkEncode
// beside libmbim's parse and build of the same messages and prints ratios.

import (
	"encoding/json"
	"testing"
)

// decodeCase is a vector message that decodes to a typed body.
type decodeCase struct {
	name string
	msg  []byte
	ver  Version
}

// encodeCase is a request built from a vector's expected values.
type encodeCase struct {
	name    string
	service UUID
	cid     uint32
	ct      CommandType
	body    Body
	want    []byte
}

func decodeCases(t testing.TB) []decodeCase {
	var out []decodeCase
	for _, v := range loadVectors(t) {
		if v.ExpectError || (v.Category != "parser" && v.Category != "builder") {
			continue
		}
		h := v.Hex
		if v.LengthsInconsistent {
			h = v.HexLengthsFixed
		}
		out = append(out, decodeCase{v.Name, unhexT(t, h), v.version()})
	}
	return out
}

func encodeCases(t testing.TB) []encodeCase {
	var out []encodeCase
	for _, v := range loadVectors(t) {
		if v.Category != "builder" {
			continue
		}
		raw := unhexT(t, v.Hex)
		m, err := ParseMessage(raw)
		if err != nil {
			t.Fatal(err)
		}
		body, _, err := NewBody(m.Service(), m.CID(), kindOf(m), v.version())
		if err != nil {
			t.Fatal(err)
		}
		spec, _ := json.Marshal(v.Expect)
		if err := json.Unmarshal(spec, body); err != nil {
			t.Fatal(err)
		}
		out = append(out, encodeCase{v.Name, m.Service(), m.CID(), m.CommandType(), body, raw})
	}
	return out
}

// parseAndDecode is what a client does with a received message: validate
// the frame, then decode the body into a reused value.
func parseAndDecode(msg []byte, body Body) error {
	m, err := ParseMessage(msg)
	if err != nil {
		return err
	}
	return body.Decode(m.InformationBuffer())
}

func newBodyFor(t testing.TB, msg []byte, ver Version) Body {
	m, err := ParseMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	body, _, err := NewBody(m.Service(), m.CID(), kindOf(m), ver)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestDecodeAllocs: steady-state decode of every vector message into a
// reused value allocates nothing.
func TestDecodeAllocs(t *testing.T) {
	for _, c := range decodeCases(t) {
		body := newBodyFor(t, c.msg, c.ver)
		if err := parseAndDecode(c.msg, body); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n := testing.AllocsPerRun(50, func() { _ = parseAndDecode(c.msg, body) }); n != 0 {
			t.Errorf("%s: %v allocations per decode, want 0", c.name, n)
		}
	}
}

// TestEncodeAllocs: encoding a request into a reused buffer allocates
// nothing.
func TestEncodeAllocs(t *testing.T) {
	for _, c := range encodeCases(t) {
		buf := make([]byte, 0, 1024)
		n := testing.AllocsPerRun(50, func() {
			buf, _ = AppendCommandInfo(buf[:0], 1, c.service, c.cid, c.ct, c.body)
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per encode, want 0", c.name, n)
		}
		if string(buf) != string(c.want) {
			t.Errorf("%s: encoded bytes differ", c.name)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range decodeCases(b) {
		body := newBodyFor(b, c.msg, c.ver)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.msg)))
			for b.Loop() {
				if err := parseAndDecode(c.msg, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, c := range encodeCases(b) {
		buf := make([]byte, 0, 1024)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.want)))
			for b.Loop() {
				var err error
				if buf, err = AppendCommandInfo(buf[:0], 1, c.service, c.cid, c.ct, c.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFraming: validating a frame alone (the view costs no copy).
func BenchmarkFraming(b *testing.B) {
	msg := decodeCases(b)[0].msg
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := ParseMessage(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReassembly: a 4 KiB indication in 64-byte fragments through a
// reused Reassembler.
func BenchmarkReassembly(b *testing.B) {
	info := make([]byte, 4096)
	msg := AppendIndicateStatus(nil, 7, ServiceBasicConnect, CIDSignalState, info)
	count, err := FragmentCount(msg, 64)
	if err != nil {
		b.Fatal(err)
	}
	var frags [][]byte
	for i := 0; i < count; i++ {
		f, err := AppendFragment(nil, msg, 64, i)
		if err != nil {
			b.Fatal(err)
		}
		frags = append(frags, f)
	}
	r := NewReassembler(0)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		for i, f := range frags {
			m, err := ParseMessage(f)
			if err != nil {
				b.Fatal(err)
			}
			_, done, err := r.Add(m)
			if err != nil || done != (i == len(frags)-1) {
				b.Fatal(err)
			}
		}
	}
}
