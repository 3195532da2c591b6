package mbim

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// UUID is a 16-byte MBIM UUID in wire order. MBIM puts the bytes on the wire
// in the order of the canonical text form, with no GUID byte swapping.
type UUID [16]byte

// ParseUUID parses the canonical 8-4-4-4-12 text form.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("mbim: bad UUID %q: want 8-4-4-4-12 hex digits", s)
	}
	j := 0
	for i := 0; i < 36; {
		if s[i] == '-' {
			i++
			continue
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return u, fmt.Errorf("mbim: bad UUID %q: %q is not hex", s, s[i:i+2])
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, nil
}

// MustParseUUID is ParseUUID for constants; it panics on a bad literal.
func MustParseUUID(s string) UUID {
	u, err := ParseUUID(s)
	if err != nil {
		panic(err)
	}
	return u
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// String returns the canonical lower-case text form.
func (u UUID) String() string { return string(u.AppendText(nil)) }

// AppendText appends the canonical text form.
func (u UUID) AppendText(b []byte) []byte {
	const digits = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, digits[c>>4], digits[c&15])
	}
	return b
}

func (u UUID) MarshalText() ([]byte, error) { return u.AppendText(nil), nil }

func (u *UUID) UnmarshalText(b []byte) error {
	v, err := ParseUUID(string(b))
	*u = v
	return err
}

// ContextType is the UUID of a connection context (Internet, IMS, ...). It
// prints its name when it has one; unknown UUIDs are kept as they are.
type ContextType UUID

func (c ContextType) String() string {
	if n := contextTypeName(UUID(c)); n != "" {
		return n
	}
	return UUID(c).String()
}

// Name is the context type's name, or "" for an unknown UUID.
func (c ContextType) Name() string { return contextTypeName(UUID(c)) }

type namedUUIDJSON struct {
	UUID UUID    `json:"uuid"`
	Name *string `json:"name"`
}

func (c ContextType) MarshalJSON() ([]byte, error) {
	j := namedUUIDJSON{UUID: UUID(c)}
	if n := c.Name(); n != "" {
		j.Name = &n
	}
	return json.Marshal(j)
}

func (c *ContextType) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if u, ok := contextTypeByName(s); ok {
			*c = ContextType(u)
			return nil
		}
		return (*UUID)(c).UnmarshalText([]byte(s))
	}
	var j namedUUIDJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*c = ContextType(j.UUID)
	return nil
}

// String is an MBIM string as it is on the wire: UTF-16LE code units,
// without a terminating NUL. Decoders return it as a view into the message,
// so decoding allocates nothing; call String (or AppendUTF8) to get text.
//
// A nil String is an absent string (offset and length 0 in MBIM 1.0
// layouts); a non-nil empty String is a present, empty one (a zero-length
// MBIMEx 3.0 WCHAR_STR TLV). Both print as "".
type String []byte

// NewString encodes s as UTF-16LE. It returns nil for "", which encodes as
// an absent string (offset 0, length 0), as libmbim does.
func NewString(s string) String {
	if s == "" {
		return nil
	}
	return String(AppendUTF16(make([]byte, 0, 2*len(s)), s))
}

// AppendUTF16 appends s, converted from UTF-8 to UTF-16LE.
func AppendUTF16(b []byte, s string) []byte {
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			b = append(b, byte(r1), byte(r1>>8), byte(r2), byte(r2>>8))
			continue
		}
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}

// String converts to Go (UTF-8) text. Invalid surrogates become U+FFFD;
// decoders have already rejected strings that are not valid UTF-16.
func (s String) String() string { return string(s.AppendUTF8(nil)) }

// AppendUTF8 appends the string converted to UTF-8.
func (s String) AppendUTF8(b []byte) []byte {
	n := len(s) / 2
	for i := 0; i < n; i++ {
		c := rune(s[2*i]) | rune(s[2*i+1])<<8
		if utf16.IsSurrogate(c) && i+1 < n {
			c2 := rune(s[2*i+2]) | rune(s[2*i+3])<<8
			if r := utf16.DecodeRune(c, c2); r != utf8.RuneError {
				b = utf8.AppendRune(b, r)
				i++
				continue
			}
		}
		if utf16.IsSurrogate(c) {
			c = utf8.RuneError
		}
		b = utf8.AppendRune(b, c)
	}
	return b
}

