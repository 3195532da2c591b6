package usbtransport

import "errors"

// Sentinel errors callers branch on (check with errors.Is).
var (
	// ErrNotFound means the device node, USB device or sysfs entry does not
	// exist (ENOENT, ENODEV, ENXIO, or no USB device matches a selector).
	ErrNotFound = errors.New("usbtransport: device not found")
	// ErrBusy means another process holds the device, typically mbim-proxy
	// or ModemManager; talk to it through the proxy instead.
	ErrBusy = errors.New("usbtransport: device busy")
	// ErrNotSupported means this build or platform lacks the transport
	// (cdc-wdm off Linux, USB without the gousb build tag).
	ErrNotSupported = errors.New("usbtransport: not supported")
	// ErrMalformedDescriptor means USB descriptors are truncated or
	// inconsistent.
	ErrMalformedDescriptor = errors.New("usbtransport: malformed USB descriptor")
	// ErrNoMBIMFunction means the descriptors hold no MBIM control interface
	// (class 0x02, subclass 0x0E, protocol 0).
	ErrNoMBIMFunction = errors.New("usbtransport: no MBIM function")
)

// multiError has its own message and wraps several errors, so that
// errors.Is matches both a sentinel of ours and the underlying OS error
// while the message stays the one a user should read.
type multiError struct {
	msg  string
	errs []error
}

func (e *multiError) Error() string   { return e.msg }
func (e *multiError) Unwrap() []error { return e.errs }
