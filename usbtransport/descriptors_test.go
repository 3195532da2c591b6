package usbtransport

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// em7455 is the sysfs descriptors file of a USB MBIM modem laid out like a
// Sierra Wireless EM7455 (1199:9079): a device descriptor and two
// configurations, the first the QMI/serial composition, the second (the
// active one in MBIM mode) the MBIM function on interfaces 12 and 13.
// The bytes follow mbim-reference.md §7.1–7.2 field by field.
var em7455 = hexBytes(`
	12 01 1002 ef 02 01 40 9911 7990 0600 01 02 03 02   device: USB 2.10, misc/IAD class, ep0 64, 1199:9079, 2 configs

	09 02 3e00 02 01 00 a0 fa                           config 1: wTotalLength 62, 2 interfaces, value 1, 500 mA
	09 04 00 00 02 ff ff ff 00                            intf 0 alt 0: vendor (diag), 2 endpoints
	07 05 81 02 0002 00                                     ep 0x81 bulk 512
	07 05 01 02 0002 00                                     ep 0x01 bulk 512
	09 04 08 00 03 ff ff ff 00                            intf 8 alt 0: vendor (QMI), 3 endpoints
	07 05 89 03 4000 09                                     ep 0x89 interrupt 64, interval 9
	07 05 8a 02 0002 00                                     ep 0x8a bulk 512
	07 05 0b 02 0002 00                                     ep 0x0b bulk 512

	09 02 5f00 02 02 00 a0 fa                           config 2: wTotalLength 95, 2 interfaces, value 2
	08 0b 0c 02 02 0e 00 00                               IAD: first 12, count 2, function 02/0e/00
	09 04 0c 00 01 02 0e 00 00                            intf 12 alt 0: MBIM communication 02/0e/00, 1 endpoint
	05 24 00 1001                                           CDC header, bcdCDC 1.10
	05 24 06 0c 0d                                          CDC union: master 12, slave 13
	0c 24 1b 0001 0010 20 80 0008 20                        MBIM: 1.00, wMaxControlMessage 4096, 32 filters of 128, wMaxSegmentSize 2048, caps 0x20
	08 24 1c 0001 40 dc05                                   MBIM extended: 1.00, 64 outstanding, wMTU 1500
	07 05 82 03 4000 09                                     ep 0x82 interrupt 64, interval 9
	09 04 0d 00 00 0a 00 02 00                            intf 13 alt 0: CDC data 0a/00/02, no endpoints
	09 04 0d 01 02 0a 00 02 00                            intf 13 alt 1: CDC data 0a/00/02, 2 endpoints
	07 05 8e 02 0002 00                                     ep 0x8e bulk 512
	07 05 0f 02 0002 00                                     ep 0x0f bulk 512
`)

// em7455Config2 is configuration 2 alone: what GET_DESCRIPTOR(CONFIGURATION,
// index 1) returns.
var em7455Config2 = em7455[18+62:]

var em7455Want = Descriptors{
	VendorID: 0x1199, ProductID: 0x9079,
	ConfigValue: 2, ConfigIndex: 1,
	ControlInterface: 12, ControlAlt: 0,
	DataInterface: 13, DataAlt: 1, DataFromUnion: true,
	Interrupt:  Endpoint{Address: 0x82, MaxPacketSize: 64, Interval: 9},
	BulkIn:     Endpoint{Address: 0x8e, MaxPacketSize: 512},
	BulkOut:    Endpoint{Address: 0x0f, MaxPacketSize: 512},
	CDCVersion: 0x0110, MBIMVersion: 0x0100,
	MaxControlMessage: 4096, NumberFilters: 32, MaxFilterSize: 128,
	MaxSegmentSize: 2048, NetworkCapabilities: 0x20,
	Extended: true, ExtendedVersion: 0x0100, MaxOutstandingCommandMessages: 64, MTU: 1500,
}

// hexBytes decodes hex written as groups of digits; a group of anything
// else ends the line's bytes (the rest is a comment).
func hexBytes(s string) []byte {
	var out []byte
	for line := range strings.SplitSeq(s, "\n") {
		for f := range strings.FieldsSeq(line) {
			b, err := hex.DecodeString(f)
			if err != nil {
				break
			}
			out = append(out, b...)
		}
	}
	return out
}

func TestEM7455Lengths(t *testing.T) {
	if len(em7455) != 18+62+95 {
		t.Fatalf("descriptors are %d bytes, want %d", len(em7455), 18+62+95)
	}
}

