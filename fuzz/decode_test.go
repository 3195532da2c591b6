package fuzz

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gowwan/wwan/mbim"
)

// The round-trip property of FuzzDecode, for b decoded with layout l:
//
//	v1 = decode(b)          (may fail, with a ParseError; then stop)
//	e1 = encode(v1)         must succeed, len(e1) == v1.EncodedLen()
//	v2 = decode(e1)         must succeed
//	e2 = encode(v2)         e2 == e1 byte for byte (a fixed point)
//	v3 = decode(e2)         v3 == v2 (reflect.DeepEqual)
//	v1 == v2                (DeepEqual and equal JSON) after the
//	                        normalisations below, and no others.
//
// Normalisations accepted in v1 == v2. Each is a value the wire format
// cannot carry, so the decoder's v1 legitimately differs from v2:
//
//  1. bytes_rest padding. A bytes_rest field (without nopad) takes every
//     byte to the end of the buffer. The encoder pads it to 4 bytes, as
//     MBIM pads every variable item, and nothing on the wire says where
//     the data ended, so v2 has the data followed by up to 3 zero bytes.
//     Accepted only for the fields the spec declares bytes_rest without
//     nopad, only when v1's length is not a multiple of 4, and only for
//     zero padding up to the next multiple of 4.
//
//  2. A present but empty OL-referenced string is absent. An OL string
//     whose length is 1 (odd; the decoder drops the last byte, as libmbim
//     converts Length/2 code units) decodes to a present, empty String;
//     a string_utf8 made only of NULs decodes to a present, empty
//     UTF8String. MBIM 1.0 layouts have one form for an empty string, the
//     (0, 0) pair, which the decoder reads as absent (nil) and the encoder
//     writes for an empty string. So v1 "" becomes v2 null. Accepted only
//     for the spec formats string, string_array and string_utf8, never for
//     tlv_string, where present-empty and absent differ on the wire.
//
// Things that look like normalisations but are not needed, because the
// decoder already drops them from v1: the odd last byte of a string (v1
// is already even), TLV padding (TLV.Data excludes it, and readers trust
// PaddingLength), bool32 values other than 0 and 1 (v1 is a bool), the
// count fields (v1 holds the wire count, which is the list's length), an
// ms_struct whose length runs past the buffer (clamped in v1 already),
// bytes after the end of a layout (ignored). Any other difference between
// v1 and v2 is a bug.

// decodeErrs are the sentinels a typed decoder may wrap.
var decodeErrs = []error{mbim.ErrTruncated, mbim.ErrMalformed, mbim.ErrInvalidUTF16}

