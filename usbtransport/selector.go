package usbtransport

import (
	"fmt"
	"strconv"
	"strings"
)

// Selector names one USB device for OpenUSB: "usb:VID:PID" (hex, e.g.
// usb:1199:9079) or "usb:BUS.ADDR" (decimal, as lsusb prints them, e.g.
// usb:2.3 or usb:002.003).
type Selector struct {
	// ByID is true for usb:VID:PID, false for usb:BUS.ADDR.
	ByID      bool
	VendorID  uint16
	ProductID uint16
	Bus       int
	Address   int
}

// ParseSelector parses a usb: selector.
func ParseSelector(s string) (Selector, error) {
	rest, ok := strings.CutPrefix(s, "usb:")
	if !ok {
		return Selector{}, fmt.Errorf("usbtransport: selector %q does not start with usb: (want usb:VID:PID or usb:BUS.ADDR)", s)
	}
	if vid, pid, ok := strings.Cut(rest, ":"); ok {
		v, err1 := parseHex16(vid)
		p, err2 := parseHex16(pid)
		if err1 != nil || err2 != nil {
			return Selector{}, fmt.Errorf("usbtransport: selector %q: want usb:VID:PID with 4-digit hex ids, e.g. usb:1199:9079", s)
		}
		return Selector{ByID: true, VendorID: v, ProductID: p}, nil
	}
	if bus, addr, ok := strings.Cut(rest, "."); ok {
		b, err1 := parseDec(bus, 255)
		a, err2 := parseDec(addr, 127)
		if err1 != nil || err2 != nil || b < 1 || a < 1 {
			return Selector{}, fmt.Errorf("usbtransport: selector %q: want usb:BUS.ADDR with decimal bus 1-255 and address 1-127, e.g. usb:2.3", s)
		}
		return Selector{Bus: b, Address: a}, nil
	}
	return Selector{}, fmt.Errorf("usbtransport: selector %q: want usb:VID:PID or usb:BUS.ADDR", s)
}

// String formats the selector the way ParseSelector reads it.
func (s Selector) String() string {
	if s.ByID {
		return fmt.Sprintf("usb:%04x:%04x", s.VendorID, s.ProductID)
	}
	return fmt.Sprintf("usb:%d.%d", s.Bus, s.Address)
}

// Match reports whether a device with these ids and location is selected.
func (s Selector) Match(vendorID, productID uint16, bus, address int) bool {
	if s.ByID {
		return vendorID == s.VendorID && productID == s.ProductID
	}
	return bus == s.Bus && address == s.Address
}

func parseHex16(s string) (uint16, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) == 0 || len(s) > 4 {
		return 0, strconv.ErrSyntax
	}
	v, err := strconv.ParseUint(s, 16, 16)
	return uint16(v), err
}

func parseDec(s string, max int) (int, error) {
	if len(s) == 0 || len(s) > 3 {
		return 0, strconv.ErrSyntax
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v > max {
		return 0, strconv.ErrRange
	}
	return v, nil
}
