package mbim

// Primitives of the information-buffer codec. The generated decoders and
// encoders (zz_*.go) are straight-line code over these helpers; nothing here
// allocates on success.
//
// Every reference (offset/length pair, offset-only pointer, count) is checked
// against the buffer in 64-bit arithmetic before it is turned into an int, so
// hostile values cannot wrap on 32-bit platforms and nothing is read past the
// buffer the decoder was given.

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"unicode/utf8"
)

var le = binary.LittleEndian

// span returns b[off:off+n] when it lies inside b.
func span(b []byte, off, n uint64) ([]byte, bool) {
	if off > uint64(len(b)) || n > uint64(len(b))-off {
		return nil, false
	}
	return b[off : off+n], true
}

// pad4 rounds n up to a multiple of 4.
func pad4(n int) int { return (n + 3) &^ 3 }

// zeros is a source of padding bytes.
var zeros [4]byte

// appendPadded appends p and zero bytes up to a 4-byte boundary of len(p).
func appendPadded(b, p []byte) []byte {
	b = append(b, p...)
	return append(b, zeros[:pad4(len(p))-len(p)]...)
}

// decRef reads the OL pair at b[at:] (the caller checked that 8 bytes are
// there) and returns the referenced bytes. Length 0 means absent: the
// offset is ignored and nil returned, as libmbim does.
func decRef(b []byte, at int, field string) ([]byte, error) {
	// Written without span to stay within the inliner's budget: two
	// uint32s cannot overflow a uint64.
	off, n := uint64(le.Uint32(b[at:])), uint64(le.Uint32(b[at+4:]))
	if n == 0 {
		return nil, nil
	}
	if off+n > uint64(len(b)) {
		return nil, parseErr(field, at, ErrTruncated)
	}
	return b[off : off+n], nil
}

// decRefUICC is decRef for the MS UICC layouts that put the length first.
func decRefUICC(b []byte, at int, field string) ([]byte, error) {
	n, off := uint64(le.Uint32(b[at:])), uint64(le.Uint32(b[at+4:]))
	if n == 0 {
		return nil, nil
	}
	if off+n > uint64(len(b)) {
		return nil, parseErr(field, at, ErrTruncated)
	}
	return b[off : off+n], nil
}

// decStringUTF8 reads an OL-referenced UTF-8 string, dropping trailing NULs.
func decStringUTF8(b []byte, at int, field string) (UTF8String, error) {
	v, err := decRef(b, at, field)
	if err != nil || v == nil {
		return nil, err
	}
	for len(v) > 0 && v[len(v)-1] == 0 {
		v = v[:len(v)-1]
	}
	if !utf8.Valid(v) {
		return nil, parseErr(field, at, ErrMalformed)
	}
	return UTF8String(v), nil
}

// decOffset resolves an offset-only reference to n bytes. Offset 0 with
// n > 0 is accepted only where the layout says 0 means absent (the caller
// handles that before calling).
func decOffset(b []byte, at int, n uint64, field string) ([]byte, error) {
	off := le.Uint32(b[at:])
	v, ok := span(b, uint64(off), n)
	if !ok {
		return nil, parseErr(field, at, ErrTruncated)
	}
	return v, nil
}

// appendAddr appends an address as 4 (IPv4) or 16 (IPv6) bytes. An invalid
// (absent) address is written as zeros of the given size.
func appendAddr(b []byte, a netip.Addr, size int) []byte {
	if size == 4 {
		if a.Is4() || a.Is4In6() {
			v := a.As4()
			return append(b, v[:]...)
		}
		return append(b, 0, 0, 0, 0)
	}
	if !a.IsValid() {
		var z [16]byte
		return append(b, z[:]...)
	}
	v := a.As16()
	return append(b, v[:]...)
}

// countFits reports whether count items of at least min bytes each can be
// present in the n bytes left: it bounds every allocation a hostile count
// could cause by the size of the input.
func countFits(count uint32, min, n int) bool {
	return uint64(count)*uint64(max(min, 1)) <= uint64(max(n, 0))
}