func FuzzDecode(f *testing.F) {
	n := len(layouts())
	if n == 0 {
		f.Fatal("mbim.Layouts() is empty")
	}
	seeds := vectorBodies(f)
	for i, s := range seeds {
		f.Add(layoutInput(s.layout, s.buf))
		// The same buffer read with an unrelated layout.
		f.Add(layoutInput((s.layout+7*i+1)%n, s.buf))
	}
	for i := range n {
		// Every layout filled in (every list, string and optional part
		// present), with an all-zero buffer (every count 0, every OL pair
		// absent), one that is too short, and bogus OL pairs.
		f.Add(layoutInput(i, richBody(f, i)))
		f.Add(layoutInput(i, make([]byte, 128)))
		f.Add(layoutInput(i, []byte{1, 2, 3}))
		f.Add(layoutInput(i, append(bytes.Repeat([]byte{0x08, 0, 0, 0, 0x03, 0, 0, 0}, 8), 'a', 0, 'b', 0xd8)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		i, b, ok := pickLayout(data)
		if !ok {
			return
		}
		checkDecode(t, i, b)
	})
}

// checkDecode checks the decode properties for one layout and buffer.
func checkDecode(t *testing.T, i int, b []byte) {
	t.Helper()
	l := layouts()[i]
	v1 := l.New()
	if err := v1.Decode(b); err != nil {
		pe := checkParseErr(t, l.Name+" decode", err, decodeErrs...)
		if pe.Offset < 0 || pe.Offset > len(b) {
			t.Fatalf("%s: error offset %d outside the %d-byte buffer: %v", l.Name, pe.Offset, len(b), err)
		}
		if pe.Field == "" {
			t.Fatalf("%s: a ParseError names no field: %v", l.Name, err)
		}
		checkReuse(t, l, b)
		return
	}
	checkReuse(t, l, b)
	checkAliases(t, l.Name, v1, b)
	checkTrailing(t, l, b, v1)

	// Encoding appends: what dst holds is kept and changes nothing.
	prefix := []byte{0xa5, 0x5a, 0xc3}
	full, err := v1.AppendBinary(prefix[:len(prefix):len(prefix)])
	if err != nil {
		// A decoded value always satisfies the encoders' constraints
		// (fixed-size bytes have their size, fields that share a size
		// field have the same length), so no error is acceptable here.
		t.Fatalf("%s: encode a decoded value: %v\ninput %x\nvalue %s", l.Name, err, b, jsonString(v1))
	}
	if !bytes.Equal(full[:len(prefix)], prefix) {
		t.Fatalf("%s: AppendBinary overwrote the bytes already in dst", l.Name)
	}
	e1 := full[len(prefix):]
	if alone, err := v1.AppendBinary(nil); err != nil || !bytes.Equal(alone, e1) {
		t.Fatalf("%s: the encoding depends on dst (%v):\n%x\n%x", l.Name, err, alone, e1)
	}
	if len(e1) != v1.EncodedLen() {
		t.Fatalf("%s: EncodedLen %d, AppendBinary wrote %d bytes\ninput %x\nvalue %s", l.Name, v1.EncodedLen(), len(e1), b, jsonString(v1))
	}

	v2 := l.New()
	if err := v2.Decode(e1); err != nil {
		t.Fatalf("%s: decode(encode(v)) fails: %v\ninput   %x\nencoded %x\nvalue %s", l.Name, err, b, e1, jsonString(v1))
	}
	// (Encode into a non-nil buffer: decoders keep the nil-ness of their
	// input in a bytes_rest field, and a real information buffer is never
	// nil.)
	e2, err := v2.AppendBinary(make([]byte, 0, len(e1)))
	if err != nil || !bytes.Equal(e1, e2) {
		t.Fatalf("%s: encode is not a fixed point (%v)\ninput %x\ne1    %x\ne2    %x", l.Name, err, b, e1, e2)
	}
	v3 := l.New()
	if err := v3.Decode(e2); err != nil || !reflect.DeepEqual(v2, v3) {
		t.Fatalf("%s: decoding the same bytes twice differs (%v):\n%s\n%s", l.Name, err, jsonString(v2), jsonString(v3))
	}

	// decode(encode(v)) == v, up to the normalisations documented above.
	// v1 is changed in place into its normal form.
	j1 := jsonString(v1)
	normalise(reflect.ValueOf(v1).Elem(), reflect.ValueOf(v2).Elem(), "", "")
	n1, j2 := mustJSON(t, l.Name, v1), mustJSON(t, l.Name, v2)
	if !bytes.Equal(n1, j2) || !reflect.DeepEqual(v1, v2) {
		t.Fatalf("%s: decode(encode(v)) != v\ninput   %x\nencoded %x\nv1 %s\nv1 normalised %s\nv2 %s", l.Name, b, e1, j1, n1, j2)
	}
}

// checkReuse decodes b into values that already hold an earlier decode,
// and an earlier decode into a value that held b; each result must be what
// a fresh value gives. Stale slices, pointers and strings from the
// earlier decode must not leak, even when that decode failed half-way.
func checkReuse(t *testing.T, l mbim.LayoutRef, b []byte) {
	t.Helper()
	others := append(reuseInputs()[l.Name], b[:len(b)/2], make([]byte, len(b)))
	for _, o := range others {
		reuseOnce(t, l, o, b)
		reuseOnce(t, l, b, o)
	}
}

func reuseOnce(t *testing.T, l mbim.LayoutRef, first, second []byte) {
	t.Helper()
	reused := l.New()
	_ = reused.Decode(first)
	errR := reused.Decode(second)
	fresh := l.New()
	errF := fresh.Decode(second)
	if (errR == nil) != (errF == nil) || (errR != nil && errR.Error() != errF.Error()) {
		t.Fatalf("%s: decoding into a reused value gives error %v, into a fresh one %v\nfirst  %x\nsecond %x", l.Name, errR, errF, first, second)
	}
	if errR == nil && !reflect.DeepEqual(reused, fresh) {
		t.Fatalf("%s: decoding into a reused value differs from a fresh one\nfirst  %x\nsecond %x\nreused %s\nfresh  %s", l.Name, first, second, jsonString(reused), jsonString(fresh))
	}
}

// reuseInputs are, by layout name, the vectors' information buffers and
// a value with every field filled in (richBody).
var reuseInputs = sync.OnceValue(func() map[string][][]byte {
	out := map[string][][]byte{}
	// loadVectors and richBody need a testing.TB only to report a
	// failure; the seed corpus of FuzzDecode reports the same failures.
	for _, s := range vectorBodies(panicTB{}) {
		name := layouts()[s.layout].Name
		out[name] = append(out[name], s.buf)
	}
	for i, l := range layouts() {
		out[l.Name] = append(out[l.Name], richBody(panicTB{}, i))
	}
	return out
})

// panicTB is enough of a testing.TB for loading vectors outside a test.
type panicTB struct{ testing.TB }

func (panicTB) Helper()                   {}
func (panicTB) Fatal(a ...any)            { panic(a) }
func (panicTB) Fatalf(f string, a ...any) { panic(f) }

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "<json: " + err.Error() + ">"
	}
	return string(b)
}

