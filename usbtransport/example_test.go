package usbtransport_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/gowwan/wwan/mbim"
	"github.com/gowwan/wwan/usbtransport"
)

// List the MBIM modems on this host, as `mbimctl list` would.
func ExampleList() {
	fs, err := usbtransport.List("")
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range fs {
		fmt.Printf("%s %04x:%04x usb:%d.%d %s %s net=%s max=%d mtu=%d\n",
			f.Path, f.VendorID, f.ProductID, f.Bus, f.Device, f.Driver, f.Product,
			f.Net, f.MaxControlMessage, f.MTU)
	}
}

// Open the control channel of a cdc-wdm node and send OPEN.
func ExampleOpenWDM() {
	t, err := usbtransport.OpenWDM("/dev/cdc-wdm0")
	switch {
	case errors.Is(err, usbtransport.ErrBusy):
		log.Fatal(err) // "... is busy (held by another process ...): use --proxy"
	case err != nil:
		log.Fatal(err)
	}
	defer t.Close()
	msg := mbim.AppendOpen(nil, 1, uint32(t.MaxControlTransfer()))
	if err := t.WriteControl(context.Background(), msg); err != nil {
		log.Fatalf("%+v", err) // %+v prints where the OS error entered
	}
}

// Open a modem through libusb (needs a build with -tags gousb) and watch
// the notifications cdc-wdm would drop.
func ExampleOpenUSB() {
	u, err := usbtransport.OpenUSB(context.Background(), "usb:1199:9079")
	if err != nil {
		log.Fatal(err)
	}
	defer u.Close()
	go func() {
		for n := range u.Notifications() {
			log.Println(n) // e.g. CONNECTION_SPEED_CHANGE downlink=150000000 uplink=50000000
		}
	}()
	// u is an mbim.Transport: hand it to the client.
	var _ mbim.Transport = u
}
