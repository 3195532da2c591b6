package mbim

import (
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
)

// WriteTree prints the message as an indented tree for people: header
// fields first, then the typed fields with names from the specification,
// enums and flags by name, addresses as addresses. With redact, fields that
// carry personal data (IMSI, ICCID, IMEI, phone numbers, credentials) are
// masked.
func (d *Decoded) WriteTree(w io.Writer, redact bool) error {
	m := d.Message
	tw := &treeWriter{w: w}
	tw.line(0, "%s (%d bytes, transaction %d)", m.Type(), m.Length(), m.TransactionID())
	switch m.Type() {
	case TypeOpen:
		tw.line(1, "max_control_transfer: %d", m.MaxControlTransfer())
	case TypeOpenDone, TypeCloseDone:
		tw.line(1, "status: %s", m.Status().String())
	case TypeHostError, TypeFunctionError:
		tw.line(1, "error_status_code: %s", m.ErrorCode().String())
	case TypeCommand, TypeCommandDone, TypeIndicateStatus:
		if m.IsFragment() {
			tw.line(1, "fragment: %d of %d", m.FragmentCurrent()+1, m.FragmentTotal())
			if m.FragmentCurrent() != 0 {
				tw.line(1, "payload: %x", m.FragmentPayload())
				return tw.err
			}
		}
		svc := m.Service()
		name := ServiceName(svc)
		if name == "" {
			name = "UNKNOWN"
		}
		tw.line(1, "service: %s (%s)", name, svc)
		cname := CIDName(svc, m.CID())
		if cname == "" {
			cname = "?"
		}
		tw.line(1, "cid: %s (%d)", cname, m.CID())
		switch m.Type() {
		case TypeCommand:
			tw.line(1, "command_type: %s", m.CommandType())
		case TypeCommandDone:
			tw.line(1, "status: %s", m.Status().String())
		}
		tw.line(1, "information_buffer_length: %d", m.InformationBufferLength())
		switch {
		case d.Body != nil:
			tw.line(1, "fields (%s, %s, MBIMEx %s):", d.Layout, d.Kind, d.Version)
			var personal []string
			if redact {
				personal = PersonalFields(d.Layout)
			}
			tw.value(2, reflect.ValueOf(d.Body).Elem(), personal, redact)
		case len(m.InformationBuffer()) > 0:
			tw.line(1, "information_buffer: %x", m.InformationBuffer())
		}
	}
	return tw.err
}

type treeWriter struct {
	w   io.Writer
	err error
}

func (t *treeWriter) line(depth int, format string, a ...any) {
	if t.err != nil {
		return
	}
	_, t.err = fmt.Fprintf(t.w, "%s%s\n", strings.Repeat("  ", depth), fmt.Sprintf(format, a...))
}

var (
	stringerType = reflect.TypeFor[fmt.Stringer]()
	addrType     = reflect.TypeFor[netip.Addr]()
)

// value prints the fields of a struct value, one per line, recursing into
// nested structs and arrays.
func (t *treeWriter) value(depth int, v reflect.Value, personal []string, redact bool) {
	typ := v.Type()
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		fv := v.Field(i)
		if contains(personal, name) {
			t.line(depth, "%s: %s", name, maskValue(fv))
			continue
		}
		t.field(depth, name, fv, redact)
	}
}

func (t *treeWriter) field(depth int, name string, fv reflect.Value, redact bool) {
	if s, ok := scalarText(fv); ok {
		t.line(depth, "%s: %s", name, s)
		return
	}
	switch fv.Kind() {
	case reflect.Pointer:
		if fv.IsNil() {
			t.line(depth, "%s: (absent)", name)
			return
		}
		t.field(depth, name, fv.Elem(), redact)
	case reflect.Struct:
		t.line(depth, "%s:", name)
		var personal []string
		if redact {
			personal = PersonalFields(fv.Type().Name())
		}
		t.value(depth+1, fv, personal, redact)
	case reflect.Slice:
		if fv.Len() == 0 {
			t.line(depth, "%s: (none)", name)
			return
		}
		if s, ok := scalarText(fv.Index(0)); ok && fv.Index(0).Kind() != reflect.Struct {
			parts := make([]string, fv.Len())
			for i := range parts {
				parts[i], _ = scalarText(fv.Index(i))
			}
			_ = s
			t.line(depth, "%s: [%s]", name, strings.Join(parts, ", "))
			return
		}
		t.line(depth, "%s:", name)
		for i := 0; i < fv.Len(); i++ {
			t.field(depth+1, fmt.Sprintf("[%d]", i), fv.Index(i), redact)
		}
	default:
		t.line(depth, "%s: %v", name, fv.Interface())
	}
}

// scalarText renders values that print on one line: numbers, enums and
// flags (by name), strings, bytes, UUIDs and addresses.
func scalarText(v reflect.Value) (string, bool) {
	switch x := v.Interface().(type) {
	case String:
		if x == nil {
			return "(absent)", true
		}
		return fmt.Sprintf("%q", x.String()), true
	case UTF8String:
		return fmt.Sprintf("%q", string(x)), true
	case Bytes:
		if len(x) == 0 {
			return "(empty)", true
		}
		return x.String(), true
	case netip.Addr:
		if !x.IsValid() {
			return "(absent)", true
		}
		return x.String(), true
	case Uint16Table:
		if x.Len() == 0 {
			return "(none)", true
		}
		parts := make([]string, x.Len())
		for i, v := range x.All() {
			parts[i] = strconv.Itoa(int(v))
		}
		return "[" + strings.Join(parts, ", ") + "]", true
	case TLV:
		return tlvText(x), true
	case bool:
		return fmt.Sprint(x), true
	}
	if v.Type().Implements(stringerType) {
		s := v.Interface().(fmt.Stringer).String()
		switch v.Kind() {
		case reflect.Uint16, reflect.Uint32, reflect.Uint64:
			if _, isEnum := v.Interface().(interface{ Name() string }); isEnum {
				return fmt.Sprintf("%s (%d)", s, v.Uint()), true
			}
			return fmt.Sprintf("%s (%#x)", s, v.Uint()), true
		}
		return s, true
	}
	switch v.Kind() {
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Int32, reflect.Int64, reflect.Int:
		return fmt.Sprint(v.Interface()), true
	}
	return "", false
}

func tlvText(t TLV) string {
	switch t.Type {
	case TLVTypeWcharStr:
		return fmt.Sprintf("%s %q", t.Type, String(t.Data).String())
	case TLVTypeWakeCommand:
		if w, err := t.WakeCommand(); err == nil {
			return fmt.Sprintf("%s %s %s payload=%x", t.Type, ServiceName(w.Service), CIDName(w.Service, w.CID), []byte(w.Payload))
		}
	case TLVTypeWakePacket:
		if w, err := t.WakePacket(); err == nil {
			return fmt.Sprintf("%s filter=%d original_size=%d packet=%x", t.Type, w.FilterID, w.OriginalPacketSize, []byte(w.Packet))
		}
	}
	return fmt.Sprintf("%s %x", t.Type, []byte(t.Data))
}

// maskValue hides a personal value but keeps its shape: absent stays
// absent, anything else becomes a run of '*' as long as the text.
func maskValue(v reflect.Value) string {
	s, ok := scalarText(v)
	if !ok {
		return "(masked)"
	}
	if s == "(absent)" || s == "(empty)" || s == "(none)" {
		return s
	}
	n := len(strings.Trim(s, `"`))
	if n > 32 {
		n = 32
	}
	return "'" + strings.Repeat("*", n) + "' (personal)"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
