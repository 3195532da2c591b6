package fuzz

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzJSONBuild: the JSON form of a decoded layout is a faithful way to
// build it. For a layout and buffer picked as in FuzzDecode:
//
//	v = decode(b); j = json(v); w = unmarshal(j) into a fresh value
//	encode(w) == encode(v), and json(w) == j
//
// mbimctl builds requests from JSON, and tests write expected values as
// JSON: a value that does not survive its own JSON form cannot be sent.
func FuzzJSONBuild(f *testing.F) {
	n := len(layouts())
	for _, s := range vectorBodies(f) {
		f.Add(layoutInput(s.layout, s.buf))
	}
	for i := range n {
		f.Add(layoutInput(i, richBody(f, i)))
		f.Add(layoutInput(i, make([]byte, 128)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		i, b, ok := pickLayout(data)
		if !ok {
			return
		}
		checkJSONBuild(t, i, b)
	})
}

func checkJSONBuild(t *testing.T, i int, b []byte) {
	t.Helper()
	l := layouts()[i]
	v := l.New()
	if v.Decode(b) != nil {
		return
	}
	want, err := v.AppendBinary(nil)
	if err != nil {
		return // FuzzDecode reports this
	}
	j := mustJSON(t, l.Name, v)
	w := l.New()
	if err := json.Unmarshal(j, w); err != nil {
		t.Fatalf("%s: the JSON of a decoded value does not unmarshal: %v\ninput %x\njson  %s", l.Name, err, b, j)
	}
	got, err := w.AppendBinary(nil)
	if err != nil {
		t.Fatalf("%s: a value built from JSON does not encode: %v\ninput %x\njson  %s", l.Name, err, b, j)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: a value built from its JSON encodes differently\ninput %x\njson  %s\nwant  %x\ngot   %x\nrebuilt json %s", l.Name, b, j, want, got, jsonString(w))
	}
	// Unmarshalling is idempotent: the same document twice into one value
	// gives what once does (an UnmarshalJSON that appends to what the
	// value held would double its data).
	if err := json.Unmarshal(j, w); err != nil {
		t.Fatalf("%s: the JSON does not unmarshal a second time: %v", l.Name, err)
	}
	if again, err := w.AppendBinary(nil); err != nil || !bytes.Equal(again, want) {
		t.Fatalf("%s: unmarshalling the same JSON twice into one value changes it (%v)\ninput %x\njson  %s\nwant  %x\ngot   %x", l.Name, err, b, j, want, again)
	}
	if j2 := mustJSON(t, l.Name, w); !bytes.Equal(j, j2) {
		t.Fatalf("%s: JSON differs after a JSON round trip\n%s\n%s", l.Name, j, j2)
	}
}
