// Package usbtransport carries MBIM control messages to real hardware and
// finds MBIM functions on the host.
//
// # Transports
//
// Two implementations of mbim.Transport live here:
//
//   - WDM, opened by OpenWDM, is the Linux cdc-wdm character device
//     (/dev/cdc-wdmN, or /dev/wwanXmbimY). It is pure Go (no cgo): an
//     os.File on a non-blocking descriptor registered with the runtime
//     poller, so a context's cancellation maps onto read and write
//     deadlines. A pty works too, which is how the tests and the simulator
//     stand in for a modem.
//   - USB, opened by OpenUSB, drives the MBIM interfaces directly through
//     libusb (github.com/google/gousb). It needs cgo and libusb-1.0, so it
//     is compiled only with the opt-in build tag gousb; without it OpenUSB
//     returns ErrNotSupported. It sends SEND_ENCAPSULATED_COMMAND, reads the
//     interrupt endpoint and fetches responses with GET_ENCAPSULATED_RESPONSE,
//     as the kernel's cdc-wdm driver does, and it also reports the two
//     notifications cdc-wdm drops (NETWORK_CONNECTION and
//     CONNECTION_SPEED_CHANGE).
//
// Transports move bytes; package mbim frames them. A read returns one
// message on real cdc-wdm and USB, and any chunk of the byte stream on a pty.
//
// # Discovery
//
// List walks sysfs (/sys/class/usbmisc) for cdc-wdm nodes that belong to an
// MBIM function and reports, for each, the USB identity, the network
// interface and the values of the MBIM functional descriptors.
// ParseConfigDescriptors is the pure descriptor walker both List and OpenUSB
// use; it never panics on hostile input (it is fuzzed).
//
// # Errors
//
// OS and libusb errors are wrapped once, where they enter this package,
// with github.com/pkg/errors.WithStack, so "%+v" prints where a failure
// happened. errors.Is works through the wrapping: ErrNotFound, ErrBusy,
// ErrNotSupported, ErrMalformedDescriptor, ErrNoMBIMFunction, and from
// package mbim ErrClosed and ErrTooLarge.
package usbtransport
