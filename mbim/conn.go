package mbim

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// ConnTransport carries control messages over a byte stream: a socket to
// an mbim-proxy, or one end of an in-process Pipe. The stream has no
// message boundaries; the client frames by MessageLength.
type ConnTransport struct {
	c         net.Conn
	max       int
	closeOnce sync.Once
	closeErr  error
}

// NewConnTransport wraps c. maxControlTransfer is the function's limit
// (DefaultMaxControlTransfer when 0).
func NewConnTransport(c net.Conn, maxControlTransfer int) *ConnTransport {
	if maxControlTransfer <= 0 {
		maxControlTransfer = DefaultMaxControlTransfer
	}
	return &ConnTransport{c: c, max: maxControlTransfer}
}

// ReadControl implements Transport. Cancelling ctx interrupts the read.
func (t *ConnTransport) ReadControl(ctx context.Context, p []byte) (int, error) {
	stop := t.deadlineOnDone(ctx, t.c.SetReadDeadline)
	n, err := t.c.Read(p)
	stop()
	return n, t.mapErr(ctx, err)
}

// WriteControl implements Transport: p is written whole.
func (t *ConnTransport) WriteControl(ctx context.Context, p []byte) error {
	if len(p) > t.max {
		return ErrTooLarge
	}
	// A write is short: a deadline, when the caller has one, bounds it
	// without the allocations of watching the context.
	var stop func()
	if dl, ok := ctx.Deadline(); ok {
		_ = t.c.SetWriteDeadline(dl)
		stop = func() {}
	} else {
		_ = t.c.SetWriteDeadline(time.Time{}) // a previous call's deadline
		stop = t.deadlineOnDone(ctx, t.c.SetWriteDeadline)
	}
	_, err := t.c.Write(p)
	stop()
	return t.mapErr(ctx, err)
}

// MaxControlTransfer implements Transport.
func (t *ConnTransport) MaxControlTransfer() int { return t.max }

// Close implements Transport.
func (t *ConnTransport) Close() error {
	t.closeOnce.Do(func() { t.closeErr = t.c.Close() })
	return t.closeErr
}

// deadlineOnDone makes a blocked read or write return when ctx is done.
func (t *ConnTransport) deadlineOnDone(ctx context.Context, set func(time.Time) error) (stop func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	cancel := context.AfterFunc(ctx, func() { _ = set(time.Unix(1, 0)) })
	return func() {
		if !cancel() {
			// The deadline fired; clear it for the next call.
			_ = set(time.Time{})
		}
	}
}

func (t *ConnTransport) mapErr(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return context.DeadlineExceeded
	case errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrClosedPipe):
		return ErrClosed
	}
	return err
}

// Pipe returns the two ends of an in-process control channel: the host end
// for a Device, the function end for a simulated modem. Like a pty it is a
// byte stream, so framing is exercised as on real hardware.
func Pipe(maxControlTransfer int) (host, function *ConnTransport) {
	a, b := net.Pipe()
	return NewConnTransport(a, maxControlTransfer), NewConnTransport(b, maxControlTransfer)
}