// fieldSpec is what the spec says about one field of a struct.
type fieldSpec struct {
	format string
	nopad  bool
	len    int // bytes_fixed
}

// specFields reads ../hack/spec/*.spec and returns the format of every
// struct field, keyed by "Struct.Field" (Go names, which the spec uses).
var specFields = sync.OnceValues(func() (map[string]fieldSpec, error) {
	paths, err := filepath.Glob("../hack/spec/*.spec")
	if err != nil || len(paths) == 0 {
		return nil, errors.New("no ../hack/spec/*.spec files")
	}
	out := map[string]fieldSpec{}
	for _, p := range paths {
		fh, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		cur := ""
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			w := strings.Fields(line)
			if len(w) == 0 {
				continue
			}
			switch w[0] {
			case "struct":
				if len(w) > 1 {
					cur = w[1]
				}
				continue
			case "service", "enum", "flags", "cid", "context":
				cur = ""
				continue
			}
			if cur == "" || len(w) < 2 {
				continue
			}
			fs := fieldSpec{format: w[1]}
			for _, x := range w[2:] {
				fs.nopad = fs.nopad || x == "nopad"
				if n, ok := strings.CutPrefix(x, "len="); ok {
					fs.len, _ = strconv.Atoi(n)
				}
			}
			out[cur+"."+w[0]] = fs
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
})

var (
	stringType = reflect.TypeFor[mbim.String]()
	utf8Type   = reflect.TypeFor[mbim.UTF8String]()
	bytesType  = reflect.TypeFor[mbim.Bytes]()
)

// normalise walks v1 and v2 (a decoded value and the decode of its
// encoding) in parallel and, where they differ by one of the accepted
// normalisations, sets v1's field to v2's. owner and field name the
// struct field being walked.
func normalise(a, b reflect.Value, owner, field string) {
	if a.Type() != b.Type() {
		return
	}
	switch a.Type() {
	case stringType, utf8Type:
		spec := lookupSpec(owner, field)
		switch spec.format {
		case "string", "string_array", "string_utf8":
			if !a.IsNil() && a.Len() == 0 && b.IsNil() {
				a.Set(b)
			}
		}
		return
	case bytesType:
		spec := lookupSpec(owner, field)
		if spec.format == "bytes_rest" && !spec.nopad {
			x, y := a.Bytes(), b.Bytes()
			if len(x)%4 != 0 && len(y) == (len(x)+3)&^3 && bytes.Equal(x, y[:len(x)]) &&
				bytes.Count(y[len(x):], []byte{0}) == len(y)-len(x) {
				a.Set(b)
			}
		}
		return
	}
	switch a.Kind() {
	case reflect.Pointer:
		if !a.IsNil() && !b.IsNil() {
			normalise(a.Elem(), b.Elem(), owner, field)
		}
	case reflect.Slice:
		if a.Len() == b.Len() {
			for i := range a.Len() {
				normalise(a.Index(i), b.Index(i), owner, field)
			}
		}
	case reflect.Struct:
		if a.Type().PkgPath() != reflect.TypeFor[mbim.TLV]().PkgPath() {
			return // netip.Addr and the like: compared as they are
		}
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				normalise(a.Field(i), b.Field(i), a.Type().Name(), a.Type().Field(i).Name)
			}
		}
	}
}