// Equal reports whether two strings hold the same text (an absent and an
// empty string differ).
func (s String) Equal(t String) bool {
	return (s == nil) == (t == nil) && string(s) == string(t)
}

// validUTF16 reports whether b holds an even number of bytes forming valid
// UTF-16LE (surrogates only in high-low pairs). Modem strings are almost
// always below U+8000 (no surrogate can occur there), so the fast path only
// ORs the words together and looks at the top bit of every code unit once;
// the careful walk runs only when some code unit is U+8000 or above.
func validUTF16(b []byte) bool {
	n := len(b)
	if n%2 != 0 {
		return false
	}
	// Overlapping loads cover the tail: ORing a code unit twice changes
	// nothing, and every load starts at an even offset, so code units stay
	// aligned with the mask.
	var acc uint64
	switch {
	case n >= 8:
		for i := 0; i < n-8; i += 8 {
			acc |= le.Uint64(b[i:])
		}
		acc |= le.Uint64(b[n-8:])
	case n >= 4:
		acc = uint64(le.Uint32(b) | le.Uint32(b[n-4:]))
	case n == 2:
		acc = uint64(le.Uint16(b))
	}
	if acc&0x8000800080008000 == 0 {
		return true
	}
	return validSurrogates(b)
}

// validShortUTF16 is validUTF16's fast path for the most common strings
// (8 to 16 bytes: operator codes, names, short numbers), small enough for
// the compiler to inline into the generated decoders; false means "ask
// validUTF16", not "invalid".
func validShortUTF16(v []byte) bool {
	n := len(v)
	return n >= 8 && n <= 16 && n%2 == 0 &&
		(le.Uint64(v)|le.Uint64(v[n-8:]))&0x8000800080008000 == 0
}

// validSurrogates is the careful walk of validUTF16.
func validSurrogates(b []byte) bool {
	for i := 0; i+1 < len(b); i += 2 {
		c := uint16(b[i]) | uint16(b[i+1])<<8
		switch {
		case c < 0xd800 || c > 0xdfff:
		case c <= 0xdbff && i+3 < len(b):
			c2 := uint16(b[i+2]) | uint16(b[i+3])<<8
			if c2 < 0xdc00 || c2 > 0xdfff {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return true
}

func (s String) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	return json.Marshal(s.String())
}

func (s *String) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = nil
		return nil
	}
	var t string
	if err := json.Unmarshal(b, &t); err != nil {
		return err
	}
	*s = AppendUTF16(make(String, 0, 2*len(t)), t)
	return nil
}

// UTF8String is a string that a few Microsoft messages carry in UTF-8
// instead of UTF-16 (the MS UICC application name). Trailing NULs are
// dropped on decode.
type UTF8String []byte

func (s UTF8String) String() string { return string(s) }

func (s UTF8String) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	return json.Marshal(string(s))
}

func (s *UTF8String) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = nil
		return nil
	}
	var t string
	if err := json.Unmarshal(b, &t); err != nil {
		return err
	}
	*s = UTF8String(t)
	return nil
}

// Bytes is opaque binary data (a PDU, a key, a filter). It prints and
// marshals as lower-case hex. Decoders return it as a view into the message.
type Bytes []byte

func (b Bytes) String() string { return hex.EncodeToString(b) }

func (b Bytes) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, b), nil }

func (b Bytes) MarshalJSON() ([]byte, error) {
	if b == nil {
		return []byte("null"), nil
	}
	return json.Marshal(hex.EncodeToString(b))
}

func (b *Bytes) UnmarshalJSON(j []byte) error {
	if string(j) == "null" {
		*b = nil
		return nil
	}
	var t string
	if err := json.Unmarshal(j, &t); err != nil {
		return err
	}
	v, err := hex.DecodeString(t)
	if err != nil {
		return fmt.Errorf("mbim: bad hex bytes %q: %w", t, err)
	}
	*b = v
	return nil
}

