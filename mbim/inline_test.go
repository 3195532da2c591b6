package mbim

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The generator inlines the decoding of list elements (providers, packet
// filters, SMS records) into the list's decoder. This checks the inlined
// code against the element types' own Decode, which stays the reference:
// for every single-byte corruption of three vector messages, the list
// decodes to the same elements, or fails with the same error at the same
// field path and offset as Decode of the element followed by nestErr.
func TestInlinedElementsMatchElementDecode(t *testing.T) {
	type list struct {
		vector    string
		countAt   int // the element count in the information buffer
		refsAt    int // the first OL pair
		field     string
		body      func() Body
		elems     func(Body) any // the decoded list
		newElem   func() Body
		elemSlice func([]Body) any // the reference elements as the list's type
	}
	cases := []list{
		{"sms_read_multiple_pdu", 4, 8, "pdu_messages",
			func() Body { return new(SmsReadInfo) },
			func(b Body) any { return b.(*SmsReadInfo).PduMessages },
			func() Body { return new(SmsPduReadRecord) },
			func(es []Body) any {
				out := []SmsPduReadRecord{}
				for _, e := range es {
					out = append(out, *e.(*SmsPduReadRecord))
				}
				return out
			}},
		{"basic_connect_visible_providers", 0, 4, "providers",
			func() Body { return new(VisibleProvidersInfo) },
			func(b Body) any { return b.(*VisibleProvidersInfo).Providers },
			func() Body { return new(Provider) },
			func(es []Body) any {
				out := []Provider{}
				for _, e := range es {
					out = append(out, *e.(*Provider))
				}
				return out
			}},
		{"basic_connect_ip_packet_filters_two", 4, 8, "packet_filters",
			func() Body { return new(IPPacketFiltersInfo) },
			func(b Body) any { return b.(*IPPacketFiltersInfo).PacketFilters },
			func() Body { return new(PacketFilter) },
			func(es []Body) any {
				out := []PacketFilter{}
				for _, e := range es {
					out = append(out, *e.(*PacketFilter))
				}
				return out
			}},
	}
	vectors := map[string][]byte{}
	for _, c := range decodeCases(t) {
		vectors[c.name] = c.msg
	}
	for _, c := range cases {
		msg, ok := vectors[c.vector]
		if !ok {
			t.Fatalf("no vector %s", c.vector)
		}
		m, err := ParseMessage(msg)
		if err != nil {
			t.Fatal(err)
		}
		orig := m.InformationBuffer()
		// reference decodes the list element by element; ok is false when
		// the list itself (count, OL pairs) is bad, which the list's own
		// code checks as before.
		reference := func(b []byte) (elems any, err error, ok bool) {
			if len(b) < c.refsAt {
				return nil, nil, false
			}
			count := le.Uint32(b[c.countAt:])
			if !countFits(count, 8, len(b)-c.refsAt) {
				return nil, nil, false
			}
			var es []Body
			for i := range int(count) {
				p := c.refsAt + 8*i
				o := uint64(le.Uint32(b[p:]))
				v, err := decElem(b, p, 0, "")
				if err != nil {
					return nil, nil, false
				}
				e := c.newElem()
				if err := e.Decode(v); err != nil {
					return nil, nestErr(indexed(c.field, i), int(o), err), true
				}
				es = append(es, e)
			}
			return c.elemSlice(es), nil, true
		}
		checked := 0
		for k := range orig {
			for _, x := range []byte{0x00, 0x01, 0x7f, 0x80, 0xff} {
				b := append([]byte(nil), orig...)
				b[k] = x
				want, wantErr, ok := reference(b)
				body := c.body()
				gotErr := body.Decode(b)
				if !ok {
					continue
				}
				var pe *ParseError
				if errors.As(gotErr, &pe) && !strings.Contains(pe.Field, ".") {
					// The list's own check of an element's OL pair against
					// the element's minimum size, which the reference
					// (minimum 0) does not make.
					continue
				}
				checked++
				switch {
				case (gotErr == nil) != (wantErr == nil):
					t.Fatalf("%s, byte %d = %#x: list error %v, element decode says %v", c.vector, k, x, gotErr, wantErr)
				case gotErr != nil:
					var gp, wp *ParseError
					if !errors.As(gotErr, &gp) || !errors.As(wantErr, &wp) || *gp != *wp || gotErr.Error() != wantErr.Error() {
						t.Fatalf("%s, byte %d = %#x: list error %v, element decode says %v", c.vector, k, x, gotErr, wantErr)
					}
				case !reflect.DeepEqual(c.elems(body), want):
					t.Fatalf("%s, byte %d = %#x: list %+v, element decode %+v", c.vector, k, x, c.elems(body), want)
				}
			}
		}
		if checked < len(orig) {
			t.Errorf("%s: only %d corruptions compared", c.vector, checked)
		}
	}
}
