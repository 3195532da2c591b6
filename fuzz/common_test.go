package fuzz

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/gowwan/wwan/mbim"
)

// vector is the part of a libmbim vector the seeds need.
type vector struct {
	Name            string   `json:"name"`
	Category        string   `json:"category"`
	MBIMEx          string   `json:"mbimex_version"`
	Hex             string   `json:"hex"`
	HexLengthsFixed string   `json:"hex_lengths_fixed"`
	HexVariants     []string `json:"hex_variants"`
	Fragments       []string `json:"fragments"`
	ReassembledHex  string   `json:"reassembled_hex"`
	MaxFragmentSize int      `json:"max_fragment_size"`
}

// version is the MBIMEx version the vector was captured under (1.0 when it
// does not say).
func (v *vector) version() mbim.Version {
	switch v.MBIMEx {
	case "2.0":
		return mbim.MBIMEx2
	case "3.0":
		return mbim.MBIMEx3
	}
	return mbim.MBIMEx1
}

// messages returns every whole message or fragment the vector holds.
func (v *vector) messages(t testing.TB) [][]byte {
	var out [][]byte
	for _, s := range append([]string{v.Hex, v.HexLengthsFixed, v.ReassembledHex}, append(v.HexVariants, v.Fragments...)...) {
		if s != "" {
			out = append(out, unhex(t, s))
		}
	}
	return out
}

// loadVectors reads the project's vectors, relative to the package folder.
func loadVectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile("../testdata/libmbim-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatalf("libmbim-vectors.json: %v", err)
	}
	if len(vs) == 0 {
		t.Fatal("libmbim-vectors.json holds no vectors")
	}
	return vs
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// layouts is mbim.Layouts(), computed once per process.
var layouts = sync.OnceValue(mbim.Layouts)

// pickLayout maps the first two bytes of a FuzzDecode input to a layout.
func pickLayout(data []byte) (int, []byte, bool) {
	ls := layouts()
	if len(data) < 2 || len(ls) == 0 {
		return 0, nil, false
	}
	return int(binary.LittleEndian.Uint16(data)) % len(ls), data[2:], true
}

// layoutInput builds a FuzzDecode input for layout i.
func layoutInput(i int, buf []byte) []byte {
	return append(binary.LittleEndian.AppendUint16(nil, uint16(i)), buf...)
}

// layoutIndex finds the index in mbim.Layouts() of the layout that NewBody
// picks for a message of this service, CID and kind under version v.
func layoutIndex(svc mbim.UUID, cid uint32, k mbim.Kind, v mbim.Version) (int, bool) {
	_, name, err := mbim.NewBody(svc, cid, k, v)
	if err != nil {
		return 0, false
	}
	for i, l := range layouts() {
		if l.Service == svc && l.CID == cid && l.Kind == k && l.Name == name {
			return i, true
		}
	}
	return 0, false
}

// layoutByName finds a layout by its struct name (the first one of that
// name; the same struct can serve several CIDs or kinds).
func layoutByName(t testing.TB, name string) int {
	t.Helper()
	for i, l := range layouts() {
		if l.Name == name {
			return i
		}
	}
	t.Fatalf("no layout %q in mbim.Layouts()", name)
	return 0
}

// kindOf is the layout kind of a complete COMMAND, COMMAND_DONE or
// INDICATE_STATUS, as DecodeMessage chooses it.
func kindOf(m mbim.Message) (mbim.Kind, bool) {
	switch m.Type() {
	case mbim.TypeCommand:
		if m.CommandType() == mbim.CommandSet {
			return mbim.KindSet, true
		}
		return mbim.KindQuery, true
	case mbim.TypeCommandDone:
		return mbim.KindResponse, true
	case mbim.TypeIndicateStatus:
		return mbim.KindNotification, true
	}
	return 0, false
}

// vectorBodies returns, for every vector that carries a complete message
// with a known layout, the layout index and the information buffer.
type layoutSeed struct {
	layout int
	buf    []byte
}

func vectorBodies(t testing.TB) []layoutSeed {
	var out []layoutSeed
	for _, v := range loadVectors(t) {
		for _, raw := range v.messages(t) {
			m, err := mbim.ParseMessage(raw)
			if err != nil || m.IsFragment() {
				continue
			}
			k, ok := kindOf(m)
			if !ok {
				continue
			}
			i, ok := layoutIndex(m.Service(), m.CID(), k, v.version())
			if !ok {
				continue
			}
			out = append(out, layoutSeed{i, m.InformationBuffer()})
		}
	}
	return out
}

// checkParseErr fails unless err is a *mbim.ParseError wrapping one of
// the sentinels.
func checkParseErr(t *testing.T, what string, err error, sentinels ...error) *mbim.ParseError {
	t.Helper()
	var pe *mbim.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("%s: error %v (%T) is not a *mbim.ParseError", what, err, err)
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return pe
		}
	}
	t.Fatalf("%s: error %v wraps none of %v", what, err, sentinels)
	return nil
}

// mustJSON marshals v and fails the test on an error.
func mustJSON(t *testing.T, what string, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: json.Marshal: %v", what, err)
	}
	return b
}
