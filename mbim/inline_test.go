package mbim

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The generator inlines the decoding of list elements (providers, packet
// filters, SMS records) into the list's decoder. These tests check the
// inlined code against the element types' own Decode, which stays the
// reference: for every single-byte corruption of a vector message, the
// list decodes to the same elements, or fails with the same error at the
// same field path and offset as Decode of the element followed by nestErr.
func TestInlinedElementsMatchElementDecode(t *testing.T) {
	vectors := map[string][]byte{}
	for _, c := range decodeCases(t) {
		vectors[c.name] = c.msg
	}
	t.Run("sms_read", func(t *testing.T) {
		checkInlinedList(t, vectors["sms_read_multiple_pdu"], 4, 8, "pdu_messages",
			func(l *SmsReadInfo) []SmsPduReadRecord { return l.PduMessages })
	})
	t.Run("visible_providers", func(t *testing.T) {
		checkInlinedList(t, vectors["basic_connect_visible_providers"], 0, 4, "providers",
			func(l *VisibleProvidersInfo) []Provider { return l.Providers })
	})
	t.Run("ip_packet_filters", func(t *testing.T) {
		checkInlinedList(t, vectors["basic_connect_ip_packet_filters_two"], 4, 8, "packet_filters",
			func(l *IPPacketFiltersInfo) []PacketFilter { return l.PacketFilters })
	})
}

// checkInlinedList corrupts each byte of msg's information buffer in turn
// and compares list L's decoding with a walk that decodes each element E
// with E's Decode. The list's element count is at countAt and its OL pairs
// start at refsAt.
func checkInlinedList[L, E any, PL interface {
	*L
	Body
}, PE interface {
	*E
	Body
}](t *testing.T, msg []byte, countAt, refsAt int, field string, elems func(*L) []E) {
	m, err := ParseMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	orig := m.InformationBuffer()
	// reference reports ok false when the list itself (count, OL pairs) is
	// bad: the list's own code checks that, as it did before inlining.
	reference := func(b []byte) (es []E, err error, ok bool) {
		if len(b) < refsAt {
			return nil, nil, false
		}
		count := le.Uint32(b[countAt:])
		if !countFits(count, 8, len(b)-refsAt) {
			return nil, nil, false
		}
		es = []E{}
		for i := range int(count) {
			v, err := decElem(b, refsAt+8*i, 0, "")
			if err != nil {
				return nil, nil, false
			}
			var e E
			if err := PE(&e).Decode(v); err != nil {
				return nil, nestErr(indexed(field, i), int(le.Uint32(b[refsAt+8*i:])), err), true
			}
			es = append(es, e)
		}
		return es, nil, true
	}
	compared := 0
	for k := range orig {
		for _, x := range []byte{0x00, 0x01, 0x7f, 0x80, 0xff} {
			b := append([]byte(nil), orig...)
			b[k] = x
			want, wantErr, ok := reference(b)
			var l L
			gotErr := PL(&l).Decode(b)
			var pe *ParseError
			if !ok || errors.As(gotErr, &pe) && !strings.Contains(pe.Field, ".") {
				// A bad list, or the list's check of an element's OL pair
				// against the element's minimum size, which the reference
				// (minimum 0) does not make.
				continue
			}
			compared++
			var gp, wp *ParseError
			switch {
			case (gotErr == nil) != (wantErr == nil):
				t.Fatalf("byte %d = %#x: list error %v, element decode says %v", k, x, gotErr, wantErr)
			case gotErr != nil && (!errors.As(gotErr, &gp) || !errors.As(wantErr, &wp) || *gp != *wp || gotErr.Error() != wantErr.Error()):
				t.Fatalf("byte %d = %#x: list error %v, element decode says %v", k, x, gotErr, wantErr)
			case gotErr == nil && !reflect.DeepEqual(elems(&l), want):
				t.Fatalf("byte %d = %#x: list %+v, element decode %+v", k, x, elems(&l), want)
			}
		}
	}
	if compared < len(orig) {
		t.Errorf("only %d corruptions compared", compared)
	}
}
