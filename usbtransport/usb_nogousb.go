//go:build !gousb

package usbtransport

import (
	"context"

	"github.com/gowwan/wwan/mbim"
)

// USB is the libusb transport. This build was made without the gousb tag,
// so it cannot be opened; rebuild with -tags gousb (needs cgo and
// libusb-1.0, Debian package libusb-1.0-0-dev).
type USB struct{}

var _ mbim.Transport = (*USB)(nil)

var errUSBNotSupported = &multiError{
	msg:  "usbtransport: USB (usb:VID:PID, usb:BUS.ADDR) needs libusb: build with -tags gousb (cgo and libusb-1.0-0-dev), or use /dev/cdc-wdmN",
	errs: []error{ErrNotSupported},
}

// OpenUSB checks the selector and returns ErrNotSupported: this build has
// no libusb.
func OpenUSB(ctx context.Context, selector string) (*USB, error) {
	if _, err := ParseSelector(selector); err != nil {
		return nil, err
	}
	return nil, errUSBNotSupported
}

// ReadControl implements mbim.Transport.
func (*USB) ReadControl(context.Context, []byte) (int, error) { return 0, errUSBNotSupported }

// WriteControl implements mbim.Transport.
func (*USB) WriteControl(context.Context, []byte) error { return errUSBNotSupported }

// MaxControlTransfer implements mbim.Transport.
func (*USB) MaxControlTransfer() int { return mbim.DefaultMaxControlTransfer }

// Descriptors returns the zero Descriptors.
func (*USB) Descriptors() Descriptors { return Descriptors{} }

// Notifications returns nil: nothing is ever delivered.
func (*USB) Notifications() <-chan Notification { return nil }

// Reset returns ErrNotSupported.
func (*USB) Reset(context.Context) error { return errUSBNotSupported }

// Close implements mbim.Transport.
func (*USB) Close() error { return nil }
