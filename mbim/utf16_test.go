package mbim

import (
	"math/rand/v2"
	"testing"
	"unicode/utf16"
)

// validUTF16Ref is the obvious definition validUTF16 must agree with.
func validUTF16Ref(b []byte) bool {
	if len(b)%2 != 0 {
		return false
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	for i := 0; i < len(u); i++ {
		switch {
		case u[i] < 0xd800 || u[i] > 0xdfff:
		case u[i] <= 0xdbff && i+1 < len(u) && u[i+1] >= 0xdc00 && u[i+1] <= 0xdfff:
			i++
		default:
			return false
		}
	}
	return true
}

func TestValidUTF16(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	// Every length up to 40 bytes, with a surrogate (lone or paired) or a
	// high code unit at every position, and plain text.
	units := []uint16{'a', 0x00e9, 0x8000, 0xd800, 0xdc00, 0xdbff, 0xdfff, 0xffff}
	for n := 0; n <= 41; n++ {
		for trial := 0; trial < 200; trial++ {
			b := make([]byte, n)
			for i := 0; i+1 < n; i += 2 {
				u := uint16('a' + r.IntN(26))
				if r.IntN(6) == 0 {
					u = units[r.IntN(len(units))]
				}
				b[i], b[i+1] = byte(u), byte(u>>8)
			}
			want := validUTF16Ref(b)
			if got := validUTF16(b); got != want {
				t.Fatalf("validUTF16(%x) = %v, want %v", b, got, want)
			}
			if validShortUTF16(b) && !want {
				t.Fatalf("validShortUTF16(%x) accepts invalid UTF-16", b)
			}
		}
	}
	// The fast path sees every code unit: one high unit anywhere in a
	// string it handles sends the string to the careful walk.
	for n := 8; n <= 16; n += 2 {
		plain := make([]byte, n)
		for i := 0; i < n; i += 2 {
			plain[i] = 'a'
		}
		if !validShortUTF16(plain) {
			t.Fatalf("validShortUTF16 rejects %d bytes of plain text", n)
		}
		for i := 0; i < n; i += 2 {
			b := append([]byte(nil), plain...)
			b[i+1] = 0xd8
			if validShortUTF16(b) {
				t.Fatalf("validShortUTF16(%x) misses the surrogate at byte %d", b, i)
			}
		}
	}
	// A real pair is valid; its halves alone are not.
	pair := AppendUTF16(nil, "\U0001F600")
	if !validUTF16(pair) || validUTF16(pair[:2]) || validUTF16(pair[2:]) {
		t.Fatalf("surrogate pair %x", pair)
	}
	if s := utf16.Decode([]uint16{uint16(pair[0]) | uint16(pair[1])<<8, uint16(pair[2]) | uint16(pair[3])<<8}); string(s) != "\U0001F600" {
		t.Fatal("AppendUTF16 wrote a wrong pair")
	}
}