// grow returns s resized to n elements, keeping its storage (and so the
// storage of the elements' own slices) when it is large enough.
//
// An empty result is never nil, so that a decoded empty list is [] and not
// null in JSON; make([]T, 0) points at the runtime's zero-size base and
// allocates nothing.
func grow[T any](s []T, n int) []T {
	if s == nil && n == 0 {
		return make([]T, 0)
	}
	if cap(s) >= n {
		return s[:n]
	}
	return append(s[:cap(s)], make([]T, n-cap(s))...)
}

// appendRef writes an OL pair for an item of n bytes placed at the running
// variable-part offset *v, and advances *v past the padded item. An empty
// item is written as offset 0, length 0.
func appendRef(b []byte, v *int, n int) []byte {
	if n == 0 {
		return append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	b = le.AppendUint32(b, uint32(*v))
	b = le.AppendUint32(b, uint32(n))
	*v += pad4(n)
	return b
}

// appendRefUICC is appendRef with the length first.
func appendRefUICC(b []byte, v *int, n int) []byte {
	if n == 0 {
		return append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	b = le.AppendUint32(b, uint32(n))
	b = le.AppendUint32(b, uint32(*v))
	*v += pad4(n)
	return b
}

// appendOffset writes an offset-only reference to an item of n bytes (0
// when empty) and advances *v.
func appendOffset(b []byte, v *int, n int) []byte {
	if n == 0 {
		return append(b, 0, 0, 0, 0)
	}
	b = le.AppendUint32(b, uint32(*v))
	*v += pad4(n)
	return b
}

// checkLen fails when an encoded length does not fit MBIM's 32-bit fields.
func checkLen(n int) error {
	if uint64(n) > math.MaxUint32 {
		return ErrTooLarge
	}
	return nil
}

func boolU32(v bool) uint32 {
	if v {
		return 1
	}
	return 0
}

var zeros8 [8]byte

// padFrom pads b with zeros so that the bytes appended since start are a
// multiple of 4.
func padFrom(b []byte, start int) []byte {
	n := len(b) - start
	return append(b, zeros[:pad4(n)-n]...)
}

func decBytesUICC(b []byte, at int, field string) (Bytes, error) {
	v, err := decRefUICC(b, at, field)
	return Bytes(v), err
}

// appendAddrRef writes an offset-only reference to one address, or 0 when
// the address is absent (invalid).
func appendAddrRef(b []byte, v *int, a netip.Addr, size int) []byte {
	if !a.IsValid() {
		return append(b, 0, 0, 0, 0)
	}
	return appendOffset(b, v, size)
}

// indexed names element i of an array field; only used on error paths.
func indexed(field string, i int) string {
	return field + "[" + strconv.Itoa(i) + "]"
}

// fixedLenErr reports a fixed-size byte field given the wrong length.
func fixedLenErr(field string, want, got int) error {
	return fmt.Errorf("mbim: %s must be %d bytes, not %d: %w", field, want, got, ErrMalformed)
}

// sameLenErr reports two fields that share one length field but differ.
func sameLenErr(a, b string) error {
	return fmt.Errorf("mbim: %s must be as long as %s (they share a length field): %w", a, b, ErrMalformed)
}

// decElem resolves the OL pair at b[at:] to one struct of an OL list (or an
// ms_struct) of at least least bytes. The element is bounded by its declared
// length, but a length that runs past the end of the buffer is clamped to
// it rather than refused: libmbim accepts such lists (its own SMS READ test
// declares one record 4 bytes longer than the buffer), and every field
// read from the element is still bounds-checked against what is there.
func decElem(b []byte, at, least int, field string) ([]byte, error) {
	off, n := uint64(le.Uint32(b[at:])), uint64(le.Uint32(b[at+4:]))
	if off > uint64(len(b)) || n < uint64(least) || uint64(len(b))-off < uint64(least) {
		return nil, parseErr(field, at, ErrTruncated)
	}
	end := min(off+n, uint64(len(b)))
	return b[off:end], nil
}
