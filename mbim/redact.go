package mbim

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
)

// Redaction of personal data (IMSI, ICCID, IMEI, telephone numbers,
// credentials, PDUs) for traces, logs and `mbimctl decode --redact`. The
// fields are those the specification files mark `personal`.

// redactedMark replaces a personal value that is present.
const redactedMark = "[personal]"

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// Redacted returns a value that marshals to the same JSON as body, except
// that every personal field that holds something is replaced by
// "[personal]" (absent values stay null, so the shape is kept).
func Redacted(body Body) any { return redactValue(reflect.ValueOf(body)) }

func redactValue(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return redactValue(v.Elem())
	case reflect.Struct:
		if v.Type().Implements(jsonMarshalerType) || v.Type().Implements(textMarshalerType) {
			return v.Interface()
		}
		personal := personalFields[v.Type().Name()]
		var obj orderedObject
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			if strings.Contains(opts, "omitzero") && fv.IsZero() {
				continue
			}
			if contains(personal, name) {
				obj = append(obj, field{name, maskedJSON(fv)})
				continue
			}
			obj = append(obj, field{name, redactValue(fv)})
		}
		return obj
	case reflect.Slice:
		if v.Type().Implements(jsonMarshalerType) || v.Type().Elem().Kind() != reflect.Struct {
			return v.Interface()
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = redactValue(v.Index(i))
		}
		return out
	}
	return v.Interface()
}

// maskedJSON keeps "absent" and "empty" visible and hides anything else.
func maskedJSON(v reflect.Value) any {
	if (v.Kind() == reflect.Slice || v.Kind() == reflect.Pointer) && v.IsNil() {
		return nil
	}
	if v.IsZero() || (v.Kind() == reflect.Slice && v.Len() == 0) {
		return v.Interface()
	}
	return redactedMark
}

type field struct {
	name  string
	value any
}

// orderedObject marshals as a JSON object with its fields in order.
type orderedObject []field

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.name)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
