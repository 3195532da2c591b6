//go:build linux

package usbtransport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gowwan/wwan/mbim"
	pkgerrors "github.com/pkg/errors"
)

// WDM is the MBIM control channel of a Linux cdc-wdm character device
// (/dev/cdc-wdmN, or a WWAN-subsystem /dev/wwanXmbimY), or of a pty that
// stands in for one. It implements mbim.Transport.
//
// A read returns what the device gives: one whole response on cdc-wdm (the
// driver hands out one GET_ENCAPSULATED_RESPONSE per read when the buffer is
// at least MaxControlTransfer bytes), any chunk of the byte stream on a
// pty. A write sends one message in one write(2); the kernel silently
// truncates writes above its wMaxCommand, so a short write is an error, not
// something to continue (only a tty, which is a byte stream, is written in
// pieces). One read and one write may run at the same time.
type WDM struct {
	f      *os.File
	rc     syscall.RawConn
	path   string
	max    int
	source string
	stream bool // the fd is a tty: a byte stream

	wmu       sync.Mutex // one write(2) sequence at a time
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ mbim.Transport = (*WDM)(nil)

// OpenWDM opens a cdc-wdm device node the way libmbim does
// (O_RDWR|O_EXCL|O_NONBLOCK|O_NOCTTY), registers it with the runtime
// poller so contexts can interrupt reads and writes, and learns the
// function's control message limit: IOCTL_WDM_MAX_COMMAND, else
// wMaxControlMessage from the sysfs descriptors file, else 4096.
//
// A missing node gives an error wrapping ErrNotFound; a node held by
// another process one wrapping ErrBusy.
func OpenWDM(path string) (*WDM, error) {
	return openWDM(path, "")
}

func openWDM(path, sysfsRoot string) (*WDM, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDWR|syscall.O_EXCL|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, openError(path, err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, pkgerrors.WithStack(&os.PathError{Op: "fstat", Path: path, Err: err})
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFCHR {
		syscall.Close(fd)
		return nil, fmt.Errorf("usbtransport: %s is not a character device (want /dev/cdc-wdmN or a pty)", path)
	}
	w := &WDM{path: path, stream: isTTY(fd)}
	w.max, w.source = maxCommand(fd, path, sysfsRoot)

	f := os.NewFile(uintptr(fd), path)
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, pkgerrors.WithStack(fmt.Errorf("usbtransport: %s cannot be polled, so reads could not be cancelled: %w", path, err))
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, pkgerrors.WithStack(err)
	}
	w.f, w.rc = f, rc
	return w, nil
}

// openError turns an open(2) failure into the error a user should read.
func openError(path string, errno error) error {
	pe := &os.PathError{Op: "open", Path: path, Err: errno}
	switch errno {
	case syscall.EBUSY:
		return pkgerrors.WithStack(&multiError{
			msg:  "usbtransport: " + path + " is busy (held by another process, maybe mbim-proxy or ModemManager): use --proxy",
			errs: []error{ErrBusy, pe},
		})
	case syscall.ENOENT, syscall.ENODEV, syscall.ENXIO:
		return pkgerrors.WithStack(&multiError{
			msg:  "usbtransport: " + path + " not found (is the modem plugged in and its driver bound?)",
			errs: []error{ErrNotFound, pe},
		})
	case syscall.EACCES, syscall.EPERM:
		return pkgerrors.WithStack(&multiError{
			msg:  "usbtransport: " + path + ": permission denied (run as root, or give the user access with a udev rule)",
			errs: []error{pe},
		})
	}
	return pkgerrors.WithStack(pe)
}

// ioctlWDMMaxCommand is IOCTL_WDM_MAX_COMMAND, _IOR('H', 0xA0, __u16):
// the direction bits differ on powerpc, mips and sparc.
func ioctlWDMMaxCommand() uintptr {
	switch runtime.GOARCH {
	case "mips", "mipsle", "mips64", "mips64le", "ppc64", "ppc64le", "sparc64":
		return 0x400248A0
	}
	return 0x800248A0
}

// maxCommand asks the driver for wMaxCommand; a pty answers ENOTTY, a
// WWAN-subsystem port may not know the ioctl either (EINVAL), and then the
// USB descriptors in sysfs are read, as libmbim does.
func maxCommand(fd int, path, sysfsRoot string) (int, string) {
	var v uint16
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), ioctlWDMMaxCommand(), uintptr(unsafe.Pointer(&v)))
	if errno == 0 && v > 0 {
		return int(v), "ioctl"
	}
	names := []string{filepath.Base(path)}
	if real, err := filepath.EvalSymlinks(path); err == nil && filepath.Base(real) != names[0] {
		names = append(names, filepath.Base(real))
	}
	for _, name := range names {
		if n, ok := sysfsMaxControl(sysfsRoot, name); ok {
			return n, "descriptors"
		}
	}
	return mbim.DefaultMaxControlTransfer, "default"
}