func TestParseConfigDescriptors(t *testing.T) {
	t.Run("sysfs file", func(t *testing.T) {
		got, err := ParseConfigDescriptors(em7455)
		if err != nil {
			t.Fatal(err)
		}
		if got != em7455Want {
			t.Errorf("got  %+v\nwant %+v", got, em7455Want)
		}
		if got.MaxControlTransfer() != 4096 || got.Interrupt.Number() != 2 {
			t.Errorf("MaxControlTransfer %d, interrupt endpoint number %d", got.MaxControlTransfer(), got.Interrupt.Number())
		}
	})
	t.Run("one configuration", func(t *testing.T) {
		got, err := ParseConfigDescriptors(em7455Config2)
		if err != nil {
			t.Fatal(err)
		}
		want := em7455Want
		want.VendorID, want.ProductID, want.ConfigIndex = 0, 0, 0
		if got != want {
			t.Errorf("got  %+v\nwant %+v", got, want)
		}
	})
	t.Run("wanted configuration", func(t *testing.T) {
		if _, err := parseDescriptors(em7455, 1); !errors.Is(err, ErrNoMBIMFunction) {
			t.Errorf("config 1: err = %v, want ErrNoMBIMFunction", err)
		}
		if got, err := parseDescriptors(em7455, 2); err != nil || got != em7455Want {
			t.Errorf("config 2: %+v, %v", got, err)
		}
	})
	t.Run("no union (Q20)", func(t *testing.T) {
		raw := cut(em7455Config2, []byte{0x05, 0x24, 0x06, 0x0c, 0x0d})
		got, err := ParseConfigDescriptors(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got.DataInterface != 13 || got.DataFromUnion || got.DataAlt != 1 {
			t.Errorf("data interface %d alt %d fromUnion %v, want 13 alt 1 false", got.DataInterface, got.DataAlt, got.DataFromUnion)
		}
	})
	t.Run("NCM/MBIM dual function (Q23)", func(t *testing.T) {
		raw := ncmMBIM()
		got, err := ParseConfigDescriptors(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got.ControlInterface != 0 || got.ControlAlt != 1 || got.DataInterface != 1 || got.DataAlt != 2 {
			t.Errorf("control %d alt %d, data %d alt %d; want 0 alt 1, 1 alt 2", got.ControlInterface, got.ControlAlt, got.DataInterface, got.DataAlt)
		}
		if got.BulkIn.Address != 0x83 || got.BulkOut.Address != 0x04 || got.Interrupt.Address != 0x85 {
			t.Errorf("endpoints %+v %+v %+v", got.Interrupt, got.BulkIn, got.BulkOut)
		}
		if got.MaxControlMessage != 512 || got.Extended || got.MTU != 0 {
			t.Errorf("wMaxControlMessage %d extended %v MTU %d", got.MaxControlMessage, got.Extended, got.MTU)
		}
	})
	t.Run("trailing junk is ignored", func(t *testing.T) {
		raw := append(append([]byte(nil), em7455...), 0x00, 0x01, 0xff)
		got, err := ParseConfigDescriptors(raw)
		if err != nil || got != em7455Want {
			t.Errorf("%+v, %v", got, err)
		}
	})
}

// ncmMBIM is a combined NCM/MBIM function: comm alt 0 NCM (02/0d/00), alt 1
// MBIM (02/0e/00); data alt 0 empty, alt 1 NCM (0a/00/01), alt 2 MBIM
// (0a/00/02) (mbim-reference.md §7.1).
func ncmMBIM() []byte {
	return hexBytes(`
	09 02 ffff 02 01 00 80 fa
	08 0b 00 02 02 0d 00 00
	09 04 00 00 01 02 0d 00 00
	05 24 00 1001
	05 24 06 00 01
	06 24 1a 0001 00
	07 05 85 03 1000 08
	09 04 00 01 01 02 0e 00 00
	05 24 00 1001
	05 24 06 00 01
	0c 24 1b 0001 0002 00 00 dc05 08
	07 05 85 03 1000 08
	09 04 01 00 00 0a 00 01 00
	09 04 01 01 02 0a 00 01 00
	07 05 81 02 0002 00
	07 05 02 02 0002 00
	09 04 01 02 02 0a 00 02 00
	07 05 83 02 0002 00
	07 05 04 02 0002 00
	`)
}

func cut(b, part []byte) []byte {
	i := bytes.Index(b, part)
	if i < 0 {
		panic("cut: part not found")
	}
	out := append(append([]byte(nil), b[:i]...), b[i+len(part):]...)
	return out
}

func TestParseConfigDescriptorsErrors(t *testing.T) {
	mbimFD := []byte{0x0c, 0x24, 0x1b, 0x00, 0x01, 0x00, 0x10, 0x20, 0x80, 0x00, 0x08, 0x20}
	intr := []byte{0x07, 0x05, 0x82, 0x03, 0x40, 0x00, 0x09}
	cases := []struct {
		name string
		raw  []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrNoMBIMFunction, "no MBIM control interface"},
		{"QMI only", em7455[:18+62], ErrNoMBIMFunction, "in 1 configuration"},
		{"bLength 0", append(append([]byte(nil), em7455Config2[:31]...), 0, 0x24), ErrMalformedDescriptor, "bLength 0 is below 2"},
		{"truncated in data interface", em7455Config2[:len(em7455Config2)-10], ErrMalformedDescriptor, "runs past the end"},
		{"no data interface", em7455Config2[:9+8+9+5+5+12+8+7], ErrMalformedDescriptor, "data interface 13"},
		{"no MBIM descriptor", cut(em7455Config2, mbimFD), ErrMalformedDescriptor, "no MBIM functional descriptor"},
		{"short MBIM descriptor", bytes.Replace(em7455Config2, mbimFD, []byte{0x0b, 0x24, 0x1b, 0x00, 0x01, 0x00, 0x10, 0x20, 0x80, 0x00, 0x08}, 1), ErrMalformedDescriptor, "is 11 bytes, want 12"},
		{"no interrupt endpoint", cut(em7455Config2, intr), ErrMalformedDescriptor, "no interrupt IN endpoint"},
		{"no bulk endpoints", em7455Config2[:len(em7455Config2)-14], ErrMalformedDescriptor, "no alternate setting with bulk IN and OUT"},
		{"short interface", []byte{0x05, 0x04, 0x00, 0x00, 0x01}, ErrMalformedDescriptor, "interface descriptor is 5 bytes"},
		{"short endpoint", append(append([]byte(nil), em7455Config2[:9+8+9]...), 0x03, 0x05, 0x82), ErrMalformedDescriptor, "endpoint descriptor is 3 bytes"},
		{"short device", []byte{0x08, 0x01, 0, 0, 0, 0, 0, 0}, ErrMalformedDescriptor, "device descriptor is 8 bytes"},
		{"short config", []byte{0x04, 0x02, 0x04, 0x00}, ErrMalformedDescriptor, "configuration descriptor is 4 bytes"},
		{"tiny wTotalLength", []byte{0x09, 0x02, 0x02, 0x00, 0x01, 0x01, 0x00, 0x80, 0x32}, ErrMalformedDescriptor, "wTotalLength 2"},
		{"union names itself", bytes.Replace(em7455Config2, []byte{0x05, 0x24, 0x06, 0x0c, 0x0d}, []byte{0x05, 0x24, 0x06, 0x0c, 0x0c}, 1), ErrMalformedDescriptor, "names the control interface"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseConfigDescriptors(c.raw)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "usbtransport: ") {
				t.Errorf("error %q does not say %q", err, c.msg)
			}
			if !reflect.ValueOf(got).IsZero() {
				t.Errorf("got %+v with an error", got)
			}
		})
	}
}