// Uint16Table is a table of 16-bit values (an MBIMEx 3.0 UINT16_TBL, such
// as the LTE and NR band lists of DEVICE_CAPS v3) in wire form: little-endian
// pairs of bytes. Like String it is a view: decoders return it over the
// message without copying, which matters for band lists that run to dozens
// of entries. An odd trailing byte is not part of the table.
type Uint16Table []byte

// MakeUint16Table builds a table from values.
func MakeUint16Table(v ...uint16) Uint16Table {
	t := make(Uint16Table, 0, 2*len(v))
	for _, x := range v {
		t = le.AppendUint16(t, x)
	}
	return t
}

// Len is the number of values.
func (t Uint16Table) Len() int { return len(t) / 2 }

// At returns value i; it panics if i is out of range, like an index.
func (t Uint16Table) At(i int) uint16 { return le.Uint16(t[2*i : 2*i+2]) }

// All yields the values with their indices.
func (t Uint16Table) All() iter.Seq2[int, uint16] {
	return func(yield func(int, uint16) bool) {
		for i := range t.Len() {
			if !yield(i, t.At(i)) {
				return
			}
		}
	}
}

// AppendValues appends the values to dst.
func (t Uint16Table) AppendValues(dst []uint16) []uint16 {
	for i := range t.Len() {
		dst = append(dst, t.At(i))
	}
	return dst
}

// String prints the values in decimal, as fmt prints a []uint16.
func (t Uint16Table) String() string {
	return fmt.Sprint(t.AppendValues(nil))
}

// MarshalJSON writes the values as a JSON array of numbers (null for nil).
func (t Uint16Table) MarshalJSON() ([]byte, error) {
	if t == nil {
		return []byte("null"), nil
	}
	b := []byte{'['}
	for i := range t.Len() {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(t.At(i)), 10)
	}
	return append(b, ']'), nil
}

func (t *Uint16Table) UnmarshalJSON(j []byte) error {
	var v []uint16
	if err := json.Unmarshal(j, &v); err != nil {
		return err
	}
	if v == nil {
		*t = nil
		return nil
	}
	*t = MakeUint16Table(v...)
	return nil
}

// Version is an MBIM or MBIMEx version in BCD: 0x0100 is 1.0, 0x0300 3.0.
type Version uint16

// MBIMEx versions; the negotiated one selects the layout of several CIDs.
const (
	MBIMEx1 Version = 0x0100
	MBIMEx2 Version = 0x0200
	MBIMEx3 Version = 0x0300
)

// ParseVersion parses "1", "2.0", "3.0" and the like.
func ParseVersion(s string) (Version, error) {
	maj, min, _ := cutByte(s, '.')
	a, err1 := strconv.ParseUint(maj, 10, 8)
	b := uint64(0)
	var err2 error
	if min != "" {
		b, err2 = strconv.ParseUint(min, 10, 8)
	}
	if err1 != nil || err2 != nil || a == 0 || a > 9 || b > 9 {
		return 0, fmt.Errorf("mbim: bad MBIMEx version %q: want 1, 2 or 3 (or 1.0, 2.0, 3.0)", s)
	}
	return Version(a<<8 | b), nil
}

func cutByte(s string, c byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func (v Version) Major() int { return int(v >> 8) }
func (v Version) Minor() int { return int(v & 0xff) }

func (v Version) String() string {
	return strconv.Itoa(v.Major()) + "." + strconv.Itoa(v.Minor())
}

// marshalEnum writes {"value": n, "name": "NAME"} (name null when unknown).
func marshalEnum(v uint64, name string) ([]byte, error) {
	b := append([]byte(`{"value":`), strconv.FormatUint(v, 10)...)
	b = append(b, `,"name":`...)
	if name == "" {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendQuote(b, name)
	}
	return append(b, '}'), nil
}

// marshalFlags writes {"value": n, "flags": ["A", "B"]}; unnamed bits are
// listed as hex numbers so that nothing is lost.
func marshalFlags(v uint64, names func(uint64) ([]string, uint64)) ([]byte, error) {
	b := append([]byte(`{"value":`), strconv.FormatUint(v, 10)...)
	b = append(b, `,"flags":[`...)
	set, rest := names(v)
	for i, n := range set {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, n)
	}
	if rest != 0 {
		if len(set) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, "0x"+strconv.FormatUint(rest, 16))
	}
	return append(b, "]}"...), nil
}

