package fuzz

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/gowwan/wwan/mbim"
)

// richBody returns the encoding of a value of layout i with every field
// filled: strings, bytes and addresses present, two elements in every
// list, every optional struct present. Random bytes almost never form a
// valid nested list (an OL pair to a count followed by elements that hold
// their own OL pairs), so these seeds give the fuzzers every decode path
// of every layout to start from.
func richBody(t testing.TB, i int) []byte {
	l := layouts()[i]
	v := l.New()
	fill(reflect.ValueOf(v).Elem(), "", "", 0)
	b, err := v.AppendBinary(nil)
	if err != nil {
		t.Fatalf("%s: encode a filled value: %v", l.Name, err)
	}
	return b
}

var (
	uuidType = reflect.TypeFor[mbim.UUID]()
	addrType = reflect.TypeFor[netip.Addr]()
	tlvType  = reflect.TypeFor[mbim.TLV]()
)

// fill sets v (field of struct owner) to a non-zero value.
func fill(v reflect.Value, owner, field string, depth int) {
	spec := lookupSpec(owner, field)
	switch v.Type() {
	case stringType:
		v.Set(reflect.ValueOf(mbim.NewString("ab")))
		return
	case utf8Type:
		v.Set(reflect.ValueOf(mbim.UTF8String("app")))
		return
	case bytesType:
		n := 5
		switch spec.format {
		case "bytes_fixed":
			n = spec.len
		case "bytes_ref_sized":
			n = 4 // fields that share a size field must agree
		}
		b := make(mbim.Bytes, n)
		for i := range b {
			b[i] = byte(0x10 + i)
		}
		v.Set(reflect.ValueOf(b))
		return
	case addrType:
		a := netip.MustParseAddr("2001:db8::1")
		switch spec.format {
		case "ipv4", "ipv4_ref", "ipv4_array_ref":
			a = netip.MustParseAddr("192.0.2.1")
		}
		v.Set(reflect.ValueOf(a))
		return
	case tlvType:
		v.Set(reflect.ValueOf(mbim.TLV{Type: mbim.TLVTypeWcharStr, Data: mbim.Bytes(mbim.NewString("tlv"))}))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(2)
	case reflect.Int32, reflect.Int64, reflect.Int:
		v.SetInt(-2)
	case reflect.Array:
		for i := range v.Len() {
			if v.Index(i).Kind() == reflect.Uint8 {
				v.Index(i).SetUint(uint64(0x21 + i))
			}
		}
	case reflect.Pointer:
		if depth < 4 {
			v.Set(reflect.New(v.Type().Elem()))
			fill(v.Elem(), owner, field, depth+1)
		}
	case reflect.Slice:
		if depth < 4 {
			v.Set(reflect.MakeSlice(v.Type(), 2, 2))
			for i := range 2 {
				fill(v.Index(i), owner, field, depth+1)
			}
			if v.Type().Elem() == tlvType {
				// A TLV list: a string and a table of u16.
				v.Index(1).Set(reflect.ValueOf(mbim.TLV{Type: mbim.TLVTypeUint16Tbl, Data: mbim.Bytes{1, 0, 2, 0}}))
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), v.Type().Name(), v.Type().Field(i).Name, depth)
			}
		}
	}
}