func isTTY(fd int) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

// ReadControl implements mbim.Transport. Cancelling ctx interrupts it.
func (w *WDM) ReadControl(ctx context.Context, p []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if w.closed.Load() {
		return 0, mbim.ErrClosed
	}
	stop := deadlineOnDone(ctx, w.f.SetReadDeadline)
	n, err := w.f.Read(p)
	stop()
	if err != nil {
		return n, w.ioError(ctx, "read", err)
	}
	return n, nil
}

// WriteControl implements mbim.Transport: p goes out in one write(2). A
// message above MaxControlTransfer is refused (mbim.ErrTooLarge) before
// anything is written, and a write the device shortens is an error.
func (w *WDM) WriteControl(ctx context.Context, p []byte) error {
	if len(p) > w.max {
		return fmt.Errorf("usbtransport: %d-byte control message exceeds %s's limit of %d bytes: %w", len(p), w.path, w.max, mbim.ErrTooLarge)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.closed.Load() {
		return mbim.ErrClosed
	}
	stop := deadlineOnDone(ctx, w.f.SetWriteDeadline)
	n, werr, err := w.write(p)
	stop()
	switch {
	case err != nil:
		return w.ioError(ctx, "write", err)
	case werr != nil:
		return w.ioError(ctx, "write", &os.PathError{Op: "write", Path: w.path, Err: werr})
	case n != len(p):
		return pkgerrors.WithStack(fmt.Errorf("usbtransport: write %s: short write, the device took %d of %d bytes (it truncates above its wMaxCommand)", w.path, n, len(p)))
	}
	return nil
}

// write performs the write(2) calls, waiting in the poller on EAGAIN (a
// command still in flight on cdc-wdm, a full pty buffer).
func (w *WDM) write(p []byte) (n int, werr, err error) {
	err = w.rc.Write(func(fd uintptr) bool {
		for {
			m, e := syscall.Write(int(fd), p[n:])
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
				return false
			case e != nil:
				werr = e
				return true
			}
			n += m
			if w.stream && m > 0 && n < len(p) {
				continue // a tty is a byte stream: send the rest
			}
			return true
		}
	})
	return n, werr, err
}

func (w *WDM) ioError(ctx context.Context, op string, err error) error {
	switch {
	case ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded):
		return ctx.Err()
	case w.closed.Load() || errors.Is(err, os.ErrClosed):
		return mbim.ErrClosed
	case err == io.EOF:
		return io.EOF
	case errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.EPIPE):
		return pkgerrors.WithStack(&multiError{
			msg:  "usbtransport: " + op + " " + w.path + ": the device went away",
			errs: []error{io.EOF, err},
		})
	}
	return pkgerrors.WithStack(err)
}

// MaxControlTransfer implements mbim.Transport.
func (w *WDM) MaxControlTransfer() int { return w.max }

// MaxControlSource says where MaxControlTransfer came from: "ioctl"
// (IOCTL_WDM_MAX_COMMAND), "descriptors" (the sysfs descriptors file) or
// "default" (4096, as on a pty).
func (w *WDM) MaxControlSource() string { return w.source }

// Path is the device node the transport was opened on.
func (w *WDM) Path() string { return w.path }

// Close implements mbim.Transport. It unblocks a pending read or write.
func (w *WDM) Close() error {
	w.closeOnce.Do(func() {
		w.closed.Store(true)
		if err := w.f.Close(); err != nil {
			w.closeErr = pkgerrors.WithStack(err)
		}
	})
	return w.closeErr
}