var errEnumJSON = errors.New(`want a number, a name, or {"value": n}`)

// unmarshalEnum accepts n, "NAME" or {"value": n, ...}.
func unmarshalEnum(b []byte, byName func(string) (uint64, bool)) (uint64, error) {
	var n uint64
	if json.Unmarshal(b, &n) == nil {
		return n, nil
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		if v, ok := byName(s); ok {
			return v, nil
		}
		return 0, fmt.Errorf("mbim: unknown name %q", s)
	}
	var o struct {
		Value *uint64 `json:"value"`
	}
	if json.Unmarshal(b, &o) == nil && o.Value != nil {
		return *o.Value, nil
	}
	return 0, errEnumJSON
}

// flagString renders a flag set as "A|B" ("0" when empty).
func flagString(v uint64, names func(uint64) ([]string, uint64)) string {
	set, rest := names(v)
	if len(set) == 0 && rest == 0 {
		return "none"
	}
	s := ""
	for i, n := range set {
		if i > 0 {
			s += "|"
		}
		s += n
	}
	if rest != 0 {
		if s != "" {
			s += "|"
		}
		s += "0x" + strconv.FormatUint(rest, 16)
	}
	return s
}

// enumString renders an enum as its name, or its number when unnamed.
func enumString(v uint64, name string) string {
	if name != "" {
		return name
	}
	return strconv.FormatUint(v, 10)
}

// Addresses in IP configuration: a prefix length and an address.

// prefixText renders "addr/len".
func prefixText(a netip.Addr, n uint32) []byte {
	b := a.AppendTo(nil)
	b = append(b, '/')
	return strconv.AppendUint(b, uint64(n), 10)
}

// parsePrefixText parses "addr/len". Unlike netip.ParsePrefix it accepts
// any length a device can send (an IPv4 element with prefix 33 must
// survive a JSON round trip), since the value is data, not a route.
func parsePrefixText(b []byte) (netip.Addr, uint32, error) {
	a, n, ok := cutByte(string(b), '/')
	if !ok {
		return netip.Addr{}, 0, fmt.Errorf("mbim: bad address %q: want address/prefix-length", b)
	}
	addr, err := netip.ParseAddr(a)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	bits, err := strconv.ParseUint(n, 10, 32)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("mbim: bad prefix length in %q", b)
	}
	return addr, uint32(bits), nil
}

// unmarshalFlags accepts n, ["A", "B"], "A|B" or {"value": n} / {"flags": [...]}.
func unmarshalFlags(b []byte, byName func(string) (uint64, bool)) (uint64, error) {
	var n uint64
	if json.Unmarshal(b, &n) == nil {
		return n, nil
	}
	fromNames := func(names []string) (uint64, error) {
		var v uint64
		for _, s := range names {
			if s == "" || s == "none" {
				continue
			}
			if x, ok := byName(s); ok {
				v |= x
				continue
			}
			if x, err := strconv.ParseUint(s, 0, 64); err == nil {
				v |= x
				continue
			}
			return 0, fmt.Errorf("mbim: unknown flag %q", s)
		}
		return v, nil
	}
	var list []string
	if json.Unmarshal(b, &list) == nil {
		return fromNames(list)
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		return fromNames(strings.Split(s, "|"))
	}
	var o struct {
		Value *uint64  `json:"value"`
		Flags []string `json:"flags"`
	}
	if json.Unmarshal(b, &o) == nil {
		if o.Value != nil {
			return *o.Value, nil
		}
		if o.Flags != nil {
			return fromNames(o.Flags)
		}
	}
	return 0, errEnumJSON
}
