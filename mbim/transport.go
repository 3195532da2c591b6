package mbim

import (
	"context"
	"errors"
)

// Transport is the narrowest thing that carries MBIM control messages
// between the host and a function: a cdc-wdm character device, a USB
// interface driven through libusb, a pty, a socket to a proxy, or an
// in-process pipe to a simulated modem.
//
// Transports move bytes; package mbim frames them. A read may return one
// whole message (cdc-wdm, USB), part of one, or several (a pty or socket is
// a byte stream), so the client splits by MessageLength and never assumes
// either.
type Transport interface {
	// ReadControl reads the next bytes of the function-to-host control
	// stream into p. It blocks until at least one byte is there, ctx is
	// done, or the transport is closed; then it returns an error wrapping
	// ErrClosed (or io.EOF when the function went away).
	ReadControl(ctx context.Context, p []byte) (int, error)
	// WriteControl sends one control message (one fragment) in a single
	// write, as devices require (quirk Q10). len(p) never exceeds
	// MaxControlTransfer.
	WriteControl(ctx context.Context, p []byte) error
	// MaxControlTransfer is the largest control message the function
	// accepts: the descriptor's wMaxControlMessage, the cdc-wdm ioctl's
	// answer, or 4096 where neither is known.
	MaxControlTransfer() int
	// Close releases the transport and unblocks pending reads and writes.
	Close() error
}

// DefaultMaxControlTransfer is used where a transport cannot learn the
// function's limit (a pty answers ENOTTY to IOCTL_WDM_MAX_COMMAND).
const DefaultMaxControlTransfer = 4096

// ErrClosed is returned for operations on a closed device or transport.
var ErrClosed = errors.New("mbim: closed")
