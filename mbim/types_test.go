package mbim

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestUint16Table(t *testing.T) {
	tab := MakeUint16Table(1, 0x1234, 0xffff)
	if string(tab) != "\x01\x00\x34\x12\xff\xff" {
		t.Fatalf("wire form %x", []byte(tab))
	}
	if tab.Len() != 3 || tab.At(1) != 0x1234 || tab.At(2) != 0xffff {
		t.Fatalf("Len %d, At(1) %#x, At(2) %#x", tab.Len(), tab.At(1), tab.At(2))
	}
	var got []uint16
	for i, v := range tab.All() {
		if v != tab.At(i) {
			t.Fatalf("All yields %d at %d, At says %d", v, i, tab.At(i))
		}
		got = append(got, v)
	}
	if want := []uint16{1, 0x1234, 0xffff}; !slices.Equal(got, want) || !slices.Equal(tab.AppendValues(nil), want) {
		t.Fatalf("values %v, AppendValues %v", got, tab.AppendValues(nil))
	}
	if s := tab.String(); s != "[1 4660 65535]" {
		t.Errorf("String %q", s)
	}
	// An odd trailing byte is not a value, and is not written.
	odd := append(Uint16Table{}, 5, 0, 7)
	if odd.Len() != 1 || string(appendTLVU16s(nil, odd)[8:]) != "\x05\x00\x00\x00" {
		t.Errorf("odd table: Len %d, TLV %x", odd.Len(), appendTLVU16s(nil, odd))
	}

	for _, tc := range []struct {
		tab  Uint16Table
		json string
	}{{tab, "[1,4660,65535]"}, {Uint16Table{}, "[]"}, {nil, "null"}} {
		j, err := json.Marshal(tc.tab)
		if err != nil || string(j) != tc.json {
			t.Errorf("Marshal(%x) = %s, %v; want %s", []byte(tc.tab), j, err, tc.json)
			continue
		}
		var back Uint16Table
		if err := json.Unmarshal(j, &back); err != nil || string(back) != string(tc.tab) || (back == nil) != (tc.tab == nil) {
			t.Errorf("Unmarshal(%s) = %x, %v", j, []byte(back), err)
		}
	}
	var bad Uint16Table
	if err := json.Unmarshal([]byte("[70000]"), &bad); err == nil {
		t.Error("a value over 65535 was accepted")
	}
}
