package fuzz

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/gowwan/wwan/mbim"
)

var versions = [...]mbim.Version{mbim.MBIMEx1, mbim.MBIMEx2, mbim.MBIMEx3}

func FuzzDecodeMessage(f *testing.F) {
	for _, v := range loadVectors(f) {
		for _, raw := range v.messages(f) {
			f.Add(raw)
		}
	}
	// One message of every layout, filled in and with an all-zero buffer,
	// so that every service, CID and kind is in the corpus.
	for i, l := range layouts() {
		for _, buf := range [][]byte{richBody(f, i), make([]byte, 64)} {
			tid := uint32(i)
			switch l.Kind {
			case mbim.KindSet:
				f.Add(mbim.AppendCommand(nil, tid, l.Service, l.CID, mbim.CommandSet, buf))
			case mbim.KindQuery:
				f.Add(mbim.AppendCommand(nil, tid, l.Service, l.CID, mbim.CommandQuery, buf))
			case mbim.KindResponse:
				f.Add(mbim.AppendCommandDone(nil, tid, l.Service, l.CID, 0, buf))
			case mbim.KindNotification:
				f.Add(mbim.AppendIndicateStatus(nil, tid, l.Service, l.CID, buf))
			}
		}
	}
	// A failed COMMAND_DONE with and without a buffer, and an unknown CID.
	f.Add(mbim.AppendCommandDone(nil, 1, mbim.ServiceBasicConnect, 1, mbim.Status(2), nil))
	f.Add(mbim.AppendCommandDone(nil, 1, mbim.ServiceBasicConnect, 1, mbim.Status(2), make([]byte, 64)))
	f.Add(mbim.AppendIndicateStatus(nil, 1, mbim.ServiceBasicConnect, 0xffff, []byte{1, 2, 3}))

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := mbim.ParseMessage(data)
		if err != nil {
			return
		}
		for _, v := range versions {
			checkDecodeMessage(t, m, v)
		}
	})
}

func checkDecodeMessage(t *testing.T, m mbim.Message, v mbim.Version) {
	t.Helper()
	d, err := mbim.DecodeMessage(m, v)
	if d == nil {
		t.Fatalf("DecodeMessage returned a nil *Decoded (error %v)", err)
	}
	if !reflect.DeepEqual(d.Message, m) || d.Version != v {
		t.Fatalf("Decoded does not hold the message and version it decoded")
	}
	if err != nil {
		pe := checkParseErr(t, "DecodeMessage", err, decodeErrs...)
		// Offsets count from the start of the message, and point into the
		// information buffer.
		if off := m.InformationBufferOffset(); pe.Offset < off || pe.Offset > off+len(m.InformationBuffer()) {
			t.Fatalf("DecodeMessage error offset %d outside the buffer [%d, %d]: %v", pe.Offset, off, off+len(m.InformationBuffer()), err)
		}
		if d.Body != nil || d.Layout == "" {
			t.Fatalf("DecodeMessage failed (%v) but Body is %T, Layout %q", err, d.Body, d.Layout)
		}
	} else if d.Body != nil {
		// The body is what the layout decodes from the buffer.
		k, _ := kindOf(m)
		want, name, nerr := mbim.NewBody(m.Service(), m.CID(), k, v)
		if nerr != nil || name != d.Layout || d.Kind != k {
			t.Fatalf("DecodeMessage picked %q (%s), NewBody %q (%s, %v)", d.Layout, d.Kind, name, k, nerr)
		}
		if werr := want.Decode(m.InformationBuffer()); werr != nil || !reflect.DeepEqual(want, d.Body) {
			t.Fatalf("DecodeMessage body differs from decoding the buffer with %s (%v)", name, werr)
		}
	}
	// A tool prints whatever it got, failed body or not: none of the
	// renderings may fail.
	j, jerr := json.Marshal(d)
	if jerr != nil {
		t.Fatalf("json.Marshal(*Decoded): %v (decode error %v)", jerr, err)
	}
	var obj map[string]any
	if uerr := json.Unmarshal(j, &obj); uerr != nil || obj["message_type"] == nil {
		t.Fatalf("JSON of a message is not an object with a message_type (%v): %s", uerr, j)
	}
	for _, redact := range []bool{false, true} {
		if werr := d.WriteTree(io.Discard, redact); werr != nil {
			t.Fatalf("WriteTree(redact=%v): %v", redact, werr)
		}
	}
	if err == nil && d.Body != nil {
		checkRedaction(t, m, d)
	}
	// A writer that fails must make WriteTree fail, not be ignored.
	if werr := d.WriteTree(failWriter{}, true); !errors.Is(werr, errWrite) {
		t.Fatalf("WriteTree to a failing writer returned %v", werr)
	}
}

