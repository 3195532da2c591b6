//go:build !linux

package usbtransport

import (
	"context"

	"github.com/gowwan/wwan/mbim"
)

// WDM is the Linux cdc-wdm transport; on this platform it cannot be
// opened. Use OpenUSB (build with -tags gousb) instead.
type WDM struct{}

var _ mbim.Transport = (*WDM)(nil)

// OpenWDM returns ErrNotSupported: cdc-wdm is a Linux driver.
func OpenWDM(path string) (*WDM, error) {
	return nil, errWDMNotSupported
}

var errWDMNotSupported = &multiError{
	msg:  "usbtransport: cdc-wdm devices exist only on Linux; use a usb: selector with a build made with -tags gousb",
	errs: []error{ErrNotSupported},
}

// ReadControl implements mbim.Transport.
func (*WDM) ReadControl(context.Context, []byte) (int, error) { return 0, errWDMNotSupported }

// WriteControl implements mbim.Transport.
func (*WDM) WriteControl(context.Context, []byte) error { return errWDMNotSupported }

// MaxControlTransfer implements mbim.Transport.
func (*WDM) MaxControlTransfer() int { return mbim.DefaultMaxControlTransfer }

// MaxControlSource reports "default".
func (*WDM) MaxControlSource() string { return "default" }

// Path returns "".
func (*WDM) Path() string { return "" }

// Close implements mbim.Transport.
func (*WDM) Close() error { return nil }