func lookupSpec(owner, field string) fieldSpec {
	m, err := specFields()
	if err != nil {
		return fieldSpec{}
	}
	return m[owner+"."+field]
}

// TestSpecFields makes sure the spec reader above still understands the
// spec: without it the normalisations would silently stop applying and
// FuzzDecode would report them as bugs.
func TestSpecFields(t *testing.T) {
	m, err := specFields()
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]fieldSpec{
		"ServiceActivationInfo.VendorSpecificBuffer": {format: "bytes_rest"},
		"QmiMsgSet.QmiMsg":                           {format: "bytes_rest", nopad: true},
		"DeviceCapsInfo.FirmwareInfo":                {format: "string"},
		"ConnectSetV3.AccessString":                  {format: "tlv_string"},
		"AuthAkaInfo.Auts":                           {format: "bytes_fixed", len: 14},
	} {
		if got, ok := m[key]; !ok || got != want {
			t.Errorf("spec field %s: got %+v (found %v), want %+v", key, got, ok, want)
		}
	}
	// Every field of every layout is known to the spec reader.
	for _, l := range layouts() {
		checkSpecCovers(t, reflect.TypeOf(l.New()).Elem(), m)
	}
}

func checkSpecCovers(t *testing.T, typ reflect.Type, m map[string]fieldSpec) {
	if typ.Kind() != reflect.Struct || typ.PkgPath() != reflect.TypeFor[mbim.TLV]().PkgPath() || typ == reflect.TypeFor[mbim.TLV]() {
		return
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if _, ok := m[typ.Name()+"."+f.Name]; !ok && typ.Name() != "Empty" {
			t.Errorf("the spec reader does not know %s.%s", typ.Name(), f.Name)
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		checkSpecCovers(t, ft, m)
	}
}

// checkAliases checks that every string and byte field of a decoded value
// is a view into the decoded buffer, as Decode documents (decoding copies
// nothing).
func checkAliases(t *testing.T, name string, v mbim.Body, b []byte) {
	t.Helper()
	if len(b) == 0 {
		return
	}
	lo := reflect.ValueOf(b).Pointer()
	hi := lo + uintptr(len(b))
	walk(reflect.ValueOf(v), func(x reflect.Value) {
		switch x.Type() {
		case stringType, utf8Type, bytesType:
			if p := x.Pointer(); x.Len() > 0 && (p < lo || p+uintptr(x.Len()) > hi) {
				t.Fatalf("%s: a decoded %s of %d bytes is not a view into the input", name, x.Type(), x.Len())
			}
		}
	})
}

// checkTrailing: bytes after a layout are ignored, so appending junk to a
// buffer that decodes changes nothing, for every layout that does not
// read to the end of its buffer (bytes_rest, tlv_list).
func checkTrailing(t *testing.T, l mbim.LayoutRef, b []byte, v mbim.Body) {
	t.Helper()
	if readsToEnd(reflect.TypeOf(v).Elem()) {
		return
	}
	longer := append(append(make([]byte, 0, len(b)+12), b...), 0xff, 0xfe, 0xfd, 0xfc, 1, 0, 0, 0, 8, 0, 0, 0)
	w := l.New()
	if err := w.Decode(longer); err != nil || !reflect.DeepEqual(v, w) {
		t.Fatalf("%s: bytes after the layout change the result (%v)\ninput %x\nv %s\nw %s", l.Name, err, b, jsonString(v), jsonString(w))
	}
}

// readsToEnd reports whether a layout type holds, at any depth, a field
// that takes the rest of its buffer.
var readsToEndCache sync.Map

func readsToEnd(typ reflect.Type) bool {
	if r, ok := readsToEndCache.Load(typ); ok {
		return r.(bool)
	}
	r := false
	if typ.Kind() == reflect.Struct && typ.PkgPath() == tlvType.PkgPath() {
		for i := range typ.NumField() {
			f := typ.Field(i)
			switch lookupSpec(typ.Name(), f.Name).format {
			case "bytes_rest", "tlv_list":
				r = true
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			r = r || (ft != typ && readsToEnd(ft))
		}
	}
	readsToEndCache.Store(typ, r)
	return r
}