func TestScanMaxControlMessage(t *testing.T) {
	if got := scanMaxControlMessage(em7455); got != 4096 {
		t.Errorf("scan = %d, want 4096", got)
	}
	if got := scanMaxControlMessage(em7455[:18+62]); got != 0 {
		t.Errorf("scan of QMI config = %d, want 0", got)
	}
}

// The .umockdev description must carry the same descriptors as the tests.
func TestUmockdevDescriptorsMatch(t *testing.T) {
	b, err := os.ReadFile("testdata/em7455.umockdev")
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`(?m)^H: descriptors=([0-9A-Fa-f]+)$`, `(?m)^N: bus/usb/001/002=([0-9A-Fa-f]+)$`} {
		m := regexp.MustCompile(re).FindSubmatch(b)
		if m == nil {
			t.Fatalf("no match for %s", re)
		}
		got, err := hex.DecodeString(string(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, em7455) {
			t.Errorf("%s differs from em7455:\n%s", re, hex.Dump(got))
		}
	}
}

func FuzzParseConfigDescriptors(f *testing.F) {
	f.Add(em7455)
	f.Add(em7455Config2)
	f.Add(ncmMBIM())
	f.Add(cut(em7455Config2, []byte{0x05, 0x24, 0x06, 0x0c, 0x0d}))
	f.Add(em7455[:100])
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := ParseConfigDescriptors(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformedDescriptor) && !errors.Is(err, ErrNoMBIMFunction) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			if !reflect.ValueOf(d).IsZero() {
				t.Fatalf("non-zero result with error %v", err)
			}
			return
		}
		// A function found must be self-consistent.
		if d.Interrupt.Address&0x80 == 0 || d.BulkIn.Address&0x80 == 0 || d.BulkOut.Address&0x80 != 0 {
			t.Fatalf("endpoint directions wrong: %+v", d)
		}
		if d.DataInterface == d.ControlInterface {
			t.Fatalf("data interface equals control interface: %+v", d)
		}
		if d.MaxControlTransfer() <= 0 {
			t.Fatalf("MaxControlTransfer %d", d.MaxControlTransfer())
		}
		// The walk is deterministic and does not keep or modify raw.
		saved := append([]byte(nil), raw...)
		d2, err2 := ParseConfigDescriptors(raw)
		if err2 != nil || d2 != d || !bytes.Equal(saved, raw) {
			t.Fatalf("second parse differs: %+v %v", d2, err2)
		}
		// scanMaxControlMessage agrees when the descriptor is the first
		// MBIM signature in the input.
		if i := bytes.Index(raw, []byte{0x0c, 0x24, 0x1b}); i >= 0 && scanMaxControlMessage(raw) < 0 {
			t.Fatal("negative scan")
		}
	})
}
