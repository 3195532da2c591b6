package fuzz

import "reflect"

// The JSON bugs FuzzJSONBuild found in package mbim (wake TLVs that did not
// read back, prefix lengths over 32/128, invalid UTF-8 in string_utf8, a
// UINT16_TBL TLV appended to on a second unmarshal, odd WCHAR_STR TLVs) are
// fixed; their reproducers stay in regress_test.go and
// testdata/fuzz/FuzzJSONBuild as regressions.

// walk calls fn on every value reachable from v (through pointers, slices
// and exported struct fields).
func walk(v reflect.Value, fn func(reflect.Value)) {
	if !v.IsValid() {
		return
	}
	fn(v)
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), fn)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := range v.Len() {
			walk(v.Index(i), fn)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				walk(v.Field(i), fn)
			}
		}
	}
}
