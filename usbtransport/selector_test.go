package usbtransport

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseSelector(t *testing.T) {
	good := []struct {
		in   string
		want Selector
		str  string
	}{
		{"usb:1199:9079", Selector{ByID: true, VendorID: 0x1199, ProductID: 0x9079}, "usb:1199:9079"},
		{"usb:2c7c:0620", Selector{ByID: true, VendorID: 0x2c7c, ProductID: 0x0620}, "usb:2c7c:0620"},
		{"usb:0x2C7C:0x620", Selector{ByID: true, VendorID: 0x2c7c, ProductID: 0x0620}, "usb:2c7c:0620"},
		{"usb:2.3", Selector{Bus: 2, Address: 3}, "usb:2.3"},
		{"usb:002.003", Selector{Bus: 2, Address: 3}, "usb:2.3"},
		{"usb:255.127", Selector{Bus: 255, Address: 127}, "usb:255.127"},
	}
	for _, c := range good {
		got, err := ParseSelector(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseSelector(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		if got.String() != c.str {
			t.Errorf("%q.String() = %q, want %q", c.in, got.String(), c.str)
		}
		if back, err := ParseSelector(got.String()); err != nil || back != got {
			t.Errorf("round trip of %q: %+v, %v", c.in, back, err)
		}
	}
	bad := []string{"", "usb:", "1199:9079", "/dev/cdc-wdm0", "usb:1199", "usb:11999:1", "usb:xyz1:0001", "usb::9079",
		"usb:1199:", "usb:0.1", "usb:1.0", "usb:256.1", "usb:1.128", "usb:1.2.3", "usb:-1.2", "usb:+1.2", "usb:1. 2", "usb:1199:9079:1"}
	for _, in := range bad {
		if s, err := ParseSelector(in); err == nil {
			t.Errorf("ParseSelector(%q) = %+v, want an error", in, s)
		} else if !strings.HasPrefix(err.Error(), "usbtransport: selector") {
			t.Errorf("ParseSelector(%q): error %q", in, err)
		}
	}
}

func TestSelectorMatch(t *testing.T) {
	id, _ := ParseSelector("usb:1199:9079")
	loc, _ := ParseSelector("usb:2.3")
	if !id.Match(0x1199, 0x9079, 9, 9) || id.Match(0x1199, 0x9071, 2, 3) {
		t.Error("VID:PID matching")
	}
	if !loc.Match(1, 1, 2, 3) || loc.Match(0x1199, 0x9079, 2, 4) {
		t.Error("BUS.ADDR matching")
	}
}

func TestParseNotification(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want Notification
		used int
	}{
		{"response available", hexBytes("a1 01 0000 0c00 0000"), Notification{Type: ResponseAvailable, Interface: 12}, 8},
		{"connected", hexBytes("a1 00 0100 0c00 0000"), Notification{Type: NetworkConnection, Value: 1, Interface: 12, Connected: true}, 8},
		{"disconnected", hexBytes("a1 00 0000 0c00 0000"), Notification{Type: NetworkConnection, Interface: 12}, 8},
		{"speed", hexBytes("a1 2a 0000 0c00 0800 00e1f505 80f0fa02"), Notification{Type: ConnectionSpeedChange, Interface: 12, DownlinkBitRate: 100000000, UplinkBitRate: 50000000}, 16},
		{"unknown with data", hexBytes("a1 20 0300 0c00 0200 abcd ffff"), Notification{Type: 0x20, Value: 3, Interface: 12}, 10},
	}
	for _, c := range cases {
		got, used, err := ParseNotification(c.in)
		if err != nil || got != c.want || used != c.used {
			t.Errorf("%s: %+v, %d, %v; want %+v, %d", c.name, got, used, err, c.want, c.used)
		}
	}
	for name, in := range map[string][]byte{
		"short header": hexBytes("a1 01 0000"),
		"split speed":  hexBytes("a1 2a 0000 0c00 0800"),
	} {
		if _, _, err := ParseNotification(in); !errors.Is(err, errNotificationIncomplete) {
			t.Errorf("%s: %v, want incomplete", name, err)
		}
	}
	for name, in := range map[string][]byte{
		"not a class notification": hexBytes("21 00 0000 0000 0000"),
		"short speed":              hexBytes("a1 2a 0000 0c00 0400 01020304"),
		"huge wLength":             hexBytes("a1 2a 0000 0c00 ffff"),
	} {
		if _, _, err := ParseNotification(in); !errors.Is(err, errNotificationMalformed) {
			t.Errorf("%s: %v, want malformed", name, err)
		}
	}
	if s := (Notification{Type: ConnectionSpeedChange, DownlinkBitRate: 1, UplinkBitRate: 2}).String(); s != "CONNECTION_SPEED_CHANGE downlink=1 uplink=2" {
		t.Errorf("String() = %q", s)
	}
}

func TestNotificationReader(t *testing.T) {
	var r notificationReader
	var got []Notification
	collect := func(n Notification) { got = append(got, n) }
	// Two notifications in one transfer, then a speed change split
	// across two transfers (header, then data).
	steps := [][]byte{
		hexBytes("a1 00 0100 0c00 0000 a1 01 0000 0c00 0000"),
		hexBytes("a1 2a 0000 0c00 0800"),
		hexBytes("40420f00 a0860100"),
		hexBytes("ff ff ff ff ff ff ff ff"), // garbage: dropped
		hexBytes("a1 00 0000 0c00 0000"),
	}
	var errs int
	for _, s := range steps {
		if err := r.feed(s, collect); err != nil {
			errs++
		}
	}
	want := []Notification{
		{Type: NetworkConnection, Value: 1, Interface: 12, Connected: true},
		{Type: ResponseAvailable, Interface: 12},
		{Type: ConnectionSpeedChange, Interface: 12, DownlinkBitRate: 1000000, UplinkBitRate: 100000},
		{Type: NetworkConnection, Interface: 12},
	}
	if !reflect.DeepEqual(got, want) || errs != 1 {
		t.Errorf("got %+v (%d errors), want %+v (1 error)", got, errs, want)
	}
}