var errWrite = errors.New("write failed")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

// checkRedaction: with redact, WriteTree prints no personal value. The
// body is decoded again with every personal field (PersonalFields, at
// every depth) cleared; any rendering of a personal value that the
// redacted tree holds more often than the redacted tree of the cleared
// body has leaked (counting keeps values that also occur in other fields
// from being blamed).
func checkRedaction(t *testing.T, m mbim.Message, d *mbim.Decoded) {
	t.Helper()
	cleared, _, err := mbim.NewBody(m.Service(), m.CID(), d.Kind, d.Version)
	if err != nil || cleared.Decode(m.InformationBuffer()) != nil {
		t.Fatalf("the body of a decoded message does not decode again (%v)", err)
	}
	var values []string
	clearPersonal(reflect.ValueOf(cleared).Elem(), &values)
	if len(values) == 0 {
		return
	}
	var red, redCleared strings.Builder
	if d.WriteTree(&red, true) != nil {
		return // reported by the caller
	}
	c := *d
	c.Body = cleared
	if err := c.WriteTree(&redCleared, true); err != nil {
		t.Fatalf("WriteTree of the cleared body: %v", err)
	}
	for _, v := range values {
		if strings.Count(red.String(), v) > strings.Count(redCleared.String(), v) {
			t.Fatalf("%s: the redacted tree shows the personal value %s:\n%s", d.Layout, v, red.String())
		}
	}

	// The same for JSON (Decoded.Redact, mbim.Redacted). Redacted also
	// promises the JSON of the body otherwise unchanged: with the personal
	// fields cleared, redacting must change nothing.
	r := *d
	r.Redact = true
	rc := c
	rc.Redact = true
	jr, jrc, jc := mustJSON(t, "redacted", &r), mustJSON(t, "redacted", &rc), mustJSON(t, "cleared", &c)
	for _, v := range values {
		if strings.Count(string(jr), v) > strings.Count(string(jrc), v) {
			t.Fatalf("%s: the redacted JSON shows the personal value %s:\n%s", d.Layout, v, jr)
		}
	}
	var a, b any
	if json.Unmarshal(jrc, &a) != nil || json.Unmarshal(jc, &b) != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("%s: Redacted changes more than the personal fields:\n%s\n%s", d.Layout, jc, jrc)
	}
}

// clearPersonal zeroes the personal fields of a struct value, at any
// depth, and collects how the tree prints their values (at least 4
// characters, to keep clear of chance matches).
func clearPersonal(v reflect.Value, values *[]string) {
	personal := mbim.PersonalFields(v.Type().Name())
	for i := range v.NumField() {
		f, fv := v.Type().Field(i), v.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if contains(personal, name) {
			walk(fv, func(x reflect.Value) {
				var s string
				switch x := x.Interface().(type) {
				case mbim.String:
					s = strconv.Quote(x.String())
				case mbim.UTF8String:
					s = strconv.Quote(string(x))
				case mbim.Bytes:
					s = x.String()
				}
				if len(s) >= 4 {
					*values = append(*values, s)
					// How JSON writes it, when that differs (escapes).
					if j, err := json.Marshal(x.Interface()); err == nil && string(j) != s && len(j) >= 4 {
						*values = append(*values, string(j))
					}
				}
			})
			fv.Set(reflect.Zero(fv.Type()))
			continue
		}
		walk(fv, func(x reflect.Value) {
			if x.Kind() == reflect.Struct && x.CanSet() && x.Type().PkgPath() == tlvType.PkgPath() && x.Type() != tlvType {
				clearPersonal(x, values)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
